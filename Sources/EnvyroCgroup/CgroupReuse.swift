// A container cgroup made ready for the next container with the same limits, instead of being
// removed and made again (the mkdirs and rmdirs were about a tenth of the host's CPU per start
// through a daemon: 0.24 ms to make one in six hierarchies here and 0.15 ms to remove it, plus
// the kernel's workers freeing it). isolate, the IOI sandbox, reuses its boxes' cgroups the same
// way, resetting their counters between runs.

import Glibc

extension ContainerCgroup {
    /// The most memory the kernel may still have charged to a cgroup that is reused: kernel
    /// objects freed after the last task is gone (measured 160-340 KiB after `/bin/true`). More
    /// than this and the cgroup is removed rather than reused, so a run's memory peak is never
    /// off by more.
    public static let reusableLeftoverBytes: Int64 = 1 << 20

    /// Makes this cgroup ready for another container with `limits`, given the `stats` read after
    /// its last one ended; false when it can't be reused exactly (the caller removes it then).
    ///
    /// Reused only when what the next run reports would be its own: no task is left
    /// (`pids.current` 0, no child cgroups), the counters that can't be reset are still at
    /// their start (no OOM kill, no limit hit, `pids.peak` at most 1: a run that never forked),
    /// the kernel has at most `reusableLeftoverBytes` charged, every counter lives in a v1
    /// hierarchy (v2's `memory.peak` and `cpu.stat` can't be reset), and no `unified` keys were
    /// written. Then every limit is written again, so nothing a run could have changed in its
    /// cgroup carries over; `resetCounters` clears the figures when the cgroup is handed out.
    public func prepareForReuse(limits: CgroupLimits, after stats: CgroupStats) -> Bool {
        guard limits.unified?.isEmpty ?? true,
              stats.pidsCurrent == 0, (stats.pidsPeak ?? 0) <= 1,
              (stats.oomKills ?? 0) == 0, (stats.memoryLimitHits ?? 0) == 0,
              (stats.memoryCurrentBytes ?? 0) <= Self.reusableLeftoverBytes
        else { return false }
        // v2 directories only where they count nothing (the unified one of a hybrid host, kept
        // for cgroup.kill and CLONE_INTO_CGROUP), and CPU time counted by v1's cpuacct.
        let counting: Set<CgroupController> = [.memory, .pids, .cpuacct, .cpu, .io, .blkio, .cpuset]
        guard directories.allSatisfy({ $0.version == .v1 || $0.controllers.isDisjoint(with: counting) }),
              directories.contains(where: { $0.version == .v1 && $0.controllers.contains(.cpuacct) }) || stats.cpuUsageNanos == nil
        else { return false }
        // A directory's link count is 2 plus its subdirectories: a run may not leave one behind.
        for d in directories {
            var st = stat()
            guard fstat(d.fd, &st) == 0, st.st_nlink == 2 else { return false }
        }
        // From here on it is read and written every run: its files stay open.
        openFiles.enable()
        do { try Self.applyLimits(limits, in: directories, cgroup: self) } catch { return false }
        return true
    }

    /// Resets the figures a run reports that the kernel lets be reset: the memory peaks
    /// (`memory.max_usage_in_bytes`, `memory.memsw.max_usage_in_bytes`: to what is charged now)
    /// and `cpuacct.usage`. Done when the cgroup is handed to its next container rather than
    /// when the last one was reaped, so what the kernel freed in between (a network namespace,
    /// after an RCU grace period) no longer counts in the next run's peak. False on failure.
    public func resetCounters() -> Bool {
        do {
            for d in directories where d.version == .v1 {
                if d.controllers.contains(.memory) {
                    try writeFile(d, "memory.max_usage_in_bytes", "0")
                    do {
                        try writeFile(d, "memory.memsw.max_usage_in_bytes", "0")
                    } catch .system(let e, _) where e.errno == ENOENT {}   // no swap accounting
                }
                if d.controllers.contains(.cpuacct) {
                    try writeFile(d, "cpuacct.usage", "0")
                }
            }
        } catch {
            return false
        }
        return true
    }
}
