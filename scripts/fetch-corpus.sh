#!/usr/bin/env bash
# Fetches the third-party differential corpus (not committed): the distribution's static
# busybox for arm64, into target/corpus/arm64/busybox. It uses a private apt state (its own
# sources list, lists and cache in a temporary directory), so the system's apt configuration
# and architectures are left as they are. Debian: deb.debian.org; Ubuntu: ports.ubuntu.com.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/corpus/arm64/busybox
[ -x "$out" ] && exit 0
command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || {
  echo "fetch-corpus: needs apt-get and dpkg-deb (Debian/Ubuntu) to fetch busybox-static:arm64" >&2
  exit 1
}
. /etc/os-release
case "${ID:-}" in
  ubuntu) line="deb [arch=arm64] http://ports.ubuntu.com/ubuntu-ports ${VERSION_CODENAME} main universe" ;;
  *) line="deb [arch=arm64] http://deb.debian.org/debian ${VERSION_CODENAME:-bookworm} main" ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
echo "$line" >"$tmp/sources.list"
apt_opts=(-q -o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "APT::Architectures=arm64"
  -o "Debug::NoLocking=1")
# apt drops to its _apt user to download, which cannot write the private directory.
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o "APT::Sandbox::User=root")
echo "fetch-corpus: fetching busybox-static:arm64 (${line})" >&2
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$tmp" && apt-get "${apt_opts[@]}" download busybox-static:arm64 >/dev/null)
dpkg-deb -x "$tmp"/busybox-static_*_arm64.deb "$tmp/root"
mkdir -p "$(dirname "$out")"
cp "$tmp/root/bin/busybox" "$out"
chmod +x "$out"
