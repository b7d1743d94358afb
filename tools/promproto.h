/* The Prometheus protobuf exposition format (out_promproto.c, built with
 * protobuf-c into mmstat-exporter): /metrics for a scraper that asks for
 * it, the only format with native histograms. */
#ifndef MMS_TOOLS_PROMPROTO_H
#define MMS_TOOLS_PROMPROTO_H

#include <stdbool.h>
#include <stdio.h>

#include "prom_native.h"

#define PROMPROTO_CONTENT_TYPE                                                 \
    "application/vnd.google.protobuf; "                                        \
    "proto=io.prometheus.client.MetricFamily; encoding=delimited"

/* Whether an Accept header asks for the delimited MetricFamily messages
 * at least as much as for the text format (NULL: no). */
bool promproto_accepted(const char *accept);

/* TEXT, LEN bytes of the text format as out_prom.c and the exporter write
 * it (HELP and TYPE before each family's samples; a histogram's buckets,
 * sum and count together), written to OUT as length-delimited
 * MetricFamily messages, in the same order; histograms that NATIVES
 * holds (by name and labels) get their native buckets beside the
 * classic ones. 0, -ENOMEM, -EIO (OUT failed) or -EINVAL (a line that is
 * not the text format). */
int promproto_from_text(FILE *out, const char *text, size_t len,
                        const struct prom_natives *natives);

#endif
