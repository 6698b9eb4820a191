#!/usr/bin/env bash
# Builds the `torch` backend's native shim (shared/backend/torch/shim.cpp + shim-*.h) against libtorch and prints the path of
# the library on stdout (the only line on stdout). Built once per (source, compiler flags, libtorch) into
#   .lwi/native/<sha256>/libshim.so
# and reused afterwards; the library is compiled into a temp file and moved into place, so a build killed halfway
# leaves no half-written library behind.
#
# libtorch: by default Debian's `libtorch-dev` (headers under /usr/include, libraries on the default search path;
# `apt-get install libtorch-dev`). LWI_LIBTORCH=<root> uses another one instead, laid out as the libtorch zip from
# pytorch.org or a pip torch package (`python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))'`):
#   <root>/include, <root>/include/torch/csrc/api/include, <root>/lib/libtorch.so — the library is linked with an
# rpath to <root>/lib so it loads without LD_LIBRARY_PATH.
# CXX overrides the compiler (default g++). Exits non-zero with one line on stderr saying what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

src=shared/backend/torch/shim.cpp
# everything the compiler reads from the repo: the key changes when any of it does
sources=(shared/backend/torch/shim.cpp shared/backend/torch/shim-*.h)
cxx=${CXX:-g++}
fail() { echo "build-torch-shim: $*" >&2; exit 1; }

[ -f "$src" ] || fail "missing $src"
command -v "$cxx" >/dev/null 2>&1 || fail "no C++ compiler ($cxx); install g++ (apt-get install g++)"

if [ -n "${LWI_LIBTORCH:-}" ]; then
  root=${LWI_LIBTORCH%/}
  [ -f "$root/include/ATen/ATen.h" ] || fail "LWI_LIBTORCH=$root has no include/ATen/ATen.h"
  [ -e "$root/lib/libtorch_cpu.so" ] || fail "LWI_LIBTORCH=$root has no lib/libtorch_cpu.so"
  flags=(-I"$root/include" -I"$root/include/torch/csrc/api/include" -L"$root/lib" -Wl,-rpath,"$root/lib")
else
  root=/usr
  [ -f /usr/include/ATen/ATen.h ] || fail "libtorch headers not found (/usr/include/ATen/ATen.h); apt-get install libtorch-dev, or set LWI_LIBTORCH=<libtorch root>"
  flags=()
fi
# -D_GLIBCXX_USE_CXX11_ABI must match how libtorch was built; pip wheels before 2.x used the old ABI.
if [ -f "$root/include/ATen/ATen.h" ] && [ -n "${LWI_LIBTORCH:-}" ] && [ -f "$root/share/cmake/Torch/TorchConfig.cmake" ]; then
  abi=$(grep -o '_GLIBCXX_USE_CXX11_ABI=[01]' "$root/share/cmake/Torch/TorchConfig.cmake" | head -1 || true)
  [ -n "$abi" ] && flags+=("-D$abi")
fi
# -fopenmp: ATen's parallel_for is a header template that runs serially unless the includer is compiled with OpenMP
# (Debian's libtorch parallelises with OpenMP/libgomp); without it every loop of the shim ran on one thread.
flags+=(-O3 -shared -fPIC -std=c++17 -fopenmp -w)
libs=(-ltorch -ltorch_cpu -lc10)

key=$( { sha256sum "${sources[@]}"; echo "$cxx ${flags[*]} ${libs[*]} $root"; "$cxx" --version | head -1; } | sha256sum | cut -c1-16)
out=.lwi/native/$key/libshim.so
if [ ! -f "$out" ]; then
  mkdir -p "$(dirname "$out")"
  tmp=$(mktemp "$out.XXXXXX.tmp")
  trap 'rm -f "$tmp"' EXIT
  echo "build-torch-shim: compiling $src (10–30 s)" >&2
  if ! "$cxx" "${flags[@]}" "$src" -o "$tmp" "${libs[@]}" 2>"$tmp.log"; then
    first=$(grep -m1 -E 'error|cannot find' "$tmp.log" || head -1 "$tmp.log")
    rm -f "$tmp.log"
    fail "compile failed: $first"
  fi
  rm -f "$tmp.log"
  mv "$tmp" "$out"
fi
echo "$PWD/$out"
