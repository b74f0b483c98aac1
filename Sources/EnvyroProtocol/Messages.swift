/// Network mode requested for a container.
public enum NetworkModeWire: UInt8, Sendable {
    /// A fresh, empty network namespace (loopback only).
    case none = 0
    /// Share the host's network namespace.
    case host = 1
}

/// Namespaces to unshare for a container. Bits outside `all` are invalid on the wire.
public struct NamespaceSet: OptionSet, Sendable, Hashable {
    /// Raw bit mask.
    public var rawValue: UInt32
    /// Creates a set from its raw bit mask.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// CLONE_NEWUSER.
    public static let user = NamespaceSet(rawValue: 1 << 0)
    /// CLONE_NEWPID.
    public static let pid = NamespaceSet(rawValue: 1 << 1)
    /// CLONE_NEWNS.
    public static let mount = NamespaceSet(rawValue: 1 << 2)
    /// CLONE_NEWUTS.
    public static let uts = NamespaceSet(rawValue: 1 << 3)
    /// CLONE_NEWIPC.
    public static let ipc = NamespaceSet(rawValue: 1 << 4)
    /// CLONE_NEWCGROUP.
    public static let cgroup = NamespaceSet(rawValue: 1 << 5)
    /// CLONE_NEWNET.
    public static let network = NamespaceSet(rawValue: 1 << 6)
    /// Every namespace the protocol knows.
    public static let all: NamespaceSet = [.user, .pid, .mount, .uts, .ipc, .cgroup, .network]
}

/// Internal conformance shared by all payload types.
protocol WirePayload: Sendable {
    func encode(into w: inout WireWriter)
    static func decode(from r: inout WireReader) throws(ProtocolError) -> Self
    func validate() throws(ProtocolError)
}

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

// HelloReply (verb 0x8001), payload:
//   helperPID i32 | policyName string (u32 len + UTF-8) | privileged bool (u8 0/1)
/// Handshake answer from the helper.
public struct HelloReply: Sendable, Equatable, WirePayload {
    /// The helper's pid.
    public var helperPID: Int32
    /// Name of the policy the helper enforces.
    public var policyName: String
    /// Whether the helper runs with real privilege (setuid / capabilities).
    public var privileged: Bool

    /// Memberwise initialiser.
    public init(helperPID: Int32, policyName: String, privileged: Bool) {
        self.helperPID = helperPID
        self.policyName = policyName
        self.privileged = privileged
    }

    func encode(into w: inout WireWriter) {
        w.i32(helperPID)
        w.string(policyName)
        w.bool(privileged)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> HelloReply {
        HelloReply(helperPID: try r.i32("helperPID"), policyName: try r.string("policyName"), privileged: try r.bool("privileged"))
    }

    /// Semantic checks (none beyond string rules).
    public func validate() throws(ProtocolError) {
        try checkString(policyName, "policyName")
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
    /// Command line; non-empty, argv[0] non-empty.
    public var argv: [String]
    /// Environment as "KEY=value" strings; each must contain "=".
    public var env: [String]
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
        rootfsWritable: Bool, argv: [String], env: [String], cwd: String, useInit: Bool,
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
        return CreateRequest(
            namespaces: NamespaceSet(rawValue: rawNS),
            network: network,
            hostname: try r.string("hostname"),
            rootfs: try r.string("rootfs"),
            rootfsWritable: try r.bool("rootfsWritable"),
            argv: try r.strings("argv"),
            env: try r.strings("env"),
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
        guard let first = argv.first else { throw .invalidValue(field: "argv", reason: "empty") }
        guard !first.isEmpty else { throw .invalidValue(field: "argv[0]", reason: "empty") }
        try checkList(env, "env")
        for (i, e) in env.enumerated() where !e.utf8.contains(UInt8(ascii: "=")) {
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

/// One step of the helper's work on a request, and how long it took.
public struct HelperStep: Sendable, Equatable {
    /// What it was ("audit intent (synced)", "clone", ...).
    public var name: String
    public var micros: UInt32

    public init(name: String, micros: UInt32) {
        self.name = name
        self.micros = micros
    }
}

/// Where a container's network namespace came from.
public enum NetworkNamespaceUse: UInt8, Sendable {
    /// Made for it alone (or it has none: host network).
    case own = 0
    /// A daemon helper's pooled namespace, used by an earlier container and found clean.
    case pooledReused = 1
    /// A daemon helper's pooled namespace, made for this container (the pool had none idle).
    case pooledNew = 2
}

// Created (verb 0x8002), payload:
//   containerID u32 | pid i32 | prewarmed bool (u8 0/1) | prewarmedDiscarded u32 |
//   networkNamespace u8 (NetworkNamespaceUse) | networkNamespacesDiscarded u32 |
//   stepCount u32 (at most 16) | stepCount x (name string | micros u32)
/// Successful answer to `create`.
public struct Created: Sendable, Equatable, WirePayload {
    /// Helper-assigned container id.
    public var containerID: UInt32
    /// Host pid of the container's first process.
    public var pid: Int32
    /// It was prepared ahead of the request (a daemon helper's prewarmed container).
    public var prewarmed: Bool
    /// Prewarmed containers the helper threw away since its previous `Created` (they failed
    /// to prepare, were gone when used, or were evicted to make room): the pool's discards.
    public var prewarmedDiscarded: UInt32
    /// Where its network namespace came from.
    public var networkNamespace: NetworkNamespaceUse
    /// Pooled network namespaces the helper closed since its previous `Created` instead of
    /// reusing them (a socket was left in one, or the pool was full).
    public var networkNamespacesDiscarded: UInt32
    /// Where the helper's time went, step by step, in microseconds (`--timings`).
    public var steps: [HelperStep]

    /// At most this many steps are sent.
    public static let maxSteps = 16

    /// Memberwise initialiser.
    public init(containerID: UInt32, pid: Int32, prewarmed: Bool = false, prewarmedDiscarded: UInt32 = 0,
                networkNamespace: NetworkNamespaceUse = .own, networkNamespacesDiscarded: UInt32 = 0, steps: [HelperStep] = []) {
        self.containerID = containerID
        self.pid = pid
        self.prewarmed = prewarmed
        self.prewarmedDiscarded = prewarmedDiscarded
        self.networkNamespace = networkNamespace
        self.networkNamespacesDiscarded = networkNamespacesDiscarded
        self.steps = steps
    }

    func encode(into w: inout WireWriter) {
        w.u32(containerID)
        w.i32(pid)
        w.bool(prewarmed)
        w.u32(prewarmedDiscarded)
        w.u8(networkNamespace.rawValue)
        w.u32(networkNamespacesDiscarded)
        let sent = steps.prefix(Self.maxSteps)
        w.u32(UInt32(sent.count))
        for s in sent {
            w.string(s.name)
            w.u32(s.micros)
        }
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> Created {
        let containerID = try r.u32("containerID"), pid = try r.i32("pid"), prewarmed = try r.bool("prewarmed")
        let discarded = try r.u32("prewarmedDiscarded")
        let use = try r.u8("networkNamespace")
        guard let networkNamespace = NetworkNamespaceUse(rawValue: use) else {
            throw .invalidValue(field: "networkNamespace", reason: "unknown value \(use)")
        }
        let netnsDiscarded = try r.u32("networkNamespacesDiscarded")
        let count = try r.u32("stepCount")
        guard count <= UInt32(maxSteps) else { throw .invalidValue(field: "stepCount", reason: "\(count) is more than \(maxSteps)") }
        var steps: [HelperStep] = []
        for i in 0..<Int(count) {
            steps.append(HelperStep(name: try r.string("steps", index: i), micros: try r.u32("steps[\(i)].micros")))
        }
        return Created(containerID: containerID, pid: pid, prewarmed: prewarmed, prewarmedDiscarded: discarded,
                       networkNamespace: networkNamespace, networkNamespacesDiscarded: netnsDiscarded, steps: steps)
    }

    /// Semantic checks (none).
    public func validate() throws(ProtocolError) {}
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

// Signalled (verb 0x8003), payload:
//   containerID u32
/// Successful answer to `signal`.
public struct Signalled: Sendable, Equatable, WirePayload {
    /// The container that was signalled.
    public var containerID: UInt32

    /// Memberwise initialiser.
    public init(containerID: UInt32) { self.containerID = containerID }

    func encode(into w: inout WireWriter) { w.u32(containerID) }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> Signalled {
        Signalled(containerID: try r.u32("containerID"))
    }

    /// Semantic checks (none).
    public func validate() throws(ProtocolError) {}
}

// Failure (verb 0x80FF), payload:
//   errno i32 | step u16 (a FailureStep) | message string (u32 len + UTF-8)
/// Failure answer to any request.
public struct Failure: Sendable, Equatable, WirePayload {
    /// errno of the failing call (0 if not a syscall failure).
    public var errno: Int32
    /// The step that failed.
    public var step: FailureStep
    /// Human-readable detail.
    public var message: String

    /// Memberwise initialiser.
    public init(errno: Int32, step: FailureStep, message: String) {
        self.errno = errno
        self.step = step
        self.message = message
    }

    func encode(into w: inout WireWriter) {
        w.i32(errno)
        w.u16(step.rawValue)
        w.string(message)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> Failure {
        let errno = try r.i32("errno")
        let raw = try r.u16("step")
        guard let step = FailureStep(rawValue: raw) else {
            throw .invalidValue(field: "step", reason: "unknown step 0x\(String(raw, radix: 16))")
        }
        return Failure(errno: errno, step: step, message: try r.string("message"))
    }

    /// Semantic checks (none beyond string rules).
    public func validate() throws(ProtocolError) {
        try checkString(message, "message")
    }
}

// Exited (verb 0x9001, requestID 0), payload:
//   containerID u32 | exitCode i32 | signal i32 (0 = normal exit, else 1...64) | coreDumped bool (u8 0/1)
//   | usage ResourceUsage: 8 x i64 (-1 = unknown): userCPUMicros, systemCPUMicros, maxRSSKiB,
//     memoryPeakBytes, memoryLimitBytes, oomKills, pidsPeak, cpuUsageNanos
/// Event: a container's process exited.
public struct Exited: Sendable, Equatable, WirePayload {
    /// The container whose process exited.
    public var containerID: UInt32
    /// Exit status (meaningful when `signal` is 0).
    public var exitCode: Int32
    /// Terminating signal, or 0 if it exited normally.
    public var signal: Int32
    /// Whether a core was dumped.
    public var coreDumped: Bool
    /// What the container used (from rusage and its cgroup).
    public var usage: ResourceUsage

    /// Memberwise initialiser.
    public init(containerID: UInt32, exitCode: Int32, signal: Int32, coreDumped: Bool, usage: ResourceUsage = ResourceUsage()) {
        self.usage = usage
        self.containerID = containerID
        self.exitCode = exitCode
        self.signal = signal
        self.coreDumped = coreDumped
    }

    func encode(into w: inout WireWriter) {
        w.u32(containerID)
        w.i32(exitCode)
        w.i32(signal)
        w.bool(coreDumped)
        usage.encode(into: &w)
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> Exited {
        Exited(
            containerID: try r.u32("containerID"), exitCode: try r.i32("exitCode"),
            signal: try r.i32("signal"), coreDumped: try r.bool("coreDumped"),
            usage: try ResourceUsage.decode(from: &r))
    }

    /// Checks the signal is 0 or 1...64.
    public func validate() throws(ProtocolError) {
        guard signal == 0 || ProtocolLimits.signalRange.contains(signal) else {
            throw .invalidValue(field: "signal", reason: "\(signal) not 0 or in 1...64")
        }
    }
}

/// Checks the wire rules for a string the encoder is about to send: ≤ 65535 bytes, no NUL.
func checkString(_ s: String, _ field: String) throws(ProtocolError) {
    guard s.utf8.count <= ProtocolLimits.maxStringBytes else {
        throw .invalidValue(field: field, reason: "string exceeds \(ProtocolLimits.maxStringBytes) bytes")
    }
    guard !s.utf8.contains(0) else { throw .invalidString(field: field) }
}

func checkList(_ list: [String], _ field: String) throws(ProtocolError) {
    guard list.count <= ProtocolLimits.maxListCount else {
        throw .invalidValue(field: field, reason: "list exceeds \(ProtocolLimits.maxListCount) entries")
    }
    for (i, s) in list.enumerated() { try checkString(s, "\(field)[\(i)]") }
}

/// Any protocol message, tagged by verb.
public enum Message: Sendable, Equatable {
    /// `Verb.hello`.
    case hello(Hello)
    /// `Verb.create`.
    case create(CreateRequest)
    /// `Verb.signal`.
    case signal(SignalRequest)
    /// `Verb.collect`.
    case collect(CollectRequest)
    /// `Verb.collected`.
    case collected(Collected)
    /// `Verb.helloReply`.
    case helloReply(HelloReply)
    /// `Verb.created`.
    case created(Created)
    /// `Verb.signalled`.
    case signalled(Signalled)
    /// `Verb.failed`.
    case failed(Failure)
    /// `Verb.exited`.
    case exited(Exited)
    /// `Verb.ociCreate`.
    case ociCreate(OCICreateRequest)
    /// `Verb.ociControl`.
    case ociControl(OCIControlRequest)
    /// `Verb.ociExec`.
    case ociExec(OCIExecRequest)
    /// `Verb.ociDone`.
    case ociDone(OCIDone)

    /// The verb this message travels under.
    public var verb: Verb {
        switch self {
        case .hello: .hello
        case .create: .create
        case .signal: .signal
        case .collect: .collect
        case .collected: .collected
        case .helloReply: .helloReply
        case .created: .created
        case .signalled: .signalled
        case .failed: .failed
        case .exited: .exited
        case .ociCreate: .ociCreate
        case .ociControl: .ociControl
        case .ociExec: .ociExec
        case .ociDone: .ociDone
        }
    }

    var payload: any WirePayload {
        switch self {
        case .hello(let m): m
        case .create(let m): m
        case .signal(let m): m
        case .collect(let m): m
        case .collected(let m): m
        case .helloReply(let m): m
        case .created(let m): m
        case .signalled(let m): m
        case .failed(let m): m
        case .exited(let m): m
        case .ociCreate(let m): m
        case .ociControl(let m): m
        case .ociExec(let m): m
        case .ociDone(let m): m
        }
    }

    /// Applies the same semantic rules the decoder enforces (string limits, argv/env/cwd, signal ranges).
    public func validate() throws(ProtocolError) {
        try payload.validate()
    }

    static func decodePayload(_ verb: Verb, from r: inout WireReader) throws(ProtocolError) -> Message {
        switch verb {
        case .hello: .hello(try Hello.decode(from: &r))
        case .create: .create(try CreateRequest.decode(from: &r))
        case .signal: .signal(try SignalRequest.decode(from: &r))
        case .collect: .collect(try CollectRequest.decode(from: &r))
        case .collected: .collected(try Collected.decode(from: &r))
        case .helloReply: .helloReply(try HelloReply.decode(from: &r))
        case .created: .created(try Created.decode(from: &r))
        case .signalled: .signalled(try Signalled.decode(from: &r))
        case .failed: .failed(try Failure.decode(from: &r))
        case .exited: .exited(try Exited.decode(from: &r))
        case .ociCreate: .ociCreate(try OCICreateRequest.decode(from: &r))
        case .ociControl: .ociControl(try OCIControlRequest.decode(from: &r))
        case .ociExec: .ociExec(try OCIExecRequest.decode(from: &r))
        case .ociDone: .ociDone(try OCIDone.decode(from: &r))
        }
    }
}

/// A decoded frame: correlation id plus message.
public struct Frame: Sendable, Equatable {
    /// Request correlation id; replies echo the request's id, events use 0.
    public var requestID: UInt32
    /// The message carried.
    public var message: Message

    /// Memberwise initialiser.
    public init(requestID: UInt32, message: Message) {
        self.requestID = requestID
        self.message = message
    }

    /// Shorthand for `message.verb`.
    public var verb: Verb { message.verb }
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

// Collected (verb 0x8004), payload: removed string list
/// Answer to `collect`: what was removed.
public struct Collected: Sendable, Equatable, WirePayload {
    /// Paths of the cgroups removed.
    public var removed: [String]

    /// Memberwise initialiser.
    public init(removed: [String]) { self.removed = removed }

    func encode(into w: inout WireWriter) { w.strings(removed) }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> Collected {
        Collected(removed: try r.strings("removed"))
    }

    /// Checks the strings.
    public func validate() throws(ProtocolError) { try checkList(removed, "removed") }
}
