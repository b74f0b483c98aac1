import CEnvyro
import EnvyroSystem

/// The names envyro accepts in a config.json, one table each. The reader checks names
/// against these tables and `OCIFeatures` lists them, so the two can't drift apart.

/// Linux capability names as OCI writes them (`CAP_CHOWN`), indexed by capability number.
public enum OCICapabilities {
    /// `CAP_*` names for capabilities 0 through 40; the index is the number.
    public static var names: [String] { CapabilitySet.allNames }

    /// The capability number for a `CAP_*` name, or nil if envyro does not know it.
    public static func number(of name: String) -> Int? { CapabilitySet.number(of: name).map(Int.init) }

    /// A mask with bit n set for each named capability n; unknown names (which the reader
    /// never lets through) are skipped.
    public static func mask(of names: [String]) -> UInt64 { CapabilitySet(names: names).rawValue }
}

/// Resource limit names (`RLIMIT_NOFILE`), indexed by their `setrlimit` resource number.
public enum OCIRlimits {
    /// `RLIMIT_*` names for resources 0 through 15; the index is the resource number.
    public static let names: [String] = [
        "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
        "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
    ]

    /// The `setrlimit` resource number for an `RLIMIT_*` name, or nil if unknown.
    public static func resource(of name: String) -> Int32? {
        names.firstIndex(of: name).map { Int32($0) }
    }
}

extension OCIConfig {
    /// A namespace type envyro can create or join.
    public enum NamespaceType: String, Sendable, Hashable, CaseIterable {
        /// Process ids.
        case pid
        /// Network devices, addresses, ports.
        case network
        /// The mount table.
        case mount
        /// System V IPC and POSIX message queues.
        case ipc
        /// Hostname and domain name.
        case uts
        /// User and group ids, capabilities.
        case user
        /// The cgroup root.
        case cgroup
        /// CLOCK_MONOTONIC and CLOCK_BOOTTIME offsets (Linux 5.6).
        case time

        /// The `CLONE_NEW*` flag for this namespace.
        public var cloneFlag: UInt32 {
            switch self {
            case .pid: UInt32(ENVYRO_CLONE_NEWPID)
            case .network: UInt32(ENVYRO_CLONE_NEWNET)
            case .mount: UInt32(ENVYRO_CLONE_NEWNS)
            case .ipc: UInt32(ENVYRO_CLONE_NEWIPC)
            case .uts: UInt32(ENVYRO_CLONE_NEWUTS)
            case .user: UInt32(ENVYRO_CLONE_NEWUSER)
            case .cgroup: UInt32(ENVYRO_CLONE_NEWCGROUP)
            case .time: UInt32(ENVYRO_CLONE_NEWTIME)
            }
        }

        /// The name under `/proc/<pid>/ns/` ("net" for network, "mnt" for mount).
        public var procName: String {
            switch self {
            case .network: "net"
            case .mount: "mnt"
            default: rawValue
            }
        }
    }

    /// The points in a container's life where hooks run, in the spec's order.
    public enum HookKind: String, Sendable, Hashable, CaseIterable {
        /// Deprecated: after the namespaces exist, before pivot_root (runtime namespace).
        case prestart
        /// After the namespaces exist, before pivot_root, in the runtime namespace.
        case createRuntime
        /// Before pivot_root, in the container's namespaces.
        case createContainer
        /// Just before the user process runs, in the container's namespaces.
        case startContainer
        /// After the user process has started, in the runtime namespace.
        case poststart
        /// After the container is deleted, in the runtime namespace.
        case poststop
    }
}
