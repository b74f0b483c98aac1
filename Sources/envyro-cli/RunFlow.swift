import CEnvyro
import CEnvyroCLI
import EnvyroClient
import EnvyroJSON
import EnvyroProtocol
import EnvyroSupervisor
import EnvyroSystem
import Glibc

/// `envyro run` once its flags are a `RunSpec`, whichever parser read them: the fast path's
/// (`RunSpec.parse`, no ArgumentParser: measured at 12% of an embedded run's CPU) or
/// ArgumentParser's `Run` (help, errors). Through a supervisor when one listens, else embedded;
/// ends the process with the run's status.
enum RunFlow {
    /// The fastest path: a run through a running supervisor, without Swift concurrency either
    /// (measured: ArgumentParser and concurrency cost about a millisecond of start-up per run).
    /// Returns when there is none (or the flags are the full command line's to judge).
    static func attemptThroughDaemon(_ arguments: [String]) {
        guard arguments.count > 2, arguments[1] == "run",
              let spec = RunSpec.parse(arguments[2...]), spec.supervisor != "never", !spec.stats else { return }
        let path = spec.supervisor == "auto" ? ClientProtocol.defaultSocketPath() : spec.supervisor
        // A refused socket is the full command line's to report (it warns, then embeds).
        guard case .connected(let socket) = ClientProtocol.connectSafely(path) else { return }
        let signalFD = envyro_signalfd_for_forwarding()
        let request = spec.resolvingPaths(RunClient.absolute)
        finishDaemonRun(DaemonClient.run(socket, request, stdio: RunClient.stdio(), signalFD: signalFD), request)
    }

    /// The fast path: runs `arguments` (`envyro-cli run ...`) when the table's parser reads them
    /// all; returns otherwise, for the full command line (and its error messages).
    static func attempt(_ arguments: [String]) {
        guard arguments.count > 2, arguments[1] == "run", let spec = RunSpec.parse(arguments[2...]) else { return }
        _ = try? Threads.blocking { await run(spec) }
    }

    static func run(_ parsed: RunSpec) async -> Never {
        // Job-control signals were blocked before any thread started (CEnvyroCLI); read them
        // from a signalfd and forward them to the container.
        let signalFD = envyro_signalfd_for_forwarding()
        let request = parsed.resolvingPaths(RunClient.absolute)
        let stdio = RunClient.stdio()

        // With --supervisor auto: a supervisor the user started (the default socket), else the
        // one an earlier run started for this policy (auto-NAME.sock); with neither, this run
        // is embedded and then starts that one for the runs after it.
        var autoStart: String? = nil
        let supervisor = request.supervisor
        if supervisor != "never" {
            let auto = supervisor == "auto"
            let candidates = auto ? [ClientProtocol.defaultSocketPath()] + [ClientProtocol.autoSocketPath(policy: request.policy ?? "default")].compactMap { $0 }
                                  : [supervisor]
            for path in candidates {
                switch ClientProtocol.connectSafely(path) {
                case .connected(let socket):
                    finishDaemonRun(DaemonClient.run(socket, request, stdio: stdio, signalFD: signalFD), request)
                case .refused(let why) where auto:
                    // A socket is only a shortcut: run without it, as with no daemon.
                    complain("warning: \(why); running without a supervisor")
                case .refused(let why):
                    complain("\(why); use --supervisor never to run without one")
                    exit(125)
                case .absent where !auto:
                    complain("no envyro-supervisor is listening at \(path); start one (envyro-supervisor --policy strict) or use --supervisor never")
                    exit(125)
                case .absent:
                    if path != candidates.first { autoStart = path }
                }
            }
        }

        // One container through this helper: it exits by itself after the exit event (.oneShot).
        let embedded = EmbeddedSupervisor(policy: request.policy ?? "default", modes: [.oneShot])
        let report: RunReport
        do {
            report = try await embedded.run(request, stdio: stdio, signalFD: signalFD >= 0 ? signalFD : nil)
        } catch {
            complain(error.description)
            if request.stats { writeStderr(embedded.engine.stats.formatted() + "\n") }
            embedded.finish()
            exit(error.exitCode)
        }
        if request.timings { writeStderr("timings:\n" + report.formattedTimings() + "\n") }
        if request.stats {
            writeStderr(embedded.engine.stats.formatted() + "\n")
            if let io = embedded.engine.ioWorker.valueIfCreated {
                writeStderr("io_worker: backend=\(io.backend) starts=\(io.stats.starts) requests=\(io.stats.requests) (\(io.backendNote))\n")
            }
        }
        if request.json { writeStderr(JSONValue.object(report.outcome.fields).serialized() + "\n") }
        embedded.finish()
        if let socketPath = autoStart { AutoSupervisor.start(embedded, socketPath: socketPath) }
        let outcome = report.outcome
        if !outcome.limitNote.isEmpty { complain("note: \(outcome.limitNote)") }
        finishRun(exitCode: outcome.exitCode, timedOut: outcome.timedOut, oomKilled: outcome.killedByOOM,
                  memoryLimit: outcome.limits.memoryMax, oomKills: outcome.usage.oomKills, timeout: request.timeoutSeconds)
    }
}
