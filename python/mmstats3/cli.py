"""The command line of the reader: print stats files as the JSON of
`mmstat-read --json` (docs/tools.md). Run as `python3 -m mmstats3` or
`scripts/mmstats.py`:

    python3 -m mmstats3 [--dir DIR] [--filter GLOB]... [--windows-at NS]
                        [PID|PATH]...
    python3 -m mmstats3 --heap [--folded[=live|alloc]] PID|PATH...

--heap prints the heap profile as `mmstat-read --heap --json` does
(functions from the objects' symbol tables; no files and lines), or
with --folded its folded stacks.

Without PID or PATH, every *.mmstats file of the stats directory is read.
A bad file is one line on stderr (exit status 1 at the end).
"""

import argparse
import json
import os
import struct
import sys
from typing import List, Optional

from . import _format as fmt
from . import heap as heapmod


def main(argv: Optional[List[str]] = None, prog: str = "mmstats3") -> int:
    ap = argparse.ArgumentParser(
        prog=prog, description="Print mmstats files as the JSON of "
        "mmstat-read --json, with the Python standard library only.")
    ap.add_argument("targets", nargs="*", metavar="PID|PATH")
    ap.add_argument("-d", "--dir", help="stats directory")
    ap.add_argument("-f", "--filter", action="append", default=[],
                    metavar="GLOB", help="only fields matching GLOB")
    ap.add_argument("-j", "--json", action="store_true",
                    help="JSON output (the only format; for symmetry)")
    ap.add_argument("--windows-at", type=int, default=0, metavar="NS",
                    help="take time windows at CLOCK_MONOTONIC NS")
    ap.add_argument("--heap", action="store_true",
                    help="the heap profile: sites by live and by "
                    "allocated bytes, with stacks")
    ap.add_argument("--folded", metavar="=live|alloc", choices=["live",
                    "alloc"], help="with --heap: folded stacks of live "
                    "(the default) or allocated bytes")
    # --folded alone is --folded=live (as mmstat-read's; an optional
    # value would take the PID that follows it).
    argv = ["--folded=live" if a == "--folded" else a
            for a in (sys.argv[1:] if argv is None else argv)]
    args = ap.parse_args(argv)
    if args.folded and not args.heap:
        ap.error("--folded goes with --heap")
    if args.heap and not args.targets:
        ap.error("--heap needs a PID or PATH")
    d = args.dir or fmt.default_dir()
    rc = 0
    targets = args.targets
    if not targets:
        try:
            targets = fmt.stats_files(d)
        except OSError as e:
            print("%s: %s: %s" % (prog, d, e.strerror), file=sys.stderr)
            return 1
    procs = []
    for t in targets:
        try:
            if t.isdigit() and int(t) > 0 and not os.path.exists(t):
                sf = fmt.open_pid(d, int(t))
            else:
                sf = fmt.StatsFile(t)
            try:
                if args.folded:
                    for line in heapmod.folded(sf, args.folded):
                        sys.stdout.write(line + "\n")
                elif args.heap:
                    procs.append(heapmod.heap_json(sf))
                else:
                    procs.append(fmt.process_json(sf, args.filter,
                                                  args.windows_at))
            finally:
                sf.close()
        except (fmt.StatsError, OSError, ValueError, struct.error) as e:
            print("%s: %s: %s" % (prog, t, e), file=sys.stderr)
            rc = 1
    if args.folded:
        return rc
    doc = ({"heaps": procs} if args.heap else
           {"mmstats_json": 1, "processes": procs})
    json.dump(fmt.nonfinite_to_none(doc), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return rc
