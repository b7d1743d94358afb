/* A caching stack walker (unwind.h). The approach of libunwind's
 * tdep_trace fast path and of async-profiler's frame descriptors: most
 * x86-64 frames are described by a CFA that is rsp or rbp plus a
 * constant, a return address and a saved rbp at constant offsets from
 * it. That rule is computed once per return address from the DWARF call
 * frame information and cached; anything else is left to the caller. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* _dl_find_object (the unit test builds this file) */
#endif
#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "unwind.h"

static struct mmp_unwind_stats stats;

/* C is written through an atomic builtin, which clang-tidy does not see. */
// NOLINTNEXTLINE(readability-non-const-parameter)
static void bump(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

struct mmp_unwind_stats mmp_unwind_stats(void)
{
    struct mmp_unwind_stats s;
    s.computed = __atomic_load_n(&stats.computed, __ATOMIC_RELAXED);
    s.gave_up = __atomic_load_n(&stats.gave_up, __ATOMIC_RELAXED);
    s.uncached = __atomic_load_n(&stats.uncached, __ATOMIC_RELAXED);
    return s;
}

#if defined(__x86_64__)

/* ------------------------------------------------------------ a rule */

/* Packed in one word: the CFA's offset (low 32 bits, signed), the
 * return address's and rbp's offsets from the CFA in words (8 and 12
 * bits, signed), and flags. 0 is no rule. */
#define R_VALID (1ull << 63)
#define R_COMPLEX (1ull << 62) /* leave this frame to the caller */
#define R_END (1ull << 61)     /* the outermost frame */
#define R_CFA_BP (1ull << 60)  /* CFA = rbp + offset (else rsp) */
#define R_BP_SAVED (1ull << 59)

enum { REG_BP = 6, REG_SP = 7 };
enum { HOW_SAME, HOW_OFFSET, HOW_UNDEF, HOW_COMPLEX };

struct cfi_row {
    int64_t cfa_off, ra_off, bp_off;
    uint8_t cfa_reg; /* REG_SP, REG_BP; anything else: complex */
    uint8_t ra_how, bp_how;
};

static uint64_t pack(const struct cfi_row *r)
{
    if (r->ra_how == HOW_UNDEF)
        return R_VALID | R_END;
    if (r->ra_how != HOW_OFFSET ||
        (r->cfa_reg != REG_SP && r->cfa_reg != REG_BP) ||
        (r->bp_how != HOW_SAME && r->bp_how != HOW_OFFSET) ||
        r->cfa_off != (int32_t)r->cfa_off || r->ra_off % 8 ||
        r->ra_off / 8 != (int8_t)(r->ra_off / 8) || r->bp_off % 8 ||
        r->bp_off / 8 < -2048 || r->bp_off / 8 > 2047)
        return R_VALID | R_COMPLEX;
    uint64_t v = R_VALID | (uint32_t)(int32_t)r->cfa_off;
    v |= (uint64_t)(uint8_t)(int8_t)(r->ra_off / 8) << 32;
    if (r->bp_how == HOW_OFFSET)
        v |= R_BP_SAVED | (uint64_t)((uint32_t)(r->bp_off / 8) & 0xfff) << 40;
    if (r->cfa_reg == REG_BP)
        v |= R_CFA_BP;
    return v;
}

static int64_t rule_cfa_off(uint64_t v)
{
    return (int32_t)(uint32_t)v;
}

static int64_t rule_ra_off(uint64_t v)
{
    return (int64_t)(int8_t)(uint8_t)(v >> 32) * 8;
}

static int64_t rule_bp_off(uint64_t v)
{
    int64_t w = (int64_t)((v >> 40) & 0xfff);
    return (w >= 2048 ? w - 4096 : w) * 8;
}

/* ------------------------------------------------------ DWARF reading */

struct rd {
    const uint8_t *p, *end;
    bool bad;
};

static uint64_t rd_bytes(struct rd *r, unsigned n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

static uint64_t rd_uleb(struct rd *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        uint64_t b = rd_bytes(r, 1);
        v |= (b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static int64_t rd_sleb(struct rd *r)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint64_t b;
    do {
        b = rd_bytes(r, 1);
        v |= (b & 0x7f) << shift;
        shift += 7;
    } while ((b & 0x80) && shift < 64);
    if (shift < 64 && (b & 0x40))
        v |= ~0ull << shift;
    return (int64_t)v;
}

/* A pointer in encoding ENC (DW_EH_PE_*); DATA: the base of datarel. */
static uint64_t rd_enc(struct rd *r, uint8_t enc, uint64_t data)
{
    uint64_t at = (uint64_t)(uintptr_t)r->p, v;
    switch (enc & 0x0f) {
    case 0x00: /* absptr */
    case 0x04: /* udata8 */
    case 0x0c:
        v = rd_bytes(r, 8);
        break;
    case 0x02:
        v = rd_bytes(r, 2);
        break;
    case 0x0a:
        v = (uint64_t)(int16_t)rd_bytes(r, 2);
        break;
    case 0x03:
        v = rd_bytes(r, 4);
        break;
    case 0x0b:
        v = (uint64_t)(int32_t)rd_bytes(r, 4);
        break;
    case 0x01:
        v = rd_uleb(r);
        break;
    case 0x09:
        v = (uint64_t)rd_sleb(r);
        break;
    default:
        r->bad = true;
        return 0;
    }
    switch (enc & 0x70) {
    case 0x00:
        return v;
    case 0x10:
        return v + at; /* pcrel */
    case 0x30:
        return v + data; /* datarel */
    default:
        r->bad = true;
        return 0;
    }
}

/* ------------------------------------------------------ CIE, FDE */

struct cie {
    uint64_t code_align;
    int64_t data_align;
    uint64_t ra_reg;
    uint8_t fde_enc;
    bool aug_z, signal;
    const uint8_t *insns, *insns_end;
};

/* The entry at P (a CIE or an FDE): its body and end; false if it is
 * one we do not read (64-bit DWARF, zero length). */
static bool entry_at(const uint8_t *p, struct rd *body)
{
    struct rd r = {p, p + 4, false};
    uint64_t len = rd_bytes(&r, 4);
    if (r.bad || len == 0 || len >= 0xfffffff0u)
        return false;
    *body = (struct rd){p + 4, p + 4 + len, false};
    return true;
}

static bool parse_cie(const uint8_t *p, struct cie *c)
{
    struct rd r;
    if (!entry_at(p, &r) || rd_bytes(&r, 4) != 0) /* CIE id 0 */
        return false;
    uint64_t version = rd_bytes(&r, 1);
    const uint8_t *aug = r.p;
    while (r.p < r.end && *r.p)
        r.p++;
    rd_bytes(&r, 1);
    *c = (struct cie){.fde_enc = 0};
    c->code_align = rd_uleb(&r);
    c->data_align = rd_sleb(&r);
    c->ra_reg = version == 1 ? rd_bytes(&r, 1) : rd_uleb(&r);
    const uint8_t *aug_end = r.end;
    for (const uint8_t *a = aug; *a && !r.bad; a++) {
        if (*a == 'z') {
            uint64_t n = rd_uleb(&r);
            c->aug_z = true;
            if (n > (uint64_t)(r.end - r.p))
                return false;
            aug_end = r.p + n;
        } else if (*a == 'R') {
            c->fde_enc = (uint8_t)rd_bytes(&r, 1);
        } else if (*a == 'L') {
            rd_bytes(&r, 1);
        } else if (*a == 'P') {
            uint8_t e = (uint8_t)rd_bytes(&r, 1);
            rd_enc(&r, e & 0x7f, 0);
        } else if (*a == 'S') {
            c->signal = true;
        } else if (!c->aug_z) {
            return false; /* unknown, and no length to skip it by */
        } else {
            break;
        }
    }
    if (r.bad || (version != 1 && version != 3) || !c->aug_z)
        return false;
    c->insns = aug_end;
    c->insns_end = r.end;
    return true;
}

/* The FDE for PC through the object's .eh_frame_hdr (binary search
 * table of datarel sdata4 pairs, as the linkers write it). */
static const uint8_t *find_fde(uint64_t pc)
{
    struct dl_find_object fo;
    // NOLINTNEXTLINE(performance-no-int-to-ptr): a code address
    if (_dl_find_object((void *)(uintptr_t)pc, &fo) != 0 || !fo.dlfo_eh_frame)
        return NULL;
    const uint8_t *hdr = fo.dlfo_eh_frame;
    if (hdr[0] != 1 || hdr[3] != 0x3b)
        return NULL;
    uint64_t base = (uint64_t)(uintptr_t)hdr;
    struct rd r = {hdr + 4, hdr + 4 + 16, false};
    rd_enc(&r, hdr[1], base);
    uint64_t n = rd_enc(&r, hdr[2], base);
    if (r.bad || n == 0)
        return NULL;
    const int32_t *t = (const int32_t *)(const void *)r.p;
    uint64_t lo = 0, hi = n;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (base + (uint64_t)(int64_t)t[2 * mid] <= pc)
            lo = mid;
        else
            hi = mid;
    }
    if (base + (uint64_t)(int64_t)t[2 * lo] > pc)
        return NULL;
    return hdr + t[2 * lo + 1];
}

/* ------------------------------------------------------ CFA programs */

#define STATES 8

struct cfi_run {
    struct cfi_row row, init, saved[STATES];
    unsigned depth;
    uint64_t loc, target;
    const struct cie *cie;
};

static void set_reg(struct cfi_run *x, uint64_t reg, uint8_t how, int64_t off)
{
    if (reg == REG_BP) {
        x->row.bp_how = how;
        x->row.bp_off = off;
    } else if (reg == x->cie->ra_reg) {
        x->row.ra_how = how;
        x->row.ra_off = off;
    } else if (reg == REG_SP && how != HOW_SAME) {
        x->row.cfa_reg = 0xff; /* rsp restored other than as the CFA */
    }
}

static void restore_reg(struct cfi_run *x, uint64_t reg)
{
    if (reg == REG_BP)
        set_reg(x, reg, x->init.bp_how, x->init.bp_off);
    else if (reg == x->cie->ra_reg)
        set_reg(x, reg, x->init.ra_how, x->init.ra_off);
}

/* Advance the row's address by DELTA: false once past the target (the
 * row in force at the target is found). */
static bool advance(struct cfi_run *x, uint64_t delta)
{
    uint64_t to = x->loc + delta * x->cie->code_align;
    if (to > x->target)
        return false;
    x->loc = to;
    return true;
}

static bool state_op(struct cfi_run *x, uint8_t op)
{
    if (op == 0x0a) { /* remember_state */
        if (x->depth == STATES)
            return false;
        x->saved[x->depth++] = x->row;
    } else { /* restore_state */
        if (x->depth == 0)
            return false;
        x->row = x->saved[--x->depth];
    }
    return true;
}

/* Skip a DWARF expression block (R is bad if it runs past the end). */
static void skip_block(struct rd *r)
{
    uint64_t n = rd_uleb(r);
    if (r->bad || n > (uint64_t)(r->end - r->p))
        r->bad = true;
    else
        r->p += n;
}

/* An instruction on one register's rule; false if OP is not one. */
static bool reg_op(struct cfi_run *x, struct rd *r, uint8_t op)
{
    static const uint8_t ops[] = {0x05, 0x06, 0x07, 0x08, 0x09, 0x10,
                                  0x11, 0x14, 0x15, 0x16, 0x2f};
    if (!memchr(ops, op, sizeof ops))
        return false;
    int64_t da = x->cie->data_align;
    uint64_t reg = rd_uleb(r);
    if (op == 0x05) /* offset_extended */
        set_reg(x, reg, HOW_OFFSET, (int64_t)rd_uleb(r) * da);
    else if (op == 0x11) /* offset_extended_sf */
        set_reg(x, reg, HOW_OFFSET, rd_sleb(r) * da);
    else if (op == 0x2f) /* GNU_negative_offset_extended */
        set_reg(x, reg, HOW_OFFSET, -(int64_t)rd_uleb(r) * da);
    else if (op == 0x06) /* restore_extended */
        restore_reg(x, reg);
    else if (op == 0x07 || op == 0x08) /* undefined, same_value */
        set_reg(x, reg, op == 0x07 ? HOW_UNDEF : HOW_SAME, 0);
    else { /* the rest: their rules are not followed */
        if (op == 0x10 || op == 0x16) /* expression, val_expression */
            skip_block(r);
        else if (op == 0x15) /* val_offset_sf */
            rd_sleb(r);
        else /* register, val_offset */
            rd_uleb(r);
        set_reg(x, reg, HOW_COMPLEX, 0);
    }
    return true;
}

/* An instruction on the CFA's rule; false if OP is not one. */
static bool cfa_op(struct cfi_run *x, struct rd *r, uint8_t op)
{
    int64_t da = x->cie->data_align;
    if (op == 0x0c || op == 0x12 || op == 0x0d) /* def_cfa(_sf), _register */
        x->row.cfa_reg = (uint8_t)rd_uleb(r);
    if (op == 0x0c || op == 0x0e) /* def_cfa, def_cfa_offset */
        x->row.cfa_off = (int64_t)rd_uleb(r);
    else if (op == 0x12 || op == 0x13) /* their _sf forms */
        x->row.cfa_off = rd_sleb(r) * da;
    else if (op == 0x0f) { /* def_cfa_expression */
        skip_block(r);
        x->row.cfa_reg = 0xff;
    } else if (op != 0x0d)
        return false;
    return true;
}

/* One extended instruction OP (low 6 bits zero): false to stop (past
 * the target, or one that cannot be read: R is then bad). */
static bool ext_op(struct cfi_run *x, struct rd *r, uint8_t op)
{
    if (op == 0x02 || op == 0x03 || op == 0x04) /* advance_loc1, 2, 4 */
        return advance(x, rd_bytes(r, op == 0x04 ? 4 : op - 1u));
    if (op == 0x0a || op == 0x0b) /* remember_state, restore_state */
        return state_op(x, op) || (r->bad = true, false);
    if (op == 0x2e) /* GNU_args_size */
        rd_uleb(r);
    else if (op != 0x00 && !reg_op(x, r, op) && !cfa_op(x, r, op))
        r->bad = true; /* set_loc and the unknown */
    return !r->bad;
}

/* Run the instructions in R up to the target; false if one could not be
 * read. */
static bool run(struct cfi_run *x, struct rd *r)
{
    for (unsigned n = 0; r->p < r->end && n < 4096; n++) {
        uint8_t op = (uint8_t)rd_bytes(r, 1);
        bool go;
        switch (op & 0xc0) {
        case 0x40:
            go = advance(x, op & 0x3f);
            break;
        case 0x80:
            set_reg(x, op & 0x3f, HOW_OFFSET,
                    (int64_t)rd_uleb(r) * x->cie->data_align);
            go = true;
            break;
        case 0xc0:
            restore_reg(x, op & 0x3f);
            go = true;
            break;
        default:
            go = ext_op(x, r, op);
            break;
        }
        if (r->bad)
            return false;
        if (!go)
            return true;
    }
    return true;
}

/* The rule of the frame whose code is at PC, from the unwind tables. */
static uint64_t compute_rule(uint64_t pc)
{
    static const uint64_t complex = R_VALID | R_COMPLEX;
    const uint8_t *fde = find_fde(pc);
    struct rd r;
    if (!fde || !entry_at(fde, &r))
        return 0; /* no unwind information: the outermost frame known */
    const uint8_t *id_at = r.p;
    uint32_t cie_off = (uint32_t)rd_bytes(&r, 4);
    struct cie c;
    if (cie_off == 0 || !parse_cie(id_at - cie_off, &c) || c.signal)
        return complex;
    uint64_t start = rd_enc(&r, c.fde_enc, 0);
    uint64_t range = rd_enc(&r, c.fde_enc & 0x0f, 0);
    r.p += rd_uleb(&r); /* augmentation data */
    if (r.bad || r.p > r.end || pc < start || pc - start >= range)
        return r.bad ? complex : 0;
    struct cfi_run x = {.cie = &c, .loc = start, .target = pc};
    x.row = (struct cfi_row){.cfa_reg = 0xff, .ra_how = HOW_SAME};
    struct rd ci = {c.insns, c.insns_end, false};
    if (!run(&x, &ci))
        return complex;
    x.init = x.row;
    x.loc = start;
    if (!run(&x, &r))
        return complex;
    return pack(&x.row);
}

/* ------------------------------------------------------ the cache */

/* Open addressing over the code address, insert only: a slot's key is
 * 0 (free), KEY | PENDING (being written) or KEY (its rule readable).
 * Full: rules are computed every time (counted). */
#define CACHE_BITS 14
#define CACHE_PROBES 16
#define PENDING (1ull << 63)
static struct {
    uint64_t key, rule;
} cache[1u << CACHE_BITS];

static uint32_t cache_hash(uint64_t pc)
{
    return (uint32_t)((pc * 0x9E3779B97F4A7C15ull) >> (64 - CACHE_BITS));
}

static uint64_t rule_of(uint64_t pc)
{
    uint32_t h = cache_hash(pc);
    for (uint32_t k = 0; k < CACHE_PROBES; k++) {
        uint32_t i = (h + k) & ((1u << CACHE_BITS) - 1);
        uint64_t cur = __atomic_load_n(&cache[i].key, __ATOMIC_ACQUIRE);
        if (cur == pc)
            return __atomic_load_n(&cache[i].rule, __ATOMIC_RELAXED);
        if (cur != 0)
            continue;
        bump(&stats.computed);
        uint64_t rule = compute_rule(pc);
        if (__atomic_compare_exchange_n(&cache[i].key, &cur, pc | PENDING,
                                        false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            __atomic_store_n(&cache[i].rule, rule, __ATOMIC_RELAXED);
            __atomic_store_n(&cache[i].key, pc, __ATOMIC_RELEASE);
        }
        return rule;
    }
    bump(&stats.computed);
    bump(&stats.uncached);
    return compute_rule(pc);
}

/* ------------------------------------------------------ the walk */

extern void *__libc_stack_end;

/* The top of the stack SP is on (reads stay below it), or 0. */
static uint64_t stack_top(uint64_t sp)
{
    uint64_t tp, end = (uint64_t)(uintptr_t)__libc_stack_end;
    __asm__("mov %%fs:0, %0" : "=r"(tp));
    if (sp < end && end - sp < (1ull << 30))
        return end; /* the main thread */
    if (sp < tp && tp - sp < (1ull << 30))
        return tp; /* glibc puts a thread's descriptor above its stack */
    return 0;
}

static bool readable(uint64_t at, uint64_t lo, uint64_t hi)
{
    return at >= lo && at <= hi - 8 && !(at & 7);
}

/* The word at AT, checked readable. */
static uint64_t stack_word(uint64_t at)
{
    // NOLINTNEXTLINE(performance-no-int-to-ptr): a stack address
    return *(const uint64_t *)(uintptr_t)at;
}

/* One frame: from the rule of code PC and registers SP, BP, the
 * caller's PC, SP, BP; 0: stop here (the last frame), -1: give up. */
static int step(uint64_t key, uint64_t *pc, uint64_t *sp, uint64_t *bp,
                uint64_t lo, uint64_t hi)
{
    uint64_t rule = rule_of(key);
    if (!rule || (rule & R_END))
        return 0;
    if (rule & R_COMPLEX)
        return -1;
    uint64_t cfa =
        ((rule & R_CFA_BP) ? *bp : *sp) + (uint64_t)rule_cfa_off(rule);
    uint64_t ra_at = cfa + (uint64_t)rule_ra_off(rule);
    uint64_t bp_at = cfa + (uint64_t)rule_bp_off(rule);
    if (cfa <= *sp || cfa > hi || !readable(ra_at, lo, hi) ||
        ((rule & R_BP_SAVED) && !readable(bp_at, lo, hi)))
        return -1;
    *pc = stack_word(ra_at);
    if (rule & R_BP_SAVED)
        *bp = stack_word(bp_at);
    *sp = cfa;
    return 1;
}

/* The walk from code KEY with registers PC, SP, BP (PC: the address the
 * frame returns to), its stack words between LO and HI. */
static int walk(uint64_t key, uint64_t pc, uint64_t sp, uint64_t bp,
                uint64_t lo, uint64_t hi, uint64_t *pcs, int max)
{
    int n = 0;
    for (unsigned depth = 0; n < max && depth < 1024; depth++) {
        int rc = step(key, &pc, &sp, &bp, lo, hi);
        if (rc < 0) {
            bump(&stats.gave_up);
            return -1;
        }
        if (rc == 0 || pc == 0)
            break;
        pcs[n++] = pc;
        key = pc - 1; /* in the call instruction */
    }
    return n;
}

__attribute__((noinline)) int mmp_unwind(uint64_t *pcs, int max)
{
    uint64_t pc, sp, bp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
                     : "=&r"(pc), "=&r"(sp), "=&r"(bp));
    uint64_t hi = stack_top(sp);
    if (!hi) {
        bump(&stats.gave_up);
        return -1;
    }
    /* This function's own frame first: its caller's address is the
     * first one returned. */
    return walk(pc, pc, sp, bp, sp, hi, pcs, max);
}

__attribute__((noinline)) int mmp_unwind_from(const struct mmp_frame *f,
                                              uint64_t *pcs, int max)
{
    uint64_t sp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
    uint64_t hi = stack_top(sp);
    /* F is a frame of this stack, above this function's. */
    if (!hi || f->sp <= sp || f->sp >= hi || max <= 0 || !f->pc) {
        bump(&stats.gave_up);
        return -1;
    }
    pcs[0] = f->pc;
    int n = walk(f->pc - 1, f->pc, f->sp, f->bp, sp, hi, pcs + 1, max - 1);
    return n < 0 ? n : n + 1;
}

#else

int mmp_unwind(uint64_t *pcs, int max)
{
    (void)pcs;
    (void)max;
    bump(&stats.gave_up);
    return -1;
}

int mmp_unwind_from(const struct mmp_frame *f, uint64_t *pcs, int max)
{
    (void)f;
    return mmp_unwind(pcs, max);
}

#endif
