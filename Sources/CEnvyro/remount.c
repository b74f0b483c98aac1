/*
 * Read-only remounts that keep the flags the kernel locked. Used by the trampoline (the root and
 * its binds) and by the helper's start (its binary bound read-only onto itself), and linked into
 * the C front with spawn_helper.c: hence a file of its own, with nothing else in it.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

/* Mount flags that the kernel locks on a bind of a mount from a more privileged namespace; a
 * read-only remount must keep them or it fails with EPERM. */
unsigned long envyro__locked_flags(const char *path) {
    struct statfs st;
    if (statfs(path, &st) < 0) return 0;
    unsigned long f = 0;
    if (st.f_flags & ST_NOSUID) f |= MS_NOSUID;
    if (st.f_flags & ST_NODEV) f |= MS_NODEV;
    if (st.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
    if (st.f_flags & ST_NOATIME) f |= MS_NOATIME;
    if (st.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (st.f_flags & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

int envyro__remount_readonly(const char *path) {
    return mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | envyro__locked_flags(path), NULL);
}

/* Makes the mount at `fd` and every mount beneath it read-only, in one step: mount_setattr
 * (Linux 5.12) with AT_RECURSIVE, which sets MOUNT_ATTR_RDONLY and leaves every other flag,
 * locked or not, as it is (no statfs needed). A bind with MS_REC copies the mounts beneath its
 * source too; a remount of the top alone left those writable, and for a root caller the
 * container's root is the host's: a host with a file system mounted under /usr or /etc (a
 * separate /usr/local, a container host's /etc/resolv.conf) had it written by the container.
 * Returns 0, or -1 with errno (ENOSYS before 5.12: the caller fails, it never goes on
 * writable). */
int envyro__readonly_tree(int dirfd, const char *path) {
    struct envyro__mount_attr a = { ENVYRO_MOUNT_ATTR_RDONLY, 0, 0, 0 };
    return (int)syscall(SYS_mount_setattr, dirfd, path, (*path ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) | AT_RECURSIVE, &a, sizeof a);
}
