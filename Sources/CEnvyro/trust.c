/*
 * Trusting files and directories by descriptor (SecurePath.swift, RuntimeDirectory.swift).
 *
 * Why C: O_PATH and fstatfs's f_type need _GNU_SOURCE headers the Swift Glibc module is built
 * without, and getauxval(AT_SECURE) is how the loader tells a process it was started with more
 * privilege than its caller (file capabilities or set-id bits).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/vfs.h>
#include "cenvyro.h"

int envyro_openat_component(int dirfd, const char *name, int directory) {
    return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
}

long long envyro_fs_magic(int fd) {
    struct statfs s;
    if (fstatfs(fd, &s) != 0) return -1;
    return (long long)s.f_type;
}

int envyro_at_secure(void) {
    return getauxval(AT_SECURE) != 0;
}
