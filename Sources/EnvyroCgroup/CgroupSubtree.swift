import CEnvyro
import EnvyroSystem
import Glibc

/// One directory of a subtree or a container cgroup: a v1 hierarchy (which may serve several
/// co-mounted controllers) or the v2 directory.
public struct CgroupDirectory: Sendable, Equatable {
    /// v1 or v2.
    public let version: CgroupVersion
    /// The controllers this directory serves for the caller's request.
    public let controllers: Set<CgroupController>
    /// The hierarchy's mount point.
    public let mountPoint: String
    /// The full path, for messages and diagnostics.
    public let path: String
    /// The open directory (O_RDONLY | O_DIRECTORY | O_CLOEXEC).
    public let fd: Int32

    /// `name` beneath this directory, for messages.
    func shown(_ name: String) -> String { path + "/" + name }

    /// The file a freshly cloned (single-threaded) child writes "0" to, to join this cgroup.
    /// v1: `tasks`, which moves only the writing thread. Writing `cgroup.procs` takes the
    /// global cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period
    /// whenever no migration happened in the last one: measured here, 12-16 ms per cold join
    /// through cgroup.procs against 0.02 ms through tasks (the kernel skips that lock when the
    /// writer migrates only itself, since 5.19). A child with one thread is the whole process.
    /// v2: `cgroup.procs` (`cgroup.threads` takes only threaded cgroups), which pays that wait:
    /// so the helper clones a container straight into its v2 directory (clone3
    /// CLONE_INTO_CGROUP, `envyro_container_config.cgroup2_fd`) and the child writes this file
    /// only when the kernel refuses that.
    public var joinFile: String { version == .v1 ? "tasks" : "cgroup.procs" }

    /// True when this directory serves `controller` (`.io` and `.blkio` are one resource).
    public func serves(_ controller: CgroupController) -> Bool {
        controllers.contains(controller)
            || (controller == .io && controllers.contains(.blkio))
            || (controller == .blkio && controllers.contains(.io))
    }
}

/// A delegated subtree root (e.g. `envyro/u1000`), opened once as directory fds: one per v1
/// hierarchy that serves a requested controller, plus the v2 directory when a requested
/// controller lives on v2 (or `includeUnified` asks for it, for `cgroup.kill` and
/// `cgroup.events` on a hybrid host).
///
/// Each directory is resolved from the hierarchy's mount with `openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)`, after the mount was checked
/// to be the cgroup mount mountinfo lists (same device, a `cgroup.procs` at its root); paths are
/// never joined as strings and followed. Unless the caller is
/// root, every directory must be owned by the caller. The fds are closed when the subtree is
/// released.
public final class CgroupSubtree: Sendable {
    /// The path below each mount, e.g. `envyro/u1000`.
    public let relativePath: String
    /// The opened directories.
    public let directories: [CgroupDirectory]
    /// The hierarchy the subtree was opened in.
    public let hierarchy: CgroupHierarchy
    /// Every controller the directories serve.
    public var controllers: Set<CgroupController> { directories.reduce([]) { $0.union($1.controllers) } }
    /// Full paths, for diagnostics.
    public var paths: [String] { directories.map(\.path) }
    /// The v2 directory, if opened.
    public var unifiedDirectory: CgroupDirectory? { directories.first { $0.version == .v2 } }

    init(relativePath: String, directories: [CgroupDirectory], hierarchy: CgroupHierarchy) {
        self.relativePath = relativePath
        self.directories = directories
        self.hierarchy = hierarchy
    }

    deinit {
        for d in directories { close(d.fd) }
    }

    /// `major:minor` of a dev_t, as mountinfo prints it (glibc's gnu_dev_major/minor).
    static func deviceString(_ dev: dev_t) -> String {
        let d = UInt64(dev)
        let major = ((d >> 8) & 0xfff) | ((d >> 32) & ~UInt64(0xfff))
        let minor = (d & 0xff) | ((d >> 12) & ~UInt64(0xff))
        return "\(major):\(minor)"
    }

    /// Opens the subtree at `relativePath` in each hierarchy that serves `controllers`.
    ///
    /// - Parameters:
    ///   - callerUID: whose subtree this must be (default: the real uid). Root (0) may open any.
    ///   - includeUnified: also open the v2 directory when the host mounts cgroup2, even if no
    ///     requested controller lives there (containers then get `cgroup.kill`/`cgroup.events`).
    /// - Throws: `unsafePath` for a refused path or a symlink on it, `controllerUnavailable`
    ///   when a controller is mounted nowhere, `noSubtree` when a directory is missing,
    ///   `notYourSubtree` when one belongs to someone else.
    public static func open(hierarchy: CgroupHierarchy, relativePath: String, controllers: Set<CgroupController>,
                            includeUnified: Bool = false, callerUID: uid_t = getuid()) throws(CgroupError) -> CgroupSubtree {
        _ = try CgroupPath.components(relativePath)
        // Group the controllers by the directory that serves them.
        var groups: [(placement: CgroupPlacement, controllers: Set<CgroupController>)] = []
        for c in controllers.sorted() {
            guard let p = hierarchy.placement(of: c) else {
                throw .controllerUnavailable(c, detail: "no v1 hierarchy has it and the cgroup2 root's cgroup.controllers does not list it (\(hierarchy.summary)); limits that need it can't be applied on this host")
            }
            if let i = groups.firstIndex(where: { $0.placement == p }) {
                groups[i].controllers.insert(c)
            } else {
                groups.append((p, [c]))
            }
        }
        if includeUnified, let unified = hierarchy.unifiedMount, !groups.contains(where: { $0.placement.version == .v2 }) {
            groups.append((CgroupPlacement(version: .v2, mountPoint: unified), []))
        }
        var opened: [CgroupDirectory] = []
        var ok = false
        defer { if !ok { for d in opened { close(d.fd) } } }
        for g in groups {
            let dir = try openDirectory(mountPoint: g.placement.mountPoint, version: g.placement.version,
                                        relativePath: relativePath, callerUID: callerUID,
                                        hierarchyDevice: hierarchy.device(ofMount: g.placement.mountPoint))
            opened.append(CgroupDirectory(version: g.placement.version, controllers: g.controllers,
                                          mountPoint: g.placement.mountPoint, path: dir.path, fd: dir.fd))
        }
        // v2: a child gets a controller only when the parent enables it in subtree_control.
        for d in opened where d.version == .v2 {
            let wanted = Set(d.controllers.compactMap(\.v2Name))
            if !wanted.isEmpty { try enableControllers(wanted, in: d) }
        }
        ok = true
        return CgroupSubtree(relativePath: relativePath, directories: opened, hierarchy: hierarchy)
    }

    /// Opens one mount, checks it is cgroupfs, and resolves `relativePath` beneath it.
    static func openDirectory(mountPoint: String, version: CgroupVersion, relativePath: String,
                              callerUID: uid_t, hierarchyDevice: String) throws(CgroupError) -> (fd: Int32, path: String) {
        let full = mountPoint + "/" + relativePath
        let mountFD = Glibc.open(mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        if mountFD < 0 { throw .noSubtree(path: full, detail: "open(\(mountPoint)): \(Errno.describe(errno))") }
        defer { close(mountFD) }
        try checkMount(mountFD, mountPoint: mountPoint, version: version, device: hierarchyDevice)
        let fd: Int32
        do {
            fd = try CgroupFS.openDirectory(mountFD, relativePath, shown: full)
        } catch .system(let e, _) where e.errno == ENOENT || e.errno == ENOTDIR {
            throw .noSubtree(path: full, detail: "it does not exist")
        }
        if callerUID != 0 {
            let st: Glibc.stat
            do { st = try CgroupFS.stat(fd, shown: full) } catch { close(fd); throw error }
            if st.st_uid != callerUID {
                close(fd)
                throw .notYourSubtree(path: full, owner: st.st_uid, caller: callerUID)
            }
        }
        return (fd, full)
    }

    /// Checks that `fd` is the cgroup mount mountinfo described (same device) and looks like a
    /// cgroup root; anything else mounted over the path is refused.
    static func checkMount(_ mountFD: Int32, mountPoint: String, version: CgroupVersion, device expected: String) throws(CgroupError) {
        let rootStat = try CgroupFS.stat(mountFD, shown: mountPoint)
        if !expected.isEmpty && expected != deviceString(rootStat.st_dev) {
            throw .unsafePath(mountPoint, reason: "the directory there (device \(deviceString(rootStat.st_dev))) is not the cgroup\(version == .v2 ? "2" : "") mount mountinfo lists (device \(expected))")
        }
        guard CgroupFS.exists(mountFD, "cgroup.procs") else {
            throw .unsafePath(mountPoint, reason: "it has no cgroup.procs, so it is not a cgroup filesystem")
        }
    }

    /// Enables `names` in a v2 directory's `cgroup.subtree_control` when they aren't yet.
    static func enableControllers(_ names: Set<String>, in d: CgroupDirectory) throws(CgroupError) {
        let enabled = CgroupHierarchy.parseControllerList(try CgroupFS.read(d.fd, "cgroup.subtree_control", shown: d.shown("cgroup.subtree_control")))
        let missing = names.subtracting(enabled)
        if missing.isEmpty { return }
        let available = CgroupHierarchy.parseControllerList(try CgroupFS.read(d.fd, "cgroup.controllers", shown: d.shown("cgroup.controllers")))
        for name in missing.sorted() where !available.contains(name) {
            let c = CgroupController(rawValue: name) ?? .io
            throw .controllerUnavailable(c, detail: "\(d.shown("cgroup.controllers")) does not list '\(name)'; the parent cgroup must enable it in its cgroup.subtree_control (sudo envyro setup --user NAME does this)")
        }
        try CgroupFS.write(d.fd, "cgroup.subtree_control", missing.sorted().map { "+" + $0 }.joined(separator: " "),
                           shown: d.shown("cgroup.subtree_control"))
    }

    /// The directory serving `controller`, if opened.
    public func directory(for controller: CgroupController) -> CgroupDirectory? {
        directories.first { $0.serves(controller) }
    }
}
