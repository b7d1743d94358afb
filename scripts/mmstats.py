#!/usr/bin/env python3
"""Read mmstats stats files (format 2.x) with the Python standard library
only, and print the JSON that `mmstat-read --json` prints (the schema is in
docs/tools.md).

    scripts/mmstats.py [--dir DIR] [--filter GLOB]... [--windows-at NS]
                       [PID|PATH]...

Without PID or PATH, every *.mmstats file of the stats directory is read.
The layout comes from docs/format.md; kinds 5-7 (histograms, structs,
moving averages) and the per-second windows, which that document does not
specify yet, from include/mmstats/format.h. Like the C reader, it treats
the file as untrusted: every offset, size and count is checked before it
is used, and a bad file is one line on stderr (exit status 1 at the end).
"""

import argparse
import fnmatch
import json
import math
import mmap
import os
import stat
import struct
import sys
import time

PROG = "mmstats.py"
MAGIC = b"MMSTATS\0"
ENDIAN_MARK = 0x01020304
HEADER_MIN = 1384           # sizeof(struct mms_file_header)
HEADER_SIZE = 4096          # the smallest file
DESC_SIZE = 64
MAX_FILE = 1 << 32
SEQ_RETRIES = 10000         # bounded seqlock retries, as the C reader
HIST_FULL_TRIES = 4
WINDOW_SLOTS = 64
WINDOWS = (1, 10, 60)
QUANTILES = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999"))
U64 = (1 << 64) - 1

KINDS = {1: "counter", 2: "gauge", 3: "gauge_f64", 4: "string",
         5: "histogram", 6: "struct", 7: "movavg"}
DF_SHARDED, DF_STATIC, DF_WINDOW = 0x1, 0x2, 0x4
SHARD_OWNED, SHARD_FREE = 1, 2
STATE_INIT, STATE_READY, STATE_FINISHED = 1, 2, 3
MEMBER_TYPES = {1: "u64", 2: "i64", 3: "f64"}

# The C reader's messages (mms_strerror), so both tools say the same.
ERRORS = {
    "format": "not an mmstats file (bad magic)",
    "version": "unsupported mmstats format version",
    "endian": "stats file written with another byte order",
    "corrupt": "corrupt stats file (header or descriptors out of bounds)",
    "insecure": "insecure directory or file (symlink, wrong owner, "
                "group/world-writable or hard-linked)",
    "truncated": "stats file shorter than its header says",
}


class StatsError(Exception):
    def __init__(self, what):
        super().__init__(ERRORS.get(what, what))


# ------------------------------------------------------------- histograms

def hist_nbuckets(bits, max_exp):
    if not (1 <= bits <= 7 and bits < max_exp <= 63):
        return 0
    return ((max_exp - bits + 1) << bits) + 1


def bucket_low(i, bits, max_exp):
    sub = 1 << bits
    if i < sub:
        return i
    if i >= (max_exp - bits + 1) << bits:
        return 1 << max_exp
    g = i >> bits
    return (sub + (i & (sub - 1))) << (g - 1)


def bucket_high(i, bits, max_exp):
    sub = 1 << bits
    if i < sub:
        return i
    if i >= (max_exp - bits + 1) << bits:
        return U64
    g = i >> bits
    return bucket_low(i, bits, max_exp) + (1 << (g - 1)) - 1


class Hist:
    def __init__(self, bits, max_exp):
        self.bits, self.max_exp = bits, max_exp
        self.buckets = [0] * hist_nbuckets(bits, max_exp)
        self.count = self.sum = self.min = self.max = 0

    def mean(self):
        return float(self.sum) / float(self.count) if self.count else 0.0

    def quantile(self, q):
        """Nearest rank, as mms_hist_quantile: the middle of the bucket,
        kept within [min, max]."""
        if self.count == 0:
            return 0.0
        if not q > 0.0:
            return float(self.min)
        if q >= 1.0:
            return float(self.max)
        r = math.ceil(q * float(self.count))
        rank = 1 if r < 1.0 else int(r)
        seen = 0
        last = len(self.buckets) - 1
        for i, b in enumerate(self.buckets):
            seen += b
            if seen >= rank:
                lo = bucket_low(i, self.bits, self.max_exp)
                hi = bucket_high(i, self.bits, self.max_exp)
                mid = (float(self.max) if i == last
                       else float(lo) + float(hi - lo) / 2.0)
                mid = max(mid, float(self.min))
                mid = min(mid, float(self.max))
                return mid
        return float(self.max)

    def to_json(self):
        out = {"count": self.count, "sum": self.sum, "min": self.min,
               "max": self.max, "mean": self.mean(),
               "quantiles": {n: self.quantile(q) for q, n in QUANTILES},
               "bits": self.bits, "max_exp": self.max_exp, "buckets": []}
        for i, b in enumerate(self.buckets):
            if b:
                out["buckets"].append([bucket_low(i, self.bits, self.max_exp),
                                       bucket_high(i, self.bits, self.max_exp),
                                       b])
        return out


# ---------------------------------------------------------------- helpers

def utf8_len(b, i):
    """Length of the valid UTF-8 sequence at b[i] (1-4), or 0: the C
    tools' rule, so invalid bytes become U+FFFD one by one."""
    c = b[i]
    if c < 0x80:
        return 1
    if 0xC2 <= c <= 0xDF:
        n, lo = 2, 0x80
    elif 0xE0 <= c <= 0xEF:
        n, lo = 3, 0x800
    elif 0xF0 <= c <= 0xF4:
        n, lo = 4, 0x10000
    else:
        return 0
    if i + n > len(b):
        return 0
    cp = c & (0x7F >> n)
    for k in range(1, n):
        if b[i + k] & 0xC0 != 0x80:
            return 0
        cp = cp << 6 | (b[i + k] & 0x3F)
    if cp < lo or cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        return 0
    return n


def text(b, controls=True):
    """Bytes as the C tools show them: up to the first NUL, control bytes
    as '?' (CONTROLS: names, units, header strings; not string values),
    invalid UTF-8 as U+FFFD."""
    b = bytes(b).split(b"\0", 1)[0]
    if controls:
        b = bytes(0x3F if (c < 0x20 or c == 0x7F) else c for c in b)
    out, i = [], 0
    while i < len(b):
        n = utf8_len(b, i)
        if n == 0:
            out.append("\ufffd")
            i += 1
        else:
            out.append(b[i:i + n].decode("utf-8"))
            i += n
    return "".join(out)


def name_ok(b):
    """Section 13 of docs/format.md."""
    if not 1 <= len(b) <= 127:
        return False
    first = True
    for seg in b.split(b"."):
        if not seg:
            return False
        for k, c in enumerate(seg):
            if not (0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or
                    0x30 <= c <= 0x39 or c == 0x5F):
                return False
            if first and k == 0 and 0x30 <= c <= 0x39:
                return False
        first = False
    return True


def in_bounds(off, size, limit):
    return off <= limit and size <= limit - off


def proc_start_ticks(pid):
    """Field 22 of /proc/PID/stat; None if there is no such process, 0 if
    it cannot be read or parsed (then the process counts as running)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read(1023)
    except FileNotFoundError:
        return None
    except OSError:
        return 0
    p = data.rfind(b")")
    if p < 0:
        return 0
    fields = data[p + 1:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return 0


# ------------------------------------------------------------------ files

class Field:
    pass


class StatsFile:
    """One validated file: the checks of docs/format.md section 14."""

    def __init__(self, path):
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK |
                         os.O_CLOEXEC)
        except OSError as e:
            import errno
            if e.errno == errno.ELOOP:
                raise StatsError("insecure")
            raise StatsError(e.strerror)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise StatsError("format")
            euid = os.geteuid()
            if (st.st_mode & 0o022 or st.st_nlink != 1 or
                    (st.st_uid != euid and euid != 0)):
                raise StatsError("insecure")
            if st.st_size < HEADER_SIZE:
                raise StatsError("truncated")
            if st.st_size > MAX_FILE:
                raise StatsError("corrupt")
            self.m = mmap.mmap(fd, st.st_size, mmap.MAP_SHARED,
                               mmap.PROT_READ)
        finally:
            os.close(fd)
        self.size = len(self.m)
        self._header()
        self.fields = []
        self.refresh()

    def u32(self, off):
        return struct.unpack_from(self.bo + "I", self.m, off)[0]

    def u64(self, off):
        return struct.unpack_from(self.bo + "Q", self.m, off)[0]

    def _header(self):
        m = self.m
        if m[0:8] != MAGIC:
            raise StatsError("format")
        mark = struct.unpack_from("<I", m, 8)[0]
        if mark == ENDIAN_MARK:
            self.bo = "<"
        elif mark == 0x04030201:
            raise StatsError("endian")   # as the C reader: no byte-swapping
        else:
            raise StatsError("format")
        bo = self.bo
        self.major, self.minor = struct.unpack_from(bo + "HH", m, 12)
        if self.major != 2:
            raise StatsError("version")
        for _ in range(100):
            state = self.u32(16)
            if state not in (0, STATE_INIT):
                break
            time.sleep(0.001)
        if state in (0, STATE_INIT):
            raise StatsError("Resource temporarily unavailable")
        if state > STATE_FINISHED:
            raise StatsError("corrupt")
        (self.header_size,) = struct.unpack_from(bo + "I", m, 20)
        self.uid, self.pid, self.ppid = struct.unpack_from(bo + "Iii", m, 28)
        self.start_ticks, self.created_ns = struct.unpack_from(bo + "Qq", m,
                                                               40)
        self.file_size = self.u64(72)
        (self.desc_off, self.desc_cap, _, self.desc_size, self.str_off,
         self.str_cap, _, self.gid, self.glob_off, self.glob_cap, _,
         self.shtab_off) = struct.unpack_from(bo + "12I", m, 80)
        self.shard_off, self.shard_size, self.shard_cap = \
            struct.unpack_from(bo + "QII", m, 128)
        self.exe = text(m[160:224])
        self.label = text(m[224:288])
        self.host = text(m[288:352])
        cl_len = min(self.u32(352), 1024)
        self.cmdline = text(bytes(
            0x20 if c == 0 else 0x3F if (c < 0x20 or c == 0x7F) else c
            for c in m[360:360 + cl_len]), controls=False)
        self._geometry()

    def _geometry(self):
        size, fs = self.size, self.file_size
        if self.header_size < HEADER_MIN or self.header_size > size:
            raise StatsError("corrupt")
        if fs > size:
            raise StatsError("truncated")
        if (fs < self.header_size or self.desc_size < DESC_SIZE or
                self.desc_size % 8 or self.desc_cap > (1 << 20) or
                self.shard_cap == 0 or self.shard_cap > 4096 or
                self.shard_size == 0 or self.shard_size % 64 or
                self.shard_off % 64 or self.desc_off % 8 or
                self.glob_off % 8 or self.glob_cap % 8 or self.shtab_off % 4):
            raise StatsError("corrupt")
        for off, n in ((self.desc_off, self.desc_cap * self.desc_size),
                       (self.str_off, self.str_cap),
                       (self.glob_off, self.glob_cap),
                       (self.shtab_off, self.shard_cap * 4),
                       (self.shard_off, self.shard_cap * self.shard_size)):
            if not in_bounds(off, n, fs) or off < self.header_size:
                raise StatsError("corrupt")

    def refresh(self):
        count, str_used = self.u32(88), self.u32(104)
        if count > self.desc_cap or str_used > self.str_cap:
            raise StatsError("corrupt")
        for i in range(len(self.fields), count):
            self.fields.append(self._desc(i, str_used))

    def _string(self, off, n):
        return self.m[self.str_off + off:self.str_off + off + n]

    def _desc(self, idx, str_used):
        bo, m = self.bo, self.m
        base = self.desc_off + idx * self.desc_size
        (name_off, name_len, kind, flags, value_off, value_size, units_off,
         units_len, help_len, help_off) = struct.unpack_from(
             bo + "IHBBIIIHHI", m, base)
        param = m[base + 32:base + 64]
        if (not in_bounds(name_off, name_len, str_used) or
                not in_bounds(units_off, units_len, str_used) or
                not in_bounds(help_off, help_len, str_used) or
                units_len > 31 or help_len > 255 or name_len > 127):
            raise StatsError("corrupt")
        name = self._string(name_off, name_len)
        if not name_ok(name):
            raise StatsError("corrupt")
        sharded = bool(flags & DF_SHARDED)
        window = bool(flags & DF_WINDOW)
        if value_off % 8 or value_size == 0:
            raise StatsError("corrupt")
        if sharded:
            if not in_bounds(value_off, value_size, self.shard_size):
                raise StatsError("corrupt")
        elif (value_off < self.glob_off or
              not in_bounds(value_off - self.glob_off, value_size,
                            self.glob_cap)):
            raise StatsError("corrupt")
        f = Field()
        f.name = name.decode("ascii")
        f.units = text(self._string(units_off, units_len))
        f.help = text(self._string(help_off, help_len))
        f.kind, f.flags, f.off, f.size = kind, flags, value_off, value_size
        if kind == 1:
            if not sharded or value_size != 8 + (16 * WINDOW_SLOTS
                                                 if window else 0):
                raise StatsError("corrupt")
        elif kind in (2, 3):
            if sharded or window or value_size != 8:
                raise StatsError("corrupt")
        elif kind == 4:
            if (sharded or window or value_size < 24 or value_size % 8 or
                    value_size > 16 + 65536):
                raise StatsError("corrupt")
        elif kind == 5:
            (f.bits, f.max_exp, f.win_bits, _, f.nb, f.win_nb,
             f.win_off) = struct.unpack_from(bo + "BBBBIII", param, 0)
            if (not sharded or f.nb == 0 or
                    hist_nbuckets(f.bits, f.max_exp) != f.nb):
                raise StatsError("corrupt")
            need = 40 + f.nb * 8
            if window:
                if (f.win_bits > f.bits or f.win_off != need or
                        f.win_nb == 0 or
                        hist_nbuckets(f.win_bits, f.max_exp) != f.win_nb):
                    raise StatsError("corrupt")
                need += WINDOW_SLOTS * (24 + f.win_nb * 8)
            elif f.win_bits or f.win_off or f.win_nb:
                raise StatsError("corrupt")
            if value_size != need:
                raise StatsError("corrupt")
        elif kind == 6:
            schema_off, nmembers, schema_len = struct.unpack_from(
                bo + "IHH", param, 0)
            if sharded or window:
                raise StatsError("corrupt")
            f.members = self._schema(schema_off, nmembers, schema_len,
                                     str_used)
            if value_size != 8 + 8 * nmembers:
                raise StatsError("corrupt")
        elif kind == 7:
            (f.cap,) = struct.unpack_from(bo + "I", param, 0)
            if (sharded or window or f.cap == 0 or f.cap > 65536 or
                    value_size != 16 + 8 * f.cap):
                raise StatsError("corrupt")
        return f

    def _schema(self, off, n, length, str_used):
        if n == 0 or n > 32 or not in_bounds(off, length, str_used):
            raise StatsError("corrupt")
        p, end = self.str_off + off, self.str_off + off + length
        members = []
        for _ in range(n):
            if end - p < 3:
                raise StatsError("corrupt")
            mtype, mlen = self.m[p], self.m[p + 1]
            if (mtype not in MEMBER_TYPES or mlen == 0 or mlen > 31 or
                    end - p < 3 + mlen or self.m[p + 2 + mlen] != 0):
                raise StatsError("corrupt")
            mname = self.m[p + 2:p + 2 + mlen]
            if any(not (0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or
                        0x30 <= c <= 0x39 or c == 0x5F) for c in mname):
                raise StatsError("corrupt")
            members.append((mname.decode("ascii"), mtype))
            p += 3 + mlen
        return members

    # --------------------------------------------------------- liveness

    def state(self):
        return self.u32(16)

    def liveness(self):
        if self.state() == STATE_FINISHED:
            return "finished"
        if self.pid <= 0:
            return "stale"
        ticks = proc_start_ticks(self.pid)
        if ticks is None:
            return "stale"
        if ticks and self.start_ticks and ticks != self.start_ticks:
            return "stale(pid-reused)"
        return "running"

    def shards(self):
        """The shards with pages: entries OWNED or FREE (as the C reader)."""
        return [i for i in range(self.shard_cap)
                if self.u32(self.shtab_off + 4 * i) in (SHARD_OWNED,
                                                        SHARD_FREE)]


# ----------------------------------------------------------------- values

def seq_words(sf, off, nwords, tries):
    """NWORDS u64 after the seqlock word at OFF, copied consistently, or
    None after TRIES attempts."""
    fmt = sf.bo + "%dQ" % nwords
    for _ in range(tries):
        s1 = sf.u64(off)
        if s1 & 1:
            continue
        words = struct.unpack_from(fmt, sf.m, off + 8)
        if sf.u64(off) == s1:
            return words
    return None


def ring_merge(ring, p, sec, count, total, buckets):
    """Merge one shard's slot: a newer second replaces, the same second
    adds; an older one, and one being reset (bit 63 set), are ignored."""
    slot = ring[p]
    if sec == 0 or sec >> 63 or sec < slot[0]:
        return
    if sec > slot[0]:
        slot[0], slot[1], slot[2] = sec, 0, 0
        if slot[3] is not None:
            slot[3] = [0] * len(slot[3])
    slot[1] = (slot[1] + count) & U64
    slot[2] = (slot[2] + total) & U64
    if buckets is not None:
        slot[3] = [(a + b) & U64 for a, b in zip(slot[3], buckets)]


def new_ring(nb):
    return [[0, 0, 0, [0] * nb if nb else None] for _ in range(WINDOW_SLOTS)]


def window(f, ring, hist, seconds, now_ns):
    """mms_snapshot_window_at: the last SECONDS complete seconds."""
    now_sec = now_ns // 1000000000
    first = now_sec - seconds if now_sec > seconds else 0
    count = total = 0
    wh = Hist(f.win_bits, f.max_exp) if f.kind == 5 else None
    for sec in range(first, now_sec):
        slot = ring[sec % WINDOW_SLOTS]
        if sec == 0 or slot[0] != sec:
            continue
        count = (count + slot[1]) & U64
        total = (total + slot[2]) & U64
        if wh:
            wh.buckets = [(a + b) & U64 for a, b in zip(wh.buckets, slot[3])]
    out = {"count": count, "rate": float(count) / seconds}
    if wh:
        wh.count, wh.sum = count, total
        if count:
            for b, n in enumerate(wh.buckets):
                if n:
                    wh.min = max(bucket_low(b, f.win_bits, f.max_exp),
                                 hist.min)
                    break
            for b in range(len(wh.buckets) - 1, -1, -1):
                if wh.buckets[b]:
                    wh.max = min(bucket_high(b, f.win_bits, f.max_exp),
                                 hist.max)
                    break
        out["sum"] = total
        out["mean"] = float(total) / float(count) if count else 0.0
        out["min"], out["max"] = wh.min, wh.max
        out["quantiles"] = {n: wh.quantile(q) for q, n in QUANTILES}
    return out


def read_field(sf, f, shards, now_ns):
    """The JSON object of field F (a snapshot of its value)."""
    m, bo = sf.m, sf.bo
    kind = KINDS.get(f.kind, "unknown")
    flags = [n for bit, n in ((DF_SHARDED, "sharded"), (DF_STATIC, "static"),
                              (DF_WINDOW, "window")) if f.flags & bit]
    out = {"kind": kind}
    if kind == "unknown":
        out["kind_code"] = f.kind
    out.update({"units": f.units, "help": f.help, "flags": flags})
    busy = False
    ring = hist = None
    if f.kind == 1:
        total = 0
        if f.flags & DF_WINDOW:
            ring = new_ring(0)
        for s in shards:
            cell = sf.shard_off + s * sf.shard_size + f.off
            total = (total + sf.u64(cell)) & U64
            if ring:
                for p in range(WINDOW_SLOTS):
                    sec, n = struct.unpack_from(bo + "QQ", m,
                                                cell + 8 + 16 * p)
                    ring_merge(ring, p, sec, n, n, None)
        out["value"] = total
    elif f.kind == 2:
        out["value"] = struct.unpack_from(bo + "q", m, f.off)[0]
    elif f.kind == 3:
        out["value"] = struct.unpack_from(bo + "d", m, f.off)[0]
    elif f.kind == 4:
        cap = f.size - 16
        value = None
        for _ in range(SEQ_RETRIES):
            s1 = sf.u64(f.off)
            if s1 & 1:
                continue
            n = min(sf.u32(f.off + 8), cap)
            data = m[f.off + 16:f.off + 16 + n]
            if sf.u64(f.off) == s1:
                value = text(data, controls=False)
                break
        out["value"] = value
        busy = value is None
    elif f.kind == 5:
        hist = Hist(f.bits, f.max_exp)
        nw = f.size // 8 - 1
        if f.flags & DF_WINDOW:
            ring = new_ring(f.win_nb)
        for s in shards:
            cell = sf.shard_off + s * sf.shard_size + f.off
            w = seq_words(sf, cell, nw, HIST_FULL_TRIES)
            if w is None:
                head = seq_words(sf, cell, 4, SEQ_RETRIES) or (0, 0, 0, 0)
                w = tuple(head) + struct.unpack_from(
                    bo + "%dQ" % (nw - 4), m, cell + 40)
                busy = True
            count, total, min_inv, mx = w[0:4]
            if count:
                mn = ~min_inv & U64
                if hist.count == 0 or mn < hist.min:
                    hist.min = mn
                if hist.count == 0 or mx > hist.max:
                    hist.max = mx
                hist.count = (hist.count + count) & U64
                hist.sum = (hist.sum + total) & U64
                hist.buckets = [(a + b) & U64 for a, b in
                                zip(hist.buckets, w[4:4 + f.nb])]
            if ring:
                base = (f.win_off - 8) // 8
                step = 3 + f.win_nb
                for p in range(WINDOW_SLOTS):
                    sl = w[base + p * step:base + (p + 1) * step]
                    ring_merge(ring, p, sl[0], sl[1], sl[2], list(sl[3:]))
        out["value"] = hist.to_json()
    elif f.kind == 6:
        out["member_types"] = {n: MEMBER_TYPES[t] for n, t in f.members}
        w = seq_words(sf, f.off, len(f.members), SEQ_RETRIES)
        if w is None:
            out["value"] = None
            busy = True
        else:
            value = {}
            for (n, t), word in zip(f.members, w):
                raw = struct.pack(bo + "Q", word)
                value[n] = struct.unpack(bo + {1: "Q", 2: "q", 3: "d"}[t],
                                         raw)[0]
            out["value"] = value
    elif f.kind == 7:
        w = seq_words(sf, f.off, 1 + f.cap, SEQ_RETRIES)
        if w is None:
            out["value"] = None
            busy = True
        else:
            n = w[0]
            k = min(n, f.cap)
            ring_d = struct.unpack(bo + "%dd" % f.cap,
                                   struct.pack(bo + "%dQ" % f.cap, *w[1:]))
            total = 0.0
            for i in range(k):
                total += ring_d[i]
            out["value"] = {
                "mean": total / k if k else 0.0,
                "last": ring_d[(n - 1) % f.cap] if n else 0.0,
                "count": n, "window": f.cap}
    else:
        out["value"] = None
    if busy:
        out["status"] = "busy"
    if ring is not None:
        out["windows"] = {"%ds" % s: window(f, ring, hist, s, now_ns)
                          for s in WINDOWS}
    return out


def process_json(sf, filters, windows_at):
    sf.refresh()
    shards = sf.shards()
    real_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
    mono_ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    state = sf.state()
    finished = struct.unpack_from(sf.bo + "q", sf.m, 56)[0]
    try:
        disk = os.lstat(sf.path).st_blocks * 512
    except OSError:
        disk = 0
    out = {
        "path": sf.path, "pid": sf.pid, "ppid": sf.ppid, "uid": sf.uid,
        "gid": sf.gid, "exe": sf.exe, "label": sf.label, "host": sf.host,
        "cmdline": sf.cmdline,
        "format_version": "%d.%d" % (sf.major, sf.minor),
        "state": {1: "init", 2: "ready", 3: "finished"}.get(state, "unknown"),
        "liveness": sf.liveness(),
        "start_ticks": sf.start_ticks, "created_ns": sf.created_ns,
        "finished_ns": finished or None,
        "file_size": sf.file_size, "disk_bytes": disk,
        "layout_gen": sf.u64(64), "shard_cap": sf.shard_cap,
        "shards_used": len(shards), "shards_active": sf.u32(148),
        "threads_seen": sf.u64(152),
        "snapshot_real_ns": real_ns, "snapshot_mono_ns": mono_ns,
        "nfields": len(sf.fields), "fields": {},
    }
    now = windows_at or mono_ns
    for f in sf.fields:
        if filters and not any(fnmatch.fnmatchcase(f.name, g)
                               for g in filters):
            continue
        out["fields"][f.name] = read_field(sf, f, shards, now)
    return out


# ------------------------------------------------------ files and targets

def default_dir():
    d = os.environ.get("MMSTATS_DIR")
    if d:
        return d
    x = os.environ.get("XDG_RUNTIME_DIR")
    if x and x.startswith("/"):
        try:
            st = os.lstat(x)
            if (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and
                    not st.st_mode & 0o022):
                return os.path.join(x, "mmstats")
        except OSError:
            pass
    return "/tmp/mmstats-%d" % os.geteuid()


def stats_files(d):
    names = sorted(n for n in os.listdir(d)
                   if not n.startswith(".") and len(n) > 8 and
                   n.endswith(".mmstats"))
    return [d + "/" + n for n in names]


def open_pid(d, pid):
    """The newest file of PID in D, preferring a running one."""
    best, best_key = None, None
    for path in stats_files(d):
        try:
            sf = StatsFile(path)
        except (StatsError, OSError, ValueError, struct.error):
            continue
        if sf.pid != pid:
            continue
        key = (sf.liveness() == "running", sf.created_ns)
        if best_key is None or key > best_key:
            best, best_key = sf, key
    if best is None:
        raise StatsError("no stats file found")
    return best


def nonfinite_to_none(v):
    """JSON has no NaN or infinity: null, as the C tools write."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: nonfinite_to_none(x) for k, x in v.items()}
    if isinstance(v, list):
        return [nonfinite_to_none(x) for x in v]
    return v


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog=PROG, description="Print mmstats files as the JSON of "
        "mmstat-read --json, with the Python standard library only.")
    ap.add_argument("targets", nargs="*", metavar="PID|PATH")
    ap.add_argument("-d", "--dir", help="stats directory")
    ap.add_argument("-f", "--filter", action="append", default=[],
                    metavar="GLOB", help="only fields matching GLOB")
    ap.add_argument("-j", "--json", action="store_true",
                    help="JSON output (the only format; for symmetry)")
    ap.add_argument("--windows-at", type=int, default=0, metavar="NS",
                    help="take time windows at CLOCK_MONOTONIC NS")
    args = ap.parse_args(argv)
    d = args.dir or default_dir()
    rc = 0
    targets = args.targets
    if not targets:
        try:
            targets = stats_files(d)
        except OSError as e:
            print("%s: %s: %s" % (PROG, d, e.strerror), file=sys.stderr)
            return 1
    procs = []
    for t in targets:
        try:
            if t.isdigit() and int(t) > 0 and not os.path.exists(t):
                sf = open_pid(d, int(t))
            else:
                sf = StatsFile(t)
            procs.append(process_json(sf, args.filter, args.windows_at))
        except (StatsError, OSError, ValueError, struct.error) as e:
            print("%s: %s: %s" % (PROG, t, e), file=sys.stderr)
            rc = 1
    doc = {"mmstats_json": 1, "processes": procs}
    json.dump(nonfinite_to_none(doc), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
