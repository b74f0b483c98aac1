/*
 * CEnvyro: the only C in Envyro. Two kinds of code live here, each because Swift can't do it:
 *
 *  1. One-line wrappers for calls Swift can't see or call: variadic functions (syscall, prctl),
 *     functions hidden behind _GNU_SOURCE (the Glibc module is built without it), function-like
 *     macros (CMSG_*), and unions (siginfo_t).
 *  2. The container trampoline: the code that runs between clone and execve, split by concern
 *     (the private trampoline.h maps its files). Swift must never run in a child of a
 *     multi-threaded process, so this path is flat C that only makes raw, async-signal-safe
 *     syscalls: no malloc, no stdio, no locks.
 *
 * No policy logic lives in C: Swift decides, C carries it out.
 */
#ifndef CENVYRO_H
#define CENVYRO_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

/* The nullability annotations are for Swift's importer (clang); gcc builds the static C front
 * (Makefile) from this header too. */
#ifdef __clang__
#pragma clang assume_nonnull begin
#else
#define _Nonnull
#define _Nullable
#define _Null_unspecified
#endif

/* ---- kernel constants Swift can't see --------------------------------------------------- */
/* The Glibc module is built without _GNU_SOURCE (no CLONE_NEW*) and doesn't import
 * linux/capability.h: these are the kernel's values under names Swift imports (the clone flags
 * as UInt64, capability numbers as Int32). trampoline_util.c checks each against the kernel's
 * headers at compile time. */

/* clone(2)/setns(2) namespace flags (linux/sched.h). */
#define ENVYRO_CLONE_NEWNS     0x00020000ULL
#define ENVYRO_CLONE_NEWCGROUP 0x02000000ULL
#define ENVYRO_CLONE_NEWUTS    0x04000000ULL
#define ENVYRO_CLONE_NEWIPC    0x08000000ULL
#define ENVYRO_CLONE_NEWUSER   0x10000000ULL
#define ENVYRO_CLONE_NEWPID    0x20000000ULL
#define ENVYRO_CLONE_NEWNET    0x40000000ULL
/* Not a namespace: the child's parent is the caller's parent (an OCI container is its runtime
 * command's child, not the helper's). */
#define ENVYRO_CLONE_PARENT    0x00008000ULL
/* Only through unshare or setns: as a clone flag it is CSIGNAL's bit (clone3 takes it). */
#define ENVYRO_CLONE_NEWTIME   0x00000080ULL

/* rlimit resources Swift's Glibc hides behind _GNU_SOURCE (sys/resource.h). */
#define ENVYRO_RLIMIT_DATA  2
#define ENVYRO_RLIMIT_NPROC 6

/* Capability numbers (linux/capability.h): bit n of a capability mask is capability n. */
#define ENVYRO_CAP_CHOWN 0
#define ENVYRO_CAP_DAC_OVERRIDE 1
#define ENVYRO_CAP_DAC_READ_SEARCH 2
#define ENVYRO_CAP_FOWNER 3
#define ENVYRO_CAP_FSETID 4
#define ENVYRO_CAP_KILL 5
#define ENVYRO_CAP_SETGID 6
#define ENVYRO_CAP_SETUID 7
#define ENVYRO_CAP_SETPCAP 8
#define ENVYRO_CAP_LINUX_IMMUTABLE 9
#define ENVYRO_CAP_NET_BIND_SERVICE 10
#define ENVYRO_CAP_NET_BROADCAST 11
#define ENVYRO_CAP_NET_ADMIN 12
#define ENVYRO_CAP_NET_RAW 13
#define ENVYRO_CAP_IPC_LOCK 14
#define ENVYRO_CAP_IPC_OWNER 15
#define ENVYRO_CAP_SYS_MODULE 16
#define ENVYRO_CAP_SYS_RAWIO 17
#define ENVYRO_CAP_SYS_CHROOT 18
#define ENVYRO_CAP_SYS_PTRACE 19
#define ENVYRO_CAP_SYS_PACCT 20
#define ENVYRO_CAP_SYS_ADMIN 21
#define ENVYRO_CAP_SYS_BOOT 22
#define ENVYRO_CAP_SYS_NICE 23
#define ENVYRO_CAP_SYS_RESOURCE 24
#define ENVYRO_CAP_SYS_TIME 25
#define ENVYRO_CAP_SYS_TTY_CONFIG 26
#define ENVYRO_CAP_MKNOD 27
#define ENVYRO_CAP_LEASE 28
#define ENVYRO_CAP_AUDIT_WRITE 29
#define ENVYRO_CAP_AUDIT_CONTROL 30
#define ENVYRO_CAP_SETFCAP 31
#define ENVYRO_CAP_MAC_OVERRIDE 32
#define ENVYRO_CAP_MAC_ADMIN 33
#define ENVYRO_CAP_SYSLOG 34
#define ENVYRO_CAP_WAKE_ALARM 35
#define ENVYRO_CAP_BLOCK_SUSPEND 36
#define ENVYRO_CAP_AUDIT_READ 37
#define ENVYRO_CAP_PERFMON 38
#define ENVYRO_CAP_BPF 39
#define ENVYRO_CAP_CHECKPOINT_RESTORE 40
/* The highest capability number defined here (CAP_LAST_CAP of Linux 5.9 and later). */
#define ENVYRO_CAP_LAST_CAP 40

/* ---- process and fd wrappers (shim.c) ------------------------------------------------ */

/// memfd_create(2); hidden behind _GNU_SOURCE.
int envyro_memfd_create(const char *name, unsigned int flags);
/// pipe2(2) with O_CLOEXEC; hidden behind _GNU_SOURCE.
int envyro_pipe_cloexec(int fds[_Nonnull 2]);
/// socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC).
int envyro_seqpacket_pair(int fds[_Nonnull 2]);
/// pidfd_send_signal(2) through syscall(2), which is variadic.
int envyro_pidfd_send_signal(int pidfd, int sig);
/// pidfd_open(2).
int envyro_pidfd_open(pid_t pid);
/// waitid(P_PIDFD, pidfd, WEXITED|flags): returns 0 and fills code (CLD_*) and status, or -1.
/// `*pid_out` is 0 when WNOHANG found nothing.
int envyro_waitid_pidfd(int pidfd, int flags, int *code, int *status, pid_t *pid_out);
/// Like envyro_waitid_pidfd, also returning the reaped child's resource usage (the raw waitid
/// syscall takes a struct rusage, glibc's wrapper does not): user and system CPU in µs, and the
/// largest resident set in KiB.
int envyro_waitid_pidfd_rusage(int pidfd, int flags, int *code, int *status, pid_t *pid_out,
                               int64_t *user_us, int64_t *system_us, int64_t *maxrss_kib);
/// prctl(PR_SET_PDEATHSIG / PR_SET_DUMPABLE / PR_SET_NO_NEW_PRIVS ...): prctl is variadic.
int envyro_prctl(int option, unsigned long arg2, unsigned long arg3);
/// close_range(first, ~0U, flags).
int envyro_close_range_from(unsigned int first, unsigned int flags);
/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV:
/// opens `path` (relative, no "..") strictly beneath `dirfd`. `flags` are open(2) flags
/// (O_CLOEXEC is added). Returns the fd or -1 with errno set (EXDEV/ELOOP on an escape).
int envyro_openat2_beneath(int dirfd, const char *path, int flags, unsigned int mode);
/// mkdirat(2), for creating cgroup directories beneath a directory fd.
int envyro_mkdirat(int dirfd, const char *path, unsigned int mode);
/// unlinkat(dirfd, path, AT_REMOVEDIR).
int envyro_rmdirat(int dirfd, const char *path);

/// getpeercred on a unix socket (struct ucred is hidden behind _GNU_SOURCE).
int envyro_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid);

/// Sends one SEQPACKET message with up to `nfds` file descriptors by SCM_RIGHTS.
/// Returns bytes sent or -1 (errno set). Uses MSG_NOSIGNAL.
ssize_t envyro_send_frame(int sock, const void *buf, size_t len, const int *_Nullable fds, int nfds);
/// Reads one byte from a unix socket with SO_PASSCRED set, and the sender's pid as the kernel
/// translated it into our pid namespace (SCM_CREDENTIALS; 0 when none came). Returns 1, 0 at
/// EOF, or -1 with errno.
ssize_t envyro_recv_byte_with_pid(int sock, uint8_t *byte, pid_t *pid);
/// Receives one SEQPACKET message with MSG_CMSG_CLOEXEC. `buf` must hold `cap` bytes.
/// On return `*truncated` is 1 when the packet was larger than `cap` (MSG_TRUNC) and
/// `*ctruncated` is 1 when control data was cut (MSG_CTRUNC). Received fds (at most `maxfds`)
/// are stored in `fds` and counted in `*nfds`; when more arrived than fit, the extra ones are
/// closed and `*nfds` is set to maxfds + 1 so the caller can reject the frame.
/// Returns bytes received (0 = EOF) or -1 (errno set).
ssize_t envyro_recv_frame(int sock, void *buf, size_t cap, int *fds, int maxfds, int *nfds,
                          int *truncated, int *ctruncated);

/// Blocks the job-control signals (INT, TERM, HUP, QUIT) in this thread and returns a
/// signalfd (CLOEXEC|NONBLOCK) that reports them. Call before any other thread starts.
int envyro_signalfd_for_forwarding(void);
/// For the daemon: blocks SIGTERM, SIGINT and SIGHUP in this thread (call before any other
/// thread starts; they inherit the mask) and returns a CLOEXEC|NONBLOCK signalfd for them.
int envyro_daemon_signalfd(void);
/// Whether `path` carries file capabilities (a security.capability extended attribute).
int envyro_has_file_caps(const char *path);
/// accept4(fd, NULL, NULL, SOCK_CLOEXEC); hidden behind _GNU_SOURCE.
int envyro_accept_cloexec(int fd);
/// Reads one pending signal number from the signalfd, or returns -1.
int envyro_signalfd_read(int sfd);

/// Spawns `path` with argv/envp via posix_spawn: `keep_fd` becomes fd 3, stdin is /dev/null,
/// stdout/stderr are inherited, the signal mask is emptied and every signal reset to default.
/// Returns the pid or -1 (errno set).
pid_t envyro_spawn_helper(const char *path, char *const _Nullable argv[_Nonnull],
                          char *const _Nullable envp[_Nonnull], int keep_fd);

/// Spawns envyro-nshelper like envyro_spawn_helper, from a binary no container can write
/// (CVE-2019-5736; spawn_helper.c says how). `*how`: 0 as it is (nobody a container can be may
/// write it), 1 bound read-only in a mount namespace of its own (root), 2 a sealed memfd copy.
pid_t envyro_spawn_sealed_helper(const char *path, char *const _Nullable argv[_Nonnull],
                                 char *const _Nullable envp[_Nonnull], int keep_fd, int *how);

/// Spawns a daemon of the caller's (`envyro run` starting a supervisor on first use): a new
/// session, stdio on /dev/null, default signals. Returns its pid or -1 (errno set).
pid_t envyro_spawn_detached(const char *path, char *const _Nullable argv[_Nonnull], char *const _Nullable envp[_Nonnull]);

/// The process environment (`environ`), for passing it on to a helper unchanged.
char *_Nullable *_Nonnull envyro_environ(void);

/// Reduces this thread's capabilities to `mask` (bit n = capability n) intersected with what it
/// has: permitted and effective become that set, inheritable and ambient are cleared. Call in
/// the helper's main before any thread starts. Returns 0 or -1 (errno set).
int envyro_keep_capabilities(uint64_t mask);
/// This thread's effective capability set as a mask, or 0 on error.
uint64_t envyro_effective_capabilities(void);

/// SHA-256 of `len` bytes into `out` (32 bytes), through libmd.
void envyro_sha256(const void *_Nullable data, size_t len, uint8_t out[_Nonnull 32]);

/// errno names like "ENOENT" for audit lines; returns "E?" for unknown values.
const char *envyro_errno_name(int err);

/* ---- the container trampoline (run_child.c, oci_child.c; trampoline.h) --------------- */

/// One seccomp BPF program (struct sock_filter array).
struct envyro_bpf {
    const void *_Nullable data;
    uint32_t length;                    /* bytes, a multiple of 8 */
    uint32_t flags;                     /* SECCOMP_FILTER_FLAG_* for seccomp(2) */
};

/// One mount of an OCI bundle's `mounts` list, lowered by Swift: options already split into
/// mount(2) flags, propagation flags and the data string.
struct envyro_mount {
    const char *_Nullable source;       /* bind: host path; others: the fs "device" name */
    const char *destination;            /* absolute path inside the container's root */
    const char *_Nullable fstype;       /* NULL for a bind mount */
    unsigned long flags;                /* MS_* for mount(2); a bind has MS_BIND (|MS_REC) */
    unsigned long propagation;          /* MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE (|MS_REC), 0 = none */
    const char *_Nullable data;         /* fs options ("mode=755,size=65536k"), or NULL */
    uint64_t attr_set, attr_clr;        /* MOUNT_ATTR_* set/cleared with mount_setattr(AT_RECURSIVE)
                                           after the mount (the "r" options: rro, rnosuid, ...) */
    unsigned int extra;                 /* ENVYRO_MOUNT_* below */
    int tree_fd;                        /* with ENVYRO_MOUNT_IDMAP: an idmapped clone of the bind
                                           source made by the helper (envyro_idmapped_tree),
                                           attached at the destination with move_mount instead
                                           of a bind; read only with that bit (a zeroed struct
                                           has none), -1 for none */
};

/* envyro_mount.extra: crun's options that change how a mount is made (MountExtra in Swift). */
#define ENVYRO_MOUNT_DEST_NOFOLLOW 1u   /* a symlink at the destination is mounted on, not followed */
#define ENVYRO_MOUNT_COPY_SYMLINK  2u   /* a symlink source is recreated at the destination */
#define ENVYRO_MOUNT_IDMAP         4u   /* idmapped (tree_fd carries the clone) */
#define ENVYRO_MOUNT_IDMAP_REC     8u   /* the mapping is on every mount of the clone */
#define ENVYRO_MOUNT_SRC_NOFOLLOW 16u   /* a symlink source is bound itself (O_PATH|O_NOFOLLOW) */
#define ENVYRO_MOUNT_HAS_TREE(m) (((m)->extra & ENVYRO_MOUNT_IDMAP) && (m)->tree_fd >= 0)

/// Made by the helper before clone (not in the child): a detached clone of `source`
/// (open_tree OPEN_TREE_CLONE, with its submounts when `recursive`) idmapped with
/// mount_setattr(MOUNT_ATTR_IDMAP) to a new user namespace whose maps are `uid_map` and
/// `gid_map` (the /proc/PID/uid_map text: "inside outside count" lines), on every mount of the
/// clone when `attr_recursive`. Returns the tree's fd, or -1 with errno set and `*step` naming
/// the call that failed (0 userns, 1 open_tree, 2 mount_setattr).
int envyro_idmapped_tree(const char *source, int recursive, int attr_recursive, const char *uid_map,
                         const char *gid_map, int *step);

/// One device node of `linux.devices`.
struct envyro_device {
    const char *path;                   /* absolute, inside the container (under /dev) */
    uint32_t mode;                      /* S_IFCHR/S_IFBLK/S_IFIFO | permission bits */
    uint32_t major, minor;
    uint32_t uid, gid;                  /* owner inside the container */
};

/// One `process.rlimits` entry.
struct envyro_rlimit { int32_t resource; uint64_t soft, hard; };

/// One `linux.sysctl` entry: key in dotted form ("net.ipv4.ip_forward").
struct envyro_sysctl { const char *key; const char *value; };

/// What an OCI process gets besides its user and capabilities (process.ioPriority,
/// linux.personality, crun's keep_original_groups, --preserve-fds), in both the OCI config and
/// the exec config. Zero means "leave it".
#define ENVYRO_PROCESS_EXTRAS                                                                   \
    uint32_t ioprio;                    /* 0, or ioprio_set(IOPRIO_WHO_PROCESS, 0, ioprio) */   \
    int has_personality;                /* 1: personality(personality) */                       \
    uint32_t personality;                                                                       \
    int keep_groups;                    /* 1: no setgroups; the caller's groups stay */         \
    const int *_Nullable preserved_fds; /* become fds 3, 4, ... of the process */              \
    int preserved_fd_count;

/// The OCI part of a container's config: set `oci` in envyro_container_config to use it.
/// With it, the root is exactly the bundle's rootfs plus `mounts` (no default /tmp, /proc,
/// /dev), and the process gets the bundle's user, capabilities and rlimits.
struct envyro_oci_config {
    const struct envyro_mount *_Nullable mounts; int mount_count;
    const struct envyro_device *_Nullable devices; int device_count;
    const struct envyro_rlimit *_Nullable rlimits; int rlimit_count;
    const struct envyro_sysctl *_Nullable sysctls; int sysctl_count;
    unsigned long rootfs_propagation;   /* applied to "/" before building the root; 0: MS_REC|MS_PRIVATE */
    const char *_Nullable domainname;
    /* process.user, applied after pivot_root, before exec */
    uint32_t uid, gid;
    const uint32_t *_Nullable additional_gids; int additional_gid_count;
    int32_t umask;                      /* -1: leave it */
    /* process.capabilities as masks (bit n = capability n), already intersected with policy */
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    /* Namespaces to join (linux.namespaces[].path), before anything else in the child:
     * fds opened by the helper, with CLONE_NEW* type each. Their flags are not in clone_flags. */
    const int *_Nullable join_fds; const uint64_t *_Nullable join_types; int join_count;
    int detached;                       /* no PDEATHSIG: the container outlives the helper */
    int start_fd;                       /* -1, or a listening unix socket: once everything is
                                           ready (and argv[0] found), report PREPARED, then block
                                           in accept until `start` connects and sends a byte; then
                                           exec. */
    int console_fd;                     /* -1, or a connected unix socket: make a pty in the
                                           container's devpts, send its master by SCM_RIGHTS,
                                           use the slave as stdio and controlling terminal */
    uint16_t console_rows, console_cols;
    /* Issue 17's process settings (ENVYRO_PROCESS_EXTRAS), then the time namespace. All zero
     * means: leave them. */
    ENVYRO_PROCESS_EXTRAS
    int new_timens;                     /* unshare(CLONE_NEWTIME) after the cgroup; exec enters it */
    int time_ns_fd;                     /* > 0: a time namespace to join (setns) instead */
    const char *_Nullable time_offsets; /* written to /proc/self/timens_offsets, or NULL */
    int hook_pause;                     /* with start_fd: after the mounts, before pivot_root,
                                           accept one connection, send a byte and wait for a
                                           byte back (0: go on), while the caller runs the
                                           createRuntime and createContainer hooks */
};

/// Everything the child needs, prepared by Swift in the helper before clone. All pointers must
/// stay valid until envyro_container_clone returns in the parent (the child has a copy).
struct envyro_container_config {
    uint64_t clone_flags;               /* CLONE_NEW* flags */
    int stdio[3];                       /* fds to become 0, 1, 2 */
    const char *_Nullable hostname;     /* NULL: leave the UTS name alone */
    const char *_Nullable rootfs;       /* NULL: build the default rootfs from host_binds */
    int rootfs_readonly;                /* remount the user's rootfs read-only */
    const char *_Nullable const *_Nullable host_binds; /* NULL-terminated, e.g. "/usr" */
    const char *cwd;
    const char *_Nullable const *_Nonnull argv; /* NULL-terminated */
    const char *_Nullable const *_Nonnull envp; /* NULL-terminated */
    const char *search_path;            /* PATH used to find argv[0] when it has no '/' */
    int loopback_up;                    /* bring up lo in the new network namespace */
    int use_init;                       /* a tiny pid 1 that forwards signals and reaps */
    int no_new_privs;
    uint64_t cap_keep;                  /* bit n: keep capability n (bounding, permitted, effective) */
    int cap_ambient;                    /* kept capabilities also inheritable and ambient */
    const struct envyro_bpf *_Nullable filters; /* seccomp programs, installed in order */
    int filter_count;
    const char *_Nullable const *_Nullable masked_paths;   /* NULL-terminated, inside the container */
    const char *_Nullable const *_Nullable readonly_paths; /* NULL-terminated, inside the container */
    int prewarm;                        /* build everything, then wait for envyro_container_go */
    const int *_Nullable cgroup_procs;  /* cgroup.procs files (opened for writing) to join */
    int cgroup_procs_count;
    /* > 0: the cgroup2 directory the child is cloned into (clone3 CLONE_INTO_CGROUP), so it
     * never migrates there: a cgroup.procs write waits for an RCU grace period (5-12 ms here)
     * when no migration happened in the last one. `cgroup2_procs_fd` is that directory's
     * cgroup.procs, also listed in cgroup_procs: the child writes it only when the clone could
     * not place it (clone3 refused with ENOSYS, as some container seccomp profiles do). */
    int cgroup2_fd;
    int cgroup2_procs_fd;
    const struct envyro_oci_config *_Nullable oci; /* OCI bundle mode (issue 8), or NULL */
    int netns_fd;                       /* > 0: clone into this (pooled) network namespace; 0 or -1: none */
    int netns_home_fd;                  /* with netns_fd: the helper's own, to return to */
    /* Limits carried by rlimits where no cgroup can be had (a user without a delegated
     * subtree, under a policy with limits.withoutCgroup "rlimits"): set after pivot_root. */
    const struct envyro_rlimit *_Nullable rlimits;
    int rlimit_count;
};

/// The steps of the child, reported with errno through the error pipe when one fails.
enum envyro_step {
    ENVYRO_STEP_NONE = 0,
    ENVYRO_STEP_SYNC, ENVYRO_STEP_SETID, ENVYRO_STEP_HOSTNAME, ENVYRO_STEP_MOUNT_PRIVATE,
    ENVYRO_STEP_ROOT_TMPFS, ENVYRO_STEP_ROOTFS_BIND, ENVYRO_STEP_HOST_BIND, ENVYRO_STEP_READONLY,
    ENVYRO_STEP_TMP, ENVYRO_STEP_PROC, ENVYRO_STEP_DEV, ENVYRO_STEP_LOOPBACK, ENVYRO_STEP_PIVOT,
    ENVYRO_STEP_CWD, ENVYRO_STEP_STDIO, ENVYRO_STEP_SIGNALS, ENVYRO_STEP_NNP, ENVYRO_STEP_INIT,
    ENVYRO_STEP_EXEC, ENVYRO_STEP_PDEATHSIG, ENVYRO_STEP_MASK, ENVYRO_STEP_CAPS,
    ENVYRO_STEP_SECCOMP,
    ENVYRO_STEP_READY = 100,  /* not a failure: the child is dumpable and waits for its maps */
    ENVYRO_STEP_PREPARED = 101, /* not a failure: a prewarmed child waits for its run */
    ENVYRO_STEP_GO = 102,       /* receiving the run's details failed */
    ENVYRO_STEP_CGROUP = 103,   /* joining the container's cgroup failed */
    ENVYRO_STEP_UNSHARE = 104,  /* creating a namespace left out of the clone failed */
    /* OCI bundle mode */
    ENVYRO_STEP_JOIN_NS = 110, ENVYRO_STEP_OCI_MOUNT, ENVYRO_STEP_DEVICE, ENVYRO_STEP_SYSCTL,
    ENVYRO_STEP_RLIMIT, ENVYRO_STEP_USER, ENVYRO_STEP_CONSOLE, ENVYRO_STEP_START,
    ENVYRO_STEP_PROPAGATION, ENVYRO_STEP_DOMAINNAME,
    ENVYRO_STEP_SESSION = 120,  /* setsid: no controlling terminal (TIOCSTI) */
    ENVYRO_STEP_PERSONALITY = 121, ENVYRO_STEP_IOPRIO, ENVYRO_STEP_TIMENS,
};
/// A short name for a step, for error messages ("mount /proc", "exec", ...).
const char *envyro_step_name(int step);

/// The parent's handles on a child created by envyro_container_clone.
struct envyro_container_handles {
    pid_t pid;
    int pidfd;
    int sync_fd;    /* write one byte here after writing the id maps; then close it */
    int error_fd;   /* first a READY record, then an envyro_child_error on failure; EOF means
                       execve succeeded */
    int go_fd;      /* prewarm only: send the run's details here (envyro_container_go) */
};
struct envyro_child_error { int32_t step; int32_t err; int32_t detail; /* OCI_MOUNT: the index in mounts; else -1 */ };

/// clone3 (falling back to clone) with the config's namespace flags and CLONE_PIDFD. The child
/// waits for the sync byte, then sets up and execs; the parent gets the handles.
/// Returns 0, or -1 with errno set (nothing is left behind on failure).
int envyro_container_clone(const struct envyro_container_config *cfg,
                           struct envyro_container_handles *out);

/// Starts a prewarmed child: sends the run's details and stdio. `packed` is laid out as
/// u32 flags (bit 0: use init) | u32 argc | u32 envc | NUL-terminated strings: hostname, cwd,
/// search path, argv..., envp... (at most ENVYRO_GO_MAX bytes). Returns 0 or -1 (errno set).
int envyro_container_go(int go_fd, const void *packed, size_t length, const int stdio[_Nonnull 3]);

/// Pooled network namespaces (netns_pool.c). Each call returns with the calling thread in
/// `home` (an fd of its own network namespace, from envyro_netns_current).
/// The calling thread's network namespace, as an fd (-1 and errno on failure).
int envyro_netns_current(void);
/// A new network namespace, with lo up and, when `low_ports`, ip_unprivileged_port_start 0.
/// Returns its fd, or -1 with errno (EPERM: this helper may not create one).
int envyro_netns_create(int home, int low_ports);
/// 1 when the namespace holds no socket (none open, none in TIME_WAIT), 0 when it does, -1
/// with errno when it can't be told.
int envyro_netns_idle(int ns, int home);
#define ENVYRO_GO_MAX 131072

/// linux.netDevices: moves host interface `name` into the network namespace of process `pid`,
/// renamed `new_name` there (rtnetlink RTM_NEWLINK; netdev.c). Returns 0 or -1 with errno
/// (ENODEV: no such interface; EEXIST: the name is taken in the container).
int envyro_netdev_move(const char *name, const char *new_name, pid_t pid);

/* ---- exec into a running container (OCI `exec`) ------------------------------------- */

/// What `envyro exec` runs inside an existing container.
struct envyro_exec_config {
    int target_pidfd;                   /* the container's first process */
    uint64_t ns_flags;                  /* CLONE_NEW* to join through setns(pidfd, flags) */
    const int *_Nullable cgroup_procs; int cgroup_procs_count; /* cgroup.procs to join */
    int stdio[3];
    int console_fd;                     /* -1, or as in envyro_oci_config */
    uint16_t console_rows, console_cols;
    const char *cwd;
    const char *_Nullable const *_Nonnull argv;
    const char *_Nullable const *_Nonnull envp;
    const char *search_path;
    uint32_t uid, gid;
    const uint32_t *_Nullable additional_gids; int additional_gid_count;
    int32_t umask;
    const struct envyro_rlimit *_Nullable rlimits; int rlimit_count;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    int no_new_privs;
    const struct envyro_bpf *_Nullable filters; int filter_count;
    int detached;                       /* no PDEATHSIG */
    ENVYRO_PROCESS_EXTRAS
};

/// Starts a process inside the container named by `target_pidfd`: a child joins its
/// namespaces (setns through the pidfd) and cgroup, then forks the process (so it is inside the
/// pid namespace) and exits; the process sets up its user, capabilities, seccomp and stdio and
/// execs. `*pid_out` is the process's host pid. Returns 0 once the exec succeeded, or -1 with
/// errno set and `*step_out` naming the step that failed (the process is gone then).
int envyro_container_exec(const struct envyro_exec_config *cfg, pid_t *pid_out, int *step_out);

/// openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC [| O_DIRECTORY]): one path component,
/// never following a symlink (trust.c).
int envyro_openat_component(int dirfd, const char *name, int directory);

/// fstatfs(fd).f_type (the file system's magic number), or -1.
long long envyro_fs_magic(int fd);

/// getauxval(AT_SECURE): 1 when this process was started with more privilege than its caller
/// (file capabilities, setuid or setgid bits).
int envyro_at_secure(void);

#ifdef __clang__
#pragma clang assume_nonnull end
#endif
#endif
