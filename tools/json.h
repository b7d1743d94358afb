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
#define JW_TAPE 256    /* struct jw_tape: the longest run of items kept */

struct jw {
    FILE *f;
    bool pretty; /* newlines and two-space indentation */
    int depth;
    int compact_from; /* depth of the outermost one-line container, or 0 */
    bool items[JW_MAX_DEPTH + 1];
    void *ext;  /* the caller's (out_json.c: bucket bounds, field heads) */
    size_t len; /* bytes in buf not written to f yet */
    unsigned flushes; /* buffers handed to f (jw_tape_end) */
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
 * followed by the separator, as jw_u64_row writes them), then LAST.
 * JW_ROW_HEAD bytes are read at HEAD whatever LEN (a copy of constant
 * size): HEAD points into a buffer at least that long. */
void jw_row_tail(struct jw *w, const char *head, size_t len, uint64_t last);
/* N such arrays: HEAD[k] (LEN[k] bytes) then LAST[k]; one call for a
 * histogram's rows. */
void jw_row_tails(struct jw *w, size_t n, const char *const *head,
                  const uint8_t *len, const uint64_t *last);
/* The separator after an item of a compact array. */
const char *jw_row_sep(const struct jw *w);
void jw_f64(struct jw *w, const char *key, double v);

/* A run of items recorded once and written again: a 10,000-field --json
 * writes the same kind, units, help and flags items after nearly every
 * field's name. jw_tape_begin before the first item of the run (the
 * first item of its container), jw_tape_end after the last: the tape
 * keeps their text if it is at most JW_TAPE bytes, still in the buffer,
 * and the run ended at the depth it began (containers it opened closed).
 * jw_tape_play writes that text as the first items of the container
 * just opened, if the tape was made at the same depth and layout: true,
 * or false with nothing written (then write the items). */
struct jw_tape {
    bool ok, fresh;
    int depth, compact_from;
    size_t start, len;
    unsigned flushes;
    char text[JW_TAPE];
};
void jw_tape_begin(struct jw *w, struct jw_tape *t);
void jw_tape_end(struct jw *w, struct jw_tape *t);
bool jw_tape_play(struct jw *w, const struct jw_tape *t);
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
