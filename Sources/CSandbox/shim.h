#ifndef SENDENSE_SANDBOX_SHIM_H
#define SENDENSE_SANDBOX_SHIM_H
// The system calls a file-restore worker uses to lock itself in, wrapped
// because Swift cannot call C's variadic syscall() and prctl().
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <grp.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Closes every descriptor from `first` up.
static inline int sendense_close_from(unsigned int first) {
    return syscall(SYS_close_range, first, ~0U, 0) == 0 ? 0 : -errno;
}

/// No later exec can gain privileges (setuid bits, file capabilities).
static inline int sendense_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

/// A new, empty network namespace: no interface but a down loopback.
static inline int sendense_unshare_network(int with_user_namespace) {
    int flags = CLONE_NEWNET | (with_user_namespace ? CLONE_NEWUSER : 0);
    return unshare(flags) == 0 ? 0 : -errno;
}

/// Drops to `uid`/`gid` with no supplementary groups, for good (all three ids).
static inline int sendense_drop_to(uid_t uid, gid_t gid) {
    if (setgroups(0, NULL) != 0) return -errno;
    if (setresgid(gid, gid, gid) != 0) return -errno;
    if (setresuid(uid, uid, uid) != 0) return -errno;
    return 0;
}

/// The Landlock ABI version the kernel offers (0: none).
static inline int sendense_landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

/// Landlock's ruleset attributes as of ABI 6; Debian 12's kernel headers
/// (6.1) know only the first field, the running kernel may take all three.
struct sendense_landlock_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

/// Forbids every filesystem access this kernel's Landlock can forbid (open,
/// create, execute, remove …; descriptors already open stay usable), TCP
/// bind/connect (ABI 4+), and reaching abstract unix sockets or signalling
/// processes outside the sandbox (ABI 6+). Applies to the calling thread and
/// the threads it starts later: call it before starting any.
/// Answers the ABI used, or -errno.
static inline int sendense_landlock_deny_all(void) {
    int abi = sendense_landlock_abi();
    if (abi <= 0) return -ENOSYS;
    struct sendense_landlock_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = (1ULL << 13) - 1;             // ABI 1: execute … make_sym
    if (abi >= 2) attr.handled_access_fs |= 1ULL << 13;   // refer
    if (abi >= 3) attr.handled_access_fs |= 1ULL << 14;   // truncate
    if (abi >= 5) attr.handled_access_fs |= 1ULL << 15;   // ioctl on devices
    size_t size = sizeof(uint64_t);
    if (abi >= 4) {
        attr.handled_access_net = 3;                       // bind and connect TCP
        size = 2 * sizeof(uint64_t);
    }
    if (abi >= 6) {
        attr.scoped = 3;                                   // abstract unix sockets, signals
        size = sizeof attr;
    }
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) return -errno;
    int status = (int)syscall(SYS_landlock_restrict_self, ruleset, 0);
    int error = errno;
    close(ruleset);
    return status == 0 ? abi : -error;
}

#endif
