/* The streaming JSON writer of json.h. A FILE is written by one thread
 * at a time here (stdout of a tool, an exporter answer's own stream), so
 * the unlocked stdio calls are used: a 10,000-field `--json` writes some
 * 700,000 items, and a locked fprintf per item was half its CPU time. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void jw_init(struct jw *w, FILE *f, bool pretty)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->pretty = pretty;
}

/* Short strings byte by byte: putc_unlocked is a store into the FILE's
 * buffer, fwrite a call with its own checks. */
static void put_str(FILE *f, const char *s, size_t n)
{
    if (n > 16) {
        fwrite_unlocked(s, 1, n, f);
        return;
    }
    for (size_t i = 0; i < n; i++)
        putc_unlocked(s[i], f);
}

static void indent(struct jw *w, int depth)
{
    static const char spaces[] = "\n                                "
                                 "                                ";
    size_t n = 1 + 2 * (size_t)depth;
    if (n < sizeof spaces) {
        put_str(w->f, spaces, n);
        return;
    }
    putc_unlocked('\n', w->f);
    for (int i = 0; i < depth; i++)
        put_str(w->f, "  ", 2);
}

/* Separator, indentation and key before an item at the current depth. */
static void item(struct jw *w, const char *key)
{
    bool compact = !w->pretty || w->compact_from;
    if (w->items[w->depth])
        put_str(w->f, ", ", compact && w->pretty ? 2 : 1);
    if (!compact && w->depth > 0)
        indent(w, w->depth);
    w->items[w->depth] = true;
    if (key) {
        json_string(w->f, key);
        put_str(w->f, ": ", w->pretty ? 2 : 1);
    }
}

static void open_container(struct jw *w, const char *key, char c, bool compact)
{
    item(w, key);
    putc_unlocked(c, w->f);
    if (w->depth < JW_MAX_DEPTH)
        w->depth++;
    w->items[w->depth] = false;
    if (compact && !w->compact_from)
        w->compact_from = w->depth;
}

static void close_container(struct jw *w, char c)
{
    bool had = w->items[w->depth];
    bool compact = !w->pretty || w->compact_from;
    if (w->compact_from == w->depth)
        w->compact_from = 0;
    if (w->depth > 0)
        w->depth--;
    if (had && !compact)
        indent(w, w->depth);
    putc_unlocked(c, w->f);
}

void jw_obj(struct jw *w, const char *key)
{
    open_container(w, key, '{', false);
}

void jw_arr(struct jw *w, const char *key, bool compact)
{
    open_container(w, key, '[', compact);
}

void jw_end_obj(struct jw *w)
{
    close_container(w, '}');
}

void jw_end_arr(struct jw *w)
{
    close_container(w, ']');
}

void jw_str(struct jw *w, const char *key, const char *s)
{
    item(w, key);
    json_string(w->f, s ? s : "");
}

/* V in decimal, ending at END (no NUL): the first digit. */
static char *u64_digits(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

static void put_i64(FILE *f, bool neg, uint64_t mag)
{
    char buf[24];
    char *p = u64_digits(buf + sizeof buf, mag);
    if (neg)
        *--p = '-';
    put_str(f, p, (size_t)(buf + sizeof buf - p));
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    item(w, key);
    put_i64(w->f, false, v);
}

void jw_i64(struct jw *w, const char *key, int64_t v)
{
    item(w, key);
    put_i64(w->f, v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

void jw_f64(struct jw *w, const char *key, double v)
{
    char buf[40];
    item(w, key);
    const char *s = json_double(buf, sizeof buf, v);
    put_str(w->f, s, strlen(s));
}

void jw_bool(struct jw *w, const char *key, bool v)
{
    item(w, key);
    put_str(w->f, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w, const char *key)
{
    item(w, key);
    put_str(w->f, "null", 4);
}

void jw_finish(struct jw *w)
{
    putc_unlocked('\n', w->f);
}

int utf8_seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Bytes that go into a JSON string as they are: printable ASCII but the
 * quote and the backslash. */
static bool plain_byte(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

void json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    putc_unlocked('"', f);
    while (*s) {
        const unsigned char *run = s;
        while (plain_byte(*s))
            s++;
        if (s > run)
            put_str(f, (const char *)run, (size_t)(s - run));
        unsigned char c = *s;
        if (!c)
            break;
        if (c == '"' || c == '\\') {
            putc_unlocked('\\', f);
            putc_unlocked(c, f);
            s++;
        } else if (c == '\n') {
            put_str(f, "\\n", 2);
            s++;
        } else if (c == '\t') {
            put_str(f, "\\t", 2);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            s++;
        } else {
            int n = utf8_seq_len(s);
            if (n == 0) {
                put_str(f, "\\ufffd", 6);
                s++;
            } else {
                put_str(f, (const char *)s, (size_t)n);
                s += n;
            }
        }
    }
    putc_unlocked('"', f);
}

char *json_double(char *buf, size_t len, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, len, "null");
        return buf;
    }
    /* An integer below 10^15 in magnitude: "%.15g" prints its digits
     * exactly (and quantiles, bucket bounds and means often are). */
    if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v && len >= 24 &&
        !(v == 0 && signbit(v))) {
        int64_t i = (int64_t)v;
        char tmp[24];
        char *p =
            u64_digits(tmp + sizeof tmp, i < 0 ? 0 - (uint64_t)i : (uint64_t)i);
        if (i < 0)
            *--p = '-';
        size_t n = (size_t)(tmp + sizeof tmp - p);
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v)
            break;
    }
    return buf;
}
