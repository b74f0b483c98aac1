import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem

/// Everything that can go wrong in a run, each with the message a user sees and the exit
/// status `envyro` returns (125 for envyro's own errors, 126/127 as a shell would for a
/// command that can't run, as docker and podman do).
public enum SupervisorError: Error, Sendable, CustomStringConvertible {
    /// A bad option or argument; `message` names it and says what to do.
    case invalidRequest(String)
    /// The policy file could not be loaded.
    case policy(PolicyError)
    /// The request asks for more than the policy allows.
    case notAllowed(String)
    /// The helper binary is missing or not executable.
    case helperMissing(path: String, errno: Int32)
    /// The helper exited or closed its socket.
    case helperGone(detail: String)
    /// The helper sent something that is not a valid reply.
    case protocolViolation(detail: String)
    /// The helper refused or failed a step.
    case helperFailure(step: FailureStep, errno: Int32, message: String)
    /// The command could not be found in the container (exit 127).
    case commandNotFound(String)
    /// The command could not be executed (exit 126).
    case commandNotExecutable(String, errno: Int32)
    /// User namespaces are disabled on this machine.
    case userNamespacesDisabled(detail: String)
    /// A system call failed in the supervisor.
    case system(SystemError)

    /// The exit status `envyro` returns for this error.
    public var exitCode: Int32 {
        switch self {
        case .commandNotFound: 127
        case .commandNotExecutable: 126
        default: 125
        }
    }

    public var description: String {
        switch self {
        case .invalidRequest(let m): return m
        case .policy(let e): return "\(e)"
        case .notAllowed(let m): return m
        case .helperMissing(let path, let e):
            return "the helper \(path) is missing or not executable (\(Errno.describe(e))); build it with `swift build` or reinstall envyro"
        case .helperGone(let d): return "the helper exited unexpectedly: \(d)"
        case .protocolViolation(let d): return "the helper sent an invalid frame: \(d)"
        case .helperFailure(let step, _, let m):
            return step == .policy ? "refused by the helper: \(m)" : m
        case .commandNotFound(let c): return "\(c): command not found"
        case .commandNotExecutable(let c, let e): return "\(c): \(Errno.describe(e))"
        case .userNamespacesDisabled(let d): return d
        case .system(let e): return "\(e)"
        }
    }
}
