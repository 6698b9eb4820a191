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

# 2. Debian packages, where apt is at hand: Fashion-MNIST (IDX files in /usr/share/datasets/fashion-mnist/), and
#    libtorch + g++ for the native `torch` backend's shim (shared/backend/torch; LWI_LIBTORCH selects another libtorch).
apt_packages=()
[ -d /usr/share/datasets/fashion-mnist ] || apt_packages+=(dataset-fashion-mnist)
if [ -z "${LWI_LIBTORCH:-}" ]; then
  [ -f /usr/include/ATen/ATen.h ] || apt_packages+=(libtorch-dev)
  command -v g++ >/dev/null 2>&1 || apt_packages+=(g++)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then
      if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="skip"; fi
    fi
    if [ "$sudo" = skip ]; then
      echo "lwi setup: cannot install ${apt_packages[*]} (not root, no sudo); datasets will be looked up elsewhere"
    else
      echo "lwi setup: installing ${apt_packages[*]} with apt-get"
      $sudo apt-get update -qq || true
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_packages[@]}" >/dev/null \
        || echo "lwi setup: apt-get could not install ${apt_packages[*]}; see data/README.md for other sources"
    fi
  else
    echo "lwi setup: no apt-get; Fashion-MNIST will be downloaded on first use (see data/README.md)"
  fi
fi

# 3. The torch backend's shim, built once per source hash into .lwi/native/ (a failure only means: no torch backend;
#    lwi then says so in one line and uses wasm).
if [ -x scripts/build-torch-shim.sh ]; then
  scripts/build-torch-shim.sh >/dev/null 2>/tmp/lwi-shim-build.log \
    && echo "lwi setup: torch backend shim ready" \
    || echo "lwi setup: torch backend not built ($(tail -n 1 /tmp/lwi-shim-build.log)); wasm will be used"
fi
