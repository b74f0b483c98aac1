/*
 * `envyro run`'s child, and the clone that makes it. envyro_container_clone (in the helper)
 * clones the child into its new namespaces; the child waits for its id maps, joins its cgroup,
 * makes its network namespace, builds its root (the user's rootfs bound by fd, or the default:
 * a tmpfs with the host's directories bound read-only), /tmp, /proc, /dev, masks, pivot_root,
 * drops capabilities, installs seccomp and execs (through the tiny init when asked). A
 * prewarmed child stops before its run's details and waits for them (envyro_container_go).
 * An OCI bundle's child goes its own way (oci_child.c).
 *
 * Ordering, and why:
 *   1. parent: clone3(CLONE_NEW* | CLONE_PIDFD). The child blocks on the sync pipe.
 *   2. parent (Swift): writes setgroups/gid_map/uid_map, then one byte on the sync pipe.
 *   3. child: PDEATHSIG, become uid/gid 0 of the new user namespace, hostname, make / private,
 *      build the new root (default: tmpfs + read-only host binds; or the user's rootfs),
 *      /tmp, /proc, /dev, loopback up, pivot_root, chdir, stdio, signals, no_new_privs, exec.
 *
 * Why C: the child runs between clone and execve, where Swift must never run; only raw,
 * async-signal-safe syscalls (no malloc, no stdio, no locks). See trampoline.h.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/sched.h>

/* The default rootfs is built on a tmpfs mounted over this directory inside the child's private
 * mount namespace (as bubblewrap does); the host's own /tmp is never touched. */
static const char kBase[] = "/tmp";

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
 * root+src, the mounts beneath it included; a symlink (merged /usr: /bin -> usr/bin) is
 * recreated as a symlink. A source missing on the host is skipped. */
static void bind_host(const char *root, const char *src) {
    char dst[PATH_BUF], link[PATH_BUF];
    struct stat st;
    if (lstat(src, &st) < 0) { if (errno == ENOENT) return; envyro__fail(ENVYRO_STEP_HOST_BIND, errno); }
    if (s_join(dst, root, src) < 0) envyro__fail(ENVYRO_STEP_HOST_BIND, ENAMETOOLONG);
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlink(src, link, sizeof link - 1);
        CHECK(ENVYRO_STEP_HOST_BIND, n);
        link[n] = 0;
        if (symlink(link, dst) < 0 && errno != EEXIST) envyro__fail(ENVYRO_STEP_HOST_BIND, errno);
        return;
    }
    if (!S_ISDIR(st.st_mode)) return;
    CHECK(ENVYRO_STEP_HOST_BIND, mkdir_p1(dst, 0755));
    CHECK(ENVYRO_STEP_HOST_BIND, mount(src, dst, NULL, MS_BIND | MS_REC, NULL));
    /* By path: dst is in our own tmpfs, made just now. */
    CHECK(ENVYRO_STEP_READONLY, envyro__readonly_tree(AT_FDCWD, dst));
}

/* ---- prewarmed children ---------------------------------------------------------------- */

/* A prewarmed child keeps its run's details here (it is a private copy of the helper's memory,
 * so static storage is its own; no malloc). */
static char g_go_buf[ENVYRO_GO_MAX];
static const char *g_go_argv[4097];
static const char *g_go_envp[4097];

/* Waits for the run: reads the packed details and the three stdio fds from `go_fd`, and points
 * `c` at them. Everything is bounds-checked; a short or malformed message fails the step. */
static void receive_go(struct envyro_container_config *c, int go_fd) {
    envyro__report(ENVYRO_STEP_PREPARED);

    int nfds = 0, truncated = 0, ctruncated = 0;
    ssize_t n = envyro_recv_frame(go_fd, g_go_buf, sizeof g_go_buf - 1, c->stdio, 3, &nfds, &truncated, &ctruncated);
    if (n <= 0) envyro__fail(ENVYRO_STEP_GO, n < 0 ? errno : ECONNABORTED);   /* EOF: the helper discarded us */
    if (truncated || ctruncated) envyro__fail(ENVYRO_STEP_GO, EMSGSIZE);
    if (nfds != 3) envyro__fail(ENVYRO_STEP_GO, EBADMSG);
    close(go_fd);
    g_go_buf[n] = 0;
    if (n < 12) envyro__fail(ENVYRO_STEP_GO, EBADMSG);
    uint32_t flags, argc, envc;
    memcpy(&flags, g_go_buf, 4); memcpy(&argc, g_go_buf + 4, 4); memcpy(&envc, g_go_buf + 8, 4);
    if (argc == 0 || argc > 4096 || envc > 4096) envyro__fail(ENVYRO_STEP_GO, EBADMSG);
    size_t off = 12;
    const char *fields[3];
    for (int i = 0; i < 3 + (int)argc + (int)envc; i++) {
        if (off >= (size_t)n) envyro__fail(ENVYRO_STEP_GO, EBADMSG);
        const char *str = g_go_buf + off;
        size_t len = s_len(str);
        if (off + len >= (size_t)n) envyro__fail(ENVYRO_STEP_GO, EBADMSG);   /* no terminating NUL inside */
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

/* ---- the child ------------------------------------------------------------------------- */

static __attribute__((noreturn)) void child_main(const struct envyro_container_config *cfg_in, int sync_fd, int go_fd) {
    char root[PATH_BUF], path[PATH_BUF];
    struct envyro_container_config local = *cfg_in;
    struct envyro_container_config *cfg = &local;

    /* OCI bundle mode has its own order (runc's); prewarm and use_init don't apply to it. */
    if (cfg_in->oci) envyro__oci_child_main(cfg_in, sync_fd);

    /* Die with the helper: it is single-threaded, so the "parent thread" is the process. */
    CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));

    pid_t helper = getppid();
    envyro__ready_for_id_maps(sync_fd, (cfg->clone_flags & CLONE_NEWUSER) != 0);
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
        if (getppid() != helper) envyro__fail(ENVYRO_STEP_PDEATHSIG, ESRCH);
    }
    envyro__join_cgroup_and_name(cfg);
    /* The network namespace was left out of the clone (see envyro_container_clone): creating
     * one is the slowest namespace to make, and here it costs the helper nothing. Made now, it
     * belongs to the same user namespace, and its kernel memory is charged to our cgroup. */
    if (cfg->clone_flags & CLONE_NEWNET) CHECK(ENVYRO_STEP_UNSHARE, unshare(CLONE_NEWNET));

    /* Nothing we mount may propagate back to the host. */
    CHECK(ENVYRO_STEP_MOUNT_PRIVATE, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));

    /* The root, then everything in it by fd (see envyro__bind_rootfs in rootfs.c): a user's
     * rootfs bound onto itself, or the default one, a tmpfs of our own over kBase with the
     * host's directories bound read-only. */
    int rootfd;
    if (cfg->rootfs) {
        rootfd = envyro__bind_rootfs(cfg->rootfs, cfg->rootfs_readonly);
    } else {
        memcpy(root, kBase, sizeof kBase);
        CHECK(ENVYRO_STEP_ROOT_TMPFS, mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m"));
        if (cfg->host_binds)
            for (int i = 0; cfg->host_binds[i]; i++) bind_host(root, cfg->host_binds[i]);
        rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        CHECK(ENVYRO_STEP_ROOT_TMPFS, rootfd);
        if (mkdirat(rootfd, "tmp", 01777) < 0 && errno != EEXIST) envyro__fail(ENVYRO_STEP_TMP, errno);
    }

    /* A private, writable /tmp (on a user rootfs only where the directory exists; a symlink
     * there is left alone). */
    int tmpfd = envyro__open_in_root(rootfd, "/tmp", O_PATH | O_DIRECTORY | O_NOFOLLOW, 0);
    if (tmpfd >= 0) {
        fd_path(path, tmpfd);
        CHECK(ENVYRO_STEP_TMP, mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
        close(tmpfd);
    }

    /* A fresh procfs for our pid namespace. */
    close(envyro__mount_in_root(rootfd, "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, ENVYRO_STEP_PROC));

    envyro__populate_dev(rootfd);

    envyro__mask_paths(rootfd, cfg);

    /* Everything is in place: freeze the root. */
    if (!cfg->rootfs) envyro__root_readonly(rootfd, MS_NOSUID | MS_NODEV);
    else if (cfg->rootfs_readonly) envyro__root_readonly(rootfd, 0);

    if (cfg->loopback_up && (cfg->clone_flags & CLONE_NEWNET)) envyro__loopback_up();

    envyro__pivot_into(rootfd, 0);

    /* Without a cgroup, what rlimits can carry of the limits: RLIMIT_NPROC counts this user
     * namespace's tasks of our uid, so it bounds the container's; RLIMIT_DATA bounds each
     * process's private memory (Create.swift says what is and isn't enforced). */
    envyro__apply_rlimits(cfg->rlimits, cfg->rlimit_count);

    /* A prewarmed child is complete up to here: namespaces, id maps, cgroup, hostname, root.
     * It also gives up its privileges and installs its seccomp filter now, so the run pays only
     * for receiving its details, the working directory and exec. The working directory is
     * resolved with openat2 under the filter: `strict` allows it, and a profile that refuses it
     * gets the chdir fallback of envyro__enter_cwd (when strict killed openat2, every
     * prewarmed strict run died of SIGSYS: the load test found it). */
    if (cfg->prewarm) {
        if (cfg->no_new_privs) CHECK(ENVYRO_STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        envyro__keep_only_caps(cfg);
        if (!cfg->use_init) envyro__install_bpf(cfg->filters, cfg->filter_count);
        receive_go(cfg, go_fd);
    }
    envyro__enter_cwd(cfg->cwd);

    /* stdio: the caller's own fds, passed by SCM_RIGHTS; every other fd is closed at exec. The
     * helper ignores job-control signals, and ignored dispositions survive execve: reset them. */
    envyro__stdio_and_signals(cfg->stdio);

    if (!cfg->prewarm) {
        if (cfg->no_new_privs) CHECK(ENVYRO_STEP_NNP, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        envyro__keep_only_caps(cfg);
    }

    if (cfg->use_init) envyro__run_init(cfg, (char *const *)cfg->argv, (char *const *)cfg->envp, cfg->search_path);
    if (!cfg->prewarm) envyro__install_bpf(cfg->filters, cfg->filter_count);
    envyro__fail(ENVYRO_STEP_EXEC, envyro__exec_search(cfg->argv[0], (char *const *)cfg->argv, (char *const *)cfg->envp, cfg->search_path));
}

/* Right after clone: every fd but the ones this child was given is closed (see
 * envyro__close_fds_except). */
static void keep_only_child_fds(const struct envyro_container_config *cfg, int sync_fd, int err_fd, int go_fd) {
    int keep[ENVYRO_KEEP_MAX];
    int n = 0;
    const struct envyro_oci_config *oci = cfg->oci;
    /* The helper's idmapped clones, one per idmapped mount. */
    int trees = 0;
    if (oci)
        for (int i = 0; i < oci->mount_count; i++)
            if (ENVYRO_MOUNT_HAS_TREE(&oci->mounts[i])) trees++;
    if (cfg->cgroup_procs_count + (oci ? oci->join_count + oci->preserved_fd_count + 3 + trees : 0) + 6 > ENVYRO_KEEP_MAX)
        envyro__fail(ENVYRO_STEP_STDIO, EMFILE);
    keep[n++] = sync_fd; keep[n++] = err_fd; keep[n++] = go_fd;
    for (int i = 0; i < 3; i++) keep[n++] = cfg->stdio[i];
    for (int i = 0; i < cfg->cgroup_procs_count; i++) keep[n++] = cfg->cgroup_procs[i];
    if (oci) {
        for (int i = 0; i < oci->join_count; i++) keep[n++] = oci->join_fds[i];
        keep[n++] = oci->start_fd;
        keep[n++] = oci->console_fd;
        keep[n++] = oci->time_ns_fd > 0 ? oci->time_ns_fd : -1;
        for (int i = 0; i < oci->preserved_fd_count; i++) keep[n++] = oci->preserved_fds[i];
        for (int i = 0; i < oci->mount_count; i++)
            if (ENVYRO_MOUNT_HAS_TREE(&oci->mounts[i])) keep[n++] = oci->mounts[i].tree_fd;
    }
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
    /* With CLONE_PARENT the child's exit signal is the caller's own and clone3 wants 0 here. */
    args.exit_signal = (cfg->clone_flags & CLONE_PARENT) ? 0 : SIGCHLD;
    int into_cgroup = cfg->cgroup2_fd > 0;
    if (into_cgroup) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cfg->cgroup2_fd;
    }
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0 && into_cgroup && errno != ENOSYS) {
        /* The kernel would not place it there (a cgroup2 without CLONE_INTO_CGROUP support, or a
         * placement it refuses): clone plainly and let the child write cgroup.procs, whose own
         * error then names the cgroup step. */
        into_cgroup = 0;
        args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
        args.cgroup = 0;
        pid = syscall(SYS_clone3, &args, sizeof args);
    }
    if (pid < 0 && errno == ENOSYS) {
        into_cgroup = 0;   /* the child joins through cgroup2_procs_fd instead */
        /* x86_64 clone(flags, stack, parent_tid, child_tid, tls): CLONE_PIDFD stores the pidfd
         * through parent_tid. */
        pid = syscall(SYS_clone, (unsigned long)((cfg->clone_flags & ~deferred) | CLONE_PIDFD | SIGCHLD), 0, &pidfd, 0, 0);
    }
    if (pid == 0) {
        /* Child: only async-signal-safe C from here on. */
        envyro__set_joined_at_clone(into_cgroup ? cfg->cgroup2_procs_fd : -1);
        close(sync[1]);
        close(err[0]);
        if (saved_pidns >= 0) close(saved_pidns);
        envyro__set_error_fd(err[1]);
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
