import EnvyroAudit
@testable import EnvyroHelper
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Testing

/// A helper server on one end of a socketpair, with a real policy and audit log in a temporary
/// directory, and the recording fake as its kernel. Runs unprivileged.
final class HelperFixture {
    let directory: String
    let fake = RecordingSyscalls()
    let server: HelperServer
    let client: SeqPacketSocket
    private var nextID: UInt32 = 1

    /// The repository's policy directory, found from this file's path.
    static let policyDirectory: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) }
        return path + "/policy"
    }()

    /// `uid`: the caller's, as the kernel would report it (a non-root caller's rules differ).
    init(policy name: String = "default", uid: uid_t = getuid()) throws {
        var template = Array("/tmp/envyro-helper-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError.current("mkdtemp", "/tmp") }
        directory = String(cString: made)
        let policy = try PolicyLoader.load(name, searchDirectories: [Self.policyDirectory])
        let key = try AuditKey.loadOrCreate(path: directory + "/audit.key")
        let audit = try AuditLog(path: directory + "/audit.log", key: key)
        let seccomp = try SeccompCache(policy: policy, privileged: false)
        let (mine, theirs) = try SeqPacketSocket.pair()
        client = mine
        server = HelperServer(socket: theirs, policy: policy, audit: audit,
                              caller: Caller(uid: uid, gid: uid == getuid() ? getgid() : uid, pid: getpid()), seccomp: seccomp, system: fake)
    }

    deinit {
        client.close()
        server.socket.close()
        for name in ["audit.log", "audit.key"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    /// Sends `message` (with `fds`), lets the server handle it, and returns whether the
    /// connection stays open and the reply, if one was sent.
    func call(_ message: Message, fds: [Int32] = []) throws -> (open: Bool, reply: Message?) {
        let id = nextID
        nextID += 1
        try client.send(Codec.encode(message, requestID: id), fds: fds)
        let open = server.handleSocket()
        guard try !Poll.readable([client.fd], timeoutMs: 0).isEmpty,
              let packet = try client.receive(capacity: 1 << 16) else { return (open, nil) }
        return (open, try Codec.decode(packet.bytes, fileDescriptorCount: 0).message)
    }

    /// `hello`, as a one-run supervisor sends it.
    func greet(_ modes: HelloModes = []) throws {
        let (open, reply) = try call(.hello(Hello(client: "test", modes: modes)))
        guard open, case .helloReply = reply else { throw SystemError("hello", "test helper", errno: EPROTO) }
    }

    /// The reply's failure, or nil (recorded as an issue) when the reply is something else.
    static func failure(_ reply: Message?) -> Failure? {
        guard case .failed(let f) = reply else {
            Issue.record("expected a failure, got \(String(describing: reply))")
            return nil
        }
        return f
    }

    /// The audit log's text.
    var auditText: String {
        String(decoding: (try? Files.read(directory + "/audit.log", limit: 1 << 20)) ?? [], as: UTF8.self)
    }

    /// Three fresh descriptors for a create's stdio.
    static func stdio() -> [Int32] { (0..<3).map { _ in open("/dev/null", O_RDWR | O_CLOEXEC) } }

    /// A create request the default policy allows (the built-in rootfs, every namespace).
    static func create(namespaces: NamespaceSet = .all, argv: [String] = ["/bin/true"]) -> CreateRequest {
        CreateRequest(namespaces: namespaces, network: .none, hostname: "t", rootfs: "", rootfsWritable: false,
                      argv: SecretStrings(argv), env: ["PATH=/usr/bin:/bin"], cwd: "/", useInit: false)
    }
}
