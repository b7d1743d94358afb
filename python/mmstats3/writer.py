"""Keeping a Python program's own stats: the writer API over libmmstats
(ctypes). See docs/python.md.

    w = mmstats3.Writer(label="web")
    requests = w.counter("app.requests", units="requests")
    latency = w.timer("app.latency")
    with latency:
        handle()
    requests.inc()

The library is found, in order: the LIB argument, $MMSTATS_LIB (a path),
the library installed beside this package's prefix, then the system's
libmmstats.so.0 (ldconfig). Errors raise MmstatsError with the text of
mms_strerror.

Each update takes its writer's lock (a threading.Lock; the C call keeps
the GIL, ctypes.PyDLL) around the check that the writer is open and the
C call, so close() in another thread never frees a field under an
update; after close() updates are ignored, as a NULL field's in C.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
import time
import weakref
from typing import (Any, Callable, Dict, List, Optional, Sequence, Tuple,
                    TypeVar, Union)

__all__ = ["Writer", "MmstatsError", "load_library", "Counter", "Gauge",
           "FloatGauge", "String", "Histogram", "Timer", "MovingAverage",
           "Struct", "Scalar", "Table"]

F = TypeVar("F", bound=Callable[..., Any])

# enum mms_kind, mms_type, mms_member_type, mms_member_kind (format.h)
K_COUNTER, K_GAUGE, K_GAUGE_F64, K_STRING, K_HIST, K_STRUCT, K_MOVAVG, \
    K_SCALAR = range(1, 9)
SCALAR_TYPES = {"bool": 1, "i8": 2, "i16": 3, "i32": 4, "i64": 5, "u8": 6,
                "u16": 7, "u32": 8, "u64": 9, "f32": 10, "f64": 11}
MEMBER_TYPES = {"u64": 1, "i64": 2, "f64": 3}
MEMBER_KINDS = {"sum": 1, "sum_i64": 2, "max": 3, "min": 4, "hist": 5,
                "maxarg": 6}
KEY_TYPES = {"text": 0, "bytes": 1, "u64s": 2}
DF_STATIC, DF_WINDOW = 0x2, 0x4
W_REMOVE_AT_CLOSE, W_FORK_SHARE = 0x2, 0x8
U64 = (1 << 64) - 1


class MmstatsError(Exception):
    """A libmmstats call failed: CODE is its (negative) return value, the
    message mms_strerror's text (preceded by what failed)."""

    def __init__(self, code: int, what: str = "") -> None:
        msg = _lib().mms_strerror(code).decode("utf-8", "replace")
        super().__init__("%s: %s" % (what, msg) if what else msg)
        self.code = code
        # A negative errno (e.g. -EACCES) as OSError's errno; None for the
        # library's own codes (MMS_E*, -4001...).
        self.errno = -code if -4000 < code < 0 else None


# ------------------------------------------------------------------ ctypes

c_char_p, c_int, c_u8, c_u16, c_u32, c_u64, c_i64, c_double = (
    ctypes.c_char_p, ctypes.c_int, ctypes.c_uint8, ctypes.c_uint16,
    ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64, ctypes.c_double)
c_void_p = ctypes.c_void_p


class _WriterOptions(ctypes.Structure):
    _fields_ = [("dir", c_char_p), ("file_template", c_char_p),
                ("path", c_char_p), ("label", c_char_p), ("name", c_char_p),
                ("max_fields", c_u32), ("max_shards", c_u32),
                ("initial_size", c_u32), ("max_size", c_u32),
                ("extent_size", c_u32), ("msync_interval_ms", c_u32),
                ("flags", ctypes.c_uint), ("clock_ns", c_void_p),
                # rollups (docs/api.md): enum mms_keep, its threshold, the
                # group template; zero: the environment's, else the default
                ("keep", ctypes.c_uint), ("keep_after_ms", c_u32),
                ("group", c_char_p)]


class _Member(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("type", c_int)]


class _FieldSpec(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("kind", c_int), ("type", c_int),
                ("units", c_char_p), ("help", c_char_p),
                ("capacity", c_u32), ("flags", ctypes.c_uint),
                ("hist_bits", c_u8), ("hist_max_exp", c_u8),
                ("window_bits", c_u8), ("nmembers", c_u32),
                ("members", ctypes.POINTER(_Member))]


class _TableMember(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("kind", c_int), ("units", c_char_p),
                ("hist_bits", c_u8), ("hist_max_exp", c_u8)]


class _TableSpec(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("help", c_char_p), ("capacity", c_u32),
                ("key_type", c_int), ("key_max", c_u16),
                ("members", ctypes.POINTER(_TableMember)),
                ("nmembers", c_u32)]


_PP = ctypes.POINTER(c_void_p)
_SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "mms_strerror": (c_char_p, [c_int]),
    "mms_writer_options_init": (None, [ctypes.POINTER(_WriterOptions)]),
    "mms_writer_open": (c_int, [_PP, ctypes.POINTER(_WriterOptions)]),
    "mms_writer_close": (c_int, [c_void_p]),
    "mms_writer_finish": (None, [c_void_p]),
    "mms_writer_path": (c_char_p, [c_void_p]),
    "mms_writer_sync": (c_int, [c_void_p]),
    "mms_field_add": (c_int, [c_void_p, ctypes.POINTER(_FieldSpec), _PP]),
    "mms_static_i64": (c_int, [c_void_p, c_char_p, c_char_p, c_i64]),
    "mms_static_f64": (c_int, [c_void_p, c_char_p, c_char_p, c_double]),
    "mms_static_str": (c_int, [c_void_p, c_char_p, c_char_p]),
    "mms_counter_add": (None, [c_void_p, c_u64]),
    "mms_gauge_set": (None, [c_void_p, c_i64]),
    "mms_gauge_add": (None, [c_void_p, c_i64]),
    "mms_gauge_set_f64": (None, [c_void_p, c_double]),
    "mms_gauge_add_f64": (None, [c_void_p, c_double]),
    "mms_string_setn": (None, [c_void_p, c_char_p, ctypes.c_size_t]),
    "mms_scalar_set_i64": (None, [c_void_p, c_i64]),
    "mms_scalar_set_u64": (None, [c_void_p, c_u64]),
    "mms_scalar_set_f64": (None, [c_void_p, c_double]),
    "mms_scalar_add_i64": (None, [c_void_p, c_i64]),
    "mms_scalar_add_f64": (None, [c_void_p, c_double]),
    "mms_hist_record": (None, [c_void_p, c_u64]),
    "mms_struct_set": (None, [c_void_p, c_void_p]),
    "mms_movavg_add": (None, [c_void_p, c_double]),
    "mms_table_new": (c_int, [c_void_p, ctypes.POINTER(_TableSpec), _PP]),
    "mms_record_get": (c_int, [c_void_p, c_void_p, ctypes.c_size_t,
                               ctypes.POINTER(c_u32)]),
    "mms_record_update": (None, [c_void_p, c_u32, ctypes.c_uint, c_u64]),
    "mms_record_maxarg": (None, [c_void_p, c_u32, ctypes.c_uint, c_u64,
                                 c_u64]),
}

_LIB: Optional[ctypes.PyDLL] = None
_LIB_LOCK = threading.Lock()


def _candidates(path: Optional[str]) -> List[str]:
    out = []
    if path:
        out.append(path)
    env = os.environ.get("MMSTATS_LIB")
    if env:
        out.append(env)
    # Installed beside the package: PREFIX/lib/python3/dist-packages/
    # mmstats3 -> PREFIX/lib/<multiarch>/ or PREFIX/lib/.
    here = os.path.dirname(os.path.abspath(__file__))
    for up in ("../../..", "../../../.."):
        lib = os.path.normpath(os.path.join(here, up))
        if os.path.basename(lib) in ("lib", "lib64"):
            arch = getattr(sys.implementation, "_multiarch", "")
            if arch:
                out.append(os.path.join(lib, arch, "libmmstats.so.0"))
            out.append(os.path.join(lib, "libmmstats.so.0"))
    found = ctypes.util.find_library("mmstats")
    out.append(found or "libmmstats.so.0")
    return out


def load_library(path: Optional[str] = None) -> ctypes.PyDLL:
    """Load libmmstats (once per process; PATH, if given, is tried first
    on that first call). Raises OSError naming every place tried."""
    global _LIB
    with _LIB_LOCK:
        if _LIB is not None:
            return _LIB
        errors = []
        for cand in _candidates(path):
            if os.sep in cand and not os.path.exists(cand):
                errors.append("%s: no such file" % cand)
                continue
            try:
                # PyDLL: calls keep the GIL (see the module's docstring).
                lib = ctypes.PyDLL(cand)
            except OSError as e:
                errors.append(str(e))
                continue
            for name, (res, args) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = res, args
            _LIB = lib
            return lib
        raise OSError("libmmstats not found (set MMSTATS_LIB to its path): "
                      + "; ".join(errors))


def _lib() -> ctypes.PyDLL:
    return _LIB if _LIB is not None else load_library()


def _b(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8")


# ------------------------------------------------------------------ fields

class _Field:
    """A field of a writer: updates are no-ops once the writer closed."""
    __slots__ = ("_w", "_p", "name")

    def __init__(self, w: "Writer", p: int, name: str) -> None:
        self._w, self._p, self.name = w, p, name

    def _call(self, fn: Any, *args: Any) -> None:
        """FN(field, *ARGS) unless the writer is closed. Under the
        writer's lock: close() cannot free the field between the check
        and the call."""
        w = self._w
        with w._lock:
            if w._h:
                fn(self._p, *args)

    def __repr__(self) -> str:
        return "<mmstats3.%s %s>" % (type(self).__name__, self.name)


class Counter(_Field):
    """A u64 counter, summed over threads."""
    __slots__ = ()

    def inc(self) -> None:
        self._call(_LIB.mms_counter_add, 1)

    def add(self, n: int) -> None:
        if n < 0:
            raise ValueError("a counter only goes up")
        self._call(_LIB.mms_counter_add, n & U64)


class Gauge(_Field):
    """An i64 value, set or added to."""
    __slots__ = ()

    def set(self, v: int) -> None:
        self._call(_LIB.mms_gauge_set, int(v))

    def add(self, d: int) -> None:
        self._call(_LIB.mms_gauge_add, int(d))

    def inc(self) -> None:
        self.add(1)

    def dec(self) -> None:
        self.add(-1)


class FloatGauge(_Field):
    """An f64 value, set or added to."""
    __slots__ = ()

    def set(self, v: float) -> None:
        self._call(_LIB.mms_gauge_set_f64, float(v))

    def add(self, d: float) -> None:
        self._call(_LIB.mms_gauge_add_f64, float(d))


class Scalar(_Field):
    """A value of a fixed type (bool, i8..u64, f32, f64), converted as a C
    cast would (integers wrap)."""
    __slots__ = ("_float",)

    def __init__(self, w: "Writer", p: int, name: str, is_float: bool):
        super().__init__(w, p, name)
        self._float = is_float

    def set(self, v: Union[int, float, bool]) -> None:
        if self._float or isinstance(v, float):
            self._call(_LIB.mms_scalar_set_f64, float(v))
        elif v < 0:
            self._call(_LIB.mms_scalar_set_i64, int(v))
        else:
            self._call(_LIB.mms_scalar_set_u64, int(v) & U64)

    def add(self, d: Union[int, float]) -> None:
        if self._float or isinstance(d, float):
            self._call(_LIB.mms_scalar_add_f64, float(d))
        else:
            self._call(_LIB.mms_scalar_add_i64, int(d))


class String(_Field):
    """A string, truncated to the field's capacity in bytes of UTF-8 (at
    a character's boundary)."""
    __slots__ = ("_cap",)

    def __init__(self, w: "Writer", p: int, name: str, cap: int) -> None:
        super().__init__(w, p, name)
        self._cap = cap

    def set(self, s: str) -> None:
        b = s.encode("utf-8", "surrogateescape")
        if len(b) > self._cap:
            b = b[:self._cap].decode("utf-8", "ignore").encode("utf-8")
        self._call(_LIB.mms_string_setn, b, len(b))


class Histogram(_Field):
    """Values (u64) in log-linear buckets: count, sum, min, max,
    quantiles."""
    __slots__ = ()

    def record(self, v: int) -> None:
        if v < 0:
            raise ValueError("a histogram records values >= 0")
        self._call(_LIB.mms_hist_record, min(int(v), U64))


class _Timing:
    """One timing of a Timer: a context manager."""
    __slots__ = ("_t", "_start")

    def __init__(self, t: "Timer") -> None:
        self._t = t
        self._start = 0

    def __enter__(self) -> "_Timing":
        self._start = time.monotonic_ns()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._t.record(time.monotonic_ns() - self._start)


class Timer(Histogram):
    """A histogram of durations in ns (CLOCK_MONOTONIC, as the C
    library's timers). Three ways to time:

        with timer: ...              (per thread, nests)
        with timer.time(): ...
        @timer                       (a decorator)
    """
    __slots__ = ("_local",)

    def __init__(self, w: "Writer", p: int, name: str) -> None:
        super().__init__(w, p, name)
        self._local = threading.local()

    def time(self) -> _Timing:
        return _Timing(self)

    def __enter__(self) -> "Timer":
        st = getattr(self._local, "starts", None)
        if st is None:
            st = self._local.starts = []
        st.append(time.monotonic_ns())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.record(time.monotonic_ns() - self._local.starts.pop())

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.monotonic_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                self.record(time.monotonic_ns() - start)
        return timed  # type: ignore[return-value]


class MovingAverage(_Field):
    """The mean of the last N values added."""
    __slots__ = ()

    def add(self, v: float) -> None:
        self._call(_LIB.mms_movavg_add, float(v))


class Struct(_Field):
    """Named 8-byte members (u64, i64, f64) set together: readers see the
    old set or the new one, never a mix."""
    __slots__ = ("_types", "_names", "_buf")

    def __init__(self, w: "Writer", p: int, name: str,
                 members: Sequence[Tuple[str, str]]) -> None:
        super().__init__(w, p, name)
        self._names = [m[0] for m in members]
        self._types = [m[1] for m in members]
        self._buf = (c_u64 * len(members))()

    def set(self, values: Dict[str, Union[int, float]]) -> None:
        """Set every member (a member not in VALUES is set to 0)."""
        unknown = set(values) - set(self._names)
        if unknown:
            raise KeyError("no member %s" % ", ".join(sorted(unknown)))
        for k, (n, t) in enumerate(zip(self._names, self._types)):
            v = values.get(n, 0)
            if t == "f64":
                self._buf[k] = c_u64.from_buffer_copy(
                    c_double(float(v))).value
            else:
                self._buf[k] = int(v) & U64
        self._call(_LIB.mms_struct_set, self._buf)


class Record:
    """One key of a Table: update its members by name."""
    __slots__ = ("_t", "index", "overflow")

    def __init__(self, t: "Table", index: int, overflow: bool) -> None:
        self._t, self.index, self.overflow = t, index, overflow

    def update(self, member: str, v: int) -> None:
        """By the member's kind: sum/sum_i64 add V, max/min raise/lower
        to V, hist records V."""
        t = self._t
        with t._w._lock:
            if t._w._h:
                _LIB.mms_record_update(t._p, self.index, t._members[member],
                                       int(v) & U64)

    def maxarg(self, member: str, v: int, arg: int) -> None:
        """A maxarg member: raise to V, keeping ARG with the largest V."""
        t = self._t
        with t._w._lock:
            if t._w._h:
                _LIB.mms_record_maxarg(t._p, self.index, t._members[member],
                                       int(v) & U64, int(arg) & U64)


class Table:
    """A keyed table (docs/format.md section 10): records by key (str or
    bytes), each with the same members; when full, new keys share the
    overflow record "(other)"."""

    def __init__(self, w: "Writer", p: int, name: str,
                 members: Sequence[str]) -> None:
        self._w, self._p, self.name = w, p, name
        self._members = {m: k for k, m in enumerate(members)}

    def record(self, key: Union[str, bytes]) -> Record:
        b = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        rec = c_u32()
        with self._w._lock:
            if not self._w._h:
                raise ValueError("writer closed")
            rc = _LIB.mms_record_get(self._p, b, len(b), ctypes.byref(rec))
        if rc < 0:
            raise MmstatsError(rc, "%s: record" % self.name)
        return Record(self, rec.value, rc == 1)

    def __getitem__(self, key: Union[str, bytes]) -> Record:
        return self.record(key)


# ------------------------------------------------------------------ writer

# Open writers: a forked child gets new locks (one held by another thread
# at the fork would never be released in the child).
_WRITERS: "weakref.WeakSet[Writer]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for w in list(_WRITERS):
        w._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

class Writer:
    """A stats file of this process (mms_writer_open).

    PATH: an exact path; else a file in DIR (default: $MMSTATS_DIR, else
    the default directory) named by FILE_TEMPLATE (default
    "{exe}-{pid}.mmstats", with LABEL and NAME when given). LABEL also
    goes in the header. REMOVE_AT_CLOSE unlinks the file in close().
    FORK_SHARE: a forked child writes to this file too (default: the
    child gets a file of its own). LIB: the library's path (see
    load_library). The file is marked finished at close() or at exit.
    """

    def __init__(self, path: Optional[str] = None, *,
                 dir: Optional[str] = None, label: Optional[str] = None,
                 name: Optional[str] = None,
                 file_template: Optional[str] = None,
                 remove_at_close: bool = False, fork_share: bool = False,
                 max_fields: int = 0, max_size: int = 0,
                 lib: Optional[str] = None) -> None:
        self._h: Optional[int] = None
        self._lock = threading.Lock()
        lib_ = load_library(lib)
        o = _WriterOptions()
        lib_.mms_writer_options_init(ctypes.byref(o))
        self._keep = [_b(x) for x in (dir, file_template, path, label, name)]
        o.dir, o.file_template, o.path, o.label, o.name = self._keep
        o.max_fields, o.max_size = max_fields, max_size
        o.flags = ((W_REMOVE_AT_CLOSE if remove_at_close else 0) |
                   (W_FORK_SHARE if fork_share else 0))
        h = c_void_p()
        rc = lib_.mms_writer_open(ctypes.byref(h), ctypes.byref(o))
        if rc < 0:
            raise MmstatsError(rc, "cannot create stats file")
        self._h = h.value
        self._path = lib_.mms_writer_path(self._h).decode("utf-8",
                                                          "surrogateescape")
        self._fields: Dict[str, Any] = {}
        _WRITERS.add(self)

    @property
    def path(self) -> str:
        """The stats file's path (a forked child's own file in the
        child)."""
        with self._lock:
            if self._h:
                self._path = _LIB.mms_writer_path(self._h).decode(
                    "utf-8", "surrogateescape")
        return self._path

    @property
    def closed(self) -> bool:
        return not self._h

    def _add(self, name: str, kind: int, units: Optional[str] = None,
             help: Optional[str] = None, type: int = 0, capacity: int = 0,
             flags: int = 0, bits: int = 0, max_exp: int = 0,
             window_bits: int = 0,
             members: Optional[Sequence[Tuple[str, str]]] = None) -> int:
        if not self._h:
            raise ValueError("writer closed")
        spec = _FieldSpec()
        keep = [_b(name), _b(units), _b(help)]
        spec.name, spec.units, spec.help = keep
        spec.kind, spec.type, spec.capacity, spec.flags = (kind, type,
                                                           capacity, flags)
        spec.hist_bits, spec.hist_max_exp = bits, max_exp
        spec.window_bits = window_bits
        if members:
            arr = (_Member * len(members))()
            for k, (n, t) in enumerate(members):
                if t not in MEMBER_TYPES:
                    raise ValueError("member type %r: not one of %s" %
                                     (t, ", ".join(MEMBER_TYPES)))
                keep.append(n.encode("utf-8"))
                arr[k].name, arr[k].type = keep[-1], MEMBER_TYPES[t]
            spec.members, spec.nmembers = arr, len(members)
        p = c_void_p()
        with self._lock:
            if not self._h:
                raise ValueError("writer closed")
            rc = _LIB.mms_field_add(self._h, ctypes.byref(spec),
                                    ctypes.byref(p))
        if rc < 0:
            raise MmstatsError(rc, name)
        return p.value or 0

    def _get(self, cls: Any, name: str, *args: Any, **kw: Any) -> Any:
        """The field object of NAME: one per field, so a Timer's
        per-thread state is shared by every caller of timer(NAME)."""
        f = self._fields.get(name)
        if f is None or type(f) is not cls:
            f = self._fields[name] = cls(self, *args, **kw)
        return f

    def counter(self, name: str, units: Optional[str] = None,
                help: Optional[str] = None, window: bool = False) -> Counter:
        """A counter (WINDOW: also per-second rates over the last 60 s)."""
        p = self._add(name, K_COUNTER, units, help,
                      flags=DF_WINDOW if window else 0)
        return self._get(Counter, name, p, name)

    def gauge(self, name: str, units: Optional[str] = None,
              help: Optional[str] = None) -> Gauge:
        """An integer gauge (i64)."""
        return self._get(Gauge, name, self._add(name, K_GAUGE, units, help),
                         name)

    def float_gauge(self, name: str, units: Optional[str] = None,
                    help: Optional[str] = None) -> FloatGauge:
        """A float gauge (f64)."""
        return self._get(FloatGauge, name,
                         self._add(name, K_GAUGE_F64, units, help), name)

    def scalar(self, name: str, type: str, units: Optional[str] = None,
               help: Optional[str] = None) -> Scalar:
        """A value of TYPE: "bool", "i8", "i16", "i32", "i64", "u8",
        "u16", "u32", "u64", "f32" or "f64"."""
        if type not in SCALAR_TYPES:
            raise ValueError("scalar type %r: not one of %s" %
                             (type, ", ".join(SCALAR_TYPES)))
        p = self._add(name, K_SCALAR, units, help, type=SCALAR_TYPES[type])
        return self._get(Scalar, name, p, name, type in ("f32", "f64"))

    def string(self, name: str, capacity: int = 64,
               help: Optional[str] = None) -> String:
        """A string of at most CAPACITY bytes."""
        p = self._add(name, K_STRING, None, help, capacity=capacity)
        return self._get(String, name, p, name, capacity or 64)

    def histogram(self, name: str, units: Optional[str] = None,
                  help: Optional[str] = None, bits: int = 0,
                  max_exp: int = 0, window: bool = False) -> Histogram:
        """A histogram: 2^BITS buckets per power of two (0: 6, <= 0.78%
        relative error), values up to 2^MAX_EXP - 1 (0: 36) in buckets.
        WINDOW: also per-second histograms over the last 60 s."""
        p = self._add(name, K_HIST, units, help, bits=bits, max_exp=max_exp,
                      flags=DF_WINDOW if window else 0)
        return self._get(Histogram, name, p, name)

    def timer(self, name: str, help: Optional[str] = None,
              window: bool = False) -> Timer:
        """A histogram of durations in ns; see Timer."""
        p = self._add(name, K_HIST, "ns", help,
                      flags=DF_WINDOW if window else 0)
        return self._get(Timer, name, p, name)

    def moving_average(self, name: str, n: int = 100,
                       units: Optional[str] = None,
                       help: Optional[str] = None) -> MovingAverage:
        """The mean of the last N values added."""
        p = self._add(name, K_MOVAVG, units, help, capacity=n)
        return self._get(MovingAverage, name, p, name)

    def struct(self, name: str, members: Sequence[Tuple[str, str]],
               help: Optional[str] = None) -> Struct:
        """Members [(name, "u64"|"i64"|"f64")], set together."""
        p = self._add(name, K_STRUCT, None, help, members=members)
        return self._get(Struct, name, p, name, members)

    def static(self, name: str, value: Union[int, float, str],
               units: Optional[str] = None) -> None:
        """A value written once, never changed: int, float or str."""
        with self._lock:
            if not self._h:
                raise ValueError("writer closed")
            if isinstance(value, str):
                rc = _LIB.mms_static_str(self._h, _b(name), _b(value))
            elif isinstance(value, float):
                rc = _LIB.mms_static_f64(self._h, _b(name), _b(units), value)
            else:
                rc = _LIB.mms_static_i64(self._h, _b(name), _b(units),
                                         int(value))
        if rc < 0:
            raise MmstatsError(rc, name)

    def table(self, name: str, members: Sequence[Tuple[str, str]],
              capacity: int = 0, key_type: str = "text", key_max: int = 0,
              help: Optional[str] = None) -> Table:
        """A keyed table; MEMBERS [(name, kind)], kind one of "sum",
        "sum_i64", "max", "min", "hist", "maxarg". CAPACITY: records, the
        overflow record included (0: 1024); KEY_TYPE: how readers show
        keys ("text", "bytes" in hex, "u64s"); KEY_MAX: longest key."""
        if not self._h:
            raise ValueError("writer closed")
        if key_type not in KEY_TYPES:
            raise ValueError("key type %r: not one of %s" %
                             (key_type, ", ".join(KEY_TYPES)))
        arr = (_TableMember * len(members))()
        keep = [_b(name), _b(help)]
        for k, (n, kind) in enumerate(members):
            if kind not in MEMBER_KINDS:
                raise ValueError("member kind %r: not one of %s" %
                                 (kind, ", ".join(MEMBER_KINDS)))
            keep.append(n.encode("utf-8"))
            arr[k].name, arr[k].kind = keep[-1], MEMBER_KINDS[kind]
        spec = _TableSpec()
        spec.name, spec.help = keep[0], keep[1]
        spec.capacity, spec.key_type, spec.key_max = (capacity,
                                                      KEY_TYPES[key_type],
                                                      key_max)
        spec.members, spec.nmembers = arr, len(members)
        p = c_void_p()
        with self._lock:
            if not self._h:
                raise ValueError("writer closed")
            rc = _LIB.mms_table_new(self._h, ctypes.byref(spec),
                                    ctypes.byref(p))
        if rc < 0:
            raise MmstatsError(rc, name)
        return Table(self, p.value or 0, name, [m[0] for m in members])

    def sync(self) -> None:
        """msync the file now (for stats directories on disk that must
        survive a machine crash; readers never need it)."""
        with self._lock:
            rc = _LIB.mms_writer_sync(self._h) if self._h else 0
        if rc < 0:
            raise MmstatsError(rc, "sync")

    def finish(self) -> None:
        """Mark the file finished (values final); updates still land."""
        with self._lock:
            if self._h:
                _LIB.mms_writer_finish(self._h)

    def close(self) -> None:
        """Mark the file finished (and remove it, with REMOVE_AT_CLOSE),
        unmap it and free the writer; later updates are ignored."""
        with self._lock:
            h, self._h = self._h, None
            rc = _LIB.mms_writer_close(h) if h else 0
        if rc < 0:
            raise MmstatsError(rc, "close")

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<mmstats3.Writer %s>" % (
            "closed" if not self._h else self.path)
