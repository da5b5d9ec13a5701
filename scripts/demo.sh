#!/usr/bin/env bash
# Quick-start demo: installs deps, builds, generates the embedded default model (a tiny random-weight
# DeepSeek-VL2 in the official checkpoint layout), inspects it, tokenizes a prompt and runs an
# image + prompt through it. The answer is noise (random weights); the run exercises the real path.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)" --target dsvl
model=build/demo-model
[ -f "$model/config.json" ] || build/bin/dsvl make-model --arch deepseek-vl2-tiny --tiny --out "$model"
build/bin/dsvl inspect -m "$model"
build/bin/dsvl tokenize -m "$model" -p "Describe this image in detail."
build/bin/dsvl run -m "$model" --image assets/demo.jpg -p "Describe this image." -n 24 --json
