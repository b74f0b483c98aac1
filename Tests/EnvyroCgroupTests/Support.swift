import CEnvyro
import EnvyroSystem
import Glibc
import Synchronization
import Testing
@testable import EnvyroCgroup

/// Helpers for the root integration tests: processes started with posix_spawn (never fork in
/// Swift) and per-test subtrees under `envyro/test-<pid>-<tag>` that are always removed.
enum Support {
    static let isRoot = getuid() == 0
    static let rootReason = "needs root to create cgroups under /sys/fs/cgroup/*/envyro (run the tests as root)"

    /// Spawns `argv` (argv[0] is an absolute path) and returns its pid.
    static func spawn(_ argv: [String]) throws -> pid_t {
        var pid: pid_t = 0
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cargs.append(nil)
        defer { for p in cargs { free(p) } }
        let rc = posix_spawn(&pid, argv[0], nil, nil, cargs, envyro_environ())
        if rc != 0 { throw SystemError("posix_spawn", argv[0], errno: rc) }
        return pid
    }

    /// How a child ended.
    enum Exit: Equatable { case exited(Int32), signaled(Int32) }

    /// Waits for `pid` (a child of this process).
    static func wait(_ pid: pid_t) -> Exit {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7f == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(status & 0x7f)
    }

    /// Runs `argv` to completion.
    static func run(_ argv: [String]) throws -> Exit { try wait(spawn(argv)) }

    /// True while `pid` exists (as a process or an unreaped zombie).
    static func exists(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 }

    /// Reads a file as text, trimmed; nil when it can't be read.
    static func read(_ path: String) -> String? {
        guard let bytes = try? Files.read(path, limit: 1 << 20) else { return nil }
        return CgroupFormats.trimmed(String(decoding: bytes, as: UTF8.self))
    }

    /// The hierarchy of this host.
    static func hierarchy() throws -> CgroupHierarchy { try CgroupHierarchy.detect() }

    /// Creates `envyro/test-<pid>-<tag>` in every hierarchy, runs `body` with its relative
    /// path, and removes it afterwards (killing anything left in container cgroups first),
    /// whatever happened.
    @discardableResult
    static func withTestSubtree<T>(_ tag: String, _ body: (CgroupHierarchy, String) throws -> T) throws -> T {
        let h = try hierarchy()
        _ = topLevelSnapshot
        let name = "test-\(getpid())-\(tag)"
        try CgroupDelegation.createSubtree(hierarchy: h, name: name, uid: 0, gid: 0)
        defer { cleanUp(h, name) }
        return try body(h, "envyro/" + name)
    }

    /// The `envyro` directories that didn't exist before the first test subtree was made; an
    /// atexit handler removes them again if they are empty (rmdir refuses otherwise), so a test
    /// run leaves the hierarchies as it found them.
    static let topLevelSnapshot: Bool = {
        guard let h = try? hierarchy() else { return false }
        let created = CgroupDelegation.mounts(of: h).map { $0.mountPoint + "/envyro" }.filter { Files.kind($0) == .missing }
        createdTopLevel.withLock { $0 = created }
        atexit {
            for path in Support.createdTopLevel.withLock({ $0 }) { _ = rmdir(path) }
        }
        return true
    }()
    static let createdTopLevel = Mutex<[String]>([])

    /// Removes a test subtree: container cgroups first (killing what's inside), then the rest.
    static func cleanUp(_ h: CgroupHierarchy, _ name: String) {
        let all: Set<CgroupController> = [.memory, .pids, .cpu, .cpuacct, .cpuset, .freezer]
        if let subtree = try? CgroupSubtree.open(hierarchy: h, relativePath: "envyro/" + name, controllers: all, includeUnified: true) {
            var names = Set<String>()
            for d in subtree.directories {
                for n in (try? CgroupFS.subdirectories(d.fd, shown: d.path)) ?? [] { names.insert(n) }
            }
            for n in names {
                if let c = try? ContainerCgroup.open(in: subtree, name: n) { try? c.remove() }
            }
        }
        do {
            try CgroupDelegation.removeSubtree(hierarchy: h, name: name)
        } catch {
            Issue.record("cleanup of envyro/\(name) failed: \(error)")
        }
    }
}
