/*
 * The container trampoline: the code between clone and execve.
 *
 * Why C: the helper clones a child that must set up mounts, ids and stdio before execve. Swift
 * must never run in a forked child (runtime locks may be held by threads that no longer exist),
 * so everything after clone here is flat C using raw syscalls that are async-signal-safe: no
 * malloc, no stdio, no locale, no locks. Paths are built in fixed stack buffers. A failure is
 * reported as {step, errno} on the error pipe (close-on-exec, so a successful execve reads as
 * EOF in the parent) and the child exits.
 *
 * Ordering, and why:
 *   1. parent: clone3(CLONE_NEW* | CLONE_PIDFD). The child blocks on the sync pipe.
 *   2. parent (Swift): writes setgroups/gid_map/uid_map, then one byte on the sync pipe.
 *   3. child: PDEATHSIG, become uid/gid 0 of the new user namespace, hostname, make / private,
 *      build the new root (default: tmpfs + read-only host binds; or the user's rootfs),
 *      /tmp, /proc, /dev, loopback up, pivot_root, chdir, stdio, signals, no_new_privs, exec.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#define PATH_BUF 4096

/* The default rootfs is built on a tmpfs mounted over this directory inside the child's private
 * mount namespace (as bubblewrap does); the host's own /tmp is never touched. */
static const char kBase[] = "/tmp";

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
    default: return "setup";
    }
}

/* ---- async-signal-safe helpers --------------------------------------------------------- */

static size_t s_len(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

/* Joins a and b into out (size PATH_BUF); returns 0 or -1 when too long. */
static int s_join(char *out, const char *a, const char *b) {
    size_t la = s_len(a), lb = s_len(b);
    if (la + lb + 1 > PATH_BUF) return -1;
    memcpy(out, a, la);
    memcpy(out + la, b, lb + 1);
    return 0;
}

static void write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return; }
        p += w; n -= (size_t)w;
    }
}

static int g_error_fd = -1;

static __attribute__((noreturn)) void fail(int step, int err) {
    struct envyro_child_error e = { .step = step, .err = err };
    if (g_error_fd >= 0) write_all(g_error_fd, &e, sizeof e);
    _exit(step == ENVYRO_STEP_EXEC ? (err == ENOENT ? 127 : 126) : 125);
}

#define CHECK(step, expr) do { if ((expr) < 0) fail((step), errno); } while (0)

/* Mount flags that the kernel locks on a bind of a mount from a more privileged namespace; a
 * read-only remount must keep them or it fails with EPERM. */
static unsigned long locked_flags(const char *path) {
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

static int remount_readonly(const char *path) {
    return mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(path), NULL);
}

/* Makes sure `path` is a directory, creating it if needed. A symlink is refused (ELOOP): a
 * mount on it would follow the link while the host's root is still visible. */
static int mkdir_p1(const char *path, mode_t mode) {
    if (mkdir(path, mode) == 0) return 0;
    if (errno != EEXIST) return -1;
    struct stat st;
    if (lstat(path, &st) < 0) return -1;
    if (S_ISLNK(st.st_mode)) { errno = ELOOP; return -1; }
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
    return 0;
}

/* Binds host directory `src` (recursively: its child mounts are locked) read-only at
 * root+src; a symlink (merged /usr: /bin -> usr/bin) is recreated as a symlink. A source
 * missing on the host is skipped. */
static void bind_host(const char *root, const char *src) {
    char dst[PATH_BUF], link[PATH_BUF];
    struct stat st;
    if (lstat(src, &st) < 0) { if (errno == ENOENT) return; fail(ENVYRO_STEP_HOST_BIND, errno); }
    if (s_join(dst, root, src) < 0) fail(ENVYRO_STEP_HOST_BIND, ENAMETOOLONG);
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(src, link, sizeof link - 1);
        CHECK(ENVYRO_STEP_HOST_BIND, n);
        link[n] = 0;
        if (symlink(link, dst) < 0 && errno != EEXIST) fail(ENVYRO_STEP_HOST_BIND, errno);
        return;
    }
    if (!S_ISDIR(st.st_mode)) return;
    CHECK(ENVYRO_STEP_HOST_BIND, mkdir_p1(dst, 0755));
    CHECK(ENVYRO_STEP_HOST_BIND, mount(src, dst, NULL, MS_BIND | MS_REC, NULL));
    CHECK(ENVYRO_STEP_READONLY, remount_readonly(dst));
}

/* Brings up lo in the new network namespace: root of the owning user namespace has
 * CAP_NET_ADMIN over it. */
static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(ENVYRO_STEP_LOOPBACK, s);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    CHECK(ENVYRO_STEP_LOOPBACK, ioctl(s, SIOCGIFFLAGS, &ifr));
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    CHECK(ENVYRO_STEP_LOOPBACK, ioctl(s, SIOCSIFFLAGS, &ifr));
    close(s);
}

/* Looks up argv[0] in `search_path` like a shell and execs it; returns errno of the failure a
 * shell would report (EACCES wins over ENOENT when some candidate was not executable). */
static int exec_search(const char *file, char *const argv[], char *const envp[], const char *search_path) {
    for (const char *c = file; *c; c++)
        if (*c == '/') { execve(file, argv, envp); return errno; }
    char cand[PATH_BUF];
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
            execve(cand, argv, envp);
            if (errno == EACCES) saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR) return errno;
        }
        if (*end == 0) break;
        p = end + 1;
    }
    return saw_eacces ? EACCES : ENOENT;
}

/* ---- capabilities and seccomp ----------------------------------------------------------- */

/* Keeps only cfg->cap_keep: drops the rest from the bounding set (so an execve as root of the
 * user namespace can't regain them), sets permitted/effective (and inheritable when ambient),
 * and clears or raises the ambient set. Runs as root of the user namespace, after pivot_root. */
static void drop_capabilities(const struct envyro_container_config *cfg) {
    for (int cap = 0; cap < 64; cap++) {
        if (cfg->cap_keep & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) break; /* past the kernel's last capability */
            fail(ENVYRO_STEP_CAPS, errno);
        }
    }
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    uint64_t inh = cfg->cap_ambient ? cfg->cap_keep : 0;
    data[0].effective = data[0].permitted = (uint32_t)cfg->cap_keep;
    data[1].effective = data[1].permitted = (uint32_t)(cfg->cap_keep >> 32);
    data[0].inheritable = (uint32_t)inh;
    data[1].inheritable = (uint32_t)(inh >> 32);
    CHECK(ENVYRO_STEP_CAPS, (int)syscall(SYS_capset, &hdr, data));
    CHECK(ENVYRO_STEP_CAPS, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    if (cfg->cap_ambient)
        for (int cap = 0; cap < 64; cap++)
            if (cfg->cap_keep & (1ULL << cap))
                CHECK(ENVYRO_STEP_CAPS, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0));
}

/* Installs the seccomp programs, last thing before execve (a filter may forbid what setup
 * needs). Several programs stack: the kernel applies the most restrictive verdict. */
static void install_filters(const struct envyro_container_config *cfg) {
    for (int i = 0; i < cfg->filter_count; i++) {
        struct sock_fprog prog = {
            .len = (unsigned short)(cfg->filters[i].length / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)cfg->filters[i].data,
        };
        if (prog.len == 0) continue;
        CHECK(ENVYRO_STEP_SECCOMP, (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, cfg->filters[i].flags, &prog));
    }
}

/* ---- shared with container_exec.c (trampoline.h) -------------------------------------- */

void envyro__set_error_fd(int fd) { g_error_fd = fd; }
void envyro__fail(int step, int err) { fail(step, err); }

int envyro__exec_search(const char *file, char *const argv[], char *const envp[], const char *search_path) {
    return exec_search(file, argv, envp, search_path);
}

/* Sorts the few fds to keep (insertion sort: no libc qsort here) and closes the gaps between
 * them with close_range. Runs first thing after clone: until then the child holds every fd of
 * the helper (cgroup directories, the audit log, the policy, pooled namespaces), and a path
 * such as a working directory of /proc/self/fd/N would reach the host through them. */
void envyro__close_fds_except(const int *keep, int n) {
    int k[64];
    int m = 0;
    for (int i = 0; i < n && m < 64; i++) {
        if (keep[i] < 3) continue;
        int v = keep[i], j = m++;
        while (j > 0 && k[j - 1] > v) { k[j] = k[j - 1]; j--; }
        k[j] = v;
    }
    if (n > 64) fail(ENVYRO_STEP_STDIO, EMFILE);
    unsigned int from = 3;
    for (int i = 0; i < m; i++) {
        if ((unsigned int)k[i] > from)
            CHECK(ENVYRO_STEP_STDIO, (int)syscall(SYS_close_range, from, (unsigned int)k[i] - 1, 0U));
        if ((unsigned int)k[i] + 1 > from) from = (unsigned int)k[i] + 1;
    }
    CHECK(ENVYRO_STEP_STDIO, (int)syscall(SYS_close_range, from, ~0U, 0U));
}

void envyro__install_bpf(const struct envyro_bpf *filters, int count) {
    for (int i = 0; i < count; i++) {
        struct sock_fprog prog = {
            .len = (unsigned short)(filters[i].length / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)filters[i].data,
        };
        if (prog.len == 0) continue;
        CHECK(ENVYRO_STEP_SECCOMP, (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filters[i].flags, &prog));
    }
}

void envyro__stdio_and_signals(const int stdio[3]) {
    for (int i = 0; i < 3; i++) {
        if (stdio[i] == i) { CHECK(ENVYRO_STEP_STDIO, fcntl(i, F_SETFD, 0)); continue; }
        CHECK(ENVYRO_STEP_STDIO, dup2(stdio[i], i));
    }
    CHECK(ENVYRO_STEP_STDIO, (int)syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC));
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    CHECK(ENVYRO_STEP_SIGNALS, sigprocmask(SIG_SETMASK, &none, NULL));
}

/* Raising a hard limit needs CAP_SYS_RESOURCE: runs before the user and capabilities change. */
void envyro__apply_rlimits(const struct envyro_rlimit *limits, int count) {
    for (int i = 0; i < count; i++) {
        struct rlimit rl = { .rlim_cur = (rlim_t)limits[i].soft, .rlim_max = (rlim_t)limits[i].hard };
        CHECK(ENVYRO_STEP_RLIMIT, (int)syscall(SYS_prlimit64, 0, limits[i].resource, &rl, NULL));
    }
}

/* process.user. Raw syscalls: glibc's set*id wrappers broadcast to the threads of the process
 * we were cloned from, whose bookkeeping this copy still carries. KEEPCAPS keeps the permitted
 * set across the change away from uid 0; envyro__set_caps then sets what the process gets. */
void envyro__apply_user(uint32_t uid, uint32_t gid, const uint32_t *gids, int count) {
    /* A user namespace whose setgroups is "deny" refuses even an empty list: skip that case
     * only (the process then keeps the groups it had, none in such a namespace). */
    if (syscall(SYS_setgroups, (size_t)count, count > 0 ? gids : NULL) < 0 && !(errno == EPERM && count == 0))
        fail(ENVYRO_STEP_USER, errno);
    CHECK(ENVYRO_STEP_USER, prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    CHECK(ENVYRO_STEP_USER, (int)syscall(SYS_setresgid, gid, gid, gid));
    CHECK(ENVYRO_STEP_USER, (int)syscall(SYS_setresuid, uid, uid, uid));
    CHECK(ENVYRO_STEP_USER, prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
}

/* Drops from the bounding set what `keep` lacks. Needs CAP_SETPCAP: runs before the user
 * change, which clears the effective set. */
void envyro__drop_bounding(uint64_t keep) {
    for (int cap = 0; cap < 64; cap++) {
        if (keep & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) break; /* past the kernel's last capability */
            fail(ENVYRO_STEP_CAPS, errno);
        }
    }
}

/* OCI's separate sets. Ambient capabilities must be in permitted and inheritable (the kernel
 * refuses the raise otherwise): a bundle asking for more fails here, as with runc. */
void envyro__set_caps(uint64_t eff, uint64_t perm, uint64_t inh, uint64_t amb) {
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = (uint32_t)eff;   data[1].effective = (uint32_t)(eff >> 32);
    data[0].permitted = (uint32_t)perm;  data[1].permitted = (uint32_t)(perm >> 32);
    data[0].inheritable = (uint32_t)inh; data[1].inheritable = (uint32_t)(inh >> 32);
    CHECK(ENVYRO_STEP_CAPS, (int)syscall(SYS_capset, &hdr, data));
    CHECK(ENVYRO_STEP_CAPS, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    for (int cap = 0; cap < 64; cap++)
        if (amb & (1ULL << cap))
            CHECK(ENVYRO_STEP_CAPS, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0));
}

static void fmt_uint(char *out, unsigned v) {
    char tmp[16];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *out++ = tmp[--n];
    *out = 0;
}

void envyro__setup_console(int console_fd, uint16_t rows, uint16_t cols, int stdio[3]) {
    /* /dev/ptmx of the container's root: with a devpts of its own (newinstance) it is the
     * pts/ptmx link, so the pty lives in the container's devpts and is /dev/pts/N there. */
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(ENVYRO_STEP_CONSOLE, master);
    int unlock = 0;
    CHECK(ENVYRO_STEP_CONSOLE, ioctl(master, TIOCSPTLCK, &unlock));
    unsigned int ptn = 0;
    CHECK(ENVYRO_STEP_CONSOLE, ioctl(master, TIOCGPTN, &ptn));
    char name[32];
    memcpy(name, "/dev/pts/", 9);
    fmt_uint(name + 9, ptn);
    /* TIOCGPTPEER (4.13) opens the slave through the master, with no path lookup that a
     * hostile /dev/pts could redirect; older kernels get the path. */
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0 && (errno == EINVAL || errno == ENOTTY))
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
    CHECK(ENVYRO_STEP_CONSOLE, slave);
    if (rows || cols) {
        struct winsize ws = { .ws_row = rows, .ws_col = cols, .ws_xpixel = 0, .ws_ypixel = 0 };
        CHECK(ENVYRO_STEP_CONSOLE, ioctl(master, TIOCSWINSZ, &ws));
    }
    /* As runc: the payload is the pty's name, the master travels by SCM_RIGHTS. */
    size_t len = s_len(name);
    if (envyro_send_frame(console_fd, name, len, &master, 1) != (ssize_t)len)
        fail(ENVYRO_STEP_CONSOLE, errno ? errno : EIO);
    close(master);
    close(console_fd);
    CHECK(ENVYRO_STEP_CONSOLE, setsid());
    CHECK(ENVYRO_STEP_CONSOLE, ioctl(slave, TIOCSCTTY, 0));
    stdio[0] = stdio[1] = stdio[2] = slave;
}

/* ---- OCI bundle mode ------------------------------------------------------------------- */

static int s_eq(const char *a, const char *b) {
    if (!a || !b) return 0;
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

/* "/proc/self/fd/N": the path the mount calls take, so that they act on exactly the object
 * openat2 resolved inside the rootfs (runc does the same). */
static void fd_path(char out[32], int fd) {
    memcpy(out, "/proc/self/fd/", 14);
    fmt_uint(out + 14, (unsigned)fd);
}

/* openat2 relative to the rootfs with RESOLVE_IN_ROOT: absolute symlinks and ".." resolve as if
 * the rootfs were "/", so a hostile image (/proc -> /etc, x -> ../../..) can't send a mount or
 * a device node outside it. */
static int open_in_root(int rootfd, const char *path, int flags, uint64_t extra_resolve) {
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
    int fd = open_in_root(root, cwd, O_PATH | O_DIRECTORY, 0);
    if (fd < 0) fail(ENVYRO_STEP_CWD, errno);
    CHECK(ENVYRO_STEP_CWD, fchdir(fd));
    close(fd);
    close(root);
    static char buf[PATH_BUF];
    long n = syscall(SYS_getcwd, buf, sizeof buf);
    if (n < 0) fail(ENVYRO_STEP_CWD, errno);
    if (buf[0] != '/') fail(ENVYRO_STEP_CWD, EXDEV);
}

/* Resolves `path` inside the rootfs as a directory, creating missing components (mkdir -p),
 * and returns an O_PATH fd of it. Each missing component is made with mkdirat in its resolved
 * parent; a dangling symlink is never created through (the re-resolve fails with ENOENT). */
static int mkdir_in_root(int rootfd, const char *path) {
    char buf[PATH_BUF];
    while (*path == '/') path++;
    size_t n = s_len(path);
    if (n >= PATH_BUF) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, n + 1);
    int fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
    if (fd >= 0 || errno != ENOENT) return fd;
    int parent = open_in_root(rootfd, "", O_PATH | O_DIRECTORY, 0);
    if (parent < 0) return -1;
    size_t i = 0;
    while (i < n) {
        while (i < n && buf[i] == '/') i++;
        if (i >= n) break;
        size_t start = i;
        while (i < n && buf[i] != '/') i++;
        char saved = buf[i];
        buf[i] = 0;
        fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(parent, buf + start, 0755) < 0 && errno != EEXIST) {
                int e = errno; close(parent); errno = e; return -1;
            }
            fd = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY, 0);
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
static int parent_in_root(int rootfd, const char *path, char base[PATH_BUF]) {
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
    return mkdir_in_root(rootfd, dir);
}

/* Resolves `path` inside the rootfs, creating it as an empty file if missing (the mount point
 * of a bind of a file). A missing last component is created with O_EXCL|O_NOFOLLOW in its
 * resolved parent: a dangling symlink there fails instead of being followed. */
static int mkfile_in_root(int rootfd, const char *path) {
    int fd = open_in_root(rootfd, path, O_PATH, 0);
    if (fd >= 0 || errno != ENOENT) return fd;
    char base[PATH_BUF];
    int parent = parent_in_root(rootfd, path, base);
    if (parent < 0) return -1;
    int f = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    int e = errno;
    close(parent);
    if (f < 0) { errno = e; return -1; }
    close(f);
    return open_in_root(rootfd, path, O_PATH, 0);
}

#define MS_PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)
#define MS_REMOUNT_BITS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME)

/* A mount hides what an fd opened before it points at: re-resolve the destination (runc: "the
 * previous call invalidates the passed procfd"). */
static int reopen_dest(int rootfd, int oldfd, const char *dest, char target[32]) {
    close(oldfd);
    int fd = open_in_root(rootfd, dest, O_PATH, 0);
    CHECK(ENVYRO_STEP_OCI_MOUNT, fd);
    fd_path(target, fd);
    return fd;
}

/* Bind `source` at the destination fd, then apply the requested flags with a bind remount
 * (a bind ignores them), keeping the flags the kernel locked on the source. */
static int bind_at(int rootfd, int fd, const char *dest, const char *source, unsigned long flags, unsigned long rec) {
    char target[32];
    fd_path(target, fd);
    CHECK(ENVYRO_STEP_OCI_MOUNT, mount(source, target, NULL, MS_BIND | rec, NULL));
    fd = reopen_dest(rootfd, fd, dest, target);
    if (flags & MS_REMOUNT_BITS)
        CHECK(ENVYRO_STEP_OCI_MOUNT, mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | (flags & MS_REMOUNT_BITS) | locked_flags(target), NULL));
    return fd;
}

/* type "cgroup" on a cgroup v1 host: a tmpfs with one entry per host hierarchy, as
 * /sys/fs/cgroup looks. Each hierarchy is mounted for real (mount -t cgroup -o <controllers>:
 * inside our cgroup namespace its root is the container's cgroup); where the kernel refuses
 * (cgroup v1 can't be mounted in a user namespace: EPERM) the host's hierarchy is bound
 * instead, recursively, read-only when the mount asks for "ro". Symlinks (cpu -> cpu,cpuacct)
 * are recreated. The tmpfs is made read-only last when asked. */
/* Set in the OCI path: whether the container has a cgroup namespace of its own. */
static int g_own_cgroupns = 0;

/* Our own cgroup path in the hierarchy mounted at /sys/fs/cgroup/<name>, from /proc/self/cgroup
 * ("4:memory:/envyro/root/oci-x"; "name=systemd" for systemd, "" for unified), into out. */
static int own_cgroup_path(const char *name, char out[PATH_BUF]) {
    static char buf[8192];
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = 0, r;
    while (n < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - (size_t)n)) > 0) n += r;
    close(fd);
    buf[n] = 0;
    const char *want = s_eq(name, "systemd") ? "name=systemd" : (s_eq(name, "unified") ? "" : name);
    size_t wl = s_len(want);
    for (char *line = buf; *line;) {
        char *end = line;
        while (*end && *end != '\n') end++;
        char *c1 = line;
        while (c1 < end && *c1 != ':') c1++;
        char *c2 = c1 < end ? c1 + 1 : end;
        while (c2 < end && *c2 != ':') c2++;
        if (c2 < end && (size_t)(c2 - c1 - 1) == wl && memcmp(c1 + 1, want, wl) == 0) {
            size_t pl = (size_t)(end - c2 - 1);
            if (pl + 1 > PATH_BUF) return -1;
            memcpy(out, c2 + 1, pl);
            out[pl] = 0;
            return 0;
        }
        line = *end ? end + 1 : end;
    }
    errno = ENOENT;
    return -1;
}

static int mount_cgroup_tree(int rootfd, int fd, const char *dest, unsigned long flags) {
    char target[32], sub[32], hostpath[PATH_BUF], link[PATH_BUF];
    fd_path(target, fd);
    unsigned long base_flags = (flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    CHECK(ENVYRO_STEP_OCI_MOUNT, mount("tmpfs", target, "tmpfs", base_flags, "mode=755"));
    fd = reopen_dest(rootfd, fd, dest, target);
    int host = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (host >= 0) {
        union { char buf[4096]; struct { uint64_t a; } align; } dents;
        for (;;) {
            long nread = syscall(SYS_getdents64, host, dents.buf, sizeof dents.buf);
            CHECK(ENVYRO_STEP_OCI_MOUNT, (int)nread);
            if (nread == 0) break;
            for (long off = 0; off < nread;) {
                struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(dents.buf + off);
                off += d->reclen;
                const char *name = d->name;
                if (s_eq(name, ".") || s_eq(name, "..")) continue;
                struct stat st;
                if (fstatat(host, name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
                if (S_ISLNK(st.st_mode)) {
                    ssize_t ln = readlinkat(host, name, link, sizeof link - 1);
                    if (ln < 0) continue;
                    link[ln] = 0;
                    if (symlinkat(link, fd, name) < 0 && errno != EEXIST) fail(ENVYRO_STEP_OCI_MOUNT, errno);
                    continue;
                }
                if (!S_ISDIR(st.st_mode)) continue;
                if (s_join(hostpath, "/sys/fs/cgroup/", name) < 0) fail(ENVYRO_STEP_OCI_MOUNT, ENAMETOOLONG);
                struct statfs sfs;
                if (statfs(hostpath, &sfs) < 0) continue;
                if (sfs.f_type != CGROUP_SUPER_MAGIC && sfs.f_type != CGROUP2_SUPER_MAGIC) continue;
                if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST) fail(ENVYRO_STEP_OCI_MOUNT, errno);
                int sfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                CHECK(ENVYRO_STEP_OCI_MOUNT, sfd);
                fd_path(sub, sfd);
                int r;
                if (!g_own_cgroupns) {
                    /* Without a cgroup namespace a fresh mount would show the host's whole
                     * hierarchy (writable by a root container): bind only our own cgroup, as
                     * runc does; the fallback below then makes it read-only when asked. */
                    char own[PATH_BUF];
                    if (own_cgroup_path(name, own) == 0 && s_join(hostpath, hostpath, own) == 0) r = -1;
                    else { close(sfd); continue; }
                } else if (sfs.f_type == CGROUP2_SUPER_MAGIC)
                    r = mount("cgroup2", sub, "cgroup2", flags & ~MS_PROPAGATION, NULL);
                else
                    r = mount("cgroup", sub, "cgroup", flags & ~MS_PROPAGATION, s_eq(name, "systemd") ? "none,name=systemd" : name);
                if (r < 0) {
                    CHECK(ENVYRO_STEP_OCI_MOUNT, mount(hostpath, sub, NULL, MS_BIND | MS_REC, NULL));
                    close(sfd);
                    sfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    CHECK(ENVYRO_STEP_OCI_MOUNT, sfd);
                    fd_path(sub, sfd);
                    if (flags & MS_REMOUNT_BITS)
                        CHECK(ENVYRO_STEP_OCI_MOUNT, mount(NULL, sub, NULL, MS_BIND | MS_REMOUNT | (flags & MS_REMOUNT_BITS) | locked_flags(sub), NULL));
                }
                close(sfd);
            }
        }
        close(host);
    }
    if (flags & MS_RDONLY)
        CHECK(ENVYRO_STEP_OCI_MOUNT, mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY | base_flags, NULL));
    return fd;
}

/* One entry of the bundle's `mounts`, at its destination resolved inside the rootfs. */
static void oci_mount(int rootfd, const struct envyro_mount *m, int *dev_tmpfs, int *devpts) {
    const char *dest = m->destination;
    int bind = (m->flags & MS_BIND) || m->fstype == NULL || s_eq(m->fstype, "bind");
    unsigned long flags = m->flags & ~MS_PROPAGATION;
    int is_dir = 1;
    if (bind) {
        struct stat st;
        if (!m->source || stat(m->source, &st) < 0) fail(ENVYRO_STEP_OCI_MOUNT, m->source ? errno : EINVAL);
        is_dir = S_ISDIR(st.st_mode);
    }
    int fd = is_dir ? mkdir_in_root(rootfd, dest) : mkfile_in_root(rootfd, dest);
    CHECK(ENVYRO_STEP_OCI_MOUNT, fd);
    char target[32];
    fd_path(target, fd);
    if (bind) {
        fd = bind_at(rootfd, fd, dest, m->source, flags, flags & MS_REC);
    } else if (s_eq(m->fstype, "cgroup")) {
        fd = mount_cgroup_tree(rootfd, fd, dest, flags);
    } else {
        int r = mount(m->source ? m->source : m->fstype, target, m->fstype, flags, m->data);
        if (r < 0 && errno == EPERM && s_eq(m->fstype, "sysfs")) {
            /* sysfs needs a network namespace owned by our user namespace: bind the host's
             * /sys (recursively: its child mounts are locked), as runc does rootless. */
            fd = bind_at(rootfd, fd, dest, "/sys", flags, MS_REC);
        } else if (r < 0 && errno == EPERM && s_eq(m->fstype, "mqueue")) {
            /* mqueue needs an ipc namespace owned by our user namespace. */
            fd = bind_at(rootfd, fd, dest, "/dev/mqueue", flags, MS_REC);
        } else {
            CHECK(ENVYRO_STEP_OCI_MOUNT, r);
            fd = reopen_dest(rootfd, fd, dest, target);
        }
        if (s_eq(dest, "/dev") && s_eq(m->fstype, "tmpfs")) *dev_tmpfs = 1;
        if (s_eq(dest, "/dev/pts") && s_eq(m->fstype, "devpts")) *devpts = 1;
    }
    if (m->propagation)
        CHECK(ENVYRO_STEP_OCI_MOUNT, mount(NULL, target, NULL, m->propagation, NULL));
    close(fd);
}

/* One `linux.devices` entry: mknod inside the rootfs; in a user namespace (mknod: EPERM) an
 * empty file with the host's node of the same path bound onto it, as runc does rootless. */
static void oci_device(int rootfd, const struct envyro_device *d) {
    char base[PATH_BUF], target[32];
    int parent = parent_in_root(rootfd, d->path, base);
    CHECK(ENVYRO_STEP_DEVICE, parent);
    if (mknodat(parent, base, (mode_t)d->mode, makedev(d->major, d->minor)) == 0) {
        CHECK(ENVYRO_STEP_DEVICE, fchownat(parent, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW));
    } else if (errno == EPERM) {
        int f = openat(parent, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        CHECK(ENVYRO_STEP_DEVICE, f);
        close(f);
        int fd = openat(parent, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        CHECK(ENVYRO_STEP_DEVICE, fd);
        fd_path(target, fd);
        CHECK(ENVYRO_STEP_DEVICE, mount(d->path, target, NULL, MS_BIND, NULL));
        close(fd);
    } else if (errno != EEXIST) {   /* an existing node is the image's: leave it */
        fail(ENVYRO_STEP_DEVICE, errno);
    }
    close(parent);
}

/* /dev's standard links, on a /dev tmpfs the bundle mounted (runc's defaults); a devpts of
 * our own needs /dev/ptmx -> pts/ptmx so that a pty opened through it lands there. */
static void oci_dev_links(int rootfd, int dev_tmpfs, int devpts) {
    int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY, 0);
    CHECK(ENVYRO_STEP_DEV, dev);
    if (devpts) {
        struct stat st;
        if (fstatat(dev, "ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode)) {
            /* A bound node is a mount point (EBUSY): then it stays what the bundle made it. */
            if (unlinkat(dev, "ptmx", 0) < 0 && errno != EBUSY) fail(ENVYRO_STEP_DEV, errno);
        }
        if (symlinkat("pts/ptmx", dev, "ptmx") < 0 && errno != EEXIST && errno != EBUSY) fail(ENVYRO_STEP_DEV, errno);
    }
    if (dev_tmpfs) {
        static const char *const links[][2] = {
            { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
            { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
            { "/proc/kcore", "core" }, { NULL, NULL },
        };
        for (int i = 0; links[i][0]; i++) {
            if (i == 4 && access("/proc/kcore", F_OK) < 0) continue;
            if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST) fail(ENVYRO_STEP_DEV, errno);
        }
    }
    close(dev);
}

/* linux.sysctl: written through the container's own procfs (its namespaces' values). No
 * symlink is followed and the file must be on a procfs: a rootfs without a proc mount can't
 * turn this into a write to an image file. */
static void oci_sysctl(int rootfd, const struct envyro_sysctl *s) {
    char rel[PATH_BUF];
    size_t kl = s_len(s->key);
    if (kl == 0 || kl + 10 >= PATH_BUF) fail(ENVYRO_STEP_SYSCTL, EINVAL);
    memcpy(rel, "proc/sys/", 9);
    for (size_t i = 0; i <= kl; i++) rel[9 + i] = s->key[i] == '.' ? '/' : s->key[i];
    int fd = open_in_root(rootfd, rel, O_WRONLY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
    CHECK(ENVYRO_STEP_SYSCTL, fd);
    struct statfs sfs;
    CHECK(ENVYRO_STEP_SYSCTL, fstatfs(fd, &sfs));
    if (sfs.f_type != PROC_SUPER_MAGIC) fail(ENVYRO_STEP_SYSCTL, EXDEV);
    size_t vl = s_len(s->value);
    ssize_t w;
    do { w = write(fd, s->value, vl); } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)vl) fail(ENVYRO_STEP_SYSCTL, w < 0 ? errno : EIO);
    close(fd);
}

/* masked/readonly paths, resolved inside the rootfs like the mounts (the lstat-based
 * mask_path follows symlinks in the middle of a path, which a hostile image controls). */
/* An O_PATH fd of `path` inside the root, or -1 when it is missing or a symlink (skipped). */
static int open_maskable(int rootfd, const char *path, struct stat *st) {
    int fd = open_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0) { if (errno == ENOENT || errno == ENOTDIR) return -1; fail(ENVYRO_STEP_MASK, errno); }
    CHECK(ENVYRO_STEP_MASK, fstat(fd, st));
    if (S_ISLNK(st->st_mode)) { close(fd); return -1; }
    return fd;
}

static void mask_in_root(int rootfd, const char *path) {
    char target[32];
    struct stat st;
    int fd = open_maskable(rootfd, path, &st);
    if (fd < 0) return;
    fd_path(target, fd);
    if (S_ISDIR(st.st_mode))
        CHECK(ENVYRO_STEP_MASK, mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555"));
    else
        CHECK(ENVYRO_STEP_MASK, mount("/dev/null", target, NULL, MS_BIND, NULL));
    close(fd);
}

static void readonly_in_root(int rootfd, const char *path) {
    char target[32];
    struct stat st;
    int fd = open_maskable(rootfd, path, &st);
    if (fd < 0) return;
    fd_path(target, fd);
    CHECK(ENVYRO_STEP_MASK, mount(target, target, NULL, MS_BIND | MS_REC, NULL));
    close(fd);
    fd = open_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
    CHECK(ENVYRO_STEP_MASK, fd);
    fd_path(target, fd);
    CHECK(ENVYRO_STEP_MASK, remount_readonly(target));
    close(fd);
}

/* ---- the root, by fd ------------------------------------------------------------------ */

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

/* A user's rootfs (or a bundle's), bound onto itself with its path resolved exactly once
 * (CVE-2021-30465 class: a rootfs whose parent someone else can write could be swapped for a
 * symlink between a check and a mount by string). The helper passes the canonical path; it is
 * opened with no symlink allowed on the way (a swapped-in link fails with ELOOP), cloned with
 * open_tree and attached on top of itself with move_mount. Returns an O_PATH fd of the new
 * mount's root: every later step inside the root goes through it. */
static int bind_rootfs(const char *rootfs) {
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
    if (st.st_dev == host.st_dev && st.st_ino == host.st_ino) fail(ENVYRO_STEP_ROOTFS_BIND, EBUSY);
    int tree = (int)syscall(SYS_open_tree, src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    CHECK(ENVYRO_STEP_ROOTFS_BIND, tree);
    CHECK(ENVYRO_STEP_ROOTFS_BIND, (int)syscall(SYS_move_mount, tree, "", src, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
    close(src);
    return tree;
}

/* Mounts a fresh filesystem at `path` inside the root (a directory, made if missing); returns
 * an O_PATH fd of the new mount's root. */
static int mount_in_root(int rootfd, const char *path, const char *type, unsigned long flags, const char *data, int step) {
    char target[32];
    int fd = mkdir_in_root(rootfd, path);
    CHECK(step, fd);
    fd_path(target, fd);
    CHECK(step, mount(type, target, type, flags, data));
    close(fd);
    fd = open_in_root(rootfd, path, O_PATH | O_DIRECTORY, 0);
    CHECK(step, fd);
    return fd;
}

/* A minimal /dev: a tmpfs with the host's harmless character devices bound onto empty files
 * (an unprivileged user namespace can't mknod), the fd links, and then read-only. The tmpfs is
 * new and ours: names in it are made with *at calls relative to its fd. */
static void populate_dev(int rootfd) {
    static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };
    char src[64], target[32];
    int dev = mount_in_root(rootfd, "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k", ENVYRO_STEP_DEV);
    for (int i = 0; nodes[i]; i++) {
        if (s_join(src, "/dev/", nodes[i]) < 0) fail(ENVYRO_STEP_DEV, ENAMETOOLONG);
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
            fail(ENVYRO_STEP_DEV, e);
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
static void root_readonly(int rootfd, unsigned long extra) {
    char target[32];
    fd_path(target, rootfd);
    CHECK(ENVYRO_STEP_READONLY, mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | extra | locked_flags(target), NULL));
}

/* pivot_root into the root's mount (fchdir: no path), stacking the old root under it, then
 * detaching the old root. */
static void pivot_into(int rootfd) {
    CHECK(ENVYRO_STEP_PIVOT, fchdir(rootfd));
    CHECK(ENVYRO_STEP_PIVOT, (int)syscall(SYS_pivot_root, ".", "."));
    CHECK(ENVYRO_STEP_PIVOT, umount2(".", MNT_DETACH));
    CHECK(ENVYRO_STEP_PIVOT, chdir("/"));
    close(rootfd);
}

/* Finds argv[0] as exec_search would, without exec'ing: a regular file we may execute.
 * `out` gets the path execve will take. Returns 0 or the errno a shell would report. */
static int find_executable(const char *file, const char *search_path, char out[PATH_BUF]) {
    struct stat st;
    for (const char *c = file; *c; c++)
        if (*c == '/') {
            size_t n = s_len(file);
            if (n >= PATH_BUF) return ENAMETOOLONG;
            memcpy(out, file, n + 1);
            if (stat(out, &st) < 0) return errno;
            if (!S_ISREG(st.st_mode) || access(out, X_OK) < 0) return EACCES;
            return 0;
        }
    int saw_eacces = 0;
    const char *p = search_path;
    size_t flen = s_len(file);
    if (flen == 0) return ENOENT;
    while (1) {
        const char *end = p;
        while (*end && *end != ':') end++;
        size_t dlen = (size_t)(end - p);
        if (dlen == 0) { out[0] = '.'; dlen = 1; } else if (dlen < PATH_BUF) memcpy(out, p, dlen);
        if (dlen + 1 + flen + 1 <= PATH_BUF) {
            out[dlen] = '/';
            memcpy(out + dlen + 1, file, flen + 1);
            if (stat(out, &st) == 0) {
                if (S_ISREG(st.st_mode) && access(out, X_OK) == 0) return 0;
                saw_eacces = 1;
            } else if (errno == EACCES) saw_eacces = 1;
        }
        if (*end == 0) break;
        p = end + 1;
    }
    return saw_eacces ? EACCES : ENOENT;
}

/* Held mode: report PREPARED, then wait for `start` to connect and send one byte. EOF or an
 * error on the connection means the container was deleted before it started: exit quietly.
 * Then nobody reads the error pipe any more (create has returned): close it, so a later exec
 * failure only sets the exit code (a write would raise SIGPIPE). */
static void wait_for_start(int start_fd) {
    struct envyro_child_error prepared = { .step = ENVYRO_STEP_PREPARED, .err = 0 };
    write_all(g_error_fd, &prepared, sizeof prepared);
    int conn;
    do { conn = accept4(start_fd, NULL, NULL, SOCK_CLOEXEC); } while (conn < 0 && errno == EINTR);
    if (conn < 0) fail(ENVYRO_STEP_START, errno);
    char byte;
    ssize_t r;
    do { r = read(conn, &byte, 1); } while (r < 0 && errno == EINTR);
    if (r != 1) _exit(125);
    close(conn);
    close(start_fd);
    close(g_error_fd);
    g_error_fd = -1;
}

/* The OCI child, in runc's order (the steps are numbered as in the design of issue 8). */
/* Join the container's cgroup ourselves ("0" is the writer): the migration can wait for an RCU
 * grace period, and it is better spent here than in the helper's event loop. Same credentials as
 * the target, so cgroup v1's permission check passes for the caller's own delegated subtree.
 * The cgroup namespace is created after that, so its root is the container's cgroup (clone3's
 * CLONE_INTO_CGROUP would do this on v2 only). Then the hostname. */
static void join_cgroup_and_name(const struct envyro_container_config *cfg) {
    for (int i = 0; i < cfg->cgroup_procs_count; i++) {
        ssize_t w;
        do { w = write(cfg->cgroup_procs[i], "0", 1); } while (w < 0 && errno == EINTR);
        if (w != 1) fail(ENVYRO_STEP_CGROUP, w < 0 ? errno : EIO);
        close(cfg->cgroup_procs[i]);
    }
    if (cfg->clone_flags & CLONE_NEWCGROUP)
        CHECK(ENVYRO_STEP_SETID, unshare(CLONE_NEWCGROUP));
    if (cfg->hostname && (cfg->clone_flags & CLONE_NEWUTS))
        CHECK(ENVYRO_STEP_HOSTNAME, sethostname(cfg->hostname, s_len(cfg->hostname)));
}

/* A helper with file capabilities is non-dumpable, and so is this copy of it: the /proc files
 * of a new user namespace's first process (uid_map, gid_map, setgroups) would then belong to
 * root and the helper could not write them. So only with a new user namespace, and only while
 * the maps are written, the child is dumpable: it tells the parent it is ready, waits until the
 * maps are written (EOF: the parent gave up), and is non-dumpable again before anything of the
 * container exists. Dumpable any longer, a process of the container (or of another one joining
 * its pid namespace) could open this copy of the helper's /proc/PID/fd, /proc/PID/exe and
 * /proc/PID/mem, which lead to the host. */
static void ready_for_id_maps(int sync_fd, int new_userns) {
    if (new_userns) CHECK(ENVYRO_STEP_SYNC, prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    struct envyro_child_error ready = { .step = ENVYRO_STEP_READY, .err = 0 };
    write_all(g_error_fd, &ready, sizeof ready);
    char byte;
    ssize_t r;
    do { r = read(sync_fd, &byte, 1); } while (r < 0 && errno == EINTR);
    if (r != 1) fail(ENVYRO_STEP_SYNC, r < 0 ? errno : ECONNABORTED);
    close(sync_fd);
    CHECK(ENVYRO_STEP_SYNC, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
}

static __attribute__((noreturn)) void oci_child_main(const struct envyro_container_config *cfg, int sync_fd) {
    const struct envyro_oci_config *oci = cfg->oci;
    char exe[PATH_BUF];
    int joined_user = 0;
    g_own_cgroupns = (cfg->clone_flags & CLONE_NEWCGROUP) != 0;

    /* 1. Join the bundle's namespaces (paths), the user namespace first: it grants the
     *    capabilities the other joins are checked against. A pid namespace is joined by the
     *    parent before clone (setns(CLONE_NEWPID) only affects children). */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < oci->join_count; i++) {
            uint64_t t = oci->join_types[i];
            if (t == CLONE_NEWPID || (pass == 0) != (t == CLONE_NEWUSER)) continue;
            CHECK(ENVYRO_STEP_JOIN_NS, setns(oci->join_fds[i], (int)t));
            if (t == CLONE_NEWUSER) joined_user = 1;
        }

    /* 2. A detached container outlives the helper (the engine's shim reaps it). */
    if (!oci->detached) CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));

    ready_for_id_maps(sync_fd, (cfg->clone_flags & CLONE_NEWUSER) != 0);

    /* 3. root of the user namespace, cgroup, cgroup namespace, UTS names. */
    if ((cfg->clone_flags & CLONE_NEWUSER) || joined_user) {
        CHECK(ENVYRO_STEP_SETID, (int)syscall(SYS_setresgid, 0, 0, 0));
        CHECK(ENVYRO_STEP_SETID, (int)syscall(SYS_setresuid, 0, 0, 0));
        /* uid 0 here is another kernel uid when the map isn't the identity: that cleared the
         * parent-death signal. */
        if (!oci->detached) CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
    }
    join_cgroup_and_name(cfg);
    if (oci->domainname && (cfg->clone_flags & CLONE_NEWUTS))
        CHECK(ENVYRO_STEP_DOMAINNAME, setdomainname(oci->domainname, s_len(oci->domainname)));

    /* 4. Nothing we mount may propagate to the host; a shared or slave rootfs (asked for by
     *    the bundle) starts as rslave so that host mounts still reach it, as with runc. */
    unsigned long prop = oci->rootfs_propagation;
    unsigned long first = (prop & (MS_SHARED | MS_SLAVE)) ? (MS_REC | MS_SLAVE) : (MS_REC | MS_PRIVATE);
    CHECK(ENVYRO_STEP_MOUNT_PRIVATE, mount(NULL, "/", NULL, first, NULL));

    /* 5. The rootfs, bound onto itself (pivot_root needs a mount point). Umask 0 while
     *    building it, so that modes are what the bundle says (runc does the same). */
    mode_t old_umask = umask(0);
    if (!cfg->rootfs) fail(ENVYRO_STEP_ROOTFS_BIND, EINVAL);
    int rootfd = bind_rootfs(cfg->rootfs);

    /* 6. mounts, in order. */
    int dev_tmpfs = 0, devpts = 0;
    for (int i = 0; i < oci->mount_count; i++) oci_mount(rootfd, &oci->mounts[i], &dev_tmpfs, &devpts);
    /* 7. devices, and /dev's links. */
    for (int i = 0; i < oci->device_count; i++) oci_device(rootfd, &oci->devices[i]);
    if (dev_tmpfs || devpts) oci_dev_links(rootfd, dev_tmpfs, devpts);
    /* 8. sysctl, through the container's procfs. */
    for (int i = 0; i < oci->sysctl_count; i++) oci_sysctl(rootfd, &oci->sysctls[i]);
    /* 9. masked and read-only paths. */
    if (cfg->masked_paths)
        for (int i = 0; cfg->masked_paths[i]; i++) mask_in_root(rootfd, cfg->masked_paths[i]);
    if (cfg->readonly_paths)
        for (int i = 0; cfg->readonly_paths[i]; i++) readonly_in_root(rootfd, cfg->readonly_paths[i]);
    /* 10. read-only rootfs, lo. */
    if (cfg->rootfs_readonly) root_readonly(rootfd, 0);
    if (cfg->loopback_up && (cfg->clone_flags & CLONE_NEWNET)) loopback_up();

    /* 11. pivot_root, then the propagation the bundle asked for. */
    pivot_into(rootfd);
    if (prop) CHECK(ENVYRO_STEP_PROPAGATION, mount(NULL, "/", NULL, prop, NULL));
    umask(old_umask);

    /* 12. console: the pty is made in the container's devpts, after pivot_root. */
    int stdio[3] = { cfg->stdio[0], cfg->stdio[1], cfg->stdio[2] };
    if (oci->console_fd >= 0) envyro__setup_console(oci->console_fd, oci->console_rows, oci->console_cols, stdio);
    /* Without one, a session of its own all the same: the caller's terminal (conmon's or a
     * shell's) is not its controlling terminal, so TIOCSTI can't type into it. */
    else CHECK(ENVYRO_STEP_SESSION, setsid());

    /* 13-15. rlimits (hard limits need CAP_SYS_RESOURCE), bounding set (needs CAP_SETPCAP),
     *        user (keeping the permitted set), then the capability sets. */
    envyro__apply_rlimits(oci->rlimits, oci->rlimit_count);
    /* Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which is about to go: as
     * runc does, install it now. The user, capability and start steps then run under it (every
     * published profile allows them). With no_new_privs it goes last, just before exec. */
    int filters_early = !cfg->no_new_privs && cfg->filter_count > 0;
    if (filters_early) envyro__install_bpf(cfg->filters, cfg->filter_count);
    envyro__drop_bounding(oci->cap_bounding);
    envyro__apply_user(oci->uid, oci->gid, oci->additional_gids, oci->additional_gid_count);
    if (oci->umask >= 0) umask((mode_t)oci->umask);
    envyro__set_caps(oci->cap_effective, oci->cap_permitted, oci->cap_inheritable, oci->cap_ambient);
    /* A change of euid/egid or a gain of capabilities clears the parent-death signal
     * (commit_creds): set it again, as runc does after setting up the user. */
    if (!oci->detached) CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));

    /* 16. no_new_privs, cwd (as the user: a directory only root could enter fails here, as
     *     with runc), stdio, signals. */
    if (cfg->no_new_privs) CHECK(ENVYRO_STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    envyro__enter_cwd(cfg->cwd);
    envyro__stdio_and_signals(stdio);

    /* 17. A missing or non-executable argv[0] fails `create`, not `start`. */
    int e = find_executable(cfg->argv[0], cfg->search_path, exe);
    if (e) fail(ENVYRO_STEP_EXEC, e);

    /* 18. Held: wait for `start`. */
    if (oci->start_fd >= 0) wait_for_start(oci->start_fd);

    /* 19. seccomp last (a filter may forbid accept4 or read), then exec what we found. */
    if (!filters_early) envyro__install_bpf(cfg->filters, cfg->filter_count);
    execve(exe, (char *const *)cfg->argv, (char *const *)cfg->envp);
    fail(ENVYRO_STEP_EXEC, errno);
}

/* ---- the tiny init ---------------------------------------------------------------------- */

static volatile pid_t g_workload = 0;

static void forward_signal(int sig) {
    int saved = errno;
    if (g_workload > 0) kill(g_workload, sig);
    errno = saved;
}

/* As pid 1: start the workload as pid 2, forward catchable signals to it, reap every child,
 * and exit with the workload's status (128+N when it died of signal N). */
static __attribute__((noreturn)) void run_init(const struct envyro_container_config *cfg, char *const argv[], char *const envp[], const char *search_path) {
    /* pid 1 is a copy of the helper, not an exec'd program: non-dumpable, so the workload can't
     * open /proc/1/exe (the helper binary on the host), /proc/1/mem, or ptrace it. */
    CHECK(ENVYRO_STEP_INIT, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sa.sa_flags = SA_RESTART;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) continue;
        if (sig >= 32 && sig < SIGRTMIN) continue; /* glibc's internal signals */
        sigaction(sig, &sa, NULL);
    }
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) fail(ENVYRO_STEP_INIT, errno);
    if (pid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        install_filters(cfg);
        fail(ENVYRO_STEP_EXEC, exec_search(argv[0], argv, envp, search_path));
    }
    g_workload = pid;
    /* The error pipe stays open in the workload until its execve succeeds. */
    if (g_error_fd >= 0) { close(g_error_fd); g_error_fd = -1; }
    sigprocmask(SIG_SETMASK, &old, NULL);
    int status = 0;
    for (;;) {
        int st;
        pid_t r = wait4(-1, &st, 0, NULL);
        if (r < 0) { if (errno == EINTR) continue; break; }
        if (r == pid) { status = st; break; }
    }
    if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
    _exit(WEXITSTATUS(status));
}

/* ---- the child ------------------------------------------------------------------------- */

/* ---- prewarmed children ---------------------------------------------------------------- */

/* A prewarmed child keeps its run's details here (it is a private copy of the helper's memory,
 * so static storage is its own; no malloc). */
static char g_go_buf[ENVYRO_GO_MAX];
static const char *g_go_argv[4097];
static const char *g_go_envp[4097];

/* Waits for the run: reads the packed details and the three stdio fds from `go_fd`, and points
 * `c` at them. Everything is bounds-checked; a short or malformed message fails the step. */
static void receive_go(struct envyro_container_config *c, int go_fd) {
    struct envyro_child_error prepared = { .step = ENVYRO_STEP_PREPARED, .err = 0 };
    write_all(g_error_fd, &prepared, sizeof prepared);

    int nfds = 0, truncated = 0, ctruncated = 0;
    ssize_t n = envyro_recv_frame(go_fd, g_go_buf, sizeof g_go_buf - 1, c->stdio, 3, &nfds, &truncated, &ctruncated);
    if (n <= 0) fail(ENVYRO_STEP_GO, n < 0 ? errno : ECONNABORTED);   /* EOF: the helper discarded us */
    if (truncated || ctruncated) fail(ENVYRO_STEP_GO, EMSGSIZE);
    if (nfds != 3) fail(ENVYRO_STEP_GO, EBADMSG);
    close(go_fd);
    g_go_buf[n] = 0;
    if (n < 12) fail(ENVYRO_STEP_GO, EBADMSG);
    uint32_t flags, argc, envc;
    memcpy(&flags, g_go_buf, 4); memcpy(&argc, g_go_buf + 4, 4); memcpy(&envc, g_go_buf + 8, 4);
    if (argc == 0 || argc > 4096 || envc > 4096) fail(ENVYRO_STEP_GO, EBADMSG);
    size_t off = 12;
    const char *fields[3];
    for (int i = 0; i < 3 + (int)argc + (int)envc; i++) {
        if (off >= (size_t)n) fail(ENVYRO_STEP_GO, EBADMSG);
        const char *str = g_go_buf + off;
        size_t len = s_len(str);
        if (off + len >= (size_t)n) fail(ENVYRO_STEP_GO, EBADMSG);   /* no terminating NUL inside */
        if (i < 3) fields[i] = str;
        else if (i < 3 + (int)argc) g_go_argv[i - 3] = str;
        else g_go_envp[i - 3 - (int)argc] = str;
        off += len + 1;
    }
    g_go_argv[argc] = NULL;
    g_go_envp[envc] = NULL;
    c->hostname = fields[0][0] ? fields[0] : NULL;
    c->cwd = fields[1];
    c->search_path = fields[2];
    c->argv = g_go_argv;
    c->envp = g_go_envp;
    c->use_init = (flags & 1) ? 1 : 0;
}

int envyro_container_go(int go_fd, const void *packed, size_t length, const int stdio[3]) {
    if (length > ENVYRO_GO_MAX - 1) { errno = E2BIG; return -1; }
    return envyro_send_frame(go_fd, packed, length, stdio, 3) == (ssize_t)length ? 0 : -1;
}

static __attribute__((noreturn)) void child_main(const struct envyro_container_config *cfg_in, int sync_fd, int go_fd) {
    char root[PATH_BUF], path[PATH_BUF];
    struct envyro_container_config local = *cfg_in;
    struct envyro_container_config *cfg = &local;

    /* OCI bundle mode has its own order (runc's); prewarm and use_init don't apply to it. */
    if (cfg_in->oci) oci_child_main(cfg_in, sync_fd);

    /* Die with the helper: it is single-threaded, so the "parent thread" is the process. */
    CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));

    pid_t helper = getppid();
    ready_for_id_maps(sync_fd, (cfg->clone_flags & CLONE_NEWUSER) != 0);
    /* A session of its own: no controlling terminal, so the workload can't push input into
     * the caller's terminal with TIOCSTI (CVE-2017-5226 class; the seccomp profiles refuse
     * TIOCSTI and TIOCLINUX too). */
    CHECK(ENVYRO_STEP_SESSION, setsid());

    if (cfg->clone_flags & CLONE_NEWUSER) {
        CHECK(ENVYRO_STEP_SETID, setresgid(0, 0, 0));
        CHECK(ENVYRO_STEP_SETID, setresuid(0, 0, 0));
        /* With a multi-range map uid 0 here is another kernel uid, and changing the kernel
         * uid clears the parent-death signal: set it again, and die now if the helper went in
         * between. */
        CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
        if (getppid() != helper) fail(ENVYRO_STEP_PDEATHSIG, ESRCH);
    }
    join_cgroup_and_name(cfg);
    /* The network namespace was left out of the clone (see envyro_container_clone): creating
     * one is the slowest namespace to make, and here it costs the helper nothing. Made now, it
     * belongs to the same user namespace, and its kernel memory is charged to our cgroup. */
    if (cfg->clone_flags & CLONE_NEWNET) CHECK(ENVYRO_STEP_UNSHARE, unshare(CLONE_NEWNET));

    /* Nothing we mount may propagate back to the host. */
    CHECK(ENVYRO_STEP_MOUNT_PRIVATE, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));

    /* The root, then everything in it by fd (see bind_rootfs): a user's rootfs bound onto
     * itself, or the default one, a tmpfs of our own over kBase with the host's directories
     * bound read-only. */
    int rootfd;
    if (cfg->rootfs) {
        rootfd = bind_rootfs(cfg->rootfs);
    } else {
        memcpy(root, kBase, sizeof kBase);
        CHECK(ENVYRO_STEP_ROOT_TMPFS, mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m"));
        if (cfg->host_binds)
            for (int i = 0; cfg->host_binds[i]; i++) bind_host(root, cfg->host_binds[i]);
        rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(ENVYRO_STEP_ROOT_TMPFS, rootfd);
        if (mkdirat(rootfd, "tmp", 01777) < 0 && errno != EEXIST) fail(ENVYRO_STEP_TMP, errno);
    }

    /* A private, writable /tmp (on a user rootfs only where the directory exists; a symlink
     * there is left alone). */
    int tmpfd = open_in_root(rootfd, "/tmp", O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
    if (tmpfd >= 0) {
        fd_path(path, tmpfd);
        CHECK(ENVYRO_STEP_TMP, mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
        close(tmpfd);
    }

    /* A fresh procfs for our pid namespace. */
    close(mount_in_root(rootfd, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, ENVYRO_STEP_PROC));

    populate_dev(rootfd);

    if (cfg->masked_paths)
        for (int i = 0; cfg->masked_paths[i]; i++) mask_in_root(rootfd, cfg->masked_paths[i]);
    if (cfg->readonly_paths)
        for (int i = 0; cfg->readonly_paths[i]; i++) readonly_in_root(rootfd, cfg->readonly_paths[i]);

    /* Everything is in place: freeze the root. */
    if (!cfg->rootfs) root_readonly(rootfd, MS_NOSUID | MS_NODEV);
    else if (cfg->rootfs_readonly) root_readonly(rootfd, 0);

    if (cfg->loopback_up && (cfg->clone_flags & CLONE_NEWNET)) loopback_up();

    pivot_into(rootfd);

    /* A prewarmed child is complete up to here: namespaces, id maps, cgroup, hostname, root.
     * It also gives up its privileges now, so the run pays only for receiving its details,
     * the working directory, the filter and exec. The filter waits until after the working
     * directory: that is resolved with openat2 (RESOLVE_IN_ROOT), which a strict profile
     * kills (with the filter installed first, every prewarmed run under `strict` died of
     * SIGSYS: the load test found it). */
    if (cfg->prewarm) {
        if (cfg->no_new_privs) CHECK(ENVYRO_STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        drop_capabilities(cfg);
        receive_go(cfg, go_fd);
    }
    envyro__enter_cwd(cfg->cwd);

    /* stdio: the caller's own fds, passed by SCM_RIGHTS; every other fd is closed at exec. The
     * helper ignores job-control signals, and ignored dispositions survive execve: reset them. */
    envyro__stdio_and_signals(cfg->stdio);

    if (!cfg->prewarm) {
        if (cfg->no_new_privs) CHECK(ENVYRO_STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        drop_capabilities(cfg);
    }

    if (cfg->use_init) run_init(cfg, (char *const *)cfg->argv, (char *const *)cfg->envp, cfg->search_path);
    install_filters(cfg);
    fail(ENVYRO_STEP_EXEC, exec_search(cfg->argv[0], (char *const *)cfg->argv, (char *const *)cfg->envp, cfg->search_path));
}

/* Right after clone: every fd but the ones this child was given is closed (see
 * envyro__close_fds_except). */
static void keep_only_child_fds(const struct envyro_container_config *cfg, int sync_fd, int err_fd, int go_fd) {
    int keep[64];
    int n = 0;
    keep[n++] = sync_fd; keep[n++] = err_fd; keep[n++] = go_fd;
    for (int i = 0; i < 3; i++) keep[n++] = cfg->stdio[i];
    for (int i = 0; i < cfg->cgroup_procs_count && n < 64; i++) keep[n++] = cfg->cgroup_procs[i];
    if (cfg->oci) {
        for (int i = 0; i < cfg->oci->join_count && n < 64; i++) keep[n++] = cfg->oci->join_fds[i];
        if (n < 64) keep[n++] = cfg->oci->start_fd;
        if (n < 64) keep[n++] = cfg->oci->console_fd;
    }
    if (cfg->cgroup_procs_count + (cfg->oci ? cfg->oci->join_count + 2 : 0) + 6 > 64) fail(ENVYRO_STEP_STDIO, EMFILE);
    envyro__close_fds_except(keep, n);
}

int envyro_container_clone(const struct envyro_container_config *cfg, struct envyro_container_handles *out) {
    int sync[2], err[2];
    if (pipe2(sync, O_CLOEXEC) < 0) return -1;
    if (pipe2(err, O_CLOEXEC) < 0) { int e = errno; close(sync[0]); close(sync[1]); errno = e; return -1; }

    int go[2] = { -1, -1 };
    if (cfg->prewarm && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, go) < 0) {
        int e = errno; close(sync[0]); close(sync[1]); close(err[0]); close(err[1]); errno = e; return -1;
    }

    /* A pid namespace to join (linux.namespaces[].path) must be the parent's
     * pid_ns_for_children at clone time: setns(CLONE_NEWPID) never moves the caller itself.
     * It is per thread, so only this thread is switched, and switched back right after. */
    int saved_pidns = -1;
    if (cfg->oci)
        for (int i = 0; i < cfg->oci->join_count; i++) {
            if (cfg->oci->join_types[i] != CLONE_NEWPID) continue;
            if (saved_pidns < 0) saved_pidns = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
            if (saved_pidns < 0 || setns(cfg->oci->join_fds[i], CLONE_NEWPID) < 0) {
                int e = errno;
                if (saved_pidns >= 0) close(saved_pidns);
                close(sync[0]); close(sync[1]); close(err[0]); close(err[1]);
                if (go[0] >= 0) { close(go[0]); close(go[1]); }
                errno = e;
                return -1;
            }
        }

    /* Namespaces the child makes itself, with unshare(2), once it runs: the cgroup namespace
     * (after it joined its cgroup) and, outside OCI bundle mode, the network namespace (the
     * most expensive to create: the helper's event loop would wait for it at every clone). */
    uint64_t deferred = CLONE_NEWCGROUP | (cfg->oci ? 0 : (uint64_t)CLONE_NEWNET);
    /* A pooled network namespace (netns_pool.c) is inherited: this thread enters it for the
     * clone and leaves it right after. */
    if (!cfg->oci && cfg->netns_fd > 0 && setns(cfg->netns_fd, CLONE_NEWNET) < 0) {
        int e = errno;
        close(sync[0]); close(sync[1]); close(err[0]); close(err[1]);
        if (go[0] >= 0) { close(go[0]); close(go[1]); }
        errno = e;
        return -1;
    }
    int pidfd = -1;
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = (cfg->clone_flags & ~deferred) | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0 && errno == ENOSYS) {
        /* x86_64 clone(flags, stack, parent_tid, child_tid, tls): CLONE_PIDFD stores the pidfd
         * through parent_tid. */
        pid = syscall(SYS_clone, (unsigned long)((cfg->clone_flags & ~deferred) | CLONE_PIDFD | SIGCHLD), 0, &pidfd, 0, 0);
    }
    if (pid == 0) {
        /* Child: only async-signal-safe C from here on. */
        close(sync[1]);
        close(err[0]);
        if (saved_pidns >= 0) close(saved_pidns);
        g_error_fd = err[1];
        if (go[0] >= 0) close(go[0]);
        keep_only_child_fds(cfg, sync[0], err[1], go[1]);
        child_main(cfg, sync[0], go[1]);
    }
    int saved = errno;
    /* Leaving the pooled namespace can't fail for a helper allowed to enter it; if it did,
     * the helper would go on in the wrong namespace: it must not. */
    if (!cfg->oci && cfg->netns_fd > 0 && setns(cfg->netns_home_fd, CLONE_NEWNET) < 0) _exit(125);
    if (saved_pidns >= 0) {
        /* Back to our own: joining the active pid namespace is always allowed. */
        (void)setns(saved_pidns, CLONE_NEWPID);
        close(saved_pidns);
    }
    close(sync[0]);
    close(err[1]);
    if (go[1] >= 0) close(go[1]);
    if (pid < 0) {
        close(sync[1]); close(err[0]);
        if (go[0] >= 0) close(go[0]);
        errno = saved;
        return -1;
    }
    out->go_fd = go[0];
    out->pid = (pid_t)pid;
    out->pidfd = pidfd;
    out->sync_fd = sync[1];
    out->error_fd = err[0];
    return 0;
}
