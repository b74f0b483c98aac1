/*
 * Steps every trampoline process takes, whichever way it came in (`envyro run`'s child, an OCI
 * bundle's child, a process exec'd into a running container): the id-map handshake, joining
 * the cgroup, the UTS names, lo, then rlimits, user, capabilities, seccomp, the console, stdio
 * and signals.
 *
 * Why C: this runs in the child between clone and execve, where Swift must never run; only
 * raw, async-signal-safe syscalls (no malloc, no stdio, no locks). See trampoline.h.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

/* ---- the first steps of a container's first process ------------------------------------ */

/* A helper with file capabilities is non-dumpable, and so is this copy of it: the /proc files
 * of a new user namespace's first process (uid_map, gid_map, setgroups) would then belong to
 * root and the helper could not write them. So only with a new user namespace, and only while
 * the maps are written, the child is dumpable: it tells the parent it is ready, waits until the
 * maps are written (EOF: the parent gave up), and is non-dumpable again before anything of the
 * container exists. Dumpable any longer, a process of the container (or of another one joining
 * its pid namespace) could open this copy of the helper's /proc/PID/fd, /proc/PID/exe and
 * /proc/PID/mem, which lead to the host. */
void envyro__ready_for_id_maps(int sync_fd, int new_userns) {
    if (new_userns) CHECK(ENVYRO_STEP_SYNC, prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    envyro__report(ENVYRO_STEP_READY);
    char byte;
    ssize_t r;
    do { r = read(sync_fd, &byte, 1); } while (r < 0 && errno == EINTR);
    if (r != 1) envyro__fail(ENVYRO_STEP_SYNC, r < 0 ? errno : ECONNABORTED);
    close(sync_fd);
    CHECK(ENVYRO_STEP_SYNC, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
}

/* Join the container's cgroup ourselves ("0" is the writer), through v1's `tasks` (this child has
 * one thread): no wait for an RCU grace period, which a cgroup.procs write takes (see
 * CgroupDirectory.joinFile). Same credentials as the target, so cgroup v1's permission check
 * passes for the caller's own delegated subtree. cgroup2 has no such file: there the clone
 * placed the child already (CLONE_INTO_CGROUP, envyro_container_clone), and its cgroup.procs
 * is written only when clone3 was unavailable. The cgroup namespace is created after that, so
 * its root is the container's cgroup. Then the hostname. */
/* Set in the child right after clone (a copy of the parent's memory, one thread). */
static int g_joined_at_clone = -1;
void envyro__set_joined_at_clone(int procs_fd) { g_joined_at_clone = procs_fd; }

void envyro__join_cgroup_and_name(const struct envyro_container_config *cfg) {
    for (int i = 0; i < cfg->cgroup_procs_count; i++) {
        if (cfg->cgroup_procs[i] == g_joined_at_clone) { close(cfg->cgroup_procs[i]); continue; }
        ssize_t w;
        do { w = write(cfg->cgroup_procs[i], "0", 1); } while (w < 0 && errno == EINTR);
        if (w != 1) envyro__fail(ENVYRO_STEP_CGROUP, w < 0 ? errno : EIO);
        close(cfg->cgroup_procs[i]);
    }
    if (cfg->clone_flags & CLONE_NEWCGROUP)
        CHECK(ENVYRO_STEP_SETID, unshare(CLONE_NEWCGROUP));
    if (cfg->hostname && (cfg->clone_flags & CLONE_NEWUTS))
        CHECK(ENVYRO_STEP_HOSTNAME, sethostname(cfg->hostname, s_len(cfg->hostname)));
}

/* Brings up lo in the new network namespace: root of the owning user namespace has
 * CAP_NET_ADMIN over it. */
void envyro__loopback_up(void) {
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

/* ---- the process: rlimits, user, capabilities, seccomp ---------------------------------- */

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
void envyro__apply_user(uint32_t uid, uint32_t gid, const uint32_t *gids, int count, int keep_groups) {
    /* A user namespace whose setgroups is "deny" refuses even an empty list: skip that case
     * only (the process then keeps the groups it had, none in such a namespace). With
     * keep_groups (crun's run.oci.keep_original_groups) there is no setgroups at all: the
     * caller's groups stay, as with crun. */
    if (!keep_groups && syscall(SYS_setgroups, (size_t)count, count > 0 ? gids : NULL) < 0 && !(errno == EPERM && count == 0))
        envyro__fail(ENVYRO_STEP_USER, errno);
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
            envyro__fail(ENVYRO_STEP_CAPS, errno);
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

/* Keeps only cfg->cap_keep: drops the rest from the bounding set (so an execve as root of the
 * user namespace can't regain them), sets permitted/effective (and inheritable when ambient),
 * and clears or raises the ambient set. Runs as root of the user namespace, after pivot_root. */
void envyro__keep_only_caps(const struct envyro_container_config *cfg) {
    uint64_t inh = cfg->cap_ambient ? cfg->cap_keep : 0;
    envyro__drop_bounding(cfg->cap_keep);
    envyro__set_caps(cfg->cap_keep, cfg->cap_keep, inh, inh);
}

/* Installs seccomp programs. Several programs stack: the kernel applies the most restrictive
 * verdict. Callers run it as late as they can (a filter may forbid what setup needs). */
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

/* ---- an OCI process: the steps its bundle or exec request names ------------------------ */

/* In runc's order: console (or a session of its own), rlimits (hard limits need
 * CAP_SYS_RESOURCE), bounding set (needs CAP_SETPCAP), user (keeping the permitted set), the
 * capability sets, no_new_privs, cwd (as the user: a directory only root could enter fails
 * here, as with runc), stdio, signals. Without no_new_privs, installing a filter needs
 * CAP_SYS_ADMIN, which is about to go: as runc does, it is installed before the bounding set
 * drops (the user, capability and start steps then run under it; every published profile
 * allows them). With no_new_privs it goes last, just before exec: then this returns 1 and the
 * caller installs it. */
int envyro__become_process(const struct envyro__process *p, int stdio[3]) {
    /* The pty is made in the container's devpts (/dev/ptmx of the root we are in). */
    if (p->console_fd >= 0) envyro__setup_console(p->console_fd, p->console_rows, p->console_cols, stdio);
    /* Without one, a session of its own all the same: the caller's terminal (conmon's or a
     * shell's) is not its controlling terminal, so TIOCSTI (CVE-2017-5226 class) can't type
     * into it. */
    else CHECK(ENVYRO_STEP_SESSION, setsid());
    envyro__apply_rlimits(p->rlimits, p->rlimit_count);
    /* linux.personality and process.ioPriority: before any filter (a profile may not list
     * personality or ioprio_set) and while the capabilities are there (the realtime I/O class
     * needs CAP_SYS_ADMIN or CAP_SYS_NICE). */
    if (p->has_personality) CHECK(ENVYRO_STEP_PERSONALITY, (int)syscall(SYS_personality, (unsigned long)p->personality));
    if (p->ioprio) CHECK(ENVYRO_STEP_IOPRIO, (int)syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (int)p->ioprio));
    int filters_early = !p->no_new_privs && p->filter_count > 0;
    if (filters_early) envyro__install_bpf(p->filters, p->filter_count);
    envyro__drop_bounding(p->cap_bounding);
    envyro__apply_user(p->uid, p->gid, p->additional_gids, p->additional_gid_count, p->keep_groups);
    if (p->umask >= 0) umask((mode_t)p->umask);
    envyro__set_caps(p->cap_effective, p->cap_permitted, p->cap_inheritable, p->cap_ambient);
    /* A change of euid/egid or a gain of capabilities clears the parent-death signal
     * (commit_creds): set it again, as runc does after setting up the user. */
    if (!p->detached) CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
    if (p->no_new_privs) CHECK(ENVYRO_STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    envyro__enter_cwd(p->cwd);
    envyro__stdio_preserving(stdio, p->preserved_fds, p->preserved_fd_count);
    return !filters_early;
}

/* ---- console, stdio and signals --------------------------------------------------------- */

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
        envyro__fail(ENVYRO_STEP_CONSOLE, errno ? errno : EIO);
    close(master);
    close(console_fd);
    CHECK(ENVYRO_STEP_CONSOLE, setsid());
    CHECK(ENVYRO_STEP_CONSOLE, ioctl(slave, TIOCSCTTY, 0));
    stdio[0] = stdio[1] = stdio[2] = slave;
}

void envyro__stdio_and_signals(const int stdio[3]) { envyro__stdio_preserving(stdio, NULL, 0); }

void envyro__stdio_preserving(const int stdio[3], const int *preserved, int n) {
    for (int i = 0; i < 3; i++) {
        if (stdio[i] == i) { CHECK(ENVYRO_STEP_STDIO, fcntl(i, F_SETFD, 0)); continue; }
        CHECK(ENVYRO_STEP_STDIO, dup2(stdio[i], i));
    }
    /* --preserve-fds: each moves above 3+n first (a source may sit where another one goes),
     * then down to 3+i; dup2 leaves the copy without CLOEXEC. */
    int high[ENVYRO_KEEP_MAX];
    if (n > ENVYRO_KEEP_MAX) envyro__fail(ENVYRO_STEP_STDIO, EMFILE);
    for (int i = 0; i < n; i++) {
        high[i] = fcntl(preserved[i], F_DUPFD_CLOEXEC, 3 + n);
        CHECK(ENVYRO_STEP_STDIO, high[i]);
    }
    for (int i = 0; i < n; i++) {
        CHECK(ENVYRO_STEP_STDIO, dup2(high[i], 3 + i));
        close(high[i]);
    }
    /* Not close_range alone: a bundle's filter may already be in place (envyro__cloexec_from). */
    CHECK(ENVYRO_STEP_STDIO, envyro__cloexec_from(3U + (unsigned int)n));
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    CHECK(ENVYRO_STEP_SIGNALS, sigprocmask(SIG_SETMASK, &none, NULL));
}
