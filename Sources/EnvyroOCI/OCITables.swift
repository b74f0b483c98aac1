/// The names envyro accepts in a config.json, one table each. The reader checks names
/// against these tables and `OCIFeatures` lists them, so the two can't drift apart.

/// Linux capability names as OCI writes them (`CAP_CHOWN`), indexed by capability number.
public enum OCICapabilities {
    /// `CAP_*` names for capabilities 0 through 40; the index is the number.
    public static let names: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
        "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ]

    private static let numbers: [String: Int] = {
        var map: [String: Int] = [:]
        for (i, name) in names.enumerated() { map[name] = i }
        return map
    }()

    /// The capability number for a `CAP_*` name, or nil if envyro does not know it.
    public static func number(of name: String) -> Int? { numbers[name] }

    /// A mask with bit n set for each named capability n; unknown names (which the reader
    /// never lets through) are skipped.
    public static func mask(of names: [String]) -> UInt64 {
        names.reduce(0) { mask, name in numbers[name].map { mask | 1 << UInt64($0) } ?? mask }
    }
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
    /// A namespace type envyro can create or join. `time` is refused by name.
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

        /// The `CLONE_NEW*` flag for this namespace.
        public var cloneFlag: UInt32 {
            switch self {
            case .pid: 0x2000_0000
            case .network: 0x4000_0000
            case .mount: 0x0002_0000
            case .ipc: 0x0800_0000
            case .uts: 0x0400_0000
            case .user: 0x1000_0000
            case .cgroup: 0x0200_0000
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
