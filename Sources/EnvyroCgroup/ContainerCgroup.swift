// A container's cgroup: its stats type, names, create and open, and its processes; stats, kill, freeze, update and remove are in ContainerCgroupControl.swift.

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
    /// Its files, kept open once it is pooled (CgroupOpenFiles.swift).
    let openFiles = CgroupOpenFiles()

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

        try applyLimits(limits, in: made)
        ok = true
        return ContainerCgroup(name: name, subtree: subtree, directories: made)
    }

    /// Writes every limit file of `limits` in `dirs`, v1 then v2, each in the order the kernel needs.
    /// `cgroup`: the cgroup they belong to, whose kept files are used (a pooled one's).
    static func applyLimits(_ limits: CgroupLimits, in dirs: [CgroupDirectory], cgroup: ContainerCgroup? = nil) throws(CgroupError) {
        for version in [CgroupVersion.v1, .v2] {
            let these = dirs.filter { $0.version == version }
            if these.isEmpty { continue }
            for w in limits.fileWrites(for: version) {
                guard let d = these.first(where: { $0.serves(w.controller) }) else { continue }
                try apply(w, in: d, cgroup: cgroup)
            }
        }
        try writeUnified(limits.unified, in: dirs)
    }

    /// Writes one limit file, falling back to its alternatives when it doesn't exist.
    static func apply(_ w: CgroupFileWrite, in d: CgroupDirectory, cgroup: ContainerCgroup? = nil) throws(CgroupError) {
        let candidates = [CgroupFileWrite.Alternative(file: w.file, value: w.value)] + w.alternatives
        for (i, c) in candidates.enumerated() {
            do {
                if let cgroup { try cgroup.writeFile(d, c.file, c.value) } else { try CgroupFS.write(d.fd, c.file, c.value, shown: d.shown(c.file)) }
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
}
