import CEnvyro
import EnvyroProtocol
import EnvyroSystem
import Foundation
import Testing

extension Integration {
/// The helper itself, spoken to directly over its socket: every malformed, truncated,
/// oversized, unknown or unpermitted frame is refused, audited, and closes the connection.
@Suite("envyro-nshelper rejects bad frames")
struct HelperProtocolTests {
    /// A helper started the way the supervisor starts it, with a policy whose audit log is ours.
    final class HelperUnderTest {
        let socket: SeqPacketSocket
        let pid: pid_t
        let auditPath: String
        let dir: URL

        init(policy: String = "default") throws {
            dir = Harness.scratchDirectory("helper")
            auditPath = dir.appendingPathComponent("audit.jsonl").path
            let policyPath = try PolicyFiles.copy(of: policy, auditPath: auditPath, into: dir)
            let (mine, theirs) = try SeqPacketSocket.pair()
            let path = Harness.installRoot.appendingPathComponent("bin/envyro-nshelper").path
            var argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup("--policy"), strdup(policyPath), nil]
            defer { for p in argv { free(p) } }
            pid = envyro_spawn_helper(path, &argv, envyro_environ(), theirs.fd)
            theirs.close()
            #expect(pid > 0)
            socket = mine
        }

        /// Sends raw bytes and reports whether the helper then closed the connection.
        func sendExpectingClose(_ bytes: [UInt8], fds: [Int32] = []) throws -> Bool {
            try socket.send(bytes, fds: fds)
            let ready = try Poll.readable([socket.fd], timeoutMs: 5000)
            guard !ready.isEmpty else { return false }
            return try socket.receive(capacity: 70000, maxFDs: 0) == nil
        }

        func hello() throws {
            try socket.send(Codec.encode(.hello(Hello(client: "test")), requestID: 1))
            let reply = try #require(try socket.receive(capacity: 70000, maxFDs: 0))
            let frame = try Codec.decode(reply.bytes, fileDescriptorCount: 0)
            guard case .helloReply = frame.message else { Issue.record("expected hello_reply"); return }
        }

        /// The audit records written so far.
        func records() throws -> [[String: Any]] {
            let text = (try? String(contentsOfFile: auditPath, encoding: .utf8)) ?? ""
            return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        }

        func finish() -> Int32 {
            socket.close()
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            return status
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    static var validHello: [UInt8] { Codec.encode(.hello(Hello(client: "t")), requestID: 1) }

    static let badFrames: [(String, [UInt8], String)] = {
        var badMagic = validHello; badMagic[0] ^= 0xFF
        var badVersion = validHello; badVersion[4] = 9
        var unknownVerb = validHello; unknownVerb[6] = 0x77; unknownVerb[7] = 0x00
        let truncated = Array(validHello.dropLast(2))
        var trailing = validHello; trailing.append(0); trailing[12] &+= 1
        let short: [UInt8] = [0x45, 0x4E, 0x56]
        let oversized = Codec.encode(.hello(Hello(client: String(repeating: "x", count: 60_000))), requestID: 1)
        let reply = Codec.encode(.created(Created(containerID: 1, pid: 1)), requestID: 1)
        let createFirst = Codec.encode(.signal(SignalRequest(containerID: 1, signal: 9)), requestID: 1)
        return [
            ("a bad magic", badMagic, "bad_magic"),
            ("an unsupported version", badVersion, "unsupported_version"),
            ("an unknown verb", unknownVerb, "unknown_verb"),
            ("a truncated frame", truncated, "length_mismatch"),
            ("trailing bytes", trailing, "trailing_bytes"),
            ("a frame shorter than a header", short, "too_short"),
            ("a frame over the strict policy's cap", oversized, "oversized"),
            ("a reply sent as a request", reply, "wrong_direction"),
            ("a request before hello", createFirst, "not permitted before hello"),
        ]
    }()

    @Test("a bad frame is audited as denied and closes the connection", arguments: badFrames)
    func badFrame(name: String, bytes: [UInt8], reason: String) throws {
        let helper = try HelperUnderTest(policy: "strict")
        #expect(try helper.sendExpectingClose(bytes), "\(name): the helper kept the connection open")
        _ = helper.finish()
        let records = try helper.records()
        #expect(records.count == 1, "\(name)")
        #expect(records.last?["decision"] as? String == "denied")
        #expect((records.last?["reason"] as? String)?.contains(reason) == true, "\(name): \(String(describing: records.last?["reason"]))")
    }

    @Test("file descriptors on a verb that takes none are refused")
    func unexpectedFDs() throws {
        let helper = try HelperUnderTest()
        #expect(try helper.sendExpectingClose(Self.validHello, fds: [0]))
        _ = helper.finish()
        #expect((try helper.records().last?["reason"] as? String)?.contains("unexpected_fds") == true)
    }

    @Test("a second hello is refused")
    func secondHello() throws {
        let helper = try HelperUnderTest()
        try helper.hello()
        #expect(try helper.sendExpectingClose(Self.validHello))
        _ = helper.finish()
        let records = try helper.records()
        #expect(records.map { $0["decision"] as? String } == ["allowed", "denied"])
    }

    @Test("a create that breaks the policy is refused, audited, and the helper keeps serving")
    func policyRefusal() throws {
        let helper = try HelperUnderTest(policy: "strict")
        try helper.hello()
        let create = CreateRequest(namespaces: [.user, .pid, .mount, .uts, .ipc, .cgroup], network: .host, hostname: "x",
                                   rootfs: "", rootfsWritable: false, argv: ["true"], env: ["PATH=/bin"], cwd: "/", useInit: false)
        try helper.socket.send(Codec.encode(.create(create), requestID: 2), fds: [0, 1, 2])
        let reply = try #require(try helper.socket.receive(capacity: 70000, maxFDs: 0))
        let frame = try Codec.decode(reply.bytes, fileDescriptorCount: 0)
        guard case .failed(let f) = frame.message else { Issue.record("expected failed, got \(frame.message)"); return }
        #expect(f.step == .policy)
        #expect(f.message.contains("network host is not allowed by policy strict"))
        #expect(helper.finish() == 0)
        let last = try #require(try helper.records().last)
        #expect(last["verb"] as? String == "create")
        #expect(last["decision"] as? String == "denied")
    }

    @Test("the helper exits when its supervisor closes the socket")
    func exitsOnEOF() throws {
        let helper = try HelperUnderTest()
        try helper.hello()
        #expect(helper.finish() == 0)
    }
}
}
