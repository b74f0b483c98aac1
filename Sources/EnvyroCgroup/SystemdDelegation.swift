import CEnvyro
import EnvyroSystem
import Glibc

/// cgroup v2 with systemd: a user's `user@UID.service` cgroup is delegated to them (systemd's
/// `Delegate=yes`), so a rootless run can have limits with no setup. Envyro makes one directory
/// of its own there, `…/user@UID.service/envyro`, enables the controllers systemd delegated in
/// its `cgroup.subtree_control`, and puts container cgroups below it. (On this design's v1 and
/// hybrid hosts the per-controller subtree made by `envyro setup` is used instead.)
public enum SystemdDelegation {
    /// The delegated service cgroup of `uid` (relative to the unified mount) from the text of
    /// /proc/self/cgroup: the `0::` line's path up to its `user@UID.service` component, or nil.
    public static func servicePath(procSelfCgroup text: String, uid: uid_t) -> String? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::/") }) else { return nil }
        let components = line.dropFirst(3).split(separator: "/")
        guard let i = components.firstIndex(where: { $0 == "user@\(uid).service" }) else { return nil }
        return components[...i].joined(separator: "/")
    }

    /// The caller's subtree under its delegated service cgroup, created (with the delegated
    /// controllers enabled for its children) when missing; nil when this host or process has
    /// none. Paths are resolved beneath the unified mount with openat2(RESOLVE_BENEATH).
    public static func subtree(hierarchy: CgroupHierarchy, uid: uid_t) throws(CgroupError) -> String? {
        guard hierarchy.isUnifiedOnly, let mount = hierarchy.unifiedMount,
              let text = try? Files.read("/proc/self/cgroup", limit: 1 << 16),
              let service = servicePath(procSelfCgroup: String(decoding: text, as: UTF8.self), uid: uid) else { return nil }
        for c in service.split(separator: "/") { try CgroupPath.checkName(String(c), in: service) }
        let mountFD = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard mountFD >= 0 else { throw .current("open", mount) }
        defer { close(mountFD) }
        let serviceFD = envyro_openat2_beneath(mountFD, service, O_RDONLY | O_DIRECTORY, 0)
        guard serviceFD >= 0 else { throw .current("open", mount + "/" + service) }
        defer { close(serviceFD) }
        var st = stat()
        guard fstat(serviceFD, &st) == 0, st.st_uid == uid else {
            throw .notYourSubtree(path: mount + "/" + service, owner: st.st_uid, caller: uid)
        }
        if envyro_mkdirat(serviceFD, "envyro", 0o755) != 0 && errno != EEXIST { throw .current("mkdir", mount + "/" + service + "/envyro") }
        let ours = envyro_openat2_beneath(serviceFD, "envyro", O_RDONLY | O_DIRECTORY, 0)
        guard ours >= 0 else { throw .current("open", mount + "/" + service + "/envyro") }
        defer { close(ours) }
        // Enable, for envyro's children, what systemd delegated to the service.
        let delegated = CgroupHierarchy.parseControllerList((try? CgroupFS.read(serviceFD, "cgroup.subtree_control", shown: service)) ?? "")
        let wanted = delegated.intersection(["memory", "pids", "cpu", "cpuset", "io"])
        if !wanted.isEmpty {
            try CgroupFS.write(ours, "cgroup.subtree_control", wanted.sorted().map { "+" + $0 }.joined(separator: " "),
                               shown: mount + "/" + service + "/envyro/cgroup.subtree_control")
        }
        return service + "/envyro"
    }
}
