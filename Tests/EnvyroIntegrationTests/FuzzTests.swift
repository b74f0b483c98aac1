import Foundation
import Testing

extension Integration {
/// The helper's decoder, permit table and dispatcher under random and mutated frames, sent by
/// envyro-helper-bench to real envyro-nshelper processes over their sockets (the driver is not
/// in the privileged binary: issue 13, item 9). Each rejection ends a helper, so every frame
/// costs a helper start at worst: 10,000 frames here.
@Suite("envyro-nshelper under fuzzing")
struct FuzzTests {
    @Test("10,000 random and mutated frames to real helpers: no crash, no hang, every rejection audited")
    func tenThousandFrames() throws {
        let dir = Harness.scratchDirectory("fuzz")
        defer { try? FileManager.default.removeItem(at: dir) }
        let audit = dir.appendingPathComponent("audit.jsonl").path
        let policy = try PolicyFiles.copy(of: "default", auditPath: audit, into: dir)
        let bin = Harness.installRoot.appendingPathComponent("bin")
        let r = try Harness.run([bin.appendingPathComponent("envyro-helper-bench").path, "--fuzz", "10000", "--seed", "20261126",
                                 "--policy", policy, "--helper", bin.appendingPathComponent("envyro-nshelper").path], timeout: 600)
        #expect(r.status == 0, "the driver or a helper failed: \(r.stderr)")
        let summary = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let fields = Dictionary(uniqueKeysWithValues: summary.split(separator: " ").compactMap { kv -> (String, Int)? in
            let p = kv.split(separator: "=")
            return p.count == 2 ? (String(p[0]), Int(p[1]) ?? -1) : nil
        })
        #expect(fields["frames"] == 10_000)
        let rejected = try #require(fields["rejected"])
        #expect(rejected > 5_000, "most mutated frames are malformed")
        #expect(fields["accepted"]! > 0, "some frames survive mutation and are served")

        // Every rejection left a "denied" line; the files (rotated by size) form one chain.
        let files = (1...20).reversed().map { "\(audit).\($0)" }.filter { FileManager.default.fileExists(atPath: $0) } + [audit]
        var denied = 0
        for f in files {
            let text = try String(contentsOfFile: f, encoding: .utf8)
            denied += text.components(separatedBy: "\"decision\":\"denied\"").count - 1
        }
        #expect(denied >= rejected)
        let verify = try Harness.envyro(["audit", "verify"] + files)
        #expect(verify.stdout.hasPrefix("OK"), "\(verify.stdout)")
    }
}
}
