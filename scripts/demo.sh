#!/usr/bin/env bash
# The main demo: a real static arm64 program run by tagmmu, a crash explained, and a
# scenario checked.
set -u
tagmmu=${1:-target/release/tagmmu}
guest=$("$tagmmu" programs --dir)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "The sub-page fault live-lock: btrfs search_ioctl on Linux 5.16 (before the fix)"
"$tagmmu" run configs/btrfs-5.16-livelock.yaml

say "The same program and buffer on Linux 5.19 (with fault_in_subpage_writeable)"
"$tagmmu" run configs/btrfs-5.19-efault.yaml

say "tagmmu exec: a static glibc arm64 program, with its syscalls traced"
"$tagmmu" exec --clear-env --trace "$guest/arm64/hello"

say "tagmmu exec: a load from address 0x10 (the report names signal, si_code, address and instruction)"
"$tagmmu" exec --clear-env "$guest/arm64/segv" read
echo "exit status: $?"

for s in configs/*.yaml; do
  case $s in configs/btrfs-5.16-livelock.yaml|configs/btrfs-5.19-efault.yaml) continue ;; esac
  say "tagmmu run $s"
  "$tagmmu" run "$s"
done
