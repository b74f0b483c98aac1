import EnvyroSystem
import Glibc

/// Removes container cgroups left behind by runs whose owner died (envyro SIGKILLed, a helper
/// crash): what `envyro gc` and the start of every run do.
public enum CgroupGC {
    /// Removes every container cgroup under `subtree` whose name was made by
    /// `ContainerCgroup.uniqueName` and whose owner process is gone (pid not running, or running
    /// with another start time, i.e. reused). Processes still inside are killed first. Names
    /// without the `c-` prefix, or with it but without an owner, are left alone. Returns the
    /// names removed, sorted.
    ///
    /// - Parameter isOwnerAlive: decides liveness of an owner (pid, start time); tests pass
    ///   their own.
    public static func collect(subtree: CgroupSubtree,
                               isOwnerAlive: (Int32, UInt64) -> Bool = CgroupGC.ownerIsAlive) throws(CgroupError) -> [String] {
        var names = Set<String>()
        for d in subtree.directories {
            for name in try CgroupFS.subdirectories(d.fd, shown: d.path) where name.hasPrefix(ContainerCgroup.namePrefix) {
                names.insert(name)
            }
        }
        var removed: [String] = []
        for name in names.sorted() {
            guard (try? CgroupPath.checkName(name)) != nil,
                  let owner = ContainerCgroup.owner(ofName: name),
                  !isOwnerAlive(owner.pid, owner.startTime) else { continue }
            let cgroup: ContainerCgroup
            do {
                cgroup = try ContainerCgroup.open(in: subtree, name: name)
            } catch .system(let e, _) where e.errno == ENOENT {
                continue  // removed concurrently
            }
            try cgroup.remove()
            removed.append(name)
        }
        return removed
    }

    /// True when `pid` runs and started at `startTime` (clock ticks since boot, as
    /// `ContainerCgroup.uniqueName` records it).
    public static func ownerIsAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard let actual = ContainerCgroup.processStartTime(pid) else { return false }
        return actual == startTime
    }
}
