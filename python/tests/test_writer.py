"""The writer API: a Python program's stats read back exactly by
mmstat-read (the C reader) and by the Python reader."""

import errno
import time
import os
import subprocess
import sys
import threading

import pytest

import mmstats3

def pyenv(**kw):
    return dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(mmstats3.__file__)), **kw)


def LATER():
    """CLOCK_MONOTONIC 2 s from now: time windows taken then hold the
    values recorded in this second."""
    return str(time.clock_gettime_ns(time.CLOCK_MONOTONIC) + 2000000000)


def write_all(w):
    """Every kind of field, with known values."""
    c = w.counter("app.requests", units="requests", help="requests served")
    c.inc()
    c.add(41)
    g = w.gauge("app.in_flight")
    g.set(10)
    g.add(-13)
    g.inc()
    fg = w.float_gauge("app.load")
    fg.set(1.25)
    fg.add(0.5)
    s = w.string("app.phase", capacity=16)
    s.set("héllo wörld, this is longer than 16 bytes")
    w.string("app.cut", capacity=5).set("ééé")  # never half a character
    h = w.histogram("app.size", units="bytes")
    for v in (1, 2, 3, 1000):
        h.record(v)
    t = w.timer("app.latency", window=True)
    with t:
        pass
    with t.time():
        pass

    @t
    def f(x):
        return x * 2
    assert f(21) == 42 and f.__name__ == "f"
    sc = w.scalar("app.small", "u8")
    sc.set(300)                          # wraps as a C cast: 44
    b = w.scalar("app.ok", "bool")
    b.set(True)
    ma = w.moving_average("app.avg", n=4)
    for v in (1, 2, 3, 4, 5, 6):
        ma.add(v)
    st = w.struct("app.pos", [("x", "i64"), ("y", "f64"), ("n", "u64")])
    st.set({"x": -5, "y": 0.5, "n": 7})
    w.static("app.version", "2.1")
    w.static("app.cores", 8, units="cores")
    w.static("app.ratio", 0.25)


EXPECTED = {
    "app.requests": 42, "app.in_flight": -2, "app.load": 1.75,
    "app.phase": "héllo wörld, t", "app.cut": "éé", "app.small": 44, "app.ok": True,
    "app.avg": {"mean": 4.5, "last": 6.0, "count": 6, "window": 4},
    "app.pos": {"x": -5, "y": 0.5, "n": 7}, "app.version": "2.1",
    "app.cores": 8, "app.ratio": 0.25,
}


def check(fields):
    got = {n: f["value"] for n, f in fields.items()}
    for n, v in EXPECTED.items():
        assert got[n] == v, n
    size = got["app.size"]
    assert (size["count"], size["sum"], size["min"], size["max"]) == \
        (4, 1006, 1, 1000)
    assert [b[2] for b in size["buckets"]] == [1, 1, 1, 1]
    assert got["app.latency"]["count"] == 3
    assert fields["app.latency"]["units"] == "ns"
    # Windows at 2 s from now hold this second (a complete second then).
    assert fields["app.latency"]["windows"]["60s"]["count"] == 3
    assert fields["app.requests"]["help"] == "requests served"
    assert fields["app.cores"]["flags"] == ["static"]


def test_read_by_mmstat_read(stats_dir, lib, mmstat_read):
    with mmstats3.Writer(label="py") as w:
        write_all(w)
        path = w.path
        running = mmstat_read("--windows-at", LATER(), path)["processes"][0]
    assert running["pid"] == os.getpid()
    assert running["label"] == "py" and running["state"] == "ready"
    check(running["fields"])
    done = mmstat_read("--windows-at", LATER(), path)["processes"][0]
    assert done["state"] == "finished"
    check(done["fields"])


def test_read_by_python_reader(stats_dir, lib):
    w = mmstats3.Writer()
    write_all(w)
    with mmstats3.open(os.getpid()) as s:
        assert s.liveness() == "running"
        check(s.snapshot(windows_at=int(LATER()))["fields"])
    w.close()


def test_threads_add_up(stats_dir, lib, mmstat_read):
    """4 threads x 10000 increments and records: exactly 40000."""
    w = mmstats3.Writer()
    c = w.counter("n")
    h = w.timer("t")

    def work():
        for _ in range(10000):
            c.inc()
            h.record(5)
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    f = mmstat_read(w.path)["processes"][0]["fields"]
    assert f["n"]["value"] == 40000
    assert (f["t"]["value"]["count"], f["t"]["value"]["sum"]) == \
        (40000, 200000)
    w.close()


def test_errors(stats_dir, lib, tmp_path):
    """The library's errors as exceptions with mms_strerror's text."""
    w = mmstats3.Writer()
    with pytest.raises(mmstats3.MmstatsError,
                       match="^bad..name: invalid field name$") as e:
        w.counter("bad..name")
    assert e.value.code == -4006 and e.value.errno is None
    w.counter("x")
    assert w.counter("x") is w.counter("x")   # the same field again
    with pytest.raises(mmstats3.MmstatsError,
                       match="^x: field exists with another kind$"):
        w.gauge("x")
    with pytest.raises(ValueError, match="scalar type"):
        w.scalar("s", "u128")
    with pytest.raises(ValueError, match="only goes up"):
        w.counter("x").add(-1)
    w.close()
    # A closed writer: adding a field fails.
    with pytest.raises(ValueError, match="writer closed"):
        w.counter("y")
    # An existing path (here a directory): an OS error, with its errno.
    with pytest.raises(mmstats3.MmstatsError,
                       match="^cannot create stats file: File exists$") as e:
        mmstats3.Writer(path=str(tmp_path))
    assert e.value.errno == errno.EEXIST


def test_updates_after_close_are_ignored(stats_dir, lib, mmstat_read):
    w = mmstats3.Writer()
    c = w.counter("n")
    c.add(2)
    path = w.path
    w.close()
    c.add(5)                             # no crash, no effect
    assert w.closed
    assert mmstat_read(path)["processes"][0]["fields"]["n"]["value"] == 2


def test_model(stats_dir, lib, mmstat_read):
    class WebStats(mmstats3.Model):
        requests = mmstats3.CounterField(units="requests")
        latency = mmstats3.TimerField()
        workers = mmstats3.GaugeField()
        load = mmstats3.FloatField()
        phase = mmstats3.StringField(capacity=32)
        port = mmstats3.ScalarField("u16", name="net.port")

    with WebStats(prefix="web", label="model") as st:
        st.requests.inc()
        st.requests.add(2)
        with st.latency:
            pass
        st.workers = 4
        st.load = 0.5
        st.phase = "serving"
        st.port = 8080
        with pytest.raises(AttributeError, match="updated through"):
            st.requests = 5
        path = st.writer.path
    f = {n: v["value"] for n, v in
         mmstat_read(path)["processes"][0]["fields"].items()}
    assert f["web.requests"] == 3
    assert f["web.latency"]["count"] == 1
    assert (f["web.workers"], f["web.load"], f["web.phase"],
            f["web.net.port"]) == (4, 0.5, "serving", 8080)


def test_library_lookup(stats_dir, lib, tmp_path):
    """MMSTATS_LIB names the library; a wrong one is an error that says
    where it looked."""
    code = ("import mmstats3\n"
            "try:\n"
            "    mmstats3.load_library()\n"
            "except OSError as e:\n"
            "    print(e)\n")
    env = pyenv(MMSTATS_LIB=str(tmp_path / "nolib.so"),
               LD_LIBRARY_PATH="")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    # Either the system's library was found after the missing path, or
    # the error names the missing path.
    assert out == "" or "nolib.so: no such file" in out
    env["MMSTATS_LIB"] = lib
    out = subprocess.run(
        [sys.executable, "-c",
         "import mmstats3; w = mmstats3.Writer(); w.counter('c').inc(); "
         "print(w.path); w.close()"],
        env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    assert mmstats3.values(out.strip()) == {"c": 1}


def test_fork_child_has_own_file(stats_dir, lib):
    """A forked child writes to a file of its own (the library's default);
    the parent's values are untouched."""
    w = mmstats3.Writer()
    c = w.counter("n")
    c.add(3)
    r, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            c.add(100)
            os.write(wr, b"x")
        finally:
            os._exit(0)
    os.close(wr)
    assert os.read(r, 1) == b"x"
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert mmstats3.values(os.getpid())["n"] == 3
    assert mmstats3.values(pid)["n"] == 100
    w.close()


def test_close_while_threads_update(stats_dir, lib, mmstat_read):
    """close() in one thread while others update: no crash, the updates
    before it counted, those after it ignored."""
    w = mmstats3.Writer()
    c = w.counter("n")
    started = threading.Barrier(5)
    done = []

    def work():
        started.wait()
        for _ in range(20000):
            c.inc()
        done.append(1)
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    started.wait()
    path = w.path
    w.close()
    for t in ts:
        t.join()
    assert len(done) == 4
    n = mmstat_read(path)["processes"][0]["fields"]["n"]["value"]
    assert 0 <= n <= 80000


def test_timer_records_exceptions(stats_dir, lib):
    """A timed block or function that raises is still timed."""
    w = mmstats3.Writer()
    t = w.timer("t")

    @t
    def boom():
        raise KeyError("x")
    with pytest.raises(KeyError):
        boom()
    with pytest.raises(ValueError):
        with t:
            with t:                      # nested, per thread
                raise ValueError("y")
    assert mmstats3.values(w.path)["t"]["count"] == 3
    w.close()


def test_fork_while_lock_held(stats_dir, lib):
    """A child forked while the writer's lock is held (by another thread,
    here by the parent itself) gets a fresh lock: it can update."""
    import select
    w = mmstats3.Writer()
    c = w.counter("n")
    r, wr = os.pipe()
    with w._lock:
        pid = os.fork()
        if pid == 0:
            try:
                c.add(7)
                os.write(wr, b"x")
            finally:
                os._exit(0)
    os.close(wr)
    # A guard against a hang (a deadlocked child), not a speed bound.
    ready, _, _ = select.select([r], [], [], 120)
    got = os.read(r, 1) if ready else b""
    os.close(r)
    if not got:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    assert got == b"x", "the child deadlocked on the inherited lock"
    assert mmstats3.values(pid)["n"] == 7
    w.close()
