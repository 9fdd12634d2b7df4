/* The per-block counter's mark function (see src/emu/block_counter.rs).
 *
 * The counter's fields begin with Unicorn's struct uc_tagmmu_block_counter (tagmmu's patch
 * 0005), which the generated code updates; the Rust side is called only at a mark: an
 * instruction count (a budget, a time slice's end, a timer tick, a deferred error) or a
 * block count (the next look at the wall clock). */
#include <stdint.h>

struct uc_struct;

typedef void (*tagmmu_mark_fn)(struct uc_struct *uc, void *user);

/* Mirrors `BlockCounter` in src/emu/block_counter.rs; begins like Unicorn's
 * struct uc_tagmmu_block_counter. */
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

/* The function Unicorn calls when a block reaches a mark (uc_cb_hookcode_t; see
 * uc_tagmmu_set_block_counter, tagmmu's Unicorn patch 0005): the counting itself is done
 * by the generated code, which updates the counter in place. */
void tagmmu_block_mark(struct uc_struct *uc, uint64_t addr, uint32_t size, void *data) {
    struct tagmmu_block_counter *c = data;
    (void)addr;
    (void)size;
    c->at_mark(uc, c->user);
}
