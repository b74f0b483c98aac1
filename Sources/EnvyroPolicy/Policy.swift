/// A Linux namespace a policy can require a container to get.
public enum NamespaceKind: String, CaseIterable, Sendable, Hashable {
    /// User namespace (`CLONE_NEWUSER`).
    case user
    /// PID namespace (`CLONE_NEWPID`).
    case pid
    /// Mount namespace (`CLONE_NEWNS`).
    case mount
    /// Hostname/domain namespace (`CLONE_NEWUTS`).
    case uts
    /// System V IPC / POSIX message queue namespace (`CLONE_NEWIPC`).
    case ipc
    /// Cgroup namespace (`CLONE_NEWCGROUP`).
    case cgroup
    /// Network namespace (`CLONE_NEWNET`).
    case network
}

/// How a container is connected to the network.
public enum NetworkMode: String, CaseIterable, Sendable, Hashable {
    /// A fresh network namespace with only loopback.
    case none
    /// The host's network namespace is shared.
    case host
}

/// A request kind the privileged helper may be asked to perform.
public enum HelperVerb: String, CaseIterable, Sendable, Hashable {
    /// The handshake.
    case hello
    /// Create and start a container.
    case create
    /// Signal a container's init process.
    case signal
    /// Remove leftover container cgroups.
    case collect
    /// Create an OCI bundle's container (held until start, outliving the helper).
    case oci_create
    /// Signal, freeze, thaw, destroy or update an OCI container.
    case oci_control
    /// Run a process inside an OCI container.
    case oci_exec
}

/// A validated policy: what containers started under it may and must do.
public struct Policy: Sendable, Equatable {
    /// The policy's name, from the file's `"name"`.
    public var name: String
    /// The path the policy was loaded from.
    public var sourcePath: String
    /// The schema version of the file (currently always 1).
    public var schemaVersion: Int
    /// The file's optional `"description"`.
    public var summary: String?
    /// Namespaces every container must be created with; always includes user, pid and mount.
    public var namespaces: Set<NamespaceKind>
    /// Which network modes may be requested, and the default.
    public var network: NetworkRules
    /// Root filesystem rules.
    public var rootfs: RootfsRules
    /// Rules for the container's process.
    public var process: ProcessRules
    /// Audit log settings.
    public var audit: AuditRules
    /// Limits on the supervisor-to-helper channel.
    public var helper: HelperRules
    /// Cgroup limit defaults, maxima and requirements.
    public var limits: LimitRules
    /// Capabilities containers keep.
    public var capabilities: CapabilityRules
    /// The seccomp profile every container gets.
    public var seccomp: SeccompRules
    /// Masked and read-only paths.
    public var mounts: MountRules
    /// Which id maps may be asked for.
    public var idmap: IDMapRules
    /// Warm pool sizes.
    public var pools: PoolRules
    /// Executor plugins: where their descriptors are and which types may run.
    public var executors: ExecutorRules
    /// Whether the host's root is trusted as runc trusts it (the `"hostRoot"` section): an OCI
    /// bundle of a helper whose caller is the host's root (SO_PEERCRED uid 0, helper in the
    /// initial user namespace) chooses its namespaces (a mount namespace still), capabilities,
    /// seccomp filter and masked paths; the policy's rules for those bind everyone else.
    public var hostRootTrusted: Bool

    /// Creates a policy from its parts. No validation is done; use `PolicyLoader` to read
    /// and validate a file.
    public init(
        name: String,
        sourcePath: String,
        schemaVersion: Int = Policy.currentSchemaVersion,
        summary: String? = nil,
        namespaces: Set<NamespaceKind>,
        network: NetworkRules,
        rootfs: RootfsRules,
        process: ProcessRules,
        audit: AuditRules,
        helper: HelperRules,
        limits: LimitRules = LimitRules(),
        capabilities: CapabilityRules = CapabilityRules(),
        seccomp: SeccompRules = SeccompRules(profile: nil),
        mounts: MountRules = .standard,
        idmap: IDMapRules = IDMapRules(),
        pools: PoolRules = PoolRules(),
        executors: ExecutorRules = ExecutorRules(),
        hostRootTrusted: Bool = false
    ) {
        self.hostRootTrusted = hostRootTrusted
        self.pools = pools
        self.executors = executors
        self.limits = limits
        self.capabilities = capabilities
        self.seccomp = seccomp
        self.mounts = mounts
        self.idmap = idmap
        self.name = name
        self.sourcePath = sourcePath
        self.schemaVersion = schemaVersion
        self.summary = summary
        self.namespaces = namespaces
        self.network = network
        self.rootfs = rootfs
        self.process = process
        self.audit = audit
        self.helper = helper
    }

    /// The only schema version this build understands.
    public static let currentSchemaVersion = 1
}

/// The `"network"` section.
public struct NetworkRules: Sendable, Equatable {
    /// Modes a request may ask for. `none` requires the network namespace.
    public var allowed: Set<NetworkMode>
    /// The mode used when a request does not ask; always a member of `allowed`.
    public var `default`: NetworkMode

    /// Creates network rules.
    public init(allowed: Set<NetworkMode>, default: NetworkMode) {
        self.allowed = allowed
        self.default = `default`
    }

    /// True if `mode` may be requested.
    public func allows(_ mode: NetworkMode) -> Bool { allowed.contains(mode) }
}

/// The `"rootfs"` section.
public struct RootfsRules: Sendable, Equatable {
    /// Whether a container's root filesystem may be mounted writable.
    public var allowWritable: Bool

    /// Creates rootfs rules.
    public init(allowWritable: Bool) {
        self.allowWritable = allowWritable
    }
}

/// The `"process"` section.
public struct ProcessRules: Sendable, Equatable {
    /// Whether `PR_SET_NO_NEW_PRIVS` is forced on.
    public var noNewPrivileges: Bool
    /// Base environment, `NAME=value` entries with unique names.
    public var env: [String]
    /// Whether a request may ask for the minimal init as PID 1.
    public var allowInit: Bool
    /// The largest argv a request may carry.
    public var maxArgs: Int
    /// The largest environment a request may carry.
    public var maxEnv: Int

    /// `maxArgs` when the file does not say.
    public static let defaultMaxArgs = 4096
    /// `maxEnv` when the file does not say.
    public static let defaultMaxEnv = 1024
    /// The range `maxArgs` and `maxEnv` must fall in (`maxEnv` may also be 0).
    public static let countLimit = 131_072

    /// Creates process rules.
    public init(
        noNewPrivileges: Bool,
        env: [String],
        allowInit: Bool,
        maxArgs: Int = ProcessRules.defaultMaxArgs,
        maxEnv: Int = ProcessRules.defaultMaxEnv
    ) {
        self.noNewPrivileges = noNewPrivileges
        self.env = env
        self.allowInit = allowInit
        self.maxArgs = maxArgs
        self.maxEnv = maxEnv
    }
}

/// The `"audit"` section.
public struct AuditRules: Sendable, Equatable {
    /// Absolute path of the audit log, or nil for `"auto"` (the runtime picks its state
    /// directory).
    public var path: String?
    /// Whether a failure to write an audit line refuses the operation. A fail-closed log also
    /// records each state-changing call before it is carried out, and syncs it to disk.
    public var failClosed: Bool
    /// Sync each line to disk (`fdatasync`) before going on; defaults to `failClosed`.
    public var fsync: Bool
    /// Rotate when the file would grow past this many bytes (the chain carries over).
    public var maxBytes: Int
    /// How many rotated files (`audit.jsonl.1` ...) are kept.
    public var keep: Int

    /// Creates audit rules.
    public init(path: String?, failClosed: Bool, fsync: Bool? = nil, maxBytes: Int = 16 << 20, keep: Int = 5) {
        self.path = path
        self.failClosed = failClosed
        self.fsync = fsync ?? failClosed
        self.maxBytes = maxBytes
        self.keep = keep
    }
}

/// The `"helper"` section.
public struct HelperRules: Sendable, Equatable {
    /// The largest frame the helper accepts, in bytes (`frameBytesRange`).
    public var maxFrameBytes: Int
    /// Verbs the helper serves; never empty.
    public var verbs: Set<HelperVerb>

    /// Allowed values of `maxFrameBytes`.
    public static let frameBytesRange = 1024...1_048_576

    /// Creates helper rules.
    public init(maxFrameBytes: Int, verbs: Set<HelperVerb>) {
        self.maxFrameBytes = maxFrameBytes
        self.verbs = verbs
    }
}
