/*
 * The container's root, by fd: paths resolved inside the root (openat2 RESOLVE_IN_ROOT, so a
 * hostile image's symlinks and ".." can't send a mount or a node outside it), the rootfs bound
 * onto itself with its path resolved exactly once, fresh mounts in it, `envyro run`'s /dev,
 * masked and read-only paths, the working directory, and pivot_root.
 *
 * Why C: this runs in the child between clone and execve, where Swift must never run; only
 * raw, async-signal-safe syscalls (no malloc, no stdio, no locks). See trampoline.h.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

/* ---- paths inside the root -------------------------------------------------------------- */

/* openat2 relative to the rootfs with RESOLVE_IN_ROOT: absolute symlinks and ".." resolve as if
 * the rootfs were "/", so a hostile image (/proc -> /etc, x -> ../../..) can't send a mount or
 * a device node outside it. */
int envyro__open_in_root(int rootfd, const char *path, int flags, uint64_t extra_resolve) {
    while (*path == '/') path++;
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? 0644 : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra_resolve;
    long r;
    do { r = syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof how); } while (r < 0 && errno == EINTR);
    return (int)r;
}

/* The working directory, resolved inside the current root: RESOLVE_IN_ROOT keeps ".." and
 * absolute symlinks inside it and RESOLVE_NO_MAGICLINKS refuses /proc/self/fd/N and
 * /proc/PID/cwd (CVE-2024-21626). The kernel's getcwd then says "(unreachable)" for a directory
 * outside the root: refused too (EXDEV), whatever the way in was. */
void envyro__enter_cwd(const char *cwd) {
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(ENVYRO_STEP_CWD, root);
    int fd = envyro__open_in_root(root, cwd, O_PATH | O_DIRECTORY, 0);
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
        /* openat2 refused: a bundle's seccomp profile, installed before this step when it has
         * no noNewPrivileges (as runc does), that predates openat2 (Linux 5.6). Then plain
         * chdir: every fd of the helper's is closed already, so no magic link here leads to a
         * directory of the host's, and the getcwd check below still refuses one outside the
         * root. */
        CHECK(ENVYRO_STEP_CWD, chdir(cwd));
    } else {
        if (fd < 0) envyro__fail(ENVYRO_STEP_CWD, errno);
        CHECK(ENVYRO_STEP_CWD, fchdir(fd));
        close(fd);
    }
    close(root);
    static char buf[PATH_BUF];
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    if (n < 0) envyro__fail(ENVYRO_STEP_CWD, errno);
    if (buf[0] != '/') envyro__fail(ENVYRO_STEP_CWD, EXDEV);
}

/* Resolves `path` inside the rootfs as a directory, creating missing components (mkdir -p),
 * and returns an O_PATH fd of it. Each missing component is made with mkdirat in its resolved
 * parent; a dangling symlink is never created through (the re-resolve fails with ENOENT). */
int envyro__mkdir_in_root(int rootfd, const char *path) {
    char buf[PATH_BUF];
    while (*path == '/') path++;
    size_t n = s_len(path);
    if (n >= PATH_BUF) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, n + 1);
    int fd = envyro__open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
    if (fd >= 0 || errno != ENOENT) return fd;
    int parent = envyro__open_in_root(rootfd, "", O_PATH | O_DIRECTORY, 0);
    if (parent < 0) return -1;
    size_t i = 0;
    while (i < n) {
        while (i < n && buf[i] == '/') i++;
        if (i >= n) break;
        size_t start = i;
        while (i < n && buf[i] != '/') i++;
        char saved = buf[i];
        buf[i] = 0;
        fd = envyro__open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(parent, buf + start, 0755) < 0 && errno != EEXIST) {
                int e = errno; close(parent); errno = e; return -1;
            }
            fd = envyro__open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
        }
        buf[i] = saved;
        int e = errno;
        close(parent);
        if (fd < 0) { errno = e; return -1; }
        parent = fd;
    }
    return parent;
}

/* Splits path into its parent (resolved and created inside the rootfs: an O_PATH fd) and its
 * last component (copied into `base`). */
int envyro__parent_in_root(int rootfd, const char *path, char base[PATH_BUF]) {
    char dir[PATH_BUF];
    size_t n = s_len(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n >= PATH_BUF) { errno = ENAMETOOLONG; return -1; }
    size_t slash = n;
    while (slash > 0 && path[slash - 1] != '/') slash--;
    if (slash == n) { errno = EINVAL; return -1; }
    memcpy(base, path + slash, n - slash);
    base[n - slash] = 0;
    if (s_eq(base, ".") || s_eq(base, "..")) { errno = EINVAL; return -1; }
    memcpy(dir, path, slash);
    dir[slash] = 0;
    return envyro__mkdir_in_root(rootfd, dir);
}

/* Resolves `path` inside the rootfs, creating it as an empty file if missing (the mount point
 * of a bind of a file). A missing last component is created with O_EXCL|O_NOFOLLOW in its
 * resolved parent: a dangling symlink there fails instead of being followed. */
int envyro__mkfile_in_root(int rootfd, const char *path) {
    int fd = envyro__open_in_root(rootfd, path, O_PATH, 0);
    if (fd >= 0 || errno != ENOENT) return fd;
    char base[PATH_BUF];
    int parent = envyro__parent_in_root(rootfd, path, base);
    if (parent < 0) return -1;
    int f = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int e = errno;
    close(parent);
    if (f < 0) { errno = e; return -1; }
    close(f);
    return envyro__open_in_root(rootfd, path, O_PATH, 0);
}

/* ---- masked and read-only paths ----------------------------------------------------------- */

/* Resolved inside the rootfs like the mounts (the lstat-based mask_path follows symlinks in
 * the middle of a path, which a hostile image controls). */
/* An O_PATH fd of `path` inside the root (its /proc/self/fd path in `target`), or -1 when it
 * is missing or a symlink (skipped). */
static int open_maskable(int rootfd, const char *path, struct stat *st, char target[32]) {
    int fd = envyro__open_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0) { if (errno == ENOENT || errno == ENOTDIR) return -1; envyro__fail(ENVYRO_STEP_MASK, errno); }
    CHECK(ENVYRO_STEP_MASK, fstat(fd, st));
    if (S_ISLNK(st->st_mode)) { close(fd); return -1; }
    fd_path(target, fd);
    return fd;
}

static void mask_in_root(int rootfd, const char *path) {
    char target[32];
    struct stat st;
    int fd = open_maskable(rootfd, path, &st, target);
    if (fd < 0) return;
    if (S_ISDIR(st.st_mode))
        CHECK(ENVYRO_STEP_MASK, mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555"));
    else
        CHECK(ENVYRO_STEP_MASK, mount("/dev/null", target, NULL, MS_BIND, NULL));
    close(fd);
}

static void readonly_in_root(int rootfd, const char *path) {
    char target[32];
    struct stat st;
    int fd = open_maskable(rootfd, path, &st, target);
    if (fd < 0) return;
    CHECK(ENVYRO_STEP_MASK, mount(target, target, NULL, MS_BIND | MS_REC, NULL));
    close(fd);
    fd = envyro__open_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
    CHECK(ENVYRO_STEP_MASK, fd);
    /* The mounts beneath it too (runc remounts only the top). */
    CHECK(ENVYRO_STEP_MASK, envyro__readonly_tree(fd, ""));
    close(fd);
}

void envyro__mask_paths(int rootfd, const struct envyro_container_config *cfg) {
    if (cfg->masked_paths)
        for (int i = 0; cfg->masked_paths[i]; i++) mask_in_root(rootfd, cfg->masked_paths[i]);
    if (cfg->readonly_paths)
        for (int i = 0; cfg->readonly_paths[i]; i++) readonly_in_root(rootfd, cfg->readonly_paths[i]);
}

/* ---- the root, by fd ------------------------------------------------------------------ */


/* A user's rootfs (or a bundle's), bound onto itself with its path resolved exactly once
 * (CVE-2021-30465 class: a rootfs whose parent someone else can write could be swapped for a
 * symlink between a check and a mount by string). The helper passes the canonical path; it is
 * opened with no symlink allowed on the way (a swapped-in link fails with ELOOP), cloned with
 * open_tree and attached on top of itself with move_mount. Returns an O_PATH fd of the new
 * mount's root: every later step inside the root goes through it.
 * `readonly_beneath` (`envyro run` without --rootfs-rw): every mount the clone took from beneath
 * the directory is made read-only too, before it is attached; the top stays writable until the
 * root is frozen (missing /proc, /dev are made first). An OCI bundle's root.readonly is runc's,
 * the top alone: 0. */
int envyro__bind_rootfs(const char *rootfs, int readonly_beneath) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    int src = (int)syscall(SYS_openat2, AT_FDCWD, rootfs, &how, sizeof how);
    CHECK(ENVYRO_STEP_ROOTFS_BIND, src);
    /* Never the host's own root (a path such as /srv/.. resolves there without a symlink). */
    struct stat st, host;
    CHECK(ENVYRO_STEP_ROOTFS_BIND, fstat(src, &st));
    CHECK(ENVYRO_STEP_ROOTFS_BIND, stat("/", &host));
    if (st.st_dev == host.st_dev && st.st_ino == host.st_ino) envyro__fail(ENVYRO_STEP_ROOTFS_BIND, EBUSY);
    int tree = (int)syscall(SYS_open_tree, src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    CHECK(ENVYRO_STEP_ROOTFS_BIND, tree);
    if (readonly_beneath) {
        CHECK(ENVYRO_STEP_READONLY, envyro__readonly_tree(tree, ""));
        /* The top writable again (unless the host locked it read-only: then it stays so). */
        struct envyro__mount_attr rw = { 0, ENVYRO_MOUNT_ATTR_RDONLY, 0, 0 };
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &rw, sizeof rw) < 0 && errno != EPERM)
            envyro__fail(ENVYRO_STEP_READONLY, errno);
    }
    CHECK(ENVYRO_STEP_ROOTFS_BIND, (int)syscall(SYS_move_mount, tree, "", src, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
    close(src);
    return tree;
}

/* Mounts a fresh filesystem at `path` inside the root (a directory, made if missing); returns
 * an O_PATH fd of the new mount's root. */
int envyro__mount_in_root(int rootfd, const char *path, const char *type, unsigned long flags, const char *data, int step) {
    char target[32];
    int fd = envyro__mkdir_in_root(rootfd, path);
    CHECK(step, fd);
    fd_path(target, fd);
    CHECK(step, mount(type, target, type, flags, data));
    close(fd);
    fd = envyro__open_in_root(rootfd, path, O_PATH | O_DIRECTORY, 0);
    CHECK(step, fd);
    return fd;
}

/* A minimal /dev: a tmpfs with the host's harmless character devices bound onto empty files
 * (an unprivileged user namespace can't mknod), the fd links, and then read-only. The tmpfs is
 * new and ours: names in it are made with *at calls relative to its fd. */
void envyro__populate_dev(int rootfd) {
    static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };
    char src[64], target[32];
    int dev = envyro__mount_in_root(rootfd, "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k", ENVYRO_STEP_DEV);
    for (int i = 0; nodes[i]; i++) {
        if (s_join(src, "/dev/", nodes[i]) < 0) envyro__fail(ENVYRO_STEP_DEV, ENAMETOOLONG);
        int f = openat(dev, nodes[i], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        CHECK(ENVYRO_STEP_DEV, f);
        close(f);
        int node = openat(dev, nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
        CHECK(ENVYRO_STEP_DEV, node);
        fd_path(target, node);
        int r = mount(src, target, NULL, MS_BIND, NULL);
        int e = errno;
        close(node);
        if (r < 0) {
            /* /dev/tty exists only with a controlling terminal on some hosts: skip it. */
            if (i == 5) { unlinkat(dev, nodes[i], 0); continue; }
            envyro__fail(ENVYRO_STEP_DEV, e);
        }
    }
    static const char *const links[][2] = {
        { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
        { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
        { NULL, NULL },
    };
    for (int i = 0; links[i][0]; i++) CHECK(ENVYRO_STEP_DEV, symlinkat(links[i][0], dev, links[i][1]));
    fd_path(target, dev);
    CHECK(ENVYRO_STEP_DEV, mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL));
    close(dev);
}

/* Makes the root's own mount read-only, keeping the flags the kernel locked on it. */
void envyro__root_readonly(int rootfd, unsigned long extra) {
    char target[32];
    fd_path(target, rootfd);
    CHECK(ENVYRO_STEP_READONLY, mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | extra | envyro__locked_flags(target), NULL));
}

/* pivot_root into the root's mount (fchdir: no path), stacking the old root under it, then
 * detaching the old root. `slave_old`: the old root is made rslave first, so that detaching it
 * doesn't propagate its unmounts to peers in the new root (a bundle's shared mounts; runc does
 * the same). */
void envyro__pivot_into(int rootfd, int slave_old) {
    CHECK(ENVYRO_STEP_PIVOT, fchdir(rootfd));
    CHECK(ENVYRO_STEP_PIVOT, (int)syscall(SYS_pivot_root, ".", "."));
    if (slave_old) CHECK(ENVYRO_STEP_PIVOT, mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL));
    CHECK(ENVYRO_STEP_PIVOT, umount2(".", MNT_DETACH));
    CHECK(ENVYRO_STEP_PIVOT, chdir("/"));
    close(rootfd);
}
