#!/usr/bin/env bash
# Assemble the seed instruction streams of the insns_* fuzz targets into fuzz/corpus/<target>/
# (raw words, the target's byte order). Needs the cross binutils (`make setup`).
set -euo pipefail
cd "$(dirname "$0")"
for arch in arm64:aarch64-linux-gnu:-march=armv8.5-a+memtag sparc64:sparc64-linux-gnu:-Av9v; do
  IFS=: read -r name triple flags <<<"$arch"
  mkdir -p "../corpus/insns_$name"
  for s in "insns_$name"/*.s; do
    o=$(mktemp)
    "$triple-as" $flags -o "$o" "$s"
    "$triple-objcopy" -O binary -j .text "$o" "../corpus/insns_$name/$(basename "$s" .s)"
    rm -f "$o"
  done
done
