import Glibc

/// The process's open-file limit (RLIMIT_NOFILE). A supervisor holds several descriptors per
/// run in flight (the client's connection, its three stdio fds, the helper's socket, capture
/// pipes), so the soft limit a login session gives (often 1024) caps concurrency long before
/// memory does: it is raised to the hard limit at start (issue 14), and what remains is
/// checked before a run is accepted, so running out is a refusal with a reason.
public enum OpenFileLimit {
    /// The current (soft, hard) limit.
    public static func current() -> (soft: UInt64, hard: UInt64) {
        var rl = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return (1024, 1024) }
        return (UInt64(rl.rlim_cur), UInt64(rl.rlim_max))
    }

    /// Raises the soft limit to the hard limit (no privilege needed); returns the limits before
    /// and after. A failure leaves the limit as it was (the refusal check still holds).
    @discardableResult
    public static func raiseToHard() -> (before: UInt64, after: UInt64) {
        var rl = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return (0, 0) }
        let before = UInt64(rl.rlim_cur)
        guard rl.rlim_cur < rl.rlim_max else { return (before, before) }
        var raised = rl
        raised.rlim_cur = rl.rlim_max
        guard setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 else { return (before, before) }
        return (before, UInt64(raised.rlim_cur))
    }

    /// Descriptors open in this process now; nil when /proc can't be read. Since Linux 6.2 the
    /// size stat(2) gives /proc/self/fd is that count: one call. Listing the directory (what
    /// older kernels need) makes procfs build an entry for every fd, and a daemon checks before
    /// every run: it was 12% of the supervisor's CPU per start (perf, 600 starts).
    public static func openCount() -> Int? {
        var st = stat()
        if stat("/proc/self/fd", &st) == 0 && st.st_size > 0 { return Int(st.st_size) }
        guard let dir = opendir("/proc/self/fd") else { return nil }
        defer { closedir(dir) }
        var n = 0
        while readdir(dir) != nil { n += 1 }
        return max(0, n - 3)   // ".", "..", and the directory's own descriptor
    }

    /// Why `needed` more descriptors can't be opened now, or nil when they can: the refusal a
    /// supervisor gives instead of failing half-way through a run.
    public static func refusal(needed: Int) -> String? {
        let limit = current().soft
        guard let open = openCount() else { return nil }
        guard UInt64(open + needed) > limit else { return nil }
        return "the supervisor is out of file descriptors (\(open) of its limit of \(limit) are open and a run needs \(needed) more); wait for runs in flight to finish, or raise the hard RLIMIT_NOFILE of envyro-supervisor (ulimit -Hn, LimitNOFILE= in its systemd unit)"
    }
}
