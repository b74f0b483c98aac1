/*
 * Private to CEnvyro: what the trampoline's files share. The trampoline is the code between
 * clone and execve, for a container's first process (run_child.c, oci_child.c) and for a process
 * exec'd into a running container (container_exec.c).
 *
 * Why C: Swift must never run in a forked child (runtime locks may be held by threads that no
 * longer exist), so everything after clone is flat C using raw syscalls that are
 * async-signal-safe: no malloc, no stdio, no locale, no locks. Paths are built in fixed stack
 * buffers. A failure is reported as {step, errno} on the error pipe (close-on-exec, so a
 * successful execve reads as EOF in the parent) and the child exits: envyro__fail.
 *
 *   trampoline_util.c  step names, the error pipe, PATH search, closing inherited fds
 *   process_steps.c    steps every trampoline process takes: id-map handshake, cgroup, names,
 *                      lo, rlimits, user, capabilities, seccomp, console, stdio and signals
 *   rootfs.c           paths resolved inside the root, the root bound by fd, /dev, masks, pivot
 *   run_child.c        `envyro run`'s child, prewarm, and envyro_container_clone
 *   oci_child.c        an OCI bundle's child, in runc's order
 *   oci_mount_extra.c  an OCI mount's recursive attributes, dest-nofollow, copy-symlink, idmap
 *   tiny_init.c        the optional pid 1 that forwards signals and reaps
 *   container_exec.c   a process exec'd into a running container
 */
#ifndef ENVYRO_TRAMPOLINE_H
#define ENVYRO_TRAMPOLINE_H

#include "cenvyro.h"

#include <errno.h>
#include <string.h>

#define ENVYRO_HIDDEN __attribute__((visibility("hidden")))

/* The new mount API's constants, for C libraries whose headers predate them (linux/mount.h). */
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC 02000000 /* O_CLOEXEC */
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif


/* Paths are built in fixed buffers of this size. */
#define PATH_BUF 4096

/* Fails `step` with errno when `expr` is negative. */
#define CHECK(step, expr) do { if ((expr) < 0) envyro__fail((step), errno); } while (0)

/* ---- async-signal-safe string helpers (no libc beyond memcpy) ------------------------- */

static inline size_t s_len(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

static inline int s_eq(const char *a, const char *b) {
    if (!a || !b) return 0;
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

/* Joins a and b into out (size PATH_BUF); returns 0 or -1 when too long. */
static inline int s_join(char *out, const char *a, const char *b) {
    size_t la = s_len(a), lb = s_len(b);
    if (la + lb + 1 > PATH_BUF) return -1;
    memcpy(out, a, la);
    memcpy(out + la, b, lb + 1);
    return 0;
}

static inline void fmt_uint(char *out, unsigned v) {
    char tmp[16];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *out++ = tmp[--n];
    *out = 0;
}

/* "/proc/self/fd/N": the path the mount calls take, so that they act on exactly the object
 * openat2 resolved inside the rootfs (runc does the same). */
static inline void fd_path(char out[32], int fd) {
    memcpy(out, "/proc/self/fd/", 14);
    fmt_uint(out + 14, (unsigned)fd);
}

/* ---- the error pipe and PATH search (trampoline_util.c) ------------------------------- */

ENVYRO_HIDDEN void envyro__write_all(int fd, const void *buf, size_t n);
/* The error pipe of this child (-1: nobody listens; a failure then only sets the exit code). */
ENVYRO_HIDDEN void envyro__set_error_fd(int fd);
/* Closes the error pipe: nobody reads it any more (a write would raise SIGPIPE). */
ENVYRO_HIDDEN void envyro__close_error_fd(void);
/* A record that is not a failure (READY, PREPARED) on the error pipe. */
ENVYRO_HIDDEN void envyro__report(int step);
ENVYRO_HIDDEN __attribute__((noreturn)) void envyro__fail(int step, int err);
/* The entry (an OCI mount's index) a failure is about; -1: none. */
ENVYRO_HIDDEN void envyro__set_fail_detail(int detail);
/* Looks up argv[0] in `search_path` like a shell and execs it; returns errno of the failure a
 * shell would report (EACCES wins over ENOENT when some candidate was not executable). */
ENVYRO_HIDDEN int envyro__exec_search(const char *file, char *const argv[], char *const envp[], const char *search_path);
/* Finds argv[0] as envyro__exec_search would, without exec'ing: a regular file we may execute.
 * `out` gets the path execve will take. Returns 0 or the errno a shell would report. */
ENVYRO_HIDDEN int envyro__find_executable(const char *file, const char *search_path, char out[PATH_BUF]);
/* Closes every fd from 3 up except the `n` in `keep` (CVE-2024-21626: a helper fd left open
 * until execve is a way out of the container for anything that can name /proc/self/fd/N). */
ENVYRO_HIDDEN void envyro__close_fds_except(const int *keep, int n);
/* Marks every fd from `first` up close-on-exec: close_range, or, where that is refused (a
 * bundle's seccomp profile older than Linux 5.9, installed before this step), a loop. */
ENVYRO_HIDDEN int envyro__cloexec_from(unsigned int first);

/* ---- steps every trampoline process takes (process_steps.c) --------------------------- */

/* Tells the parent the child is ready for its id maps and waits for them (see the file). */
ENVYRO_HIDDEN void envyro__ready_for_id_maps(int sync_fd, int new_userns);
/* Joins the container's cgroup, then the cgroup namespace and hostname the config asks for. */
ENVYRO_HIDDEN void envyro__join_cgroup_and_name(const struct envyro_container_config *cfg);
/* In the child: the cgroup.procs descriptor whose cgroup the clone placed it in already
 * (CLONE_INTO_CGROUP), which envyro__join_cgroup_and_name then only closes; -1 for none. */
ENVYRO_HIDDEN void envyro__set_joined_at_clone(int procs_fd);
/* Brings up lo in the new network namespace. */
ENVYRO_HIDDEN void envyro__loopback_up(void);
/* Makes a pty in /dev/ptmx (of the current root), sends the master with its name over
 * `console_fd`, makes the slave the controlling terminal and stores it in stdio[0..2]. */
ENVYRO_HIDDEN void envyro__setup_console(int console_fd, uint16_t rows, uint16_t cols, int stdio[3]);
ENVYRO_HIDDEN void envyro__apply_rlimits(const struct envyro_rlimit *limits, int count);
ENVYRO_HIDDEN void envyro__drop_bounding(uint64_t keep);
ENVYRO_HIDDEN void envyro__apply_user(uint32_t uid, uint32_t gid, const uint32_t *gids, int count, int keep_groups);
ENVYRO_HIDDEN void envyro__set_caps(uint64_t eff, uint64_t perm, uint64_t inh, uint64_t amb);
/* `envyro run`'s capabilities: cap_keep in bounding, permitted and effective (and inheritable
 * and ambient when cap_ambient). */
ENVYRO_HIDDEN void envyro__keep_only_caps(const struct envyro_container_config *cfg);
ENVYRO_HIDDEN void envyro__install_bpf(const struct envyro_bpf *filters, int count);
/* dup2 stdio onto 0..2, CLOEXEC everything above, default dispositions and an empty mask. */
ENVYRO_HIDDEN void envyro__stdio_and_signals(const int stdio[3]);
/* The same, and `preserved` (n fds) become 3, 4, ... (--preserve-fds): only those above them
 * are closed at exec. */
ENVYRO_HIDDEN void envyro__stdio_preserving(const int stdio[3], const int *preserved, int n);
/* The environment an OCI process execs with: `envp`, plus HOME from the container's
 * /etc/passwd for `uid` ("/" when the user is unknown) when envp has none, and LISTEN_PID set to
 * this process's pid when envp has LISTEN_FDS (socket activation). `out` must hold the count
 * of envp plus 2; the strings live in `buf`. Call in the container's root, before the user
 * changes. */
#define ENVYRO_ENV_BUF (PATH_BUF + 64)   /* HOME=path and LISTEN_PID=number */
ENVYRO_HIDDEN char *const *envyro__process_env(const char *const *envp, uint32_t uid, const char **out,
                                               char buf[ENVYRO_ENV_BUF]);
/* How many fds a trampoline child may keep through its first close (stdio, sync pipes,
 * namespace fds, cgroup files and up to 240 preserved fds). */
#define ENVYRO_KEEP_MAX 320

/* What an OCI process gets (from a bundle's `process`, or an exec request), in one shape for
 * envyro__become_process. */
struct envyro__process {
    int console_fd;                     /* -1: no console */
    uint16_t console_rows, console_cols;
    const struct envyro_rlimit *rlimits; int rlimit_count;
    const struct envyro_bpf *filters; int filter_count;
    int no_new_privs;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    uint32_t uid, gid;
    const uint32_t *additional_gids; int additional_gid_count;
    int32_t umask;                      /* -1: leave it */
    int detached;                       /* no PDEATHSIG */
    const char *cwd;
    uint32_t ioprio;                    /* 0: leave it */
    int has_personality; uint32_t personality;
    int keep_groups;
    const int *preserved_fds; int preserved_fd_count;
};
/* An envyro__process from `proc` (an envyro_oci_config or envyro_exec_config: the fields they
 * share) and `run` (the config that holds the filters, no_new_privs and cwd). */
#define ENVYRO__PROCESS(proc, run) {                                                             \
    .console_fd = (proc)->console_fd, .console_rows = (proc)->console_rows,                     \
    .console_cols = (proc)->console_cols, .rlimits = (proc)->rlimits,                           \
    .rlimit_count = (proc)->rlimit_count, .filters = (run)->filters,                            \
    .filter_count = (run)->filter_count, .no_new_privs = (run)->no_new_privs,                   \
    .cap_bounding = (proc)->cap_bounding, .cap_effective = (proc)->cap_effective,               \
    .cap_permitted = (proc)->cap_permitted, .cap_inheritable = (proc)->cap_inheritable,         \
    .cap_ambient = (proc)->cap_ambient, .uid = (proc)->uid, .gid = (proc)->gid,                 \
    .additional_gids = (proc)->additional_gids,                                                 \
    .additional_gid_count = (proc)->additional_gid_count, .umask = (proc)->umask,               \
    .detached = (proc)->detached, .cwd = (run)->cwd, .ioprio = (proc)->ioprio,                  \
    .has_personality = (proc)->has_personality, .personality = (proc)->personality,             \
    .keep_groups = (proc)->keep_groups, .preserved_fds = (proc)->preserved_fds,                 \
    .preserved_fd_count = (proc)->preserved_fd_count,                                           \
}
/* Console, rlimits, user, capabilities, no_new_privs, cwd, stdio and signals, in runc's order
 * (process_steps.c says why). Returns 1 when the seccomp filters are still to be installed. */
ENVYRO_HIDDEN int envyro__become_process(const struct envyro__process *p, int stdio[3]);

/* ---- the root (rootfs.c) -------------------------------------------------------------- */

/* Mount flags the kernel locked on the mount at `path` (a remount must keep them). */
ENVYRO_HIDDEN unsigned long envyro__locked_flags(const char *path);
ENVYRO_HIDDEN int envyro__remount_readonly(const char *path);
/* struct mount_attr of linux/mount.h (its first version, MOUNT_ATTR_SIZE_VER0), for
 * mount_setattr(2), which glibc does not wrap here. */
struct envyro__mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };
#define ENVYRO_MOUNT_ATTR_RDONLY 0x00000001ULL
/* The mount at `path` beneath `dirfd` (`path` "": `dirfd` itself) and every mount beneath it
 * made read-only (mount_setattr AT_RECURSIVE). */
ENVYRO_HIDDEN int envyro__readonly_tree(int dirfd, const char *path);
/* openat2 of `path` inside the root `rootfd` (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS). */
ENVYRO_HIDDEN int envyro__open_in_root(int rootfd, const char *path, int flags, uint64_t extra_resolve);
/* mkdir -p of `path` inside the root; an O_PATH fd of it. */
ENVYRO_HIDDEN int envyro__mkdir_in_root(int rootfd, const char *path);
/* The parent of `path` (made inside the root), with its last component copied to `base`. */
ENVYRO_HIDDEN int envyro__parent_in_root(int rootfd, const char *path, char base[PATH_BUF]);
/* `path` inside the root, made as an empty file when missing. */
ENVYRO_HIDDEN int envyro__mkfile_in_root(int rootfd, const char *path);
/* oci_mount_extra.c: what an OCI mount asks beyond mount(2) (dest-nofollow, copy-symlink, an
 * idmapped clone, the recursive attributes). */
ENVYRO_HIDDEN int envyro__open_dest(int rootfd, const struct envyro_mount *m, int is_dir);
ENVYRO_HIDDEN int envyro__reopen_dest(int rootfd, const struct envyro_mount *m);
ENVYRO_HIDDEN int envyro__copy_symlink(int rootfd, const struct envyro_mount *m);
ENVYRO_HIDDEN void envyro__attach_tree(const struct envyro_mount *m, int destfd);
ENVYRO_HIDDEN void envyro__bind_nofollow(const struct envyro_mount *m, const char *target, unsigned long rec);
ENVYRO_HIDDEN void envyro__setattr_recursive(const struct envyro_mount *m, int fd);
ENVYRO_HIDDEN void envyro__private_root_parent(const char *rootfs);
/* chdir to `cwd` resolved inside the current root (openat2 RESOLVE_IN_ROOT, no magic links),
 * then checks that the kernel can reach the new cwd from the root. */
ENVYRO_HIDDEN void envyro__enter_cwd(const char *cwd);
/* The rootfs at `rootfs`, opened once without symlinks and bound onto itself; its O_PATH fd. */
ENVYRO_HIDDEN int envyro__bind_rootfs(const char *rootfs, int readonly_beneath);
/* A fresh filesystem at `path` inside the root; an O_PATH fd of the new mount's root. */
ENVYRO_HIDDEN int envyro__mount_in_root(int rootfd, const char *path, const char *type, unsigned long flags,
                                        const char *data, int step);
/* The minimal /dev of `envyro run`. */
ENVYRO_HIDDEN void envyro__populate_dev(int rootfd);
/* The config's masked and read-only paths, resolved inside the root. */
ENVYRO_HIDDEN void envyro__mask_paths(int rootfd, const struct envyro_container_config *cfg);
ENVYRO_HIDDEN void envyro__root_readonly(int rootfd, unsigned long extra);
/* pivot_root into the root's mount; closes rootfd. */
ENVYRO_HIDDEN void envyro__pivot_into(int rootfd, int slave_old);

/* ---- the children ---------------------------------------------------------------------- */

/* An OCI bundle's child (oci_child.c). */
ENVYRO_HIDDEN __attribute__((noreturn)) void envyro__oci_child_main(const struct envyro_container_config *cfg, int sync_fd);
/* The tiny init as pid 1 (tiny_init.c). */
ENVYRO_HIDDEN __attribute__((noreturn)) void envyro__run_init(const struct envyro_container_config *cfg, char *const argv[],
                                                              char *const envp[], const char *search_path);

#endif
