/*
 * The parts of an OCI mount that go beyond mount(2) (issue 17): the recursive attributes
 * (rro, rnosuid, ...) with mount_setattr(AT_RECURSIVE), a destination or a source taken without
 * following its last symlink (dest-nofollow, src-nofollow), a symlink source copied as a symlink
 * (copy-symlink), and an idmapped clone made by the helper attached with move_mount. Every
 * destination is still
 * resolved inside the root (RESOLVE_IN_ROOT): only the last component's symlink is kept, never
 * followed out.
 *
 * Why C: runs in the child between clone and execve (see trampoline.h): raw syscalls only.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>


/* The destination of `m`, as an O_PATH fd resolved inside the root: with dest-nofollow a
 * symlink there is returned itself (O_NOFOLLOW on the last component; the components before it
 * are still resolved inside the root); otherwise it is followed, inside the root. A missing
 * destination is made: a directory, or an empty file for a source that isn't one. */
int envyro__open_dest(int rootfd, const struct envyro_mount *m, int is_dir) {
    if (m->extra & ENVYRO_MOUNT_DEST_NOFOLLOW) {
        int fd = envyro__open_in_root(rootfd, m->destination, O_PATH | O_NOFOLLOW, 0);
        if (fd >= 0 || errno != ENOENT) return fd;
    }
    return is_dir ? envyro__mkdir_in_root(rootfd, m->destination) : envyro__mkfile_in_root(rootfd, m->destination);
}

/* After a mount hid what the old fd pointed at: the destination again, the same way. */
int envyro__reopen_dest(int rootfd, const struct envyro_mount *m) {
    int nofollow = (m->extra & ENVYRO_MOUNT_DEST_NOFOLLOW) ? O_NOFOLLOW : 0;
    return envyro__open_in_root(rootfd, m->destination, O_PATH | nofollow, 0);
}

/* copy-symlink: when the source is a symlink, the destination becomes a symlink with the same
 * target (nothing is mounted); an existing destination must already be that symlink. Returns 1
 * when done, 0 when the source is not a symlink (then it is bound as usual). */
int envyro__copy_symlink(int rootfd, const struct envyro_mount *m) {
    struct stat st;
    char link[PATH_BUF], cur[PATH_BUF], base[PATH_BUF];
    if (!m->source || lstat(m->source, &st) < 0) envyro__fail(ENVYRO_STEP_OCI_MOUNT, m->source ? errno : EINVAL);
    if (!S_ISLNK(st.st_mode)) return 0;
    ssize_t n = readlink(m->source, link, sizeof link - 1);
    CHECK(ENVYRO_STEP_OCI_MOUNT, (int)n);
    link[n] = 0;
    int parent = envyro__parent_in_root(rootfd, m->destination, base);
    CHECK(ENVYRO_STEP_OCI_MOUNT, parent);
    if (symlinkat(link, parent, base) < 0) {
        if (errno != EEXIST) envyro__fail(ENVYRO_STEP_OCI_MOUNT, errno);
        ssize_t c = readlinkat(parent, base, cur, sizeof cur - 1);
        if (c != n || memcmp(cur, link, (size_t)n) != 0) envyro__fail(ENVYRO_STEP_OCI_MOUNT, EEXIST);
    }
    close(parent);
    return 1;
}

/* Attaches the helper's idmapped clone (m->tree_fd) at the destination fd. */
void envyro__attach_tree(const struct envyro_mount *m, int destfd) {
    CHECK(ENVYRO_STEP_OCI_MOUNT, (int)syscall(SYS_move_mount, m->tree_fd, "", destfd, "",
                                               MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
    close(m->tree_fd);
}

/* src-nofollow: the source opened without following its last symlink, and that object bound
 * (a symlink source stays a symlink; mounting it needs a destination that is not a directory). */
void envyro__bind_nofollow(const struct envyro_mount *m, const char *target, unsigned long rec) {
    char source[32];
    int fd = open(m->source, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    CHECK(ENVYRO_STEP_OCI_MOUNT, fd);
    fd_path(source, fd);
    CHECK(ENVYRO_STEP_OCI_MOUNT, mount(source, target, NULL, MS_BIND | rec, NULL));
    close(fd);
}

/* The recursive attributes: on the mount at `fd` and every mount under it. */
void envyro__setattr_recursive(const struct envyro_mount *m, int fd) {
    if (!m->attr_set && !m->attr_clr) return;
    struct envyro__mount_attr a = { m->attr_set, m->attr_clr, 0, 0 };
    CHECK(ENVYRO_STEP_OCI_MOUNT, (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a));
}

/* A shared rootfsPropagation keeps the host's peer groups, but pivot_root refuses a new root
 * whose parent mount is shared, and a shared current root: both are made private first (only
 * those two mounts, as runc does with the rootfs's parent). The parent mount is found by going
 * up from the rootfs directory until MS_PRIVATE is accepted: the kernel takes it only at the
 * root of a mount (EINVAL elsewhere). */
void envyro__private_root_parent(const char *rootfs) {
    struct open_how how;
    char target[32];
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int fd = (int)syscall(SYS_openat2, AT_FDCWD, rootfs, &how, sizeof how);
    CHECK(ENVYRO_STEP_MOUNT_PRIVATE, fd);
    for (int depth = 0; depth < PATH_BUF / 2; depth++) {
        int up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(ENVYRO_STEP_MOUNT_PRIVATE, up);
        close(fd);
        fd = up;
        fd_path(target, fd);
        if (mount(NULL, target, NULL, MS_PRIVATE, NULL) == 0) break;
        if (errno != EINVAL) envyro__fail(ENVYRO_STEP_MOUNT_PRIVATE, errno);
    }
    close(fd);
    CHECK(ENVYRO_STEP_MOUNT_PRIVATE, mount(NULL, "/", NULL, MS_PRIVATE, NULL));
}
