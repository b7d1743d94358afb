/* Error and kind names: every code a libmmstats function returns. */
#include <string.h>

#include "internal.h"

const char *mms_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case MMS_EFORMAT:
        return "not an mmstats file (bad magic)";
    case MMS_EVERSION:
        return "unsupported mmstats format version";
    case MMS_EENDIAN:
        return "stats file written with another byte order";
    case MMS_ECORRUPT:
        return "corrupt stats file (header or descriptors out of bounds)";
    case MMS_EINSECURE:
        return "insecure directory or file (symlink, wrong owner, "
               "group/world-writable or hard-linked)";
    case MMS_ENAME:
        return "invalid field name";
    case MMS_EKIND:
        return "field exists with another kind";
    case MMS_EFULL:
        return "no room left for fields in the stats file";
    case MMS_EBUSY:
        return "value kept changing while being read";
    case MMS_ETRUNCATED:
        return "stats file shorter than its header says";
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

const char *mms_kind_name(enum mms_kind kind)
{
    switch (kind) {
    case MMS_KIND_COUNTER:
        return "counter";
    case MMS_KIND_GAUGE:
        return "gauge";
    case MMS_KIND_GAUGE_F64:
        return "gauge_f64";
    case MMS_KIND_STRING:
        return "string";
    case MMS_KIND_HISTOGRAM:
        return "histogram";
    case MMS_KIND_STRUCT:
        return "struct";
    case MMS_KIND_MOVAVG:
        return "movavg";
    }
    return "unknown";
}
