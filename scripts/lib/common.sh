# Shared by the scripts: installing Debian packages that are missing, and
# configuring/building a CMake preset. Source it; do not run it.

# ensure_packages PKG...: apt-get install the ones not installed yet.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
        return 1
    fi
    echo "==> installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The packages every build needs (libmicrohttpd-dev: mmstat-exporter;
# libgnutls28-dev, libyaml-dev, libcrypt-dev: its --web.config.file, TLS
# client certificates, the YAML file, bcrypt; protobuf-c-compiler,
# libprotobuf-c-dev: its protobuf format, with native histograms;
# libjs-dygraphs: the charts of its dashboard, served by it at run time;
# help2man, lowdown: the man pages; man-db, bash-completion, zsh: the tests
# of the man pages and of the completions; python3-pytest, python3-venv,
# python3-pip, python3-setuptools: the Python package's test, an offline
# `pip install ./python` into a venv).
BUILD_PACKAGES=(build-essential cmake ninja-build pkg-config libcmocka-dev
                libdw-dev uthash-dev python3 strace valgrind libmicrohttpd-dev
                libgnutls28-dev libyaml-dev libcrypt-dev
                libjs-dygraphs help2man lowdown man-db bash-completion zsh
                python3-pytest python3-venv python3-pip python3-setuptools
                protobuf-c-compiler libprotobuf-c-dev)

# The tools' tests: promtool (test_tools_prom) checks mmstat-read
# --prometheus; a real Prometheus server scrapes mmstat-exporter
# (test_exporter_prometheus), headless Chromium loads its dashboard
# (test_exporter_browser), curl talks to it; sqlite3 runs under the shim
# (test_files_programs); openssl makes test_exporter_tls's certificates.
# The tests fail without them.
TOOLS_TEST_PACKAGES=(prometheus chromium curl sqlite3 openssl)

# scripts/package and its test (test_package): the .deb's tools and lint.
PACKAGE_PACKAGES=(dpkg-dev file lintian)

# scripts/lint (run first by scripts/test); its clang-tidy configures a
# build, so it needs BUILD_PACKAGES too.
LINT_PACKAGES=(clang-format clang-tidy)

# The fuzz preset builds with clang and libFuzzer.
FUZZ_PACKAGES=(clang libclang-rt-14-dev)

# build_preset NAME: configure and build CMake preset NAME in build/NAME.
build_preset() {
    cmake --preset "$1" >/dev/null
    cmake --build --preset "$1"
}

# Number of parallel jobs for builds and ctest.
jobs() { nproc 2>/dev/null || echo 2; }
