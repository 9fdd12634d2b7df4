/* The soft-TLB layout both offset probes print (src/emu/soft_tlb.rs): QEMU's CPUTLBDesc and
 * CPUTLBDescFast per MMU mode inside the target's CPU struct `cpu_type`, and CPUTLBEntry.
 * Included after the target's headers and the OFF macro. */
#define PRINT_TLB_OFFSETS(cpu_type)                                                              \
    do {                                                                                         \
        OFF("CPU_TLB_D", cpu_type, neg.tlb.d);                                                   \
        OFF("CPU_TLB_F", cpu_type, neg.tlb.f);                                                   \
        OFF("TLB_DESC_IOTLB", CPUTLBDesc, iotlb);                                                \
        OFF("TLB_FAST_TABLE", CPUTLBDescFast, table);                                            \
        OFF("TLB_FAST_MASK", CPUTLBDescFast, mask);                                              \
        OFF("TLB_DESC_WINDOW_MAX", CPUTLBDesc, window_max_entries);                              \
        OFF("TLB_DESC_N_USED", CPUTLBDesc, n_used_entries);                                      \
        OFF("TLB_ENTRY_ADDR_READ", CPUTLBEntry, addr_read);                                      \
        OFF("TLB_ENTRY_ADDR_WRITE", CPUTLBEntry, addr_write);                                    \
        OFF("TLB_ENTRY_ADDR_CODE", CPUTLBEntry, addr_code);                                      \
        printf("pub const CPU_TLB_ENTRY_BITS: usize = %d;\n", CPU_TLB_ENTRY_BITS);               \
        printf("pub const TLB_DESC_SIZE: usize = %zu;\n", sizeof(CPUTLBDesc));                   \
        printf("pub const TLB_FAST_SIZE: usize = %zu;\n", sizeof(CPUTLBDescFast));               \
        printf("pub const NB_MMU_MODES: usize = %d;\n", NB_MMU_MODES);                           \
    } while (0)
