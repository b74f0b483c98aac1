/*
 * The trampoline's shared primitives: step names, the error pipe ({step, errno}, then _exit),
 * PATH search for execve, and closing the fds a child inherited from the helper.
 *
 * Why C: this runs in the child between clone and execve, where Swift must never run; only
 * raw, async-signal-safe syscalls (no malloc, no stdio, no locks). See trampoline.h.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>

/* cenvyro.h gives Swift the kernel's clone flags and capability numbers under names it can
 * import; a kernel header that disagrees stops the build here. */
#define SAME(ours, kernels) _Static_assert((ours) == (kernels), #ours " is not the kernel's " #kernels)
SAME(ENVYRO_CLONE_NEWNS, CLONE_NEWNS); SAME(ENVYRO_CLONE_NEWCGROUP, CLONE_NEWCGROUP);
SAME(ENVYRO_CLONE_NEWUTS, CLONE_NEWUTS); SAME(ENVYRO_CLONE_NEWIPC, CLONE_NEWIPC);
SAME(ENVYRO_CLONE_NEWUSER, CLONE_NEWUSER); SAME(ENVYRO_CLONE_NEWPID, CLONE_NEWPID);
SAME(ENVYRO_CLONE_NEWNET, CLONE_NEWNET); SAME(ENVYRO_CLONE_PARENT, CLONE_PARENT);
SAME(ENVYRO_RLIMIT_DATA, RLIMIT_DATA); SAME(ENVYRO_RLIMIT_NPROC, RLIMIT_NPROC);
#ifdef CLONE_NEWTIME
SAME(ENVYRO_CLONE_NEWTIME, CLONE_NEWTIME);
#endif
SAME(ENVYRO_CAP_CHOWN, CAP_CHOWN); SAME(ENVYRO_CAP_DAC_OVERRIDE, CAP_DAC_OVERRIDE);
SAME(ENVYRO_CAP_DAC_READ_SEARCH, CAP_DAC_READ_SEARCH); SAME(ENVYRO_CAP_FOWNER, CAP_FOWNER);
SAME(ENVYRO_CAP_FSETID, CAP_FSETID); SAME(ENVYRO_CAP_KILL, CAP_KILL);
SAME(ENVYRO_CAP_SETGID, CAP_SETGID); SAME(ENVYRO_CAP_SETUID, CAP_SETUID);
SAME(ENVYRO_CAP_SETPCAP, CAP_SETPCAP); SAME(ENVYRO_CAP_LINUX_IMMUTABLE, CAP_LINUX_IMMUTABLE);
SAME(ENVYRO_CAP_NET_BIND_SERVICE, CAP_NET_BIND_SERVICE); SAME(ENVYRO_CAP_NET_BROADCAST, CAP_NET_BROADCAST);
SAME(ENVYRO_CAP_NET_ADMIN, CAP_NET_ADMIN); SAME(ENVYRO_CAP_NET_RAW, CAP_NET_RAW);
SAME(ENVYRO_CAP_IPC_LOCK, CAP_IPC_LOCK); SAME(ENVYRO_CAP_IPC_OWNER, CAP_IPC_OWNER);
SAME(ENVYRO_CAP_SYS_MODULE, CAP_SYS_MODULE); SAME(ENVYRO_CAP_SYS_RAWIO, CAP_SYS_RAWIO);
SAME(ENVYRO_CAP_SYS_CHROOT, CAP_SYS_CHROOT); SAME(ENVYRO_CAP_SYS_PTRACE, CAP_SYS_PTRACE);
SAME(ENVYRO_CAP_SYS_PACCT, CAP_SYS_PACCT); SAME(ENVYRO_CAP_SYS_ADMIN, CAP_SYS_ADMIN);
SAME(ENVYRO_CAP_SYS_BOOT, CAP_SYS_BOOT); SAME(ENVYRO_CAP_SYS_NICE, CAP_SYS_NICE);
SAME(ENVYRO_CAP_SYS_RESOURCE, CAP_SYS_RESOURCE); SAME(ENVYRO_CAP_SYS_TIME, CAP_SYS_TIME);
SAME(ENVYRO_CAP_SYS_TTY_CONFIG, CAP_SYS_TTY_CONFIG); SAME(ENVYRO_CAP_MKNOD, CAP_MKNOD);
SAME(ENVYRO_CAP_LEASE, CAP_LEASE); SAME(ENVYRO_CAP_AUDIT_WRITE, CAP_AUDIT_WRITE);
SAME(ENVYRO_CAP_AUDIT_CONTROL, CAP_AUDIT_CONTROL); SAME(ENVYRO_CAP_SETFCAP, CAP_SETFCAP);
SAME(ENVYRO_CAP_MAC_OVERRIDE, CAP_MAC_OVERRIDE); SAME(ENVYRO_CAP_MAC_ADMIN, CAP_MAC_ADMIN);
SAME(ENVYRO_CAP_SYSLOG, CAP_SYSLOG); SAME(ENVYRO_CAP_WAKE_ALARM, CAP_WAKE_ALARM);
SAME(ENVYRO_CAP_BLOCK_SUSPEND, CAP_BLOCK_SUSPEND); SAME(ENVYRO_CAP_AUDIT_READ, CAP_AUDIT_READ);
SAME(ENVYRO_CAP_PERFMON, CAP_PERFMON); SAME(ENVYRO_CAP_BPF, CAP_BPF);
SAME(ENVYRO_CAP_CHECKPOINT_RESTORE, CAP_CHECKPOINT_RESTORE);
SAME(ENVYRO_CAP_LAST_CAP, CAP_LAST_CAP);
#undef SAME

const char *envyro_step_name(int step) {
    switch (step) {
    case ENVYRO_STEP_SYNC: return "wait for id maps";
    case ENVYRO_STEP_READY: return "ready for id maps";
    case ENVYRO_STEP_PREPARED: return "prepared";
    case ENVYRO_STEP_GO: return "receive the run";
    case ENVYRO_STEP_CGROUP: return "join the container's cgroup";
    case ENVYRO_STEP_UNSHARE: return "create the network namespace";
    case ENVYRO_STEP_SETID: return "become root of the user namespace";
    case ENVYRO_STEP_HOSTNAME: return "set hostname";
    case ENVYRO_STEP_MOUNT_PRIVATE: return "make mounts private";
    case ENVYRO_STEP_ROOT_TMPFS: return "mount the root tmpfs";
    case ENVYRO_STEP_ROOTFS_BIND: return "bind the rootfs";
    case ENVYRO_STEP_HOST_BIND: return "bind a host directory";
    case ENVYRO_STEP_READONLY: return "remount read-only";
    case ENVYRO_STEP_TMP: return "mount /tmp";
    case ENVYRO_STEP_PROC: return "mount /proc";
    case ENVYRO_STEP_DEV: return "populate /dev";
    case ENVYRO_STEP_LOOPBACK: return "bring up lo";
    case ENVYRO_STEP_PIVOT: return "pivot_root";
    case ENVYRO_STEP_CWD: return "chdir to the working directory";
    case ENVYRO_STEP_STDIO: return "set up stdio";
    case ENVYRO_STEP_SIGNALS: return "reset signals";
    case ENVYRO_STEP_NNP: return "set no_new_privs";
    case ENVYRO_STEP_INIT: return "start init";
    case ENVYRO_STEP_EXEC: return "exec";
    case ENVYRO_STEP_PDEATHSIG: return "set parent-death signal";
    case ENVYRO_STEP_MASK: return "mask or protect a path";
    case ENVYRO_STEP_CAPS: return "drop capabilities";
    case ENVYRO_STEP_SECCOMP: return "install the seccomp filter";
    case ENVYRO_STEP_JOIN_NS: return "join a namespace";
    case ENVYRO_STEP_OCI_MOUNT: return "mount";
    case ENVYRO_STEP_DEVICE: return "create a device node";
    case ENVYRO_STEP_SYSCTL: return "write a sysctl";
    case ENVYRO_STEP_RLIMIT: return "set an rlimit";
    case ENVYRO_STEP_USER: return "set the user";
    case ENVYRO_STEP_CONSOLE: return "set up the console";
    case ENVYRO_STEP_START: return "wait for start";
    case ENVYRO_STEP_PROPAGATION: return "set the rootfs propagation";
    case ENVYRO_STEP_DOMAINNAME: return "set domainname";
    case ENVYRO_STEP_SESSION: return "start a new session";
    case ENVYRO_STEP_PERSONALITY: return "set the personality";
    case ENVYRO_STEP_IOPRIO: return "set the I/O priority";
    case ENVYRO_STEP_TIMENS: return "create the time namespace";
    default: return "setup";
    }
}

/* ---- the error pipe ------------------------------------------------------------------- */

void envyro__write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return; }
        p += w; n -= (size_t)w;
    }
}

/* Per child: each child is a private copy of the helper's memory. */
static int g_error_fd = -1;

void envyro__set_error_fd(int fd) { g_error_fd = fd; }

void envyro__close_error_fd(void) {
    if (g_error_fd >= 0) close(g_error_fd);
    g_error_fd = -1;
}

/* Which entry a failing step was working on (the OCI mount index), reported with it. */
static int g_fail_detail = -1;
void envyro__set_fail_detail(int detail) { g_fail_detail = detail; }

void envyro__report(int step) {
    struct envyro_child_error e = { .step = step, .err = 0, .detail = -1 };
    if (g_error_fd >= 0) envyro__write_all(g_error_fd, &e, sizeof e);
}

void envyro__fail(int step, int err) {
    struct envyro_child_error e = { .step = step, .err = err, .detail = g_fail_detail };
    if (g_error_fd >= 0) envyro__write_all(g_error_fd, &e, sizeof e);
    _exit(step == ENVYRO_STEP_EXEC ? (err == ENOENT ? 127 : 126) : 125);
}

/* ---- PATH search ------------------------------------------------------------------------ */

/* Walks `search_path` as a shell does ("" is "."), building each candidate for `file` in
 * `cand` and asking `try_one` about it: 0 stops with success, ENOENT goes on, EACCES goes on
 * but is remembered (it wins over ENOENT at the end), anything else stops with that error. */
static int walk_search_path(const char *file, const char *search_path, char cand[PATH_BUF],
                            int (*try_one)(const char *cand, void *ctx), void *ctx) {
    int saw_eacces = 0;
    const char *p = search_path;
    size_t flen = s_len(file);
    while (1) {
        const char *end = p;
        while (*end && *end != ':') end++;
        size_t dlen = (size_t)(end - p);
        if (dlen == 0) { cand[0] = '.'; dlen = 1; } else if (dlen < PATH_BUF) memcpy(cand, p, dlen);
        if (dlen + 1 + flen + 1 <= PATH_BUF) {
            cand[dlen] = '/';
            memcpy(cand + dlen + 1, file, flen + 1);
            int r = try_one(cand, ctx);
            if (r == 0) return 0;
            if (r == EACCES) saw_eacces = 1;
            else if (r != ENOENT) return r;
        }
        if (*end == 0) break;
        p = end + 1;
    }
    return saw_eacces ? EACCES : ENOENT;
}

static int has_slash(const char *file) {
    for (const char *c = file; *c; c++)
        if (*c == '/') return 1;
    return 0;
}

struct exec_args { char *const *argv; char *const *envp; };

static int try_exec(const char *cand, void *ctx) {
    const struct exec_args *a = ctx;
    execve(cand, a->argv, a->envp);
    if (errno == EACCES) return EACCES;
    if (errno == ENOENT || errno == ENOTDIR) return ENOENT;
    return errno;
}

int envyro__exec_search(const char *file, char *const argv[], char *const envp[], const char *search_path) {
    if (has_slash(file)) { execve(file, argv, envp); return errno; }
    char cand[PATH_BUF];
    struct exec_args a = { argv, envp };
    return walk_search_path(file, search_path, cand, try_exec, &a);
}

static int try_stat(const char *cand, void *ctx) {
    (void)ctx;
    struct stat st;
    if (stat(cand, &st) == 0) return S_ISREG(st.st_mode) && access(cand, X_OK) == 0 ? 0 : EACCES;
    return errno == EACCES ? EACCES : ENOENT;
}

int envyro__find_executable(const char *file, const char *search_path, char out[PATH_BUF]) {
    struct stat st;
    if (has_slash(file)) {
        size_t n = s_len(file);
        if (n >= PATH_BUF) return ENAMETOOLONG;
        memcpy(out, file, n + 1);
        if (stat(out, &st) < 0) return errno;
        if (!S_ISREG(st.st_mode) || access(out, X_OK) < 0) return EACCES;
        return 0;
    }
    if (s_len(file) == 0) return ENOENT;
    return walk_search_path(file, search_path, out, try_stat, NULL);
}

/* ---- inherited fds ---------------------------------------------------------------------- */

/* Sorts the few fds to keep (insertion sort: no libc qsort here) and closes the gaps between
 * them with close_range. Runs first thing after clone: until then the child holds every fd of
 * the helper (cgroup directories, the audit log, the policy, pooled namespaces), and a path
 * such as a working directory of /proc/self/fd/N would reach the host through them. */
void envyro__close_fds_except(const int *keep, int n) {
    int k[ENVYRO_KEEP_MAX];
    int m = 0;
    for (int i = 0; i < n && m < ENVYRO_KEEP_MAX; i++) {
        if (keep[i] < 3) continue;
        int v = keep[i], j = m++;
        while (j > 0 && k[j - 1] > v) { k[j] = k[j - 1]; j--; }
        k[j] = v;
    }
    if (n > ENVYRO_KEEP_MAX) envyro__fail(ENVYRO_STEP_STDIO, EMFILE);
    unsigned int from = 3;
    for (int i = 0; i < m; i++) {
        if ((unsigned int)k[i] > from)
            CHECK(ENVYRO_STEP_STDIO, (int)syscall(SYS_close_range, from, (unsigned int)k[i] - 1, 0U));
        if ((unsigned int)k[i] + 1 > from) from = (unsigned int)k[i] + 1;
    }
    CHECK(ENVYRO_STEP_STDIO, (int)syscall(SYS_close_range, from, ~0U, 0U));
}

/* close_range(first, ~0, CLOEXEC) (Linux 5.11). A bundle's seccomp filter is installed before
 * the last steps when the bundle has no noNewPrivileges (runc's order, it needs CAP_SYS_ADMIN
 * then), and a profile written before Linux 5.9 refuses close_range (EPERM, or ENOSYS from
 * SCMP_ACT_ERRNO(ENOSYS)): then, as runc and crun do, every open fd is marked one by one with
 * fcntl, found through /proc/self/fd (getdents64, which every profile allows), or, without a
 * procfs there, by trying every fd below RLIMIT_NOFILE. Returns 0 or -1 with errno. */
int envyro__cloexec_from(unsigned int first) {
    if (syscall(SYS_close_range, first, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) == 0) return 0;
    if (errno != ENOSYS && errno != EPERM && errno != EINVAL && errno != EACCES) return -1;
    int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir >= 0) {
        char buf[2048];
        for (;;) {
            long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { close(dir); break; }
            for (long off = 0; off < n;) {
                /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name. */
                unsigned short reclen;
                memcpy(&reclen, buf + off + 16, sizeof reclen);
                const char *name = buf + off + 19;
                unsigned int fd = 0;
                int digits = 0;
                for (; *name >= '0' && *name <= '9'; name++, digits++) fd = fd * 10 + (unsigned int)(*name - '0');
                if (digits && !*name && fd >= first && (int)fd != dir) {
                    int fl = fcntl((int)fd, F_GETFD);
                    if (fl >= 0 && fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC) < 0) { int e = errno; close(dir); errno = e; return -1; }
                }
                off += reclen;
            }
        }
        return 0;
    }
    struct rlimit rl;
    unsigned long last = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) last = rl.rlim_cur;
    if (last > (1UL << 20)) last = 1UL << 20;
    for (unsigned long fd = first; fd < last; fd++) {
        int fl = fcntl((int)fd, F_GETFD);
        if (fl >= 0) fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
    }
    return 0;
}
