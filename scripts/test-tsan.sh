#!/usr/bin/env bash
# Builds the tests of the code that runs on several threads (the thread pool with its error paths,
# the shared tokenizer cache, the per-model step loop that batches passes from several threads)
# with ThreadSanitizer and runs them; any data-race report fails the run.
# The model-level tests are left to the ASan+UBSan build: under TSan they take too long for CI, and
# every thread they use goes through the pool tested here.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-tsan}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSVL_SANITIZE_THREAD=ON \
  -DDSVL_BUILD_BENCH=OFF "$@"
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" --target core_tests text_tests runtime_tests
ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j "${JOBS:-$(nproc)}" -L '^(core|text|runtime)$'
