#!/usr/bin/env bash
# Idempotent set-up for a machine with only Node + npm (+ Debian apt): the pinned Bun and the npm packages, and the
# data the main job needs. Called by `npm test` and `npm start` (their pre-scripts), so the README's commands work
# on a fresh clone. Safe to run again: each part is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. npm packages, including Bun itself (npm package `bun`, pinned in package.json).
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "lwi setup: installing npm packages (npm ci)"
  npm ci --no-audit --no-fund
fi

# 2. Debian packages, where apt is at hand. CI requires what the headline figures rest on (tests/requirements.ts):
#    - Fashion-MNIST (IDX files in /usr/share/datasets/fashion-mnist/);
#    - libtorch + g++ for the native `torch` backend's shim (shared/backend/torch; LWI_LIBTORCH selects another libtorch);
#    - the PyTorch benchmark peer: python3-torch, and libopenblas0-pthread so that libblas.so.3 (which both the peer
#      and lwi's libtorch load) is OpenBLAS rather than the reference BLAS: the peer runs with the same BLAS as lwi.
#    Each package is checked first, so a second run installs nothing.
installed() { command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_packages=()
[ -d /usr/share/datasets/fashion-mnist ] || apt_packages+=(dataset-fashion-mnist)
if [ -z "${LWI_LIBTORCH:-}" ]; then
  [ -f /usr/include/ATen/ATen.h ] || apt_packages+=(libtorch-dev)
  command -v g++ >/dev/null 2>&1 || apt_packages+=(g++)
fi
/usr/bin/python3 -c "import torch" >/dev/null 2>&1 || installed python3-torch || apt_packages+=(python3-torch)
installed libopenblas0-pthread || apt_packages+=(libopenblas0-pthread)
# The browser the report tests open report.html in (driven by the npm package playwright-core).
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
# The job server of distributed runs (`--queue`, pipelines/worker.ts): tests start their own on loopback.
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
missing_hint="the tests that need them will fail (a developer may skip them: LWI_ALLOW_MISSING=torch,fashion-mnist,pytorch,chromium,redis)"
if [ ${#apt_packages[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="skip"; fi
    fi
    if [ "$sudo" = skip ]; then
      echo "lwi setup: cannot install ${apt_packages[*]} (not root, no sudo); $missing_hint"
    else
      echo "lwi setup: installing ${apt_packages[*]} with apt-get"
      $sudo apt-get update -qq || echo "lwi setup: apt-get update failed; trying the install with the package lists at hand"
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_packages[@]}" >/dev/null \
        || echo "lwi setup: apt-get could not install ${apt_packages[*]}; $missing_hint (data/README.md lists other sources for the data)"
    fi
  else
    echo "lwi setup: no apt-get, so ${apt_packages[*]} are not installed; $missing_hint"
  fi
fi

# 3. The torch backend's shim, built once per source hash into .lwi/native/. Without it pipelines say so in one line
#    and use wasm, but the tests of the torch backend fail (CI requires it).
if [ -x scripts/build-torch-shim.sh ]; then
  log=$(mktemp)
  scripts/build-torch-shim.sh >/dev/null 2>"$log" \
    && echo "lwi setup: torch backend shim ready" \
    || echo "lwi setup: torch backend not built ($(tail -n 1 "$log")); pipelines will use wasm, and the torch tests will fail"
  rm -f "$log"
fi
