/* A small streaming JSON writer for the tools: objects, arrays, escaped
 * strings (invalid UTF-8 becomes U+FFFD), integers, and doubles printed
 * with the fewest digits that read back exactly (non-finite: null). */
#ifndef MMS_TOOLS_JSON_H
#define MMS_TOOLS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JW_MAX_DEPTH 32
#define JW_BUF 8192    /* bytes gathered before one write to the FILE */
#define JW_ROW_HEAD 64 /* jw_row_tail: head bytes written in one go */

struct jw {
    FILE *f;
    bool pretty; /* newlines and two-space indentation */
    int depth;
    int compact_from; /* depth of the outermost one-line container, or 0 */
    bool items[JW_MAX_DEPTH + 1];
    void *ext;  /* the caller's (out_json.c: its bucket bounds' text) */
    size_t len; /* bytes in buf not written to f yet */
    char buf[JW_BUF];
};

void jw_init(struct jw *w, FILE *f, bool pretty);
/* Containers and values take KEY inside an object, NULL inside an array
 * or at the top. A COMPACT array is written on one line. */
void jw_obj(struct jw *w, const char *key);
void jw_arr(struct jw *w, const char *key, bool compact);
void jw_end_obj(struct jw *w);
void jw_end_arr(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *s);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_i64(struct jw *w, const char *key, int64_t v);
/* A compact array of N integers, as an array item (a histogram's bucket
 * rows: written in one go). */
void jw_u64_row(struct jw *w, const uint64_t *v, size_t n);
/* A compact array as an array item: HEAD (its first items' text, each
 * followed by the separator, as jw_u64_row writes them), then LAST. */
void jw_row_tail(struct jw *w, const char *head, size_t len, uint64_t last);
/* The separator after an item of a compact array. */
const char *jw_row_sep(const struct jw *w);
void jw_f64(struct jw *w, const char *key, double v);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
/* After the top-level value: a final newline, and everything written to
 * the FILE (nothing reaches it before: the writer gathers its output). */
void jw_finish(struct jw *w);

/* Length of the valid UTF-8 sequence at S (1-4), or 0 if it is not. */
int utf8_seq_len(const unsigned char *s);

/* V in decimal ending at END (no NUL written): the first digit; at most
 * 20 bytes before END. */
char *json_u64_digits(char *end, uint64_t v);

/* The shortest "%.*g" form of V that reads back as V, into BUF (>= 32). */
char *json_double(char *buf, size_t len, double v);

#endif
