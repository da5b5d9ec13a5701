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
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
