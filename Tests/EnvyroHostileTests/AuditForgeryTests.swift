import EnvyroAudit
import Foundation
import Testing

extension Hostile {
/// Issue 13, item 11 (log forgery; the class of CWE-117/CWE-345 audit tampering): the audit log
/// was a plain SHA-256 chain, so any process that could append to it (issue 13's item 3 leaked
/// it into a container) could compute the next `prev` and add lines that verified. The helper
/// now MACs every line with a key only its owner can read, and `envyro audit verify` says
/// whether a log is keyed.
@Suite("audit log forgery")
struct AuditForgeryTests {
    @Test("a line appended to the helper's keyed audit log with a correct SHA-256 prev is reported broken by envyro audit verify",
          arguments: Hostile.identities)
    func forgedLine(who: Harness.Identity) throws {
        let helper = try RawHelper(as: who)
        defer { helper.finish() }
        let log = helper.auditPath
        let keyPath = helper.dir.appendingPathComponent("audit.key").path
        let good = try Harness.envyro(["audit", "verify", log], as: who)
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")
        #expect(good.stdout.contains("keyed (HMAC-SHA256, key \(keyPath)): verified"), "\(good.stdout)")

        // The key is the helper's alone.
        let attrs = try FileManager.default.attributesOfItem(atPath: keyPath)
        #expect(attrs[.posixPermissions] as? Int == 0o600)
        #expect((attrs[.ownerAccountID] as? NSNumber)?.uint32Value == (who == .root ? 0 : UInt32(Harness.ordinaryUID)!))

        let original = try String(contentsOfFile: log, encoding: .utf8)
        let last = try #require(original.split(separator: "\n").last.map(String.init))
        let seq = try #require((try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any])?["seq"] as? Int)
        let prev = Digest.hex(Digest.sha256(Array(last.utf8)))
        let record = AuditRecord(verb: "oci_exec", callerUID: 0, callerPID: 1, argumentDigest: Digest.sha256([]),
                                 decision: .allowed, result: "ok", durationMicros: 1, detail: "forged: nothing happened")
        let plain = AuditLog.format(record, seq: UInt64(seq + 1), prev: prev)
        let withMAC = String(plain.dropLast()) + AuditLog.macField + Digest.hex(Digest.sha256(Array(plain.utf8))) + "\"}"
        for forged in [plain, withMAC] {
            // The attacker can append (an inherited fd, the same user); here root appends for them.
            try RawHelperFiles.rewrite(log, original + forged + "\n")
            let r = try Harness.envyro(["audit", "verify", log], as: who)
            #expect(r.status == 1, "the forged line verified: \(r.stdout)")
            #expect(r.stdout.hasPrefix("BROKEN: \(log):\(seq + 1): forged"), "\(r.stdout)")
        }
        try RawHelperFiles.rewrite(log, original)
        #expect(try Harness.envyro(["audit", "verify", log], as: who).status == 0)
    }

    @Test("envyro audit verify says an old unkeyed log is a SHA-256 chain only, which anyone who can append can forge")
    func unkeyed() throws {
        let dir = Harness.scratchDirectory("unkeyed-audit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("audit.jsonl").path
        let log = try AuditLog(path: path)
        for i in 0..<3 {
            try log.append(AuditRecord(verb: "create", callerUID: 0, callerPID: Int32(i), argumentDigest: Digest.sha256([]),
                                       decision: .allowed, result: "ok", durationMicros: 1))
        }
        let r = try Harness.envyro(["audit", "verify", path])
        #expect(r.status == 0)
        #expect(r.stdout.contains("unkeyed (SHA-256 chain only): anyone who can append can forge"), "\(r.stdout)")
    }
}
}

/// File edits that keep the file's owner and mode.
enum RawHelperFiles {
    static func rewrite(_ path: String, _ text: String) throws {
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try h.truncate(atOffset: 0)
        try h.write(contentsOf: Data(text.utf8))
        try h.close()
    }
}
