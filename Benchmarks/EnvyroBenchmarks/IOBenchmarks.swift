import CEnvyro
import EnvyroEngine
import EnvyroIO
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// The I/O worker's benchmarks, for `make bench`: the io_uring backend against the plain
/// read/write backend of the same worker, in the same run, plus the in-process floor (the
/// supervisor reading the files itself).
///
/// - `small`: `smallFiles` files of 4 KiB, each read whole (one request per file).
/// - `large`: one file of `largeFileBytes`, read slab by slab (1 MiB slabs, no copy out).
/// - `capture`: a child process (`head -c N /dev/zero`) writes `captureBytes` into the stdout
///   pipe; the worker copies it into a file (splice and read/write methods), or with a 1 MiB
///   cap drains the rest. MB/s is wall time from spawn to the last `capture_done`; CPU s/GiB
///   is the worker's own user+system time (getrusage in the worker, io_uring's kernel threads
///   included).
///
/// Files are read from the page cache (warmed first): the figures compare the paths, not the
/// disk.
public enum IOBenchmarks {
    /// Runs every benchmark; figures are `(key, value, unit)`.
    public static func run(
        directory: String = "/tmp", workerPath: String = IOWorkerClient.locateWorker(),
        smallFiles: Int = 2000, largeFileBytes: Int = 256 << 20, captureBytes: Int = 1 << 30
    ) throws -> [(key: String, value: Double, unit: String)] {
        var template = Array("\(directory)/envyro-io-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw IOWorkerError.system(.current("mkdtemp", directory)) }
        let dir = String(cString: made)
        defer { removeTree(dir) }
        var figures: [(key: String, value: Double, unit: String)] = []

        // Inputs.
        let block = [UInt8](repeating: 0x61, count: 4096)
        for i in 0..<smallFiles { try writeFile("\(dir)/s\(i)", block) }
        let large = "\(dir)/large"
        let chunk = [UInt8](repeating: 0x62, count: 1 << 20)
        let fd = open(large, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IOWorkerError.system(.current("open", large)) }
        for _ in 0..<(largeFileBytes >> 20) { _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        close(fd)

        // The in-process floor.
        _ = inProcessRead(large)
        for i in 0..<smallFiles { _ = inProcessRead("\(dir)/s\(i)") }
        var t = Clock.monotonicNanoseconds()
        for i in 0..<smallFiles { _ = inProcessRead("\(dir)/s\(i)") }
        figures.append(("io.small_4k.in_process", perFile(t, smallFiles), "us/file"))
        t = Clock.monotonicNanoseconds()
        _ = inProcessRead(large)
        figures.append(("io.large_read.in_process", megabytesPerSecond(largeFileBytes, since: t), "MB/s"))

        let pool = try BufferPool(slabSize: 1 << 20, slabCount: 8, name: "envyro-io-bench")
        for backend in [IOBackendPreference.automatic, .syscalls] {
            let client = try IOWorkerClient(pool: pool, configuration: IOWorkerConfiguration(executablePath: workerPath, backend: backend))
            defer { client.shutdown() }
            let name = client.backend
            // Small files: warm, then measure.
            for i in 0..<smallFiles { try client.readFile("\(dir)/s\(i)") { _ in } }
            t = Clock.monotonicNanoseconds()
            for i in 0..<smallFiles { try client.readFile("\(dir)/s\(i)") { _ in } }
            figures.append(("io.small_4k.\(name)", perFile(t, smallFiles), "us/file"))
            // One large file.
            try client.readFile(large) { _ in }
            t = Clock.monotonicNanoseconds()
            let n = try client.readFile(large) { _ in }
            figures.append(("io.large_read.\(name)", megabytesPerSecond(n, since: t), "MB/s"))
            // Capture, both methods, with and without a cap.
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
        let before = try client.workerStatistics()
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
        let after = try client.workerStatistics()
        unlink(out)
        unlink(err)
        guard result.stdout.received == UInt64(bytes) else {
            throw IOWorkerError.invalidArgument("capture benchmark: received \(result.stdout.received) of \(bytes) bytes")
        }
        let cpuMicros = Double((after.userMicros + after.systemMicros) - (before.userMicros + before.systemMicros))
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

    static func inProcessRead(_ path: String) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let size = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        var total = 0
        while true {
            let n = read(fd, buffer, size)
            if n <= 0 { return total }
            total += n
        }
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw IOWorkerError.system(.current("open", path)) }
        defer { close(fd) }
        do { try Files.writeAll(fd, bytes, subject: path) } catch { throw IOWorkerError.system(error) }
    }

    static func removeTree(_ dir: String) {
        guard let d = opendir(dir) else { return }
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { unlink(dir + "/" + name) }
        }
        closedir(d)
        rmdir(dir)
    }

    static func perFile(_ start: UInt64, _ count: Int) -> Double {
        Double(Clock.monotonicNanoseconds() - start) / 1000 / Double(max(count, 1))
    }

    static func megabytesPerSecond(_ bytes: Int, since start: UInt64) -> Double {
        Double(bytes) / 1e6 / (Double(Clock.monotonicNanoseconds() - start) / 1e9)
    }
}
