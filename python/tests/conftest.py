"""Shared fixtures of the mmstats3 tests.

The C parts (libmmstats, mmstat-read, the example programs) come from the
build directory $MMS_BUILD (default: build/release of this source tree);
tests/integration/test_python_pkg.sh sets it and runs this suite against
the package installed in a virtual environment. Without a build the tests
that need it are skipped, and a run with any skipped test exits 77
(ctest's "skipped"), never 0: a skip is not a pass.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("MMS_BUILD") or os.path.join(SRC, "build", "release")

_skipped = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0 and _skipped:
        session.exitstatus = 77


def built(rel):
    p = os.path.join(BUILD, rel)
    if not os.path.exists(p):
        pytest.skip("%s not built (set MMS_BUILD to a build directory)" % p)
    return p


@pytest.fixture
def build_path():
    """The path of REL in the build directory (skipped if not built)."""
    return built


@pytest.fixture(scope="session")
def lib():
    """libmmstats of the build, through $MMSTATS_LIB (how a program finds
    a library that is not installed)."""
    p = built("core/libmmstats.so.0")
    os.environ["MMSTATS_LIB"] = p
    return p


@pytest.fixture
def stats_dir(tmp_path, monkeypatch):
    """A private stats directory, as $MMSTATS_DIR (mode 0700: the writer
    and readers refuse a directory others can write)."""
    d = tmp_path / "stats"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("MMSTATS_DIR", str(d))
    monkeypatch.delenv("MMSTATS_FILE", raising=False)
    monkeypatch.delenv("MMSTATS_LABEL", raising=False)
    return str(d)


@pytest.fixture
def mmstat_read():
    """mmstat-read --json of ARGS as a dict (exit status checked)."""
    exe = built("tools/mmstat-read")

    def run(*args):
        out = subprocess.run([exe, "--json", *args], check=True,
                             stdout=subprocess.PIPE).stdout
        return json.loads(out)
    return run


@pytest.fixture
def example():
    """Run example program NAME with ARGS to its end: its stdout."""
    def run(name, *args, env=None):
        exe = built("examples/" + name)
        return subprocess.run([exe, *args], check=True, env=env,
                              stdout=subprocess.PIPE, text=True).stdout
    return run


def pytest_report_header(config):
    import mmstats3
    return "mmstats3 from %s; build %s" % (
        os.path.dirname(mmstats3.__file__), BUILD)


# Without an installed package, the tests import the source tree's.
if importlib.util.find_spec("mmstats3") is None:
    sys.path.insert(0, os.path.join(SRC, "python"))
