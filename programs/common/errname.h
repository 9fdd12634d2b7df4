// errname.h - the answer of a call as the guest test programs print it: "0" when it returned
// 0, else errno's name ("EINVAL"; glibc's strerrorname_np).
#ifndef TAGMMU_ERRNAME_H
#define TAGMMU_ERRNAME_H

#include <errno.h>
#include <string.h>

static inline const char *errname(int r) {
    if (r == 0)
        return "0";
    const char *name = strerrorname_np(errno);
    return name ? name : "unknown errno";
}

#endif
