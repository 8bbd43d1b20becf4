#!/usr/bin/env bash
# Vendors the build dependencies of decodesim (all header-only here, plus fmt's small shared library
# and Catch2's CMake package) from this machine's Debian packages into .gpu-deps/, laid out like the
# /usr prefix they come from, so that on a machine without the packages (the GPU machine)
#   cmake -S . -B build -DCMAKE_PREFIX_PATH=$PWD/.gpu-deps
# finds every package through its own config file with no change to CMakeLists.txt.
# .gpu-deps/ is git-ignored (.git/info/exclude); pass it to the device tool in `carry`. About 13 MB.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$ROOT/.gpu-deps
ARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
rm -rf "$D"
mkdir -p "$D/include/eigen3" "$D/lib/cmake" "$D/share/cmake" "$D/share/eigen3" "$D/lib/$ARCH/cmake"
need() { [ -e "$1" ] || { echo "gpu_deps.sh: missing $1 (install the Debian package that provides it)" >&2; exit 1; }; }
for p in /usr/include/nlohmann /usr/include/CLI /usr/include/fmt /usr/include/catch2 /usr/include/eigen3/Eigen \
         /usr/lib/cmake/Catch2 /usr/lib/libCatch2WithMain.a /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 \
         /usr/share/eigen3/cmake /usr/lib/$ARCH/cmake/fmt; do need "$p"; done
cp -a /usr/include/nlohmann /usr/include/CLI /usr/include/fmt /usr/include/catch2 "$D/include/"
cp -a /usr/include/eigen3/Eigen /usr/include/eigen3/signature_of_eigen3_matrix_library "$D/include/eigen3/"
[ -d /usr/include/eigen3/unsupported ] && cp -a /usr/include/eigen3/unsupported "$D/include/eigen3/"
cp -a /usr/lib/cmake/Catch2 "$D/lib/cmake/"
cp -a /usr/lib/libCatch2WithMain.a "$D/lib/"
cp -a /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$D/share/cmake/"
cp -a /usr/share/eigen3/cmake "$D/share/eigen3/"
cp -a /usr/lib/$ARCH/cmake/fmt "$D/lib/$ARCH/cmake/"
cp -a /usr/lib/$ARCH/libfmt.so* "$D/lib/$ARCH/"
du -sh "$D"
