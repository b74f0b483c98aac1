import EnvyroAudit
import Foundation
import Testing

/// HMAC-SHA256 (RFC 2104) on top of libmd, checked against RFC 4231's test vectors.
@Suite("HMAC-SHA256")
struct HMACTests {
    static func bytes(_ hex: String) -> [UInt8] { Digest.bytes(hex: hex)! }

    static let longKey = [UInt8](repeating: 0xaa, count: 131)

    @Test("RFC 4231 test vectors", arguments: [
        ("1", [UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ("2: a key shorter than the output", Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        ("3: 50 bytes of 0xdd", [UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ("4: a 25-byte key", Array(1...25), [UInt8](repeating: 0xcd, count: 50),
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        ("6: a key larger than a block", longKey, Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
        ("7: a key and data larger than a block", longKey,
         Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
    ])
    func rfc4231(name: String, key: [UInt8], data: [UInt8], expected: String) {
        #expect(Digest.hex(Digest.hmacSHA256(key: key, message: data)) == expected, "test case \(name)")
    }

    @Test("RFC 4231 test case 5: the output truncated to 128 bits")
    func truncated() {
        let mac = Digest.hmacSHA256(key: [UInt8](repeating: 0x0c, count: 20), message: Array("Test With Truncation".utf8))
        #expect(Digest.hex(Array(mac.prefix(16))) == "a3b6167473100ee06e0c796c2955552b")
    }
}

/// A keyed audit chain: each line carries an HMAC under a key only its owner can read, so a
/// writer without the key can't add or change a line that verifies.
@Suite("keyed audit chain")
final class AuditKeyTests {
    var made: [URL] = []
    deinit { for d in made { try? FileManager.default.removeItem(at: d) } }

    func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        made.append(dir)
        return dir
    }

    /// A keyed log with `count` records; returns it and its key.
    func keyedLog(_ count: Int, maxBytes: Int = 1 << 30) throws -> (String, AuditKey) {
        let dir = try directory()
        let path = dir.appendingPathComponent("audit.jsonl").path
        let key = try AuditKey.loadOrCreate(path: AuditKey.defaultPath(forLog: path))
        let log = try AuditLog(path: path, maxBytes: maxBytes, keep: 50, key: key)
        for i in 0..<count { try log.append(AuditChainTests.record(i)) }
        return (path, key)
    }

    @Test("a keyed log verifies with its key and every line is counted as keyed")
    func intact() throws {
        let (path, key) = try keyedLog(10)
        let report = AuditVerifier.verify(files: [path], key: key)
        #expect(report.outcome == .ok(lines: 10))
        #expect(report.keyedLines == 10 && report.unkeyedLines == 0 && report.macsChecked)
        let first = try AuditChainTests.lines(path)[0]
        #expect(first.hasSuffix("\"}") && first.contains(",\"mac\":\""))
    }

    @Test("a line appended with a correct SHA-256 prev but no key is found", arguments: ["no mac", "a made-up mac", "a mac under another key"])
    func forgedAppend(kind: String) throws {
        let (path, key) = try keyedLog(5)
        let last = try AuditChainTests.lines(path).last!
        let prev = Digest.hex(Digest.sha256(Array(last.utf8)))
        let record = AuditRecord(verb: "create", callerUID: 0, callerPID: 1, argumentDigest: Digest.sha256([]),
                                 decision: .allowed, result: "ok", durationMicros: 1, detail: "forged")
        let forged: String
        switch kind {
        case "no mac": forged = AuditLog.format(record, seq: 6, prev: prev)
        case "a made-up mac": forged = String(AuditLog.format(record, seq: 6, prev: prev).dropLast()) + AuditLog.macField + String(repeating: "ab", count: 32) + "\"}"
        default: forged = AuditLog.format(record, seq: 6, prev: prev, key: AuditKey(path: "other", bytes: [UInt8](repeating: 7, count: 32)))
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((forged + "\n").utf8))
        try handle.close()
        // The plain chain is intact (that is the attack) ...
        if kind == "no mac" {
            #expect(AuditVerifier.verify(files: [path]) != .ok(lines: 6), "an unkeyed line after keyed ones is a break even without the key")
        }
        // ... and the key finds the forged line.
        guard case .broken(_, let line, let reason) = AuditVerifier.verify(files: [path], key: key).outcome else {
            Issue.record("\(kind): the forged line verified"); return
        }
        #expect(line == 6)
        #expect(reason.contains("forged"), "\(reason)")
    }

    @Test("an edited keyed line is found by its own mac, the newest line too")
    func editedNewest() throws {
        let (path, key) = try keyedLog(5)
        var lines = try AuditChainTests.lines(path)
        lines[4] = lines[4].replacingOccurrences(of: "\"uid\":1000", with: "\"uid\":0")
        try AuditChainTests.write(lines, to: path)
        guard case .broken(_, let line, _) = AuditVerifier.verify(files: [path], key: key).outcome else {
            Issue.record("the edited newest line verified"); return
        }
        #expect(line == 5)
    }

    @Test("an old unkeyed log still verifies and says it is unkeyed; keyed lines may follow it")
    func unkeyedThenKeyed() throws {
        let dir = try directory()
        let path = dir.appendingPathComponent("audit.jsonl").path
        let old = try AuditLog(path: path)
        for i in 0..<3 { try old.append(AuditChainTests.record(i)) }
        let plain = AuditVerifier.verify(files: [path], key: nil)
        #expect(plain.outcome == .ok(lines: 3) && plain.keyedLines == 0 && plain.unkeyedLines == 3)
        let key = try AuditKey.loadOrCreate(path: AuditKey.defaultPath(forLog: path))
        let keyed = try AuditLog(path: path, key: key)
        for i in 3..<6 { try keyed.append(AuditChainTests.record(i)) }
        let mixed = AuditVerifier.verify(files: [path], key: key)
        #expect(mixed.outcome == .ok(lines: 6) && mixed.keyedLines == 3 && mixed.unkeyedLines == 3)
    }

    @Test("rotation carries a keyed chain into the next file")
    func rotation() throws {
        let (path, key) = try keyedLog(40, maxBytes: 4096)
        let rotated = (1...50).map { "\(path).\($0)" }.filter { FileManager.default.fileExists(atPath: $0) }
        #expect(rotated.count >= 2)
        let report = AuditVerifier.verify(files: Array(rotated.reversed()) + [path], key: key)
        #expect(report.outcome == .ok(lines: 40) && report.keyedLines == 40)
    }

    @Test("the key file is made 0600, and one readable by others, a symlink or garbage is refused")
    func keyFile() throws {
        let dir = try directory()
        let path = dir.appendingPathComponent("audit.key").path
        let key = try AuditKey.loadOrCreate(path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int
        #expect(mode == 0o600)
        #expect(key.bytes.count == 32)
        #expect(try AuditKey.loadOrCreate(path: path) == key, "a second helper reads the same key")
        chmod(path, 0o644)
        #expect(throws: AuditKeyError.self) { try AuditKey.load(path: path) }
        let link = dir.appendingPathComponent("link.key").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
        #expect(throws: AuditKeyError.self) { try AuditKey.loadOrCreate(path: link) }
        let junk = dir.appendingPathComponent("junk.key").path
        FileManager.default.createFile(atPath: junk, contents: Data("not hex\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: AuditKeyError.self) { try AuditKey.load(path: junk) }
    }
}
