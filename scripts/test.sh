#!/usr/bin/env bash
# Installs the Debian dependencies (idempotent), builds dsvl (Release) and runs the whole test suite.
# Fails on any failed test or if no test ran. Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${DSVL_SKIP_DEPS:-0}" = 1 ] || bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
exclude=()
[ -n "${DSVL_CTEST_EXCLUDE:-}" ] && exclude=(-E "$DSVL_CTEST_EXCLUDE")
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j "$JOBS" "${exclude[@]}"
