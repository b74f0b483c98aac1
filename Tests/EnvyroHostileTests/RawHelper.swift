import CEnvyro
import EnvyroProtocol
import EnvyroSystem
import Foundation
import Testing

/// A raw-protocol client of a real envyro-nshelper, as root or as the ordinary user: the
/// attacker who skips the CLI's checks and sends the helper whatever frames it likes.
///
/// The helper identifies its caller by SO_PEERCRED, which on a socketpair names the process
/// that called socketpair(). So a small C "courier", run as the attacking identity (through
/// runuser for the ordinary user), makes the pair, starts the helper on one end, starts a
/// `sleep` of that identity (a process of the caller's own that is no container), and hands
/// the other end and the sleep's pid back to the test over an inherited socket.
final class RawHelper {
    let who: Harness.Identity
    let socket: SeqPacketSocket
    /// The helper, and the attacker's own non-container process (a `sleep`).
    let helperPID: pid_t, sleepPID: pid_t
    let dir: URL
    let auditPath: String
    private let courierPID: pid_t
    private var nextID: UInt32 = 1

    static let courierSource = """
        #include <signal.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/socket.h>
        #include <sys/wait.h>
        #include <unistd.h>
        extern char **environ;
        /* courier CHANNEL_FD HELPER POLICY: hands a helper socket made by this uid to the test. */
        int main(int argc, char **argv) {
            if (argc != 4) return 64;
            int ch = atoi(argv[1]), sv[2];
            pid_t sleeper = fork();
            if (sleeper == 0) { close(ch); execl("/bin/sleep", "sleep", "300", (char *)0); _exit(127); }
            if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) return 1;
            pid_t helper = fork();
            if (helper == 0) {
                close(ch); close(sv[0]);
                if (sv[1] != 3) { dup2(sv[1], 3); close(sv[1]); }
                char *args[] = { argv[2], "--policy", argv[3], 0 };
                execve(argv[2], args, environ);
                _exit(127);
            }
            close(sv[1]);
            char text[64];
            int n = snprintf(text, sizeof text, "%d %d", (int)sleeper, (int)helper);
            struct iovec iov = { text, (size_t)n };
            char control[CMSG_SPACE(sizeof(int))];
            memset(control, 0, sizeof control);
            struct msghdr msg = { 0 };
            msg.msg_iov = &iov; msg.msg_iovlen = 1;
            msg.msg_control = control; msg.msg_controllen = sizeof control;
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(c), &sv[0], sizeof(int));
            if (sendmsg(ch, &msg, 0) < 0) return 1;
            close(sv[0]); close(ch);
            int status;
            waitpid(helper, &status, 0);
            return 0;
        }
        """

    /// The courier, compiled once into the world-readable install root.
    static let courier: String? = {
        let src = Harness.installRoot.appendingPathComponent("courier.c")
        let bin = Harness.installRoot.appendingPathComponent("bin/envyro-test-courier").path
        guard (try? courierSource.write(to: src, atomically: false, encoding: .utf8)) != nil,
              (try? Harness.run(["/usr/bin/gcc", "-O1", "-o", bin, src.path]))?.status == 0 else { return nil }
        _ = try? Harness.run(["/bin/chmod", "0755", bin])
        return bin
    }()

    /// A copy of policy `name` whose audit log is `auditPath`, with `edit` applied to its JSON,
    /// in a root-owned 0755 directory (readable by the ordinary user).
    static func policy(_ name: String, auditPath: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let dir = Harness.installRoot.appendingPathComponent("policies-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let data = try Data(contentsOf: Harness.repoRoot.appendingPathComponent("policy/\(name).json"))
        var json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        var audit = json["audit"] as? [String: Any] ?? [:]
        audit["path"] = auditPath
        json["audit"] = audit
        if var seccomp = json["seccomp"] as? [String: Any], let profile = seccomp["profile"] as? String, !profile.hasPrefix("/") {
            seccomp["profile"] = Harness.installRoot.appendingPathComponent("policy/\(profile)").path
            json["seccomp"] = seccomp
        }
        edit(&json)
        let path = dir.appendingPathComponent("\(name)-hostile.json").path
        try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: path))
        _ = try Harness.run(["/bin/chmod", "a+r", path])
        return path
    }

    /// Starts a helper with `policy` (default: the `oci` policy, whose verbs include the OCI
    /// ones) as `who`, and says hello as `client`.
    init(as who: Harness.Identity, policy name: String = "oci", client: String = "envyro-oci",
         edit: (inout [String: Any]) -> Void = { _ in }) throws {
        guard let courier = Self.courier else { throw Harness.SkipInfo("gcc could not build the test courier") }
        if who == .ordinary && Harness.ordinaryUser == nil { throw Harness.SkipInfo("no ordinary user available") }
        self.who = who
        dir = Harness.scratchDirectory("raw-helper")
        auditPath = dir.appendingPathComponent("audit.jsonl").path
        let policyPath = try Self.policy(name, auditPath: auditPath, edit: edit)
        let helper = Harness.installRoot.appendingPathComponent("bin/envyro-nshelper").path
        let (mine, theirs) = try SeqPacketSocket.pair()
        defer { mine.close() }
        let env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"]
        let argv = (who == .ordinary ? ["/usr/sbin/runuser", "-u", Harness.ordinaryUser!, "--", "/usr/bin/env", "-i"] + env : ["/usr/bin/env", "-i"] + env)
            + [courier, "5", helper, policyPath]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, theirs.fd, 5)
        let cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cargs, environ)
        theirs.close()
        guard rc == 0 else { throw Harness.SkipInfo("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        courierPID = pid
        guard try !Poll.readable([mine.fd], timeoutMs: 10_000).isEmpty,
              let packet = try mine.receive(capacity: 256, maxFDs: 1), packet.fds.count == 1 else {
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            throw Harness.SkipInfo("the courier did not hand over a helper socket")
        }
        let pids = String(decoding: packet.bytes, as: UTF8.self).split(separator: " ").compactMap { Int32($0) }
        sleepPID = pids.first ?? 0
        helperPID = pids.count > 1 ? pids[1] : 0
        socket = SeqPacketSocket(fd: packet.fds[0])
        // The sleep must have exec'd before its start time and namespaces mean anything.
        for _ in 0..<200 {
            if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(sleepPID)/exe"), exe.hasSuffix("sleep") { break }
            usleep(5_000)
        }
        let reply = try call(.hello(Hello(client: client)))
        guard case .helloReply = reply else { throw Harness.SkipInfo("the helper did not answer hello: \(reply)") }
    }

    /// Sends one request and returns the helper's answer.
    func call(_ message: Message, fds: [Int32] = []) throws -> Message {
        let id = nextID
        nextID += 1
        try socket.send(Codec.encode(message, requestID: id), fds: fds)
        guard try !Poll.readable([socket.fd], timeoutMs: 20_000).isEmpty,
              let reply = try socket.receive(capacity: 1 << 17, maxFDs: 4) else {
            throw Harness.SkipInfo("the helper closed the connection")
        }
        for fd in reply.fds { close(fd) }
        return try Codec.decode(reply.bytes, fileDescriptorCount: reply.fds.count).message
    }

    /// Field 22 of /proc/PID/stat.
    static func startTime(_ pid: Int32) -> UInt64 {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) ?? 0 : 0
    }

    /// Whether `pid` is alive and not a zombie.
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    /// The audit records written so far.
    func records() throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: auditPath, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    /// Closes the connection (the helper exits), kills the sleep and removes the scratch files.
    func finish() {
        socket.close()
        var status: Int32 = 0
        waitpid(courierPID, &status, 0)
        if sleepPID > 0 { kill(sleepPID, SIGKILL) }
        try? FileManager.default.removeItem(at: dir)
    }
}
