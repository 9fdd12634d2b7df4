// mte_hwcap_prctl: the MTE user ABI controls. AT_HWCAP2 has HWCAP2_MTE (bit 18);
// prctl(PR_SET_TAGGED_ADDR_CTRL) / prctl(PR_GET_TAGGED_ADDR_CTRL) round-trip the value for
// TCF sync, async and none with include mask 0xfffe, and for 0 (tagged ABI off); invalid
// requests fail with EINVAL and leave the setting unchanged: an unknown bit (1 << 30),
// a nonzero arg3 to SET, a nonzero arg2 to GET.
// argv: none (arguments are ignored).
// Expected stdout (Linux, and qemu-aarch64 -cpu max):
//   HWCAP2_MTE present: ok
//   SET/GET sync include 0xfffe = 0x7fff3: ok
//   SET/GET async include 0xfffe = 0x7fff5: ok
//   SET/GET none include 0xfffe = 0x7fff1: ok
//   SET/GET tagged ABI off = 0x0: ok
//   SET/GET sync include 0x0001 = 0xb: ok
//   SET with unknown bit 1<<30 is EINVAL: ok
//   SET with nonzero arg3 is EINVAL: ok
//   GET with nonzero arg2 is EINVAL: ok
//   failed SETs left the setting unchanged: ok
// Expected exit status: 0 (1 and "FAIL: ..." lines when a check fails).
// tagmmu: differential
// tagmmu: cflags -march=armv8.5-a+memtag
#include <errno.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/prctl.h>

#ifndef PR_SET_TAGGED_ADDR_CTRL
#define PR_SET_TAGGED_ADDR_CTRL 55
#define PR_GET_TAGGED_ADDR_CTRL 56
#endif
#define ENABLE 1UL
#define TCF_SYNC (1UL << 1)
#define TCF_ASYNC (1UL << 2)
#define INCL(m) ((unsigned long)(m) << 3)
#define HWCAP2_MTE_BIT (1UL << 18)

static int failed;

static void check(int ok, const char *what) {
    if (ok)
        printf("%s: ok\n", what);
    else {
        printf("FAIL: %s\n", what);
        failed = 1;
    }
}

static void round_trip(unsigned long v, const char *name) {
    char what[96];
    long r = prctl(PR_SET_TAGGED_ADDR_CTRL, v, 0, 0, 0);
    long g = prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0);
    snprintf(what, sizeof what, "SET/GET %s = 0x%lx", name, v);
    check(r == 0 && g == (long)v, what);
}

static int einval(long r) { return r == -1 && errno == EINVAL; }

int main(void) {
    check((getauxval(AT_HWCAP2) & HWCAP2_MTE_BIT) != 0, "HWCAP2_MTE present");
    round_trip(ENABLE | TCF_SYNC | INCL(0xfffe), "sync include 0xfffe");
    round_trip(ENABLE | TCF_ASYNC | INCL(0xfffe), "async include 0xfffe");
    round_trip(ENABLE | INCL(0xfffe), "none include 0xfffe");
    round_trip(0, "tagged ABI off");
    round_trip(ENABLE | TCF_SYNC | INCL(0x0001), "sync include 0x0001");
    errno = 0;
    check(einval(prctl(PR_SET_TAGGED_ADDR_CTRL, ENABLE | TCF_SYNC | (1UL << 30), 0, 0, 0)),
          "SET with unknown bit 1<<30 is EINVAL");
    errno = 0;
    check(einval(prctl(PR_SET_TAGGED_ADDR_CTRL, ENABLE | TCF_ASYNC | INCL(0xfffe), 1, 0, 0)),
          "SET with nonzero arg3 is EINVAL");
    errno = 0;
    check(einval(prctl(PR_GET_TAGGED_ADDR_CTRL, 1, 0, 0, 0)), "GET with nonzero arg2 is EINVAL");
    check(prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0) == (long)(ENABLE | TCF_SYNC | INCL(0x0001)),
          "failed SETs left the setting unchanged");
    return failed;
}
