#!/usr/bin/env bash
# The main demo: the sub-page fault live-lock on both tag-checking MMUs (arm64 MTE and SPARC
# ADI), before and after the fix, then real static programs run by tagmmu and every scenario.
set -u
tagmmu=${1:-target/release/tagmmu}
guest=$("$tagmmu" programs --dir)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "arm64 MTE: btrfs search_ioctl on Linux 5.16 (before the fix) live-locks"
"$tagmmu" run configs/btrfs-5.16-livelock.yaml
say "arm64 MTE: the same program and buffer on Linux 5.19 (fault_in_subpage_writeable) gets EFAULT"
"$tagmmu" run configs/btrfs-5.19-efault.yaml

say "SPARC ADI: the same search on Linux 5.16 live-locks"
"$tagmmu" run configs/sparc-adi-5.16-livelock.yaml
say "SPARC ADI: Linux 5.19 upstream still live-locks (no SPARC probe_subpage_writeable)"
"$tagmmu" run configs/sparc-adi-5.19-livelock.yaml
say "SPARC ADI: Linux 5.19 with tagmmu's ADI probe (one read per 64-byte block) gets EFAULT"
"$tagmmu" run configs/sparc-adi-5.19-probe-efault.yaml

say "Every modelled fault-in loop on every modelled kernel (tagmmu loops: the kernel model alone)"
"$tagmmu" loops

say "arm64 MTE: btrfs_buffered_write on Linux 6.14 (6.13+) live-locks on a page-aligned write"
"$tagmmu" run configs/btrfs-6.14-buffered-write-livelock.yaml
say "arm64 MTE: gfs2's buffered read live-locks since 5.16 (its fault-in never sees tags)"
"$tagmmu" run configs/gfs2-5.16-read-livelock.yaml
say "arm64 MTE store-only (6.17): the sub-page probe reads, reads are unchecked: search_ioctl live-locks again"
"$tagmmu" run configs/btrfs-6.17-store-only-livelock.yaml

say "tagmmu exec: a static glibc arm64 program, with its syscalls traced"
"$tagmmu" exec --clear-env --trace "$guest/arm64/hello"
say "tagmmu exec: a static glibc sparc64 program, with its syscalls traced"
"$tagmmu" exec --clear-env --trace "$guest/sparc64/hello"

say "tagmmu exec: a load from address 0x10 (the report names signal, si_code, address and instruction)"
"$tagmmu" exec --clear-env "$guest/arm64/segv" read
echo "exit status: $?"
say "tagmmu exec: an ADI load through the wrong version (SPARC M7, precise SEGV_ADIPERR)"
"$tagmmu" exec --clear-env "$guest/sparc64/adi_doc_example" 1 mismatch
echo "exit status: $?"

shown="btrfs-5.16-livelock btrfs-5.19-efault sparc-adi-5.16-livelock sparc-adi-5.19-livelock sparc-adi-5.19-probe-efault btrfs-6.14-buffered-write-livelock gfs2-5.16-read-livelock btrfs-6.17-store-only-livelock"
for s in configs/*.yaml; do
  name=$(basename "$s" .yaml)
  case " $shown " in *" $name "*) continue ;; esac
  say "tagmmu run $s"
  "$tagmmu" run "$s"
done
