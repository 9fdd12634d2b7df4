#!/usr/bin/env bash
# The main demo: the sub-page fault live-lock on both tag-checking MMUs (arm64 MTE and SPARC
# ADI), before and after the fix, and O_DIRECT beside it, told with pictures of the granules;
# then a report page comparing the runs. `scripts/demo.sh TAGMMU --all` adds the catalogue:
# every other scenario, the loop table and traced programs (`make test` checks them all).
set -u
tagmmu=${1:-target/release/tagmmu}
all=${2:-}
guest=$("$tagmmu" programs --dir)
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
line() { printf '%s\n' "$*"; }

say "What you are about to see"
line "arm64 MTE gives every 16-byte granule of memory a 4-bit tag, and every pointer one in bits 59:56"
line "(tagmmu writes a pointer TAG:ADDRESS, e.g. 0x3:0xfffff77fd068). An access whose tags differ faults,"
line "in the middle of a page. SPARC ADI does the same per 64-byte block (pointer bits 63:60)."
line "Why the kernel copies with page faults disabled: filesystems copy to user memory while holding locks;"
line "a page fault there could need the same locks and deadlock. So the copy stops short instead, the"
line "kernel 'faults in' the user range with fault_in_*(), and retries. Before Linux 5.19 fault-in touched"
line "one byte per page, so it never saw a mistagged granule: a loop that retries from the same place spins."
line "What a real kernel does then: it spins for ever. tagmmu proves the repeat and ends the run itself"
line "(SIGKILL from tagmmu, or an errno you choose): that ending is tagmmu's, not Linux's."

say "1. arm64 MTE, Linux 5.16: btrfs search_ioctl live-locks (fault-in probes only page starts)"
"$tagmmu" run configs/btrfs-5.16-livelock.yaml
say "2. arm64 MTE, Linux 5.19: fault_in_subpage_writeable() reads every granule, finds the bad one: EFAULT"
"$tagmmu" run configs/btrfs-5.19-efault.yaml
say "3. SPARC ADI, Linux 5.19 upstream: still live-locks (no probe_subpage_writeable() for SPARC)"
"$tagmmu" run configs/sparc-adi-5.19-livelock.yaml
say "4. SPARC ADI, Linux 5.19 with the ADI probe tagmmu adds (one read per 64-byte block): EFAULT"
"$tagmmu" run configs/sparc-adi-5.19-probe-efault.yaml
say "5. O_DIRECT: GUP pins the pages and the kernel copies through its own mapping: no tag check, no live-lock"
"$tagmmu" run configs/btrfs-5.16-odirect-completes.yaml

page=target/demo/report.html
say "The report page: 5.16 next to 5.19 on arm64, SPARC upstream next to SPARC with the probe"
"$tagmmu" run configs/btrfs-5.16-livelock.yaml configs/btrfs-5.19-efault.yaml \
  configs/sparc-adi-5.19-livelock.yaml configs/sparc-adi-5.19-probe-efault.yaml --html "$page"

if [ "$all" = "--all" ]; then
  say "Every modelled fault-in loop on every modelled kernel (tagmmu loops: the kernel model alone)"
  "$tagmmu" loops
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
  say "Every scenario in configs/"
  "$tagmmu" run configs/
else
  line ""
  line "More: scripts/demo.sh $tagmmu --all (every scenario, the loop table, traced programs); make test checks them all."
fi

say "Open the report page: $(pwd)/$page"
