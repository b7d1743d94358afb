/* uthash (Debian package uthash-dev) for the tools' tables by name, with
 * an allocation failure reported to the caller instead of ending the
 * program: after HASH_ADD*, hash_added(ELT) says whether ELT went in. */
#ifndef MMS_TOOLS_HASH_H
#define MMS_TOOLS_HASH_H

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#define hash_added(elt) ((elt)->hh.tbl != NULL)

#endif
