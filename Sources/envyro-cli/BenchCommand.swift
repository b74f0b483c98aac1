import ArgumentParser
import CEnvyro
import CEnvyroCLI
import EnvyroClient
import EnvyroEngine
import EnvyroIO
import EnvyroJSON
import EnvyroProtocol
import EnvyroSystem
import Glibc

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
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
        var body = RunSpec(argv: ["/bin/true"]).jsonObject()
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
