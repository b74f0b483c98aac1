// Reply and event payloads the helper sends back: hello reply, created, signalled, failure, exited and collected.

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

    /// Empty, or what the limits came to without a cgroup: what is enforced by rlimits, and
    /// what is not (`limits.withoutCgroup: "rlimits"`). The client shows it.
    public var limitNote: String

    /// At most this many steps are sent.
    public static let maxSteps = 16

    /// Memberwise initialiser.
    public init(containerID: UInt32, pid: Int32, prewarmed: Bool = false, prewarmedDiscarded: UInt32 = 0,
                networkNamespace: NetworkNamespaceUse = .own, networkNamespacesDiscarded: UInt32 = 0, steps: [HelperStep] = [],
                limitNote: String = "") {
        self.limitNote = limitNote
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
        w.string(limitNote)
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
        let limitNote = try r.string("limitNote")
        return Created(containerID: containerID, pid: pid, prewarmed: prewarmed, prewarmedDiscarded: discarded,
                       networkNamespace: networkNamespace, networkNamespacesDiscarded: netnsDiscarded, steps: steps,
                       limitNote: limitNote)
    }

    /// Semantic checks (none).
    public func validate() throws(ProtocolError) {}
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
