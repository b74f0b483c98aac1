import CEnvyro
import Glibc

/// Network namespaces a daemon helper makes once and clones container after container into
/// (netns_pool.c says why that is no weaker than a fresh one each time). Used only by helpers
/// that hold CAP_SYS_ADMIN in their own user namespace (root's): for any other the first
/// attempt fails with EPERM and the pool turns itself off, and each container makes its own.
struct NetnsPool {
    /// What a namespace was made for: `lowPorts` sets ip_unprivileged_port_start to 0, for
    /// containers that keep CAP_NET_BIND_SERVICE.
    enum Flavor: Int { case plain = 0, lowPorts = 1 }

    /// Idle namespaces kept per flavor (the policy's `pools.networkNamespaces`; 0: no pool).
    let limit: Int
    /// This thread's own network namespace, which every call returns to (-1: not opened yet).
    private var home: Int32 = -1
    /// The pool is off (policy), or this helper may not make namespaces (EPERM).
    private var off: Bool
    private var idle: [[Int32]] = [[], []]
    /// Since the last `Created`, reported in it.
    private var discardedSinceReport: UInt32 = 0

    /// Whether containers may get pooled namespaces (false once the helper turned out unable to
    /// make them, or with no pool).
    var pooling: Bool { !off }

    init(limit: Int) {
        self.limit = limit
        off = limit == 0
    }

    /// A namespace for a container: an idle one (`reused`), or one made now. nil when there is
    /// no pool (the container then makes its own).
    mutating func take(_ flavor: Flavor) -> (fd: Int32, home: Int32, reused: Bool)? {
        guard !off else { return nil }
        if home < 0 {
            home = envyro_netns_current()
            if home < 0 { off = true; return nil }
        }
        if let fd = idle[flavor.rawValue].popLast() { return (fd, home, true) }
        let fd = envyro_netns_create(home, flavor == .lowPorts ? 1 : 0)
        if fd < 0 {
            // Not permitted (an unprivileged helper): never again. Anything else: this once.
            if errno == EPERM { off = true }
            return nil
        }
        return (fd, home, false)
    }

    /// A container that had `fd` has ended (or never ran): the namespace goes back to the pool
    /// if it holds no socket and there is room, else it is closed (and freed by the kernel).
    mutating func giveBack(_ fd: Int32, _ flavor: Flavor) {
        guard fd >= 0 else { return }
        if idle[flavor.rawValue].count < limit, envyro_netns_idle(fd, home) == 1 {
            idle[flavor.rawValue].append(fd)
            return
        }
        discardedSinceReport &+= 1
        close(fd)
    }

    /// Closes every idle namespace (at shutdown).
    mutating func closeAll() {
        for list in idle { for fd in list { close(fd) } }
        idle = [[], []]
        if home >= 0 { close(home); home = -1 }
    }

    /// The discards since the last report, reset to zero.
    mutating func takeDiscardCount() -> UInt32 {
        defer { discardedSinceReport = 0 }
        return discardedSinceReport
    }
}
