#!/usr/bin/env bash
# Installs what tagmmu needs besides Rust: cmake and libclang (to build Unicorn), the
# aarch64 and sparc64 cross compilers (to build the guest programs) and qemu-user (the
# differential oracle). On Debian/Ubuntu it installs what is missing with apt-get (through
# sudo when not root); elsewhere it names what to install and fails.
set -euo pipefail

# command -> Debian package
need=(
  "cmake:cmake"
  "aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu"
  "sparc64-linux-gnu-gcc:gcc-sparc64-linux-gnu"
  "qemu-aarch64:qemu-user"
  "qemu-sparc64:qemu-user"
)
missing=()
for pair in "${need[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
# Headers and libraries without a command to probe for.
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in libclang-dev libc6-dev-arm64-cross libc6-dev-sparc64-cross; do
    have_pkg "$pkg" || missing+=("$pkg")
  done
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
install_missing() {
  # De-duplicate.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing: ${missing[*]}" >&2
    echo "setup: this is not a Debian/Ubuntu system; install the equivalents of these packages by hand" >&2
    exit 1
  fi
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup: missing: ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}
if [ ${#missing[@]} -ne 0 ]; then
  install_missing
fi
# Headless Chromium for the report page's browser test (tests/report_page.rs). Debian ships it
# as `chromium`; Ubuntu's apt only has a snap wrapper, so there point TAGMMU_CHROMIUM at a
# Chromium or Chrome binary instead.
if [ -z "${TAGMMU_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  # The policy is read into a variable first: `apt-cache policy | grep -q` under pipefail
  # fails whenever grep stops reading early and apt-cache dies of SIGPIPE.
  policy=$(apt-cache policy chromium 2>/dev/null || true)
  if command -v apt-get >/dev/null 2>&1 && [[ $policy == *"Candidate: "[0-9]* ]]; then
    missing=(chromium)
    install_missing
  else
    echo "setup: no chromium package here: the browser test needs TAGMMU_CHROMIUM=/path/to/chromium" >&2
  fi
fi
# The third-party differential corpus (busybox-static for arm64), fetched, not committed.
"$(dirname "$0")/fetch-corpus.sh"
# Unicorn with tagmmu's patch queue (build_support/unicorn), which Cargo links instead of
# unicorn-engine-sys's own build (.cargo/config.toml). Skipped when already built.
"$(dirname "$0")/build-unicorn.sh"
