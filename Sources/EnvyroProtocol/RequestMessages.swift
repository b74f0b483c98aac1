// Request payloads a supervisor sends the helper: hello, create, signal and collect.

// Hello (verb 0x0001), payload:
//   protocolVersion u16 | client string (u32 len + UTF-8) | modes u8 (bits within HelloModes.all)
/// How the connecting supervisor will use the helper, said explicitly (the helper never reads
/// meaning into the client's name).
public struct HelloModes: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public var rawValue: UInt8
    /// From raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A long-running supervisor that reuses this helper: it prepares containers ahead of runs
    /// (prewarmed members, pooled network namespaces).
    public static let prewarm = HelloModes(rawValue: 1 << 0)
    /// An OCI command's helper, living for one command on an engine's hot path: it leaves
    /// collecting dead helpers' cgroups to the others (and `envyro gc`).
    public static let oci = HelloModes(rawValue: 1 << 1)
    /// `envyro run` without a daemon: one container, then the helper exits by itself once it
    /// has sent that container's `exited` (its cleanup overlaps the client's; the client only
    /// reaps it).
    public static let oneShot = HelloModes(rawValue: 1 << 2)
    /// Every defined bit.
    public static let all: HelloModes = [.prewarm, .oci, .oneShot]
}

/// Handshake request from the supervisor.
public struct Hello: Sendable, Equatable, WirePayload {
    /// Protocol version the client speaks.
    public var protocolVersion: UInt16
    /// Free-form client identification (e.g. "envyro 0.1"), for the audit line only.
    public var client: String
    /// How the client will use the helper.
    public var modes: HelloModes

    /// Memberwise initialiser.
    public init(protocolVersion: UInt16 = ProtocolLimits.version, client: String, modes: HelloModes = []) {
        self.protocolVersion = protocolVersion
        self.client = client
        self.modes = modes
    }

    func encode(into w: inout WireWriter) {
        w.u16(protocolVersion)
        w.string(client)
        w.u8(modes.rawValue)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> Hello {
        Hello(protocolVersion: try r.u16("protocolVersion"), client: try r.string("client"),
              modes: HelloModes(rawValue: try r.u8("modes")))
    }

    /// Semantic checks: string rules, and no mode bit this protocol does not define.
    public func validate() throws(ProtocolError) {
        try checkString(client, "client")
        if !HelloModes.all.isSuperset(of: modes) {
            throw .invalidValue(field: "modes", reason: "unknown bits 0x\(String(modes.subtracting(.all).rawValue, radix: 16))")
        }
    }
}

// CreateRequest (verb 0x0002, carries 3 fds: stdin, stdout, stderr), payload:
//   namespaces u32 (bits within NamespaceSet.all) | network u8 (0 none, 1 host)
//   | hostname string | rootfs string | rootfsWritable bool (u8 0/1)
//   | argv string list (u32 count + strings) | env string list (u32 count + strings)
//   | cwd string | useInit bool (u8 0/1)
//   | limits LimitSet (see Resources.swift) | uidMappings (u32 count + count x IDMapping)
//   | gidMappings (same) | seccomp blob (u32 length + BPF bytes, a multiple of 8)
//   | capabilities u64 (bit n = capability n asked for; the helper grants the intersection
//     with its policy)
/// Request to create and start a container.
public struct CreateRequest: Sendable, Equatable, WirePayload {
    /// Namespaces to unshare.
    public var namespaces: NamespaceSet
    /// Network mode.
    public var network: NetworkModeWire
    /// Container hostname (at most 64 bytes; may be empty).
    public var hostname: String
    /// Root filesystem path; "" means the built-in default rootfs.
    public var rootfs: String
    /// Whether the rootfs is mounted read-write.
    public var rootfsWritable: Bool
    /// Command line; non-empty, argv[0] non-empty. A reference to the run's secret bytes (the
    /// supervisor's context, the helper's decoded request), never `String` copies.
    public var argv: SecretStrings
    /// Environment as "KEY=value" strings; each must contain "=". Secret, as `argv`.
    public var env: SecretStrings
    /// Absolute working directory inside the container.
    public var cwd: String
    /// Whether to run a minimal init as pid 1.
    public var useInit: Bool
    /// Cgroup limits (empty: no cgroup unless the policy requires limits).
    public var limits: LimitSet
    /// uid_map lines; empty means the single-id map (container root = the caller).
    public var uidMappings: [IDMapping]
    /// gid_map lines; empty means the single-id map.
    public var gidMappings: [IDMapping]
    /// An extra seccomp BPF program stacked on the policy's own (it can only restrict more).
    public var seccomp: [UInt8]
    /// Capabilities asked for (bit n = capability n); the policy's set caps them.
    public var capabilities: UInt64

    /// Memberwise initialiser.
    public init(
        namespaces: NamespaceSet, network: NetworkModeWire, hostname: String, rootfs: String,
        rootfsWritable: Bool, argv: SecretStrings, env: SecretStrings, cwd: String, useInit: Bool,
        limits: LimitSet = LimitSet(), uidMappings: [IDMapping] = [], gidMappings: [IDMapping] = [],
        seccomp: [UInt8] = [], capabilities: UInt64 = .max
    ) {
        self.limits = limits
        self.uidMappings = uidMappings
        self.gidMappings = gidMappings
        self.seccomp = seccomp
        self.capabilities = capabilities
        self.namespaces = namespaces
        self.network = network
        self.hostname = hostname
        self.rootfs = rootfs
        self.rootfsWritable = rootfsWritable
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.useInit = useInit
    }

    func encode(into w: inout WireWriter) {
        w.u32(namespaces.rawValue)
        w.u8(network.rawValue)
        w.string(hostname)
        w.string(rootfs)
        w.bool(rootfsWritable)
        w.strings(argv)
        w.strings(env)
        w.string(cwd)
        w.bool(useInit)
        limits.encode(into: &w)
        w.u32(UInt32(truncatingIfNeeded: uidMappings.count))
        for m in uidMappings { m.encode(into: &w) }
        w.u32(UInt32(truncatingIfNeeded: gidMappings.count))
        for m in gidMappings { m.encode(into: &w) }
        w.blob(seccomp)
        w.u64(capabilities)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> CreateRequest {
        let rawNS = try r.u32("namespaces")
        guard rawNS & ~NamespaceSet.all.rawValue == 0 else {
            throw .invalidValue(field: "namespaces", reason: "unknown namespace bits 0x\(String(rawNS, radix: 16))")
        }
        let rawNet = try r.u8("network")
        guard let network = NetworkModeWire(rawValue: rawNet) else {
            throw .invalidValue(field: "network", reason: "unknown network mode \(rawNet)")
        }
        let hostname = try r.string("hostname"), rootfs = try r.string("rootfs"), writable = try r.bool("rootfsWritable")
        // argv and env go into one arena of their own, zeroed when the request is dropped (in
        // the helper: once the container has been spawned).
        let argv = SecretStrings(), env = SecretStrings(arena: argv.arena)
        try r.strings("argv", into: argv)
        try r.strings("env", into: env)
        return CreateRequest(
            namespaces: NamespaceSet(rawValue: rawNS),
            network: network,
            hostname: hostname,
            rootfs: rootfs,
            rootfsWritable: writable,
            argv: argv,
            env: env,
            cwd: try r.string("cwd"),
            useInit: try r.bool("useInit"),
            limits: try LimitSet.decode(from: &r),
            uidMappings: try IDMapping.decodeList(from: &r, "uidMappings"),
            gidMappings: try IDMapping.decodeList(from: &r, "gidMappings"),
            seccomp: try r.blob("seccomp", max: ProtocolLimits.maxSeccompBytes),
            capabilities: try r.u64("capabilities")
        )
    }

    /// Checks namespace bits, hostname length, argv, env and cwd rules.
    public func validate() throws(ProtocolError) {
        guard namespaces.isSubset(of: .all) else {
            throw .invalidValue(field: "namespaces", reason: "unknown namespace bits")
        }
        try checkString(hostname, "hostname")
        guard hostname.utf8.count <= ProtocolLimits.maxHostnameBytes else {
            throw .invalidValue(field: "hostname", reason: "longer than \(ProtocolLimits.maxHostnameBytes) bytes")
        }
        try checkString(rootfs, "rootfs")
        try checkList(argv, "argv")
        guard !argv.isEmpty else { throw .invalidValue(field: "argv", reason: "empty") }
        guard argv[0].count > 0 else { throw .invalidValue(field: "argv[0]", reason: "empty") }
        try checkList(env, "env")
        for i in 0..<env.count where !env[i].contains(UInt8(ascii: "=")) {
            throw .invalidValue(field: "env[\(i)]", reason: "missing '='")
        }
        try checkString(cwd, "cwd")
        guard cwd.utf8.first == UInt8(ascii: "/") else {
            throw .invalidValue(field: "cwd", reason: "not absolute")
        }
        try limits.validate()
        try IDMapping.validate(uidMappings, "uidMappings")
        try IDMapping.validate(gidMappings, "gidMappings")
        guard seccomp.count % 8 == 0, seccomp.count <= ProtocolLimits.maxSeccompBytes else {
            throw .invalidValue(field: "seccomp", reason: "a BPF program is a multiple of 8 bytes, at most \(ProtocolLimits.maxSeccompBytes)")
        }
    }
}

// SignalRequest (verb 0x0003), payload:
//   containerID u32 | signal i32 (1...64)
/// Request to deliver a signal to a container.
public struct SignalRequest: Sendable, Equatable, WirePayload {
    /// Target container.
    public var containerID: UInt32
    /// Signal number, 1...64.
    public var signal: Int32

    /// Memberwise initialiser.
    public init(containerID: UInt32, signal: Int32) {
        self.containerID = containerID
        self.signal = signal
    }

    func encode(into w: inout WireWriter) {
        w.u32(containerID)
        w.i32(signal)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> SignalRequest {
        SignalRequest(containerID: try r.u32("containerID"), signal: try r.i32("signal"))
    }

    /// Checks the signal number is in 1...64.
    public func validate() throws(ProtocolError) {
        guard ProtocolLimits.signalRange.contains(signal) else {
            throw .invalidValue(field: "signal", reason: "\(signal) not in 1...64")
        }
    }
}

// CollectRequest (verb 0x0004), payload: dryRun bool (u8 0/1)
/// Request to remove leftover container cgroups (of supervisors and helpers that died) in the
/// caller's own subtree.
public struct CollectRequest: Sendable, Equatable, WirePayload {
    /// Only list what would be removed.
    public var dryRun: Bool

    /// Memberwise initialiser.
    public init(dryRun: Bool = false) { self.dryRun = dryRun }

    func encode(into w: inout WireWriter) { w.bool(dryRun) }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> CollectRequest {
        CollectRequest(dryRun: try r.bool("dryRun"))
    }

    /// Nothing to check.
    public func validate() throws(ProtocolError) {}
}
