// mte_prctl: HWCAP2_MTE, PR_SET/GET_TAGGED_ADDR_CTRL round trips and their EINVAL cases.
// Expected: one "...: ok" line per check, exit 0.
// tagmmu: cflags -march=armv8.5-a+memtag
// tagmmu: differential
#include <errno.h>
#include "mte_util.h"

int main(void) {
    int failed = 0;
    CHECK(getauxval(AT_HWCAP2) & (1UL << 18), "HWCAP2_MTE");
    CHECK(set_mode(TCF_SYNC, 0xfffe) == 0, "set sync");
    CHECK((unsigned long)prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0) == (TAG_ENABLE | TCF_SYNC | INCL(0xfffe)), "get sync");
    CHECK(set_mode(TCF_ASYNC, 0x00f0) == 0, "set async");
    CHECK((unsigned long)prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0) == (TAG_ENABLE | TCF_ASYNC | INCL(0x00f0)), "get async");
    CHECK(set_mode(0, 0) == 0, "set none");
    CHECK((unsigned long)prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0) == TAG_ENABLE, "get none");
    CHECK(prctl(PR_SET_TAGGED_ADDR_CTRL, 1UL << 30, 0, 0, 0) == -1 && errno == EINVAL, "unknown bit is EINVAL");
    CHECK(prctl(PR_SET_TAGGED_ADDR_CTRL, TAG_ENABLE, 1, 0, 0) == -1 && errno == EINVAL, "nonzero arg3 is EINVAL");
    CHECK(prctl(PR_GET_TAGGED_ADDR_CTRL, 1, 0, 0, 0) == -1 && errno == EINVAL, "get with an argument is EINVAL");
    return failed;
}
