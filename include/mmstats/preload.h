/* What the preload shim (libmmstats_preload.so) writes, for the tools that
 * read it: field names the tools look up by name, in one place. The list
 * of hooked calls itself is the shim's (preload/); tools learn call names
 * from each file's descriptors. */
#ifndef MMSTATS_PRELOAD_H
#define MMSTATS_PRELOAD_H

/* Per hooked call: "<family>.<call>.<what>". */
#define MMS_PRELOAD_CALLS "calls"
#define MMS_PRELOAD_ERRORS "errors"
#define MMS_PRELOAD_REQUESTED "requested_bytes"
#define MMS_PRELOAD_BYTES "bytes"
#define MMS_PRELOAD_READY "ready"
#define MMS_PRELOAD_LATENCY "latency"

/* Memory, for the whole process. */
#define MMS_PRELOAD_MEM_ALLOC_BYTES "mem.alloc_bytes"
#define MMS_PRELOAD_MEM_FREED_BYTES "mem.freed_bytes"
#define MMS_PRELOAD_MEM_ALLOC_SIZE "mem.alloc_size"
#define MMS_PRELOAD_MEM_LIVE_BYTES "mem.live_bytes"
#define MMS_PRELOAD_MEM_PEAK_BYTES "mem.peak_bytes"

#endif /* MMSTATS_PRELOAD_H */
