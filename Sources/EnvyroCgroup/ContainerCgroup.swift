import CEnvyro
import EnvyroSystem
import Glibc

/// What a container's cgroup reports after (or during) a run. A field is nil when the host
/// doesn't offer it (no such controller in the container's set, or an older kernel).
public struct CgroupStats: Sendable, Equatable {
    /// Peak memory use in bytes (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`).
    public var memoryPeakBytes: Int64?
    /// Current memory use in bytes (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    public var memoryCurrentBytes: Int64?
    /// The memory limit in force, nil when unlimited.
    public var memoryLimit: Int64?
    /// Processes killed by the OOM killer (v1 `memory.oom_control` oom_kill, v2
    /// `memory.events` oom_kill).
    public var oomKills: UInt64?
    /// Times usage hit the limit (v1 the larger of `memory.failcnt` and `memory.memsw.failcnt`,
    /// v2 `memory.events` max). Kernel 6.18 leaves the v1 counters at 0 even after an OOM kill:
    /// use `oomKills` to tell an OOM death.
    public var memoryLimitHits: UInt64?
    /// Peak number of tasks (`pids.peak`, where the kernel has it).
    public var pidsPeak: Int64?
    /// Current number of tasks (`pids.current`).
    public var pidsCurrent: Int64?
    /// CPU time used, in nanoseconds (v1 `cpuacct.usage`, v2 `cpu.stat` usage_usec × 1000).
    public var cpuUsageNanos: UInt64?

    /// Empty stats.
    public init() {}
}

/// One container's cgroup: a directory named `name` beneath each directory of a subtree,
/// created with its limits, holding the container's processes, and removed after the run.
///
/// The directories stay open as fds for the object's lifetime, so attach, stats and kill never
/// resolve a path again. `remove()` is idempotent.
public final class ContainerCgroup: Sendable {
    /// The cgroup's name, one component (e.g. `c-4242-88123-7`).
    public let name: String
    /// The subtree it lives in (kept alive: its fds are needed to remove this cgroup).
    public let subtree: CgroupSubtree
    /// The container's own directories, one per subtree directory it was created in.
    public let directories: [CgroupDirectory]
    /// Full paths, for diagnostics.
    public var paths: [String] { directories.map(\.path) }

    /// The prefix of every name `uniqueName` makes; `CgroupGC` only touches names with it.
    public static let namePrefix = "c-"

    init(name: String, subtree: CgroupSubtree, directories: [CgroupDirectory]) {
        self.name = name
        self.subtree = subtree
        self.directories = directories
    }

    deinit {
        for d in directories { close(d.fd) }
    }

    // MARK: - Names

    /// This process's start time in clock ticks since boot (field 22 of /proc/self/stat), which
    /// with the pid identifies it even after the pid is reused.
    public static let ownStartTime: UInt64 = processStartTime(getpid()) ?? 0

    /// A name no other live process makes: `c-<pid>-<start time>-<sequence>`. `CgroupGC` parses
    /// it back to tell whether the owner is still alive.
    public static func uniqueName(sequence: UInt64) -> String {
        "\(namePrefix)\(getpid())-\(ownStartTime)-\(sequence)"
    }

    /// The owner encoded in a `uniqueName`, or nil for any other name.
    public static func owner(ofName name: String) -> (pid: Int32, startTime: UInt64)? {
        guard name.hasPrefix(namePrefix) else { return nil }
        let parts = name.dropFirst(namePrefix.count).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, let pid = Int32(parts[0]), pid > 0, let start = UInt64(parts[1]), UInt64(parts[2]) != nil else { return nil }
        return (pid, start)
    }

    /// Start time of `pid` in clock ticks since boot, or nil when it doesn't exist.
    public static func processStartTime(_ pid: Int32) -> UInt64? {
        guard let bytes = try? Files.read("/proc/\(pid)/stat", limit: 4096) else { return nil }
        // comm may hold spaces and parentheses: the fields start after the last ')'.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let rest = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        // rest[0] is field 3 (state); starttime is field 22.
        guard rest.count > 19 else { return nil }
        return UInt64(String(decoding: rest[19], as: UTF8.self))
    }

    // MARK: - Create and open

    /// Creates the cgroup `name` beneath `subtree` and applies `limits`.
    ///
    /// A directory is made in every subtree directory (or, with `controllers`, only in those
    /// serving `controllers` and the limits' controllers). For v1 cpuset, `cpuset.cpus` and
    /// `cpuset.mems` not given in `limits` are copied from the parent, since an empty cpuset
    /// can't take tasks. Each limit file is written once, in the order the kernel needs. On any
    /// failure every directory made so far is removed before the error is thrown.
    ///
    /// - Throws: `invalidLimit` (from `limits.validate()`), `unsafePath` for a bad name,
    ///   `controllerUnavailable` when the subtree lacks a needed controller or the kernel lacks a
    ///   limit file, `system` when the kernel refuses a write (EEXIST: the name is taken).
    public static func create(in subtree: CgroupSubtree, name: String, limits: CgroupLimits,
                              controllers: Set<CgroupController>? = nil) throws(CgroupError) -> ContainerCgroup {
        try limits.validate()
        try CgroupPath.checkName(name)
        let needed = limits.requiredControllers
        for c in needed.sorted() where subtree.directory(for: c) == nil {
            throw .controllerUnavailable(c, detail: "the subtree \(subtree.relativePath) was opened without it (it has \(subtree.controllers.map(\.rawValue).sorted().joined(separator: ","))); open it with every controller the limits need")
        }
        let parents: [CgroupDirectory]
        if let wanted = controllers {
            let all = wanted.union(needed)
            parents = subtree.directories.filter { d in all.contains { d.serves($0) } }
        } else {
            parents = subtree.directories
        }

        var made: [CgroupDirectory] = []
        var ok = false
        defer {
            if !ok {
                for d in made { close(d.fd) }
                for p in parents.reversed() where made.contains(where: { $0.mountPoint == p.mountPoint }) {
                    _ = envyro_rmdirat(p.fd, name)
                }
            }
        }
        for p in parents {
            let path = p.shown(name)
            if envyro_mkdirat(p.fd, name, 0o755) != 0 {
                let e = errno
                if e == EEXIST {
                    throw .system(SystemError("mkdirat", path, errno: e), advice: "a cgroup with this name exists already; use a unique name (ContainerCgroup.uniqueName) or remove the leftover with envyro gc")
                }
                throw .from(SystemError("mkdirat", path, errno: e))
            }
            let fd: Int32
            do {
                fd = try CgroupFS.openDirectory(p.fd, name, shown: path)
            } catch {
                _ = envyro_rmdirat(p.fd, name)
                throw error
            }
            made.append(CgroupDirectory(version: p.version, controllers: p.controllers, mountPoint: p.mountPoint, path: path, fd: fd))
        }

        // v1 cpuset: an empty cpuset.cpus or cpuset.mems refuses tasks; inherit what isn't set.
        if let cpuset = made.first(where: { $0.version == .v1 && $0.controllers.contains(.cpuset) }),
           let parent = parents.first(where: { $0.mountPoint == cpuset.mountPoint }) {
            for (file, value) in [("cpuset.cpus", limits.cpusetCpus), ("cpuset.mems", limits.cpusetMems)] where value == nil {
                let inherited = CgroupFormats.trimmed(try CgroupFS.read(parent.fd, file, shown: parent.shown(file)))
                if inherited.isEmpty {
                    throw .controllerUnavailable(.cpuset, detail: "\(parent.shown(file)) is empty, so a child can't inherit it; set it on the subtree (envyro setup does) or give cpusetCpus/cpusetMems")
                }
                try CgroupFS.write(cpuset.fd, file, inherited, shown: cpuset.shown(file))
            }
        }

        for version in [CgroupVersion.v1, .v2] {
            let dirs = made.filter { $0.version == version }
            if dirs.isEmpty { continue }
            for w in limits.fileWrites(for: version) {
                guard let d = dirs.first(where: { $0.serves(w.controller) }) else { continue }
                try apply(w, in: d)
            }
        }
        try writeUnified(limits.unified, in: made)
        ok = true
        return ContainerCgroup(name: name, subtree: subtree, directories: made)
    }

    /// Writes one limit file, falling back to its alternatives when it doesn't exist.
    static func apply(_ w: CgroupFileWrite, in d: CgroupDirectory) throws(CgroupError) {
        let candidates = [CgroupFileWrite.Alternative(file: w.file, value: w.value)] + w.alternatives
        for (i, c) in candidates.enumerated() {
            do {
                try CgroupFS.write(d.fd, c.file, c.value, shown: d.shown(c.file))
                return
            } catch .system(let e, _) where e.errno == ENOENT && e.call == "openat2" {
                if i + 1 < candidates.count { continue }
                let tried = candidates.map(\.file).joined(separator: " or ")
                let hint: String
                switch w.file {
                case "memory.memsw.limit_in_bytes": hint = "swap accounting is off in this kernel (boot with swapaccount=1), so memorySwapMax can't be enforced; leave it unset"
                case "memory.swap.max": hint = "swap accounting is off in this kernel, so memorySwapMax can't be enforced; leave it unset"
                case "blkio.weight", "io.weight": hint = "the block I/O scheduler offers no weights (use BFQ for weights), so ioWeight can't be enforced; leave it unset"
                default: hint = "the kernel does not offer this limit"
                }
                throw .controllerUnavailable(w.controller, detail: "\(d.path) has no \(tried): \(hint)")
            }
        }
    }

    /// Opens an existing container cgroup `name` beneath `subtree` (for kill, stats, removal
    /// by another process, or `CgroupGC`). Directories missing in some hierarchies are skipped.
    /// - Throws: `system(ENOENT)` when no hierarchy has it.
    public static func open(in subtree: CgroupSubtree, name: String) throws(CgroupError) -> ContainerCgroup {
        try CgroupPath.checkName(name)
        var found: [CgroupDirectory] = []
        var ok = false
        defer { if !ok { for d in found { close(d.fd) } } }
        for p in subtree.directories {
            let path = p.shown(name)
            do {
                let fd = try CgroupFS.openDirectory(p.fd, name, shown: path)
                found.append(CgroupDirectory(version: p.version, controllers: p.controllers, mountPoint: p.mountPoint, path: path, fd: fd))
            } catch .system(let e, _) where e.errno == ENOENT {
                continue
            }
        }
        if found.isEmpty {
            throw .system(SystemError("openat2", subtree.relativePath + "/" + name, errno: ENOENT),
                          advice: "no container cgroup by this name in any hierarchy of the subtree")
        }
        ok = true
        return ContainerCgroup(name: name, subtree: subtree, directories: found)
    }

    // MARK: - Processes

    /// Moves `pid` (and its threads) into the cgroup in every hierarchy. On failure the process
    /// may be in some hierarchies only: the caller must kill it.
    public func attach(pid: Int32) throws(CgroupError) {
        let text = String(pid)
        for d in directories {
            try CgroupFS.write(d.fd, "cgroup.procs", text, shown: d.shown("cgroup.procs"))
        }
    }

    /// The pids in the cgroup and in any cgroups nested below it, from every hierarchy, sorted
    /// and without duplicates (empty once removed).
    public func processes() throws(CgroupError) -> [Int32] {
        var all = Set<Int32>()
        for d in directories {
            try Self.collectPIDs(d.fd, path: d.path, depth: 0, into: &all)
        }
        return all.sorted()
    }

    /// Adds the pids of the cgroup at `fd` and its descendants (at most 32 levels) to `all`.
    static func collectPIDs(_ fd: Int32, path: String, depth: Int, into all: inout Set<Int32>) throws(CgroupError) {
        let text: String
        do {
            text = try CgroupFS.read(fd, "cgroup.procs", shown: path + "/cgroup.procs")
        } catch .system(let e, _) where e.errno == ENOENT || e.errno == ENODEV {
            return  // removed meanwhile
        }
        all.formUnion(try CgroupFormats.parsePIDs(text, file: path + "/cgroup.procs"))
        if depth >= 32 { return }
        let children: [String]
        do {
            children = try CgroupFS.subdirectories(fd, shown: path)
        } catch .system(let e, _) where e.errno == ENOENT || e.errno == ENODEV {
            return
        }
        for child in children where (try? CgroupPath.checkName(child)) != nil {
            let childPath = path + "/" + child
            let childFD: Int32
            do {
                childFD = try CgroupFS.openDirectory(fd, child, shown: childPath)
            } catch .system(let e, _) where e.errno == ENOENT {
                continue
            }
            defer { close(childFD) }
            try collectPIDs(childFD, path: childPath, depth: depth + 1, into: &all)
        }
    }

    /// True while any process is inside (v2 `cgroup.events` populated where there is a v2
    /// directory, else a non-empty `cgroup.procs`).
    public func isPopulated() throws(CgroupError) -> Bool {
        if let v2 = directories.first(where: { $0.version == .v2 }) {
            do {
                let events = try CgroupFormats.parseCgroupEvents(try CgroupFS.read(v2.fd, "cgroup.events", shown: v2.shown("cgroup.events")))
                if events.populated { return true }
            } catch .system(let e, _) where e.errno == ENOENT || e.errno == ENODEV {}
        }
        return !(try processes()).isEmpty
    }

    // MARK: - Stats

    /// Reads what the kernel reports; files that are missing or unreadable leave their field nil.
    public func stats() -> CgroupStats {
        var s = CgroupStats()
        func text(_ d: CgroupDirectory, _ file: String) -> String? {
            try? CgroupFS.read(d.fd, file, shown: d.shown(file))
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
