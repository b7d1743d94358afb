/* The streaming JSON writer of json.h. */
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

static void indent(struct jw *w, int depth)
{
    fputc('\n', w->f);
    for (int i = 0; i < depth; i++)
        fputs("  ", w->f);
}

/* Separator, indentation and key before an item at the current depth. */
static void item(struct jw *w, const char *key)
{
    bool compact = !w->pretty || w->compact_from;
    if (w->items[w->depth])
        fputs(compact && w->pretty ? ", " : ",", w->f);
    if (!compact && w->depth > 0)
        indent(w, w->depth);
    w->items[w->depth] = true;
    if (key) {
        json_string(w->f, key);
        fputs(w->pretty ? ": " : ":", w->f);
    }
}

static void open_container(struct jw *w, const char *key, char c, bool compact)
{
    item(w, key);
    fputc(c, w->f);
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
    fputc(c, w->f);
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

void jw_u64(struct jw *w, const char *key, uint64_t v)
{
    item(w, key);
    fprintf(w->f, "%" PRIu64, v);
}

void jw_i64(struct jw *w, const char *key, int64_t v)
{
    item(w, key);
    fprintf(w->f, "%" PRId64, v);
}

void jw_f64(struct jw *w, const char *key, double v)
{
    char buf[40];
    item(w, key);
    fputs(json_double(buf, sizeof buf, v), w->f);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
    item(w, key);
    fputs(v ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
    item(w, key);
    fputs("null", w->f);
}

void jw_finish(struct jw *w)
{
    fputc('\n', w->f);
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

void json_string(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
            s++;
        } else if (c == '\n') {
            fputs("\\n", f);
            s++;
        } else if (c == '\t') {
            fputs("\\t", f);
            s++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\u%04x", c);
            s++;
        } else if (c < 0x80) {
            fputc(c, f);
            s++;
        } else {
            int n = utf8_seq_len(s);
            if (n == 0) {
                fputs("\\ufffd", f);
                s++;
            } else {
                fwrite(s, 1, (size_t)n, f);
                s += n;
            }
        }
    }
    fputc('"', f);
}

char *json_double(char *buf, size_t len, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, len, "null");
        return buf;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v)
            break;
    }
    return buf;
}
