// The helper protocol as a table, as OpenSSH's monitor keeps one (`mon_dispatch_proto20`:
// `{type, flags, handler}` with MON_PERMIT / MON_ONCE). One row per verb says everything the
// two sides agree on: its name, which way it flows, how many fds travel with it, in which of the
// helper's phases it is permitted, and whether it is permitted once per connection. The codec
// checks fd counts and direction from it; the helper's server permits and dispatches from it
// (its handlers are the helper-side column, in EnvyroHelper's `HelperVerbs`).
//
// The rows are a switch over `Verb`, so the compiler proves there is exactly one per verb.

/// Which way a verb travels.
public enum Flow: Sendable, Equatable {
    /// Supervisor -> helper; answered by a reply with the same request id.
    case request
    /// Helper -> supervisor, answering a request.
    case reply
    /// Helper -> supervisor, unsolicited (request id 0).
    case event
}

/// The phases of a helper connection in which a request is permitted.
public struct HelperPhases: OptionSet, Sendable, Hashable {
    /// The raw bits.
    public var rawValue: UInt8
    /// From raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Before `hello`: only the handshake.
    public static let greeting = HelperPhases(rawValue: 1 << 0)
    /// After `hello`: the work verbs (each also gated by the policy's `helper.verbs`).
    public static let ready = HelperPhases(rawValue: 1 << 1)
}

/// One verb's row.
public struct VerbRow: Sendable, Equatable {
    /// Stable lowercase name (audit lines, policies' `helper.verbs`).
    public var name: String
    /// Which way it travels.
    public var flow: Flow
    /// File descriptors that travel with it (SCM_RIGHTS), exactly.
    public var fileDescriptors: Int
    /// Phases in which the helper accepts it; empty for replies and events.
    public var phases: HelperPhases
    /// Accepted at most once per connection (MON_ONCE).
    public var once: Bool
    /// Whether the policy's `helper.verbs` must list it to be permitted (the handshake is not).
    public var policyListed: Bool
    /// How many more fds may follow the fixed ones (`--preserve-fds`); the payload says exactly
    /// how many (`WireProcessExtras.preserveFDs`), and the helper checks the two agree.
    public var extraFileDescriptors: Int = 0

    init(_ name: String, _ flow: Flow, fds: Int = 0, phases: HelperPhases = [], once: Bool = false, policyListed: Bool = false,
         extraFDs: Int = 0) {
        self.extraFileDescriptors = extraFDs
        self.name = name
        self.flow = flow
        self.fileDescriptors = fds
        self.phases = phases
        self.once = once
        self.policyListed = policyListed
    }
}

extension Verb {
    /// This verb's row of `VerbTable`.
    public var row: VerbRow {
        switch self {
        //                      name           flow      fds       phases              once
        case .hello: VerbRow("hello", .request, fds: 0, phases: .greeting, once: true)
        case .create: VerbRow("create", .request, fds: 3, phases: .ready, policyListed: true)   // stdin, stdout, stderr
        case .signal: VerbRow("signal", .request, fds: 0, phases: .ready, policyListed: true)
        case .collect: VerbRow("collect", .request, fds: 0, phases: .ready, policyListed: true)
        case .ociCreate: VerbRow("oci_create", .request, fds: 5, phases: .ready, policyListed: true,   // stdio, start socket, console
                                 extraFDs: Int(WireProcessExtras.maxPreservedFDs))                     // then --preserve-fds
        case .ociControl: VerbRow("oci_control", .request, fds: 0, phases: .ready, policyListed: true)
        case .ociExec: VerbRow("oci_exec", .request, fds: 4, phases: .ready, policyListed: true,   // stdio, console
                               extraFDs: Int(WireProcessExtras.maxPreservedFDs))                 // then --preserve-fds
        case .helloReply: VerbRow("hello_reply", .reply)
        case .created: VerbRow("created", .reply)
        case .signalled: VerbRow("signalled", .reply)
        case .collected: VerbRow("collected", .reply)
        case .ociDone: VerbRow("oci_done", .reply)
        case .failed: VerbRow("failed", .reply)
        case .exited: VerbRow("exited", .event)
        }
    }
}

/// The helper protocol's verbs, one row each.
public enum VerbTable {
    /// Every verb with its row, in wire-code order.
    public static let rows: [(verb: Verb, row: VerbRow)] = Verb.allCases.map { ($0, $0.row) }

    /// Why a request is not permitted in `phase` (given the verbs already served once, and the
    /// policy's list of verb names), or nil when it is.
    public static func refusal(_ verb: Verb, phase: HelperPhases, served: Set<Verb>, policyVerbs: [String], policyName: String) -> String? {
        let row = verb.row
        if row.flow != .request { return "not a request" }
        if !row.phases.isSuperset(of: phase) {
            if phase == .greeting { return "not permitted before hello" }
            return row.once ? "\(row.name) is permitted once" : "\(row.name) is not permitted now"
        }
        if row.once && served.contains(verb) { return "\(row.name) is permitted once" }
        if row.policyListed && !policyVerbs.contains(row.name) { return "verb not permitted by policy \(policyName)" }
        return nil
    }
}
