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

/* Creates `path` as an empty regular file if it does not exist. */
static int touch(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return errno == EEXIST ? 0 : -1;
    close(fd);
    return 0;
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

/* A minimal /dev: a tmpfs with the host's harmless character devices bound onto empty files
 * (an unprivileged user namespace can't mknod), the fd links, and then read-only. */
static void populate_dev(const char *root) {
    static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };
    char dev[PATH_BUF], dst[PATH_BUF], src[64];
    if (s_join(dev, root, "/dev") < 0) fail(ENVYRO_STEP_DEV, ENAMETOOLONG);
    CHECK(ENVYRO_STEP_DEV, mkdir_p1(dev, 0755));
    CHECK(ENVYRO_STEP_DEV, mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k"));
    for (int i = 0; nodes[i]; i++) {
        if (s_join(dst, dev, "/") < 0 || s_join(dst, dst, nodes[i]) < 0) fail(ENVYRO_STEP_DEV, ENAMETOOLONG);
        if (s_join(src, "/dev/", nodes[i]) < 0) fail(ENVYRO_STEP_DEV, ENAMETOOLONG);
        CHECK(ENVYRO_STEP_DEV, touch(dst));
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
            /* /dev/tty exists only with a controlling terminal on some hosts: skip it. */
            if (i == 5) { unlink(dst); continue; }
            fail(ENVYRO_STEP_DEV, errno);
        }
    }
    static const char *const links[][2] = {
        { "/proc/self/fd", "/fd" }, { "/proc/self/fd/0", "/stdin" },
        { "/proc/self/fd/1", "/stdout" }, { "/proc/self/fd/2", "/stderr" },
        { NULL, NULL },
    };
    for (int i = 0; links[i][0]; i++) {
        if (s_join(dst, dev, links[i][1]) < 0) fail(ENVYRO_STEP_DEV, ENAMETOOLONG);
        CHECK(ENVYRO_STEP_DEV, symlink(links[i][0], dst));
    }
    CHECK(ENVYRO_STEP_DEV, mount(NULL, dev, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL));
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

/* ---- masked and read-only paths ------------------------------------------------------ */

/* Hides `path` (inside the new root): a directory gets an empty read-only tmpfs, anything else
 * the host's /dev/null. A missing path is skipped; a symlink is never followed. */
static void mask_path(const char *root, const char *path) {
    char dst[PATH_BUF];
    struct stat st;
    if (s_join(dst, root, path) < 0) fail(ENVYRO_STEP_MASK, ENAMETOOLONG);
    if (lstat(dst, &st) < 0 || S_ISLNK(st.st_mode)) return;
    if (S_ISDIR(st.st_mode))
        CHECK(ENVYRO_STEP_MASK, mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0,mode=0555"));
    else
        CHECK(ENVYRO_STEP_MASK, mount("/dev/null", dst, NULL, MS_BIND, NULL));
}

/* Makes `path` (inside the new root) read-only: bind it onto itself, then remount. */
static void readonly_path(const char *root, const char *path) {
    char dst[PATH_BUF];
    struct stat st;
    if (s_join(dst, root, path) < 0) fail(ENVYRO_STEP_MASK, ENAMETOOLONG);
    if (lstat(dst, &st) < 0 || S_ISLNK(st.st_mode)) return;
    CHECK(ENVYRO_STEP_MASK, mount(dst, dst, NULL, MS_BIND | MS_REC, NULL));
    CHECK(ENVYRO_STEP_MASK, remount_readonly(dst));
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

    struct iovec iov = { .iov_base = g_go_buf, .iov_len = sizeof g_go_buf - 1 };
    union { char buf[CMSG_SPACE(sizeof(int) * 3)]; struct cmsghdr align; } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n;
    do { n = recvmsg(go_fd, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n <= 0) fail(ENVYRO_STEP_GO, n < 0 ? errno : ECONNABORTED);   /* EOF: the helper discarded us */
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) fail(ENVYRO_STEP_GO, EMSGSIZE);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int) * 3)) fail(ENVYRO_STEP_GO, EBADMSG);
    memcpy(c->stdio, CMSG_DATA(cm), sizeof(int) * 3);
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

    /* Die with the helper: it is single-threaded, so the "parent thread" is the process. */
    CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));

    /* A helper with file capabilities is non-dumpable, and so is this copy of it: its /proc
     * files (uid_map, gid_map, setgroups) would belong to root and the helper could not write
     * them. Become dumpable (nothing here is secret), then tell the parent we are ready. */
    CHECK(ENVYRO_STEP_SYNC, prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    {
        struct envyro_child_error ready = { .step = ENVYRO_STEP_READY, .err = 0 };
        write_all(g_error_fd, &ready, sizeof ready);
    }

    /* Wait until the parent has written our id maps; EOF means it gave up. */
    char byte;
    ssize_t r;
    do { r = read(sync_fd, &byte, 1); } while (r < 0 && errno == EINTR);
    if (r != 1) fail(ENVYRO_STEP_SYNC, r < 0 ? errno : ECONNABORTED);
    close(sync_fd);

    if (cfg->clone_flags & CLONE_NEWUSER) {
        CHECK(ENVYRO_STEP_SETID, setresgid(0, 0, 0));
        CHECK(ENVYRO_STEP_SETID, setresuid(0, 0, 0));
    }
    /* Join the container's cgroup ourselves ("0" is the writer): the migration can wait for an
     * RCU grace period, and it is better spent here than in the helper's event loop. Same
     * credentials as the target, so cgroup v1's permission check passes for the caller's own
     * delegated subtree. */
    for (int i = 0; i < cfg->cgroup_procs_count; i++) {
        ssize_t w;
        do { w = write(cfg->cgroup_procs[i], "0", 1); } while (w < 0 && errno == EINTR);
        if (w != 1) fail(ENVYRO_STEP_CGROUP, w < 0 ? errno : EIO);
        close(cfg->cgroup_procs[i]);
    }
    /* The cgroup namespace is created now, after we joined our cgroup, so its
     * root is the container's cgroup (clone3's CLONE_INTO_CGROUP would do this on v2 only). */
    if (cfg->clone_flags & CLONE_NEWCGROUP)
        CHECK(ENVYRO_STEP_SETID, unshare(CLONE_NEWCGROUP));
    if (cfg->hostname && (cfg->clone_flags & CLONE_NEWUTS))
        CHECK(ENVYRO_STEP_HOSTNAME, sethostname(cfg->hostname, s_len(cfg->hostname)));

    /* Nothing we mount may propagate back to the host. */
    CHECK(ENVYRO_STEP_MOUNT_PRIVATE, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));

    if (cfg->rootfs) {
        if (s_len(cfg->rootfs) >= PATH_BUF) fail(ENVYRO_STEP_ROOTFS_BIND, ENAMETOOLONG);
        memcpy(root, cfg->rootfs, s_len(cfg->rootfs) + 1);
        /* pivot_root needs the new root to be a mount point. */
        CHECK(ENVYRO_STEP_ROOTFS_BIND, mount(root, root, NULL, MS_BIND | MS_REC, NULL));
        s_join(path, root, "/proc"); CHECK(ENVYRO_STEP_PROC, mkdir_p1(path, 0555));
        s_join(path, root, "/dev"); CHECK(ENVYRO_STEP_DEV, mkdir_p1(path, 0755));
    } else {
        memcpy(root, kBase, sizeof kBase);
        CHECK(ENVYRO_STEP_ROOT_TMPFS, mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m"));
        if (cfg->host_binds)
            for (int i = 0; cfg->host_binds[i]; i++) bind_host(root, cfg->host_binds[i]);
        s_join(path, root, "/proc"); CHECK(ENVYRO_STEP_PROC, mkdir_p1(path, 0555));
        s_join(path, root, "/tmp"); CHECK(ENVYRO_STEP_TMP, mkdir_p1(path, 01777));
    }

    /* A private, writable /tmp (on a user rootfs only where the directory exists). */
    s_join(path, root, "/tmp");
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
        CHECK(ENVYRO_STEP_TMP, mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));

    /* A fresh procfs for our pid namespace. */
    s_join(path, root, "/proc");
    CHECK(ENVYRO_STEP_PROC, mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));

    populate_dev(root);

    if (cfg->masked_paths)
        for (int i = 0; cfg->masked_paths[i]; i++) mask_path(root, cfg->masked_paths[i]);
    if (cfg->readonly_paths)
        for (int i = 0; cfg->readonly_paths[i]; i++) readonly_path(root, cfg->readonly_paths[i]);

    /* Everything is in place: freeze the root. */
    if (!cfg->rootfs)
        CHECK(ENVYRO_STEP_READONLY, mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL));
    else if (cfg->rootfs_readonly)
        CHECK(ENVYRO_STEP_READONLY, remount_readonly(root));

    if (cfg->loopback_up && (cfg->clone_flags & CLONE_NEWNET)) loopback_up();

    /* pivot_root(".", ".") stacks the old root under the new one; detach it. */
    CHECK(ENVYRO_STEP_PIVOT, chdir(root));
    CHECK(ENVYRO_STEP_PIVOT, (int)syscall(SYS_pivot_root, ".", "."));
    CHECK(ENVYRO_STEP_PIVOT, umount2(".", MNT_DETACH));
    CHECK(ENVYRO_STEP_PIVOT, chdir("/"));

    /* A prewarmed child is complete up to here: namespaces, id maps, cgroup, hostname, root.
     * It also gives up its privileges and installs its seccomp filter now, so the run pays only
     * for receiving its details (recvmsg, allowed by the filters) and exec. */
    if (cfg->prewarm) {
        if (cfg->no_new_privs) CHECK(ENVYRO_STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        drop_capabilities(cfg);
        if (!cfg->use_init) install_filters(cfg);
        receive_go(cfg, go_fd);
    }
    CHECK(ENVYRO_STEP_CWD, chdir(cfg->cwd));

    /* stdio: the caller's own fds, passed by SCM_RIGHTS. Every other fd is closed at exec. */
    for (int i = 0; i < 3; i++) {
        if (cfg->stdio[i] == i) { CHECK(ENVYRO_STEP_STDIO, fcntl(i, F_SETFD, 0)); continue; }
        CHECK(ENVYRO_STEP_STDIO, dup2(cfg->stdio[i], i));
    }
    CHECK(ENVYRO_STEP_STDIO, (int)syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC));

    /* The helper ignores job-control signals; ignored dispositions survive execve. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    CHECK(ENVYRO_STEP_SIGNALS, sigprocmask(SIG_SETMASK, &none, NULL));

    if (!cfg->prewarm) {
        if (cfg->no_new_privs) CHECK(ENVYRO_STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        drop_capabilities(cfg);
    }

    if (cfg->use_init) run_init(cfg, (char *const *)cfg->argv, (char *const *)cfg->envp, cfg->search_path);
    if (!cfg->prewarm) install_filters(cfg);
    fail(ENVYRO_STEP_EXEC, exec_search(cfg->argv[0], (char *const *)cfg->argv, (char *const *)cfg->envp, cfg->search_path));
}

int envyro_container_clone(const struct envyro_container_config *cfg, struct envyro_container_handles *out) {
    int sync[2], err[2];
    if (pipe2(sync, O_CLOEXEC) < 0) return -1;
    if (pipe2(err, O_CLOEXEC) < 0) { int e = errno; close(sync[0]); close(sync[1]); errno = e; return -1; }

    int go[2] = { -1, -1 };
    if (cfg->prewarm && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, go) < 0) {
        int e = errno; close(sync[0]); close(sync[1]); close(err[0]); close(err[1]); errno = e; return -1;
    }

    int pidfd = -1;
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = (cfg->clone_flags & ~(uint64_t)CLONE_NEWCGROUP) | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0 && errno == ENOSYS) {
        /* x86_64 clone(flags, stack, parent_tid, child_tid, tls): CLONE_PIDFD stores the pidfd
         * through parent_tid. */
        pid = syscall(SYS_clone, (unsigned long)((cfg->clone_flags & ~(uint64_t)CLONE_NEWCGROUP) | CLONE_PIDFD | SIGCHLD), 0, &pidfd, 0, 0);
    }
    if (pid == 0) {
        /* Child: only async-signal-safe C from here on. */
        close(sync[1]);
        close(err[0]);
        g_error_fd = err[1];
        if (go[0] >= 0) close(go[0]);
        child_main(cfg, sync[0], go[1]);
    }
    int saved = errno;
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
