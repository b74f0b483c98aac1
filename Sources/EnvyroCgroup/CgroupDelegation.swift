import CEnvyro
import EnvyroSystem
import Glibc

/// What `envyro setup --user NAME` (run as root) does: creates the user's subtree
/// `envyro/u<uid>` in every hierarchy Envyro uses and hands it over per the kernel's delegation
/// rules (Documentation/admin-guide/cgroup-v2.rst, "Delegation").
///
/// - v1: in each hierarchy serving memory, pids, cpu, cpuacct, cpuset, blkio or freezer, the
///   directory and its `cgroup.procs`, `tasks` and `cgroup.clone_children` are chowned to
///   uid:gid. The limit files of `envyro/u<uid>` itself stay root's, so the user can't raise the
///   subtree's own limits; in cpuset, `cpuset.cpus`/`cpuset.mems` are copied down so children
///   can take tasks.
/// - v2 (when cgroup2 is mounted): the directory and its `cgroup.procs`, `cgroup.threads` and
///   `cgroup.subtree_control` are chowned; the controllers that `envyro` has available are
///   enabled in `envyro/cgroup.subtree_control` and in the user's own. The root cgroup's
///   `cgroup.subtree_control` is never written: what the host enables there is what Envyro gets.
///
/// Nothing outside the top-level `envyro` directory is created, written or removed.
public enum CgroupDelegation {
    /// The top-level directory Envyro owns in every hierarchy.
    public static let topLevel = "envyro"

    /// The subtree of `uid`: `envyro/u<uid>`, or `envyro/root` for root (no delegation needed).
    public static func subtreePath(uid: uid_t) -> String {
        uid == 0 ? "\(topLevel)/root" : "\(topLevel)/u\(uid)"
    }

    /// v1 controllers Envyro uses (the hierarchies it creates subtrees in).
    static let usedControllers: [CgroupController] = [.memory, .pids, .cpu, .cpuacct, .cpuset, .blkio, .freezer, .devices]
    /// v2 controllers Envyro enables in its own subtree_control files.
    static let usedV2Controllers: Set<String> = ["memory", "pids", "cpu", "cpuset", "io"]

    /// Creates and delegates `subtreePath(uid:)`; returns the full paths handed over. Safe to
    /// run again (existing directories are kept and chowned again).
    @discardableResult
    public static func delegate(hierarchy: CgroupHierarchy, uid: uid_t, gid: gid_t) throws(CgroupError) -> [String] {
        try createSubtree(hierarchy: hierarchy, name: uid == 0 ? "root" : "u\(uid)", uid: uid, gid: gid)
    }

    /// Removes `subtreePath(uid:)` and the empty cgroups below it in every hierarchy; returns
    /// the paths removed. Throws `stillPopulated` when a process is still inside (run
    /// `CgroupGC` first).
    @discardableResult
    public static func undelegate(hierarchy: CgroupHierarchy, uid: uid_t) throws(CgroupError) -> [String] {
        try removeSubtree(hierarchy: hierarchy, name: uid == 0 ? "root" : "u\(uid)")
    }

    /// The mounts a subtree lives in: one per v1 hierarchy Envyro uses, and cgroup2 if mounted.
    static func mounts(of hierarchy: CgroupHierarchy) -> [CgroupPlacement] {
        var out: [CgroupPlacement] = []
        for c in usedControllers {
            if let m = hierarchy.v1Mount(for: c) {
                let p = CgroupPlacement(version: .v1, mountPoint: m.mountPoint)
                if !out.contains(p) { out.append(p) }
            }
        }
        if let u = hierarchy.unifiedMount { out.append(CgroupPlacement(version: .v2, mountPoint: u)) }
        return out
    }

    /// True when `envyro/<name>` is a directory in every hierarchy Envyro uses: root's helper
    /// checks this at each start (one stat per hierarchy) and makes the subtree only when it is
    /// missing, instead of re-making it (measured: 3-4% of an OCI `run`'s CPU, twice).
    public static func subtreeExists(hierarchy: CgroupHierarchy, name: String) -> Bool {
        mounts(of: hierarchy).allSatisfy { m in
            var st = stat()
            return lstat(m.mountPoint + "/" + topLevel + "/" + name, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
        }
    }

    /// Creates `envyro/<name>` in every hierarchy Envyro uses and hands it to uid:gid (no
    /// chown for 0:0). Used by `delegate` (`u<uid>`, `root`) and by tests (`test-<pid>`).
    @discardableResult
    public static func createSubtree(hierarchy: CgroupHierarchy, name: String, uid: uid_t, gid: gid_t) throws(CgroupError) -> [String] {
        try CgroupPath.checkName(name)
        var paths: [String] = []
        for m in mounts(of: hierarchy) {
            let mountFD = try openMount(m, hierarchy: hierarchy)
            defer { close(mountFD) }
            let top = try makeOwnedDirectory(parent: mountFD, parentPath: m.mountPoint, name: topLevel, version: m.version)
            defer { close(top.fd) }
            let sub = try makeOwnedDirectory(parent: top.fd, parentPath: top.path, name: name, version: m.version)
            defer { close(sub.fd) }
            if uid != 0 || gid != 0 {
                let files = m.version == .v1
                    ? ["cgroup.procs", "tasks", "cgroup.clone_children"]
                    : ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"]
                if fchown(sub.fd, uid, gid) != 0 { throw .current("fchown", sub.path) }
                for f in files where CgroupFS.exists(sub.fd, f) {
                    try CgroupFS.chown(sub.fd, f, uid: uid, gid: gid, shown: sub.path + "/" + f)
                }
            }
            paths.append(sub.path)
        }
        return paths
    }

    /// Removes `envyro/<name>` and every (empty) cgroup below it; returns the removed paths.
    @discardableResult
    public static func removeSubtree(hierarchy: CgroupHierarchy, name: String) throws(CgroupError) -> [String] {
        try CgroupPath.checkName(name)
        var removed: [String] = []
        for m in mounts(of: hierarchy) {
            let mountFD = try openMount(m, hierarchy: hierarchy)
            defer { close(mountFD) }
            let topPath = m.mountPoint + "/" + topLevel
            let topFD: Int32
            do {
                topFD = try CgroupFS.openDirectory(mountFD, topLevel, shown: topPath)
            } catch .system(let e, _) where e.errno == ENOENT {
                continue
            }
            defer { close(topFD) }
            if CgroupFS.exists(topFD, name) {
                try removeTree(parent: topFD, name: name, path: topPath + "/" + name, depth: 0, removed: &removed)
            }
        }
        return removed
    }

    /// Depth-first removal of `name` beneath `parent`; refuses populated cgroups.
    static func removeTree(parent: Int32, name: String, path: String, depth: Int, removed: inout [String]) throws(CgroupError) {
        if depth > 32 { throw .unsafePath(path, reason: "nested deeper than 32 levels") }
        let fd = try CgroupFS.openDirectory(parent, name, shown: path)
        do throws(CgroupError) {
            for child in try CgroupFS.subdirectories(fd, shown: path) {
                try CgroupPath.checkName(child, in: path + "/" + child)
                try removeTree(parent: fd, name: child, path: path + "/" + child, depth: depth + 1, removed: &removed)
            }
            let pids = try CgroupFormats.parsePIDs(try CgroupFS.read(fd, "cgroup.procs", shown: path + "/cgroup.procs"))
            if !pids.isEmpty { throw CgroupError.stillPopulated(path: path, pids: pids) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        try CgroupFS.rmdir(parent, name, shown: path)
        removed.append(path)
    }

    /// Opens a hierarchy's mount, checked as in `CgroupSubtree.open`.
    static func openMount(_ m: CgroupPlacement, hierarchy: CgroupHierarchy) throws(CgroupError) -> Int32 {
        let fd = Glibc.open(m.mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 { throw .current("open", m.mountPoint) }
        do {
            try CgroupSubtree.checkMount(fd, mountPoint: m.mountPoint, version: m.version, device: hierarchy.device(ofMount: m.mountPoint))
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// mkdirat (keeping an existing directory), opened beneath `parent`, and prepared so that
    /// children work: v1 cpuset gets the parent's cpus/mems when empty, v2 gets Envyro's
    /// controllers enabled in its subtree_control. An existing directory not owned by root is
    /// refused (only root may create cgroups at these levels).
    static func makeOwnedDirectory(parent: Int32, parentPath: String, name: String, version: CgroupVersion) throws(CgroupError) -> (fd: Int32, path: String) {
        let path = parentPath + "/" + name
        try CgroupFS.mkdir(parent, name, shown: path)
        let fd = try CgroupFS.openDirectory(parent, name, shown: path)
        do throws(CgroupError) {
            let st = try CgroupFS.stat(fd, shown: path)
            if st.st_uid != 0 && name == topLevel {
                throw CgroupError.notYourSubtree(path: path, owner: st.st_uid, caller: 0)
            }
            switch version {
            case .v1:
                if CgroupFS.exists(fd, "cpuset.cpus") {
                    for file in ["cpuset.cpus", "cpuset.mems"] {
                        let own = CgroupFormats.trimmed(try CgroupFS.read(fd, file, shown: path + "/" + file))
                        if own.isEmpty {
                            let inherited = CgroupFormats.trimmed(try CgroupFS.read(parent, file, shown: parentPath + "/" + file))
                            try CgroupFS.write(fd, file, inherited, shown: path + "/" + file)
                        }
                    }
                }
            case .v2:
                let available = CgroupHierarchy.parseControllerList(try CgroupFS.read(fd, "cgroup.controllers", shown: path + "/cgroup.controllers"))
                let enabled = CgroupHierarchy.parseControllerList(try CgroupFS.read(fd, "cgroup.subtree_control", shown: path + "/cgroup.subtree_control"))
                let missing = available.intersection(usedV2Controllers).subtracting(enabled)
                if !missing.isEmpty {
                    try CgroupFS.write(fd, "cgroup.subtree_control", missing.sorted().map { "+" + $0 }.joined(separator: " "),
                                       shown: path + "/cgroup.subtree_control")
                }
            }
        } catch {
            close(fd)
            throw error
        }
        return (fd, path)
    }
}
