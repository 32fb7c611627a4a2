#!/bin/bash
# Build the offline wheelhouse for a CM4 (Raspberry Pi OS bookworm, arm64, CPython 3.11):
#
#   deploy/wheelhouse.sh [DIR]        (default dist/wheelhouse-cp311-aarch64)
#
# then copy DIR to the board and `sudo deploy/install.sh --wheel DIR/evse-*.whl --wheelhouse DIR`.
# It builds our wheel (pure Python: py3-none-any) and downloads every dependency, resolved
# from that wheel's own metadata (pyproject.toml), as a binary wheel for cp311 on aarch64
# (manylinux 2.17/2.28: bookworm has glibc 2.36). `--only-binary :all:` makes a dependency
# without an arm64 wheel an error here, on the build machine, instead of a compile (or a
# missing compiler) on the board: this is the arm64 installability check of issue 13.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(dirname "$HERE")"
OUT="${1:-$SRC/dist/wheelhouse-cp311-aarch64}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
"$PY" -m pip wheel -q --no-deps -w "$OUT" "$SRC"
WHEEL="$(ls -t "$OUT"/evse-*.whl | head -1)"
"$PY" -m pip download -q -d "$OUT" --only-binary=:all: --python-version 3.11 \
    --implementation cp --abi cp311 --abi abi3 --abi none \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_17_aarch64 \
    --platform manylinux2014_aarch64 --platform linux_aarch64 "$WHEEL"
echo "wheelhouse $OUT: $(ls "$OUT" | wc -l) wheels"
ls "$OUT"
