#!/usr/bin/env bash
# Installs every Debian package Marrowscope needs, selects the OpenMP OpenBLAS, and installs the
# web app's npm packages. Idempotent: a second run changes nothing and is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git libexpected-dev
  libtorch-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libcpp-httplib-dev libsqlite3-dev libpqxx-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libsodium-dev libzip-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-16 libfuzzer-16-dev
  libopenblas0-openmp
  postgresql
  chromium fonts-noto-cjk
  curl ca-certificates
  libtinyxml2-dev
  libopenslide-dev libvips-tools
  wrk
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi

# Node.js and npm: use what is present (the machine ships Node 20); install Debian's otherwise.
if ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q nodejs npm
fi

# LibTorch links libblas.so.3; the reference BLAS is ~40x slower than OpenMP OpenBLAS here.
BLAS_LINK=libblas.so.3-x86_64-linux-gnu
OPENBLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if [ -e "$OPENBLAS" ]; then
  current=$(update-alternatives --query "$BLAS_LINK" 2>/dev/null | awk '/^Value:/{print $2}')
  if [ "$current" != "$OPENBLAS" ]; then
    $SUDO update-alternatives --set "$BLAS_LINK" "$OPENBLAS"
  fi
  LAPACK_LINK=liblapack.so.3-x86_64-linux-gnu
  OPENLAPACK=/usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3
  if [ -e "$OPENLAPACK" ]; then
    current=$(update-alternatives --query "$LAPACK_LINK" 2>/dev/null | awk '/^Value:/{print $2}')
    if [ "$current" != "$OPENLAPACK" ]; then
      $SUDO update-alternatives --set "$LAPACK_LINK" "$OPENLAPACK"
    fi
  fi
fi

# Web app dependencies, once the app exists. npm ci reproduces package-lock.json exactly.
if [ -f web/package-lock.json ]; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    (cd web && npm ci --no-audit --no-fund --prefer-offline)
  fi
fi
echo "install-deps: done"
