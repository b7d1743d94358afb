/* The streaming JSON writer of json.h. Output is gathered in the
 * writer's own buffer and handed to the FILE a buffer at a time: a
 * 10,000-field `--json` writes some 700,000 items and 4 MB, and a stdio
 * call per item (even unlocked, byte by byte) was a third of its CPU
 * time. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static void flush(struct jw *w)
{
    if (w->len)
        fwrite_unlocked(w->buf, 1, w->len, w->f);
    w->len = 0;
    w->flushes++;
}

/* Room for N more bytes at the end of the buffer (N <= JW_BUF). */
static char *room(struct jw *w, size_t n)
{
    if (JW_BUF - w->len < n)
        flush(w);
    return w->buf + w->len;
}

static void put_str(struct jw *w, const char *s, size_t n)
{
    if (n > JW_BUF) {
        flush(w);
        fwrite_unlocked(s, 1, n, w->f);
        w->flushes++;
        return;
    }
    memcpy(room(w, n), s, n);
    w->len += n;
}

static void put_c(struct jw *w, char c)
{
    *room(w, 1) = c;
    w->len++;
}

void jw_init(struct jw *w, FILE *f, bool pretty)
{
    memset(w, 0, offsetof(struct jw, buf)); /* the buffer needs none */
    w->f = f;
    w->pretty = pretty;
}

static void json_string(struct jw *w, const char *s);

/* Bytes that go into a JSON string as they are: printable ASCII but the
 * quote and the backslash (a table: one load a byte). */
static const bool plain[256] = {
    [0x20 ... 0x21] = true, [0x23 ... 0x5b] = true, [0x5d ... 0x7e] = true};

static bool plain_byte(unsigned char c)
{
    return plain[c];
}

/* A line break and 64 spaces: the indentation of depths up to 32. */
static const char spaces[] = "\n                                "
                             "                                ";

static void indent(struct jw *w, int depth)
{
    size_t n = 1 + 2 * (size_t)depth;
    if (n < sizeof spaces) { /* a copy of constant size: no call */
        memcpy(room(w, sizeof spaces), spaces, sizeof spaces);
        w->len += n;
        return;
    }
    put_c(w, '\n');
    for (int i = 0; i < depth; i++)
        put_str(w, "  ", 2);
}

#define SHORT_STR 62 /* plain strings up to this long: one room, no call */

/* Copy S, if it is at most SHORT_STR plain bytes, quoted to P (room for
 * SHORT_STR + 2): the bytes written, or 0 (then nothing is). */
static size_t short_string(char *p, const unsigned char *s)
{
    size_t len = 0;
    while (len < SHORT_STR && plain_byte(s[len])) {
        p[1 + len] = (char)s[len];
        len++;
    }
    if (s[len])
        return 0;
    p[0] = '"';
    p[1 + len] = '"';
    return len + 2;
}

/* At P (room for 2 + sizeof spaces bytes): what comes before an item
 * at DEPTH, a comma after an earlier one and, pretty, the line break and
 * indentation (or a space, COMPACT); the item counted. Returns the end. */
static char *separate(struct jw *w, char *p, size_t depth, bool compact)
{
    if (w->items[depth]) {
        *p++ = ',';
        if (compact && w->pretty)
            *p++ = ' ';
    }
    if (!compact && depth > 0) {
        /* The line break and all the spaces there are, then as many as
         * the depth takes (a copy of constant size: no call). */
        memcpy(p, spaces, sizeof spaces);
        p += 1 + 2 * depth;
    }
    w->items[depth] = true;
    return p;
}

/* Separator, indentation and key before an item at the current depth,
 * in one room when the key is short and plain (every key the tools
 * write: a 10,000-field --json writes 300,000 items). */
static void item(struct jw *w, const char *key)
{
    bool compact = !w->pretty || w->compact_from;
    size_t depth = (size_t)w->depth;
    char *p = room(w, 2 + sizeof spaces + SHORT_STR + 2), *start = p;
    p = separate(w, p, depth, compact);
    if (!key) {
        w->len += (size_t)(p - start);
        return;
    }
    size_t n = short_string(p, (const unsigned char *)key);
    if (n) {
        p += n;
        *p++ = ':';
        if (w->pretty)
            *p++ = ' ';
        w->len += (size_t)(p - start);
        return;
    }
    w->len += (size_t)(p - start);
    json_string(w, key);
    put_str(w, ": ", w->pretty ? 2 : 1);
}

static void open_container(struct jw *w, const char *key, char c, bool compact)
{
    item(w, key);
    put_c(w, c);
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
    put_c(w, c);
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
    json_string(w, s ? s : "");
}

/* V in decimal, ending at END (no NUL): the first digit. Two digits a
 * division. */
static char *u64_digits(char *end, uint64_t v)
{
    static const char pairs[] = "0001020304050607080910111213141516171819"
                                "2021222324252627282930313233343536373839"
                                "4041424344454647484950515253545556575859"
                                "6061626364656667686970717273747576777879"
                                "8081828384858687888990919293949596979899";
    char *p = end;
    while (v >= 100) {
        unsigned d = (unsigned)(v % 100) * 2;
        v /= 100;
        p -= 2;
        memcpy(p, pairs + d, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, pairs + v * 2, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

char *json_u64_digits(char *end, uint64_t v)
{
    return u64_digits(end, v);
}

static void put_i64(struct jw *w, bool neg, uint64_t mag)
{
    char buf[24];
    char *p = u64_digits(buf + sizeof buf, mag);
    if (neg)
        *--p = '-';
    put_str(w, p, (size_t)(buf + sizeof buf - p));
}

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    item(w, key);
    put_i64(w, false, v);
}

/* The general path of jw_u64_row: a compact array of N integers. */
static void u64_row_slow(struct jw *w, const uint64_t *v, size_t n)
{
    jw_arr(w, NULL, true);
    for (size_t k = 0; k < n; k++) {
        item(w, NULL);
        put_i64(w, false, v[k]);
    }
    jw_end_arr(w);
}

#define ROW_MAX 8u /* integers a row writes in one go */

void jw_u64_row(struct jw *w, const uint64_t *v, size_t n)
{
    size_t depth = (size_t)w->depth;
    if (n > ROW_MAX || depth + 1 >= JW_MAX_DEPTH) {
        u64_row_slow(w, v, n);
        return;
    }
    /* What item, open_container and close_container would write, in one
     * room: separator, indentation, the bracketed integers. */
    bool compact = !w->pretty || w->compact_from;
    char *p = room(w, 2 + sizeof spaces + (size_t)ROW_MAX * 22), *start = p;
    p = separate(w, p, depth, compact);
    *p++ = '[';
    for (size_t k = 0; k < n; k++) {
        if (k) {
            *p++ = ',';
            if (w->pretty)
                *p++ = ' ';
        }
        /* The digits end at buf + 20; 20 bytes copied whatever their
         * number (a copy of constant size: no call). */
        char buf[40];
        char *d = u64_digits(buf + 20, v[k]);
        memcpy(p, d, 20);
        p += buf + 20 - d;
    }
    *p++ = ']';
    w->len += (size_t)(p - start);
}

const char *jw_row_sep(const struct jw *w)
{
    return w->pretty ? ", " : ",";
}

void jw_row_tail(struct jw *w, const char *head, size_t len, uint64_t last)
{
    size_t depth = (size_t)w->depth;
    if (len > JW_ROW_HEAD || depth + 1 >= JW_MAX_DEPTH) {
        jw_arr(w, NULL, true);
        item(w, NULL);
        put_str(w, head + 1, len - 1); /* HEAD's '[' written above */
        put_i64(w, false, last);
        jw_end_arr(w);
        return;
    }
    bool compact = !w->pretty || w->compact_from;
    char *p = room(w, 2 + sizeof spaces + JW_ROW_HEAD + 24), *start = p;
    p = separate(w, p, depth, compact);
    memcpy(p, head, JW_ROW_HEAD); /* constant size: no call */
    p += len;
    char buf[40];
    char *d = u64_digits(buf + 20, last);
    memcpy(p, d, 20);
    p += buf + 20 - d;
    *p++ = ']';
    w->len += (size_t)(p - start);
}

void jw_row_tails(struct jw *w, size_t n, const char *const *head,
                  const uint8_t *len, const uint64_t *last)
{
    size_t depth = (size_t)w->depth;
    if (depth + 1 >= JW_MAX_DEPTH) {
        for (size_t k = 0; k < n; k++)
            jw_row_tail(w, head[k], len[k], last[k]);
        return;
    }
    bool compact = !w->pretty || w->compact_from;
    for (size_t k = 0; k < n; k++) {
        if (len[k] > JW_ROW_HEAD) {
            jw_row_tail(w, head[k], len[k], last[k]);
            continue;
        }
        /* As jw_row_tail, without a call a row. */
        char *p = room(w, 2 + sizeof spaces + JW_ROW_HEAD + 24), *start = p;
        p = separate(w, p, depth, compact);
        memcpy(p, head[k], JW_ROW_HEAD);
        p += len[k];
        char buf[40];
        char *d = u64_digits(buf + 20, last[k]);
        memcpy(p, d, 20);
        p += buf + 20 - d;
        *p++ = ']';
        w->len += (size_t)(p - start);
    }
}

void jw_i64(struct jw *w, const char *key, int64_t v)
{
    item(w, key);
    put_i64(w, v < 0, v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
}

void jw_f64(struct jw *w, const char *key, double v)
{
    char buf[40];
    item(w, key);
    const char *s = json_double(buf, sizeof buf, v);
    put_str(w, s, strlen(s));
}

void jw_bool(struct jw *w, const char *key, bool v)
{
    item(w, key);
    put_str(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w, const char *key)
{
    item(w, key);
    put_str(w, "null", 4);
}

void jw_tape_begin(struct jw *w, struct jw_tape *t)
{
    t->ok = false;
    t->fresh = !w->items[w->depth];
    t->depth = w->depth;
    t->compact_from = w->compact_from;
    t->start = w->len;
    t->flushes = w->flushes;
}

void jw_tape_end(struct jw *w, struct jw_tape *t)
{
    t->len = w->len - t->start;
    t->ok = t->fresh && w->flushes == t->flushes && w->depth == t->depth &&
            w->compact_from == t->compact_from && t->len <= JW_TAPE;
    if (t->ok)
        memcpy(t->text, w->buf + t->start, t->len);
}

bool jw_tape_play(struct jw *w, const struct jw_tape *t)
{
    if (!t->ok || w->depth != t->depth || w->compact_from != t->compact_from ||
        w->items[w->depth])
        return false;
    put_str(w, t->text, t->len);
    w->items[w->depth] = t->len > 0;
    return true;
}

void jw_finish(struct jw *w)
{
    put_c(w, '\n');
    flush(w);
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

static void json_string(struct jw *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Keys, names, units: short and plain, copied straight in. */
    size_t done = short_string(room(w, SHORT_STR + 2), s);
    if (done) {
        w->len += done;
        return;
    }
    put_c(w, '"');
    while (*s) {
        const unsigned char *run = s;
        while (plain_byte(*s))
            s++;
        if (s > run)
            put_str(w, (const char *)run, (size_t)(s - run));
        unsigned char c = *s;
        if (!c)
            break;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put_str(w, esc, 2);
            s++;
        } else if (c == '\n') {
            put_str(w, "\\n", 2);
            s++;
        } else if (c == '\t') {
            put_str(w, "\\t", 2);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put_str(w, esc, 6);
            s++;
        } else {
            int n = utf8_seq_len(s);
            if (n == 0) {
                put_str(w, "\\ufffd", 6);
                s++;
            } else {
                put_str(w, (const char *)s, (size_t)n);
                s += n;
            }
        }
    }
    put_c(w, '"');
}

/* V with 1 to 3 decimals (a mean of 32.5, a rate of 0.25) into BUF (32
 * bytes): the "%.15g" form, without printf. V is x / 10^d for an integer
 * x below 10^15: "%.15g" rounds V to x's own digits, and strtod reads
 * them back as V (the division is rounded correctly too). */
static bool short_decimal(char *buf, double v)
{
    static const double p10[] = {1, 10, 100, 1000};
    for (int d = 1; d <= 3; d++) {
        double x = v * p10[d];
        if (!(x > -1e15 && x < 1e15) || x != (double)(int64_t)x ||
            (double)(int64_t)x / p10[d] != v)
            continue;
        int64_t i = (int64_t)x;
        char tmp[24];
        char *end = tmp + sizeof tmp;
        char *p = u64_digits(end, i < 0 ? 0 - (uint64_t)i : (uint64_t)i);
        while (end - p <= d) /* 0.005: the zeros before the digits */
            *--p = '0';
        size_t n = 0;
        if (i < 0)
            buf[n++] = '-';
        size_t ints = (size_t)(end - p) - (size_t)d;
        memcpy(buf + n, p, ints);
        n += ints;
        buf[n++] = '.';
        memcpy(buf + n, p + ints, (size_t)d);
        buf[n + (size_t)d] = '\0';
        return true;
    }
    return false;
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
    if (len >= 32 && short_decimal(buf, v))
        return buf;
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v)
            break;
    }
    return buf;
}
