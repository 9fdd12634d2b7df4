/* The tag checks that must abandon an access precisely, in C.
 *
 * A tag check fault leaves the faulting load or store unperformed, with the PC on it and
 * nothing after it executed. The checks themselves are Rust (`check`, which never unwinds);
 * when one says the access faults, the C code here asks the engine to stop and leaves QEMU's
 * helper through QEMU's own cpu_loop_exit / cpu_loop_exit_restore (a siglongjmp back into the
 * CPU loop), so the access is never performed. The jump crosses only these C frames and
 * QEMU's: no Rust frame is skipped. See src/emu/access_hook.rs. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct uc_struct;
extern int uc_emu_stop(struct uc_struct *uc);

typedef int (*tagmmu_check_fn)(struct uc_struct *uc, void *user, int type, uint64_t addr, int size);

#include "tag_cache.h"

/* Mirrors `RawHook` in src/emu/access_hook.rs. */
struct tagmmu_check_hook {
    tagmmu_check_fn check;
    void *user;
    /* Offset of `cpu` in Unicorn's struct uc_struct (from the build-time probe). */
    size_t uc_cpu_offset;
    /* Offset of `mem_io_pc` in QEMU's CPUState (from the build-time probe). */
    size_t cpu_mem_io_pc_offset;
    /* QEMU's cpu_loop_exit for the engine's target; does not return. */
    void (*loop_exit)(void *cpu);
    /* QEMU's cpu_loop_exit_restore; does not return. */
    void (*loop_exit_restore)(void *cpu, uintptr_t host_pc);
    /* QEMU's cpu_restore_state. */
    bool (*restore_state)(void *cpu, uintptr_t host_pc, bool will_exit);
    /* MMIO windows: host memory behind offset 0 and the physical address of offset 0. */
    uint8_t *host;
    uint64_t base;
    /* Offsets (from the build-time probe): uc_struct.memory_mapping, uc_struct.size_recur_mem,
     * MemoryRegion.ops, MemoryRegionOps.impl.max_access_size. */
    size_t uc_memory_mapping_offset;
    size_t uc_size_recur_mem_offset;
    size_t mr_ops_offset;
    size_t ops_impl_max_offset;
    /* The fast path of an MTE window: the cache (NULL: none), the physical address of offset
     * 0 of the memory behind the window, and the window's pointer tag. */
    const struct tagmmu_tag_cache *cache;
    uint64_t phys_base;
    uint64_t tag;
    /* Accesses to the window checked on the direct path (Unicorn patch 0007) and served by
     * the MMIO callbacks, and the pieces of split accesses among them. */
    uint64_t direct;
    uint64_t dispatched;
    uint64_t split_pieces;
};

typedef void *(*memory_mapping_fn)(struct uc_struct *uc, uint64_t addr);

/* Let the MMIO window at `addr` take accesses of up to 8 bytes whole: Unicorn's MMIO regions
 * leave impl.max_access_size at 0, which QEMU treats as 4 and splits an 8-byte access into
 * two callbacks (a store whose second half faults would then be half written). The ops are
 * Unicorn's own heap copy for this region. Returns 0 on success. */
int tagmmu_widen_mmio(struct uc_struct *uc, const struct tagmmu_check_hook *h, uint64_t addr) {
    memory_mapping_fn mapping = *(memory_mapping_fn *)((char *)uc + h->uc_memory_mapping_offset);
    void *mr = mapping(uc, addr);
    if (!mr)
        return -1;
    char *ops = *(char **)((char *)mr + h->mr_ops_offset);
    if (!ops)
        return -1;
    *(unsigned *)(ops + h->ops_impl_max_offset) = 8;
    return 0;
}

/* Unicorn splits an access that is not naturally aligned into pieces (bytes for a store, the
 * two aligned words around it for a load) and marks the pieces with the whole access's size.
 * Returns that size, or 0 for a whole access. */
static inline int split_size(struct uc_struct *uc, const struct tagmmu_check_hook *h) {
    return *(int *)((char *)uc + h->uc_size_recur_mem_offset);
}

static void *cpu_of(struct uc_struct *uc, const struct tagmmu_check_hook *h) {
    return *(void **)((char *)uc + h->uc_cpu_offset);
}

/* A memory hook (uc_cb_hookmem_t). Unicorn has restored the accessing instruction's state
 * before calling it, so cpu_loop_exit leaves with the PC on the instruction. */
bool tagmmu_check_hook(struct uc_struct *uc, int type, uint64_t addr, int size, int64_t value, void *data) {
    struct tagmmu_check_hook *h = data;
    (void)value;
    if (h->check(uc, h->user, type, addr, size)) {
        void *cpu = cpu_of(uc, h);
        uc_emu_stop(uc);
        h->loop_exit(cpu);
    }
    return true;
}

/* A SYS-instruction hook (uc_cb_insn_sys_t): Unicorn stores the PC of the instruction before
 * calling it. Non-zero from the check: the instruction faults, precisely. */
uint32_t tagmmu_sys_hook(struct uc_struct *uc, int reg, const void *cp, void *data) {
    struct tagmmu_check_hook *h = data;
    (void)reg;
    if (h->check(uc, h->user, 0, (uint64_t)(uintptr_t)cp, 0)) {
        void *cpu = cpu_of(uc, h);
        uc_emu_stop(uc);
        h->loop_exit(cpu);
    }
    return 0;
}

/* Give the CPU the state of the instruction whose MMIO access is being served (QEMU records
 * the host return address of the access in mem_io_pc). For a check that needs the PC. */
void tagmmu_mmio_sync_pc(struct uc_struct *uc, const struct tagmmu_check_hook *h) {
    void *cpu = cpu_of(uc, h);
    uintptr_t ra = *(uintptr_t *)((char *)cpu + h->cpu_mem_io_pc_offset);
    if (ra) {
        h->restore_state(cpu, ra, false);
    }
}

static void mmio_abandon(struct uc_struct *uc, const struct tagmmu_check_hook *h) {
    void *cpu = cpu_of(uc, h);
    uintptr_t ra = *(uintptr_t *)((char *)cpu + h->cpu_mem_io_pc_offset);
    uc_emu_stop(uc);
    h->loop_exit_restore(cpu, ra);
}

/* The host return address of the MMIO access being served (the same for every piece of a
 * split access). */
uintptr_t tagmmu_io_retaddr(struct uc_struct *uc, const struct tagmmu_check_hook *h) {
    void *cpu = cpu_of(uc, h);
    return *(uintptr_t *)((char *)cpu + h->cpu_mem_io_pc_offset);
}

/* The size argument of an MMIO check: the piece's size, and in bits 8 and up the size of the
 * whole access when Unicorn split it (`split`, from split_size; 0 for a whole access). */
static int packed_size(unsigned size, int split) {
    return (int)size | (split << 8);
}

/* Whether the cached granule tags alone show that the access at `offset` passes: every granule
 * it touches carries the window's tag, and, for a store ending at a granule boundary, so does
 * the next granule (else the store may be the first half of a pair whose second half faults,
 * which the Rust check must see to undo it). Anything else (a page not cached, a mismatch, a
 * piece of a split access) goes to the Rust check, which decides the same way for a match. */
static int fast_allows(const struct tagmmu_check_hook *h, uint64_t offset, unsigned size, int store, int split) {
    if (!h->cache || size == 0 || split != 0) {
        return 0;
    }
    uint64_t pa = h->phys_base + offset;
    uint64_t page = pa >> TAGMMU_PAGE_SHIFT;
    if (((pa + size - 1) >> TAGMMU_PAGE_SHIFT) != page) {
        return 0;
    }
    unsigned slot = (unsigned)(page % TAGMMU_CACHE_PAGES);
    if (h->cache->page[slot] != page) {
        return 0;
    }
    const uint8_t *tags = h->cache->tags[slot];
    unsigned in_page = (unsigned)(pa & ((1u << TAGMMU_PAGE_SHIFT) - 1));
    unsigned first = in_page >> TAGMMU_GRANULE_SHIFT;
    unsigned last = (in_page + size - 1) >> TAGMMU_GRANULE_SHIFT;
    for (unsigned g = first; g <= last; g++) {
        if (tags[g] != h->tag) {
            return 0;
        }
    }
    if (store && ((in_page + size) & ((1u << TAGMMU_GRANULE_SHIFT) - 1)) == 0) {
        unsigned next = last + 1;
        if (next >= TAGMMU_PAGE_GRANULES || tags[next] != h->tag) {
            return 0;
        }
    }
    return 1;
}

/* Check an access of `size` bytes at `offset` in a tag-checked window; when it faults, leave
 * precisely (QEMU recorded the access's host return address in mem_io_pc). */
static void window_check(struct uc_struct *uc, struct tagmmu_check_hook *h, uint64_t offset, unsigned size,
                         int store) {
    int type = store ? 17 /* UC_MEM_WRITE */ : 16 /* UC_MEM_READ */;
    int split = split_size(uc, h);
    if (split != 0) {
        h->split_pieces++;
    }
    if (!fast_allows(h, offset, size, store, split) &&
        h->check(uc, h->user, type, h->base + offset, packed_size(size, split))) {
        mmio_abandon(uc, h);
    }
}

/* The check of a direct window (uc_cb_tagmmu_check_t, Unicorn patch 0007): Unicorn performs
 * the access on the host memory behind the window when this returns. */
void tagmmu_window_check(struct uc_struct *uc, uint64_t offset, unsigned size, bool store, void *data) {
    struct tagmmu_check_hook *h = data;
    h->direct++;
    window_check(uc, h, offset, size, store);
}

/* The data of the inline check (Unicorn patch 0013, uc_cb_tagmmu_window_fast_t) for the TLB
 * entry of the page at `offset` in a direct window: where the page's tags would be in the
 * cache, the slot's page number, and the page number and window tag the inline code expects.
 * The code checks the slot's number at each access, so the slot may hold another page (or
 * none) now: those accesses take the helper, whose Rust check fills the cache. */
void tagmmu_window_fast(void *data, uint64_t offset, const uint8_t **tags, const uint64_t **slot,
                        uint64_t *page_tag) {
    const struct tagmmu_check_hook *h = data;
    if (!h->cache) {
        *tags = NULL;
        return;
    }
    uint64_t page = (h->phys_base + offset) >> TAGMMU_PAGE_SHIFT;
    unsigned s = (unsigned)(page % TAGMMU_CACHE_PAGES);
    *tags = h->cache->tags[s];
    *slot = &h->cache->page[s];
    *page_tag = (page << 4) | (h->tag & 15);
}

/* MMIO read (uc_cb_mmio_read_t) of a tag-checked window: check, then load from the guest
 * memory behind it. Little-endian guest on a little-endian host: the bytes are the value.
 * Only the accesses a direct window does not take come here (see tagmmu_window_check). */
uint64_t tagmmu_mmio_read(struct uc_struct *uc, uint64_t offset, unsigned size, void *data) {
    struct tagmmu_check_hook *h = data;
    h->dispatched++;
    window_check(uc, h, offset, size, 0);
    uint64_t v = 0;
    memcpy(&v, h->host + offset, size <= 8 ? size : 8);
    return v;
}

/* MMIO write (uc_cb_mmio_write_t): check, then store. */
void tagmmu_mmio_write(struct uc_struct *uc, uint64_t offset, unsigned size, uint64_t value, void *data) {
    struct tagmmu_check_hook *h = data;
    h->dispatched++;
    window_check(uc, h, offset, size, 1);
    memcpy(h->host + offset, &value, size <= 8 ? size : 8);
}
