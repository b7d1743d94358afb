#!/usr/bin/env python3
"""The overhead benchmarks: every figure is a ratio to the bare program
measured in the same run, never an absolute time on its own.

Run by scripts/bench (which builds and installs the peers); see
docs/performance.md for what each table means.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MODES = ["write", "read", "open-close", "malloc", "calloc-realloc", "stdio",
         "send-recv", "mutex"]
MEM_MODES = {"malloc", "calloc-realloc"}


class Bench:
    def __init__(self, build, quick, out_dir):
        self.b = build
        self.quick = quick
        self.out_dir = out_dir
        self.reps = 3 if quick else 5
        self.tmp = tempfile.mkdtemp(prefix="mmstats-bench-")
        # Stats files on a tmpfs, as with the default $XDG_RUNTIME_DIR:
        # on a disk file system, creating one costs a journaled create,
        # fallocate and page faults (see docs/performance.md, start-up).
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else self.tmp
        self.stats_root = tempfile.mkdtemp(prefix="mmstats-bench-", dir=shm)
        self.stats_dir = os.path.join(self.stats_root, "stats")
        self.loadgen = os.path.join(build, "bench/loadgen")
        self.preload = os.path.join(build, "preload/libmmstats_preload.so")
        self.ref = os.path.join(build, "bench/libref_shim.so")
        self.ref_clock = os.path.join(build, "bench/libref_shim_clock.so")
        self.results = {"machine": machine_facts(), "date":
                        time.strftime("%Y-%m-%d %H:%M:%S"),
                        "commit": git_commit(), "quick": quick}
        self.md = []

    # ---------------------------------------------------------- helpers
    def env(self, preload=None, **extra):
        e = dict(os.environ)
        e.pop("LD_PRELOAD", None)
        e["MMSTATS_DIR"] = self.stats_dir
        if preload:
            e["LD_PRELOAD"] = preload
        e.update({k: str(v) for k, v in extra.items()})
        return e

    def loadgen_ns(self, mode, n, threads=1, wrap=(), env=None, wall=False):
        """ns per op as loadgen measures its own loop (WALL: the time of
        all threads' loops, first start to last end, per call of all)."""
        cmd = list(wrap) + [self.loadgen, mode, str(n), str(threads)]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"{cmd}: {p.stderr.strip()[-300:]}")
        # The last line is loadgen's; peers print their own reports.
        for line in reversed(p.stdout.splitlines()):
            f = line.split()
            if len(f) == 5 and f[0] == mode:
                return float(f[4] if wall else f[3])
        raise RuntimeError(f"{cmd}: no result in {p.stdout!r}")

    def median(self, fn):
        return statistics.median(fn() for _ in range(self.reps))

    def rounds(self, fns, base="bare"):
        """Runs each figure of FNS (name -> function) once a round, the
        order alternating (ABC, CBA, ABC...), for self.reps rounds: a
        noisy machine's load then falls on every variant alike. Returns
        name -> {"value": median, "ratio": median of the rounds' ratios
        to BASE's figure of the same round}; a function that raises
        RuntimeError or times out is left out, with a note."""
        got = {name: [] for name in fns}
        names = list(fns)
        for rnd in range(self.reps):
            for name in names if rnd % 2 == 0 else names[::-1]:
                if got[name] is None:
                    continue
                try:
                    got[name].append(fns[name]())
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print(f"  {name}: failed ({e})")
                    got[name] = None
        res = {}
        for name, vals in got.items():
            if vals is None:
                continue
            ratios = [v / b for v, b in zip(vals, got[base])]
            res[name] = {"value": statistics.median(vals),
                         "ratio": statistics.median(ratios)}
        return res

    def table(self, title, header, rows, note=None):
        self.md.append(f"\n### {title}\n")
        if note:
            self.md.append(note + "\n")
        self.md.append("| " + " | ".join(header) + " |")
        self.md.append("|" + "---|" * len(header))
        for r in rows:
            self.md.append("| " + " | ".join(str(c) for c in r) + " |")
        print(f"\n== {title}")
        widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows])
                  for i, h in enumerate(header)]
        print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
        for r in rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
        sys.stdout.flush()

    # ------------------------------------------------------- per call
    def per_call(self):
        n = 200000 if self.quick else 1000000
        slow_n = n // 20  # strace/ltrace/heaptrack: ~40-160x slower
        variants = [
            ("bare", lambda m: self.env()),
            ("ref shim", lambda m: self.env(self.ref)),
            ("ref shim+clock", lambda m: self.env(self.ref_clock)),
            ("mmstats count", lambda m: self.env(self.preload,
                                                 MMSTATS_TIMING="off")),
            ("mmstats timed", lambda m: self.env(
                self.preload, MMSTATS_TIMING="on",
                MMSTATS_TIMING_MEM="on" if m in MEM_MODES else "off")),
        ]
        peers = []
        if shutil.which("strace"):
            peers.append(("strace -c", ["strace", "-f", "-c", "-o",
                                         os.devnull], None))
        if shutil.which("ltrace"):
            peers.append(("ltrace -c", ["ltrace", "-c", "-o", os.devnull],
                          None))
        if shutil.which("heaptrack"):
            peers.append(("heaptrack", ["heaptrack", "-o",
                                         os.path.join(self.tmp, "ht")],
                          MEM_MODES))
        # malloc and free time 1 call in MMSTATS_TIMING_MEM_SAMPLE (4):
        # the mem modes' every-call timing too.
        every = "mmstats timed, every call"
        rows, out = [], {}
        for mode in MODES:
            fns = {name: (lambda e=envf(mode): self.loadgen_ns(mode, n,
                                                               env=e))
                   for name, envf in variants}
            if mode in MEM_MODES:
                fns[every] = (lambda m=mode: self.loadgen_ns(
                    m, n, env=self.env(self.preload, MMSTATS_TIMING="on",
                                       MMSTATS_TIMING_MEM="on",
                                       MMSTATS_TIMING_MEM_SAMPLE="1")))
            for name, wrap, only in peers:
                if only and mode not in only:
                    continue
                if name == "strace -c" and (mode in MEM_MODES or
                                            mode == "mutex"):
                    continue  # strace sees system calls only
                if name == "ltrace -c" and mode not in ("write", "malloc"):
                    continue  # ltrace is slow and unstable: two modes
                fns[name] = (lambda w=wrap: self.loadgen_ns(
                    mode, slow_n, wrap=w, env=self.env()))
            got = self.rounds(fns)
            res = {k: v["value"] for k, v in got.items()}
            bare = res["bare"]
            out[mode] = res
            rows.append([mode, f"{bare:.1f}"] + [
                f"{got[k]['value']:.1f} ({got[k]['ratio']:.2f}x)"
                if k in got else "-"
                for k in [v[0] for v in variants[1:]] + [every] +
                [p[0] for p in peers]
            ])
        self.results["per_call_ns"] = out
        header = (["mode", "bare ns/op"] + [v[0] for v in variants[1:]] +
                  [every] + [p[0] for p in peers])
        self.table("Per-call cost (median ns/op, ratio to bare)", header, rows,
                   f"{self.reps} rounds, each running every variant once "
                   f"in alternating order; the ratio is the median of the "
                   f"rounds' ratios to the bare run of the same round. "
                   f"N={n} ({slow_n} under peers).")
        # Overhead per call relative to peers: (peer - bare)/(ours - bare).
        rows = []
        for mode in MODES:
            r = out[mode]
            ours = r["mmstats count"] - r["bare"]
            for name, _, _ in peers:
                if name in r and ours > 0:
                    rows.append([mode, name,
                                 f"{(r[name] - r['bare']) / ours:.0f}x"])
        if rows:
            self.table("Peers' overhead per call / ours (count mode)",
                       ["mode", "peer", "ratio"], rows)

    # ------------------------------------------------ instruction count
    def instructions(self):
        if not shutil.which("valgrind"):
            print("valgrind missing: no instruction counts")
            return
        n = 20000 if self.quick else 100000
        rows, out = [], {}
        for mode in ["write", "malloc", "read", "open-close", "stdio",
                     "mutex", "send-recv", "calloc-realloc", "aligned",
                     "sem"]:
            fn = "loop_" + mode.replace("-", "_")
            res = {}
            for name, pre, extra in [
                    ("bare", None, {}),
                    ("ref shim", self.ref, {}),
                    ("mmstats count", self.preload, {"MMSTATS_TIMING": "off"}),
                    ("mmstats timed", self.preload,
                     {"MMSTATS_TIMING": "on", "MMSTATS_TIMING_MEM": "on"}),
                    ("mmstats off", self.preload, {"MMSTATS_DISABLE": "1"})]:
                cg = os.path.join(self.tmp, "cg.out")
                cmd = ["valgrind", "--tool=callgrind",
                       f"--callgrind-out-file={cg}",
                       f"--toggle-collect={fn}", self.loadgen, mode, str(n)]
                subprocess.run(cmd, env=self.env(pre, **extra),
                               capture_output=True, timeout=600, check=True)
                with open(cg) as f:
                    m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(),
                                  re.M)
                res[name] = int(m.group(1)) / n
            out[mode] = res
            b = res["bare"]
            rows.append([mode, f"{b:.0f}"] + [
                f"{res[k]:.0f} (+{res[k] - b:.0f})"
                for k in ["ref shim", "mmstats count", "mmstats timed",
                          "mmstats off"]])
        self.results["instructions_per_op"] = out
        self.table("User instructions per loop iteration (callgrind)",
                   ["mode", "bare", "ref shim", "mmstats count",
                    "mmstats timed", "MMSTATS_DISABLE=1"], rows,
                   "Counted by callgrind in the loop function only: no "
                   "noise. A malloc iteration is one malloc and one free; "
                   "a mutex iteration an uncontended lock and unlock (the "
                   "sync family's fast path: a try, no clock); an aligned "
                   "iteration one aligned allocation and its free; a sem "
                   "iteration a sem_post and an uncontended sem_wait; "
                   "system calls themselves are not counted.")

    # ------------------------------------------------- per-file records
    def files(self):
        """The per-file records' cost (issue 15): callgrind instructions
        per call in the loop, counting mode without the files family
        against counting mode with it, the loop's file tracked (loadgen
        uses /dev/null and /dev/zero, which the default exclusions leave
        out: MMSTATS_FILES_EXCLUDE=none gives them records)."""
        if not shutil.which("valgrind"):
            print("valgrind missing: no per-file figures")
            return
        n = 20000 if self.quick else 100000
        variants = [
            ("count, no files", {"MMSTATS_TIMING": "off",
                                 "MMSTATS_HOOKS": "all,-files"}),
            ("count, files", {"MMSTATS_TIMING": "off",
                              "MMSTATS_FILES_EXCLUDE": "none"}),
            ("timed, no files", {"MMSTATS_TIMING": "on",
                                 "MMSTATS_HOOKS": "all,-files"}),
            ("timed, files", {"MMSTATS_TIMING": "on",
                              "MMSTATS_FILES_EXCLUDE": "none"}),
        ]
        rows, out = [], {}
        for mode in ["write", "read", "open-close"]:
            fn = "loop_" + mode.replace("-", "_")
            res = {}
            for name, extra in variants:
                cg = os.path.join(self.tmp, "cg.out")
                cmd = ["valgrind", "--tool=callgrind",
                       f"--callgrind-out-file={cg}",
                       f"--toggle-collect={fn}", self.loadgen, mode, str(n)]
                subprocess.run(cmd, env=self.env(self.preload, **extra),
                               capture_output=True, timeout=600, check=True)
                with open(cg) as f:
                    m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(),
                                  re.M)
                res[name] = int(m.group(1)) / n
            out[mode] = res
            rows.append([mode] + [f"{res[v[0]]:.0f}" for v in variants] + [
                f"+{res['count, files'] - res['count, no files']:.0f}",
                f"+{res['timed, files'] - res['timed, no files']:.0f}"])
        self.results["files_instructions_per_op"] = out
        self.table("Per-file records: user instructions per call (callgrind)",
                   ["mode"] + [v[0] for v in variants] +
                   ["records, counting", "records, timed"], rows,
                   "The loop's descriptor has a record "
                   "(MMSTATS_FILES_EXCLUDE=none); goal: a 1-byte write "
                   "costs at most 40 more in counting mode. An open-close "
                   "iteration is one open and one close of /dev/null.")

    # ---------------------------------------------------------- threads
    THREADS = [1, 2, 8, 64, 100, 500]

    def cg_threads(self, mode, n, t, env):
        """User instructions per call of MODE's loop with T threads, the
        marginal cost: runs of N and of 2N calls a thread, differenced,
        over T x N calls. loadgen makes each thread's first call (its
        shard and cells) before the loop; the difference also drops what
        a thread's first loop iterations cost once (the malloc loop's
        live set filling up, its first heap sample). Callgrind runs the
        threads one at a time: no contention, only the path each call
        takes."""
        cg = os.path.join(self.tmp, "cg.out")
        total = []
        for calls in (n, 2 * n):
            cmd = ["valgrind", "--tool=callgrind",
                   f"--callgrind-out-file={cg}", "--max-threads=1100",
                   f"--toggle-collect=loop_{mode}", self.loadgen, mode,
                   str(calls), str(t)]
            subprocess.run(cmd, env=env, capture_output=True, timeout=1800,
                           check=True)
            with open(cg) as f:
                m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(),
                              re.M)
            total.append(int(m.group(1)))
        return (total[1] - total[0]) / (n * t)

    def threads(self):
        """Thread scaling: the same total of calls spread over 1 to 500
        threads that run at once (loadgen's barrier). Each round runs every
        variant once, in alternating order (ABAB...); a round's ratios are
        to its own bare and reference runs; the table shows medians."""
        total = 200000 if self.quick else 1000000
        cores = os.cpu_count() or 1
        variants = [("bare", self.env()), ("ref shim", self.env(self.ref)),
                    ("mmstats count", self.env(self.preload,
                                               MMSTATS_TIMING="off")),
                    ("mmstats default", self.env(self.preload))]
        rows, out = [], {}
        for mode in ["write", "malloc"]:
            for t in self.THREADS:
                n = max(total // t, 1000)
                ns = {name: [] for name, _ in variants}
                vs_bare = {name: [] for name, _ in variants}
                vs_ref = {name: [] for name, _ in variants}
                for rnd in range(self.reps):
                    order = variants if rnd % 2 == 0 else variants[::-1]
                    got = {}
                    for name, envv in order:
                        # The wall time of all loops per call, times the
                        # threads that can run at once: CPU time per call.
                        got[name] = self.loadgen_ns(
                            mode, n, t, env=envv, wall=True) * min(t, cores)
                    for name, _ in variants:
                        ns[name].append(got[name])
                        vs_bare[name].append(got[name] / got["bare"])
                        vs_ref[name].append(got[name] / got["ref shim"])
                res = {name: {"ns": statistics.median(ns[name]),
                              "vs_bare": statistics.median(vs_bare[name]),
                              "vs_ref": statistics.median(vs_ref[name])}
                       for name, _ in variants}
                if shutil.which("valgrind"):
                    m = max((20000 if self.quick else 100000) // t, 500)
                    for name, envv in variants[:3]:
                        res[name]["instructions"] = self.cg_threads(
                            mode, m, t, envv)
                out.setdefault(mode, {})[t] = res
                b, c, d = (res["bare"], res["mmstats count"],
                           res["mmstats default"])
                ins = (f"+{c['instructions'] - b['instructions']:.0f} "
                       f"(ref +{res['ref shim']['instructions'] - b['instructions']:.0f})"
                       if "instructions" in c else "-")
                rows.append([mode, t, f"{b['ns']:.1f}",
                             f"{res['ref shim']['vs_bare']:.2f}x",
                             f"{c['vs_bare']:.2f}x", f"{c['vs_ref']:.2f}x",
                             f"{d['vs_bare']:.2f}x", f"{d['vs_ref']:.2f}x",
                             ins])
        self.results["threads"] = out
        self.table("Threads: CPU ns per call, ratios to bare and to the "
                   "reference shim",
                   ["loop", "threads", "bare ns", "ref/bare",
                    "count/bare", "count/ref", "default/bare",
                    "default/ref", "instructions (count, callgrind)"], rows,
                   f"loadgen MODE N THREADS: the threads start on a barrier "
                   f"and run at once, {total:,} calls in all (a malloc loop "
                   f"iteration is one malloc and one free, 16..4096 bytes); "
                   f"ns = the wall time from the first loop's start to the "
                   f"last one's end per call x min(threads, {cores} cores). "
                   f"Ratios: median over "
                   f"{self.reps} rounds, each round running every variant "
                   f"once in alternating order. Instructions: user "
                   f"instructions per call over bare, the loop only (each "
                   f"thread's first call is made before it), the difference "
                   f"between runs of N and 2N calls a thread. Goal: "
                   f"flat, no cache line shared on the update path.")

    # ----------------------------------------------------- whole program
    def programs(self):
        work = os.path.join(self.tmp, "prog")
        os.makedirs(work)
        big = os.path.join(work, "big")
        with open(big, "wb") as f:
            f.write(os.urandom(1 << 20) * (8 if self.quick else 32))
        src = os.path.join(work, "proj")
        os.makedirs(src)
        for i in range(16):
            with open(os.path.join(src, f"f{i}.c"), "w") as f:
                f.write(f"int f{i}(int x) {{ return x * {i} + 1; }}\n")
        with open(os.path.join(src, "Makefile"), "w") as f:
            objs = " ".join(f"f{i}.o" for i in range(16))
            f.write(f"all: {objs}\n%.o: %.c\n\tcc -O1 -c $< -o $@\n"
                    "clean:\n\trm -f *.o\n")
        dd_count = 20000 if self.quick else 100000
        progs = [
            ("dd bs=512", ["dd", "if=/dev/zero", "of=/dev/null", "bs=512",
                           f"count={dd_count}"], None),
            ("tar", ["tar", "cf", "/dev/null", "-C",
                     os.path.dirname(self.b.rstrip("/")) or ".",
                     os.path.basename(self.b.rstrip("/"))], None),
            ("python3 start-up", ["python3", "-c", "pass"], None),
            ("make -j2", ["make", "-s", "-j2", "-C", src],
             ["make", "-s", "-C", src, "clean"]),
            ("gzip", ["gzip", "-c", big], None),
            ("/bin/true", ["/bin/true"], None),
        ]
        disk_env = dict(self.env(self.preload),
                        MMSTATS_DIR=os.path.join(self.tmp, "disk-stats"))
        variants = [("bare", [], self.env()),
                    ("mmstats", [], self.env(self.preload)),
                    ("mmstats, files on disk", [], disk_env),
                    ("strace -c", ["strace", "-f", "-c", "-o", os.devnull],
                     self.env())]
        rows, out = [], {}
        for name, cmd, before in progs:
            loops = 50 if name == "/bin/true" else 1

            def once(wrap, envv, cmd=cmd, before=before, loops=loops):
                if before:
                    subprocess.run(before, check=True, capture_output=True)
                t0 = time.perf_counter()
                for _ in range(loops):
                    subprocess.run(wrap + cmd, env=envv, check=True,
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                return (time.perf_counter() - t0) / loops * 1000
            got = self.rounds({
                vname: (lambda w=wrap, e=envv: once(w, e))
                for vname, wrap, envv in variants
                if not vname.startswith("strace") or shutil.which("strace")})
            out[name] = {k: v["value"] for k, v in got.items()}
            rows.append([name, f"{got['bare']['value']:.2f}"] + [
                f"{got[k]['value']:.2f} ({got[k]['ratio']:.2f}x)"
                if k in got else "-"
                for k in ["mmstats", "mmstats, files on disk", "strace -c"]])
        self.results["programs_ms"] = out
        self.table("Whole programs: wall time (ms, median)",
                   ["program", "bare", "mmstats (timed, tmpfs)",
                    "mmstats (files on ext4)", "strace -c"], rows,
                   f"Medians of {self.reps} rounds, each running every "
                   "variant once in alternating order; ratios to the bare "
                   "run of the same round. "
                   "/bin/true is the start-up cost: the mean of 50 runs. "
                   "Stats files on a tmpfs (/dev/shm here; "
                   "$XDG_RUNTIME_DIR by default) or on the disk.")
        # Stats files written by these runs are discarded.
        shutil.rmtree(self.stats_dir, ignore_errors=True)

    # ---------------------------------------------------------- start-up
    def spawnloop(self, rounds, variants, cmd):
        """Median wall and CPU microseconds and minor page faults of CMD
        under each variant (a dict of environment changes; "" removes),
        interleaved ABAB by bench/spawnloop."""
        specs = [" ".join(f"{k}={v}" for k, v in var.items()) or "-"
                 for var in variants]
        base = dict(os.environ)
        base.pop("LD_PRELOAD", None)
        p = subprocess.run([os.path.join(self.b, "bench/spawnloop"),
                            str(rounds)] + specs + ["--"] + cmd, env=base,
                           capture_output=True, text=True, timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"spawnloop {cmd}: {p.stderr.strip()[-300:]}")
        out = []
        for line in p.stdout.splitlines():
            f = line.split()
            out.append((float(f[3]), float(f[5]), float(f[7])))
        return out

    def callgrind_total(self, cmd, env):
        """Instructions of a whole run of CMD (user space, callgrind)."""
        cg = os.path.join(self.tmp, "cg-total.out")
        p = subprocess.run(["valgrind", "--tool=callgrind",
                            f"--callgrind-out-file={cg}"] + cmd, env=env,
                           capture_output=True, text=True, timeout=900)
        m = re.search(r"Collected : (\d+)", p.stderr)
        return int(m.group(1)) if m else None

    def startup(self):
        shm = os.path.join(self.stats_root, "startup")
        disk = os.path.join(self.tmp, "startup-disk")
        pre, ref = os.path.abspath(self.preload), os.path.abspath(self.ref)
        variants = [
            ("bare", {}),
            ("mmstats (tmpfs)", {"LD_PRELOAD": pre, "MMSTATS_DIR": shm}),
            ("mmstats (ext4)", {"LD_PRELOAD": pre, "MMSTATS_DIR": disk}),
            ("MMSTATS_EAGER=1 (tmpfs)", {"LD_PRELOAD": pre,
                                         "MMSTATS_DIR": shm,
                                         "MMSTATS_EAGER": 1}),
            ("MMSTATS_EAGER=1 (ext4)", {"LD_PRELOAD": pre,
                                        "MMSTATS_DIR": disk,
                                        "MMSTATS_EAGER": 1}),
            ("MMSTATS_DISABLE=1", {"LD_PRELOAD": pre,
                                   "MMSTATS_DISABLE": 1}),
            ("reference shim", {"LD_PRELOAD": ref}),
        ]
        envs = [v for _, v in variants]
        loop = ["/bin/bash", "-c", "for i in $(seq 200); do /bin/true; done"]
        true_r = self.spawnloop(100 if self.quick else 400, envs,
                                ["/bin/true"])
        bash_r = self.spawnloop(3 if self.quick else 7, envs, loop)
        # Exact figures: instructions of a whole /bin/true. valgrind's
        # launcher runs under the shim too and would park its file at the
        # exec for /bin/true to fold: MMSTATS_KEEP=all keeps it (so the
        # eager row has no sweep).
        ins = {}
        if shutil.which("valgrind"):
            for name, var in variants[:2] + variants[3:4]:
                e = dict(os.environ)
                e.pop("LD_PRELOAD", None)
                e.update({k: str(v) for k, v in var.items()})
                if "LD_PRELOAD" in var:
                    e["MMSTATS_KEEP"] = "all"
                ins[name] = self.callgrind_total(["/bin/true"], e)
        rows, out = [], {}
        b_true, b_loop = true_r[0], bash_r[0]
        for (name, _), t, l in zip(variants, true_r, bash_r):
            out[name] = {"true_wall_us": t[0], "true_cpu_us": t[1],
                         "true_minflt": t[2],
                         "bash_loop_wall_ms": l[0] / 1000,
                         "bash_loop_cpu_ms": l[1] / 1000,
                         "bash_loop_minflt": l[2],
                         "true_instructions": ins.get(name)}
            i = ins.get(name)
            rows.append([
                name, f"{t[0]:.0f} ({t[0] / b_true[0]:.2f}x)",
                f"{t[1]:.0f} ({t[1] / b_true[1]:.2f}x)", f"{t[2]:.0f}",
                f"{i:,} ({i / ins['bare']:.2f}x)" if i and ins.get("bare")
                else "-",
                f"{l[0] / 1000:.1f} ({l[0] / b_loop[0]:.2f}x)",
                f"{l[1] / 1000:.1f} ({l[1] / b_loop[1]:.2f}x)",
                f"{l[2]:.0f}"])
        self.results["startup"] = out
        self.table("Start-up: /bin/true and a bash loop of 200 /bin/true",
                   ["variant", "/bin/true wall us", "/bin/true CPU us",
                    "/bin/true faults", "/bin/true instructions",
                    "bash loop wall ms", "bash loop CPU ms",
                    "bash loop faults"], rows,
                   "Medians of runs interleaved ABAB by bench/spawnloop "
                   "(posix_spawn, wait4: CPU is user + system, the kernel's "
                   "precise run time; faults: minor page faults, of the "
                   "process and its waited children); instructions: "
                   "callgrind, the whole run. In the bash loop bash itself "
                   "runs under the shim and so does every /bin/true.")
        shutil.rmtree(shm, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)

    # ------------------------------------------------------------ reader
    def readers(self):
        self.reader()
        self.reader_fleet()

    def reader(self):
        bigfile = os.path.join(self.b, "bench/bigfile")
        read = os.path.join(self.b, "tools/mmstat-read")
        p = subprocess.Popen([bigfile, "10000", "64", "10"], env=self.env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        path = p.stdout.readline().strip()
        try:
            size = os.stat(path).st_blocks * 512
            def one(args):
                # CPU (user + system) and peak RSS of that one process,
                # from wait4: the kernel's precise run time, not the
                # scheduler tick of os.times().
                c = subprocess.Popen([read] + args + [path], env=self.env(),
                                     stdout=subprocess.DEVNULL)
                _, st, ru = os.wait4(c.pid, 0)
                c.returncode = os.waitstatus_to_exitcode(st)
                if c.returncode:
                    raise RuntimeError(f"mmstat-read {args}: {c.returncode}")
                return (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_maxrss
            reps = self.reps * 2
            sc = subprocess.run([os.path.join(self.b, "bench/snapcost"),
                                 path, "51"], capture_output=True,
                                text=True, check=True).stdout.split()
            open_us, snap_us = float(sc[3]), float(sc[5])
            runs = [one([]) for _ in range(reps)]
            text_ms = statistics.median(r[0] for r in runs)
            json_ms = json_kb = None
            if subprocess.run([read, "--help"], capture_output=True,
                              text=True).stdout.find("--json") >= 0:
                runs = [one(["--json"]) for _ in range(reps)]
                json_ms = statistics.median(r[0] for r in runs)
                json_kb = max(r[1] for r in runs)
        finally:
            p.stdin.close()
            p.wait()
        self.results["reader"] = {"fields": 10000, "shards": 64,
                                  "file_bytes_on_disk": size,
                                  "open_cpu_us": open_us,
                                  "snapshot_cpu_us": snap_us,
                                  "text_cpu_ms": text_ms,
                                  "json_cpu_ms": json_ms,
                                  "json_maxrss_kib": json_kb}
        rows = [["mms_reader_open (validate 10,000 descriptors)",
                 f"{open_us / 1000:.2f}", "", ""],
                ["mms_snapshot_take (median of 51)", f"{snap_us / 1000:.2f}",
                 "", ""],
                ["mmstat-read (text)", f"{text_ms:.1f}", "", ""]]
        if json_ms is not None:
            rows.append(["mmstat-read --json", f"{json_ms:.1f}",
                         f"{json_kb / 1024:.1f}", "<= 100 ms, <= 64 MiB"])
        self.table("Reader: 10,000 fields (10% timers) x 64 thread shards "
                   f"({size // 1024} KiB on disk)",
                   ["what", "CPU ms", "peak RSS MiB", "goal (issue 20)"],
                   rows,
                   "The first two are measured inside one process "
                   "(bench/snapcost); the mmstat-read rows are whole-process "
                   "CPU time: start-up, opening, validating, printing.")

    # Issue 20 goal 5's other two figures: a snapshot of the shim's file,
    # and the exporter's /metrics over 100 processes running under it.
    FLEET = 100
    SCRAPES = 11

    def shim_proc(self, cmd):
        """CMD under the shim, its stdin and stdout pipes; returns once it
        echoed a line back (so it has recorded calls and has its file)."""
        p = subprocess.Popen(cmd, env=self.env(self.preload),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        p.stdin.write("ready\n")
        p.stdin.flush()
        if p.stdout.readline() != "ready\n":
            p.kill()
            p.wait()
            raise RuntimeError(f"{cmd}: no echo")
        return p

    @staticmethod
    def task_cpu_ns(pid):
        """CPU time of every thread of PID, in ns (schedstat's first
        field: the scheduler's own clock, not the 10 ms tick)."""
        total = 0
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total

    def scrape(self, url, pid):
        """One GET of URL: (exporter CPU ms, wall ms, body bytes)."""
        import urllib.request
        c0, w0 = self.task_cpu_ns(pid), time.monotonic()
        with urllib.request.urlopen(url, timeout=120) as r:
            body = r.read()
        w1, c1 = time.monotonic(), self.task_cpu_ns(pid)
        return (c1 - c0) / 1e6, (w1 - w0) * 1000, len(body)

    def start_exporter(self, args):
        exp = os.path.join(self.b, "tools/mmstat-exporter")
        log = open(os.path.join(self.tmp, "exporter.log"), "w+")
        x = subprocess.Popen([exp, "-l", "127.0.0.1:0", "-d",
                              self.stats_dir] + args, env=self.env(),
                             stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(600):  # its first line says where it listens
            log.seek(0)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/",
                          log.read())
            if m:
                return x, int(m.group(1))
            if x.poll() is not None:
                break
            time.sleep(0.05)
        x.kill()
        raise RuntimeError("mmstat-exporter did not start")

    def reader_fleet(self):
        # A directory of their own: the reader part's 64 MiB file, kept
        # after its exit, would be in /metrics too.
        saved = self.stats_dir
        self.stats_dir = os.path.join(self.stats_root, "fleet")
        try:
            self.fleet()
        finally:
            self.stats_dir = saved

    def fleet(self):
        snapcost = os.path.join(self.b, "bench/snapcost")
        py = shutil.which("python3")
        echo = [py, "-c", "import sys\nfor l in sys.stdin:\n"
                "    sys.stdout.write(l); sys.stdout.flush()"]
        procs = []
        try:
            # The shim's file of a program with many calls recorded.
            procs.append(self.shim_proc(echo))
            path = os.path.join(self.stats_dir,
                                f"python3-{procs[0].pid}.mmstats")
            if not os.path.exists(path):
                path = next(os.path.join(self.stats_dir, f)
                            for f in os.listdir(self.stats_dir)
                            if f.endswith(f"-{procs[0].pid}.mmstats"))
            sc = subprocess.run([snapcost, path, "201"], capture_output=True,
                                text=True, check=True).stdout.split()
            py_fields, py_open, py_snap = int(sc[1]), float(sc[3]), \
                float(sc[5])
            py_kib = os.stat(path).st_blocks // 2
            while len(procs) < self.FLEET:
                procs.append(self.shim_proc(echo))
            nfiles = len(os.listdir(self.stats_dir))
            res = {}
            for mode, args in (("per program (default)", []),
                               ("--per-process", ["--per-process"])):
                x, port = self.start_exporter(args)
                try:
                    url = f"http://127.0.0.1:{port}/metrics"
                    first = self.scrape(url, x.pid)
                    rest = [self.scrape(url, x.pid)
                            for _ in range(self.SCRAPES)]
                finally:
                    x.terminate()
                    x.wait()
                res[mode] = {"first_cpu_ms": first[0],
                             "cpu_ms": statistics.median(r[0] for r in rest),
                             "wall_ms": statistics.median(r[1] for r in rest),
                             "bytes": rest[-1][2]}
        finally:
            for p in procs:
                p.stdin.close()
            for p in procs:
                p.wait()
        self.results["reader_fleet"] = {
            "python3_file_kib": py_kib, "python3_fields": py_fields,
            "python3_open_cpu_us": py_open, "python3_snapshot_cpu_us": py_snap,
            "files": nfiles, "metrics": res}
        rows = [[f"snapshot of python3's shim file ({py_fields} fields, "
                 f"{py_kib} KiB)", f"{py_snap / 1000:.3f}", "", "<= 0.3 ms"],
                ["  opening it (mms_reader_open)", f"{py_open / 1000:.3f}",
                 "", ""]]
        for mode, r in res.items():
            rows.append([f"/metrics, {nfiles} running processes, {mode}",
                         f"{r['cpu_ms']:.1f}", f"{r['wall_ms']:.1f}",
                         "<= 30 ms" if not mode.startswith("--") else ""])
            rows.append([f"  first scrape (opens the files), "
                         f"{r['bytes'] // 1024} KiB body",
                         f"{r['first_cpu_ms']:.1f}", "", ""])
        self.table("Readers: the shim's file and the exporter",
                   ["what", "CPU ms", "wall ms", "goal (issue 20)"], rows,
                   "The snapshot: bench/snapcost in one process, median of "
                   "201. /metrics: mmstat-exporter's CPU time (all its "
                   "threads, /proc/PID/task/*/schedstat) per scrape from "
                   "127.0.0.1, median of "
                   f"{self.SCRAPES} after the first; the processes are "
                   "python3 under the shim (one program: one group), each "
                   "waiting on a pipe after echoing a line.")

    def sizes(self):
        # File size for the default preload field set: a run of /bin/true
        # (made at start-up: it records nothing, so would make none).
        d = os.path.join(self.tmp, "size")
        subprocess.run(["/bin/true"], env=dict(self.env(self.preload),
                                                MMSTATS_DIR=d,
                                                MMSTATS_EAGER="1"),
                       check=True)
        files = [os.path.join(d, f) for f in os.listdir(d)]
        st = os.stat(files[0])
        hist1 = 40 + 8 * ((36 - 6 + 1) * 64 + 1)
        hist5 = 40 + 8 * ((36 - 5 + 1) * 32 + 1)
        self.results["sizes"] = {"preload_file_apparent": st.st_size,
                                 "preload_file_on_disk": st.st_blocks * 512,
                                 "hist_default_bytes_per_shard": hist1,
                                 "hist_preload_bytes_per_shard": hist5}
        self.table("Memory", ["what", "bytes"], [
            ["preload stats file, /bin/true (on disk)",
             st.st_blocks * 512],
            ["preload stats file (address space reserved)", st.st_size],
            ["histogram per shard, default precision (bits 6)", hist1],
            ["latency histogram per shard in the shim (bits 5)", hist5],
        ])

    # ------------------------------------------------------- heap profile
    def callgrind_per_op(self, mode, n, env):
        cg = os.path.join(self.tmp, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg}",
               f"--toggle-collect=loop_{mode.replace('-', '_')}",
               self.loadgen, mode, str(n)]
        subprocess.run(cmd, env=env, capture_output=True, timeout=900,
                       check=True)
        with open(cg) as f:
            m = re.search(r"^(?:summary|totals):\s+(\d+)", f.read(), re.M)
        return int(m.group(1)) / n

    def heap_answers(self, exe_env):
        """Run heap_sites with EXE_ENV; its wall time and mmstat-read
        --heap's answers for the known sites."""
        sites = os.path.join(self.b, "tests/integration/progs/heap_sites")
        t0 = time.monotonic()
        subprocess.run([sites], env=exe_env, check=True, timeout=600)
        wall = time.monotonic() - t0
        if "LD_PRELOAD" not in exe_env:
            return wall, None
        files = [os.path.join(self.stats_dir, f)
                 for f in os.listdir(self.stats_dir)
                 if f.startswith("heap_sites-")]
        newest = max(files, key=os.path.getmtime)
        out = subprocess.run([os.path.join(self.b, "tools/mmstat-read"),
                              "--heap", "--json", newest], check=True,
                             capture_output=True, text=True).stdout
        for f in files:
            os.unlink(f)
        h = json.loads(out)["heaps"][0]["heap"]
        res = {}
        for s in h["by_allocated"]:
            fn = s["stack"][0]["function"] if s["stack"] else "(other)"
            if fn in ("leak_here", "churn_here", "big_here"):
                res[fn] = (s["live_bytes"], s["live_allocs"], s["bytes"],
                           s["allocs"])
        return wall, res

    def heaptrack_answers(self):
        sites = os.path.join(self.b, "tests/integration/progs/heap_sites")
        out = os.path.join(self.tmp, "ht")
        t0 = time.monotonic()
        subprocess.run(["heaptrack", "-o", out, sites], env=self.env(),
                       check=True, capture_output=True, timeout=600)
        wall = time.monotonic() - t0
        data = [f for f in os.listdir(self.tmp) if f.startswith("ht")][0]
        res = {}
        for cost in ("leaked", "allocations"):
            st = os.path.join(self.tmp, "st.txt")
            subprocess.run(["heaptrack_print", "-f",
                            os.path.join(self.tmp, data), "-p", "0", "-a",
                            "0", "-T", "0", "--flamegraph-cost-type", cost,
                            "-F", st], check=True, capture_output=True,
                           timeout=600)
            with open(st) as f:
                for line in f:
                    stack, _, v = line.rstrip().rpartition(" ")
                    leaf = stack.rstrip(";").split(";")[-1].split(" (")[0]
                    if leaf in ("leak_here", "churn_here", "big_here"):
                        res.setdefault(leaf, {})[cost] = int(v)
        os.unlink(os.path.join(self.tmp, data))
        return wall, res

    def heap(self):
        n = 300000 if self.quick else 2000000
        variants = [
            ("bare", None, {}),
            ("mmstats counting (MMSTATS_HEAP_SAMPLE=0)", self.preload,
             {"MMSTATS_HEAP_SAMPLE": 0}),
            ("mmstats, no pair sampled (MMSTATS_HEAP_SAMPLE=1G)",
             self.preload, {"MMSTATS_HEAP_SAMPLE": "1G"}),
            ("mmstats sampling (default, 512K)", self.preload, {}),
            ("mmstats sampling 64K", self.preload,
             {"MMSTATS_HEAP_SAMPLE": "64K"}),
        ]
        # Rounds interleave the variants; each round's ratio to its own
        # bare run, then the median over rounds.
        ratios = {name: [] for name, _, _ in variants}
        ns = {name: [] for name, _, _ in variants}
        for _ in range(self.reps):
            bare = None
            for name, pre, extra in variants:
                t = self.loadgen_ns("malloc", n,
                                    env=self.env(pre, **extra))
                bare = t if bare is None else bare
                ns[name].append(t)
                ratios[name].append(t / bare)
        ins = {}
        if shutil.which("valgrind"):
            m = 20000 if self.quick else 100000
            for name, pre, extra in variants:
                ins[name] = self.callgrind_per_op(
                    "malloc", m, self.env(pre, **extra))
        rows, out = [], {}
        for name, _, _ in variants:
            r = statistics.median(ratios[name])
            i = ins.get(name)
            out[name] = {"ns": statistics.median(ns[name]), "ratio": r,
                         "instructions": i}
            rows.append([name, f"{statistics.median(ns[name]):.1f}",
                         f"{r:.2f}x",
                         f"{i:.0f} (+{i - ins['bare']:.0f})" if i else "-"])
        self.results["heap_loop"] = out
        self.table("Heap profile: the malloc+free loop",
                   ["variant", "ns/pair", "vs bare", "instructions/pair"],
                   rows,
                   "loadgen malloc (16..4096 bytes, 64 live blocks): "
                   "median of per-round ratios to the bare run of the same "
                   "round; instructions by callgrind (loop only).")

        # The known-sites program: bare, under mmstats, under heaptrack.
        sites = os.path.join(self.b, "tests/integration/progs/heap_sites")
        if not os.path.exists(sites):
            print("no heap_sites program: skipping the known-sites table")
            return
        mib = 1 << 20
        rows, out = [], {}
        bare = self.median(lambda: self.heap_answers(self.env())[0])
        rows.append(["truth", "10.0M (1000)", "100M (25600)", "0", "0",
                     f"{bare * 1000:.0f} ms"])

        def fmt(v):
            return f"{v[0] / mib:.1f}M ({v[1]})"

        for label, extra in [("mmstats 512K (default)", {}),
                             ("mmstats 8K", {"MMSTATS_HEAP_SAMPLE": "8K"})]:
            walls, ans = [], None
            for _ in range(self.reps):
                w, ans = self.heap_answers(self.env(self.preload, **extra))
                walls.append(w)
            wall = statistics.median(walls)
            out[label] = {"wall_s": wall, "answers": ans}
            rows.append([label, fmt(ans["leak_here"]),
                         f"{ans['churn_here'][2] / mib:.1f}M "
                         f"({ans['churn_here'][3]})",
                         str(ans["churn_here"][0]),
                         str(ans["big_here"][0]), f"{wall / bare:.2f}x"])
        if shutil.which("heaptrack") and shutil.which("heaptrack_print"):
            walls, ans = [], None
            for _ in range(self.reps):
                w, ans = self.heaptrack_answers()
                walls.append(w)
            wall = statistics.median(walls)
            out["heaptrack"] = {"wall_s": wall, "answers": ans}
            lk, ch, bg = (ans.get(k, {}) for k in
                          ("leak_here", "churn_here", "big_here"))
            rows.append(["heaptrack",
                         f"{lk.get('leaked', 0) / mib:.1f}M "
                         f"({lk.get('allocations')} calls)",
                         f"- ({ch.get('allocations')} calls)",
                         str(ch.get("leaked")), str(bg.get("leaked")),
                         f"{wall / bare:.2f}x (recording only)"])
        self.results["heap_sites"] = out
        self.table("Heap profile: the known-sites program",
                   ["", "leak_here live (blocks)",
                    "churn_here allocated (blocks)", "churn_here live",
                    "big_here live", "wall time vs bare"], rows,
                   "tests/integration/progs/heap_sites, answers read after "
                   "exit: mmstat-read --heap (estimates), heaptrack_print "
                   "(exact leaked bytes and allocation calls; it does not "
                   "report allocated bytes per site). heaptrack's time is "
                   "the recorded run alone, not heaptrack_print's analysis.")
    @staticmethod
    def block_walk(path):
        """Where a stats file's bytes go (format.md section 6): bytes by
        kind of block, the cells' window rings (section 8.9) apart, the
        areas' unused space, and the space given back at exit. Also the
        page walk: du counts the 4 KiB pages touched (a tmpfs allocates a
        page on its first write), so each touched page is given to the
        kind with the most bytes on it; "pages" says how many each kind
        holds that way, "alone" how many it fills by itself."""
        import struct
        with open(path, "rb") as f:
            d = f.read()
        heap_off = struct.unpack_from("<I", d, 88)[0]
        used = struct.unpack_from("<Q", d, 80)[0]
        names = {2: "fields", 3: "shards", 6: "histogram chunks",
                 7: "tables", 8: "records", 9: "window rings"}
        spans = [(0, heap_off, "header")]  # (start, end, kind)
        ring = {}  # index -> window ring bytes of its cell
        blocks, off = [], heap_off
        while off + 8 <= min(used, len(d)):
            btype, bstate, size = struct.unpack_from("<HHI", d, off)
            if size < 8:
                break
            blocks.append((off, btype, bstate, size))
            if btype == 2 and bstate == 2:
                index, kind, flags = struct.unpack_from("<IBB", d, off + 8)
                cell = struct.unpack_from("<I", d, off + 24)[0]
                if flags & 0x04 and kind == 1:
                    # 3.2 (flag 0x10): the ring's offset and one slot, the
                    # ring a RING block (type 9) if the cell has one
                    ring[index] = cell - 8
                elif flags & 0x04 and kind == 5:
                    ring[index] = cell - struct.unpack_from("<I", d,
                                                            off + 56)[0]
            off += size
        for off, btype, bstate, size in blocks:
            if bstate == 3:
                last = off + size >= used
                k = "given back at exit" if last else "fillers, dead"
            elif btype == 4:
                a_used = struct.unpack_from("<I", d, off + 12)[0]
                spans.append((off, off + 16, "areas' heads, unused tails"))
                p = 0
                while p + 16 <= a_used:
                    at = off + 16 + p
                    t2, s2, z2 = struct.unpack_from("<HHI", d, at)
                    if z2 < 8:
                        break
                    first, count = struct.unpack_from("<II", d, at + 8)
                    rings = 0
                    if t2 == 5 and s2 == 2:
                        rings = sum(ring.get(i, 0)
                                    for i in range(first, first + count))
                    k2 = ("histogram chunks" if t2 in (6, 10) else
                          "fillers, dead" if s2 == 3 or t2 == 1 else "cells")
                    spans.append((at, at + z2 - rings, k2))
                    spans.append((at + z2 - rings, at + z2, "window rings"))
                    p += z2
                spans.append((off + 16 + a_used, off + size,
                              "areas' heads, unused tails"))
                continue
            else:
                k = names.get(btype, "other")
            spans.append((off, off + size, k))
        out = {}
        for a, b, k in spans:
            if b > a:
                out[k] = out.get(k, 0) + b - a
        # The page walk: which pages the file has (SEEK_DATA/SEEK_HOLE),
        # and whose bytes are on each.
        touched = set()
        fd = os.open(path, os.O_RDONLY)
        try:
            pos = 0
            while True:
                try:
                    s = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError:
                    break
                e = os.lseek(fd, s, os.SEEK_HOLE)
                touched.update(range(s // 4096, (e + 4095) // 4096))
                pos = e
        finally:
            os.close(fd)
        per_page = {}
        for a, b, k in spans:
            for pg in range(a // 4096, (b - 1) // 4096 + 1 if b > a else 0):
                if pg in touched:
                    lo, hi = max(a, pg * 4096), min(b, pg * 4096 + 4096)
                    share = per_page.setdefault(pg, {})
                    share[k] = share.get(k, 0) + hi - lo
        pages, alone = {}, {}
        for pg in touched:
            share = per_page.get(pg, {"(beyond the heap)": 4096})
            k = max(share, key=share.get)
            pages[k] = pages.get(k, 0) + 1
            if share[k] == sum(share.values()):
                alone[k] = alone.get(k, 0) + 1
        return {"bytes": out, "pages": pages, "alone": alone,
                "pages_touched": len(touched)}

    def footprint(self):
        # What a file costs (issue 12 item 1): du of each program's stats
        # file on a tmpfs, default options (timing on), every file kept;
        # apparent size against disk use; address space the shim maps at
        # start-up (VmSize under the shim minus bare, and the stats file's
        # own mappings).
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else self.tmp
        py = sys.executable
        threads = ("import threading, os\n"
                   "def w():\n    os.write(1, b'')\n"
                   "ts = [threading.Thread(target=w) for _ in range(100)]\n"
                   "[t.start() for t in ts]; [t.join() for t in ts]\n")
        progs = [("/bin/true", ["/bin/true"], 32),
                 ("gzip -c", ["gzip", "-c", "/etc/services"], 64),
                 ("sort", ["sort", "/etc/services"], 64),
                 ("ls -l", ["ls", "-l", "/usr/bin"], 64),
                 ("python3 -c pass", [py, "-c", "pass"], 64),
                 ("python3, 100 threads", [py, "-c", threads], 256)]
        # The per-file records' share of python3's file (it opens and
        # stats some hundred files): the same without the files family.
        # And with a record per path stat'ed (paths only stat'ed count in
        # their directory's record by default), and per file opened (files
        # only read and closed are folded into it by default).
        variants = {"all,-files": {"MMSTATS_HOOKS": "all,-files"},
                    "STAT_PATHS=1": {"MMSTATS_FILES_STAT_PATHS": "1"},
                    "FOLD=0": {"MMSTATS_FILES_FOLD": "0"}}
        for v in variants:
            progs.append((f"python3 -c pass, {v}", [py, "-c", "pass"], 64))
        # /bin/true records nothing, so it leaves no file (the file is
        # made with the first call recorded): its file made at start-up.
        variants["EAGER=1"] = {"MMSTATS_EAGER": "1"}
        progs.insert(1, ("/bin/true, EAGER=1", ["/bin/true"], 32))
        rows, res, walk = [], {}, {}
        for name, argv, goal in progs:
            d = tempfile.mkdtemp(prefix="mmstats-fp-", dir=shm)
            sd = os.path.join(d, "stats")
            extra = variants.get(name.rpartition(", ")[2], {})
            subprocess.run(argv, env=dict(self.env(self.preload, **extra),
                                          MMSTATS_DIR=sd, MMSTATS_KEEP="all"),
                           stdout=subprocess.DEVNULL, check=True)
            disk = app = 0
            for f in os.listdir(sd) if os.path.isdir(sd) else []:
                st = os.stat(os.path.join(sd, f))
                disk += st.st_blocks * 512
                app += st.st_size
                if name == "python3 -c pass":
                    walk = self.block_walk(os.path.join(sd, f))
            shutil.rmtree(d, ignore_errors=True)
            ok = disk <= goal * 1024 and app <= 4 * disk
            res[name] = {"disk_bytes": disk, "apparent_bytes": app,
                         "goal_kib": goal, "ok": ok}
            rows.append([name, disk // 1024, app // 1024,
                         f"{app / disk:.1f}x" if disk else "-",
                         f"<= {goal}", "yes" if ok else "NO"])
        # Address space at start-up: a cat waiting on its input.
        def vm(preload, **extra):
            d = tempfile.mkdtemp(prefix="mmstats-fp-", dir=shm)
            p = subprocess.Popen(["cat"], stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL,
                                 env=dict(self.env(preload, **extra),
                                          MMSTATS_DIR=os.path.join(d, "s"),
                                          MMSTATS_KEEP="all"))
            # The shim's constructor has run once cat waits in read: its
            # wchan says so; bounded in tries.
            for _ in range(2000):
                try:
                    with open(f"/proc/{p.pid}/wchan") as f:
                        if f.read().strip() in ("pipe_read", "pipe_wait",
                                                "wait_woken"):
                            break
                except OSError:
                    pass
                time.sleep(0.005)
            with open(f"/proc/{p.pid}/status") as f:
                size = int(re.search(r"VmSize:\s*(\d+)", f.read()).group(1))
            mapped = 0
            with open(f"/proc/{p.pid}/maps") as f:
                for line in f:
                    if line.rstrip().endswith(".mmstats"):
                        a, b = line.split()[0].split("-")
                        mapped += int(b, 16) - int(a, 16)
            p.communicate(b"")
            shutil.rmtree(d, ignore_errors=True)
            return size * 1024, mapped
        bare, _ = vm(None)
        shim, fmap = vm(self.preload)
        # The files family's share (its descriptor map and pool of open
        # files grow in steps): the same without it.
        nofiles, _ = vm(self.preload, MMSTATS_HOOKS="all,-files")
        # The heap profile's (its table of sampled blocks grows in levels;
        # the unwinder loads libgcc_s): the same with sampling off.
        noheap, _ = vm(self.preload, MMSTATS_HEAP_SAMPLE="0")
        res["address_space"] = {"shim_minus_bare": shim - bare,
                                "stats_file_mapped": fmap,
                                "files_family": shim - nofiles,
                                "heap_profile": shim - noheap,
                                "goal_bytes": 4 << 20}
        res["python3_walk"] = walk
        self.results["footprint"] = res
        self.table("Footprint (stats files on a tmpfs, default options)",
                   ["program", "disk KiB", "apparent KiB", "apparent/disk",
                    "goal KiB", "met"], rows,
                   "du of the program's stats file(s) (MMSTATS_KEEP=all: "
                   "every file kept), timing on. python3 is the real "
                   "interpreter (a version manager's wrapper scripts are "
                   "programs of their own). Address space mapped at "
                   f"start-up (cat waiting on input): "
                   f"{(shim - bare) / 1048576:.2f} MiB more than bare "
                   f"(the shim's code and data and the stats file), of which "
                   f"the stats file {fmap / 1024:.0f} KiB, the files "
                   f"family {(shim - nofiles) / 1024:.0f} KiB and the heap "
                   f"profile {(shim - noheap) / 1024:.0f} KiB; goal <= 4 MiB.")
        wb = walk.get("bytes", {})
        wp, wa = walk.get("pages", {}), walk.get("alone", {})
        order = sorted(set(wb) | set(wp), key=lambda k: -wb.get(k, 0))
        self.table("Where python3 -c pass's stats file goes (block walk)",
                   ["part", "KiB", "pages (largest share)", "pages alone"],
                   [[k, f"{wb.get(k, 0) / 1024:.1f}", wp.get(k, 0),
                     wa.get(k, 0)] for k in order] +
                   [["pages touched", "", walk.get("pages_touched", 0), ""]],
                   "Bytes of the file by kind of block (format.md section "
                   "6); 'window rings' are the cells' per-second slots of "
                   "the timed calls' recent_calls (8.9), 'cells' the rest "
                   "of the cells; 'given back at exit' is punched out "
                   "(whole pages) and not in du. du counts 4 KiB pages: "
                   "each page the file has is given to the part with the "
                   "most bytes on it ('alone': the only part on it); "
                   "the sizes move by a growth step from run to run.")

    def run(self, parts):
        for part in parts:
            getattr(self, part)()
        os.makedirs(self.out_dir, exist_ok=True)
        with open(os.path.join(self.out_dir, "latest.json"), "w") as f:
            json.dump(self.results, f, indent=1)
        with open(os.path.join(self.out_dir, "latest.md"), "w") as f:
            m = self.results["machine"]
            f.write(f"# Benchmark results\n\n{self.results['date']}, commit "
                    f"{self.results['commit']}, {m['cpu']} "
                    f"({m['cores']} cores), kernel {m['kernel']}"
                    f"{', quick run' if self.quick else ''}.\n")
            f.write("\n".join(self.md) + "\n")
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.stats_root, ignore_errors=True)
        print(f"\nwrote {self.out_dir}/latest.md and latest.json")


def machine_facts():
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(),
            "kernel": platform.release()}


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--only", help="comma list of: per_call, instructions, "
                    "files, threads, programs, startup, readers (or one of "
                    "its two: reader, reader_fleet), sizes, heap, footprint")
    a = ap.parse_args()
    parts = ["per_call", "instructions", "files", "threads", "programs",
             "startup", "readers", "sizes", "heap", "footprint"]
    if a.only:
        parts = a.only.split(",")
    Bench(a.build, a.quick, a.out).run(parts)


if __name__ == "__main__":
    main()
