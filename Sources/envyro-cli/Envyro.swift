import ArgumentParser
import CEnvyro
import CEnvyroCLI
import EnvyroAudit
import EnvyroClient
import EnvyroEngine
import EnvyroIO
import EnvyroJSON
import EnvyroSupervisor
import EnvyroSystem
import Glibc

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

extension RunFlags {
    /// The run these flags ask for (the embedded path).
    func request(argv: [String]) -> RunRequest {
        var r = RunRequest(argv: argv)
        r.env = env
        r.cwd = cwd
        r.hostname = hostname
        r.rootfs = rootfs.map(Self.absolute)
        r.rootfsWritable = rootfsRw
        r.network = network
        r.timeoutSeconds = timeout
        r.useInit = useInit
        r.executor = executor
        r.seccompProfile = seccomp.map(Self.absolute)
        r.limits.memory = memory
        r.limits.memorySwap = memorySwap
        r.limits.pidsLimit = pidsLimit
        r.limits.cpus = cpus
        r.limits.cpuShares = cpuShares
        r.limits.cpusetCpus = cpusetCpus
        r.limits.blkioWeight = blkioWeight
        r.limits.profile = profile
        r.userns = userns
        r.uidMaps = uidmap
        r.gidMaps = gidmap
        r.logDir = logDir.map(Self.absolute)
        r.logLimit = logLimit
        r.logTee = logTee
        return r
    }
}

/// The `envyro` command (started from main.swift, after the fast path for daemon runs).
struct Envyro: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "envyro",
        abstract: "A rootless-first, privilege-separated container runtime.",
        subcommands: [Run.self, PS.self, Stats.self, Kill.self, Executors.self, Bench.self, Audit.self, Setup.self, GC.self])
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a new container and return its exit status.",
        discussion: """
            Without --rootfs the container sees the host's /usr, /bin, /sbin, /lib* and /etc \
            read-only, a private /tmp, a fresh /proc and a minimal /dev. Exit status: the \
            command's, 128+N if it died of signal N, 124 after --timeout, 125 for envyro's own \
            errors, 126/127 when the command can't be run or found.
            """)

    @Option(name: .long, help: "Policy: default, strict, or a path to a policy file (with a running supervisor: its policy).")
    var policy: String?

    @Option(name: .long, help: "auto (use a running envyro-supervisor if there is one), never, or the socket PATH of one.")
    var supervisor: String = "auto"

    @Option(name: .long, help: "Use DIR as the container's root (read-only unless --rootfs-rw).")
    var rootfs: String?

    @Flag(name: .long, help: "Make --rootfs writable (if the policy allows it).")
    var rootfsRw = false

    @Option(name: .long, help: "The container's hostname.")
    var hostname: String = "envyro"

    @Option(name: .long, help: "Set an environment variable (KEY=VALUE); repeatable.")
    var env: [String] = []

    @Option(name: .long, help: "Working directory inside the container.")
    var cwd: String = "/"

    @Option(name: .long, help: "none (a new network namespace with only lo) or host.")
    var network: String?

    @Option(name: .long, help: "Kill the container after SECONDS and exit 124.")
    var timeout: Double?

    @Flag(name: .long, help: "Run a tiny init as pid 1 that forwards signals and reaps orphans.")
    var `init` = false

    @Option(name: .long, help: "auto: container root is you, then a slice of your /etc/subuid and /etc/subgid ranges.")
    var userns: String?

    @Option(name: .long, help: "A uid map line CONTAINER:HOST:COUNT (repeatable; needs --gidmap).")
    var uidmap: [String] = []

    @Option(name: .long, help: "A gid map line CONTAINER:HOST:COUNT (repeatable; needs --uidmap).")
    var gidmap: [String] = []

    @Option(name: .long, help: "How the command is executed: native (execve argv) or shell (one script for /bin/sh -c).")
    var executor: String = "native"

    @Option(name: .long, help: "An extra seccomp profile (OCI/moby JSON), stacked on the policy's: it can only restrict more.")
    var seccomp: String?

    @Option(name: .long, help: "Memory limit (e.g. 256M, 1g).")
    var memory: String?

    @Option(name: .long, help: "Memory plus swap limit (-1: unlimited swap).")
    var memorySwap: String?

    @Option(name: .long, help: "Maximum number of tasks (-1: no limit).")
    var pidsLimit: Int64?

    @Option(name: .long, help: "CPU limit in CPUs (e.g. 0.5).")
    var cpus: String?

    @Option(name: .long, help: "Relative CPU weight, 2...262144 (default 1024).")
    var cpuShares: Int64?

    @Option(name: .long, help: "CPUs the container may use (e.g. 0-1,3).")
    var cpusetCpus: String?

    @Option(name: .long, help: "Relative block I/O weight, 10...1000.")
    var blkioWeight: Int64?

    @Option(name: .long, help: "Limit profile: minimal, standard or performance (flags override its fields).")
    var profile: String?

    @Option(name: .long, help: "Write the container's stdout and stderr to DIR/stdout.log and DIR/stderr.log (through the I/O worker) instead of printing them.")
    var logDir: String?

    @Option(name: .long, help: "With --log-dir: at most SIZE bytes per stream, then a truncation marker (e.g. 1M).")
    var logLimit: String?

    @Flag(name: .long, help: "With --log-dir: also print the output.")
    var logTee = false

    @Flag(name: .long, help: "Print a JSON result object (status, times, peak memory, OOM kills, peak pids) to stderr after the run.")
    var json = false

    @Flag(name: .long, help: "Print the setup steps and their durations to stderr after the run.")
    var timings = false

    @Flag(name: .long, help: "Print every pool's and cache's statistics to stderr after the run.")
    var stats = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    func run() async throws {
        // Job-control signals were blocked before any thread started (CEnvyroCLI); read them
        // from a signalfd and forward them to the container.
        let signalFD = envyro_signalfd_for_forwarding()
        var argv = command
        if let first = argv.first, first.hasPrefix("-"), first != "--" {
            complain("unknown option '\(first)' (see envyro run --help; put the command after --)")
            throw ExitCode(64)
        }
        if argv.first == "--" { argv.removeFirst() }

        let request = flags.request(argv: argv)
        let stdio = RunFlags.stdio()

        // A running supervisor serves the run when there is one (--supervisor auto), with the
        // same output, statuses and errors as the embedded one.
        // With --supervisor auto: a supervisor the user started (the default socket), else the
        // one an earlier run started for this policy (auto-NAME.sock); with neither, this run
        // is embedded and then starts that one for the runs after it.
        var autoStart: String? = nil
        if supervisor != "never" {
            let auto = supervisor == "auto"
            let candidates = auto ? [ClientProtocol.defaultSocketPath()] + [ClientProtocol.autoSocketPath(policy: policy ?? "default")].compactMap { $0 }
                                  : [supervisor]
            for path in candidates {
                switch ClientProtocol.connectSafely(path) {
                case .connected(let socket):
                    DaemonClient.run(socket, argv: argv, stdio: stdio, signalFD: signalFD, flags: flags)
                case .refused(let why) where auto:
                    // A socket is only a shortcut: run without it, as with no daemon.
                    complain("warning: \(why); running without a supervisor")
                case .refused(let why):
                    complain("\(why); use --supervisor never to run without one")
                    throw ExitCode(125)
                case .absent where !auto:
                    complain("no envyro-supervisor is listening at \(path); start one (envyro-supervisor --policy strict) or use --supervisor never")
                    throw ExitCode(125)
                case .absent:
                    if path != candidates.first { autoStart = path }
                }
            }
        }

        let embedded = EmbeddedSupervisor(policy: policy ?? "default")
        let report: RunReport
        do {
            report = try await embedded.run(request, stdio: stdio, signalFD: signalFD >= 0 ? signalFD : nil)
        } catch {
            complain(error.description)
            if stats { writeStderr(embedded.engine.stats.formatted() + "\n") }
            embedded.finish()
            throw ExitCode(error.exitCode)
        }
        if timings { writeStderr("timings:\n" + report.formattedTimings() + "\n") }
        if stats {
            writeStderr(embedded.engine.stats.formatted() + "\n")
            if let io = embedded.engine.ioWorker.valueIfCreated {
                writeStderr("io_worker: backend=\(io.backend) starts=\(io.stats.starts) requests=\(io.stats.requests) (\(io.backendNote))\n")
            }
        }
        if json { writeStderr(report.outcome.json() + "\n") }
        embedded.finish()
        if let socketPath = autoStart { AutoSupervisor.start(embedded, socketPath: socketPath) }
        let outcome = report.outcome
        finishRun(exitCode: outcome.exitCode, timedOut: outcome.timedOut, oomKilled: outcome.killedByOOM,
                  memoryLimit: outcome.limits.memoryMax, oomKills: outcome.usage.oomKills, timeout: timeout)
    }

    /// The flags as the fast path's structure (one request builder for both parsers).
    var flags: RunFlags {
        var f = RunFlags()
        f.policy = policy; f.supervisor = supervisor; f.rootfs = rootfs; f.rootfsRw = rootfsRw; f.hostname = hostname
        f.env = env; f.cwd = cwd; f.network = network; f.timeout = timeout; f.useInit = `init`; f.executor = executor
        f.seccomp = seccomp; f.userns = userns; f.uidmap = uidmap; f.gidmap = gidmap; f.memory = memory
        f.memorySwap = memorySwap; f.pidsLimit = pidsLimit; f.cpus = cpus; f.cpuShares = cpuShares
        f.cpusetCpus = cpusetCpus; f.blkioWeight = blkioWeight; f.profile = profile; f.json = json; f.timings = timings
        f.logDir = logDir; f.logLimit = logLimit; f.logTee = logTee
        return f
    }

    func formatSeconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))s" : "\(s)s"
    }
}


struct Setup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "As root, once per user: delegate a cgroup subtree so that user's runs can have limits.")

    @Option(name: .long, help: "The user (name or uid) to delegate a cgroup subtree to.")
    var user: String

    func run() throws {
        envyro_cli_unblock_signals()
        // The privileged work is done by the helper binary (helpers/), not by the CLI.
        let helper = EmbeddedSupervisor.locateHelper(executablePath: Files.executablePath())
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(helper), strdup("--setup-user"), strdup(user), nil]
        defer { for p in argv { free(p) } }
        execv(helper, &argv)
        complain("cannot run \(helper): \(SystemError.current("execv", helper))")
        throw ExitCode(125)
    }
}

struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove container cgroups left behind by envyro processes or helpers that were killed, and a killed supervisor's socket and policy snapshot.")

    @Option(name: .long, help: "Policy whose helper does the work.")
    var policy: String = "default"

    @Option(name: .long, help: "The supervisor socket to check (default: the per-user one).")
    var supervisor: String?

    func run() async throws {
        envyro_cli_unblock_signals()
        let embedded = EmbeddedSupervisor(policy: policy)
        let socketPath = supervisor ?? ClientProtocol.defaultSocketPath()
        // Never clean another user's directory: a /tmp/envyro-UID someone else made is left alone.
        let dir = Files.directory(of: socketPath)
        let safe = Files.kind(dir) == .missing || RuntimeDirectory.refusal(dir, uid: getuid()) == nil
        if !safe, let why = RuntimeDirectory.refusal(dir, uid: getuid()) { complain("warning: not cleaning \(dir): \(why)") }
        do {
            let removed = try embedded.collectGarbage()
                + (safe ? SupervisorDaemon.removeLeftovers(socketPath: socketPath) : [])
            print(removed.isEmpty ? "nothing to remove" : removed.map { "removed \($0)" }.joined(separator: "\n"))
        } catch {
            complain(error.description)
            throw ExitCode(error.exitCode)
        }
    }
}

/// Connects to the supervisor for `ps`, `stats` and `kill`, or says how to start one.
func connectDaemon(_ path: String?) throws -> SeqPacketSocket {
    envyro_cli_unblock_signals()
    let p = path ?? ClientProtocol.defaultSocketPath()
    switch ClientProtocol.connectSafely(p) {
    case .connected(let s):
        return s
    case .refused(let why):
        complain(why)
        throw ExitCode(125)
    case .absent:
        complain("no envyro-supervisor is listening at \(p); start one with: envyro-supervisor --policy strict")
        throw ExitCode(125)
    }
}

func ask(_ socket: SeqPacketSocket, _ m: ClientMessage) throws -> ClientMessage {
    do {
        let r = try ClientProtocol.exchange(socket, m)
        if r.verb == .error {
            complain(r.body["message"]?.stringValue ?? "refused")
            throw ExitCode(Int32(r.body["exitCode"]?.intValue ?? 125))
        }
        return r
    } catch let e as ClientError {
        complain(e.description)
        throw ExitCode(125)
    }
}

struct PS: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List the runs a supervisor has in flight.")
    @Option(name: .long, help: "The supervisor's socket.") var supervisor: String?

    func run() throws {
        let s = try connectDaemon(supervisor)
        defer { s.close() }
        let r = try ask(s, ClientMessage(verb: .ps, requestID: 1))
        print("RUN\tPID\tSECONDS\tCOMMAND")
        for e in r.body["runs"]?.arrayValue ?? [] {
            let argv = e["argv"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " ") ?? ""
            let secs = e["seconds"]?.doubleValue.map { String(Int($0)) } ?? "?"
            print("\(e["run"]?.intValue ?? 0)\t\(e["pid"]?.intValue.map(String.init) ?? "-")\t\(secs)\t\(argv)")
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a supervisor's pool, cache, registry and helper statistics.")
    @Option(name: .long, help: "The supervisor's socket.") var supervisor: String?
    @Flag(name: .long, help: "One JSON object.") var json = false

    func run() throws {
        let s = try connectDaemon(supervisor)
        defer { s.close() }
        let r = try ask(s, ClientMessage(verb: .stats, requestID: 1))
        if json { print((r.body["fields"] ?? .null).serialized(pretty: true)) } else { print(r.body["text"]?.stringValue ?? "") }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal (default KILL) to a run of the supervisor.")
    @Option(name: .long, help: "The supervisor's socket.") var supervisor: String?
    @Argument(help: "The run's id (see envyro ps).") var id: Int64
    @Argument(help: "Signal name or number.") var signal: String = "KILL"

    func run() throws {
        let names = ["HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15, "CONT": 18, "STOP": 19]
        let key = signal.uppercased().hasPrefix("SIG") ? String(signal.uppercased().dropFirst(3)) : signal.uppercased()
        guard let n = Int(signal) ?? names[key], (1...64).contains(n) else {
            complain("unknown signal '\(signal)' (use a number or one of \(names.keys.sorted().joined(separator: ", ")))")
            throw ExitCode(125)
        }
        let s = try connectDaemon(supervisor)
        defer { s.close() }
        _ = try ask(s, ClientMessage(verb: .signal, requestID: 1, body: ["run": .int(id), "signal": .int(Int64(n))]))
    }
}

struct Executors: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the executor types `envyro run --executor` accepts: the built-in ones and the policy's plugins.")

    @Option(name: .long, help: "The policy (name or file) whose plugins and allowed types to list.")
    var policy: String = "default"

    func run() throws {
        envyro_cli_unblock_signals()
        let embedded = EmbeddedSupervisor(policy: policy)
        let loaded: LoadedPolicy
        do { loaded = try embedded.engine.policies.get(policy) } catch {
            complain("\(error)")
            throw ExitCode(125)
        }
        for info in embedded.engine.executors.list() {
            let refused = loaded.policy.executors.allows(info.type) ? "" : " (not allowed by policy \(loaded.policy.name))"
            print("\(info.type)\t\(info.summary)\(refused)")
        }
    }
}

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine: context start, buffer pool, namespace cache, limit batches, context pool.")

    @Option(name: .long, help: "Iterations per figure.")
    var iterations: Int = 20_000

    @Flag(name: .long, help: "Print one JSON object whose keys name the figure and its unit.")
    var json = false

    @Flag(name: .long, help: "Also measure the I/O worker: io_uring against plain syscalls (small files, a large file, log capture of 1 GiB).")
    var io = false

    @Option(name: .long, help: "Instead: start N containers back to back through the supervisor at this socket, on one connection.")
    var supervisor: String?

    @Option(name: .long, help: "With --supervisor: how many starts.")
    var starts: Int = 200

    @Option(name: .long, parsing: .upToNextOption, help: "With --supervisor: run flags as RunSpec keys, e.g. memory=256M pidsLimit=128 cpus=0.5.")
    var spec: [String] = []

    func run() throws {
        envyro_cli_unblock_signals()
        if let path = supervisor { return try throughput(path) }
        let figures = EngineBenchmarks.run(iterations: iterations)
        var helperFigures = Self.helperFigures(iterations: min(iterations, 200))
        if io {
            do {
                for f in try IOBenchmarks.run(directory: "/tmp", workerPath: IOWorkerClient.locateWorker(executablePath: Files.executablePath()),
                                              smallFiles: 2000, largeFileBytes: 256 << 20, captureBytes: 1 << 30) {
                    helperFigures.append((f.key, String(f.value)))
                }
            } catch {
                helperFigures.append(("io_skipped", "\"\(error)\""))
            }
        }
        if json {
            var lines = figures.map { "  \"\($0.key)\": \($0.value)" }
            lines += helperFigures.map { "  \"\($0.key)\": \($0.value)" }
            print("{\n\(lines.joined(separator: ",\n"))\n}")
        } else {
            print(EngineBenchmarks.formatted(figures))
            print("\nhelper (envyro-helper-bench), medians of \(min(iterations, 200)):")
            for f in helperFigures { print("  \(f.key.padding(32)) \(f.value)") }
        }
    }

    /// Back-to-back starts of /bin/true through a supervisor on one open connection, as a
    /// client of the socket API would do them.
    func throughput(_ path: String) throws {
        guard case .connected(let socket) = ClientProtocol.connectSafely(path) else {
            complain("no envyro-supervisor of yours is listening at \(path)")
            throw ExitCode(125)
        }
        defer { socket.close() }
        var body = RunFlags().spec(argv: ["/bin/true"])
        for kv in spec {
            let parts = kv.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { complain("--spec \(kv): expected KEY=VALUE"); throw ExitCode(125) }
            body.set(parts[0], Int64(parts[1]).map { JSONValue.int($0) } ?? .string(parts[1]))
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        var latencies: [Double] = []
        let t0 = Clock.monotonicNanoseconds()
        for i in 0..<starts {
            let s = Clock.monotonicNanoseconds()
            do { try socket.send(ClientMessage(verb: .run, requestID: UInt32(i + 1), body: body).encode(), fds: [null, null, null]) } catch {
                complain("\(error)"); throw ExitCode(125)
            }
            while true {
                let r: ClientMessage
                do { r = try ClientProtocol.receive(socket) } catch { complain("\(error)"); throw ExitCode(125) }
                if r.verb == .finished { break }
                if r.verb == .error { complain(r.body["message"]?.stringValue ?? "error"); throw ExitCode(125) }
            }
            latencies.append(Double(Clock.monotonicNanoseconds() - s) / 1e6)
        }
        let total = Double(Clock.monotonicNanoseconds() - t0) / 1e9
        latencies.sort()
        let median = latencies[latencies.count / 2], p90 = latencies[latencies.count * 9 / 10]
        if json {
            print("{\"supervisor_starts_per_second\": \(Double(starts) / total), \"supervisor_start_median_ms\": \(median), \"supervisor_start_p90_ms\": \(p90)}")
        } else {
            print("\(starts) starts on one connection: \(Int(Double(starts) / total)) starts/s, median \(median) ms, p90 \(p90) ms")
        }
    }

    /// Runs `envyro-helper-bench --bench` (the unprivileged driver that measures a real
    /// envyro-nshelper; the privileged binary holds no benchmark code) and reads its
    /// `key value unit` lines.
    static func helperFigures(iterations: Int) -> [(key: String, value: String)] {
        let dir = Files.directory(of: Files.executablePath())
        let installed = Files.directory(of: dir) + "/libexec/envyro/envyro-helper-bench"
        let helper = access(dir + "/envyro-helper-bench", X_OK) == 0 || access(installed, X_OK) != 0 ? dir + "/envyro-helper-bench" : installed
        var fds: [Int32] = [-1, -1]
        guard envyro_pipe_cloexec(&fds) == 0 else { return [] }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(helper), strdup("--bench"), strdup(String(iterations)), nil]
        defer { for p in argv { free(p) }; posix_spawn_file_actions_destroy(&actions) }
        let ok = posix_spawn(&pid, helper, &actions, nil, &argv, envyro_environ()) == 0
        close(fds[1])
        guard ok, let out = try? Files.readAll(fds[0], subject: "helper bench", limit: 1 << 20) else { close(fds[0]); return [] }
        close(fds[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return String(decoding: out, as: UTF8.self).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count >= 2 else { return nil }
            return (String(f[0]), f[1...].joined(separator: " ").contains("reason:") ? "\"\(f[2...].joined(separator: " "))\"" : String(f[1]))
        }
    }
}

struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the helper's audit log.",
        subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an audit log's hash chain and, for a keyed log, each line's HMAC; print OK or the first broken line.",
            discussion: """
                A keyed log (written by envyro-nshelper) ends each line in an HMAC-SHA256 under the key \
                in the log's directory (audit.key, readable only by its owner): only then can a line \
                appended by someone without the key be told from the helper's. An unkeyed log is a \
                SHA-256 chain only, which anyone who can append to the file can extend. \
                Exit status: 0 verified, 1 broken, 2 keyed but the key can't be read.
                """)

        @Option(help: "The audit key (default: audit.key beside the newest file).")
        var key: String?

        @Argument(help: "Audit log files, oldest first.")
        var files: [String]

        func run() throws {
            envyro_cli_unblock_signals()
            guard let newest = files.last else {
                print("envyro audit verify: name at least one audit log file (oldest first), e.g. ~/.local/state/envyro/audit.jsonl")
                throw ExitCode(64)
            }
            let keyPath = key ?? AuditKey.defaultPath(forLog: newest)
            var keyError: AuditKeyError? = nil
            var loaded: AuditKey? = nil
            if key != nil || Files.kind(keyPath) != .missing {
                do { loaded = try AuditKey.load(path: keyPath, owner: nil) } catch { keyError = error }
            }
            let r = AuditVerifier.verify(files: files, key: loaded)
            switch r.outcome {
            case .broken(let file, let line, let reason):
                print("BROKEN: \(file):\(line): \(reason)")
                throw ExitCode(1)
            case .ok(let lines):
                let unkeyed = "unkeyed (SHA-256 chain only): anyone who can append can forge"
                if r.keyedLines == 0 {
                    print("OK: \(lines) lines, chain intact; \(unkeyed)")
                    if loaded != nil || keyError != nil {
                        print("warning: a key exists at \(keyPath) but no line is keyed: this log was not written with it, or its MACs were stripped")
                    }
                    return
                }
                guard let loaded else {
                    let why = keyError.map { $0.reason } ?? "it does not exist"
                    print("UNVERIFIED: \(lines) lines, chain intact, but \(r.keyedLines) lines are keyed (HMAC-SHA256) and the key \(keyPath) can't be used: \(why). Run as the key's owner (or root), or pass --key FILE.")
                    throw ExitCode(2)
                }
                if r.unkeyedLines > 0 {
                    print("OK: \(lines) lines, chain intact; the first \(r.unkeyedLines) are \(unkeyed); the \(r.keyedLines) after them are keyed (HMAC-SHA256, key \(loaded.path)): verified")
                } else {
                    print("OK: \(lines) lines, chain intact; keyed (HMAC-SHA256, key \(loaded.path)): verified")
                }
            }
        }
    }
}

/// The supervisor `envyro run` starts on first use (`--supervisor auto`, the default), so the
/// runs after it are fast with nothing to set up. It is the same `envyro-supervisor`, with the
/// same checks, policy and audit, started in a session of its own with `--auto`: it serves
/// `auto-NAME.sock` for this run's policy and exits after the policy's
/// `pools.autoSupervisorIdleSeconds` without a client. Off with `--supervisor never`,
/// `ENVYRO_AUTO_SUPERVISOR=0`, or `pools.autoSupervisorIdleSeconds: 0` in the policy.
enum AutoSupervisor {
    static func start(_ embedded: EmbeddedSupervisor, socketPath: String) {
        guard let loaded = try? embedded.engine.policies.get(embedded.policyReference),
              loaded.policy.pools.autoSupervisorIdleSeconds > 0 else { return }
        let dir = Files.directory(of: Files.executablePath())
        let candidates = [dir + "/envyro-supervisor", Files.directory(of: Files.directory(of: dir)) + "/bin/envyro-supervisor"]
        guard let path = candidates.first(where: { access($0, X_OK) == 0 }) else { return }
        let words: [String] = [path, "--policy", embedded.policyReference, "--socket", socketPath, "--auto"]
        var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) }
        argv.append(nil)
        defer { for p in argv { free(p) } }
        _ = envyro_spawn_detached(path, &argv, envyro_environ())
    }
}
