/*
 * Read-only remounts that keep the flags the kernel locked. Used by the trampoline (the root and
 * its binds) and by the helper's start (its binary bound read-only onto itself), and linked into
 * the C front with spawn_helper.c: hence a file of its own, with nothing else in it.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <sys/mount.h>
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
