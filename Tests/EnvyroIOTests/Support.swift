import EnvyroEngine
import EnvyroIO
import EnvyroProtocol
import Foundation
import Testing

/// A temporary directory, a pool and a client for one test.
final class Fixture {
    let dir: String
    let pool: BufferPool
    let client: IOWorkerClient

    init(backend: IOBackendPreference = .automatic, slabSize: Int = 64 * 1024, slabs: Int = 8,
         configure: (inout IOWorkerConfiguration) -> Void = { _ in }) throws {
        var template = Array("/tmp/envyro-io-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        let dir = String(cString: made)
        self.dir = dir
        // deinit doesn't run for an init that throws: the directory goes here then.
        do {
            pool = try BufferPool(slabSize: slabSize, slabCount: slabs, name: "envyro-io-test")
            var configuration = IOWorkerConfiguration(backend: backend)
            configure(&configuration)
            client = try IOWorkerClient(pool: pool, configuration: configuration)
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    deinit {
        client.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func path(_ name: String) -> String { dir + "/" + name }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
    }

    func contents(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name))))
    }
}

/// Deterministic bytes.
func pattern(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ ($0 >> 11)) }
}

/// Runs `arguments` with stdout and stderr on the given descriptors; returns the process.
func spawn(_ arguments: [String], stdout: Int32, stderr: Int32) throws -> Process {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: arguments[0])
    p.arguments = Array(arguments.dropFirst())
    p.standardOutput = FileHandle(fileDescriptor: stdout, closeOnDealloc: false)
    p.standardError = FileHandle(fileDescriptor: stderr, closeOnDealloc: false)
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return p
}

/// The backends every operation is tested with.
let backends: [IOBackendPreference] = [.automatic, .syscalls]
