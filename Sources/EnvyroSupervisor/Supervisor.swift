// The embedded supervisor: run outcomes and reports, the EmbeddedSupervisor class (engine, helper, policy) and error translation; setup, plan and drive are in SupervisorPrepare/Plan/Drive.swift.

import CEnvyro
import EnvyroEngine
import EnvyroIO
import EnvyroJSON
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSeccomp
import EnvyroSystem
import Glibc
import Synchronization

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
    /// What the container used (rusage, and its cgroup when it had limits).
    public var usage: ResourceUsage = ResourceUsage()
    /// The limits it ran under.
    public var limits: LimitSet = LimitSet()
    /// What the I/O worker captured, with `--log-dir`.
    public var logs: CaptureResult? = nil
    /// Empty, or what the limits came to without a cgroup (the helper's `Created.limitNote`).
    public var limitNote: String = ""

    /// The kernel's OOM killer ended the workload.
    public var killedByOOM: Bool { usage.oomKills > 0 && (signal == SIGKILL || exitCode == 128 + SIGKILL) }

    /// The `--json` result object, and the body of the daemon's `finished` reply (which adds
    /// `run` and `timings`): the one encoder of a run's result.
    public var fields: JSONObject {
        func n(_ v: Int64) -> JSONValue { v < 0 ? .null : .int(v) }
        func optional(_ v: Int64?) -> JSONValue { v.map { .int($0) } ?? .null }
        var o: JSONObject = [
            "exitCode": .int(Int64(exitCode)),
            "signal": signal == 0 ? .null : .int(Int64(signal)),
            "timedOut": .bool(timedOut),
            "oomKilled": .bool(killedByOOM),
            "wallMicros": .int(Int64(wallNanoseconds / 1000)),
            "userCpuMicros": n(usage.userCPUMicros),
            "systemCpuMicros": n(usage.systemCPUMicros),
            "maxRssKiB": n(usage.maxRSSKiB),
            "memoryPeakBytes": n(usage.memoryPeakBytes),
            "memoryLimitBytes": optional(limits.memoryMax),
            "oomKills": n(usage.oomKills),
            "pidsPeak": n(usage.pidsPeak),
            "pidsLimit": optional(limits.pidsMax),
            "cgroupCpuNanos": n(usage.cpuUsageNanos),
        ]
        if let l = logs {
            o.set("stdoutBytes", .int(Int64(l.stdout.received)))
            o.set("stdoutTruncated", .bool(l.stdout.truncated))
            o.set("stderrBytes", .int(Int64(l.stderr.received)))
            o.set("stderrTruncated", .bool(l.stderr.truncated))
        }
        if !limitNote.isEmpty { o.set("limitNote", .string(limitNote)) }
        return o
    }
}

/// A finished run: how it ended and where its time went.
public struct RunReport: Sendable {
    /// How the workload ended.
    public var outcome: RunOutcome
    /// The setup steps (run concurrently) and their durations.
    public var setup: SetupResult
    /// Later steps of the run, in order: create round trip, workload.
    public var steps: [(step: String, nanoseconds: UInt64)]

    /// `--timings` output.
    public func formattedTimings() -> String {
        var out = setup.formatted()
        for s in steps {
            let ms = Double(s.nanoseconds) / 1e6
            out += "\n  \(s.step): \(formatMillis(ms)) ms"
        }
        return out
    }

    private func formatMillis(_ v: Double) -> String {
        let scaled = Int((v * 1000).rounded())
        let frac = scaled % 1000
        return "\(scaled / 1000).\(frac < 10 ? "00" : frac < 100 ? "0" : "")\(frac)"
    }
}

/// Where a run's outside requests come from while it runs: the CLI's signalfd, or a daemon
/// client's connection. `poll` says which signals to send to the container (SIGKILL when the
/// client went away).
public struct RunControl: @unchecked Sendable {
    /// The descriptor to watch.
    public var fd: Int32
    /// Called when `fd` is readable; returns the signals to deliver, in order, or nil to stop
    /// watching `fd` (it reached EOF).
    public var read: () -> [Int32]?

    /// A control source.
    public init(fd: Int32, read: @escaping () -> [Int32]?) {
        self.fd = fd
        self.read = read
    }

    /// The CLI's signalfd: SIGINT/SIGTERM/SIGHUP/SIGQUIT are forwarded; a second SIGINT or
    /// SIGTERM becomes SIGKILL.
    public static func signalfd(_ fd: Int32) -> RunControl {
        final class Count: @unchecked Sendable { var interrupts = 0 }
        let count = Count()
        return RunControl(fd: fd) {
            var out: [Int32] = []
            while case let sig = envyro_signalfd_read(fd), sig > 0 {
                if sig == SIGINT || sig == SIGTERM { count.interrupts += 1 }
                out.append(count.interrupts >= 2 ? SIGKILL : sig)
            }
            return out
        }
    }
}

/// The supervisor embedded in `envyro run` (and, later, in the daemon): owns the engine, starts
/// the helper on first use, and drives containers through it, forwarding signals and enforcing
/// timeouts.
public final class EmbeddedSupervisor: @unchecked Sendable {
    /// The engine every run goes through, made on first use: the OCI commands only call the
    /// helper verb by verb and never need its pools, caches or policy search (measured: its
    /// construction and the policy directories' lookups were 0.15-0.2 ms of each OCI command).
    public var engine: Engine { try! engineResource.get() }   // its factory never throws
    private let engineResource: LazyResource<Engine>
    /// The engine's buffer pool (helper frames are received into its slabs), which the helper
    /// uses without making the engine.
    private let buffers: LazyResource<BufferPool>
    /// The helper executable.
    public let helperPath: String
    /// The policy name or absolute path runs use unless a request names another.
    public let policyReference: String
    /// The helper, started on first use and restarted after it dies.
    let helper: LazyResource<HelperProcess>

    /// Prepares a supervisor for `policy` (a name or a path). Nothing is loaded or started
    /// until the first run.
    /// `client` is how the helper's `hello` names this supervisor (for its audit line); `modes`
    /// what the helper is told about its use (`.oci` for the OCI commands, whose short-lived
    /// helpers skip garbage collection).
    /// `pipelineHello`: the helper's `hello` goes out when it is started, and its reply is read
    /// with the first call's (HelperProcess.sendGreeting): for callers that drive the helper
    /// verb by verb (the OCI commands), so a helper still starting costs no extra round trip.
    public init(policy reference: String, helperPath: String? = nil, client: String = "envyro", modes: HelloModes = [],
                pipelineHello: Bool = false) {
        let exe = Files.executablePath()
        let reference = PolicyLoader.isPath(reference) ? ((try? Files.realPath(reference)) ?? reference) : reference
        let buffers = Engine.frameBuffers()
        let path = helperPath ?? Self.locateHelper(executablePath: exe)
        self.buffers = buffers
        engineResource = LazyResource(name: "engine") {
            Engine(searchDirectories: PolicyLoader.searchDirectories(executablePath: exe, allowEnvironment: true), buffers: buffers)
        }
        self.helperPath = path
        self.policyReference = reference
        helper = LazyResource(name: "nshelper") {
            let h = try PrestartedHelper.adopt(path: path, policy: reference)
                .map { HelperProcess(adopting: $0.pid, socket: $0.socket, buffers: buffers) }
                ?? HelperProcess(path: path, policy: reference, buffers: buffers)
            if pipelineHello { try h.sendGreeting(client: client, modes: modes) } else { try h.greet(client: client, modes: modes) }
            return h
        }
    }

    /// Starts (or adopts) the helper and greets it now, so its start overlaps the caller's own
    /// work; a failure is left for the first call to report (the helper is started again then).
    public func startHelper() {
        _ = try? helper.get()
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

    /// Asks the helper to remove container cgroups whose supervisor or helper died.
    public func collectGarbage() throws(SupervisorError) -> [String] {
        let h: HelperProcess
        do { h = try helper.get() } catch { throw Self.wrap(error) }
        let reply = try h.call(.collect(CollectRequest()))
        switch reply {
        case .collected(let c): return c.removed
        case .failed(let f): throw .helperFailure(step: f.step, errno: f.errno, message: f.message)
        default: throw .protocolViolation(detail: "unexpected \(reply.verb.name) in answer to collect")
        }
    }

    /// Sends one request to the helper (started on first use) and returns its answer: the OCI
    /// commands' path, which drives the helper verb by verb.
    public func helperCall(_ message: Message, fds: [Int32] = []) throws(SupervisorError) -> Message {
        let h: HelperProcess
        do { h = try helper.get() } catch { throw Self.wrap(error) }
        return try h.call(message, fds: fds)
    }

    /// Closes the helper (it exits once its socket closes), so what it left running detached
    /// is reparented: `envyro run ID` (OCI) then reaps its container as a subreaper.
    public func stopHelper() {
        helper.reset()?.close()
    }

    /// Before the process exits: closes the helper and the I/O worker and reaps both, so neither
    /// is left a zombie under a parent that never reaps (a container's or a service's pid 1).
    public func finish() {
        stopHelper()
        PrestartedHelper.discard()
        engineResource.valueIfCreated?.ioWorker.valueIfCreated?.shutdown()
    }

    /// Drops the loaded policy; the next run loads it again (SIGHUP in the daemon).
    public func reloadPolicy() {
        _ = engine.policies.reset(policyReference)
    }

    /// The running helper's pid, if one has been started.
    public var helperPID: pid_t? { helper.valueIfCreated?.pid }

    /// The policy runs are planned under (loaded once).
    public func policy() throws(SupervisorError) -> LoadedPolicy {
        do { return try engine.policies.get(policyReference) } catch { throw Self.wrap(error) }
    }

    /// Runs `request` with `stdio` as the container's fds 0-2. Job-control signals read from
    /// `signalFD` (see `envyro_signalfd_for_forwarding`) are forwarded to the container; a
    /// second SIGINT or SIGTERM kills it.
    ///
    /// Setup runs as two concurrent steps: `helper` (start the helper if needed and greet it)
    /// and `plan` (policy, template, environment, executor); each is timed.
    public func run(_ request: RunSpec, stdio: [Int32], signalFD: Int32?) async throws(SupervisorError) -> RunReport {
        try await run(request, stdio: stdio, control: signalFD.map { RunControl.signalfd($0) })
    }

    /// Runs `request`, with outside requests read from `control`; `helper`, when given, is used
    /// instead of this supervisor's own (the daemon hands out warm helpers from its pool).
    public func run(_ request: RunSpec, stdio: [Int32], control: RunControl?, helper given: HelperProcess? = nil,
                    onStart: ((Created) -> Void)? = nil) async throws(SupervisorError) -> RunReport {
        let prepared = try await prepare(request, helper: given)
        return try execute(prepared, stdio: stdio, control: control, onStart: onStart)
    }

    static func wrap(_ error: any Error) -> SupervisorError {
        if let e = error as? SupervisorError { return e }
        if let e = error as? PolicyError { return .policy(e) }
        if let e = error as? SystemError { return .system(e) }
        if let e = error as? SetupStepFailure { return wrap(e.underlying) }
        return .invalidRequest("\(error)")
    }

    static func describe(_ e: ExecutorError) -> String {
        switch e {
        case .unknownType(let t, let known): return "--executor \(t): unknown executor type (known: \(known.joined(separator: ", ")))"
        default: return "\(e)"
        }
    }

    /// Maps a helper failure to what a user should read.
    static func translate(_ f: Failure, argv0: String) -> SupervisorError {
        switch f.step {
        case .exec:
            if f.errno == ENOENT || f.errno == ENOTDIR { return .commandNotFound(argv0) }
            return .commandNotExecutable(argv0, errno: f.errno)
        case .clone where f.errno == EPERM || f.errno == ENOSPC || f.errno == EUSERS:
            return .userNamespacesDisabled(detail: userNamespaceAdvice(errno: f.errno))
        case .rootfsBind where f.errno == ELOOP:
            return .invalidRequest("--rootfs: a component of the path is a symlink (or was just swapped for one); give the directory's real path")
        case .rootfsBind where f.errno == EBUSY:
            return .invalidRequest("--rootfs: the host's root can't be a container's rootfs; omit --rootfs for the read-only default")
        case .cwd where f.errno == ELOOP || f.errno == EXDEV:
            // RESOLVE_NO_MAGICLINKS (ELOOP) or a directory the root can't reach (EXDEV).
            return .invalidRequest("the working directory is not a directory inside the container: \(Errno.describe(f.errno)) (a /proc/self/fd or /proc/PID/cwd link leads outside it; use --cwd with a path inside the rootfs)")
        case .cwd:
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
