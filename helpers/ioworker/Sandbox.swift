import CSeccomp
import Glibc

/// The worker's own seccomp filter.
///
/// Installed after setup (the memfd is mapped, the ring exists, /dev/null is open) and before
/// the first request is served; any other system call kills the worker (SIGSYS). Allowed:
///
/// - I/O on descriptors: `read`, `write`, `pread64`, `pwrite64`, `readv`, `writev`, `lseek`,
///   `splice`, `close`, `fcntl`, `poll`, `ppoll`
/// - files: `openat` (the log files), `newfstatat`, `fstat`
/// - the socket: `recvmsg`, `sendmsg`
/// - io_uring: `io_uring_enter` only (no setup, no register: the ring is finished)
/// - memory for the Swift runtime and malloc: `mmap`, `munmap`, `mremap`, `madvise`, `mprotect`, `brk`
/// - threads and time: `futex`, `sched_yield`, `clock_gettime`, `getrandom`
/// - signals and exit: `rt_sigreturn`, `rt_sigprocmask`, `rt_sigaction`, `restart_syscall`,
///   `exit`, `exit_group`, and `getpid`, `gettid`, `tgkill` so a Swift runtime failure still
///   ends in a normal crash report
///
/// io_uring operations are not system calls and pass no seccomp filter; the ring is limited to
/// the opcodes the worker uses with IORING_REGISTER_RESTRICTIONS instead (see `Server`).
enum Sandbox {
    /// The allowed system calls (resolved for the running architecture; names unknown there
    /// are skipped).
    static let allowed = [
        "read", "write", "pread64", "pwrite64", "readv", "writev", "lseek", "splice", "close", "fcntl", "poll", "ppoll",
        "openat", "newfstatat", "fstat",
        "recvmsg", "sendmsg",
        "io_uring_enter",
        "mmap", "munmap", "mremap", "madvise", "mprotect", "brk",
        "futex", "sched_yield", "clock_gettime", "getrandom",
        "rt_sigreturn", "rt_sigprocmask", "rt_sigaction", "restart_syscall", "exit", "exit_group",
        "getpid", "gettid", "tgkill",
    ]

    /// Installs the allowlist with SCMP_ACT_KILL_PROCESS as the default action.
    static func install() throws(WorkerError) {
        try load(defaultAction: 0x8000_0000 /* SCMP_ACT_KILL_PROCESS */) { ctx throws(WorkerError) in
            for name in allowed {
                let number = seccomp_syscall_resolve_name(name)
                if number == -1 /* __NR_SCMP_ERROR */ { continue }
                let r = seccomp_rule_add_array(ctx, 0x7FFF_0000 /* SCMP_ACT_ALLOW */, number, 0, nil)
                if r < 0 { throw WorkerError(errno: -r, operation: "seccomp_rule_add", message: "cannot allow \(name) in the worker's seccomp filter") }
            }
        }
    }

    /// For tests of the fallback: a filter that lets everything through except io_uring_setup,
    /// which fails with EPERM, as a container runtime's default profile makes it.
    static func refuseIOUringSetup() throws(WorkerError) {
        try load(defaultAction: 0x7FFF_0000 /* SCMP_ACT_ALLOW */) { ctx throws(WorkerError) in
            let number = seccomp_syscall_resolve_name("io_uring_setup")
            guard number != -1 else { return }
            let r = seccomp_rule_add_array(ctx, 0x0005_0000 | UInt32(EPERM) /* SCMP_ACT_ERRNO(EPERM) */, number, 0, nil)
            if r < 0 { throw WorkerError(errno: -r, operation: "seccomp_rule_add", message: "cannot refuse io_uring_setup") }
        }
    }

    private static func load(defaultAction: UInt32, _ rules: (scmp_filter_ctx) throws(WorkerError) -> Void) throws(WorkerError) {
        guard let ctx = seccomp_init(defaultAction) else {
            throw WorkerError(errno: ENOMEM, operation: "seccomp_init", message: "cannot create a seccomp filter")
        }
        defer { seccomp_release(ctx) }
        try rules(ctx)
        let r = seccomp_load(ctx)
        if r < 0 { throw WorkerError(errno: -r, operation: "seccomp_load", message: "cannot install the worker's seccomp filter") }
    }
}
