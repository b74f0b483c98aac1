import EnvyroEngine
import EnvyroIO
import EnvyroProtocol
import Foundation
import Testing

@Suite("The I/O worker starts")
struct WorkerStartTests {
    @Test("The hello reply names the active backend", arguments: backends)
    func backendNamed(_ backend: IOBackendPreference) throws {
        let f = try Fixture(backend: backend)
        if backend == .syscalls {
            #expect(f.client.backend == "syscalls")
        } else {
            #expect(f.client.backend == "io_uring")
            #expect(f.client.stats.fixedBuffers)
        }
        #expect(f.client.workerPID != nil)
    }

    @Test("Captures started from several threads each get their own answer")
    func concurrentCaptures() async throws {
        let f = try Fixture()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<4 {
                let client = f.client, prefix = f.path("c\(i)")
                group.addTask { try client.capture("printf %0\(1000 + i)d 0", into: prefix).stdout.written == UInt64(1000 + i) }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}

extension IOWorkerClient {
    /// Runs `script` with its stdout and stderr captured into `<prefix>.out` and `<prefix>.err`.
    func capture(_ script: String, into prefix: String, capBytes: Int? = nil) throws -> CaptureResult {
        let capture = try startCapture(stdoutPath: prefix + ".out", stderrPath: prefix + ".err", capBytes: capBytes)
        let child = try spawn(["/bin/sh", "-c", script], stdout: capture.stdoutWriteFD, stderr: capture.stderrWriteFD)
        close(capture.stdoutWriteFD)
        close(capture.stderrWriteFD)
        child.waitUntilExit()
        return try waitCapture(capture.handle)
    }
}

extension Fixture {
    /// Runs `script` with its output captured into `<name>.out` and `<name>.err` of the fixture.
    func capture(_ script: String, name: String, capBytes: Int? = nil) throws -> CaptureResult {
        try client.capture(script, into: path(name), capBytes: capBytes)
    }
}

@Suite("The I/O worker falls back and confines itself")
struct BackendTests {
    @Test("A seccomp filter that refuses io_uring_setup makes the worker fall back to syscalls")
    func realRefusal() throws {
        let f = try Fixture(backend: .refuseIOUringBySeccomp)
        #expect(f.client.backend == "syscalls")
        #expect(f.client.backendNote.contains("Operation not permitted"))
        #expect(try f.capture("echo abc", name: "a").stdout.written == 4)
        #expect(try f.contents("a.out") == Array("abc\n".utf8))
    }

    @Test("The worker runs under its own seccomp filter and still captures", arguments: backends)
    func seccompAllowsEverything(_ backend: IOBackendPreference) throws {
        let f = try Fixture(backend: backend)
        let pid = try #require(f.client.workerPID)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("Seccomp:\t2"))
        let result = try f.capture("echo hello world; echo oops >&2", name: "s", capBytes: 10)
        #expect(result.stdout.truncated && !result.stderr.truncated)
        #expect(f.client.workerPID == pid)
    }

    @Test("The library and the worker do not import Foundation")
    func noFoundation() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for dir in ["Sources/EnvyroIO", "helpers/ioworker", "Sources/CURing"] {
            let files = try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(dir).path)
            #expect(!files.isEmpty)
            for file in files {
                let text = try String(contentsOf: root.appendingPathComponent(dir).appendingPathComponent(file), encoding: .utf8)
                #expect(!text.contains("import Foundation"), "\(dir)/\(file) imports Foundation")
            }
        }
    }

    @Test("The compiled-out error names the switch")
    func compiledOutMessage() {
        #expect("\(IOWorkerError.compiledOut(operation: "capture_start"))".contains("ENVYRO_NO_URING"))
    }
}
