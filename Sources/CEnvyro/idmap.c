/*
 * An idmapped clone of a bind source (issue 17), made by the helper before clone, as crun
 * does: mount_setattr(MOUNT_ATTR_IDMAP) needs privilege over the source's file system, which
 * the container's first process no longer has once it is in its own user namespace. The
 * mapping is a user namespace of its own, held by a short-lived child that only waits: its maps
 * are written, its ns/user is opened, and it exits.
 *
 * Why C: the child of clone(CLONE_NEWUSER) in this multi-threaded process may only make raw
 * syscalls (read, _exit); and open_tree/mount_setattr have no glibc wrappers here.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define ENVYRO_MOUNT_ATTR_IDMAP 0x00100000ULL

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    int e = errno;
    close(fd);
    if (w != (ssize_t)n) { errno = w < 0 ? e : EIO; return -1; }
    return 0;
}

/* A user namespace with these maps: an O_RDONLY fd of it, or -1 (errno). The helper is
 * non-dumpable, and so is this copy of it, whose /proc files then can't be written: the child
 * makes itself dumpable (only host root gets here, see OCISpawn.swift), says so, and waits for
 * EOF; it holds nothing and exits as soon as its namespace is open. */
static int userns_with_maps(const char *uid_map, const char *gid_map) {
    int go[2], ready[2];
    if (pipe2(go, O_CLOEXEC) < 0) return -1;
    if (pipe2(ready, O_CLOEXEC) < 0) { int e = errno; close(go[0]); close(go[1]); errno = e; return -1; }
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) { int e = errno; close(go[0]); close(go[1]); close(ready[0]); close(ready[1]); errno = e; return -1; }
    if (pid == 0) {
        char c = 1;
        close(go[1]);
        close(ready[0]);
        if (syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) _exit(1);
        while (write(ready[1], &c, 1) < 0 && errno == EINTR) {}
        while (read(go[0], &c, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    close(go[0]);
    close(ready[1]);
    char path[64], c;
    int fd = -1, e = 0;
    ssize_t r;
    while ((r = read(ready[0], &c, 1)) < 0 && errno == EINTR) {}
    if (r != 1) { e = EPIPE; goto out; }
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    if (write_file(path, uid_map) < 0) { e = errno; goto out; }
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    if (write_file(path, gid_map) < 0) { e = errno; goto out; }
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) e = errno;
out:
    close(go[1]);
    close(ready[0]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    errno = e;
    return fd;
}

int envyro_idmapped_tree(const char *source, int recursive, int attr_recursive, const char *uid_map,
                         const char *gid_map, int *step) {
    *step = 0;
    int ns = userns_with_maps(uid_map, gid_map);
    if (ns < 0) return -1;
    *step = 1;
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | O_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (tree < 0) { int e = errno; close(ns); errno = e; return -1; }
    *step = 2;
    struct envyro__mount_attr a = { ENVYRO_MOUNT_ATTR_IDMAP, 0, 0, (uint64_t)ns };
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (attr_recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0) {
        int e = errno; close(tree); close(ns); errno = e; return -1;
    }
    close(ns);
    return tree;
}
