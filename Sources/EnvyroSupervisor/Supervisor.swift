import CEnvyro
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// How a run ended.
public struct RunOutcome: Sendable, Equatable {
    /// The workload's exit status, or 128+N when it died of signal N.
    public var exitCode: Int32
    /// The signal that killed it, or 0.
    public var signal: Int32
    /// `--timeout` expired and the container was killed.
    public var timedOut: Bool
    /// The container's first process, as the host sees it.
    public var pid: Int32
    /// Wall time from the create request to the exit event, in nanoseconds.
    public var wallNanoseconds: UInt64
}

/// The supervisor embedded in `envyro run`: loads the policy, plans the run, starts the helper
/// and drives one container through it, forwarding signals and enforcing the timeout.
public final class EmbeddedSupervisor {
    /// The policy name or path given to the helper (it loads and checks it itself).
    public let policyReference: String
    /// The helper executable.
    public let helperPath: String
    private let searchDirectories: [String]
    private var loadedPolicy: Policy?

    /// Prepares a supervisor for `policy` (a name or a path) with the helper next to this
    /// executable. Nothing is loaded or started until the first run.
    public init(policy reference: String, helperPath: String? = nil) {
        let exe = Files.executablePath()
        searchDirectories = PolicyLoader.searchDirectories(executablePath: exe, allowEnvironment: true)
        // A path is handed to the helper absolute, so both sides read the same file.
        if PolicyLoader.isPath(reference) {
            policyReference = (try? Files.realPath(reference)) ?? reference
        } else {
            policyReference = reference
        }
        self.helperPath = helperPath ?? Self.locateHelper(executablePath: exe)
    }

    /// The policy runs are planned under, loaded on first use.
    public func policy() throws(SupervisorError) -> Policy {
        if let p = loadedPolicy { return p }
        do {
            let p = try PolicyLoader.load(policyReference, searchDirectories: searchDirectories)
            loadedPolicy = p
            return p
        } catch {
            throw .policy(error)
        }
    }

    /// `$ENVYRO_NSHELPER`, else `envyro-nshelper` beside the executable, else
    /// `../libexec/envyro/envyro-nshelper` from it (the installed layout).
    public static func locateHelper(executablePath: String) -> String {
        if let p = Environment.get("ENVYRO_NSHELPER"), !p.isEmpty { return p }
        let dir = Files.directory(of: executablePath)
        let beside = dir + "/envyro-nshelper"
        if access(beside, X_OK) == 0 { return beside }
        let installed = Files.directory(of: dir) + "/libexec/envyro/envyro-nshelper"
        if access(installed, X_OK) == 0 { return installed }
        return beside
    }

    /// Runs `request` with `stdio` as the container's fds 0-2. Job-control signals read from
    /// `signalFD` (see `envyro_signalfd_for_forwarding`) are forwarded to the container; a
    /// second SIGINT or SIGTERM kills it.
    public func run(_ request: RunRequest, stdio: [Int32], signalFD: Int32?) throws(SupervisorError) -> RunOutcome {
        // The helper starts first and says hello while this process loads the policy and plans
        // the run: its start-up overlaps ours. If planning fails, closing the socket ends it.
        let helper = try HelperProcess(path: helperPath, policy: policyReference)
        defer { helper.close() }
        let helloID = try helper.send(.hello(Hello(client: "envyro")))
        let create = try RunPlanner.plan(request, policy: try policy())
        let hello = try helper.waitReply(helloID)
        switch hello {
        case .helloReply: break
        case .failed(let f): throw .helperFailure(step: f.step, errno: f.errno, message: f.message)
        default: throw unexpected(hello, helper)
        }

        let started = Clock.monotonicNanoseconds()
        let reply = try helper.call(.create(create), fds: stdio)
        let created: Created
        switch reply {
        case .created(let c): created = c
        case .failed(let f): throw Self.translate(f, argv0: request.argv[0])
        default: throw unexpected(reply, helper)
        }

        let deadline = request.timeoutSeconds.map { started + UInt64($0 * 1e9) }
        var timedOut = false
        var interrupts = 0
        while true {
            var waitMs: Int32 = -1
            if let d = deadline, !timedOut {
                let now = Clock.monotonicNanoseconds()
                if now >= d {
                    timedOut = true
                    try helper.send(.signal(SignalRequest(containerID: created.containerID, signal: SIGKILL)))
                    continue
                }
                waitMs = Int32(min((d - now) / 1_000_000 + 1, 60_000))
            }
            var fds = [helper.socket.fd]
            if let s = signalFD { fds.append(s) }
            let ready: [Int]
            do { ready = try Poll.readable(fds, timeoutMs: waitMs) } catch { throw .system(error) }
            if ready.contains(1), let s = signalFD {
                while case let sig = envyro_signalfd_read(s), sig > 0 {
                    if sig == SIGINT || sig == SIGTERM { interrupts += 1 }
                    let forward = interrupts >= 2 ? SIGKILL : sig
                    try helper.send(.signal(SignalRequest(containerID: created.containerID, signal: forward)))
                }
            }
            if ready.contains(0) {
                guard let frame = try helper.receive(timeoutMs: 0) else { continue }
                if case .exited(let e) = frame.message, e.containerID == created.containerID {
                    return RunOutcome(exitCode: e.exitCode, signal: e.signal, timedOut: timedOut, pid: created.pid,
                                      wallNanoseconds: Clock.monotonicNanoseconds() - started)
                }
                // Replies to signal requests (including ESRCH after a race with exit) need no action.
            }
        }
    }

    private func unexpected(_ m: Message, _ helper: HelperProcess) -> SupervisorError {
        .protocolViolation(detail: "unexpected \(m.verb.name) from helper pid \(helper.pid)")
    }

    /// Maps a helper failure to what a user should read.
    static func translate(_ f: Failure, argv0: String) -> SupervisorError {
        switch f.step {
        case "exec":
            if f.errno == ENOENT || f.errno == ENOTDIR { return .commandNotFound(argv0) }
            return .commandNotExecutable(argv0, errno: f.errno)
        case "clone" where f.errno == EPERM || f.errno == ENOSPC || f.errno == EUSERS:
            return .userNamespacesDisabled(detail: userNamespaceAdvice(errno: f.errno))
        case "chdir to the working directory":
            return .invalidRequest("the working directory does not exist in the container: \(Errno.describe(f.errno)) (use --cwd with a directory inside the rootfs)")
        default:
            return .helperFailure(step: f.step, errno: f.errno, message: f.message)
        }
    }

    /// Says which sysctl blocks user namespaces and how to change it.
    static func userNamespaceAdvice(errno e: Int32) -> String {
        func read(_ p: String) -> String? {
            guard let b = try? Files.read(p, limit: 64) else { return nil }
            return String(decoding: b, as: UTF8.self).trimmingCharacters()
        }
        var parts = ["cannot create a user namespace (\(Errno.describe(e))): unprivileged user namespaces are disabled on this machine."]
        if let max = read("/proc/sys/user/max_user_namespaces") {
            parts.append("user.max_user_namespaces is \(max)\(max == "0" ? "" : " (the limit may be reached)"); raise it with: sysctl -w user.max_user_namespaces=15000.")
        }
        if let clone = read("/proc/sys/kernel/unprivileged_userns_clone") {
            parts.append("kernel.unprivileged_userns_clone is \(clone); enable it with: sysctl -w kernel.unprivileged_userns_clone=1.")
        }
        if let aa = read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"), aa != "0" {
            parts.append("kernel.apparmor_restrict_unprivileged_userns is \(aa); an AppArmor profile or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 allows it.")
        }
        return parts.joined(separator: " ")
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let c = s.last, c == "\n" || c == " " || c == "\t" { s.removeLast() }
        while let c = s.first, c == "\n" || c == " " || c == "\t" { s.removeFirst() }
        return String(s)
    }
}
