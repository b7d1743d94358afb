/* The Prometheus protobuf exposition format (promproto.h): the text that
 * out_prom.c and the exporter write, family by family, as
 * io.prometheus.client.MetricFamily messages (tools/metrics.proto), each
 * after its length as a varint; histograms with native buckets too
 * (prom_native.c). One code path makes both formats: this file only
 * translates, so they never say different things. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.pb-c.h"
#include "promproto.h"

typedef Io__Prometheus__Client__MetricFamily pb_family;
typedef Io__Prometheus__Client__Metric pb_metric;
typedef Io__Prometheus__Client__LabelPair pb_label;
typedef Io__Prometheus__Client__Histogram pb_hist;
typedef Io__Prometheus__Client__Bucket pb_bucket;
typedef Io__Prometheus__Client__BucketSpan pb_span;

/* ------------------------------------------------------- Accept header */

/* The q of media range R (up to END), 1 if it has none. */
static double range_q(const char *r, const char *end)
{
    for (const char *p = r; p < end; p++) {
        if (*p != ';')
            continue;
        p++;
        while (p < end && *p == ' ')
            p++;
        if (end - p > 2 && !strncasecmp(p, "q=", 2))
            return strtod(p + 2, NULL);
    }
    return 1;
}

/* Whether media range R (up to END) has parameter PARAM ("k=v"). */
static bool range_has(const char *r, const char *end, const char *param)
{
    size_t n = strlen(param);
    for (const char *p = r; p + n <= end; p++)
        if (!strncasecmp(p, param, n) &&
            (p + n == end || p[n] == ';' || p[n] == ' ' || p[n] == ','))
            return true;
    return false;
}

static bool type_is(const char *r, const char *end, const char *type)
{
    size_t n = strlen(type);
    return (size_t)(end - r) >= n && !strncasecmp(r, type, n) &&
           (r + n == end || r[n] == ';' || r[n] == ' ');
}

bool promproto_accepted(const char *accept)
{
    if (!accept)
        return false;
    double proto = 0, text = 0;
    for (const char *r = accept; *r;) {
        while (*r == ' ' || *r == ',')
            r++;
        const char *end = r + strcspn(r, ",");
        double q = range_q(r, end);
        if (type_is(r, end, "application/vnd.google.protobuf") &&
            range_has(r, end, "proto=io.prometheus.client.MetricFamily") &&
            range_has(r, end, "encoding=delimited")) {
            if (q > proto)
                proto = q;
        } else if (type_is(r, end, "text/plain") || type_is(r, end, "*/*") ||
                   type_is(r, end, "text/*")) {
            if (q > text)
                text = q;
        }
        r = end;
    }
    return proto > 0 && proto >= text;
}

/* --------------------------------------------------------------- arena */

/* A family's messages live in an arena, freed once it is sent. */
struct ablock {
    struct ablock *next;
    size_t used, cap;
    alignas(max_align_t) unsigned char data[];
};

struct arena {
    struct ablock *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
    struct ablock *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void arena_free(struct arena *a)
{
    while (a->head) {
        struct ablock *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* A growable array of pointers (in the heap: it moves as it grows). */
struct ptrs {
    void **v;
    size_t n, cap;
};

static int ptrs_push(struct ptrs *p, void *x)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        void **v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = x;
    return 0;
}

/* --------------------------------------------------------- the parser */

enum ftype { F_COUNTER, F_GAUGE, F_HISTOGRAM, F_UNTYPED };

struct conv {
    FILE *out;
    const struct prom_natives *nat;
    struct arena a;
    bool open;       /* a family is being gathered */
    pb_family fam;   /* its name and help in the arena */
    enum ftype type; /* its type */
    struct ptrs metrics;
    /* The histogram being gathered: its labels' text (no "le") and
     * classic buckets. */
    pb_metric *hm;
    const char *hkey;
    size_t hkeylen;
    struct ptrs buckets;
    unsigned char *buf; /* packing */
    size_t bufcap;
};

/* S (N bytes) with the text format's escapes (\\, \", \n) undone. */
static char *unescape(struct arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            i++;
            d[k++] = s[i] == 'n' ? '\n' : s[i];
        } else {
            d[k++] = s[i];
        }
    }
    d[k] = '\0';
    return d;
}

/* The end of the label set that starts after '{' at S (up to END): the
 * '}' outside quotes, or NULL. */
static const char *labels_end(const char *s, const char *end)
{
    bool quoted = false;
    for (const char *p = s; p < end; p++) {
        if (quoted && *p == '\\')
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == '}')
            return p;
    }
    return NULL;
}

/* The labels of text S (N bytes: name="value",...) into M. */
static int parse_labels(struct conv *c, pb_metric *m, const char *s, size_t n)
{
    struct ptrs l = {0};
    const char *p = s, *end = s + n;
    int rc = 0;
    while (p < end && rc == 0) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq || eq + 1 >= end || eq[1] != '"') {
            rc = -EINVAL;
            break;
        }
        const char *v = eq + 2, *q = v;
        while (q < end && *q != '"')
            q += *q == '\\' ? 2 : 1;
        if (q >= end) {
            rc = -EINVAL;
            break;
        }
        pb_label *lp = arena_alloc(&c->a, sizeof *lp);
        if (!lp) {
            rc = -ENOMEM;
            break;
        }
        io__prometheus__client__label_pair__init(lp);
        lp->name = arena_strndup(&c->a, p, (size_t)(eq - p));
        lp->value = unescape(&c->a, v, (size_t)(q - v));
        if (!lp->name || !lp->value || ptrs_push(&l, lp) < 0)
            rc = -ENOMEM;
        p = q + 1;
        if (p < end && *p == ',')
            p++;
    }
    if (rc == 0 && l.n) {
        m->label = arena_alloc(&c->a, l.n * sizeof(pb_label *));
        if (m->label) {
            memcpy(m->label, l.v, l.n * sizeof(pb_label *));
            m->n_label = l.n;
        } else {
            rc = -ENOMEM;
        }
    }
    free(l.v);
    return rc;
}

/* --------------------------------------------------------- histograms */

/* NH's buckets as spans and deltas into H. */
static int native_into(struct conv *c, pb_hist *h, const struct prom_nhist *nh)
{
    h->has_schema = true;
    h->schema = nh->schema;
    h->has_zero_threshold = true;
    h->zero_threshold = PROM_ZERO_THRESHOLD;
    h->has_zero_count = true;
    h->zero_count = nh->zero_count;
    if (!nh->n)
        return 0;
    h->positive_span = arena_alloc(&c->a, nh->n * sizeof(pb_span *));
    h->positive_delta = arena_alloc(&c->a, nh->n * sizeof *h->positive_delta);
    if (!h->positive_span || !h->positive_delta)
        return -ENOMEM;
    pb_span *span = NULL;
    for (size_t i = 0; i < nh->n; i++) {
        h->positive_delta[i] =
            (int64_t)nh->cnt[i] - (int64_t)(i ? nh->cnt[i - 1] : 0);
        if (span && nh->index[i] == nh->index[i - 1] + 1) {
            span->length++;
            continue;
        }
        if (!(span = arena_alloc(&c->a, sizeof *span)))
            return -ENOMEM;
        io__prometheus__client__bucket_span__init(span);
        span->has_offset = span->has_length = true;
        /* The first span starts at its index, the others after a gap. */
        span->offset = i ? nh->index[i] - nh->index[i - 1] - 1 : nh->index[0];
        span->length = 1;
        h->positive_span[h->n_positive_span++] = span;
    }
    h->n_positive_delta = nh->n;
    return 0;
}

/* The histogram being gathered, finished: its buckets, and its native
 * buckets if the table has it. */
static int hist_end(struct conv *c)
{
    pb_metric *m = c->hm;
    if (!m)
        return 0;
    c->hm = NULL;
    pb_hist *h = m->histogram;
    if (c->buckets.n) {
        h->bucket = arena_alloc(&c->a, c->buckets.n * sizeof(pb_bucket *));
        if (!h->bucket)
            return -ENOMEM;
        memcpy(h->bucket, c->buckets.v, c->buckets.n * sizeof(pb_bucket *));
        h->n_bucket = c->buckets.n;
    }
    c->buckets.n = 0;
    const struct prom_nhist *nh =
        c->nat ? prom_natives_find(c->nat, c->fam.name, c->hkey, c->hkeylen)
               : NULL;
    return nh ? native_into(c, h, nh) : 0;
}

/* A new metric of the family, with the labels of text L (N bytes). */
static pb_metric *metric_new(struct conv *c, const char *l, size_t n, int *rc)
{
    pb_metric *m = arena_alloc(&c->a, sizeof *m);
    if (!m) {
        *rc = -ENOMEM;
        return NULL;
    }
    io__prometheus__client__metric__init(m);
    if ((*rc = parse_labels(c, m, l, n)) < 0)
        return NULL;
    if ((*rc = ptrs_push(&c->metrics, m)) < 0)
        return NULL;
    return m;
}

/* The "le" pair at the end of labels L (N bytes): its start (the ',' or
 * L itself), the value into *LE; NULL if there is none. */
static const char *le_pair(const char *l, size_t n, double *le)
{
    static const char key[] = "le=\"";
    for (const char *p = l + n; p > l; p--) {
        const char *k = p - 1;
        if ((k == l || k[-1] == ',') && !strncmp(k, key, sizeof key - 1)) {
            const char *v = k + sizeof key - 1;
            *le = strtod(v, NULL);
            return k == l ? l : k - 1;
        }
    }
    return NULL;
}

/* A sample of histogram family F: name F SUFFIX, labels L (N bytes). */
static int hist_sample(struct conv *c, const char *suffix, const char *l,
                       size_t n, double v)
{
    double le = 0;
    size_t keylen = n;
    bool bucket = !strcmp(suffix, "_bucket");
    if (bucket) {
        const char *lp = le_pair(l, n, &le);
        if (!lp)
            return -EINVAL;
        keylen = (size_t)(lp - l);
    }
    int rc = 0;
    if (!c->hm || c->hkeylen != keylen || memcmp(c->hkey, l, keylen) != 0) {
        if ((rc = hist_end(c)) < 0)
            return rc;
        pb_metric *m = metric_new(c, l, keylen, &rc);
        if (!m)
            return rc;
        if (!(m->histogram = arena_alloc(&c->a, sizeof *m->histogram)))
            return -ENOMEM;
        io__prometheus__client__histogram__init(m->histogram);
        c->hm = m;
        if (!(c->hkey = arena_strndup(&c->a, l, keylen)))
            return -ENOMEM;
        c->hkeylen = keylen;
    }
    pb_hist *h = c->hm->histogram;
    if (bucket) {
        if (isinf(le)) /* +Inf: the count says it */
            return 0;
        pb_bucket *b = arena_alloc(&c->a, sizeof *b);
        if (!b)
            return -ENOMEM;
        io__prometheus__client__bucket__init(b);
        b->has_cumulative_count = b->has_upper_bound = true;
        b->cumulative_count = (uint64_t)v;
        b->upper_bound = le;
        return ptrs_push(&c->buckets, b);
    }
    if (!strcmp(suffix, "_sum")) {
        h->has_sample_sum = true;
        h->sample_sum = v;
    } else {
        h->has_sample_count = true;
        h->sample_count = (uint64_t)v;
    }
    return 0;
}

/* -------------------------------------------------------- the families */

/* The family gathered, sent: its length, then its bytes. */
static int family_end(struct conv *c)
{
    int rc = hist_end(c);
    if (rc == 0 && c->open && c->metrics.n) {
        c->fam.metric = (pb_metric **)c->metrics.v;
        c->fam.n_metric = c->metrics.n;
        size_t n =
            io__prometheus__client__metric_family__get_packed_size(&c->fam);
        if (n > c->bufcap) {
            unsigned char *b = realloc(c->buf, n);
            if (b) {
                c->buf = b;
                c->bufcap = n;
            } else {
                rc = -ENOMEM;
            }
        }
        if (rc == 0) {
            io__prometheus__client__metric_family__pack(&c->fam, c->buf);
            unsigned char len[10];
            size_t k = 0;
            for (size_t x = n; k == 0 || x; x >>= 7)
                len[k++] = (unsigned char)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
            if (fwrite(len, 1, k, c->out) != k ||
                fwrite(c->buf, 1, n, c->out) != n)
                rc = -EIO;
        }
    }
    c->open = false;
    c->metrics.n = 0;
    c->buckets.n = 0;
    c->hm = NULL;
    arena_free(&c->a);
    return rc;
}

static int family_begin(struct conv *c, const char *name, size_t n)
{
    int rc = family_end(c);
    if (rc < 0)
        return rc;
    io__prometheus__client__metric_family__init(&c->fam);
    if (!(c->fam.name = arena_strndup(&c->a, name, n)))
        return -ENOMEM;
    c->fam.has_type = true;
    c->fam.type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED;
    c->type = F_UNTYPED;
    c->open = true;
    return 0;
}

static bool is_family(const struct conv *c, const char *name, size_t n)
{
    return c->open && strlen(c->fam.name) == n && !memcmp(c->fam.name, name, n);
}

/* "# HELP name text" and "# TYPE name type"; other comments are none of
 * ours. */
static int comment_line(struct conv *c, const char *s, const char *end)
{
    bool help = end - s > 7 && !strncmp(s, "# HELP ", 7);
    bool type = end - s > 7 && !strncmp(s, "# TYPE ", 7);
    if (!help && !type)
        return 0;
    const char *name = s + 7, *sp = memchr(name, ' ', (size_t)(end - name));
    if (!sp)
        return -EINVAL;
    size_t n = (size_t)(sp - name);
    int rc;
    if (!is_family(c, name, n) && (rc = family_begin(c, name, n)) < 0)
        return rc;
    const char *v = sp + 1;
    size_t vn = (size_t)(end - v);
    if (help)
        return (c->fam.help = unescape(&c->a, v, vn)) ? 0 : -ENOMEM;
    static const struct {
        const char *name;
        enum ftype t;
        Io__Prometheus__Client__MetricType pt;
    } types[] = {
        {"counter", F_COUNTER, IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER},
        {"gauge", F_GAUGE, IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE},
        {"histogram", F_HISTOGRAM,
         IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM},
    };
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        if (strlen(types[k].name) == vn && !memcmp(types[k].name, v, vn)) {
            c->type = types[k].t;
            c->fam.type = types[k].pt;
        }
    }
    return 0;
}

/* The suffix of a histogram's sample NAME (N bytes) of family F, or NULL. */
static const char *hist_suffix(const char *f, const char *name, size_t n)
{
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    size_t fl = strlen(f);
    if (n <= fl || memcmp(name, f, fl) != 0)
        return NULL;
    for (size_t k = 0; k < 3; k++)
        if (strlen(suffixes[k]) == n - fl &&
            !memcmp(name + fl, suffixes[k], n - fl))
            return suffixes[k];
    return NULL;
}

/* "name{labels} value": a metric of the family, or of a family of its own
 * (untyped) if it is none of this one's. */
static int sample_line(struct conv *c, const char *s, const char *end)
{
    size_t nn = strcspn(s, "{ ");
    if (s + nn >= end)
        return -EINVAL;
    const char *l = s + nn, *le = l;
    size_t ln = 0;
    if (*l == '{') {
        le = labels_end(l + 1, end);
        if (!le)
            return -EINVAL;
        ln = (size_t)(le - l - 1);
        l++;
        le++;
    }
    char num[64];
    size_t vn = strcspn(le + 1, " \n");
    if (*le != ' ' || vn == 0 || vn >= sizeof num)
        return -EINVAL;
    memcpy(num, le + 1, vn);
    num[vn] = '\0';
    char *e;
    double v = strtod(num, &e);
    if (*e)
        return -EINVAL;
    const char *suffix = c->open && c->type == F_HISTOGRAM
                             ? hist_suffix(c->fam.name, s, nn)
                             : NULL;
    if (suffix)
        return hist_sample(c, suffix, l, ln, v);
    int rc;
    if (!is_family(c, s, nn) || c->type == F_HISTOGRAM)
        if ((rc = family_begin(c, s, nn)) < 0)
            return rc;
    if ((rc = hist_end(c)) < 0)
        return rc;
    pb_metric *m = metric_new(c, l, ln, &rc);
    if (!m)
        return rc;
    /* One value message of the family's type. */
    Io__Prometheus__Client__Gauge *g;
    Io__Prometheus__Client__Counter *ct;
    Io__Prometheus__Client__Untyped *u;
    switch (c->type) {
    case F_COUNTER:
        if (!(m->counter = ct = arena_alloc(&c->a, sizeof *ct)))
            return -ENOMEM;
        io__prometheus__client__counter__init(ct);
        ct->has_value = true;
        ct->value = v;
        break;
    case F_GAUGE:
        if (!(m->gauge = g = arena_alloc(&c->a, sizeof *g)))
            return -ENOMEM;
        io__prometheus__client__gauge__init(g);
        g->has_value = true;
        g->value = v;
        break;
    default:
        if (!(m->untyped = u = arena_alloc(&c->a, sizeof *u)))
            return -ENOMEM;
        io__prometheus__client__untyped__init(u);
        u->has_value = true;
        u->value = v;
        break;
    }
    return 0;
}

int promproto_from_text(FILE *out, const char *text, size_t len,
                        const struct prom_natives *natives)
{
    struct conv c = {.out = out, .nat = natives};
    int rc = 0;
    const char *p = text, *end = text + len;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le > p)
            rc = *p == '#' ? comment_line(&c, p, le) : sample_line(&c, p, le);
        p = le + 1;
    }
    int rc2 = family_end(&c);
    free(c.metrics.v);
    free(c.buckets.v);
    free(c.buf);
    arena_free(&c.a);
    if (rc == 0)
        rc = rc2;
    return rc == 0 && ferror(out) ? -EIO : rc;
}
