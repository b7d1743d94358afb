#!/usr/bin/env python3
"""Print mmstats stats files as the JSON of `mmstat-read --json`, with the
Python standard library only: the command line of the mmstats3 package
(python/mmstats3, docs/python.md), run from the source tree.

    scripts/mmstats.py [--dir DIR] [--filter GLOB]... [--windows-at NS]
                       [PID|PATH]...
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                "..", "python"))
from mmstats3.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(prog="mmstats.py"))
