/* Symbolising the heap profile's return addresses: the objects a process
 * recorded (path, build id, where it was mapped: the mem.heap.objects
 * table) and elfutils' libdwfl (Debian package libdw-dev) for function,
 * file and line. Works after the process is gone, as long as its files
 * are; without libdw, or for an object whose file is gone or changed
 * (another build id), a frame is "object+0xOFFSET". */
#ifndef MMS_TOOLS_SYMBOLS_H
#define MMS_TOOLS_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

#include <mmstats/mmstats.h>

struct symbols;

struct frame {
    uint64_t pc;
    const char *function; /* NULL if unknown */
    const char *file;     /* source file, NULL if unknown */
    int line;             /* 0 if unknown */
    const char *object;   /* the object's path, NULL if none recorded */
    uint64_t offset;      /* pc - the object's load bias */
};

/* The objects of snapshot S (those it recorded). NULL only when out of
 * memory. */
struct symbols *symbols_new(const mms_snapshot *s);
/* Frame PC (a return address: looked up at PC - 1). The strings live as
 * long as SY. */
void symbols_lookup(struct symbols *sy, uint64_t pc, struct frame *out);
/* "function (file:line)", "function", or "object+0xoffset", into BUF. */
char *frame_text(char *buf, size_t len, const struct frame *f);
/* Just the name for a folded stack: function, or object+0xoffset. */
char *frame_name(char *buf, size_t len, const struct frame *f);
void symbols_free(struct symbols *sy);

#endif
