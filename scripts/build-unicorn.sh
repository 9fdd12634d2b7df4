#!/usr/bin/env bash
# Builds Unicorn 2.1.5 with tagmmu's patch queue (build_support/unicorn/*.patch) into
# target/unicorn-tagmmu/, where Cargo finds it: .cargo/config.toml points unicorn-engine-sys's
# pkg-config probe at target/unicorn-tagmmu/prefix/lib/pkgconfig, so the crate links this
# library instead of building its own unpatched copy. See build_support/unicorn/README.md.
#
# The source is the unicorn-engine-sys crate Cargo resolved (registry, vendor/ directory or
# git), located with `cargo metadata`, so offline and vendored builds work. The build is
# skipped when the stamp (Unicorn version + the patches' contents) is unchanged.
set -euo pipefail
shopt -s nullglob
root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/target/unicorn-tagmmu
version=2.1.5
patches=("$root"/build_support/unicorn/*.patch)
cargo=${CARGO:-cargo}

stamp=$( { echo "unicorn $version in $work"; cat "$0" "${patches[@]}"; } | sha256sum | cut -d' ' -f1)
if [ -f "$work/prefix/lib/libunicorn.a" ] && [ "$(cat "$work/prefix/.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi

# Where Cargo put unicorn-engine-sys (downloading it when online and not yet fetched).
metadata() { "$cargo" metadata --format-version 1 --locked --manifest-path "$root/Cargo.toml" "$@"; }
json=$(metadata --offline 2>/dev/null || metadata)
manifest=$(printf '%s' "$json" | grep -o '"manifest_path":"[^"]*unicorn-engine-sys[^"]*Cargo.toml"' | head -1 | cut -d'"' -f4)
src_orig=$(dirname "$manifest")
if [ -z "$manifest" ] || [ ! -f "$src_orig/qemu/target/sparc/cpu.h" ]; then
  echo "build-unicorn: cannot find the unicorn-engine-sys $version sources through cargo metadata" >&2
  exit 1
fi
for tool in cmake make cc patch; do
  command -v "$tool" >/dev/null || { echo "build-unicorn: $tool is missing (make setup installs it)" >&2; exit 1; }
done

echo "build-unicorn: Unicorn $version from $src_orig with ${#patches[@]} patches" >&2
# From scratch: a file a removed patch had changed gets its old time back, which make would
# take for up to date.
rm -rf "$work/src" "$work/build" "$work/prefix"
mkdir -p "$work"
cp -a "$src_orig" "$work/src"
chmod -R u+w "$work/src"
for p in "${patches[@]}"; do
  patch -d "$work/src" -p1 --forward --quiet < "$p" || { echo "build-unicorn: $(basename "$p") does not apply" >&2; exit 1; }
done
# What uc_tagmmu_patches() (patch 0000) reports: the queue, one name per line.
{
  echo "/* Written by tagmmu's scripts/build-unicorn.sh. */"
  printf '#define TAGMMU_UNICORN_PATCHES "'
  for p in "${patches[@]}"; do printf '%s\\n' "$(basename "$p")"; done
  echo '"'
} > "$work/src/tagmmu_patches.h"
# The configuration unicorn-engine-sys's own CMake build uses (arch list, no tests), static.
cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections" \
  -DUNICORN_ARCH="aarch64;sparc" -DUNICORN_BUILD_TESTS=OFF -DUNICORN_INSTALL=ON \
  -DBUILD_SHARED_LIBS=OFF -DUNICORN_LEGACY_STATIC_ARCHIVE=ON \
  -DCMAKE_INSTALL_PREFIX="$work/prefix" -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
log=$work/build.log
cmake --build "$work/build" -j "$(nproc)" >"$log" 2>&1 || { tail -40 "$log" >&2; echo "build-unicorn: the build failed (log: $log)" >&2; exit 1; }
cmake --install "$work/build" >/dev/null
echo "$stamp" > "$work/prefix/.stamp"
# unicorn-engine-sys bundles the static library into its rlib, and nothing tells Cargo that
# the library changed: drop the crate's build outputs so that the next build takes the new one.
for profile in dev release bench test; do
  "$cargo" clean --quiet --profile "$profile" -p unicorn-engine-sys --manifest-path "$root/Cargo.toml" 2>/dev/null || true
done
if [ -d "$root/fuzz/target" ]; then
  # cargo fuzz builds for the host triple explicitly.
  host=$(rustc -vV | sed -n 's/^host: //p')
  for t in "" "--target=$host"; do
    "$cargo" clean --quiet --release $t -p unicorn-engine-sys --manifest-path "$root/fuzz/Cargo.toml" 2>/dev/null || true
  done
fi
