import Foundation
import Testing

extension Hostile {
/// Issue 13, item 4 (a confused deputy through a shared /tmp, CWE-377/CWE-379 class): with no
/// XDG_RUNTIME_DIR and no /run/user/UID, the default socket and OCI state live in
/// /tmp/envyro-UID, which another user can make first.
@Suite("hijacking another user's runs through /tmp", .serialized,
       .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and an ordinary user (envyrotest)"))
struct SocketHijack {
    /// A planted "supervisor": listens on SOCK_SEQPACKET at DIR/supervisor.sock (DIR made
    /// 0777 by the attacker) and records every connection and every byte and descriptor count
    /// it receives.
    static let recorder = """
        import os, socket, sys
        d, log = sys.argv[1], sys.argv[2]
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o777)
        p = os.path.join(d, "supervisor.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(p)
        os.chmod(p, 0o777)
        s.listen(8)
        f = open(log, "ab", 0)
        f.write(b"READY %d\\n" % os.getpid())
        while True:
            c, _ = s.accept()
            f.write(b"CONNECT\\n")
            c.settimeout(3)
            try:
                while True:
                    msg, anc, flags, addr = c.recvmsg(262144, socket.CMSG_SPACE(64))
                    if not msg:
                        break
                    f.write(b"DATA " + msg + b" FDS %d\\n" % sum(len(a[2]) // 4 for a in anc))
            except Exception:
                pass
            c.close()
        """

    static var rootEnvironment: [String: String] {
        ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "HOME": NSHomeDirectory()]
    }

    static var bin: URL { Harness.installRoot.appendingPathComponent("bin") }

    /// Plants the recorder as envyrotest in `dir`; returns its pid, process and log.
    static func plant(in dir: String, scratch: URL) throws -> (Int32?, Process, String) {
        let log = scratch.appendingPathComponent("recorder.log").path
        let p = try HostileSupport.start(as: Harness.ordinaryUser!, ["/usr/bin/python3", "-c", recorder, dir, log])
        let pid = HostileSupport.readyPID(log)
        return (pid, p, log)
    }

    @Test("root's envyro run refuses a supervisor socket an ordinary user planted in /tmp/envyro-0, warns, and runs embedded (C front and envyro-cli)",
          .enabled(if: !FileManager.default.fileExists(atPath: "/run/user/0"), "/run/user/0 exists: the default socket is not in /tmp here"))
    func plantedDefaultSocket() throws {
        let restore = HostileSupport.setAside("/tmp/envyro-0")
        defer { restore() }
        let scratch = Harness.scratchDirectory("hijack")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let (pid, p, log) = try Self.plant(in: "/tmp/envyro-0", scratch: scratch)
        defer { HostileSupport.stop(pid, p) }
        #expect(pid != nil, "the recorder did not start: \(HostileSupport.wait(for: "READY", in: log, seconds: 0))")
        let secret = "hostile-secret-\(getpid())"
        for front in ["envyro", "envyro-cli"] {
            let r = try Harness.run([Self.bin.appendingPathComponent(front).path, "run", "--env", "SECRET=\(secret)", "--", "sh", "-c", "exit 7"],
                                    environment: Self.rootEnvironment)
            #expect(r.status == 7, "\(front): the run itself decides the status: \(r.stderr)")
            #expect(r.stderr.contains("warning: not using the supervisor socket /tmp/envyro-0/supervisor.sock"), "\(front): \(r.stderr)")
            #expect(r.stderr.contains("belongs to uid \(Harness.ordinaryUID) (envyrotest)"), "\(front): \(r.stderr)")
            #expect(r.stderr.contains("running without a supervisor"), "\(front): \(r.stderr)")
        }
        let recorded = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(!recorded.contains("DATA") && !recorded.contains(secret), "the planted socket received: \(recorded)")
        #expect(!recorded.contains("CONNECT"), "root connected to a socket in a directory it doesn't own")
    }

    @Test("a socket whose listener is another user is refused by SO_PEERCRED even inside root's own private directory")
    func foreignListener() throws {
        let scratch = Harness.scratchDirectory("peercred")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let theirs = scratch.appendingPathComponent("theirs").path
        let (pid, p, log) = try Self.plant(in: theirs, scratch: scratch)
        defer { HostileSupport.stop(pid, p) }
        // Root's own 0700 directory, with the user's listening socket moved into it: only the
        // listener's credentials can tell.
        let mine = "/tmp/envyro-hostile-\(getpid())"
        mkdir(mine, 0o700)
        defer { _ = try? Harness.run(["/bin/rm", "-rf", mine]) }
        #expect(rename(theirs + "/supervisor.sock", mine + "/supervisor.sock") == 0)
        let secret = "hostile-secret-\(getpid())"
        for front in ["envyro", "envyro-cli"] {
            let r = try Harness.run([Self.bin.appendingPathComponent(front).path, "run", "--supervisor", mine + "/supervisor.sock",
                                     "--env", "SECRET=\(secret)", "--", "true"], environment: Self.rootEnvironment)
            #expect(r.status == 125, "\(front): \(r.stderr)")
            #expect(r.stderr.contains("runs as uid \(Harness.ordinaryUID) (envyrotest), not as you or root"), "\(front): \(r.stderr)")
        }
        let recorded = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(!recorded.contains("DATA") && !recorded.contains(secret), "the foreign listener received: \(recorded)")
    }

    @Test("root's envyro-supervisor refuses a /tmp/envyro-0 an ordinary user made and writes nothing there",
          .enabled(if: !FileManager.default.fileExists(atPath: "/run/user/0"), "/run/user/0 exists: the default socket is not in /tmp here"))
    func daemonRefusesPlantedDirectory() throws {
        let restore = HostileSupport.setAside("/tmp/envyro-0")
        defer { restore() }
        try HostileSupport.run(as: Harness.ordinaryUser!, ["/bin/sh", "-c", "mkdir -m 0777 /tmp/envyro-0"])
        let r = try Harness.run([Self.bin.appendingPathComponent("envyro-supervisor").path, "--policy", "default"], environment: Self.rootEnvironment, timeout: 20)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(r.stderr.contains("/tmp/envyro-0 belongs to uid \(Harness.ordinaryUID) (envyrotest)"), "\(r.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp/envyro-0")) ?? ["?"]).isEmpty, "no socket, no policy snapshot")
    }

    @Test("root's envyro gc neither follows nor cleans a /tmp/envyro-0 symlink an ordinary user planted",
          .enabled(if: !FileManager.default.fileExists(atPath: "/run/user/0"), "/run/user/0 exists: the default socket is not in /tmp here"))
    func gcLeavesPlantedDirectory() throws {
        let restore = HostileSupport.setAside("/tmp/envyro-0")
        defer { restore() }
        // Root's file, named like a dead supervisor's policy snapshot, in a directory of root's.
        let victim = Harness.installRoot.appendingPathComponent("gc-victim-\(getpid())")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: victim) }
        let precious = victim.appendingPathComponent("policy-999999.json").path
        try "root's".write(toFile: precious, atomically: false, encoding: .utf8)
        try HostileSupport.run(as: Harness.ordinaryUser!, ["/bin/ln", "-s", victim.path, "/tmp/envyro-0"])
        let r = try Harness.run([Self.bin.appendingPathComponent("envyro").path, "gc"], environment: Self.rootEnvironment)
        #expect(r.stderr.contains("warning: not cleaning /tmp/envyro-0"), "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: precious), "gc followed the planted symlink and removed root's file")
    }

    @Test("an OCI state directory another user planted in /tmp/envyro-UID is refused: start and delete run none of its hooks")
    func plantedOCIState() throws {
        let user = Harness.ordinaryUser!
        let uid = Harness.ordinaryUID
        let shared = "/tmp/envyro-\(uid)"
        let restore = HostileSupport.setAside(shared)
        defer { restore() }
        let scratch = Harness.scratchDirectory("oci-plant")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let marker = scratch.appendingPathComponent("hook-ran").path
        // The attacker (nobody) makes /tmp/envyro-UID/oci/planted/state.json, world-writable,
        // whose poststop hook would run as the victim.
        let state = """
            {"version": 1, "id": "planted", "bundle": "\(scratch.path)", "rootfs": "/", "pid": 0, "pidStartTime": 0,
             "created": "2026-01-01T00:00:00Z", "annotations": {}, "cgroupPath": "oci-planted-0", "namespaceFlags": 0,
             "configDigest": "", "uid": \(uid), "poststart": [],
             "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", "echo ran > \(marker)"]}]}
            """
        let planter = """
            import os, sys
            d = sys.argv[1] + "/oci/planted"
            os.makedirs(d)
            for p in (sys.argv[1], sys.argv[1] + "/oci", d): os.chmod(p, 0o777)
            open(d + "/state.json", "w").write(sys.argv[2])
            """
        let planted = try Harness.run(["/usr/sbin/runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", planter, shared, state])
        try #require(planted.status == 0, "planting as nobody failed: \(planted.stderr)")
        for args in [["delete", "planted"], ["start", "planted"], ["--root", shared + "/oci", "delete", "planted"], ["list"]] {
            let r = try HostileSupport.run(as: user, [Self.bin.appendingPathComponent("envyro").path] + args)
            #expect(r.status != 0, "\(args): \(r.stdout) \(r.stderr)")
            #expect(r.stderr.contains("refusing the state directory \(shared)"), "\(args): \(r.stderr)")
            #expect(r.stderr.contains("belongs to uid 65534"), "\(args): \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker), "a planted hook ran")
    }
}
}
