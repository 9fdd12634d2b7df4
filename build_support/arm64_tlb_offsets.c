/* Compiled and run by build.rs against the unicorn-engine-sys crate's own QEMU headers for
 * aarch64: prints the layout of the arm64 CPU's soft TLB (QEMU's CPUTLBDesc and
 * CPUTLBDescFast per MMU mode, and CPUTLBEntry), which src/emu/soft_tlb.rs keeps honest, and
 * where the CPU keeps its PC and general registers (src/emu/arm64/cpu_env.rs reads and writes
 * them from inside the hooks). */
#include "qemu/osdep.h"
#include "cpu.h"
#include "uc_priv.h"
#include <stddef.h>
#include <stdio.h>

#define OFF(name, type, field) printf("pub const %s: usize = %zu;\n", name, offsetof(type, field))
#include "tlb_offsets.h"

int main(void) {
    OFF("CPU_ENV_PTR", CPUState, env_ptr);
    OFF("ENV_PC", CPUARMState, pc);
    OFF("ENV_XREGS", CPUARMState, xregs);
    PRINT_TLB_OFFSETS(ARMCPU);
    return 0;
}
