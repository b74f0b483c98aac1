// EmbeddedSupervisor's drive and wait: create the container, forward signals, enforce the timeout, collect the outcome.

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

extension EmbeddedSupervisor {
    /// Creates the container and waits for it, on the calling thread (it blocks: the daemon calls
    /// it from a client's own thread, never from Swift's cooperative pool). `onEnd` is called
    /// when the run is over, before its context (its argv and env) is zeroed and pooled.
    public func execute(_ p: PreparedRun, stdio: [Int32], control: RunControl?,
                        onStart: ((Created) -> Void)? = nil, onEnd: (() -> Void)? = nil) throws(SupervisorError) -> RunReport {
        defer {
            onEnd?()
            engine.contexts.release(p.context)
        }
        // --log-dir: the container's stdout and stderr are pipes the I/O worker copies to files.
        var stdio = stdio
        var capture: (io: IOWorkerClient, start: CaptureStart)? = nil
        if let dir = p.request.logDir {
            do {
                let io = try engine.ioWorker.get()
                let limit = try p.request.logLimit.map { (text) throws(SupervisorError) -> Int in
                    do { return Int(try ResourceLimitBatch.parseSize(text)) } catch { throw .invalidRequest("--log-limit \(text): \(error)") }
                }
                let start = try io.startCapture(stdoutPath: dir + "/stdout.log", stderrPath: dir + "/stderr.log",
                                                capBytes: limit, tee: p.request.logTee,
                                                // The run's own stdout and stderr: through a daemon, its client's.
                                                teeTo: (stdio[1], stdio[2]))
                capture = (io, start)
                stdio = [stdio[0], start.stdoutWriteFD, start.stderrWriteFD]
            } catch let e as SupervisorError {
                throw e
            } catch let e as IOWorkerError {
                throw .invalidRequest("--log-dir \(dir): \(e)")
            } catch {
                throw .invalidRequest("--log-dir \(dir): \(error)")
            }
        }
        // Our copies of the pipes' write ends close once the helper has passed them on (or the
        // run failed), so the capture sees EOF when the container's own copies close.
        var writeEndsOpen = capture != nil
        func closeWriteEnds() {
            guard writeEndsOpen, let c = capture else { return }
            writeEndsOpen = false
            close(c.start.stdoutWriteFD)
            close(c.start.stderrWriteFD)
        }
        defer { closeWriteEnds() }
        p.context.fds = stdio
        do {
            var outcome = try drive(p.helper, p.create, request: p.request, stdio: stdio, control: control, context: p.context) { created in
                closeWriteEnds()
                onStart?(created)
            }
            if let c = capture {
                do { outcome.logs = try c.io.waitCapture(c.start.handle) } catch {
                    throw SupervisorError.invalidRequest("--log-dir: the I/O worker failed: \(error)")
                }
            }
            return RunReport(outcome: outcome, setup: p.setup, steps: p.context.timings)
        } catch {
            let e = Self.wrap(error)
            // A helper that went away is replaced on the next run.
            if p.ownHelper, case .helperGone = e { _ = helper.reset() }
            if p.ownHelper, case .protocolViolation = e { _ = helper.reset() }
            throw e
        }
    }

    /// Creates the container and waits for it, forwarding signals and enforcing the timeout.
    private func drive(_ helper: HelperProcess, _ create: CreateRequest, request: RunSpec, stdio: [Int32],
                       control: RunControl?, context: ExecutionContext, onStart: ((Created) -> Void)?) throws(SupervisorError) -> RunOutcome {
        let started = Clock.monotonicNanoseconds()
        let reply = try helper.call(.create(create), fds: stdio)
        let created: Created
        switch reply {
        case .created(let c): created = c
        case .failed(let f): throw Self.translate(f, argv0: request.argv.isEmpty ? "" : request.argv.string(at: 0))
        default: throw .protocolViolation(detail: "unexpected \(reply.verb.name) from helper pid \(helper.pid)")
        }
        let running = Clock.monotonicNanoseconds()
        context.recordTiming("create (helper round trip)", nanoseconds: running - started)
        for s in created.steps { context.recordTiming("  helper: \(s.name)", nanoseconds: UInt64(s.micros) * 1000) }
        onStart?(created)

        let deadline = request.timeoutSeconds.map { started + UInt64($0 * 1e9) }
        var timedOut = false
        var control = control
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
            if !helper.hasPendingEvents {
                var fds = [helper.socket.fd]
                if let c = control { fds.append(c.fd) }
                let ready: [Int]
                do { ready = try Poll.readable(fds, timeoutMs: waitMs) } catch { throw .system(error) }
                if ready.contains(1), let c = control {
                    if let signals = c.read() {
                        for sig in signals {
                            try helper.send(.signal(SignalRequest(containerID: created.containerID, signal: sig)))
                        }
                    } else {
                        control = nil
                    }
                }
                if !ready.contains(0) { continue }
            }
            guard let frame = try helper.receive(timeoutMs: 0) else { continue }
            if case .exited(let e) = frame.message, e.containerID == created.containerID {
                let now = Clock.monotonicNanoseconds()
                context.recordTiming("workload (running to exit event)", nanoseconds: now - running)
                return RunOutcome(exitCode: e.exitCode, signal: e.signal, timedOut: timedOut, pid: created.pid,
                                  wallNanoseconds: now - started, usage: e.usage, limits: create.limits, limitNote: created.limitNote)
            }
            // Replies to signal requests (including ESRCH after a race with exit) need no action.
        }
    }
}
