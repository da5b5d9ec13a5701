#!/usr/bin/env bash
# Installs every build and test dependency of dsvl from Debian's packages. Idempotent: packages already
# present are skipped, so a warm machine returns in about a second.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev libsimde-dev
  nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
  libonig-dev
  libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev zlib1g-dev
  clang libclang-rt-14-dev  # scripts/fuzz.sh: clang 14 with libFuzzer and the sanitizer runtimes
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The serve SDK test (tests/serve/sdk) runs the official `openai` npm package on node: Debian's
# nodejs/npm unless a node is already on the PATH.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The exact SDK version of tests/serve/sdk/package-lock.json (skipped when already installed).
sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/serve/sdk"
if [ -d "$sdk_dir/node_modules/openai" ] && cmp -s "$sdk_dir/package-lock.json" "$sdk_dir/node_modules/.package-lock.json.installed"; then
  echo "install-deps: openai SDK present"
else
  echo "install-deps: npm ci in tests/serve/sdk"
  (cd "$sdk_dir" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.package-lock.json.installed)
fi
