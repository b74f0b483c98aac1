// ContainerCgroup's stats, kill, freeze, limit update and removal.

import CEnvyro
import EnvyroSystem
import Glibc

extension ContainerCgroup {
    // MARK: - Stats

    /// Reads what the kernel reports; files that are missing or unreadable leave their field nil.
    public func stats() -> CgroupStats {
        var s = CgroupStats()
        func text(_ d: CgroupDirectory, _ file: String) -> String? {
            try? readFile(d, file)
        }
        func number(_ d: CgroupDirectory, _ file: String) -> Int64? {
            guard let t = text(d, file), let n = UInt64(CgroupFormats.trimmed(t)), n <= UInt64(Int64.max) else { return nil }
            return Int64(n)
        }
        for d in directories {
            switch d.version {
            case .v1:
                if d.controllers.contains(.memory) {
                    s.memoryPeakBytes = number(d, "memory.max_usage_in_bytes")
                    s.memoryCurrentBytes = number(d, "memory.usage_in_bytes")
                    s.memoryLimit = text(d, "memory.limit_in_bytes").flatMap(CgroupFormats.parseLimit)
                    // With a memory+swap limit the memsw counter is the one that trips.
                    if let hits = number(d, "memory.failcnt") {
                        s.memoryLimitHits = UInt64(max(hits, number(d, "memory.memsw.failcnt") ?? 0))
                    }
                    if let t = text(d, "memory.oom_control"), let oom = try? CgroupFormats.parseOOMControl(t) { s.oomKills = oom.oomKill }
                }
                if d.controllers.contains(.pids) {
                    s.pidsCurrent = number(d, "pids.current")
                    s.pidsPeak = number(d, "pids.peak")
                }
                if d.controllers.contains(.cpuacct) {
                    s.cpuUsageNanos = number(d, "cpuacct.usage").map { UInt64($0) }
                }
            case .v2:
                if d.controllers.contains(.memory) {
                    s.memoryPeakBytes = number(d, "memory.peak")
                    s.memoryCurrentBytes = number(d, "memory.current")
                    s.memoryLimit = text(d, "memory.max").flatMap(CgroupFormats.parseLimit)
                    if let t = text(d, "memory.events"), let e = try? CgroupFormats.parseMemoryEvents(t) {
                        s.oomKills = e.oomKill
                        s.memoryLimitHits = e.max
                    }
                }
                if d.controllers.contains(.pids) {
                    s.pidsCurrent = number(d, "pids.current")
                    s.pidsPeak = number(d, "pids.peak")
                }
                // cpu.stat's usage_usec is a core file on v2: every cgroup has it.
                if s.cpuUsageNanos == nil, let t = text(d, "cpu.stat"), let c = try? CgroupFormats.parseCPUStat(t) {
                    s.cpuUsageNanos = c.usageMicros * 1000
                }
            }
        }
        return s
    }

    // MARK: - Kill and remove

    /// Kills every process inside. v2 (a v2 directory with `cgroup.kill`, kernel 5.14+): writes
    /// `1` there, which kills the whole cgroup atomically. v1: freezes the cgroup when a freezer
    /// directory is in the set (so nothing forks while pids are read), sends SIGKILL to every pid
    /// in `cgroup.procs` of every hierarchy, thaws, and repeats while pids remain (at most 50
    /// rounds). It does not wait for the processes to be gone: `remove()` does.
    public func killAll() throws(CgroupError) {
        if let v2 = directories.first(where: { $0.version == .v2 }) {
            do {
                try CgroupFS.write(v2.fd, "cgroup.kill", "1", shown: v2.shown("cgroup.kill"))
                return
            } catch .system(let e, _) where e.errno == ENOENT && e.call == "openat2" {
                // No cgroup.kill (kernel < 5.14) or the cgroup is gone: fall through to signals.
            }
        }
        let freezer = directories.first { $0.version == .v1 && $0.controllers.contains(.freezer) }
        var frozen = false
        if let f = freezer {
            do {
                try CgroupFS.write(f.fd, "freezer.state", "FROZEN", shown: f.shown("freezer.state"))
                frozen = true
                // FREEZING until every task stopped; bounded (tasks in uninterruptible sleep can
                // hold it up: then the signals below still work, they just race new forks).
                for _ in 0..<200 {
                    let state = CgroupFormats.trimmed((try? CgroupFS.read(f.fd, "freezer.state", shown: f.shown("freezer.state"))) ?? "")
                    if state != "FREEZING" { break }
                    usleep(500)
                }
            } catch .system(let e, _) where e.errno == ENOENT {}
        }
        defer {
            if frozen, let f = freezer {
                try? CgroupFS.write(f.fd, "freezer.state", "THAWED", shown: f.shown("freezer.state"))
            }
        }
        for round in 0..<50 {
            let pids = try processes()
            if pids.isEmpty { return }
            let me = getpid()
            for pid in pids where pid > 1 && pid != me {
                _ = kill(pid, SIGKILL)
            }
            // Killed while frozen, nothing could fork in between: they die when the deferred
            // thaw runs.
            if frozen { return }
            if round > 0 { usleep(1000) }
        }
    }

    /// Freezes (pause) or thaws (resume) every process in the cgroup: v2 `cgroup.freeze`, v1
    /// `freezer.state`. Waits (at most about a second) until a v1 freeze has taken hold.
    /// - Throws: `controllerUnavailable(.freezer)` when no hierarchy in the set can freeze.
    public func setFrozen(_ frozen: Bool) throws(CgroupError) {
        if let v1 = directories.first(where: { $0.version == .v1 && $0.controllers.contains(.freezer) }) {
            try CgroupFS.write(v1.fd, "freezer.state", frozen ? "FROZEN" : "THAWED", shown: v1.shown("freezer.state"))
            if frozen {
                for _ in 0..<2000 {
                    let state = CgroupFormats.trimmed((try? CgroupFS.read(v1.fd, "freezer.state", shown: v1.shown("freezer.state"))) ?? "")
                    if state != "FREEZING" { break }
                    usleep(500)
                }
            }
            return
        }
        if let v2 = directories.first(where: { $0.version == .v2 }) {
            try CgroupFS.write(v2.fd, "cgroup.freeze", frozen ? "1" : "0", shown: v2.shown("cgroup.freeze"))
            return
        }
        throw .controllerUnavailable(.freezer, detail: "the container's cgroup has no freezer (v1) and no cgroup v2 directory")
    }

    /// Whether the cgroup is frozen (v1 `freezer.state` FROZEN, v2 `cgroup.events` frozen 1);
    /// nil when it can't tell.
    public func isFrozen() -> Bool? {
        if let v1 = directories.first(where: { $0.version == .v1 && $0.controllers.contains(.freezer) }),
           let text = try? CgroupFS.read(v1.fd, "freezer.state", shown: v1.shown("freezer.state")) {
            return CgroupFormats.trimmed(text) == "FROZEN"
        }
        if let v2 = directories.first(where: { $0.version == .v2 }),
           let text = try? CgroupFS.read(v2.fd, "cgroup.events", shown: v2.shown("cgroup.events")),
           let events = try? CgroupFormats.parseCgroupEvents(text) {
            return events.frozen
        }
        return nil
    }

    /// Writes new limits into the existing cgroup (OCI `update`): only the limits set in
    /// `limits` are written, in the order the kernel needs.
    /// - Throws: `controllerUnavailable` when the cgroup lacks a controller the limits need.
    public func update(_ limits: CgroupLimits) throws(CgroupError) {
        try limits.validate()
        for c in limits.requiredControllers.sorted() where !directories.contains(where: { $0.serves(c) }) {
            throw .controllerUnavailable(c, detail: "the container's cgroup was created without it")
        }
        for version in [CgroupVersion.v1, .v2] {
            let dirs = directories.filter { $0.version == version }
            if dirs.isEmpty { continue }
            for w in limits.fileWrites(for: version) {
                guard let d = dirs.first(where: { $0.serves(w.controller) }) else { continue }
                try Self.apply(w, in: d)
            }
        }
        try Self.writeUnified(limits.unified, in: directories)
    }

    /// Writes OCI `unified` entries into the cgroup's v2 directory, as given.
    static func writeUnified(_ entries: [CgroupLimits.UnifiedEntry]?, in dirs: [CgroupDirectory]) throws(CgroupError) {
        guard let entries, !entries.isEmpty else { return }
        guard let v2 = dirs.first(where: { $0.version == .v2 }) else {
            throw .invalidLimit(field: "unified", value: entries[0].key, reason: "the container's cgroup has no cgroup v2 directory (on a hybrid host only root's containers have one)")
        }
        for e in entries {
            do { try CgroupFS.write(v2.fd, e.key, e.value, shown: v2.shown(e.key)) } catch .system(let se, _) where se.errno == ENOENT {
                throw .invalidLimit(field: "unified", value: e.key, reason: "\(v2.shown(e.key)) does not exist (its controller is not enabled there)")
            }
        }
    }

    /// Kills what is left (also in cgroups the workload nested inside), waits (at most
    /// `timeoutMillis`) until no process remains, removes nested cgroups, and removes every
    /// directory. Removing an already removed cgroup does nothing.
    /// - Throws: `stillPopulated` when processes outlive the wait.
    public func remove(timeoutMillis: Int = 2000) throws(CgroupError) {
        openFiles.closeAll()
        // Fast path: an empty cgroup's rmdir succeeds at once; EBUSY means something is inside.
        var busy: [CgroupDirectory] = []
        for (d, parent) in zip(directories, parentDirectories()) {
            if envyro_rmdirat(parent.fd, name) == 0 { continue }
            let e = errno
            if e == ENOENT { continue }
            if e == EBUSY { busy.append(d); continue }
            throw .from(SystemError("rmdir", d.path, errno: e))
        }
        if busy.isEmpty { return }

        let deadline = Clock.monotonicNanoseconds() + UInt64(max(timeoutMillis, 0)) * 1_000_000
        var lastKill: UInt64 = 0
        var pids = try processes()
        while !pids.isEmpty {
            let now = Clock.monotonicNanoseconds()
            if now >= deadline { throw .stillPopulated(path: directories.first?.path ?? name, pids: pids) }
            if now - lastKill > 50_000_000 {
                try killAll()
                lastKill = now
            }
            usleep(200)
            pids = try processes()
        }
        for (d, parent) in zip(directories, parentDirectories()) where busy.contains(where: { $0.path == d.path }) {
            // Cgroups the workload nested inside its own go first (they are empty by now).
            var removed: [String] = []
            for child in try CgroupFS.subdirectories(d.fd, shown: d.path) {
                try CgroupPath.checkName(child, in: d.path + "/" + child)
                try CgroupDelegation.removeTree(parent: d.fd, name: child, path: d.path + "/" + child, depth: 1, removed: &removed)
            }
            try CgroupFS.rmdir(parent.fd, name, shown: d.path)
        }
    }

    /// The subtree directory each of `directories` was made in, in the same order.
    func parentDirectories() -> [CgroupDirectory] {
        directories.compactMap { d in subtree.directories.first { $0.mountPoint == d.mountPoint } }
    }
}
