"""Reading stats files: open by pid or path, snapshots as dicts, the list
of a stats directory with each writer's liveness, watching, keyed tables
and rollups. Standard library only; see docs/python.md.

A snapshot is the dict that `mmstat-read --json` prints for one process
(docs/tools.md documents it key by key), plus "tables" (keyed tables,
section 10 of docs/format.md) and "rollup" (section 15).
"""

from __future__ import annotations

import dataclasses
import math
import os
import struct
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from . import _format as fmt
from . import heap as heapmod
from ._format import StatsError

__all__ = ["Stats", "FileInfo", "StatsError", "open", "snapshot", "values",
           "list_dir", "default_dir", "watch", "delta", "rollups"]

Target = Union[int, str, os.PathLike]

# Errors a bad or vanishing file raises while it is read: all reported as
# StatsError by the public functions.
_READ_ERRORS = (StatsError, OSError, ValueError, struct.error)


def default_dir() -> str:
    """The stats directory writers use by default: $MMSTATS_DIR, else
    $XDG_RUNTIME_DIR/mmstats (when it is a safe directory of ours), else
    /tmp/mmstats-<euid> (docs/format.md section 16)."""
    return fmt.default_dir()


def _wrap(e: BaseException) -> StatsError:
    if isinstance(e, StatsError):
        return e
    if isinstance(e, OSError) and e.strerror:
        return StatsError(e.strerror)
    return StatsError("corrupt")


class Stats:
    """One open, validated stats file.

    Use `mmstats3.open(pid_or_path)` (or `Stats(path)`) and close it (or
    use it in a `with` block). Each `snapshot()` reads the file again:
    fields the writer added since are picked up.
    """

    def __init__(self, path: Union[str, os.PathLike]) -> None:
        try:
            self._sf = fmt.StatsFile(os.fspath(path))
        except _READ_ERRORS as e:
            raise _wrap(e) from None

    @classmethod
    def _from(cls, sf: "fmt.StatsFile") -> "Stats":
        s = cls.__new__(cls)
        s._sf = sf
        return s

    # ---- identity

    @property
    def path(self) -> str:
        return self._sf.path

    @property
    def pid(self) -> int:
        """The writer's pid (in its own pid namespace)."""
        return self._sf.pid

    @property
    def exe(self) -> str:
        return self._sf.exe

    @property
    def label(self) -> str:
        return self._sf.label

    @property
    def is_rollup(self) -> bool:
        """A rollup of finished processes (docs/format.md section 15)."""
        return bool(self._sf.flags & 1)

    def liveness(self) -> str:
        """"running", "finished", "stale", "stale(pid-reused)" or
        "unknown" (a pid namespace this reader cannot see: never treat
        it as dead)."""
        try:
            return self._sf.liveness()
        except _READ_ERRORS as e:
            raise _wrap(e) from None

    def rollup(self) -> Optional[Dict[str, Any]]:
        """A rollup's group and what was folded into it, else None."""
        if not self.is_rollup:
            return None
        sf = self._sf
        sf.load()
        procs, first, last = struct.unpack_from(sf.bo + "Qqq", sf.m, 1712)
        return {"group": fmt.text(sf.m[1736:1800]), "fold_procs": procs,
                "fold_first_ns": first, "fold_last_ns": last or None,
                "fold_pending": fmt.text(sf.m[1800:2056]),
                "fold_done": fmt.text(sf.m[2056:2312])}

    # ---- values

    def snapshot(self, filters: Optional[Sequence[str]] = None,
                 tables: bool = True,
                 windows_at: int = 0) -> Dict[str, Any]:
        """Every field's value now, as a dict: the process's header
        (pid, exe, label, liveness, ...) and "fields": {name: {"kind",
        "units", "help", "flags", "value", ...}}, as `mmstat-read --json`;
        plus "tables" (when TABLES) and "rollup" (None for a process's own
        file). FILTERS: fnmatch globs of the names to keep. WINDOWS_AT:
        take time windows at that CLOCK_MONOTONIC ns instead of now."""
        try:
            out = fmt.process_json(self._sf, list(filters or ()), windows_at)
            if tables:
                out["tables"] = fmt.tables_json(self._sf, filters)
            out["rollup"] = self.rollup()
        except _READ_ERRORS as e:
            raise _wrap(e) from None
        return out

    def values(self, filters: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """{name: value} of every field: counters and gauges as numbers,
        strings as str, structs as dicts; a histogram as its dict (count,
        sum, min, max, mean, quantiles, buckets)."""
        return {n: f["value"] for n, f in
                self.snapshot(filters, tables=False)["fields"].items()}

    def tables(self, filters: Optional[Sequence[str]] = None
               ) -> Dict[str, Any]:
        """The keyed tables: {name: {"key_type", "capacity", "nrecords",
        "overflow_hits", "members", "records": [{"key", "key_bytes",
        "overflow", "members": {member: value}}]}}."""
        return self.snapshot(filters, tables=True)["tables"]

    def heap(self) -> Optional[Dict[str, Any]]:
        """The heap profile (the shim's sampled allocation sites), as the
        object "heap" of `mmstat-read --heap --json`: "by_live" and
        "by_allocated" sites with their stacks (function names from the
        objects' symbol tables; "file" and "line" None), or None if the
        file has no profile."""
        try:
            return heapmod.heap_json(self._sf)["heap"]
        except _READ_ERRORS as e:
            raise _wrap(e) from None

    # ---- lifetime

    def close(self) -> None:
        if self._sf is not None:
            self._sf.close()
            self._sf = None

    def __enter__(self) -> "Stats":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing to report to
            pass

    def __repr__(self) -> str:
        return "<mmstats3.Stats %s pid %d>" % (self.path, self.pid)


def open(target: Target, dir: Optional[str] = None) -> Stats:  # noqa: A001
    """Open the stats file of TARGET: a pid (int, or a string of digits
    that is not an existing path) — the newest file of that pid in DIR
    (default_dir() by default), a running writer's first — or a path."""
    d = dir or default_dir()
    if isinstance(target, int) or (isinstance(target, str) and
                                   target.isdigit() and
                                   not os.path.exists(target)):
        pid = int(target)
        if pid <= 0:
            raise StatsError("no stats file found")
        try:
            return Stats._from(fmt.open_pid(d, pid))
        except _READ_ERRORS as e:
            raise _wrap(e) from None
    return Stats(target)


def snapshot(target: Target, dir: Optional[str] = None,
             filters: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """open(TARGET).snapshot(FILTERS), closing the file."""
    with open(target, dir) as s:
        return s.snapshot(filters)


def values(target: Target, dir: Optional[str] = None,
           filters: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """open(TARGET).values(FILTERS), closing the file."""
    with open(target, dir) as s:
        return s.values(filters)


@dataclasses.dataclass
class FileInfo:
    """One file of a stats directory. ERROR is the reason a file could not
    be read (then the other fields but PATH are empty)."""
    path: str
    pid: int = 0
    exe: str = ""
    label: str = ""
    liveness: str = ""
    created_ns: int = 0
    rollup: bool = False
    error: Optional[str] = None


def list_dir(dir: Optional[str] = None) -> List[FileInfo]:
    """The stats files of DIR (default_dir() by default), sorted by name,
    each with its writer's liveness. A file that cannot be read is listed
    with its error; a missing directory raises FileNotFoundError."""
    out = []
    for path in fmt.stats_files(dir or default_dir()):
        try:
            with Stats(path) as s:
                out.append(FileInfo(path, s.pid, s.exe, s.label,
                                    s.liveness(), s._sf.created_ns,
                                    s.is_rollup))
        except StatsError as e:
            out.append(FileInfo(path, error=str(e)))
    return out


def rollups(dir: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """The rollups of DIR: {group: snapshot} (their "rollup" key says how
    many processes were folded in)."""
    out = {}
    for fi in list_dir(dir):
        if fi.rollup:
            try:
                snap = snapshot(fi.path)
            except StatsError:
                continue
            out[snap["rollup"]["group"]] = snap
    return out


def _hist_delta(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    count = b["count"] - a["count"]
    total = b["sum"] - a["sum"]
    return {"count": count, "sum": total,
            "mean": float(total) / count if count else 0.0}


def delta(before: Dict[str, Any], after: Dict[str, Any]) -> Dict[str, Any]:
    """What changed between two snapshots of one file: {"interval_s",
    "fields": {name: {...}}}. Counters give "delta" and "rate" (per
    second); histograms "count", "sum", "mean" and "rate" of the values
    recorded in between; other kinds their value in AFTER. A counter that
    went backwards (a new file of the same pid) counts from zero."""
    dt = (after["snapshot_mono_ns"] - before["snapshot_mono_ns"]) / 1e9
    fields = {}
    for name, f in after["fields"].items():
        old = before["fields"].get(name)
        d: Dict[str, Any] = {"kind": f["kind"]}
        if f["kind"] == "counter":
            v0 = old["value"] if old and old["kind"] == "counter" else 0
            d["delta"] = f["value"] - v0 if f["value"] >= v0 else f["value"]
            d["rate"] = d["delta"] / dt if dt > 0 else math.nan
        elif f["kind"] == "histogram" and f["value"] is not None:
            v0 = (old["value"] if old and old["kind"] == "histogram" and
                  old["value"] else {"count": 0, "sum": 0})
            if f["value"]["count"] < v0["count"]:
                v0 = {"count": 0, "sum": 0}
            d.update(_hist_delta(v0, f["value"]))
            d["rate"] = d["count"] / dt if dt > 0 else math.nan
        else:
            d["value"] = f["value"]
        fields[name] = d
    return {"pid": after["pid"], "interval_s": dt, "fields": fields}


def watch(target: Target, interval: float = 1.0,
          count: Optional[int] = None, deltas: bool = False,
          dir: Optional[str] = None,
          filters: Optional[Sequence[str]] = None
          ) -> Iterator[Dict[str, Any]]:
    """Snapshots of TARGET every INTERVAL seconds: COUNT of them, or
    until one shows the writer finished (its values are then final), or
    forever. With DELTAS, yield delta(previous, current) instead, from the
    second snapshot on (nothing for a file finished already). The first snapshot is
    taken at once; the interval is kept from the start, not added after
    each (slow) snapshot."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    n = 0
    prev = None
    with open(target, dir) as s:
        start = time.monotonic()
        while count is None or n < count:
            snap = s.snapshot(filters, tables=False)
            if deltas:
                if prev is not None:
                    yield delta(prev, snap)
                    n += 1
                prev = snap
            else:
                yield snap
                n += 1
            if snap["state"] in ("finished", "folding"):
                return  # the values are final
            k = math.floor((time.monotonic() - start) / interval) + 1
            time.sleep(max(0.0, start + k * interval - time.monotonic()))
