// niagara4_v9.c - niagara4.c built for the plain V9 CPU (no CBcond, no VIS3): the reference
// its -mcpu=niagara4 twin must match line for line (tests/sparc64_isa.rs), and a differential
// program against qemu-sparc64.
// argv: none.
// Expected stdout: as niagara4.c.
// Expected exit status: 0
// tagmmu: cflags -ffp-contract=off
// tagmmu: differential
#include "niagara4.c"
