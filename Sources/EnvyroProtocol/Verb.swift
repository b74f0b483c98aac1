/// Message kinds: the wire codes. Requests flow supervisor -> helper; replies flow back carrying
/// the request's `requestID`; events flow helper -> supervisor with `requestID` 0. Everything
/// else the protocol knows about a verb (name, direction, fds, phases, once-only) is its row in
/// `VerbTable` (VerbTable.swift).
public enum Verb: UInt16, Sendable, CaseIterable {
    // requests (supervisor -> helper)
    /// Handshake request (`Hello`).
    case hello = 0x0001
    /// Create and start a container (`CreateRequest`).
    case create = 0x0002
    /// Signal a container's init process (`SignalRequest`).
    case signal = 0x0003
    /// Remove leftover container cgroups of dead supervisors (`CollectRequest`).
    case collect = 0x0004
    /// Create an OCI bundle's container, held until `start` (`OCICreateRequest`).
    case ociCreate = 0x0005
    /// Act on an OCI container: signal, freeze, thaw, destroy, update (`OCIControlRequest`).
    case ociControl = 0x0006
    /// Run a process inside an OCI container (`OCIExecRequest`).
    case ociExec = 0x0007
    // replies (helper -> supervisor)
    /// Answer to `hello` (`HelloReply`).
    case helloReply = 0x8001
    /// Answer to `create` (`Created`).
    case created = 0x8002
    /// Answer to `signal` (`Signalled`).
    case signalled = 0x8003
    /// Answer to `collect` (`Collected`).
    case collected = 0x8004
    /// Answer to `ociControl` (`OCIDone`).
    case ociDone = 0x8006
    /// Failure answer to any request (`Failure`).
    case failed = 0x80FF
    // events (helper -> supervisor, requestID 0)
    /// A container's process exited (`Exited`).
    case exited = 0x9001

    /// True for supervisor -> helper requests.
    public var isRequest: Bool { row.flow == .request }
    /// True for helper -> supervisor replies.
    public var isReply: Bool { row.flow == .reply }
    /// True for unsolicited helper -> supervisor events.
    public var isEvent: Bool { row.flow == .event }

    /// Stable lowercase name, used in audit lines and policies' `helper.verbs`.
    public var name: String { row.name }

    /// Number of file descriptors that must travel with this verb via SCM_RIGHTS.
    public var fileDescriptorCount: Int { row.fileDescriptors }
}

/// Which side of the conversation a decoder is on.
public enum Direction: Sendable {
    /// Helper side: only requests are acceptable.
    case request
    /// Supervisor side: only replies and events are acceptable.
    case replyOrEvent

    /// Whether `verb` flows in this direction.
    public func admits(_ verb: Verb) -> Bool {
        switch self {
        case .request: verb.isRequest
        case .replyOrEvent: verb.isReply || verb.isEvent
        }
    }
}
