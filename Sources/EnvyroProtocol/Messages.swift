// Protocol message glue: namespace and network types, the WirePayload conformance, the Message enum and its codec, and Frame; payloads live in RequestMessages.swift and ReplyMessages.swift.

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

/// `checkList` for a secret list, on its bytes.
func checkList(_ list: SecretStrings, _ field: String) throws(ProtocolError) {
    guard list.count <= ProtocolLimits.maxListCount else {
        throw .invalidValue(field: field, reason: "list exceeds \(ProtocolLimits.maxListCount) entries")
    }
    for i in 0..<list.count {
        guard list[i].count <= ProtocolLimits.maxStringBytes else {
            throw .invalidValue(field: "\(field)[\(i)]", reason: "string exceeds \(ProtocolLimits.maxStringBytes) bytes")
        }
        if list[i].contains(0) { throw .invalidString(field: "\(field)[\(i)]") }
    }
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
