// SupervisorDaemon serving one client: its requests (run, signal, ps) on the client's own thread.

import CEnvyro
import EnvyroClient
import EnvyroEngine
import EnvyroJSON
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Synchronization

extension SupervisorDaemon {
    func serveClient(_ socket: SeqPacketSocket) {
        defer { socket.close() }
        while true {
            guard var packet = try? socket.receive(capacity: ClientProtocol.maxMessageBytes, maxFDs: 3) else { return }
            // A run's argv and env are parsed straight into a pooled context's arenas (never
            // into `String`s), and the packet that carried them is zeroed once parsed.
            let context = supervisor.acquireContext()
            let decoded = ClientMessage.decode(packet.bytes, capturing: RunSpec.capturing(argv: context.argv, env: context.env))
            Codec.zero(&packet.bytes)
            guard let message = decoded else {
                supervisor.releaseContext(context)
                for fd in packet.fds { close(fd) }
                return
            }
            // Only a run keeps it (and releases it when it ends).
            if message.verb != .run { supervisor.releaseContext(context) }
            let reply: ClientMessage
            switch message.verb {
            case .run:
                guard packet.fds.count == 3 else {
                    supervisor.releaseContext(context)
                    for fd in packet.fds { close(fd) }
                    // Descriptors dropped by the kernel (MSG_CTRUNC): we are out of them.
                    reply = failure(message, 125, packet.controlTruncated
                        ? (OpenFileLimit.refusal(needed: Self.descriptorsPerRun) ?? "the supervisor is out of file descriptors: the run's stdin, stdout and stderr could not be received")
                        : "run needs the container's stdin, stdout and stderr (3 descriptors)")
                    break
                }
                reply = run(message, context: context, stdio: packet.fds, socket: socket)
                for fd in packet.fds { close(fd) }
            case .signal:
                for fd in packet.fds { close(fd) }
                reply = signal(message)
            case .ps:
                reply = ps(message)
            case .stats:
                reply = ClientMessage(verb: .statsReply, requestID: message.requestID, body: statsBody())
            default:
                for fd in packet.fds { close(fd) }
                return
            }
            do { try socket.send(reply.encode()) } catch { return }
        }
    }

    private func failure(_ m: ClientMessage, _ code: Int32, _ text: String) -> ClientMessage {
        ClientMessage(verb: .error, requestID: m.requestID, body: ["exitCode": .int(Int64(code)), "message": .string(text)])
    }

    /// Serves one run whose argv and env were parsed into `context`; the context goes back to
    /// the pool (zeroed) when the run ends or is refused.
    private func run(_ m: ClientMessage, context: ExecutionContext, stdio: [Int32], socket: SeqPacketSocket) -> ClientMessage {
        var handedOn = false
        defer { if !handedOn { supervisor.releaseContext(context) } }
        if draining.load(ordering: .relaxed) { return failure(m, 125, "the supervisor is shutting down") }
        let request: RunSpec
        do { request = try RunSpec(json: m.body, argv: context.argv, env: context.env) } catch {
            let refusal = SupervisorError.invalidRequest(error.message)
            return failure(m, refusal.exitCode, refusal.description)
        }
        if let asked = m.body["policy"]?.stringValue, !Self.samePolicy(asked, supervisor.policyReference) {
            return failure(m, 125, "this supervisor runs policy \(supervisor.policyReference), not \(asked); use --supervisor never, or a supervisor started with --policy \(asked)")
        }
        // Out of descriptors, or over its memory budget, is a refusal with its reason, before
        // anything is half made (Swift can't recover from a failed allocation: the budget keeps
        // the daemon from getting there).
        if let why = OpenFileLimit.refusal(needed: Self.descriptorsPerRun) { return failure(m, 125, why) }
        if let why = memoryRefusal() { return failure(m, 125, why) }
        let helper: HelperProcess
        do { helper = try pool.acquire() } catch { return failure(m, error.exitCode, error.description) }
        let id = nextRun.add(1, ordering: .relaxed).oldValue
        runs.withLock { $0[id] = RunEntry(argv: request.argv, startedNs: Clock.monotonicNanoseconds(), helper: helper) }
        defer {
            _ = runs.withLock { $0.removeValue(forKey: id) }
            pool.release(helper)
        }
        // While the run lasts, this connection may send `signal`; EOF means the client is gone.
        final class Once: @unchecked Sendable { var gone = false }
        let once = Once()
        let control = RunControl(fd: socket.fd) {
            if once.gone { return nil }
            guard let p = try? socket.receive(capacity: ClientProtocol.maxMessageBytes, maxFDs: 0),
                  let msg = ClientMessage.decode(p.bytes) else {
                once.gone = true
                return [SIGKILL]
            }
            if msg.verb == .signal, let sig = msg.body["signal"]?.intValue, sig > 0, sig <= 64 { return [Int32(sig)] }
            return []
        }
        let supervisor = self.supervisor
        do throws(SupervisorError) {
            // A warm helper leaves only planning to set up; all of it runs on this client's thread.
            handedOn = true   // prepareWarm, then execute, release it
            let prepared = try supervisor.prepareWarm(request, helper: helper, context: context)
            // The entry (its argv is the context's) goes before the context is zeroed.
            let report = try supervisor.execute(prepared, stdio: stdio, control: control, onStart: { [self] created in
                runs.withLock { $0[id]?.containerID = created.containerID; $0[id]?.pid = created.pid }
                started.add(1, ordering: .relaxed)
                if created.prewarmed { prewarmHits.add(1, ordering: .relaxed) } else { prewarmMisses.add(1, ordering: .relaxed) }
                prewarmDiscards.add(Int(created.prewarmedDiscarded), ordering: .relaxed)
                switch created.networkNamespace {
                case .pooledReused: netnsReused.add(1, ordering: .relaxed)
                case .pooledNew: netnsCreated.add(1, ordering: .relaxed)
                case .own: break
                }
                netnsDiscards.add(Int(created.networkNamespacesDiscarded), ordering: .relaxed)
                _ = try? socket.send(ClientMessage(verb: .started, requestID: m.requestID,
                                               body: ["run": .int(Int64(id)), "pid": .int(Int64(created.pid))]).encode())
            }, onEnd: { [self] in _ = runs.withLock { $0.removeValue(forKey: id) } })
            var body: JSONObject = ["run": .int(Int64(id))]
            for (k, v) in report.outcome.fields { body.set(k, v) }
            body.set("timings", .string(report.formattedTimings()))
            return ClientMessage(verb: .finished, requestID: m.requestID, body: body)
        } catch {
            if case .helperGone = error { helper.close() }
            return failure(m, error.exitCode, error.description)
        }
    }

    static func samePolicy(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        if PolicyLoader.isPath(a), let ra = try? Files.realPath(a) { return ra == b }
        return false
    }

    private func signal(_ m: ClientMessage) -> ClientMessage {
        guard let id = m.body["run"]?.intValue, let sig = m.body["signal"]?.intValue, sig > 0, sig <= 64 else {
            return failure(m, 125, "signal needs {\"run\": ID, \"signal\": 1...64}")
        }
        guard let entry = runs.withLock({ $0[UInt64(id)] }), let container = entry.containerID else {
            return failure(m, 125, "no run \(id) (see envyro ps)")
        }
        do { try entry.helper.send(.signal(SignalRequest(containerID: container, signal: Int32(sig)))) } catch {
            return failure(m, 125, error.description)
        }
        return ClientMessage(verb: .ok, requestID: m.requestID)
    }

    private func ps(_ m: ClientMessage) -> ClientMessage {
        let now = Clock.monotonicNanoseconds()
        // Read under the lock: a run removes its entry (under it) before its argv is zeroed.
        let list = runs.withLock { runs in
            runs.sorted { $0.key < $1.key }.map { id, e -> JSONValue in
                .object(["run": .int(Int64(id)), "pid": e.pid.map { .int(Int64($0)) } ?? .null,
                         "argv": .array(e.argv.strings.map { .string($0) }), "seconds": .double(Double(now - e.startedNs) / 1e9)])
            }
        }
        return ClientMessage(verb: .psReply, requestID: m.requestID, body: ["runs": .array(list)])
    }
}
