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
        return "corrupt stats file (a header field or block out of bounds)";
    case MMS_EINSECURE:
        return "insecure directory or file (symlink, wrong owner, "
               "group/world-writable or hard-linked)";
    case MMS_ENAME:
        return "invalid field name";
    case MMS_EKIND:
        return "field exists with another kind";
    case MMS_EFULL:
        return "no room left in the stats file (indices, space or limits)";
    case MMS_EBUSY:
        return "value kept changing while being read";
    case MMS_ETRUNCATED:
        return "stats file shorter than its header says";
    case MMS_EOLDVERSION:
        return "version 2 file: written by an older mmstats; read it with "
               "the tools of that version";
    case MMS_ENOENT:
        return "no field or table of that name";
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
    case MMS_KIND_SCALAR:
        return "scalar";
    }
    return "unknown";
}

const char *mms_type_name(enum mms_type type)
{
    static const char *const names[] = {
        [MMS_TYPE_BOOL] = "bool", [MMS_TYPE_I8] = "i8",
        [MMS_TYPE_I16] = "i16",   [MMS_TYPE_I32] = "i32",
        [MMS_TYPE_I64] = "i64",   [MMS_TYPE_U8] = "u8",
        [MMS_TYPE_U16] = "u16",   [MMS_TYPE_U32] = "u32",
        [MMS_TYPE_U64] = "u64",   [MMS_TYPE_F32] = "f32",
        [MMS_TYPE_F64] = "f64"};
    unsigned t = (unsigned)type;
    return t < MMS_ARRAY_LEN(names) && names[t] ? names[t] : "unknown";
}

const char *mms_member_kind_name(enum mms_member_kind kind)
{
    static const char *const names[] = {
        [MMS_MK_SUM] = "sum",   [MMS_MK_SUM_I64] = "sum_i64",
        [MMS_MK_MAX] = "max",   [MMS_MK_MIN] = "min",
        [MMS_MK_HIST] = "hist", [MMS_MK_MAXARG] = "maxarg"};
    unsigned k = (unsigned)kind;
    return k < MMS_ARRAY_LEN(names) && names[k] ? names[k] : "unknown";
}
