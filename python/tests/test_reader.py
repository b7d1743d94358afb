"""The reader API against files written by C programs (the examples) and
by libmmstats through the Python writer; values checked exactly, and
against mmstat-read --json."""

import glob
import json
import os
import struct
import subprocess
import sys

import pytest

import mmstats3

# Subprocesses import the same mmstats3 as this test (installed or not).
def pyenv(**kw):
    return dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(mmstats3.__file__)), **kw)


def only(pattern):
    files = glob.glob(pattern)
    assert len(files) == 1, files
    return files[0]


def test_c_writer_exact_values(stats_dir, example):
    """examples/model: 1000 requests, every 100th an error, the last path
    /index.html, 1000 timed requests."""
    example("model")
    path = sorted(glob.glob(os.path.join(stats_dir, "model-*.mmstats")))[0]
    with mmstats3.open(path) as s:
        assert s.exe == "model"
        assert s.liveness() == "finished"
        snap = s.snapshot()
    f = {n: v["value"] for n, v in snap["fields"].items()}
    assert f["requests"] == 1000
    assert f["errors"] == 10
    assert f["in_flight"] == 0
    assert f["last_path"] == "/index.html"
    assert f["latency"]["count"] == 1000
    assert 0 < f["latency"]["min"] <= f["latency"]["max"]
    assert snap["fields"]["requests"]["help"] == "requests served"
    assert snap["fields"]["latency"]["units"] == "ns"
    assert snap["fields"]["latency"]["flags"] == ["sharded", "window"]
    assert snap["state"] == "finished" and snap["rollup"] is None


def test_c_writer_by_pid(stats_dir, example, mmstat_read):
    """examples/basic with 2 threads for 1 s: its statics and last values
    exactly; the counters as mmstat-read reads them; by pid as by path."""
    out = example("basic", "1", "2")
    pid = int(out.split()[1])
    v = mmstats3.values(pid)
    assert v["app.threads"] == 2
    assert v["app.version"] == "1.0"
    assert v["app.phase"] == "done"
    assert v["app.in_flight"] == 0
    assert v["app.load"] == 0.9
    # Thread i adds 100 + i bytes per request.
    assert 0 <= v["app.bytes"] - 100 * v["app.requests"] <= v["app.requests"]
    c = mmstat_read(str(pid))["processes"][0]["fields"]
    assert {n: f["value"] for n, f in c.items()} == v
    assert mmstats3.values(str(pid)) == v
    assert mmstats3.snapshot(pid, filters=["app.b*"])["fields"].keys() == \
        {"app.bytes"}


def test_open_errors(stats_dir, tmp_path):
    with pytest.raises(mmstats3.StatsError, match="no stats file found"):
        mmstats3.open(999999999)
    bad = tmp_path / "bad.mmstats"
    bad.write_bytes(b"x" * 8192)
    bad.chmod(0o600)
    with pytest.raises(mmstats3.StatsError,
                       match=r"not an mmstats file \(bad magic\)"):
        mmstats3.open(str(bad))
    with pytest.raises(mmstats3.StatsError,
                       match="No such file or directory"):
        mmstats3.open(str(tmp_path / "missing.mmstats"))
    # Format version 2 (before issue 12's version 3): refused, saying so.
    old = tmp_path / "old.mmstats"
    old.write_bytes(b"MMSTATS\0" + struct.pack("<IHH", 0x01020304, 2, 0) +
                    b"\0" * 8176)
    old.chmod(0o600)
    with pytest.raises(mmstats3.StatsError,
                       match="version 2 file: written by an older mmstats"):
        mmstats3.open(str(old))


def test_list_dir_liveness(stats_dir, lib, tmp_path):
    """A running writer (this process), a finished one, one killed (stale)
    and a file that is not a stats file: each listed as it is."""
    w = mmstats3.Writer(label="running")
    done = mmstats3.Writer(label="done")
    done.close()
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os, mmstats3; w = mmstats3.Writer(label='killed'); "
         "print(w.path, flush=True); os.kill(os.getpid(), 9)"],
        stdout=subprocess.PIPE, text=True, env=pyenv())
    assert killed.returncode == -9
    with open(os.path.join(stats_dir, "junk-1.mmstats"), "wb") as f:
        f.write(b"\0" * 4096)
    os.chmod(os.path.join(stats_dir, "junk-1.mmstats"), 0o600)
    got = {(fi.label or os.path.basename(fi.path)): fi
           for fi in mmstats3.list_dir()}
    assert set(got) == {"running", "done", "killed", "junk-1.mmstats"}
    assert got["running"].liveness == "running"
    assert got["running"].pid == os.getpid()
    assert got["done"].liveness == "finished"
    assert got["killed"].liveness == "stale"
    assert got["killed"].path == killed.stdout.strip()
    assert got["junk-1.mmstats"].error == "not an mmstats file (bad magic)"
    assert not any(fi.rollup for fi in got.values())
    w.close()
    with pytest.raises(FileNotFoundError):
        mmstats3.list_dir(str(tmp_path / "none"))


def test_watch_deltas(stats_dir, lib):
    """Deltas between snapshots: exactly what was added in between."""
    w = mmstats3.Writer()
    c = w.counter("ops")
    h = w.histogram("size", units="bytes")
    g = w.gauge("depth")
    path = w.path
    it = mmstats3.watch(path, interval=0.01, deltas=True)
    first = next(it)
    assert first["fields"]["ops"]["delta"] == 0
    for n in (5, 7):
        c.add(n)
        h.record(n * 10)
        g.set(n)
        d = next(it)
        assert d["fields"]["ops"]["delta"] == n
        assert d["fields"]["ops"]["rate"] > 0
        assert d["fields"]["size"]["count"] == 1
        assert d["fields"]["size"]["sum"] == n * 10
        assert d["fields"]["depth"]["value"] == n
        assert d["interval_s"] > 0
    it.close()
    # Plain snapshots; the watch ends with the writer.
    snaps = mmstats3.watch(path, interval=0.01, count=2)
    assert next(snaps)["fields"]["ops"]["value"] == 12
    w.close()
    last = list(snaps)
    assert len(last) == 1 and last[0]["state"] == "finished"
    assert list(mmstats3.watch(path, interval=0.01, deltas=True)) == []


def test_tables(stats_dir, lib, mmstat_read):
    """A keyed table written through the library: records merged over
    threads, the overflow record when full, every member kind."""
    import threading
    w = mmstats3.Writer()
    t = w.table("io.by_path", [("calls", "sum"), ("delta", "sum_i64"),
                               ("largest", "max"), ("smallest", "min"),
                               ("sizes", "hist"), ("slowest", "maxarg")],
                capacity=3, help="per path")

    def work(k):
        r = t.record("/etc/passwd")
        for i in range(1, 101):
            r.update("calls", 1)
            r.update("delta", -2)
            r.update("largest", i * (k + 1))
            r.update("smallest", i + k)
            r.update("sizes", i)
            r.maxarg("slowest", i * 10 + k, 1000 + k)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t["/tmp/x"].update("calls", 4)
    other = t.record(b"/full")           # capacity 3: (other), 2 keys
    assert other.overflow
    other.update("calls", 9)
    tab = mmstats3.open(w.path).tables()["io.by_path"]
    assert tab["help"] == "per path"
    assert tab["capacity"] == 3 and tab["nrecords"] == 3
    assert tab["overflow_hits"] == 1
    assert tab["members"]["sizes"] == {"kind": "hist", "units": ""}
    recs = {r["key"]: r for r in tab["records"]}
    assert set(recs) == {"(other)", "/etc/passwd", "/tmp/x"}
    m = recs["/etc/passwd"]["members"]
    assert m["calls"] == 300
    assert m["delta"] == -600
    assert m["largest"] == 300
    assert m["smallest"] == 1
    assert (m["sizes"]["count"], m["sizes"]["sum"], m["sizes"]["min"],
            m["sizes"]["max"]) == (300, 3 * 5050, 1, 100)
    assert sum(b[2] for b in m["sizes"]["buckets"]) == 300
    assert m["slowest"] == {"max": 1002, "arg": 1002}
    assert recs["/tmp/x"]["members"]["calls"] == 4
    assert recs["(other)"]["overflow"] and \
        recs["(other)"]["members"]["calls"] == 9
    assert recs["/etc/passwd"]["key_bytes"] == b"/etc/passwd"
    w.close()


def test_rollup(stats_dir, lib):
    """A rollup (docs/format.md section 15): flagged in the header, its
    group and fold counts read; rollups() lists it by group. Made here by
    patching a finished file's header (the fold is mmstat-clean's)."""
    w = mmstats3.Writer()
    w.counter("n").add(3)
    path = w.path
    w.close()
    rpath = os.path.join(stats_dir, "app@rollup.mmstats")
    os.rename(path, rpath)
    with open(rpath, "r+b") as f:
        flags = struct.unpack("<I", os.pread(f.fileno(), 4, 24))[0]
        os.pwrite(f.fileno(), struct.pack("<I", flags | 1), 24)
        os.pwrite(f.fileno(), struct.pack("<Qqq", 4, 11, 22), 1712)
        os.pwrite(f.fileno(), b"app\0", 1736)
    (fi,) = mmstats3.list_dir()
    assert fi.rollup
    r = mmstats3.rollups()
    assert list(r) == ["app"]
    assert r["app"]["rollup"]["fold_procs"] == 4
    assert (r["app"]["rollup"]["fold_first_ns"],
            r["app"]["rollup"]["fold_last_ns"]) == (11, 22)
    assert r["app"]["fields"]["n"]["value"] == 3


def test_cli_equals_mmstat_read(stats_dir, example, mmstat_read):
    """python3 -m mmstats3 prints mmstat-read --json's document (the
    comparison of every kind and of bad files is test_tools_python.sh's;
    this checks the package's entry point)."""
    example("model")
    sync = subprocess.run(["sync"], check=True)
    assert sync.returncode == 0
    now = str(__import__("time").clock_gettime_ns(1))
    c = mmstat_read("--windows-at", now)
    p = json.loads(subprocess.run(
        [sys.executable, "-m", "mmstats3", "--windows-at", now],
        check=True, stdout=subprocess.PIPE, env=pyenv()).stdout)
    for d in (c, p):
        for proc in d["processes"]:
            del proc["snapshot_real_ns"], proc["snapshot_mono_ns"]
    assert p == c
    assert len(p["processes"]) >= 1


def test_heap_profile(stats_dir, build_path):
    """Stats.heap() on the known-sites program run under the shim
    (MMSTATS_HEAP_SAMPLE=8K: estimates within about 3%): leak_here first
    by live bytes (10 MiB in 1,000 blocks), churn_here first by allocated
    bytes (100 MiB, nothing live), big_here nothing live; the same sites
    and figures as mmstat-read --heap --json; None without a profile."""
    shim = build_path("preload/libmmstats_preload.so")
    sites = build_path("tests/integration/progs/heap_sites")
    read = build_path("tools/mmstat-read")
    env = dict(os.environ, LD_PRELOAD=shim, MMSTATS_HEAP_SAMPLE="8K")
    subprocess.run([sites], check=True, env=env, stdout=subprocess.PIPE)
    path = only(os.path.join(stats_dir, "heap_sites-*.mmstats"))
    with mmstats3.open(path) as s:
        h = s.heap()
    mib = 1 << 20

    def fn(site):
        return site["stack"][0]["function"]

    top = h["by_live"][0]
    assert fn(top) == "leak_here"
    assert abs(top["live_bytes"] - 10 * mib) < mib
    assert abs(top["live_allocs"] - 1000) < 100
    top = h["by_allocated"][0]
    assert fn(top) == "churn_here" and top["live_bytes"] == 0
    assert abs(top["bytes"] - 100 * mib) < 10 * mib
    big = [x for x in h["by_allocated"] if fn(x) == "big_here"]
    assert len(big) == 1 and big[0]["live_bytes"] == 0
    assert h["untracked"] == 0 and h["negative_sites"] == 0
    c = json.loads(subprocess.run([read, "--heap", "--json", path],
                                  check=True, stdout=subprocess.PIPE).stdout)
    c = c["heaps"][0]["heap"]
    for order in ("by_live", "by_allocated"):
        for x in c[order] + h[order]:
            for fr in x["stack"]:
                del fr["file"], fr["line"]
    assert h == c

    env["MMSTATS_HEAP_SAMPLE"] = "0"
    subprocess.run([sites], check=True, env=env, stdout=subprocess.PIPE)
    other = [p for p in glob.glob(os.path.join(stats_dir, "heap_sites-*"))
             if p != path]
    assert len(other) == 1
    with mmstats3.open(other[0]) as s:
        assert s.heap() is None
