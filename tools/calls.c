/* The shim's per-call fields of a snapshot, grouped by call (calls.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mmstats/preload.h>

#include "calls.h"
#include "hash.h"

/* A call's place in the table while it is made. */
struct call_key {
    char key[100]; /* "family.call" */
    size_t i;
    UT_hash_handle hh;
};

void calls_free(struct calls *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* The field kind and slot each per-call name goes in. */
static long *slot_of(struct call_index *ci, const char *what,
                     enum mms_kind kind)
{
    if (kind == MMS_KIND_COUNTER && !strcmp(what, MMS_PRELOAD_CALLS))
        return &ci->calls;
    if (kind == MMS_KIND_COUNTER && !strcmp(what, MMS_PRELOAD_ERRORS))
        return &ci->errors;
    if (kind == MMS_KIND_COUNTER && !strcmp(what, MMS_PRELOAD_BYTES))
        return &ci->bytes;
    if (kind == MMS_KIND_HISTOGRAM && !strcmp(what, MMS_PRELOAD_LATENCY))
        return &ci->latency;
    return NULL;
}

static void keys_free(struct call_key **keys)
{
    struct call_key *k = *keys, *next;
    HASH_CLEAR(hh, *keys);
    for (; k; k = next) {
        next = k->hh.next;
        free(k);
    }
}

int calls_index(struct calls *c, const mms_snapshot *s)
{
    struct call_key *keys = NULL;
    size_t cap = 0;
    int rc = 0;
    calls_free(c);
    c->nfields = mms_snapshot_nfields(s);
    for (size_t i = 0; i < c->nfields && rc == 0; i++) {
        const struct mms_field_info *fi = mms_snapshot_field(s, i);
        const char *d1 = strchr(fi->name, '.');
        const char *d2 = strrchr(fi->name, '.');
        if (!d1 || d2 == d1 || (size_t)(d1 - fi->name) >= 32 ||
            (size_t)(d2 - d1 - 1) >= 64)
            continue;
        struct call_index probe = {0};
        if (!slot_of(&probe, d2 + 1, fi->kind))
            continue;
        char key[100];
        snprintf(key, sizeof key, "%.*s", (int)(d2 - fi->name), fi->name);
        struct call_key *k;
        HASH_FIND_STR(keys, key, k);
        if (!k) {
            if (c->n == cap) {
                size_t ncap = cap ? cap * 2 : 32;
                struct call_index *nv = realloc(c->v, ncap * sizeof *nv);
                if (!nv) {
                    rc = -ENOMEM;
                    break;
                }
                c->v = nv;
                cap = ncap;
            }
            if (!(k = calloc(1, sizeof *k))) {
                rc = -ENOMEM;
                break;
            }
            snprintf(k->key, sizeof k->key, "%s", key);
            k->i = c->n;
            HASH_ADD_STR(keys, key, k);
            if (!hash_added(k)) {
                free(k);
                rc = -ENOMEM;
                break;
            }
            struct call_index *ci = &c->v[c->n++];
            memset(ci, 0, sizeof *ci);
            snprintf(ci->family, sizeof ci->family, "%.*s",
                     (int)(d1 - fi->name), fi->name);
            snprintf(ci->call, sizeof ci->call, "%.*s", (int)(d2 - d1 - 1),
                     d1 + 1);
            ci->calls = ci->errors = ci->bytes = ci->latency = -1;
        }
        *slot_of(&c->v[k->i], d2 + 1, fi->kind) = (long)i;
    }
    keys_free(&keys);
    if (rc < 0)
        calls_free(c);
    return rc;
}

uint64_t counter_delta(const mms_snapshot *now, const mms_snapshot *before,
                       long i)
{
    if (i < 0)
        return 0;
    uint64_t v = mms_snapshot_value(now, (size_t)i)->v.u64;
    if (!before || (size_t)i >= mms_snapshot_nfields(before))
        return v;
    uint64_t b = mms_snapshot_value(before, (size_t)i)->v.u64;
    return v >= b ? v - b : v;
}

void call_delta(struct call_delta *d, const struct call_index *ci,
                const mms_snapshot *now, const mms_snapshot *before)
{
    memset(d, 0, sizeof *d);
    d->ci = ci;
    d->calls = counter_delta(now, before, ci->calls);
    d->errors = counter_delta(now, before, ci->errors);
    d->bytes = counter_delta(now, before, ci->bytes);
    d->has_bytes = ci->bytes >= 0;
    if (ci->calls >= 0)
        d->calls_total = mms_snapshot_value(now, (size_t)ci->calls)->v.u64;
    if (ci->latency < 0)
        return;
    d->has_latency = true;
    const struct mms_hist *h =
        mms_snapshot_value(now, (size_t)ci->latency)->v.hist;
    const struct mms_hist *b =
        before && (size_t)ci->latency < mms_snapshot_nfields(before)
            ? mms_snapshot_value(before, (size_t)ci->latency)->v.hist
            : NULL;
    struct mms_hist diff = {0}, empty = {0};
    int rc = b ? mms_hist_sub(&diff, h, b)
               : mms_hist_init(&empty, h->bits, h->max_exp);
    if (rc == 0 && !b)
        rc = mms_hist_sub(&diff, h, &empty);
    mms_hist_free(&empty);
    if (rc == 0 && diff.count) {
        d->p50 = mms_hist_quantile(&diff, 0.5);
        d->p99 = mms_hist_quantile(&diff, 0.99);
    }
    mms_hist_free(&diff);
}

long field_index(const mms_snapshot *s, const char *name)
{
    for (size_t i = 0; i < mms_snapshot_nfields(s); i++)
        if (!strcmp(mms_snapshot_field(s, i)->name, name))
            return (long)i;
    return -1;
}
