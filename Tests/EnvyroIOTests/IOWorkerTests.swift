import EnvyroEngine
import EnvyroIO
import EnvyroProtocol
import Foundation
import Testing

@Suite("The I/O worker serves files")
struct FileOperationTests {
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

    @Test("Reading a file through the worker returns its bytes", arguments: backends)
    func readRoundTrip(_ backend: IOBackendPreference) throws {
        let f = try Fixture(backend: backend)
        for size in [0, 1, 4096, 65536, 200_000] {
            let bytes = pattern(size, seed: UInt8(size & 0xFF))
            try f.write("r\(size)", bytes)
            #expect(try f.client.readFile(f.path("r\(size)")) == bytes)
        }
        // A /proc file reports size 0 and is read to its end all the same.
        let proc = try f.client.readFile("/proc/self/mountinfo")
        #expect(proc.count > 100)
    }
}

extension FileOperationTests {
    @Test("A missing file is an error that names the path and the cause", arguments: backends)
    func missingFile(_ backend: IOBackendPreference) throws {
        let f = try Fixture(backend: backend)
        let missing = f.path("nope")
        do {
            _ = try f.client.readFile(missing)
            Issue.record("reading a missing file succeeded")
        } catch {
            guard case .refused(_, let failure) = error else { Issue.record("unexpected \(error)"); return }
            #expect(failure.errno == ENOENT)
            #expect("\(error)" == "read_file \(missing) failed: cannot open \(missing): No such file or directory")
        }
        #expect(throws: IOWorkerError.self) { try f.client.readFile("relative/path") }
    }

    @Test("Writing a file through the worker creates, truncates and appends", arguments: backends)
    func writeRoundTrip(_ backend: IOBackendPreference) throws {
        let f = try Fixture(backend: backend)
        let big = pattern(300_000)
        try f.client.writeFile(f.path("w"), big, mode: 0o600)
        #expect(try f.contents("w") == big)
        var st = stat()
        #expect(stat(f.path("w"), &st) == 0 && st.st_mode & 0o777 == 0o600)
        try f.client.writeFile(f.path("w"), [1, 2, 3])
        #expect(try f.contents("w") == [1, 2, 3])
        try f.client.writeFile(f.path("w"), [4, 5], append: true)
        #expect(try f.contents("w") == [1, 2, 3, 4, 5])
        try f.client.writeFile(f.path("empty"), [])
        #expect(try f.contents("empty") == [])
        #expect(throws: IOWorkerError.self) { try f.client.writeFile(f.path("no/such/dir"), [1]) }
    }

    @Test("Zero-copy reads and writes use the caller's slab", arguments: backends)
    func zeroCopy(_ backend: IOBackendPreference) throws {
        let f = try Fixture(backend: backend)
        let bytes = pattern(10_000)
        try f.write("z", bytes)
        let buffer = try f.pool.acquire()
        defer { f.pool.release(buffer) }
        let (count, eof) = try f.client.read(f.path("z"), into: buffer)
        #expect(count == 10_000 && eof)
        #expect(buffer.readableCount == 10_000)
        try f.client.write(f.path("z2"), from: buffer)
        #expect(buffer.readableCount == 0)
        #expect(try f.contents("z2") == bytes)
    }

    @Test("Listing a directory returns every entry with its type, across several slabs", arguments: backends)
    func listRoundTrip(_ backend: IOBackendPreference) throws {
        let f = try Fixture(backend: backend, slabSize: 4096)
        var expected: Set<DirectoryEntry> = []
        for i in 0..<300 {
            let name = "file-\(i)-" + String(repeating: "x", count: 40)
            try f.write(name, [1])
            expected.insert(DirectoryEntry(name: name, type: .regular))
        }
        try FileManager.default.createDirectory(atPath: f.path("sub"), withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: f.path("link"), withDestinationPath: "sub")
        expected.insert(DirectoryEntry(name: "sub", type: .directory))
        expected.insert(DirectoryEntry(name: "link", type: .symbolicLink))
        let entries = try f.client.listDirectory(f.dir)
        #expect(entries.count == expected.count)
        #expect(Set(entries) == expected)
        #expect(throws: IOWorkerError.self) { try f.client.listDirectory(f.path("sub/none")) }
    }

    @Test("Concurrent requests from several threads each get their own answer")
    func concurrentRequests() async throws {
        let f = try Fixture()
        for i in 0..<8 { try f.write("c\(i)", pattern(50_000 + i, seed: UInt8(i))) }
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 {
                let client = f.client, path = f.path("c\(i)")
                group.addTask { try client.readFile(path) == pattern(50_000 + i, seed: UInt8(i)) }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}

@Suite("The I/O worker falls back and confines itself")
struct BackendTests {
    @Test("A seccomp filter that refuses io_uring_setup makes the worker fall back to syscalls")
    func realRefusal() throws {
        let f = try Fixture(backend: .refuseIOUringBySeccomp)
        #expect(f.client.backend == "syscalls")
        #expect(f.client.backendNote.contains("Operation not permitted"))
        try f.client.writeFile(f.path("a"), [9, 8, 7])
        #expect(try f.client.readFile(f.path("a")) == [9, 8, 7])
    }

    @Test("The worker runs under its own seccomp filter and still serves every operation", arguments: backends)
    func seccompAllowsEverything(_ backend: IOBackendPreference) throws {
        let f = try Fixture(backend: backend)
        let pid = try #require(f.client.workerPID)
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("Seccomp:\t2"))
        try f.client.writeFile(f.path("s"), pattern(70_000))
        #expect(try f.client.readFile(f.path("s")) == pattern(70_000))
        #expect(try f.client.listDirectory(f.dir).map(\.name) == ["s"])
        _ = try f.client.workerStatistics()
        let capture = try f.client.startCapture(stdoutPath: f.path("o"), stderrPath: f.path("e"), capBytes: 10)
        let child = try spawn(["/bin/sh", "-c", "echo hello world; echo oops >&2"], stdout: capture.stdoutWriteFD, stderr: capture.stderrWriteFD)
        close(capture.stdoutWriteFD)
        close(capture.stderrWriteFD)
        child.waitUntilExit()
        let result = try f.client.waitCapture(capture.handle)
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
        #expect("\(IOWorkerError.compiledOut(operation: "read_file /x"))".contains("ENVYRO_NO_URING"))
    }
}
