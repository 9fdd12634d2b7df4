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
/* The physical page numbers (UINT64_MAX for none) apart from the tags: every check reads its
 * slot's number, and the 8 KiB of numbers stay in the host's caches, while only the tag
 * line an access needs is touched (one 264-byte entry per page missed twice as often). */
struct tagmmu_tag_cache {
    uint64_t page[TAGMMU_CACHE_PAGES];
    uint8_t tags[TAGMMU_CACHE_PAGES][TAGMMU_PAGE_GRANULES];
};

#endif
