/* The memory hook of tag-checked memory, in C, so that it can abandon an access precisely.
 *
 * Unicorn calls a memory hook from inside QEMU's load/store helpers, after it has restored
 * the guest state of the accessing instruction (cpu_restore_state). The check itself is Rust
 * (`check`, which never unwinds); when it says the access faults, this hook asks the engine to
 * stop and leaves the helper through QEMU's own cpu_loop_exit (a siglongjmp back into the CPU
 * loop), so the load or store is never performed and nothing after it runs. The jump crosses
 * only this C frame and QEMU's: no Rust frame is skipped. (See src/emu/access_hook.rs.) */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uc_struct;
extern int uc_emu_stop(struct uc_struct *uc);

/* Mirrors `RawHook` in src/emu/access_hook.rs. */
struct tagmmu_check_hook {
    /* Returns non-zero when the access must be abandoned. */
    int (*check)(struct uc_struct *uc, void *user, int type, uint64_t addr, int size);
    void *user;
    /* Offset of `cpu` in Unicorn's struct uc_struct (from the build-time probe). */
    size_t uc_cpu_offset;
    /* QEMU's cpu_loop_exit for the engine's target; does not return. */
    void (*loop_exit)(void *cpu);
};

bool tagmmu_check_hook(struct uc_struct *uc, int type, uint64_t addr, int size, int64_t value, void *data) {
    struct tagmmu_check_hook *h = data;
    (void)value;
    if (h->check(uc, h->user, type, addr, size)) {
        void *cpu = *(void **)((char *)uc + h->uc_cpu_offset);
        uc_emu_stop(uc);
        h->loop_exit(cpu);
    }
    return true;
}
