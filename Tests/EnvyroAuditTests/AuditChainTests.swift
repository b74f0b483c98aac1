import EnvyroAudit
import Foundation
import Testing

/// The audit log is a SHA-256 chain: `envyro audit verify` finds any edited, deleted,
/// reordered or truncated line, across rotated files too.
@Suite("audit chain")
final class AuditChainTests {
    /// The directories this test made; removed when it ends (each test gets its own instance).
    var made: [URL] = []
    deinit { for d in made { try? FileManager.default.removeItem(at: d) } }

    static func record(_ n: Int) -> AuditRecord {
        AuditRecord(verb: "create", callerUID: 1000, callerPID: Int32(100 + n), argumentDigest: Digest.sha256(Array("args \(n)".utf8)),
                    decision: n % 3 == 0 ? .denied(reason: "network host is not allowed") : .allowed,
                    result: n % 3 == 0 ? "EPERM" : "ok", durationMicros: UInt64(n), detail: "container \(n)")
    }

    /// A fresh log with `count` records; returns its path.
    func log(_ count: Int, maxBytes: Int = 1 << 30) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        made.append(dir)
        let path = dir.appendingPathComponent("audit.jsonl").path
        let log = try AuditLog(path: path, maxBytes: maxBytes, keep: 50)
        for i in 0..<count { try log.append(Self.record(i)) }
        return path
    }

    static func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func write(_ lines: [String], to path: String) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
    }

    @Test("an untouched log verifies, with consecutive sequence numbers")
    func intact() throws {
        let path = try log(20)
        #expect(AuditVerifier.verify(files: [path]) == .ok(lines: 20))
        let seqs = try Self.lines(path).map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }.map { $0["seq"] as! Int }
        #expect(seqs == Array(1...20))
    }

    @Test("each kind of tampering is found at the right line", arguments: [
        ("edited", 7),
        ("deleted", 7),
        ("reordered", 7),
        ("truncated", 20),
    ])
    func tampering(kind: String, line: Int) throws {
        let path = try log(20)
        var lines = try Self.lines(path)
        switch kind {
        case "edited": lines[6] = lines[6].replacingOccurrences(of: "\"uid\":1000", with: "\"uid\":0")
        case "deleted": lines.remove(at: 6)
        case "reordered": lines.swapAt(6, 7)
        default:
            try Self.write(lines, to: path)
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
            try handle.truncate(atOffset: try handle.seekToEnd() - 10)
            try handle.close()
            guard case .broken(_, let at, let reason) = AuditVerifier.verify(files: [path]) else { Issue.record("not detected"); return }
            #expect(at == line)
            #expect(reason.hasPrefix("truncated"))
            return
        }
        try Self.write(lines, to: path)
        guard case .broken(_, let at, let reason) = AuditVerifier.verify(files: [path]) else { Issue.record("not detected"); return }
        #expect(at == line)
        #expect(reason.contains(kind), "\(reason)")
    }

    @Test("rotation by size carries the chain into the next file")
    func rotation() throws {
        let path = try log(40, maxBytes: 4096)
        let rotated = (1...50).map { "\(path).\($0)" }.filter { FileManager.default.fileExists(atPath: $0) }
        #expect(rotated.count >= 2, "small files force several rotations")
        let oldestFirst = rotated.reversed() + [path]
        #expect(AuditVerifier.verify(files: Array(oldestFirst)) == .ok(lines: 40))
        // Dropping a middle file breaks the chain where the next file starts.
        var gap = Array(oldestFirst)
        gap.remove(at: 1)
        guard case .broken = AuditVerifier.verify(files: gap) else { Issue.record("a missing file was not detected"); return }
    }

    @Test("two writers on one file keep one chain")
    func concurrentWriters() async throws {
        let path = try log(0)
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<4 {
                group.addTask {
                    guard let log = try? AuditLog(path: path) else { return }
                    for i in 0..<50 { _ = try? log.append(Self.record(w * 100 + i)) }
                }
            }
        }
        #expect(AuditVerifier.verify(files: [path]) == .ok(lines: 200))
    }

    @Test("a line holds every field the design names")
    func fields() throws {
        let path = try log(3)
        let rec = try JSONSerialization.jsonObject(with: Data(try Self.lines(path)[0].utf8)) as! [String: Any]
        for key in ["seq", "time", "uid", "pid", "helper_pid", "verb", "args_sha256", "decision", "reason", "result", "duration_us", "detail", "prev"] {
            #expect(rec[key] != nil, "\(key)")
        }
        #expect(rec["prev"] as? String == Digest.genesis)
    }
}
