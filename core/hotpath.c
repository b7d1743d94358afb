/* The internal API of core/hotpath.h for the preload shim: a thread's cell
 * of a field, histogram records on a cell, field groups, state changes and
 * the writer's thread-exit and no-system-call settings. */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "hotpath.h"
#include "update.h"

struct mms_cell mms__cell(mms_field *f)
{
    if (!f || !(f->flags & MMS_DF_SHARDED))
        return (struct mms_cell){NULL, false};
    struct mms__shard_ref sh = mms__shard(f->w);
    return (struct mms_cell){sh.base + f->off, sh.owned};
}

struct mms_cell mms__cell_shared(mms_field *f)
{
    if (!f || !(f->flags & MMS_DF_SHARDED))
        return (struct mms_cell){NULL, false};
    mms_writer *w = f->w;
    return (struct mms_cell){w->base + w->hdr->shard_off + f->off, false};
}

void mms__hist_record_cell(mms_field *f, struct mms_cell c, uint64_t v)
{
    if (!f || f->kind != MMS_KIND_HISTOGRAM || !c.p)
        return;
    mms__hist_record_at(f, c.p, c.owned, v, 0, f->bits, f->max_exp);
}

uint64_t *mms__gauge_cell(mms_field *f)
{
    if (!f || f->kind != MMS_KIND_GAUGE)
        return NULL;
    return (uint64_t *)(f->w->base + f->off);
}

int mms__group_add(mms_writer *w, const struct mms_field_spec *specs,
                   unsigned n, unsigned flags, mms_field **out)
{
    if (!w || !specs || !out)
        return -EINVAL;
    int saved = errno;
    int rc =
        mms__fields_add_locked(w, specs, n, !(flags & MMS_ADD_NOWAIT), out);
    errno = saved;
    return rc;
}

void mms__writer_set_state(mms_writer *w, enum mms_state st)
{
    if (!w || w->hdr->pid != (int32_t)getpid())
        return;
    if (st == MMS_STATE_FINISHED) {
        mms_writer_finish(w);
        return;
    }
    mms_store_relaxed(&w->hdr->finished_ns, 0);
    mms_store_release(&w->hdr->p.state, (uint32_t)st);
}

void mms__writer_on_thread_exit(mms_writer *w, void (*cb)(void))
{
    if (w)
        w->thread_exit_cb = cb;
}

void mms__writer_no_syscalls(mms_writer *w)
{
    if (w)
        __atomic_store_n(&w->no_syscalls, true, __ATOMIC_RELAXED);
}
