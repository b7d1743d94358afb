/* The declarative API: a model declared once with an X-macro list; the
 * stats file is named after the model ("{exe}-http_stats-{pid}.mmstats"). */
#include <stdio.h>
#include <time.h>

#include <mmstats/mmstats.h>

#define HTTP_STATS(X)                                                          \
    X(counter, requests, "requests", "requests served")                        \
    X(counter, errors, "requests", "requests that failed")                     \
    X(gauge, in_flight, "requests", "requests being served")                   \
    X(string, last_path, NULL, "path of the last request")                     \
    X(timer_window, latency, "ns", "time to serve a request")
MMS_MODEL(http_stats, HTTP_STATS)

int main(void)
{
    struct http_stats st;
    int rc = http_stats_open(&st, NULL);
    if (rc < 0) {
        fprintf(stderr, "model: %s\n", mms_strerror(rc));
        return 1;
    }
    printf("writing %s\n", mms_writer_path(st.writer));
    for (int i = 0; i < 1000; i++) {
        MMS_TIME_SCOPE(st.latency)
        {
            mms_gauge_add(st.in_flight, 1);
            mms_counter_inc(st.requests);
            if (i % 100 == 99)
                mms_counter_inc(st.errors);
            mms_string_set(st.last_path, i % 2 ? "/index.html" : "/api");
            mms_gauge_add(st.in_flight, -1);
        }
    }
    return http_stats_close(&st) < 0;
}
