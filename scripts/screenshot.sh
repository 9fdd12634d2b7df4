#!/usr/bin/env bash
# The README's picture of the report page (docs/report-page.png): the page for Linux 5.16 and
# 5.19 side by side, photographed by headless Chromium (TAGMMU_CHROMIUM or `chromium`).
set -euo pipefail
tagmmu=${1:-target/release/tagmmu}
browser=${TAGMMU_CHROMIUM:-chromium}
out=target/screenshot
mkdir -p "$out"
"$tagmmu" run configs/btrfs-5.16-livelock.yaml configs/btrfs-5.19-efault.yaml --html "$out/report.html" >/dev/null
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars \
  --user-data-dir="$out/profile" --window-size=1200,1000 \
  --screenshot="$(pwd)/docs/report-page.png" "file://$(pwd)/$out/report.html" 2>/dev/null
echo "docs/report-page.png written"
