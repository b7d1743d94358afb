# The Python package (python/, docs/python.md): `pip install ./python`
# offline into a virtual environment (with the system's site packages, for
# Debian's python3-pytest), then its pytest suite (python/tests) run by
# that environment's Python against this build: the C writers (examples)
# read by the package's reader, its writer read by mmstat-read. Exit 77
# (skipped) when pytest or venv is missing, or when pytest skipped any
# test (python/tests/conftest.py): never a pass.
. "$(dirname "$0")/lib.sh"
SRC=${MMS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

# Debian's python3 (python3-pytest, python3-venv, python3-setuptools are
# its packages), even when another python3 comes first in PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
for m in pytest venv setuptools pip; do
    if ! "$PY" -c "import $m" 2>/dev/null; then
        echo "SKIP: $PY has no module $m (apt-get install python3-pytest python3-venv python3-pip python3-setuptools)"
        exit 77
    fi
done
# A sanitizer's libmmstats cannot be loaded into an uninstrumented
# Python; the release build runs this test.
skip_sanitized

"$PY" -m venv --system-site-packages "$WORK/venv"
# Offline: no index, the build backend (setuptools) from the system.
# A copy of the package directory: pip builds in place, and the source
# tree stays clean.
cp -r "$SRC/python" "$WORK/pkg"
rm -rf "$WORK/pkg/build" "$WORK/pkg"/*.egg-info
"$WORK/venv/bin/pip" install --no-index --no-build-isolation --quiet \
    "$WORK/pkg" >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log" >&2; exit 1; }
site=$("$WORK/venv/bin/python" -c 'import mmstats3, os; print(os.path.dirname(mmstats3.__file__))')
expect_match "$site" "^$WORK/venv/lib/python3[.0-9]*/site-packages/mmstats3$" \
    "pip install: the package is imported from the environment"
expect_match "$("$WORK/venv/bin/mmstats3" --help)" "mmstat-read --json" \
    "pip install: the mmstats3 command"
checks=$((checks + 1))
rc=0
(cd "$WORK" && MMS_BUILD=$B "$WORK/venv/bin/python" -m pytest -p no:cacheprovider \
    -q -rs "$SRC/python/tests") || rc=$?
case $rc in
0) ;;
77) echo "SKIP: pytest skipped tests (above)"; exit 77 ;;
*) fail "pytest: exit status $rc" ;;
esac
finish
