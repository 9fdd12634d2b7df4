/* The windows' tag cache, shared by the MMIO windows' checks (tag_check_hook.c), which read
 * it, and the tag instructions' fast path (tag_insn.c), which keeps it up to date. */
#ifndef TAGMMU_TAG_CACHE_H
#define TAGMMU_TAG_CACHE_H
#include <stdint.h>

/* Granule tags of recently checked pages, for the MMIO windows' fast path. Mirrors
 * `TagCache` in src/emu/access_hook.rs, which fills and invalidates it. */
#define TAGMMU_CACHE_PAGES 1024
#define TAGMMU_PAGE_SHIFT 12
#define TAGMMU_GRANULE_SHIFT 4
#define TAGMMU_PAGE_GRANULES (1u << (TAGMMU_PAGE_SHIFT - TAGMMU_GRANULE_SHIFT))
struct tagmmu_tag_page {
    /* Physical page number, or UINT64_MAX for none. */
    uint64_t page;
    uint8_t tags[TAGMMU_PAGE_GRANULES];
};
struct tagmmu_tag_cache {
    struct tagmmu_tag_page pages[TAGMMU_CACHE_PAGES];
};

#endif
