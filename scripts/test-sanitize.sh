#!/usr/bin/env bash
# Builds the test suite with AddressSanitizer + UndefinedBehaviorSanitizer and runs it. Compiled at
# -O1 with line tables (CMakeLists.txt) so both the build and the fixture tests stay fast; any
# sanitizer report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Left out here, to keep CI's 2 cores within budget (the Release build runs them all):
#  - the emulated-AVX512-BF16 fixture run: ~10 minutes under ASan, and its kernels are already checked
#    under ASan by kernels_tests' emulated variants;
#  - two `dsvl train` CLI tests that repeat, at the command line, training runs whose code paths the
#    other TrainCli tests and train_tests already take under ASan (a resumed run; the 8-step learning
#    demonstration): several minutes each.
DSVL_CTEST_EXCLUDE=${DSVL_CTEST_EXCLUDE-^model_bf16_fixtures_on_avx512bf16emu_|^TrainCli\.(ResumedRunWritesTheSameWeightsAsAnUninterruptedOne|LearnsToNameColoursOfHeldOutImages)\$} \
BUILD_DIR=${BUILD_DIR:-build-asan} bash scripts/test.sh -DDSVL_SANITIZE=ON -DDSVL_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
