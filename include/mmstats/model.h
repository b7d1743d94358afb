/* The declarative writer API: a model of stats declared once as an
 * X-macro list, from which a struct of typed handles and its registration
 * are generated (the C counterpart of the original's MmStats classes).
 *
 *   #define HTTP_STATS(X)                                             \
 *       X(counter, requests, "requests", "requests served")           \
 *       X(gauge, in_flight, "requests", "requests being served")      \
 *       X(timer_window, latency, "ns", "time to serve a request")
 *   MMS_MODEL(http_stats, HTTP_STATS)
 *
 *   struct http_stats st;
 *   http_stats_open(&st, NULL);     // file "{exe}-http_stats-{pid}.mmstats"
 *   mms_counter_inc(st.requests);
 *   MMS_TIME_SCOPE(st.latency) { ... }
 *   http_stats_close(&st);
 *
 * Kinds: counter, counter_window, gauge, gauge_f64, string, hist, timer,
 * timer_window, movavg, and the scalars bool, i8, i16, i32, u8, u16, u32,
 * u64, f32 (set with mms_bool_set, mms_u32_set, ...). Field names are the
 * member names, or "PREFIX.member" with http_stats_register(&st, w, "PREFIX")
 * on a writer that is already open. */
#ifndef MMSTATS_MODEL_H
#define MMSTATS_MODEL_H

#include <mmstats/mmstats.h>

#define MMS__KIND_counter MMS_KIND_COUNTER
#define MMS__TYPE_counter ((enum mms_type)0)
#define MMS__FLAGS_counter 0u
#define MMS__KIND_counter_window MMS_KIND_COUNTER
#define MMS__TYPE_counter_window ((enum mms_type)0)
#define MMS__FLAGS_counter_window MMS_DF_WINDOW
#define MMS__KIND_gauge MMS_KIND_GAUGE
#define MMS__TYPE_gauge ((enum mms_type)0)
#define MMS__FLAGS_gauge 0u
#define MMS__KIND_gauge_f64 MMS_KIND_GAUGE_F64
#define MMS__TYPE_gauge_f64 ((enum mms_type)0)
#define MMS__FLAGS_gauge_f64 0u
#define MMS__KIND_string MMS_KIND_STRING
#define MMS__TYPE_string ((enum mms_type)0)
#define MMS__FLAGS_string 0u
#define MMS__KIND_hist MMS_KIND_HISTOGRAM
#define MMS__TYPE_hist ((enum mms_type)0)
#define MMS__FLAGS_hist 0u
#define MMS__KIND_timer MMS_KIND_HISTOGRAM
#define MMS__TYPE_timer ((enum mms_type)0)
#define MMS__FLAGS_timer 0u
#define MMS__KIND_timer_window MMS_KIND_HISTOGRAM
#define MMS__TYPE_timer_window ((enum mms_type)0)
#define MMS__FLAGS_timer_window MMS_DF_WINDOW
#define MMS__KIND_movavg MMS_KIND_MOVAVG
#define MMS__TYPE_movavg ((enum mms_type)0)
#define MMS__FLAGS_movavg 0u
#define MMS__KIND_bool MMS_KIND_SCALAR
#define MMS__TYPE_bool MMS_TYPE_BOOL
#define MMS__FLAGS_bool 0u
#define MMS__KIND_i8 MMS_KIND_SCALAR
#define MMS__TYPE_i8 MMS_TYPE_I8
#define MMS__FLAGS_i8 0u
#define MMS__KIND_i16 MMS_KIND_SCALAR
#define MMS__TYPE_i16 MMS_TYPE_I16
#define MMS__FLAGS_i16 0u
#define MMS__KIND_i32 MMS_KIND_SCALAR
#define MMS__TYPE_i32 MMS_TYPE_I32
#define MMS__FLAGS_i32 0u
#define MMS__KIND_u8 MMS_KIND_SCALAR
#define MMS__TYPE_u8 MMS_TYPE_U8
#define MMS__FLAGS_u8 0u
#define MMS__KIND_u16 MMS_KIND_SCALAR
#define MMS__TYPE_u16 MMS_TYPE_U16
#define MMS__FLAGS_u16 0u
#define MMS__KIND_u32 MMS_KIND_SCALAR
#define MMS__TYPE_u32 MMS_TYPE_U32
#define MMS__FLAGS_u32 0u
#define MMS__KIND_u64 MMS_KIND_SCALAR
#define MMS__TYPE_u64 MMS_TYPE_U64
#define MMS__FLAGS_u64 0u
#define MMS__KIND_f32 MMS_KIND_SCALAR
#define MMS__TYPE_f32 MMS_TYPE_F32
#define MMS__FLAGS_f32 0u

#define MMS__MODEL_MEMBER(kind, member, units, help) mms_field *member;
#define MMS__MODEL_ADD(kind, member, units, help)                              \
    if (rc == 0)                                                               \
        rc = mms_model_add(m->writer, prefix, #member, MMS__KIND_##kind,       \
                           MMS__TYPE_##kind, MMS__FLAGS_##kind, units, help,   \
                           &m->member);

#define MMS_MODEL(type, LIST)                                                  \
    struct type {                                                              \
        mms_writer *writer;                                                    \
        LIST(MMS__MODEL_MEMBER)                                                \
    };                                                                         \
    static inline int type##_register(struct type *m, mms_writer *w,           \
                                      const char *prefix)                      \
    {                                                                          \
        int rc = 0;                                                            \
        m->writer = w;                                                         \
        LIST(MMS__MODEL_ADD)                                                   \
        return rc;                                                             \
    }                                                                          \
    static inline int type##_open(struct type *m,                              \
                                  const struct mms_writer_options *o)          \
    {                                                                          \
        struct mms_writer_options opt;                                         \
        mms_writer *w;                                                         \
        if (o)                                                                 \
            opt = *o;                                                          \
        else                                                                   \
            mms_writer_options_init(&opt);                                     \
        if (!opt.name)                                                         \
            opt.name = #type;                                                  \
        int rc = mms_writer_open(&w, &opt);                                    \
        if (rc < 0)                                                            \
            return rc;                                                         \
        rc = type##_register(m, w, NULL);                                      \
        if (rc < 0) {                                                          \
            mms_writer_close(w);                                               \
            m->writer = NULL;                                                  \
        }                                                                      \
        return rc;                                                             \
    }                                                                          \
    static inline int type##_close(struct type *m)                             \
    {                                                                          \
        return mms_writer_close(m->writer);                                    \
    }

#endif /* MMSTATS_MODEL_H */
