import CEnvyro
import EnvyroEngine
import EnvyroIO
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// The I/O worker's benchmarks, for `make bench`: log capture with the io_uring backend against
/// the plain read/write backend of the same worker, in the same run.
///
/// A child process (`head -c N /dev/zero`) writes `captureBytes` into the stdout pipe; the
/// worker copies it into a file (splice and read/write methods), or with a 1 MiB cap drains the
/// rest. MB/s is wall time from spawn to the last `capture_done`; CPU s/GiB is the worker's own
/// user+system time (/proc/PID/stat of the worker, its io_uring threads included).
public enum IOBenchmarks {
    /// Runs every benchmark; figures are `(key, value, unit)`.
    public static func run(
        directory: String = "/tmp", workerPath: String = IOWorkerClient.locateWorker(), captureBytes: Int = 1 << 30
    ) throws -> [(key: String, value: Double, unit: String)] {
        var template = Array("\(directory)/envyro-io-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw IOWorkerError.system(.current("mkdtemp", directory)) }
        let dir = String(cString: made)
        defer { rmdir(dir) }
        var figures: [(key: String, value: Double, unit: String)] = []
        let pool = try BufferPool(slabSize: 1 << 20, slabCount: 8, name: "envyro-io-bench")
        for backend in [IOBackendPreference.automatic, .syscalls] {
            let client = try IOWorkerClient(pool: pool, configuration: IOWorkerConfiguration(executablePath: workerPath, backend: backend))
            defer { client.shutdown() }
            let name = client.backend
            for method in [CaptureMethod.splice, .readWrite] {
                for cap in [nil, 1 << 20] as [Int?] {
                    let (mbs, cpu) = try capture(client, dir: dir, bytes: captureBytes, cap: cap, method: method)
                    let key = "io.capture_1g.\(name).\(method == .splice ? "splice" : "read_write").\(cap == nil ? "uncapped" : "cap_1m")"
                    figures.append((key + ".throughput", mbs, "MB/s"))
                    figures.append((key + ".worker_cpu", cpu, "s/GiB"))
                }
            }
        }
        return figures
    }

    /// One capture of `bytes` from a child writer; returns (MB/s, worker CPU s/GiB).
    static func capture(_ client: IOWorkerClient, dir: String, bytes: Int, cap: Int?, method: CaptureMethod) throws -> (Double, Double) {
        let out = "\(dir)/capture.out", err = "\(dir)/capture.err"
        let before = workerCPUMicros(client.workerPID)
        let start = Clock.monotonicNanoseconds()
        let capture = try client.startCapture(stdoutPath: out, stderrPath: err, capBytes: cap, method: method)
        let pid = spawnWriter(["/usr/bin/head", "-c", String(bytes), "/dev/zero"], stdout: capture.stdoutWriteFD, stderr: capture.stderrWriteFD)
        close(capture.stdoutWriteFD)
        close(capture.stderrWriteFD)
        let result = try client.waitCapture(capture.handle)
        let elapsed = Clock.monotonicNanoseconds() - start
        if pid > 0 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        let after = workerCPUMicros(client.workerPID)
        unlink(out)
        unlink(err)
        guard result.stdout.received == UInt64(bytes) else {
            throw IOWorkerError.invalidArgument("capture benchmark: received \(result.stdout.received) of \(bytes) bytes")
        }
        let cpuMicros = Double(after &- before)
        let gib = Double(bytes) / Double(1 << 30)
        return (Double(bytes) / 1e6 / (Double(elapsed) / 1e9), cpuMicros / 1e6 / gib)
    }

    /// posix_spawn of `argv` with the given stdout and stderr (no Foundation here).
    static func spawnWriter(_ argv: [String], stdout: Int32, stderr: Int32) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArgs.append(nil)
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, envyro_environ())
        return r == 0 ? pid : -1
    }

    /// User + system time of process `pid` (all its threads) in microseconds, from
    /// /proc/PID/stat (fields 14 and 15, in clock ticks); 0 when it can't be read.
    static func workerCPUMicros(_ pid: pid_t?) -> UInt64 {
        guard let pid, let bytes = try? Files.read("/proc/\(pid)/stat", limit: 4096) else { return 0 }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return 0 }
        // After "(comm)": state is field 3, utime 14, stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return 0 }
        let ticks = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        return (user + system) * 1_000_000 / ticks
    }
}
