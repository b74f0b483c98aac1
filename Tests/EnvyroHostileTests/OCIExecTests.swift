import EnvyroProtocol
import Foundation
import Testing

extension Hostile {
/// Issue 13, item 7 (a confused deputy, the class of runc's CVE-2016-9962 exec into a process
/// it did not vet): `oci_exec` trusted the pid and the namespace list its caller sent. An
/// ordinary user asked the helper (which may hold CAP_SETUID) to exec into their own `sleep`,
/// outside any container, with no namespaces and uid 0. The helper now requires a non-root
/// caller's exec to join the container's user namespace, refuses a target in the host's user
/// namespace, and accepts only a process in one of the caller's own container cgroups
/// (`envyro/u<uid>/oci-*`, `envyro/root/oci-*`), read through the target's pidfd.
@Suite("oci_exec into a process that is not the caller's container")
struct OCIExecTests {
    /// An exec request that would leave a marker file if it ran.
    static func request(pid: Int32, cgroup: String, namespaces: NamespaceSet, uid: UInt32, marker: String) -> OCIExecRequest {
        let process = WireProcess(argv: ["/bin/sh", "-c", "touch \(marker)"], env: ["PATH=/usr/bin:/bin"], cwd: "/",
                                  uid: uid, gid: uid)
        return OCIExecRequest(id: "hostile", cgroup: cgroup, pid: pid, startTime: RawHelper.startTime(pid),
                              namespaces: namespaces, process: process, detached: true, hasConsole: false)
    }

    /// Sends `request` with /dev/null as stdio and console; expects an audited refusal and no
    /// marker file.
    static func expectRefused(_ helper: RawHelper, _ request: OCIExecRequest, marker: String, saying words: [String],
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let reply = try helper.call(.ociExec(request), fds: [null, null, null, null])
        guard case .failed(let f) = reply else {
            Issue.record("the exec was carried out: \(reply)", sourceLocation: sourceLocation)
            return
        }
        #expect(f.step == .target, "\(f)", sourceLocation: sourceLocation)
        #expect(words.contains { f.message.contains($0) }, "\(f.message)", sourceLocation: sourceLocation)
        let last = try #require(try helper.records().last, sourceLocation: sourceLocation)
        #expect(last["verb"] as? String == "oci_exec", sourceLocation: sourceLocation)
        #expect(last["decision"] as? String == "denied", "the refusal is audited", sourceLocation: sourceLocation)
        usleep(300_000)
        #expect(!FileManager.default.fileExists(atPath: marker), "the command ran", sourceLocation: sourceLocation)
    }

    @Test("an ordinary user's raw oci_exec into their own non-container process is refused",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and the envyrotest user"))
    func ordinaryIntoOwnProcess() throws {
        let helper = try RawHelper(as: .ordinary)
        defer { helper.finish() }
        let uid = UInt32(Harness.ordinaryUID)!
        // uid 0 with no namespaces (the reported attack), the user's own uid (which ran before,
        // as a process outside any container), and a user namespace that is the host's.
        for (n, (namespaces, asUID)) in [(NamespaceSet(), UInt32(0)), (NamespaceSet(), uid), (NamespaceSet([.user, .pid, .mount]), uid)].enumerated() {
            let marker = helper.dir.appendingPathComponent("exec-ran-\(n)").path
            try Self.expectRefused(helper, Self.request(pid: helper.sleepPID, cgroup: "", namespaces: namespaces, uid: asUID, marker: marker),
                                   marker: marker, saying: ["user namespace", "container cgroup"])
        }
        #expect(RawHelper.isAlive(helper.sleepPID), "the target is untouched")
    }

    @Test("exec into the caller's own container still works, and kill still stops it", arguments: Hostile.identities)
    func ownContainer(who: Harness.Identity) throws {
        guard OCIBundle.busyboxAvailable else { throw Harness.SkipInfo("no /bin/busybox") }
        let b = try OCIBundle("own-exec", as: who, rootless: who == .ordinary)
        defer { b.cleanup() }
        let id = b.newID()
        #expect(try b.envyro(["create", "--bundle", b.bundle.path, id]).status == 0)
        #expect(try b.envyro(["start", id]).status == 0)
        let r = try b.envyro(["exec", id, "sh", "-c", "echo inside $$"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("inside "), "\(r.stdout)")
        #expect(try b.envyro(["kill", id, "KILL"]).status == 0)
        for _ in 0..<100 where try b.status(id) != "stopped" { usleep(20_000) }
        #expect(try b.status(id) == "stopped")
    }

    @Test("root's raw oci_exec into a root process that is no container is refused", .enabled(if: Harness.isRoot, "needs root"))
    func rootIntoHostProcess() throws {
        let helper = try RawHelper(as: .root)
        defer { helper.finish() }
        let marker = helper.dir.appendingPathComponent("exec-ran").path
        try Self.expectRefused(helper, Self.request(pid: helper.sleepPID, cgroup: "", namespaces: [], uid: 0, marker: marker),
                               marker: marker, saying: ["container cgroup"])
        try Self.expectRefused(helper, Self.request(pid: helper.sleepPID, cgroup: "oci-not-mine", namespaces: [.pid, .mount], uid: 0, marker: marker),
                               marker: marker, saying: ["container cgroup"])
    }

    @Test("a process the ordinary user moved into a fake container cgroup of their own is still refused: it is in the host's user namespace",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and the envyrotest user"))
    func fakeContainerCgroup() throws {
        let helper = try RawHelper(as: .ordinary)
        let subtree = "/sys/fs/cgroup/memory/envyro/u\(Harness.ordinaryUID)"
        guard FileManager.default.fileExists(atPath: subtree) else {
            helper.finish()
            throw Harness.SkipInfo("no delegated memory subtree \(subtree)")
        }
        let name = "oci-fake-\(UUID().uuidString.prefix(8).lowercased())"
        let fake = "\(subtree)/\(name)"
        try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: false)
        defer {
            helper.finish()
            for _ in 0..<100 where rmdir(fake) != 0 { usleep(20_000) }
        }
        // What the user could do in their own delegated subtree: move their sleep into it.
        try String(helper.sleepPID).write(toFile: "\(fake)/cgroup.procs", atomically: false, encoding: .utf8)
        let uid = UInt32(Harness.ordinaryUID)!
        for (n, namespaces) in [NamespaceSet([.user, .pid, .mount]), NamespaceSet()].enumerated() {
            let marker = helper.dir.appendingPathComponent("exec-ran-\(n)").path
            try Self.expectRefused(helper, Self.request(pid: helper.sleepPID, cgroup: name, namespaces: namespaces, uid: uid, marker: marker),
                                   marker: marker, saying: ["user namespace"])
        }
    }
}
}
