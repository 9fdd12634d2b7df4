/* The per-block counter, in C (see src/emu/block_counter.rs).
 *
 * Every translation block that runs calls a block hook. A Rust closure there (through the
 * unicorn-engine crate's proxy and a panic guard) measured about a third of the run time of
 * busybox gzip. This hook only counts, records the block, and calls the Rust side when the
 * count reaches a mark: an instruction count (a budget, a time slice's end, a timer tick, a
 * deferred error) or a block count (the next look at the wall clock). */
#include <stdint.h>

struct uc_struct;

typedef void (*tagmmu_mark_fn)(struct uc_struct *uc, void *user);

/* Mirrors `BlockCounter` in src/emu/block_counter.rs. */
struct tagmmu_block_counter {
    uint64_t instructions;
    uint64_t blocks;
    uint64_t insn_mark;
    uint64_t block_mark;
    uint64_t last_addr;
    uint64_t last_size;
    tagmmu_mark_fn at_mark;
    void *user;
};

/* A block hook (uc_cb_hookcode_t). Instructions are 4 bytes on both targets. */
void tagmmu_block_hook(struct uc_struct *uc, uint64_t addr, uint32_t size, void *data) {
    struct tagmmu_block_counter *c = data;
    c->instructions += size >> 2;
    c->blocks += 1;
    c->last_addr = addr;
    c->last_size = size;
    if (c->instructions >= c->insn_mark || c->blocks >= c->block_mark) {
        c->at_mark(uc, c->user);
    }
}
