#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/) with clang into build-fuzz/ and runs each for a fixed time.
#   scripts/fuzz.sh [SECONDS_PER_HARNESS] [harness...]      (default: 30 s, every harness)
# Each harness starts from its seed corpus and regression inputs (fuzz/corpus/<h>, fuzz/regressions/<h>,
# read-only) and grows a working corpus in build-fuzz/corpus/<h>. Any crash, leak, timeout, OOM or
# sanitizer report fails the script; libFuzzer leaves the input as build-fuzz/artifacts/<h>/crash-*
# (add it to fuzz/regressions/<h>/ once fixed, see fuzz/README.md).
# Environment: DSVL_FUZZ_BUILD_JOBS (build parallelism, default 2); DSVL_FUZZ_PARALLEL (harnesses run
# at once, default one per core); extra libFuzzer flags in
# DSVL_FUZZ_FLAGS (e.g. "-jobs=4 -workers=4").
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
shift || true
all=(safetensors_header safetensors_index image_decode tokenizer_load tokenizer_encode model_config
     prompt_builder grounding chat_request train_data)
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")

# Largest input worth mutating, per harness: enough for the seeds plus room to grow.
max_len() {
  case "$1" in
    safetensors_header|safetensors_index|grounding) echo 4096 ;;
    prompt_builder|tokenizer_encode) echo 2048 ;;
    model_config) echo 8192 ;;
    tokenizer_load) echo 16384 ;;
    image_decode) echo 65536 ;;
    *) echo 4096 ;;
  esac
}

CC=${CC:-clang} CXX=${CXX:-clang++} cmake -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSVL_FUZZ=ON \
  -DDSVL_BUILD_TESTS=OFF -DDSVL_BUILD_BENCH=OFF >/dev/null
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build build-fuzz -j"${DSVL_FUZZ_BUILD_JOBS:-2}" --target "${targets[@]}"

# One harness; its exit status says whether it found something. Its log is build-fuzz/<h>.log.
run_one() {
  local h=$1 corpus=build-fuzz/corpus/$1 artifacts=build-fuzz/artifacts/$1 status
  rm -rf "$artifacts"  # a finding left by an earlier run must not fail this one
  mkdir -p "$corpus" "$artifacts"
  local dict=()
  [ -f "fuzz/$h.dict" ] && dict=(-dict="fuzz/$h.dict")
  local seeds=("fuzz/corpus/$h")
  [ -d "fuzz/regressions/$h" ] && seeds+=("fuzz/regressions/$h")
  # The first corpus directory receives new inputs; the others are only read.
  set +e
  build-fuzz/bin/fuzz_"$h" "$corpus" "${seeds[@]}" "${dict[@]}" -max_total_time="$seconds" \
    -max_len="$(max_len "$h")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" ${DSVL_FUZZ_FLAGS:-} >"build-fuzz/$h.log" 2>&1
  status=$?
  set -e
  [ "$status" -eq 0 ] && ! ls "$artifacts"/* >/dev/null 2>&1
}

# Harnesses run side by side, one per core (DSVL_FUZZ_PARALLEL), each for its full time.
parallel=${DSVL_FUZZ_PARALLEL:-$(nproc)}
declare -A pid_of
failed=()
for h in "${harnesses[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  echo "== fuzz_$h: ${seconds}s"
  run_one "$h" &
  pid_of[$h]=$!
done
for h in "${harnesses[@]}"; do
  if wait "${pid_of[$h]}"; then
    echo "-- fuzz_$h:"
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|^#[0-9]+ +DONE" "build-fuzz/$h.log" || true
  else
    failed+=("$h")
    tail -n 40 "build-fuzz/$h.log"
    echo "!! fuzz_$h: finding, see build-fuzz/$h.log and build-fuzz/artifacts/$h/"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}"
  exit 1
fi
echo "fuzz: ${#harnesses[@]} harnesses, ${seconds}s each, no finding"
