import CEnvyro
import EnvyroEngine
import EnvyroIO
import EnvyroProtocol
import Foundation
import Testing

/// Backend × method combinations for the capture tests.
let captureModes: [(IOBackendPreference, CaptureMethod)] = [
    (.automatic, .splice), (.automatic, .readWrite), (.syscalls, .splice), (.syscalls, .readWrite),
]

@Suite("The I/O worker captures container output")
struct CaptureTests {
    @Test("Capture without a cap copies both streams and counts their bytes", arguments: captureModes)
    func uncapped(_ backend: IOBackendPreference, _ method: CaptureMethod) throws {
        let f = try Fixture(backend: backend)
        let capture = try f.client.startCapture(stdoutPath: f.path("out.log"), stderrPath: f.path("err.log"), method: method)
        #expect(capture.method == method)
        let child = try spawn(["/bin/sh", "-c", "head -c 3000000 /dev/urandom | od -An -tx1; echo to-stderr >&2"],
                              stdout: capture.stdoutWriteFD, stderr: capture.stderrWriteFD)
        close(capture.stdoutWriteFD)
        close(capture.stderrWriteFD)
        child.waitUntilExit()
        let result = try f.client.waitCapture(capture.handle)
        let out = try f.contents("out.log")
        #expect(out.count > 3_000_000)
        #expect(result.stdout == CapturedStream(received: UInt64(out.count), written: UInt64(out.count), truncated: false, errno: 0))
        #expect(try f.contents("err.log") == Array("to-stderr\n".utf8))
        #expect(result.stderr.written == 10 && !result.stderr.truncated)
        #expect(throws: IOWorkerError.self) { try f.client.waitCapture(capture.handle) }
    }

    @Test("A capped capture stops at the cap, appends the marker, and never blocks the writer", arguments: captureModes)
    func capped(_ backend: IOBackendPreference, _ method: CaptureMethod) throws {
        let f = try Fixture(backend: backend)
        let cap = 1 << 20
        let capture = try f.client.startCapture(stdoutPath: f.path("out.log"), stderrPath: f.path("err.log"), capBytes: cap, method: method)
        // 10 MiB into a 1 MiB cap, from a child process; it finishes because the worker drains.
        let child = try spawn(["/usr/bin/head", "-c", "10485760", "/dev/zero"], stdout: capture.stdoutWriteFD, stderr: capture.stderrWriteFD)
        close(capture.stdoutWriteFD)
        close(capture.stderrWriteFD)
        child.waitUntilExit()
        #expect(child.terminationStatus == 0)
        let result = try f.client.waitCapture(capture.handle)
        #expect(result.stdout == CapturedStream(received: 10 << 20, written: UInt64(cap), truncated: true, errno: 0))
        let marker = Array("\n[envyro: output truncated at \(cap) bytes]\n".utf8)
        let out = try f.contents("out.log")
        #expect(out.count == cap + marker.count)
        #expect(Array(out[..<cap]) == [UInt8](repeating: 0, count: cap))
        #expect(Array(out[cap...]) == marker)
        #expect(result.stderr == CapturedStream(received: 0, written: 0, truncated: false, errno: 0))
    }

    @Test("Output of exactly the cap is not marked truncated")
    func exactlyTheCap() throws {
        let f = try Fixture()
        let capture = try f.client.startCapture(stdoutPath: f.path("o"), stderrPath: f.path("e"), capBytes: 5)
        #expect(write(capture.stdoutWriteFD, "12345", 5) == 5)
        close(capture.stdoutWriteFD)
        close(capture.stderrWriteFD)
        let result = try f.client.waitCapture(capture.handle)
        #expect(!result.stdout.truncated && result.stdout.written == 5)
        #expect(try f.contents("o") == Array("12345".utf8))
    }

    @Test("Tee copies the capped output and the marker to the tee descriptors", arguments: backends)
    func tee(_ backend: IOBackendPreference) throws {
        var teeOut: [Int32] = [0, 0], teeErr: [Int32] = [0, 0]
        #expect(envyro_pipe_cloexec(&teeOut) == 0 && envyro_pipe_cloexec(&teeErr) == 0)
        let f = try Fixture(backend: backend) { $0.teeDescriptors = (teeOut[1], teeErr[1]) }
        let capture = try f.client.startCapture(stdoutPath: f.path("o"), stderrPath: f.path("e"), capBytes: 8, tee: true, append: true)
        #expect(capture.method == .readWrite)
        close(teeOut[1]); close(teeErr[1])
        let child = try spawn(["/bin/sh", "-c", "printf 0123456789; printf err >&2"], stdout: capture.stdoutWriteFD, stderr: capture.stderrWriteFD)
        close(capture.stdoutWriteFD)
        close(capture.stderrWriteFD)
        child.waitUntilExit()
        let result = try f.client.waitCapture(capture.handle)
        #expect(result.stdout.truncated && result.stdout.received == 10)
        let expected = Array("01234567\n[envyro: output truncated at 8 bytes]\n".utf8)
        #expect(try f.contents("o") == expected)
        #expect([UInt8](FileHandle(fileDescriptor: teeOut[0], closeOnDealloc: true).readDataToEndOfFile()) == expected)
        #expect([UInt8](FileHandle(fileDescriptor: teeErr[0], closeOnDealloc: true).readDataToEndOfFile()) == Array("err".utf8))
    }

    @Test("A log file that can't be opened fails capture_start and closes the pipes")
    func unopenableLog() throws {
        let f = try Fixture()
        #expect(throws: IOWorkerError.self) {
            try f.client.startCapture(stdoutPath: f.path("missing/out"), stderrPath: f.path("e"))
        }
        #expect(throws: IOWorkerError.self) {
            try f.client.startCapture(stdoutPath: f.path("o"), stderrPath: f.path("e"), capBytes: 0)
        }
        #expect(try f.capture("echo ok", name: "ok").stdout.written == 3)
    }
}

@Suite("The I/O worker's faults are contained")
struct FaultTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    @Test("A SIGKILLed worker fails the pending capture clearly, writers get EPIPE, and the next request starts a new worker")
    func killedDuringCapture() throws {
        let f = try Fixture()
        let firstPID = try #require(f.client.workerPID)
        let capture = try f.client.startCapture(stdoutPath: f.path("o"), stderrPath: f.path("e"))
        #expect(write(capture.stdoutWriteFD, "before", 6) == 6)
        // A writer that would run forever: it must die of SIGPIPE, not block.
        let yes = try spawn(["/usr/bin/yes"], stdout: capture.stdoutWriteFD, stderr: capture.stderrWriteFD)
        usleep(50_000)
        f.client.killWorker()
        do {
            _ = try f.client.waitCapture(capture.handle)
            Issue.record("waitCapture succeeded after SIGKILL")
        } catch {
            #expect("\(error)" == "the I/O worker exited (killed by signal 9) during capture of \(f.path("o")) and \(f.path("e")); the next request starts a new one")
        }
        yes.waitUntilExit()
        // It ended instead of blocking: SIGPIPE, or (SIGPIPE is ignored in this test process,
        // and children inherit that) its own exit on EPIPE.
        #expect((yes.terminationReason == .uncaughtSignal && yes.terminationStatus == SIGPIPE)
                || (yes.terminationReason == .exit && yes.terminationStatus != 0))
        #expect(write(capture.stdoutWriteFD, "after", 5) == -1 && errno == EPIPE)
        close(capture.stdoutWriteFD)
        close(capture.stderrWriteFD)
        #expect(try f.capture("echo x", name: "x").stdout.written == 2)
        let secondPID = try #require(f.client.workerPID)
        #expect(secondPID != firstPID)
        #expect(f.client.stats.starts == 2)
        #expect(f.client.stats.workerFailures == 1)
    }
}
