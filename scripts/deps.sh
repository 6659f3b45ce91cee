#!/usr/bin/env bash
# Installs the Debian 12 packages Vigil Console needs to build, test and run — only the ones
# that are missing, so a second run costs nothing. Needs root (or sudo) when something is missing.
set -euo pipefail

BUILD_PACKAGES=(
    cmake ninja-build ccache g++ pkg-config
    qt6-base-dev qt6-httpserver-dev qt6-websockets-dev qt6-charts-dev libqt6opengl6-dev
    libqt6sql6-sqlite libqt6sql6-psql qt6-qpa-plugins libgl-dev prometheus-cpp-dev
    fonts-dejavu-core curl
)
# prometheus-cpp-dev: the Prometheus text format of /metrics (prometheus-cpp's TextSerializer).
# libqt6opengl6-dev: Qt6Charts's CMake package needs Qt6OpenGL, which qt6-base-dev only recommends.
# Extra packages for the test suite (valgrind for the disconnect tests, promtool for /metrics,
# prometheus + jq for the real-Prometheus test).
# Package test (tests/package_test.sh): dpkg-dev + file for CPack's shlibdeps, and the validators it runs.
# PostgreSQL tests (label postgres): a throwaway server (scripts/pg-throwaway.sh; runuser is in
# util-linux) and python3 for the load client of tests/pg_multinode.sh (standard library only).
# Proof (docs/testing.md): clang + libFuzzer for tests/fuzz, Locust for tests/load, node (+ acorn) to check the k6
# script's syntax, python3 for the scenario verdicts.
TEST_PACKAGES=(valgrind sqlite3 procps prometheus jq
    dpkg-dev file lintian appstream desktop-file-utils man-db
    postgresql postgresql-client python3 util-linux
    clang libclang-rt-14-dev python3-locust nodejs node-acorn)

want=("${BUILD_PACKAGES[@]}")
if [[ "${1:-}" == "--test" ]]; then
    want+=("${TEST_PACKAGES[@]}")
fi

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if ((${#missing[@]})); then
    echo "==> installing: ${missing[*]}"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
