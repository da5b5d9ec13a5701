#!/usr/bin/env bash
# Decode and prefill of the real-shape random-weight LLMs at bf16, q8_0 and q4_k (and q4_0), alternating
# types and repetitions so drift hits all alike, with the machine's read bandwidth and f32 peak probed by
# `dsvl bench --probe` in every run (bandwidth_fraction, peak_fraction in each JSON).
#   bash bench/quant_decode.sh [OUT_DIR]        (needs the models below; run it on a quiet machine)
# Models: dsvl make-model --arch deepseek-vl-1.3b --out $PM/vl-1.3b (and deepseek-vl2-tiny -> vl2-tiny);
# the quantised directories are written once by `dsvl quantize` next to them.
# Environment: PM=/tmp/perf-models, MODELS="vl-1.3b vl2-tiny", TYPES="bf16 q8_0 q4_k", REPS=2, THREADS=2,
#   PP=512, TG=128, DSVL=build/bin/dsvl.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/quant-bench/run-$(date +%Y%m%d-%H%M%S)}
PM=${PM:-/tmp/perf-models}
MODELS=${MODELS:-"vl-1.3b vl2-tiny"}
TYPES=${TYPES:-"bf16 q8_0 q4_k"}
REPS=${REPS:-2}
THREADS=${THREADS:-2}
PP=${PP:-512}
TG=${TG:-128}
DSVL=${DSVL:-build/bin/dsvl}
mkdir -p "$OUT"
lscpu > "$OUT/lscpu.txt"
git rev-parse HEAD > "$OUT/commit.txt" 2>/dev/null || true

dir_of() {  # model type -> directory (quantised once)
  if [ "$2" = bf16 ]; then echo "$PM/$1"; return; fi
  local d="$PM/$1-$2"
  if [ ! -f "$d/config.json" ] || [ ! -f "$d/.complete" ]; then
    echo "quantize $1 -> $2" >&2
    "$DSVL" quantize -m "$PM/$1" --type "$2" -o "$d" --force -t "$THREADS" >&2
    touch "$d/.complete"
  fi
  echo "$d"
}

for m in $MODELS; do for t in $TYPES; do dir_of "$m" "$t" > /dev/null; done; done
for r in $(seq 1 "$REPS"); do
  for m in $MODELS; do
    for t in $TYPES; do
      d=$(dir_of "$m" "$t")
      cat "$d"/*.safetensors > /dev/null  # page cache warm, outside the timing
      echo "[$(date +%H:%M:%S)] $m $t rep $r" >&2
      "$DSVL" bench -m "$d" --prompt-tokens "$PP" -n "$TG" -t "$THREADS" --probe --out "$OUT/$m-$t-r$r.json" > /dev/null
    done
  done
done

python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, "*-r*.json"))):
    name = os.path.basename(f).rsplit("-r", 1)[0]
    rows.setdefault(name, []).append(json.load(open(f)))
print("| model | type | prefill tok/s | decode tok/s | weight+KV MB/token | decode GB/s | read GB/s (probe) | bandwidth fraction | peak RSS MB |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
def pick(js, *keys):
    vals = []
    for j in js:
        v = j
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        if isinstance(v, (int, float)): vals.append(v)
    return statistics.median(vals) if vals else None
def fmt(v, nd=1): return "-" if v is None else f"{v:.{nd}f}"
for name, js in rows.items():
    m, t = name.rsplit("-", 1)
    print(f"| {m} | {t} | {fmt(pick(js,'prefill_tok_s'))} | {fmt(pick(js,'decode_tok_s'),2)} | "
          f"{fmt((pick(js,'bytes_per_token') or 0) / 1e6)} | {fmt(pick(js,'decode_gb_s'))} | {fmt(pick(js,'mem_bw_gb_s'))} | "
          f"{fmt(pick(js,'bandwidth_fraction'),2)} | {fmt(pick(js,'peak_rss_mb'),0)} |")
PY
