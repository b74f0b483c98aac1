// The helper's column of the verb table (EnvyroProtocol's VerbTable): the handler of each
// request. The permit check (phase, once-only, the policy's list) has run from the same table
// before a handler is called, and the codec has checked the fd count from it, so a handler
// receives exactly the descriptors its row declares (and closes them).
import EnvyroAudit
import EnvyroProtocol
import Glibc

/// A request's handler: the server, the decoded message, the fds that came with it. Nil when
/// the message is not the verb's own (the decoder never produces that).
typealias HelperHandler = (HelperServer, Message, [Int32]) -> Outcome?

extension Verb {
    /// The helper's handler for this verb; nil for replies and events, which it never accepts.
    var handler: HelperHandler? {
        switch self {
        case .hello: { s, m, _ in if case .hello(let r) = m { s.hello(r) } else { nil } }
        case .create: { s, m, fds in if case .create(let r) = m { s.create(r, stdio: fds) } else { nil } }
        case .signal: { s, m, _ in if case .signal(let r) = m { s.signalContainer(r) } else { nil } }
        case .collect: { s, m, _ in if case .collect(let r) = m { s.collect(r) } else { nil } }
        case .ociCreate: { s, m, fds in if case .ociCreate(let r) = m { s.ociCreate(r, fds: fds) } else { nil } }
        case .ociControl: { s, m, _ in if case .ociControl(let r) = m { s.ociControl(r) } else { nil } }
        case .ociExec: { s, m, fds in if case .ociExec(let r) = m { s.ociExec(r, fds: fds) } else { nil } }
        case .helloReply, .created, .signalled, .collected, .ociDone, .failed, .exited: nil
        }
    }
}

extension HelperServer {
    /// `hello`: the connection becomes ready. The client says how it will use this helper.
    func hello(_ hello: Hello) -> Outcome {
        phase = .ready
        // Only a long-running supervisor reuses a helper, so only it gets prewarmed containers.
        prewarming = hello.modes.contains(.prewarm)
        oneShot = hello.modes.contains(.oneShot)
        // The OCI commands' helpers live for one command, on an engine's hot path: they
        // leave collecting dead helpers' cgroups to the others (and `envyro gc`).
        if hello.modes.contains(.oci) { cgroups.skipCollection() }
        return Outcome(
            reply: .helloReply(HelloReply(helperPID: getpid(), policyName: policy.name, privileged: geteuid() == 0)),
            decision: .allowed, result: "ok", detail: "client \(hello.client)")
    }
}
