/* Compiled and run by build.rs against the unicorn-engine-sys crate's own QEMU headers: prints
 * the offsets of the private CPU state tagmmu's SPARC64 backend reaches (Unicorn offers no
 * API for the register-window, condition-code and ASI state), and of the engine and memory
 * region fields the tag-checked MMIO windows use (src/emu/access_hook.rs). */
#include "qemu/osdep.h"
#include "cpu.h"
#include "uc_priv.h"
#include <stddef.h>
#include <stdio.h>

#define OFF(name, type, field) printf("pub const %s: usize = %zu;\n", name, offsetof(type, field))

int main(void) {
    OFF("UC_CPU", struct uc_struct, cpu);
    OFF("CPU_ENV_PTR", CPUState, env_ptr);
    OFF("CPU_MEM_IO_PC", CPUState, mem_io_pc);
    OFF("UC_MEMORY_MAPPING", struct uc_struct, memory_mapping);
    OFF("UC_SIZE_RECUR_MEM", struct uc_struct, size_recur_mem);
    OFF("MR_OPS", MemoryRegion, ops);
    OFF("OPS_IMPL_MAX_ACCESS_SIZE", MemoryRegionOps, impl.max_access_size);
    OFF("ENV_REGWPTR", CPUSPARCState, regwptr);
    OFF("ENV_PC", CPUSPARCState, pc);
    OFF("ENV_NPC", CPUSPARCState, npc);
    OFF("ENV_Y", CPUSPARCState, y);
    OFF("ENV_CWP", CPUSPARCState, cwp);
    OFF("ENV_REGBASE", CPUSPARCState, regbase);
    OFF("ENV_NWINDOWS", CPUSPARCState, nwindows);
    OFF("ENV_ASI", CPUSPARCState, asi);
    OFF("ENV_PSTATE", CPUSPARCState, pstate);
    OFF("ENV_TL", CPUSPARCState, tl);
    OFF("ENV_CANSAVE", CPUSPARCState, cansave);
    OFF("ENV_CANRESTORE", CPUSPARCState, canrestore);
    OFF("ENV_OTHERWIN", CPUSPARCState, otherwin);
    OFF("ENV_WSTATE", CPUSPARCState, wstate);
    OFF("ENV_CLEANWIN", CPUSPARCState, cleanwin);
    OFF("ENV_FPRS", CPUSPARCState, fprs);
    OFF("ENV_GSR", CPUSPARCState, gsr);
    OFF("ENV_FSR", CPUSPARCState, fsr);
    OFF("ENV_FPR", CPUSPARCState, fpr);
    /* The soft-TLB tables Unicorn's sparc_release does not free (src/emu/sparc64/cpu.rs). */
    OFF("CPU_TLB_D", SPARCCPU, neg.tlb.d);
    OFF("CPU_TLB_F", SPARCCPU, neg.tlb.f);
    OFF("TLB_DESC_IOTLB", CPUTLBDesc, iotlb);
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
    printf("pub const MAX_NWINDOWS: usize = %d;\n", MAX_NWINDOWS);
    printf("pub const ENV_SIZE: usize = %zu;\n", sizeof(CPUSPARCState));
    return 0;
}
