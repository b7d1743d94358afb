"""The heap profile of a stats file (docs/preload.md, "Heap profile"): the
shim's mem.heap.sites table, sorted by live and by allocated bytes, each
site's stack symbolised from the objects the process recorded in
mem.heap.objects; the object "heap" of `mmstat-read --heap --json`
(docs/tools.md), or folded stacks as `mmstat-read --heap --folded`.

Functions come from each object's ELF symbol table (.symtab, else
.dynsym), read only if the file is still there with the build id the
process recorded (a rebuilt file's names would lie). Source files and
lines need DWARF, which this standard-library reader does not read:
they are null (mmstat-read gives them, with libdw).
"""

import bisect
import os
import struct

from . import _format as fmt

SITES, OBJECTS = "mem.heap.sites", "mem.heap.objects"
ELF_MAGIC = b"\x7fELF"
SHT_SYMTAB, SHT_NOTE, SHT_DYNSYM = 2, 7, 11
STT_FUNC, STT_GNU_IFUNC = 2, 10
BIND_RANK = {1: 2, 2: 1}  # STB_GLOBAL, STB_WEAK; STB_LOCAL and others 0
NT_GNU_BUILD_ID = 3


class ElfSymbols:
    """The functions of one ELF64 file, by file address; empty if the
    file is not one this reader understands."""

    def __init__(self, path):
        self.build_id, self.addrs, self.syms = "", [], []
        self.symtab = False  # the full table (else the dynamic one)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return
        try:
            self._parse(data)
        except (struct.error, IndexError, ValueError):
            self.addrs, self.syms = [], []

    def _parse(self, d):
        if d[:4] != ELF_MAGIC or d[4] != 2 or d[5] not in (1, 2):
            return
        bo = "<" if d[5] == 1 else ">"
        shoff, = struct.unpack_from(bo + "Q", d, 0x28)
        shentsize, shnum = struct.unpack_from(bo + "HH", d, 0x3A)
        if not shoff or shentsize < 64:
            return
        secs = [struct.unpack_from(bo + "IIQQQQIIQQ", d, shoff + i * shentsize)
                for i in range(shnum)]
        # (name, type, flags, addr, offset, size, link, info, align, entsize)
        for s in secs:
            if s[1] == SHT_NOTE:
                self._notes(d, bo, s[4], s[5])
        for want in (SHT_SYMTAB, SHT_DYNSYM):
            tabs = [s for s in secs if s[1] == want]
            if tabs:
                self._symbols(d, bo, tabs[0], secs)
                if self.syms:
                    self.symtab = want == SHT_SYMTAB
                    return

    def _notes(self, d, bo, off, size):
        end = off + size
        while off + 12 <= end:
            namesz, descsz, typ = struct.unpack_from(bo + "III", d, off)
            name_at = off + 12
            desc_at = name_at + ((namesz + 3) & ~3)
            nxt = desc_at + ((descsz + 3) & ~3)
            if nxt > end:
                return
            if (typ == NT_GNU_BUILD_ID and d[name_at:name_at + namesz] ==
                    b"GNU\0" and descsz <= 64):
                self.build_id = d[desc_at:desc_at + descsz].hex()
            off = nxt

    def _symbols(self, d, bo, tab, secs):
        _, _, _, _, off, size, link, _, _, entsize = tab
        if entsize < 24 or link >= len(secs):
            return
        stroff, strsize = secs[link][4], secs[link][5]
        found = {}
        for at in range(off, off + size - entsize + 1, entsize):
            name, info, _, shndx, value, sz = struct.unpack_from(
                bo + "IBBHQQ", d, at)
            if info & 0xf not in (STT_FUNC, STT_GNU_IFUNC) or not shndx:
                continue
            if not value or name >= strsize:
                continue
            e = d.index(b"\0", stroff + name)
            n = d[stroff + name:e].decode("utf-8", "replace")
            # Aliases at one address (fgets, _IO_fgets): as libdw, a
            # global symbol over a weak one over a local one, a sized
            # one over a sizeless one, else the first.
            rank = BIND_RANK.get(info >> 4, 0)
            old = found.get(value)
            if (old is None or rank > old[2] or
                    (rank == old[2] and sz and not old[0])):
                found[value] = (sz, n, rank)
        for value in sorted(found):
            self.addrs.append(value)
            self.syms.append(found[value][:2])

    def lookup(self, addr):
        """The function at file address ADDR, or None."""
        i = bisect.bisect_right(self.addrs, addr) - 1
        for k in range(i, max(i - 16, -1), -1):
            size, name = self.syms[k]
            if addr < self.addrs[k] + size:
                return name
        if i >= 0 and self.syms[i][0] == 0:
            return self.syms[i][1]  # sizeless: the nearest before it
        return None


def _object_symbols(path, build_id):
    """The symbols of the object at PATH with BUILD_ID (hex, maybe ""):
    its own, or for a stripped one (its dynamic symbols only) those of
    its separate debug file, as libdw finds it by build id."""
    if not path.startswith("/"):
        return None  # the vDSO, or a name without a file
    es = ElfSymbols(path)
    if build_id and es.build_id != build_id:
        return None  # rebuilt since: its names would lie
    if not es.symtab and len(build_id) > 2:
        dbg = ElfSymbols("/usr/lib/debug/.build-id/%s/%s.debug" %
                         (build_id[:2], build_id[2:]))
        if dbg.symtab and dbg.build_id == build_id:
            return dbg
    return es


class Symbols:
    """Return addresses to functions, from the recorded objects."""

    def __init__(self, objects):
        self.objs = []  # (start, end, base, path, ElfSymbols or None)
        for rec in objects.get("records", []) if objects else []:
            if rec["overflow"]:
                continue
            m = rec["members"]
            if not m.get("end"):
                continue
            key = rec["key_bytes"].decode("utf-8", "replace")
            build_id, colon, path = key.partition(":")
            if not colon:
                continue
            self.objs.append([m["start"], m["end"], m["base"], path,
                              build_id, None])

    def lookup(self, pc):
        fr = {"pc": "0x%x" % pc, "function": None, "file": None,
              "line": None, "object": None, "offset": None}
        o = None
        for ob in self.objs:
            if ob[0] <= pc < ob[1]:
                o = ob  # the last recorded wins (dlclose, dlopen)
        if o is None:
            return fr
        fr["object"], fr["offset"] = o[3], pc - o[2]
        if o[5] is None:
            o[5] = _object_symbols(o[3], o[4]) or False
        if o[5]:
            # A return address is the instruction after the call.
            fr["function"] = o[5].lookup(pc - 1 - o[2])
        return fr


def _value(fields, name):
    f = fields.get(name)
    return f.get("value", 0) if f else 0


def _sorted(sites, key):
    return sorted(sites, key=lambda s: (-s[key], s["_order"]))


def load(sf):
    """The heap profile of open file SF: a dict as the object "heap" of
    mmstat-read --heap --json (plus "_sites", every site in table order),
    or None if the file has none."""
    fields = fmt.process_json(sf, ["mem.*"], 0)["fields"]
    tables = fmt.tables_json(sf, [SITES, OBJECTS])
    t = tables.get(SITES)
    if t is None:
        return None
    sym = Symbols(tables.get(OBJECTS))
    sites, negative = [], 0
    for order, rec in enumerate(t["records"]):
        m = rec["members"]
        st = {"live_bytes": m.get("live_bytes", 0),
              "live_allocs": m.get("live_allocs", 0),
              "bytes": m.get("bytes", 0), "allocs": m.get("allocs", 0),
              "samples": m.get("samples", 0)}
        # A forked child keeps its parent's sites with zero values: not
        # its own.
        if not st["samples"] and not st["live_bytes"]:
            continue
        if st["live_bytes"] < 0:
            negative += 1
        key = b"" if rec["overflow"] else rec["key_bytes"]
        pcs = struct.unpack_from(sf.bo + "%dQ" % (len(key) // 8), key, 0)
        st["other"] = not pcs
        st["stack"] = [sym.lookup(pc) for pc in pcs]
        st["_order"] = order
        sites.append(st)

    def public(s):  # a copy of its own for each order
        out = {k: v for k, v in s.items() if not k.startswith("_")}
        out["stack"] = [dict(fr) for fr in s["stack"]]
        return out

    return {
        "sample_bytes": _value(fields, "mem.heap.sample_bytes"),
        "samples": _value(fields, "mem.heap.samples"),
        "untracked": _value(fields, "mem.heap.untracked"),
        "reentered": _value(fields, "mem.heap.reentered"),
        "slow_stacks": _value(fields, "mem.heap.slow_stacks"),
        "negative_sites": negative,
        "sites": max(t["nrecords"] - 1, 0),
        "capacity": t["capacity"],
        "overflowed": t["overflow_hits"],
        "live_bytes": _value(fields, "mem.live_bytes"),
        "alloc_bytes": _value(fields, "mem.alloc_bytes"),
        "freed_bytes": _value(fields, "mem.freed_bytes"),
        "peak_bytes": _value(fields, "mem.peak_bytes"),
        "by_live": [public(s) for s in _sorted(sites, "live_bytes")
                    if s["live_bytes"] > 0],
        "by_allocated": [public(s) for s in _sorted(sites, "bytes")
                         if s["bytes"] > 0],
        "_sites": sites,
    }


def heap_json(sf):
    """The entry of `mmstat-read --heap --json`'s "heaps" for SF."""
    h = load(sf)
    if h is not None:
        del h["_sites"]
    return {"pid": sf.pid, "exe": sf.exe, "path": sf.path, "heap": h}


def _frame_name(fr):
    if fr["function"]:
        n = fr["function"]
    elif fr["object"]:
        n = "%s+0x%x" % (os.path.basename(fr["object"]), fr["offset"])
    else:
        n = fr["pc"]
    # Not the separator, the space before the count, nor control bytes.
    return "".join("_" if c in "; \x7f" or c < " " else c for c in n)


def folded(sf, by="live"):
    """Folded stacks (flamegraph.pl, speedscope): one line per site,
    outermost frame first, with its live (or allocated) bytes."""
    h = load(sf)
    lines = []
    for s in h["_sites"] if h else []:
        v = s["live_bytes"] if by == "live" else s["bytes"]
        if v <= 0:
            continue
        names = [_frame_name(fr) for fr in reversed(s["stack"])]
        lines.append("%s %d" % (";".join(names) or "(other)", v))
    return lines
