/* Compiled and run by build.rs against the unicorn-engine-sys crate's own QEMU headers for
 * aarch64: prints the layout of the arm64 CPU's soft TLB (QEMU's CPUTLBDesc and
 * CPUTLBDescFast per MMU mode, and CPUTLBEntry), which src/emu/soft_tlb.rs keeps honest, and
 * where the CPU keeps its PC (src/emu/arm64/traps.rs moves it from inside the interrupt hook). */
#include "qemu/osdep.h"
#include "cpu.h"
#include "uc_priv.h"
#include <stddef.h>
#include <stdio.h>

#define OFF(name, type, field) printf("pub const %s: usize = %zu;\n", name, offsetof(type, field))

int main(void) {
    OFF("CPU_ENV_PTR", CPUState, env_ptr);
    OFF("ENV_PC", CPUARMState, pc);
    OFF("CPU_TLB_D", ARMCPU, neg.tlb.d);
    OFF("CPU_TLB_F", ARMCPU, neg.tlb.f);
    OFF("TLB_FAST_TABLE", CPUTLBDescFast, table);
    OFF("TLB_FAST_MASK", CPUTLBDescFast, mask);
    OFF("TLB_DESC_WINDOW_MAX", CPUTLBDesc, window_max_entries);
    OFF("TLB_DESC_N_USED", CPUTLBDesc, n_used_entries);
    OFF("TLB_ENTRY_ADDR_READ", CPUTLBEntry, addr_read);
    OFF("TLB_ENTRY_ADDR_WRITE", CPUTLBEntry, addr_write);
    OFF("TLB_ENTRY_ADDR_CODE", CPUTLBEntry, addr_code);
    printf("pub const CPU_TLB_ENTRY_BITS: usize = %d;\n", CPU_TLB_ENTRY_BITS);
    printf("pub const TLB_DESC_SIZE: usize = %zu;\n", sizeof(CPUTLBDesc));
    printf("pub const TLB_FAST_SIZE: usize = %zu;\n", sizeof(CPUTLBDescFast));
    printf("pub const NB_MMU_MODES: usize = %d;\n", NB_MMU_MODES);
    return 0;
}
