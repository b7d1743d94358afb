"""The format layer of mmstats3: a validating reader of mmstats stats files
(format 3.x, docs/format.md) with the Python standard library only.

Written from docs/format.md alone. It treats the file as untrusted: every
offset, size and count is checked (section 13) before it is used; a bad
file raises StatsError with the C library's message (mms_strerror). It
reads the file with pread, never through a mapping, so a file truncated
while it is read is an error ("truncated"), never a SIGBUS.

This module is internal; the public API is mmstats3 (reader.py, writer.py).
"""

import fnmatch
import math
import os
import stat
import struct
import time

MAGIC = b"MMSTATS\0"
ENDIAN_MARK = 0x01020304
HEADER_MIN = 2320           # sizeof(struct mms_file_header)
HEADER_SIZE = 4096          # the smallest file
MAX_FILE = 1 << 32
INDEX_MAX = 1 << 24
SHARD_ID_MAX = 1 << 20
SEQ_RETRIES = 10000         # bounded seqlock retries, as the C reader
HIST_FULL_TRIES = 4
WINDOW_SLOTS = 64
WINDOWS = (1, 10, 60)
QUANTILES = ((0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999"))
U64 = (1 << 64) - 1

RETIRE_TRIES = 100
KINDS = {1: "counter", 2: "gauge", 3: "gauge_f64", 4: "string",
         5: "histogram", 6: "struct", 7: "movavg", 8: "scalar"}
# SCALAR types: name, struct format, signed/float
TYPES = {1: ("bool", "B"), 2: ("i8", "b"), 3: ("i16", "h"), 4: ("i32", "i"),
         5: ("i64", "q"), 6: ("u8", "B"), 7: ("u16", "H"), 8: ("u32", "I"),
         9: ("u64", "Q"), 10: ("f32", "f"), 11: ("f64", "d")}
DF_SHARDED, DF_STATIC, DF_WINDOW = 0x1, 0x2, 0x4
# 3.1: a COUNTER whose cells are a gauge's signed changes: a gauge (i64 sum)
DF_GAUGE_SUM = 0x8
# 3.2: a windowed COUNTER's cell is {total, ring offset, slots of its own
# (1 or 2: cell_size 32 or 48)}; its ring (64 slots) a RING block made on
# the cell's first second beyond its own slots
DF_RING_BLOCK = 0x10
STATE_INIT, STATE_READY, STATE_FINISHED, STATE_FOLDING = 1, 2, 3, 4
HF_ROLLUP = 0x1  # header flag: a rollup of finished processes (section 15)
KEEP_NAMES = {0: "all", 1: "all", 2: "rollup", 3: "none", 4: "auto"}
MEMBER_TYPES = {1: "u64", 2: "i64", 3: "f64"}
# Blocks (section 6)
B_FILLER, B_FIELD, B_SHARD, B_AREA, B_CELLS, B_CHUNK, B_TABLE, B_RECORD, \
    B_RING = range(1, 10)
RING_BLOCK_SIZE = 16 + 16 * 64  # 3.2: header, index, shard; 64 slots
# 3.2: a thread's own shard's chunks: u32 buckets, in the shard's areas
B_CHUNK32 = 10
BS_PENDING, BS_READY, BS_DEAD = 1, 2, 3
LINE = 64
MK_SUM, MK_SUM_I64, MK_MAX, MK_MIN, MK_HIST, MK_MAXARG = range(1, 7)
INIT_PIDNS_INO = 0xEFFFFFFC

# The C reader's messages (mms_strerror), so both tools say the same.
ERRORS = {
    "format": "not an mmstats file (bad magic)",
    "version": "unsupported mmstats format version",
    "endian": "stats file written with another byte order",
    "corrupt": "corrupt stats file (a header field or block out of bounds)",
    "insecure": "insecure directory or file (symlink, wrong owner, "
                "group/world-writable or hard-linked)",
    "truncated": "stats file shorter than its header says",
    "oldversion": "version 2 file: written by an older mmstats; read it "
                  "with the tools of that version",
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


def bucket_index(v, bits, max_exp):
    """The bucket of value V (section 11.6)."""
    if v >> max_exp:
        return (max_exp - bits + 1) << bits
    s = max(v.bit_length() - 1 - bits, 0)
    return (s << bits) + (v >> s)


# 3.1: a cell whose directory names no chunk holds at most this many
# values, given by its count, sum, min and max (section 11.6).
HIST_CHUNKLESS = 3


def add_chunkless(hist, sf, head, chunks):
    """The buckets of a cell with no chunk (format 3.1): its first values,
    rebuilt from the head (count, sum, min_inv, max)."""
    count, total, min_inv, mx = head
    if chunks or sf.minor < 1 or not count:
        return
    mn = ~min_inv & U64
    # More than 3 (a signal handler's record that found the seqlock
    # taken): the rest at their mean.
    rest = ((total - mn - mx) & U64) // (count - 2) if count > 2 else 0
    for v, n in ((mn, 1), (mx, 1), (rest, count - 2))[:min(count, 3)]:
        b = bucket_index(v, hist.bits, hist.max_exp)
        hist.buckets[b] = (hist.buckets[b] + n) & U64


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


def zombie_gone(pid):
    """A zombie leader with no thread left (a main thread that ended with
    pthread_exit is a zombie too while the others run)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read(1023)
        state = data[data.rfind(b")") + 1:].split()[0]
    except (OSError, IndexError):
        return False
    if state not in (b"Z", b"X"):
        return False
    try:
        return len(os.listdir("/proc/%d/task" % pid)) <= 1
    except OSError:
        return True


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


def member_name_ok(b):
    return 1 <= len(b) <= 31 and all(
        0x61 <= c <= 0x7A or 0x41 <= c <= 0x5A or 0x30 <= c <= 0x39 or
        c == 0x5F for c in b)


def round_up(v, a):
    return (v + a - 1) // a * a


def hist_nchunks(bits, max_exp):
    return max_exp - bits + 2


def chunk_nb(nbuckets, bits, c):
    return min(1 << bits, nbuckets - (c << bits))


def chunk_block_size(nb):
    return round_up(24 + 8 * nb, LINE)


def chunk32_block_size(nb):
    return round_up(24 + 4 * nb, 8)


def read_small(path, limit=4096):
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


def pidns(pid):
    """(st_dev, st_ino) of /proc/PID/ns/pid ("self" for PID 0), or None."""
    try:
        st = os.stat("/proc/%s/ns/pid" % ("self" if pid == 0 else pid))
        return st.st_dev, st.st_ino
    except OSError:
        return None


def proc_nspid(pid):
    data = read_small("/proc/%d/status" % pid)
    if data is None:
        return None
    for line in data.split(b"\n"):
        if line.startswith(b"NSpid:"):
            try:
                return [int(x) for x in line.split()[1:]]
            except ValueError:
                return None
    return None


def boot_id():
    data = read_small("/proc/sys/kernel/random/boot_id", 64)
    if not data:
        return None
    h = data.strip().replace(b"-", b"")
    try:
        b = bytes.fromhex(h.decode("ascii"))
    except ValueError:
        return None
    return b if len(b) == 16 else None


# ------------------------------------------------------------------ files

class Field:
    pass


class Table:
    pass


class StatsFile:
    """One validated file: the checks of docs/format.md section 13."""

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
        self.fd = fd
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
            self.load()
            self._header()
            self.fields, self.tables, self.records = [], [], []
            self.cells, self.shards, self.areas = [], {}, []
            self.pending, self.orphans, self.ix = [], [], {}
            self.pos = self.heap_off
            self.last = None
            self.refresh()
        except BaseException:
            os.close(fd)
            raise

    def close(self):
        os.close(self.fd)

    # ---- bytes

    def pread(self, off, n):
        out = b""
        while len(out) < n:
            chunk = os.pread(self.fd, n - len(out), off + len(out))
            if not chunk:
                break
            out += chunk
        return out

    def load(self):
        """The whole file, read now (pread: a shrinking file is an error,
        never a SIGBUS)."""
        size = os.fstat(self.fd).st_size
        if size > MAX_FILE:
            raise StatsError("corrupt")
        self.m = self.pread(0, size)
        self.size = len(self.m)

    def u16(self, off):
        return struct.unpack_from(self.bo + "H", self.m, off)[0]

    def u32(self, off):
        return struct.unpack_from(self.bo + "I", self.m, off)[0]

    def i64(self, off):
        return struct.unpack_from(self.bo + "q", self.m, off)[0]

    def cstr(self, off, n):
        return text(bytes(self.m[off:off + n]))

    def u64(self, off):
        return struct.unpack_from(self.bo + "Q", self.m, off)[0]

    def live_u64(self, off):
        """A word read from the file now (not from the loaded bytes)."""
        b = self.pread(off, 8)
        if len(b) != 8:
            raise StatsError("truncated")
        return struct.unpack(self.bo + "Q", b)[0]

    # ---- header

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
        if self.major == 2:
            raise StatsError("oldversion")
        if self.major != 3:
            raise StatsError("version")
        state = self.u32(16)
        if state in (0, STATE_INIT):
            raise StatsError("Resource temporarily unavailable")
        if state > STATE_FOLDING:
            raise StatsError("corrupt")
        (self.header_size, self.flags, self.uid, self.pid,
         self.ppid) = struct.unpack_from(bo + "IIIii", m, 20)
        self.start_ticks, self.created_ns = struct.unpack_from(bo + "Qq", m,
                                                               40)
        self.heap_off, self.gid, self.extent_size = struct.unpack_from(
            bo + "III", m, 88)
        self.shard_limit = self.u32(108)
        self.pidns_dev, self.pidns_ino = struct.unpack_from(bo + "QQ", m, 160)
        self.nspid_count = min(self.u32(176), 8)
        self.nspid = list(struct.unpack_from(bo + "8i", m, 180))
        self.boot_id = bytes(m[216:232])
        self.exe = text(m[232:296])
        self.label = text(m[296:360])
        self.host = text(m[360:424])
        cl_len = min(self.u32(424), 1023)
        self.cmdline = text(bytes(
            0x20 if c == 0 else 0x3F if (c < 0x20 or c == 0x7F) else c
            for c in m[432:432 + cl_len]), controls=False)
        ext = self.extent_size
        if (self.header_size < HEADER_MIN or self.header_size % 8 or
                self.header_size > self.size or
                self.heap_off != self.header_size or
                ext < (64 << 10) or ext > (1 << 30) or ext & (ext - 1)):
            raise StatsError("corrupt")
        file_size, heap_used = self.u64(72), self.u64(80)
        if heap_used > file_size:
            raise StatsError("corrupt")
        if file_size > self.size:
            raise StatsError("truncated")

    # ---- the walk (section 11.2)

    def refresh(self):
        used, gen = self.u64(80), self.u64(64)
        if used < self.heap_off or used % 8 or used > MAX_FILE:
            raise StatsError("corrupt")
        if used > self.size:
            raise StatsError("truncated")
        self.next_index = self.u32(100)
        self.next_shard = self.u32(104)
        if (used, gen) == self.last:
            return
        held, self.pending = self.pending, []
        for off, area_shard in held:
            hdr = self.block_at(off, self.size)
            if hdr is None or hdr[1] == BS_PENDING:
                self.pending.append((off, area_shard))
            elif hdr[1] == BS_READY:
                self.take_block(off, hdr, area_shard)
        for a in self.areas:
            self.walk_area(a)
        self.pos = self.walk(self.pos, used, 0)
        orphans, self.orphans = self.orphans, []
        for off, area_shard in orphans:
            hdr = self.block_at(off, self.size)
            if self.take_cells(off, hdr[2], area_shard - 1) == 1:
                self.orphans.append((off, area_shard))
        self.last = (used, gen)

    def block_at(self, off, limit):
        """(type, state, size), None for a zero header; corrupt else."""
        if off % 8 or off + 8 > limit:
            raise StatsError("corrupt")
        btype, bstate, size = struct.unpack_from(self.bo + "HHI", self.m, off)
        if btype == 0 and bstate == 0 and size == 0:
            return None
        if (size < 8 or size % 8 or not in_bounds(off, size, limit) or
                not 1 <= bstate <= 3):
            raise StatsError("corrupt")
        return btype, bstate, size

    def walk(self, pos, limit, area_shard):
        while pos < limit:
            hdr = self.block_at(pos, limit)
            if hdr is None:
                break
            if hdr[1] == BS_PENDING:
                self.pending.append((pos, area_shard))
            elif hdr[1] == BS_READY:
                self.take_block(pos, hdr, area_shard)
            pos += hdr[2]
        return pos

    def walk_area(self, a):
        used = self.u32(a["off"] + 12)
        if used > a["size"] - 16:
            raise StatsError("corrupt")
        base = a["off"] + 16
        a["pos"] = self.walk(base + a["pos"], base + used,
                             a["shard"] + 1) - base

    def index_free(self, i):
        return i < self.next_index and i < INDEX_MAX and i not in self.ix

    def take_block(self, off, hdr, area_shard):
        btype, _, size = hdr
        if area_shard:
            if btype in (B_FILLER, B_CHUNK32):
                return  # a chunk: read through its cell's directory
            if btype != B_CELLS:
                raise StatsError("corrupt")
            if self.take_cells(off, size, area_shard - 1) == 1:
                self.orphans.append((off, area_shard))
            return
        if btype == B_FIELD:
            self.take_field(off, size)
        elif btype == B_SHARD:
            if size < 64:
                raise StatsError("corrupt")
            sid = self.u32(off + 8)
            if (sid >= self.next_shard or sid >= SHARD_ID_MAX or
                    sid in self.shards):
                raise StatsError("corrupt")
            self.shards[sid] = off
        elif btype == B_AREA:
            if off % LINE or size % LINE or size < 16:
                raise StatsError("corrupt")
            shard = self.u32(off + 8)
            if shard >= self.next_shard:
                raise StatsError("corrupt")
            a = {"off": off, "size": size, "pos": 0, "shard": shard}
            self.areas.append(a)
            self.walk_area(a)
        elif btype == B_CELLS:
            raise StatsError("corrupt")
        elif btype == B_CHUNK:
            if off % LINE or size % LINE:
                raise StatsError("corrupt")
        elif btype == B_RING:  # read through the cell that names it
            if off % LINE or size != RING_BLOCK_SIZE:
                raise StatsError("corrupt")
        elif btype == B_TABLE:
            self.take_table(off, size)
        elif btype == B_RECORD:
            self.take_record(off, size)

    # ---- fields (items 13-16)

    def take_field(self, off, size):
        bo, m = self.bo, self.m
        if size < 72:
            raise StatsError("corrupt")
        (index, kind, flags, ftype, _, name_len, units_len, help_len,
         schema_len, cell_size, value_off, value_size) = struct.unpack_from(
             bo + "IBBBBHHHHIII", m, off + 8)
        param = m[off + 40:off + 72]
        text_len = name_len + units_len + help_len + 3 + schema_len
        if (not self.index_free(index) or name_len == 0 or name_len > 127 or
                units_len > 31 or help_len > 255 or 72 + text_len > size):
            raise StatsError("corrupt")
        t = off + 72
        name = m[t:t + name_len]
        if not name_ok(name):
            raise StatsError("corrupt")
        sharded = bool(flags & DF_SHARDED)
        window = bool(flags & DF_WINDOW)
        known = 1 <= kind <= 8
        if known and sharded != (kind in (1, 5)):
            raise StatsError("corrupt")
        if sharded:
            if value_off or value_size or cell_size % 8:
                raise StatsError("corrupt")
        elif (cell_size or value_off % 8 or value_off < 72 + text_len or
              not in_bounds(value_off, value_size, size)):
            raise StatsError("corrupt")
        f = Field()
        f.name = name.decode("ascii")
        f.units = text(m[t + name_len + 1:t + name_len + 1 + units_len])
        h0 = t + name_len + units_len + 2
        f.help = text(m[h0:h0 + help_len])
        f.kind, f.flags, f.type = kind, flags, ftype
        f.index, f.cell_size = index, cell_size
        f.off, f.size = off + value_off, value_size
        if kind == 1:
            if flags & DF_RING_BLOCK:
                if not window or cell_size not in (32, 48):
                    raise StatsError("corrupt")
            elif cell_size != 8 + (16 * WINDOW_SLOTS if window else 0):
                raise StatsError("corrupt")
        elif kind in (2, 3):
            if value_size != 8 or window:
                raise StatsError("corrupt")
        elif kind == 8:
            if value_size != 8 or window or ftype not in TYPES:
                raise StatsError("corrupt")
        elif kind == 4:
            if (window or value_size < 24 or value_size % 8 or
                    value_size > 16 + 65536):
                raise StatsError("corrupt")
        elif kind == 5:
            (f.bits, f.max_exp, f.win_bits, _, f.nb, f.nchunks, f.win_nb,
             f.win_off) = struct.unpack_from(bo + "BBBBIIII", param, 0)
            if (f.nb == 0 or hist_nbuckets(f.bits, f.max_exp) != f.nb or
                    f.nchunks != hist_nchunks(f.bits, f.max_exp)):
                raise StatsError("corrupt")
            need = round_up(40 + 4 * f.nchunks, 8)
            if window:
                if (f.win_bits < 1 or f.win_bits > f.bits or
                        f.win_off != need or
                        hist_nbuckets(f.win_bits, f.max_exp) != f.win_nb):
                    raise StatsError("corrupt")
                need += WINDOW_SLOTS * (24 + 8 * f.win_nb)
            elif f.win_bits or f.win_off or f.win_nb:
                raise StatsError("corrupt")
            if cell_size != need:
                raise StatsError("corrupt")
        elif kind == 6:
            (n,) = struct.unpack_from(bo + "H", param, 0)
            if window or n == 0 or n > 32 or value_size != 8 + 8 * n:
                raise StatsError("corrupt")
            f.members = self._schema(t + name_len + units_len + help_len + 3,
                                     schema_len, n)
        elif kind == 7:
            (f.cap,) = struct.unpack_from(bo + "I", param, 0)
            if (window or f.cap == 0 or f.cap > 65536 or
                    value_size != 16 + 8 * f.cap):
                raise StatsError("corrupt")
        self.ix[index] = ("field", len(self.fields))
        self.fields.append(f)

    def _schema(self, p, length, n):
        end = p + length
        members = []
        for _ in range(n):
            if end - p < 3:
                raise StatsError("corrupt")
            mtype, mlen = self.m[p], self.m[p + 1]
            if (mtype not in MEMBER_TYPES or mlen == 0 or mlen > 31 or
                    end - p < 3 + mlen or self.m[p + 2 + mlen] != 0 or
                    not member_name_ok(self.m[p + 2:p + 2 + mlen])):
                raise StatsError("corrupt")
            members.append((self.m[p + 2:p + 2 + mlen].decode("ascii"),
                            mtype))
            p += 3 + mlen
        return members

    # ---- tables (items 21-22)

    def take_table(self, off, size):
        bo, m = self.bo, self.m
        if size < 40:
            raise StatsError("corrupt")
        (index, cap, key_type, nmem, key_max, cell_size, name_len,
         help_len) = struct.unpack_from(bo + "IIBBHIHH", m, off + 8)
        fixed = 40 + 64 * nmem
        if (not self.index_free(index) or cap < 2 or cap > (1 << 20) or
                key_type > 2 or key_max < 1 or key_max > 4096 or
                nmem < 1 or nmem > 32 or name_len < 1 or name_len > 127 or
                help_len > 255 or cell_size > 65536 or cell_size % 8 or
                fixed + name_len + help_len + 2 > size):
            raise StatsError("corrupt")
        name = m[off + fixed:off + fixed + name_len]
        if not name_ok(name):
            raise StatsError("corrupt")
        t = Table()
        t.name = name.decode("ascii")
        t.off, t.capacity, t.cell_size, t.recs = off, cap, cell_size, []
        t.key_max, t.key_type = key_max, key_type
        t.index = index
        h0 = off + fixed + name_len + 1
        t.help = text(m[h0:h0 + help_len])
        t.members = []
        used = []
        for i in range(nmem):
            d = off + 40 + 64 * i
            (kind, bits, max_exp, nlen, ulen, _, _, _, moff,
             msize) = struct.unpack_from(bo + "BBBBBBBBII", m, d)
            if (not 1 <= kind <= 6 or
                    not member_name_ok(m[d + 16:d + 16 + nlen]) or
                    ulen > 15 or moff % 8 or moff < 8):
                raise StatsError("corrupt")
            nch = nb = 0
            if kind == MK_HIST:
                nb = hist_nbuckets(bits, max_exp)
                if not nb:
                    raise StatsError("corrupt")
                nch = hist_nchunks(bits, max_exp)
                want = round_up(32 + 4 * nch, 8)
            else:
                want = 16 if kind == MK_MAXARG else 8
            if msize != want or not in_bounds(moff, msize, cell_size):
                raise StatsError("corrupt")
            for a, b in used:
                if moff < b and a < moff + msize:
                    raise StatsError("corrupt")
            used.append((moff, moff + msize))
            t.members.append({"kind": kind, "bits": bits, "max_exp": max_exp,
                              "off": moff, "nb": nb, "nchunks": nch,
                              "name": m[d + 16:d + 16 + nlen].decode("ascii"),
                              "units": text(m[d + 48:d + 48 + ulen])})
        self.ix[index] = ("table", len(self.tables))
        self.tables.append(t)

    def take_record(self, off, size):
        if size < 24:
            raise StatsError("corrupt")
        table, index, _, key_len, rflags = struct.unpack_from(
            self.bo + "IIIHH", self.m, off + 8)
        x = self.ix.get(table)
        if x is None or x[0] != "table" or not self.index_free(index):
            raise StatsError("corrupt")
        t = self.tables[x[1]]
        if key_len > t.key_max or 24 + key_len > size:
            raise StatsError("corrupt")
        if len(t.recs) >= t.capacity:
            return
        self.ix[index] = ("record", len(self.records))
        t.recs.append(len(self.records))
        self.records.append((x[1], index, off + 24, key_len, rflags & 1))

    # ---- cells (item 19)

    def index_cell(self, i):
        """(cell size, owner) of index I; None if not known yet."""
        x = self.ix.get(i)
        if x is None:
            if i < self.next_index:
                return None
            raise StatsError("corrupt")
        if x[0] == "field":
            f = self.fields[x[1]]
            return (f.cell_size if f.flags & DF_SHARDED else 0), x
        if x[0] == "record":
            t = self.tables[self.records[x[1]][0]]
            return t.cell_size, x
        raise StatsError("corrupt")

    def take_cells(self, off, size, shard):
        if size < 16:
            raise StatsError("corrupt")
        first, count = struct.unpack_from(self.bo + "II", self.m, off + 8)
        if count < 1 or first >= INDEX_MAX or count > INDEX_MAX - first:
            raise StatsError("corrupt")
        got = []
        total = 0
        for k in range(count):
            c = self.index_cell(first + k)
            if c is None:
                return 1
            got.append(c)
            total += c[0]
            if total > size:
                raise StatsError("corrupt")
        if round_up(16 + total, 8) != size:
            raise StatsError("corrupt")
        at = off + 16
        for sz, owner in got:
            if sz:
                self.cells.append((at, shard, owner))
            at += sz
        return 0

    def chunk(self, off, index, member, c, shard, nb):
        """The buckets of a checked chunk reference, (offset, the struct
        code of a bucket: Q, or I for a CHUNK32's), or None."""
        if off % 8 or off < self.heap_off or not in_bounds(off, 24,
                                                           self.size):
            return None
        (btype, bstate, bsize, bindex, bmember, bchunk, bshard,
         bnb) = struct.unpack_from(self.bo + "HHIIHHII", self.m, off)
        wide = btype != B_CHUNK32 or not shard
        size = chunk_block_size(nb) if wide else chunk32_block_size(nb)
        if ((wide and off % LINE) or not in_bounds(off, size, self.size) or
                btype != (B_CHUNK if wide else B_CHUNK32) or
                bstate == BS_PENDING or bsize != size or
                bindex != index or bmember != member or bchunk != c or
                bshard != shard or bnb != nb):
            return None
        return off + 24, "Q" if wide else "I"

    def ring(self, off, index, shard):
        """3.2: the slots' offset of a checked RING block reference, or
        None."""
        if off % LINE or off < self.heap_off or not in_bounds(
                off, RING_BLOCK_SIZE, self.size):
            return None
        btype, bstate, bsize, bindex, bshard = struct.unpack_from(
            self.bo + "HHIII", self.m, off)
        if (btype != B_RING or bstate != BS_READY or bsize != RING_BLOCK_SIZE
                or bindex != index or bshard != shard):
            return None
        return off + 16

    # ---- liveness (section 14)

    def state(self):
        return self.u32(16)

    def liveness(self):
        if self.state() in (STATE_FINISHED, STATE_FOLDING):
            return "finished"
        if self.boot_id != bytes(16):
            mine = boot_id()
            if mine is not None and mine != self.boot_id:
                return "stale"
        here = pidns(0)
        if (not self.pidns_ino or here is None or
                here == (self.pidns_dev, self.pidns_ino)):
            return self.live_here()
        return self.live_elsewhere(here[1])

    def live_here(self):
        if self.pid <= 0:
            return "stale"
        ticks = proc_start_ticks(self.pid)
        if ticks is None:
            return "stale"
        if ticks and self.start_ticks and ticks != self.start_ticks:
            return "stale(pid-reused)"
        if zombie_gone(self.pid):
            return "stale"
        return "running"

    def live_elsewhere(self, my_ino):
        seen = False
        try:
            names = os.listdir("/proc")
        except OSError:
            return "unknown"
        for n in names:
            if not n.isdigit() or int(n) <= 0:
                continue
            if pidns(int(n)) != (self.pidns_dev, self.pidns_ino):
                continue
            seen = True
            ns = proc_nspid(int(n))
            ticks = proc_start_ticks(int(n))
            if ns and ns[-1] == self.pid and ticks is not None:
                if self.start_ticks and ticks != self.start_ticks:
                    return "stale(pid-reused)"
                return "stale" if zombie_gone(int(n)) else "running"
        if seen or my_ino == INIT_PIDNS_INO:
            return "stale"
        return "unknown"


# ----------------------------------------------------------------- values

def seq_ok(sf, off, s1):
    """The seqlock word at OFF still S1 (read again from the file)?"""
    return not s1 & 1 and sf.live_u64(off) == s1


def ring_merge(ring, p, sec, count, total, buckets):
    """Merge one cell's slot: a newer second replaces, the same second
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


def hist_cell(sf, f, off, shard):
    """(head words, {chunk: buckets}, ring words, busy, corrupt) of the
    histogram cell at OFF, consistent under its seqlock (section 11.6)."""
    bo = sf.bo
    ring_words = (f.cell_size - f.win_off) // 8 if f.win_off else 0
    for attempt in range(HIST_FULL_TRIES + 1):
        if attempt:
            sf.load()    # the cell moved while we read: read again
        s1 = sf.u64(off)
        head = struct.unpack_from(bo + "4Q", sf.m, off + 8)
        dirs = struct.unpack_from(bo + "%dI" % f.nchunks, sf.m, off + 40)
        chunks = {}
        for c, d in enumerate(dirs):
            if not d:
                continue
            nb = chunk_nb(f.nb, f.bits, c)
            b = sf.chunk(d, f.index, 0, c, shard, nb)
            if b is None:
                return head, {}, (), False, True
            chunks[c] = struct.unpack_from(bo + "%d%s" % (nb, b[1]), sf.m,
                                           b[0])
        ring = struct.unpack_from(bo + "%dQ" % ring_words, sf.m,
                                  off + f.win_off) if ring_words else ()
        if seq_ok(sf, off, s1):
            return head, chunks, ring, False, False
    return head, chunks, ring, True, False


def read_hist(sf, f, cells, hist, ring):
    busy = corrupt = False
    for off, shard in cells:
        head, chunks, rw, b, bad = hist_cell(sf, f, off, shard)
        busy |= b
        if bad:
            corrupt = True
            continue
        count, total, min_inv, mx = head
        if count:
            mn = ~min_inv & U64
            if min_inv and (hist.count == 0 or mn < hist.min):
                hist.min = mn
            if hist.count == 0 or mx > hist.max:
                hist.max = mx
            hist.count = (hist.count + count) & U64
            hist.sum = (hist.sum + total) & U64
        add_chunkless(hist, sf, head, chunks)
        for c, bk in chunks.items():
            base = c << f.bits
            for k, n in enumerate(bk):
                hist.buckets[base + k] = (hist.buckets[base + k] + n) & U64
        if ring is not None:
            step = 3 + f.win_nb
            for p in range(WINDOW_SLOTS):
                sl = rw[p * step:(p + 1) * step]
                ring_merge(ring, p, sl[0], sl[1], sl[2], list(sl[3:]))
    return busy, corrupt


def read_sharded(sf, f, cells, now_ns, out):
    """Counter or histogram F from its cells (list of (offset, shard))."""
    bo, m = sf.bo, sf.m
    ring = hist = None
    busy = corrupt = False
    if f.kind == 1:
        total = 0
        if f.flags & DF_WINDOW:
            ring = new_ring(0)
        for off, shard in cells:
            total = (total + sf.u64(off)) & U64
            if not ring:
                continue
            slots = off + 8
            if f.flags & DF_RING_BLOCK:  # 3.2: its own slots, then its ring
                roff = sf.u64(off + 8)
                for k in range((f.cell_size - 16) // 16):
                    sec, n = struct.unpack_from(bo + "QQ", m, off + 16 + 16 * k)
                    ring_merge(ring, sec % WINDOW_SLOTS, sec, n, n, None)
                slots = sf.ring(roff, f.index, shard) if roff else None
                if slots is None:
                    continue
            for p in range(WINDOW_SLOTS):
                sec, n = struct.unpack_from(bo + "QQ", m, slots + 16 * p)
                ring_merge(ring, p, sec, n, n, None)
        out["value"] = total
    else:
        hist = Hist(f.bits, f.max_exp)
        if f.flags & DF_WINDOW:
            ring = new_ring(f.win_nb)
        busy, corrupt = read_hist(sf, f, cells, hist, ring)
        out["value"] = hist.to_json()
    return ring, hist, busy, corrupt


def read_global(sf, f, out):
    """An unsharded value (section 8); True if it kept changing."""
    bo, m = sf.bo, sf.m
    if f.kind == 2:
        out["value"] = struct.unpack_from(bo + "q", m, f.off)[0]
    elif f.kind == 3:
        out["value"] = struct.unpack_from(bo + "d", m, f.off)[0]
    elif f.kind == 8:
        name, fmt = TYPES[f.type]
        out["type"] = name
        v = struct.unpack_from(bo + fmt, m, f.off)[0]
        out["value"] = bool(v) if name == "bool" else \
            float(v) if name in ("f32", "f64") else v
    elif f.kind in (4, 6, 7):
        if f.kind == 6:
            out["member_types"] = {n: MEMBER_TYPES[t] for n, t in f.members}
        for _ in range(SEQ_RETRIES):
            s1 = sf.u64(f.off)
            data = m[f.off:f.off + f.size]
            if seq_ok(sf, f.off, s1):
                out["value"] = global_value(sf, f, data)
                return False
            sf.load()
            m = sf.m
        out["value"] = None
        return True
    else:
        out["value"] = None
    return False


def global_value(sf, f, data):
    bo = sf.bo
    if f.kind == 4:
        n = min(struct.unpack_from(bo + "I", data, 8)[0], f.size - 16)
        return text(data[16:16 + n], controls=False)
    if f.kind == 6:
        value = {}
        for k, (n, t) in enumerate(f.members):
            value[n] = struct.unpack_from(bo + {1: "Q", 2: "q", 3: "d"}[t],
                                          data, 8 + 8 * k)[0]
        return value
    n = struct.unpack_from(bo + "Q", data, 8)[0]
    k = min(n, f.cap)
    ring_d = struct.unpack_from(bo + "%dd" % f.cap, data, 16)
    total = 0.0
    for i in range(k):
        total += ring_d[i]
    return {"mean": total / k if k else 0.0,
            "last": ring_d[(n - 1) % f.cap] if n else 0.0,
            "count": n, "window": f.cap}


def field_json(sf, f, cells, now_ns):
    """The JSON object of field F (a snapshot of its value)."""
    kind = KINDS.get(f.kind, "unknown")
    gauge_sum = f.kind == 1 and f.flags & DF_GAUGE_SUM
    if gauge_sum:
        kind = "gauge"
    flags = [n for bit, n in ((DF_SHARDED, "sharded"), (DF_STATIC, "static"),
                              (DF_WINDOW, "window"),
                              (DF_GAUGE_SUM, "gauge_sum")) if f.flags & bit]
    out = {"kind": kind}
    if kind == "unknown":
        out["kind_code"] = f.kind
    out.update({"units": f.units, "help": f.help, "flags": flags})
    ring = hist = None
    busy = corrupt = False
    if f.kind in (1, 5):
        ring, hist, busy, corrupt = read_sharded(sf, f, cells, now_ns, out)
        if gauge_sum:  # the sum modulo 2^64, read as an i64
            v = out["value"]
            out["value"] = v - (1 << 64) if v >> 63 else v
    else:
        busy = read_global(sf, f, out)
    if corrupt or busy:    # as mmstat-read: any status is "busy"
        out["status"] = "busy"
    if ring is not None:
        out["windows"] = {"%ds" % s: window(f, ring, hist, s, now_ns)
                          for s in WINDOWS}
    return out


def process_json(sf, filters, windows_at):
    # Cells moved by an exiting thread (section 11.3): read again until no
    # move overlapped the read.
    for _ in range(RETIRE_TRIES):
        e = sf.live_u64(152)
        sf.load()
        sf.refresh()
        if sf.live_u64(144) == e:
            break
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
        "state": {1: "init", 2: "ready", 3: "finished",
                  4: "folding"}.get(state, "unknown"),
        "liveness": sf.liveness(),
        "start_ticks": sf.start_ticks, "created_ns": sf.created_ns,
        "finished_ns": finished or None,
        "file_size": sf.u64(72), "disk_bytes": disk,
        "layout_gen": sf.u64(64), "shard_cap": sf.shard_limit,
        "shards_used": len(sf.shards), "shards_active": sf.u32(112),
        "threads_seen": sf.u64(120), "dropped": sf.u64(136),
        "group": sf.cstr(1736, 64),
        "keep": KEEP_NAMES.get(sf.u32(2312), "unknown"),
        "rollup": ({"processes": sf.u64(1712),
                    "first_ns": sf.i64(1720), "last_ns": sf.i64(1728)}
                   if sf.flags & HF_ROLLUP else None),
        "snapshot_real_ns": real_ns, "snapshot_mono_ns": mono_ns,
        "nfields": len(sf.fields), "fields": {},
    }
    by_field = {}
    for off, shard, owner in sf.cells:
        if owner[0] == "field":
            by_field.setdefault(owner[1], []).append((off, shard))
    now = windows_at or mono_ns
    for i, f in enumerate(sf.fields):
        if filters and not any(fnmatch.fnmatchcase(f.name, g)
                               for g in filters):
            continue
        out["fields"][f.name] = field_json(sf, f, by_field.get(i, []), now)
    return out


# ----------------------------------------------------------------- tables

MEMBER_KINDS = {MK_SUM: "sum", MK_SUM_I64: "sum_i64", MK_MAX: "max",
                MK_MIN: "min", MK_HIST: "hist", MK_MAXARG: "maxarg"}
KEY_TYPES = {0: "text", 1: "bytes", 2: "u64s"}


def key_text(sf, key, key_type):
    """A record's key as the C tools show it: text, hex, or u64s."""
    if key_type == 1:
        return key.hex()
    if key_type == 2:
        n = len(key) // 8
        return " ".join("0x%x" % v for v in
                        struct.unpack_from(sf.bo + "%dQ" % n, key, 0))
    return text(key)


def record_cell(sf, t, off, ridx, shard, vals):
    """Merge one record cell at OFF (shard SHARD) into VALS, one dict per
    member; True if its seqlock never held still (the values are then
    read as they were)."""
    nw = t.cell_size // 8 - 1
    busy = True
    for attempt in range(HIST_FULL_TRIES):
        if attempt:
            sf.load()
        s1 = sf.u64(off)
        w = struct.unpack_from(sf.bo + "%dQ" % nw, sf.m, off + 8)
        if seq_ok(sf, off, s1):
            busy = False
            break
    for k, mb in enumerate(t.members):
        o = (mb["off"] - 8) // 8
        v, kind = vals[k], mb["kind"]
        if kind == MK_SUM:
            v["value"] = (v["value"] + w[o]) & U64
        elif kind == MK_SUM_I64:
            u = (v["value"] + w[o]) & U64
            v["value"] = u - (1 << 64) if u >> 63 else u
        elif kind == MK_MAX:
            v["value"] = max(v["value"], w[o])
        elif kind == MK_MIN:
            if w[o] and (not v["value"] or ~w[o] & U64 < v["value"]):
                v["value"] = ~w[o] & U64
        elif kind == MK_MAXARG:
            if w[o] > v["value"] or (not v["value"] and not v["arg"]):
                v["value"], v["arg"] = w[o], w[o + 1]
        elif kind == MK_HIST:
            h = v["hist"]
            count, total, min_inv, mx = w[o:o + 4]
            if count:
                mn = ~min_inv & U64
                if min_inv and (h.count == 0 or mn < h.min):
                    h.min = mn
                if h.count == 0 or mx > h.max:
                    h.max = mx
                h.count = (h.count + count) & U64
                h.sum = (h.sum + total) & U64
            dirs = struct.unpack_from(sf.bo + "%dI" % mb["nchunks"], sf.m,
                                      off + mb["off"] + 32)
            add_chunkless(h, sf, w[o:o + 4], any(dirs))
            for c, d in enumerate(dirs):
                if not d:
                    continue
                nb = chunk_nb(mb["nb"], mb["bits"], c)
                b = sf.chunk(d, ridx, k, c, shard, nb)
                if b is None:
                    busy = True
                    continue
                bk = struct.unpack_from(sf.bo + "%d%s" % (nb, b[1]), sf.m,
                                        b[0])
                base = c << mb["bits"]
                for i, n in enumerate(bk):
                    h.buckets[base + i] = (h.buckets[base + i] + n) & U64
    return busy


def tables_json(sf, filters=None):
    """Every keyed table of SF (section 10): {name: {...}}, each with its
    counts and its records (key, members merged over shards)."""
    cells = {}
    for off, shard, owner in sf.cells:
        if owner[0] == "record":
            cells.setdefault(owner[1], []).append((off, shard))
    out = {}
    for t in sf.tables:
        if filters and not any(fnmatch.fnmatchcase(t.name, g)
                               for g in filters):
            continue
        nrecords, hits = struct.unpack_from(sf.bo + "IQ", sf.m, t.off + 28)
        recs = []
        for r in t.recs:
            _, ridx, koff, klen, overflow = sf.records[r]
            vals = [{"value": 0, "arg": 0,
                     "hist": Hist(mb["bits"], mb["max_exp"])
                     if mb["kind"] == MK_HIST else None}
                    for mb in t.members]
            busy = False
            for off, shard in cells.get(r, []):
                busy |= record_cell(sf, t, off, ridx, shard, vals)
            members = {}
            for mb, v in zip(t.members, vals):
                if mb["kind"] == MK_HIST:
                    members[mb["name"]] = v["hist"].to_json()
                elif mb["kind"] == MK_MAXARG:
                    members[mb["name"]] = {"max": v["value"], "arg": v["arg"]}
                else:
                    members[mb["name"]] = v["value"]
            key = b"(other)" if overflow else bytes(sf.m[koff:koff + klen])
            rec = {"key": "(other)" if overflow
                   else key_text(sf, key, t.key_type),
                   "key_bytes": key, "overflow": bool(overflow),
                   "members": members}
            if busy:
                rec["status"] = "busy"
            recs.append(rec)
        out[t.name] = {
            "help": t.help, "key_type": KEY_TYPES.get(t.key_type, "unknown"),
            "capacity": t.capacity, "key_max": t.key_max,
            "nrecords": nrecords, "overflow_hits": hits,
            "members": {mb["name"]: {"kind": MEMBER_KINDS[mb["kind"]],
                                     "units": mb["units"]}
                        for mb in t.members},
            "records": recs}
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
            sf.close()
            continue
        key = (sf.liveness() == "running", sf.created_ns)
        if best_key is None or key > best_key:
            if best is not None:
                best.close()
            best, best_key = sf, key
        else:
            sf.close()
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
