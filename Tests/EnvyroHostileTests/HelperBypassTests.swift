import EnvyroProtocol
import Foundation
import Testing

extension Hostile {
/// Issue 13, item 11: checks that lived only in the CLI, a bundle read twice, and signals sent by
/// a pid number. Each is a confused-deputy / TOCTOU case (the class of CVE-2019-16884 and
/// runc's pid-reuse fixes): the helper must not rely on what its caller checked, and a pid or a
/// file must be the one that was vetted when it is acted on.
@Suite("checks the helper must make itself")
struct HelperBypassTests {
    // MARK: linux.resources.unified

    /// An OCI create request for `rootfs` with `unified` entries, as the CLI would send it,
    /// except that the CLI would have refused the entries.
    static func createRequest(rootfs: String, who: Harness.Identity, cgroup: String, unified: [String]) -> OCICreateRequest {
        let uid = who == .ordinary ? UInt32(Harness.ordinaryUID)! : 0
        var ns: NamespaceSet = [.pid, .mount, .uts, .ipc, .network]
        if who == .ordinary { ns.insert(.user) }
        var limits = LimitSet()
        limits.pidsMax = 32
        let base = CreateRequest(namespaces: ns, network: .none, hostname: "hostile", rootfs: rootfs, rootfsWritable: false,
                                 argv: ["/bin/sh"], env: ["PATH=/bin"], cwd: "/", useInit: false, limits: limits,
                                 uidMappings: who == .ordinary ? [IDMapping(containerID: 0, hostID: uid, count: 1)] : [],
                                 gidMappings: who == .ordinary ? [IDMapping(containerID: 0, hostID: uid, count: 1)] : [],
                                 capabilities: 0)
        let process = WireProcess(argv: ["/bin/sh", "-c", "sleep 60"], env: ["PATH=/bin"], cwd: "/")
        return OCICreateRequest(base: base, id: "hostile-unified", cgroup: cgroup, process: process, unified: unified)
    }

    @Test("a raw oci_create that sets a policy-governed cgroup file through linux.resources.unified is refused by the helper",
          arguments: Hostile.identities)
    func unifiedBypass(who: Harness.Identity) throws {
        // A policy with a pids maximum: `pids.max=max` in unified would lift it.
        let helper = try RawHelper(as: who) { json in
            var limits = json["limits"] as? [String: Any] ?? [:]
            limits["maxima"] = ["pids": 64]
            json["limits"] = limits
        }
        let b = try OCIBundle("unified", as: who, rootless: who == .ordinary)
        defer { b.cleanup(); helper.finish() }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        for (n, entry) in ["pids.max=max", "memory.max=max", "cgroup.procs=1", "cpu.max=max 100000"].enumerated() {
            let cgroup = "oci-hostile-\(n)-\(UUID().uuidString.prefix(6).lowercased())"
            let request = Self.createRequest(rootfs: b.rootfs.path, who: who, cgroup: cgroup, unified: [entry])
            let reply = try helper.call(.ociCreate(request), fds: [null, null, null, null, null])
            if case .created(let c) = reply {
                // The bypass worked: take the container down before failing.
                _ = try? helper.call(.ociControl(OCIControlRequest(op: .destroy, id: "hostile", cgroup: cgroup, pid: c.pid,
                                                                   startTime: RawHelper.startTime(c.pid))))
                Issue.record("\(who): unified \(entry) was accepted")
                continue
            }
            guard case .failed(let f) = reply else { Issue.record("unexpected \(reply)"); continue }
            #expect(f.step == .policy, "\(entry): \(f)")
            #expect(f.message.contains("unified") && f.message.contains(String(entry.prefix { $0 != "=" })), "\(f.message)")
            let last = try #require(try helper.records().last)
            #expect(last["verb"] as? String == "oci_create" && last["decision"] as? String == "denied")
            let dirs = ["memory", "pids", "unified"].map { "/sys/fs/cgroup/\($0)/envyro/\(who == .root ? "root" : "u\(Harness.ordinaryUID)")/\(cgroup)" }
            #expect(dirs.allSatisfy { !FileManager.default.fileExists(atPath: $0) }, "no cgroup was made")
        }
    }

    // MARK: startContainer hooks

    @Test("a startContainer hook rewritten in config.json between create and start does not run; the saved one does",
          arguments: Hostile.identities)
    func hookSwap(who: Harness.Identity) throws {
        guard OCIBundle.busyboxAvailable else { throw Harness.SkipInfo("no /bin/busybox") }
        let b = try OCIBundle("hook-swap", as: who, rootless: who == .ordinary)
        defer { b.cleanup() }
        let saved = b.dir.appendingPathComponent("saved-hook-ran").path
        let swapped = b.dir.appendingPathComponent("swapped-hook-ran").path
        func hook(_ marker: String) -> [String: Any] {
            ["startContainer": [["path": "/bin/sh", "args": ["sh", "-c", "id -u > \(marker)"]]]]
        }
        b.config["hooks"] = hook(saved)
        try b.write()
        let id = b.newID()
        let created = try b.envyro(["create", "--bundle", b.bundle.path, id])
        #expect(created.status == 0, "\(created.stderr)")
        // Whoever can write the bundle swaps the hook after create.
        b.config["hooks"] = hook(swapped)
        try b.write()
        let started = try b.envyro(["start", id])
        #expect(started.status == 0, "\(started.stderr)")
        #expect(!FileManager.default.fileExists(atPath: swapped), "the hook written after create ran")
        #expect(FileManager.default.fileExists(atPath: saved), "the hook saved at create did not run")
    }

    // MARK: signals by pid

    /// Starts `sleep` as `who` outside any container; returns its pid.
    static func outsideProcess(as who: Harness.Identity) throws -> (Int32, Process) {
        let duration = "300.\(Int.random(in: 100_000...999_999))"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: who == .ordinary ? "/usr/sbin/runuser" : "/bin/sleep")
        p.arguments = who == .ordinary ? ["-u", Harness.ordinaryUser!, "--", "/bin/sleep", duration] : [duration]
        p.standardInput = FileHandle.nullDevice
        try p.run()
        for _ in 0..<200 {
            if let pid = Harness.processes(exeSuffix: "sleep", argument: duration).first { return (pid, p) }
            usleep(10_000)
        }
        p.terminate()
        throw Harness.SkipInfo("the outside sleep did not start")
    }

    /// Rewrites `path` in place (keeping its owner and mode).
    static func rewrite(_ path: String, _ text: String) throws {
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try h.truncate(atOffset: 0)
        try h.write(contentsOf: Data(text.utf8))
        try h.close()
    }

    @Test("kill with a state file whose pid now names a process outside the container does not signal that process",
          arguments: Hostile.identities, [["kill"], ["kill", "--all"]])
    func signalOutsider(who: Harness.Identity, command: [String]) throws {
        guard OCIBundle.busyboxAvailable else { throw Harness.SkipInfo("no /bin/busybox") }
        let b = try OCIBundle("signal", as: who, rootless: who == .ordinary)
        let (outsider, runner) = try Self.outsideProcess(as: who)
        defer {
            kill(outsider, SIGKILL)
            runner.waitUntilExit()
            b.cleanup()
        }
        let id = b.newID()
        #expect(try b.envyro(["create", "--bundle", b.bundle.path, id]).status == 0)
        #expect(try b.envyro(["start", id]).status == 0)
        let statePath = "\(b.stateRoot)/\(id)/state.json"
        let original = try String(contentsOfFile: statePath, encoding: .utf8)
        var state = try JSONSerialization.jsonObject(with: Data(original.utf8)) as! [String: Any]
        // The recorded pid now names another process of the same user, with its real start time
        // (as after pid reuse, or a state file edited by whoever can write it); for kill --all,
        // the container also looks as if it had no cgroup, so the pid is all the helper gets.
        state["pid"] = Int(outsider)
        state["pidStartTime"] = Int(RawHelper.startTime(outsider))
        if command.contains("--all") { state["cgroupPath"] = "" }
        try Self.rewrite(statePath, String(decoding: try JSONSerialization.data(withJSONObject: state), as: UTF8.self))
        let r = try b.envyro(command + [id, "KILL"])
        usleep(200_000)
        #expect(RawHelper.isAlive(outsider), "\(command.joined(separator: " ")) killed a process outside the container")
        #expect(r.status != 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stderr.contains("not in your container cgroup"), "\(r.stderr)")
        // Put the real state back so cleanup stops the real container.
        try Self.rewrite(statePath, original)
    }
}
}
