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
#include "tlb_offsets.h"

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
    PRINT_TLB_OFFSETS(SPARCCPU);
    printf("pub const MAX_NWINDOWS: usize = %d;\n", MAX_NWINDOWS);
    printf("pub const ENV_SIZE: usize = %zu;\n", sizeof(CPUSPARCState));
    return 0;
}
