import Foundation
import Testing

extension Integration {
/// The process settings of issue 17, each run on one bundle under envyro and under crun (and
/// runc where crun 1.8.1 lacks the feature), the container printing what it sees.
@Suite("OCI process settings, side by side with crun",
       .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable, "needs root and busybox"))
struct OCIProcessTests {
    static let crunAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/crun")
    static let runcAvailable = FileManager.default.isExecutableFile(atPath: "/usr/sbin/runc")

    /// A bundle printing `script`'s output, with an /etc/passwd naming alice (1000).
    static func bundle(_ name: String, _ script: String) throws -> OCIBundle {
        let b = try OCIBundle(name, args: ["sh", "-c", script])
        try "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
            .write(toFile: b.rootfs.appendingPathComponent("etc/passwd").path, atomically: false, encoding: .utf8)
        var p = b.process
        p["env"] = ["PATH=/bin"]
        b.process = p
        b.config.removeValue(forKey: "annotations")
        var linux = b.linux
        linux.removeValue(forKey: "cgroupsPath")
        b.linux = linux
        try b.write()
        return b
    }

    static let environment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "ENVYRO_AUTO_SUPERVISOR=0"]

    /// `envyro run` of the bundle (foreground), with `prefix` (e.g. setpriv) before it.
    static func envyro(_ b: OCIBundle, prefix: [String] = [], env: [String] = [], _ extra: [String] = []) throws -> Harness.Result {
        try Harness.run(prefix + ["/usr/bin/env", "-i"] + environment + env + ["HOME=/root", Harness.envyro, "--root", b.stateRoot, "run"]
                        + extra + ["--bundle", b.bundle.path, b.newID("e")])
    }

    /// `crun run` of the same bundle. crun 1.8.1 refuses this host's hybrid cgroup layout, so it
    /// runs in a private mount namespace with an empty file over the unified hierarchy's
    /// cgroup.controllers (tests/engines/README.md).
    static func crun(_ b: OCIBundle, prefix: [String] = [], env: [String] = [], _ extra: [String] = []) throws -> Harness.Result {
        let id = "crun-\(UUID().uuidString.prefix(8).lowercased())"
        let state = b.dir.appendingPathComponent("crun-state").path
        let controllers = "/sys/fs/cgroup/unified/cgroup.controllers"
        var argv = ["/usr/bin/crun", "--root", state, "run"] + extra + ["--bundle", b.bundle.path, id]
        if FileManager.default.fileExists(atPath: controllers) {
            let empty = b.dir.appendingPathComponent("empty").path
            FileManager.default.createFile(atPath: empty, contents: Data())
            argv = ["/usr/bin/unshare", "-m", "/bin/sh", "-c", "mount --bind \(empty) \(controllers) && exec \"$@\"", "crun"] + argv
        }
        return try Harness.run(prefix + ["/usr/bin/env", "-i"] + environment + env + argv)
    }

    /// `runc run` of the bundle (for what crun 1.8.1 does differently or not at all).
    static func runc(_ b: OCIBundle) throws -> Harness.Result {
        try Harness.run(["/usr/bin/env", "-i"] + environment + ["/usr/sbin/runc", "--root", b.dir.appendingPathComponent("runc-state").path,
                                                                "run", "--bundle", b.bundle.path, "runc-\(UUID().uuidString.prefix(8).lowercased())"])
    }

    static func set(_ b: OCIBundle, process: [String: Any] = [:], linux: [String: Any] = [:], top: [String: Any] = [:]) throws {
        var p = b.process
        for (k, v) in process { p[k] = v }
        b.process = p
        var l = b.linux
        for (k, v) in linux { l[k] = v }
        b.linux = l
        for (k, v) in top { b.config[k] = v }
        try b.write()
    }

    static func namespaces(_ b: OCIBundle) -> [[String: Any]] { b.linux["namespaces"] as? [[String: Any]] ?? [] }

    static func trimmed(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines) }

    // MARK: - personality

    @Test("linux.personality LINUX32 is the process's execution domain, as with crun", arguments: [("LINUX32", "00000008"), ("LINUX", "00000000")])
    func personality(_ domain: String, _ expected: String) throws {
        let b = try Self.bundle("persona", "cat /proc/self/personality")
        defer { b.cleanup() }
        try Self.set(b, linux: ["personality": ["domain": domain]])
        let e = try Self.envyro(b)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(Self.trimmed(e.stdout) == expected)
        if Self.crunAvailable {
            let c = try Self.crun(b)
            #expect(Self.trimmed(c.stdout) == Self.trimmed(e.stdout), "crun: \(c.stderr)")
        }
    }

    // MARK: - groups

    @Test("process.user.additionalGids are a non-root user's groups, as with crun")
    func additionalGids() throws {
        let b = try Self.bundle("gids", "id -u; id -G")
        defer { b.cleanup() }
        try Self.set(b, process: ["user": ["uid": 1000, "gid": 1000, "additionalGids": [5, 7]]])
        let e = try Self.envyro(b)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.split(separator: "\n") == ["1000", "1000 5 7"])
        if Self.crunAvailable { #expect(try Self.crun(b).stdout == e.stdout) }
    }

    @Test("run.oci.keep_original_groups keeps the caller's groups (no setgroups), as with crun; without it they go")
    func keepOriginalGroups() throws {
        let b = try Self.bundle("keepgroups", "grep Groups /proc/self/status")
        defer { b.cleanup() }
        let caller = ["/usr/bin/setpriv", "--groups", "5,7", "--"]
        try Self.set(b, process: ["user": ["uid": 1000, "gid": 1000, "additionalGids": [9]]],
                     top: ["annotations": ["run.oci.keep_original_groups": "1"]])
        let kept = try Self.envyro(b, prefix: caller)
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(Self.trimmed(kept.stdout) == "Groups:\t5 7")
        if Self.crunAvailable { #expect(try Self.crun(b, prefix: caller).stdout == kept.stdout) }

        b.config.removeValue(forKey: "annotations")
        try b.write()
        let replaced = try Self.envyro(b, prefix: caller)
        #expect(Self.trimmed(replaced.stdout) == "Groups:\t9")
        if Self.crunAvailable { #expect(try Self.crun(b, prefix: caller).stdout == replaced.stdout) }
    }

    @Test("run.oci.keep_original_groups in a user namespace keeps the caller's groups, unmapped there, as with crun")
    func keepOriginalGroupsInAUserNamespace() throws {
        let b = try Self.bundle("keepgroups-userns", "grep Groups /proc/self/status")
        defer { b.cleanup() }
        try Self.set(b, process: ["user": ["uid": 1000, "gid": 1000, "additionalGids": [9]]],
                     linux: ["namespaces": Self.namespaces(b) + [["type": "user"]],
                             "uidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]],
                             "gidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]]],
                     top: ["annotations": ["run.oci.keep_original_groups": "1"]])
        _ = try Harness.run(["/bin/chmod", "-R", "o+rX", b.bundle.path])
        let caller = ["/usr/bin/setpriv", "--groups", "5,7", "--"]
        let e = try Self.envyro(b, prefix: caller)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(Self.trimmed(e.stdout) == "Groups:\t65534 65534")
        if Self.crunAvailable { #expect(try Self.crun(b, prefix: caller).stdout == e.stdout) }
    }

    // MARK: - HOME

    @Test("HOME comes from the container's /etc/passwd when the env has none, as with crun")
    func homeFromPasswd() throws {
        let b = try Self.bundle("home", "echo HOME=$HOME")
        defer { b.cleanup() }
        try Self.set(b, process: ["user": ["uid": 1000, "gid": 1000]])
        let e = try Self.envyro(b)
        #expect(Self.trimmed(e.stdout) == "HOME=/home/alice", "\(e.stderr)")
        if Self.crunAvailable { #expect(try Self.crun(b).stdout == e.stdout) }
        // The bundle's own HOME wins.
        try Self.set(b, process: ["env": ["PATH=/bin", "HOME=/srv"]])
        #expect(Self.trimmed(try Self.envyro(b).stdout) == "HOME=/srv")
    }

    @Test("HOME is / for a uid /etc/passwd doesn't name, as with runc (crun 1.8.1 leaves it unset)")
    func homeForAnUnknownUser() throws {
        let b = try Self.bundle("home-unknown", "env | grep ^HOME= || echo no HOME")
        defer { b.cleanup() }
        try Self.set(b, process: ["user": ["uid": 1234, "gid": 1234]])
        let e = try Self.envyro(b)
        #expect(Self.trimmed(e.stdout) == "HOME=/", "\(e.stderr)")
        if Self.runcAvailable { #expect(try Self.runc(b).stdout == e.stdout) }
    }

    // MARK: - preserved fds

    /// `sh -c 'exec 3<F3 4<F4; exec "$@"' sh ARGV...`: ARGV runs with fds 3 and 4 open on two files.
    static func withFDs(_ b: OCIBundle) throws -> [String] {
        let f3 = b.dir.appendingPathComponent("f3").path, f4 = b.dir.appendingPathComponent("f4").path
        try "three\n".write(toFile: f3, atomically: false, encoding: .utf8)
        try "four\n".write(toFile: f4, atomically: false, encoding: .utf8)
        return ["/bin/sh", "-c", "exec 3<\(f3) 4<\(f4); exec \"$@\"", "sh"]
    }

    @Test("--preserve-fds N passes fds 3...3+N-1 to the container and no more, as with crun")
    func preserveFDs() throws {
        let b = try Self.bundle("preserve", "cat <&3; cat <&4 2>/dev/null || echo no fd 4")
        defer { b.cleanup() }
        let prefix = try Self.withFDs(b)
        for n in ["2", "1"] {
            let e = try Self.envyro(b, prefix: prefix, ["--preserve-fds", n])
            #expect(e.status == 0, "\(e.stderr)")
            #expect(e.stdout.split(separator: "\n") == (n == "2" ? ["three", "four"] : ["three", "no fd 4"]))
            if Self.crunAvailable { #expect(try Self.crun(b, prefix: prefix, ["--preserve-fds", n]).stdout == e.stdout) }
        }
        let closed = try Self.envyro(b, prefix: prefix, ["--preserve-fds", "3"])
        #expect(closed.status != 0)
        #expect(closed.stderr.contains("--preserve-fds 3: fd 5 is not open"), "\(closed.stderr)")
    }

    @Test("Through envyro-runc (whose C front starts the helper), --preserve-fds naming a closed fd is refused: the helper's socket, which may take that number, never reaches the container")
    func preserveFDsNeverPassTheHelperSocket() throws {
        let b = try Self.bundle("preserve-front", "ls -l /proc/self/fd/")
        defer { b.cleanup() }
        let runc = Harness.installRoot.appendingPathComponent("bin/envyro-runc").path
        // fd 3 closed: the front's socketpair gets 3 (and 4); envyro-cli must not take it for the caller's.
        let r = try Harness.run(["/bin/sh", "-c", "exec 3<&- 4<&- 5<&-; exec \"$@\"", "sh", "/usr/bin/env", "-i"] + Self.environment
                                + ["HOME=/root", runc, "--root", b.stateRoot, "run", "--preserve-fds", "1", "--bundle", b.bundle.path, b.newID("f")])
        #expect(r.status != 0, "\(r.stdout)")
        #expect(!r.stdout.contains("socket:"), "\(r.stdout)")
        #expect(r.stderr.contains("--preserve-fds 1: fd 3 is not open"), "\(r.stderr)")
    }

    @Test("Socket-activated (LISTEN_FDS in its environment), envyro passes those fds and LISTEN_PID is the process's pid inside, as with crun; LISTEN_FDS too, as with runc")
    func socketActivation() throws {
        let b = try Self.bundle("listen", "echo LISTEN_PID=$LISTEN_PID; cat <&3; echo LISTEN_FDS=$LISTEN_FDS")
        defer { b.cleanup() }
        let prefix = try Self.withFDs(b), listen = ["LISTEN_FDS=1"]
        let e = try Self.envyro(b, prefix: prefix, env: listen)
        #expect(e.status == 0, "\(e.stderr)")
        let lines = e.stdout.split(separator: "\n")
        #expect(lines == ["LISTEN_PID=1", "three", "LISTEN_FDS=1"])
        // crun 1.8.1 passes the fds and sets LISTEN_PID but leaves LISTEN_FDS out.
        if Self.crunAvailable {
            #expect(try Self.crun(b, prefix: prefix, env: listen).stdout.split(separator: "\n").prefix(2) == lines.prefix(2))
        }
    }

    @Test("exec --preserve-fds passes fds to the exec'd process too")
    func execPreserveFDs() throws {
        let b = try Self.bundle("exec-preserve", "sleep 30")
        defer { b.cleanup() }
        let id = b.newID()
        #expect(try b.envyro(["create", "--bundle", b.bundle.path, id]).status == 0)
        #expect(try b.envyro(["start", id]).status == 0)
        let e = try Harness.run(try Self.withFDs(b) + ["/usr/bin/env", "-i"] + Self.environment
                                + [Harness.envyro, "--root", b.stateRoot, "exec", "--preserve-fds", "2", id, "sh", "-c", "cat <&3; cat <&4"])
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.split(separator: "\n") == ["three", "four"])
    }

    // MARK: - I/O priority

    @Test("process.ioPriority is the process's I/O class and level (crun 1.8.1 ignores it)",
          arguments: [("IOPRIO_CLASS_BE", 5, "best-effort: prio 5"), ("IOPRIO_CLASS_IDLE", 0, "idle"), ("IOPRIO_CLASS_RT", 2, "realtime: prio 2")])
    func ioPriority(_ ioClass: String, _ level: Int, _ expected: String) throws {
        let b = try Self.bundle("ioprio", "ionice")
        defer { b.cleanup() }
        try Self.set(b, process: ["ioPriority": ["class": ioClass, "priority": level]])
        let e = try Self.envyro(b)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(Self.trimmed(e.stdout) == expected)
        if Self.crunAvailable { #expect(Self.trimmed(try Self.crun(b).stdout) == "none: prio 0") }
    }

    // MARK: - time namespace

    @Test("linux.timeOffsets shift CLOCK_BOOTTIME and CLOCK_MONOTONIC in a new time namespace, and exec joins it")
    func timeOffsets() throws {
        let b = try Self.bundle("timens", "cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime; sleep 30")
        defer { b.cleanup() }
        try Self.set(b, linux: ["namespaces": Self.namespaces(b) + [["type": "time"]],
                                "timeOffsets": ["monotonic": ["secs": 86400], "boottime": ["secs": 172_800, "nanosecs": 500]]])
        // Whole seconds, as the container's `cut` prints them.
        let hostUptime = (Double(try String(contentsOfFile: "/proc/uptime", encoding: .utf8).split(separator: " ")[0]) ?? 0).rounded(.down)
        let id = b.newID()
        let out = b.dir.appendingPathComponent("timens-out")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        let fd = open(out.path, O_WRONLY | O_CLOEXEC)
        defer { close(fd) }
        let created = try b.envyro(["create", "--bundle", b.bundle.path, id], stdout: fd)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try b.envyro(["start", id]).status == 0)
        let exec = try b.envyro(["exec", id, "cut", "-d.", "-f1", "/proc/uptime"])
        #expect(exec.status == 0, "\(exec.stderr)")
        #expect((Double(Self.trimmed(exec.stdout)) ?? 0) >= hostUptime + 172_800)
        OCIRunner.wait(5) { ((try? String(contentsOf: out, encoding: .utf8)) ?? "").split(separator: "\n").count >= 3 }
        let lines = ((try? String(contentsOf: out, encoding: .utf8)) ?? "").split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        }
        #expect(Array(lines.prefix(2)) == ["monotonic 86400 0", "boottime 172800 500"])
        #expect((lines.count > 2 ? Double(lines[2]) ?? 0 : 0) >= hostUptime + 172_800)
    }

    @Test("timeOffsets without a time namespace are refused by name")
    func timeOffsetsWithoutNamespace() throws {
        let b = try Self.bundle("timens-none", "true")
        defer { b.cleanup() }
        try Self.set(b, linux: ["timeOffsets": ["monotonic": ["secs": 1]]])
        let e = try Self.envyro(b)
        #expect(e.status != 0)
        #expect(e.stderr.contains("linux.timeOffsets: needs a time namespace in linux.namespaces"), "\(e.stderr)")
    }

    // MARK: - sysctl

    @Test("linux.sysctl is set in the container's uts, net and ipc namespaces, as with crun")
    func namespacedSysctls() throws {
        let b = try Self.bundle("sysctl", "cat /proc/sys/kernel/domainname /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/sys/fs/mqueue/msg_max")
        defer { b.cleanup() }
        try Self.set(b, linux: ["sysctl": ["kernel.domainname": "example.test", "net.ipv4.ip_forward": "1",
                                           "kernel.shmmni": "1234", "fs.mqueue.msg_max": "20"]])
        let e = try Self.envyro(b)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.split(separator: "\n") == ["example.test", "1", "1234", "20"])
        if Self.crunAvailable { #expect(try Self.crun(b).stdout == e.stdout) }
    }

    @Test("A sysctl of a namespace the container shares with the host is refused by name, as crun refuses it",
          arguments: [("net.ipv4.ip_forward", "network", "a network namespace"), ("kernel.domainname", "uts", "a UTS namespace"),
                      ("kernel.shmmax", "ipc", "an IPC namespace"), ("vm.swappiness", "", "is not namespaced")])
    func sysctlOfTheHost(_ key: String, _ namespace: String, _ reason: String) throws {
        let b = try Self.bundle("sysctl-host", "true")
        defer { b.cleanup() }
        try Self.set(b, linux: ["sysctl": [key: "1"], "namespaces": Self.namespaces(b).filter { $0["type"] as? String != namespace }])
        let e = try Self.envyro(b)
        #expect(e.status != 0)
        #expect(e.stderr.contains("linux.sysctl.\(key)") && e.stderr.contains(reason), "\(e.stderr)")
        if Self.crunAvailable {
            let c = try Self.crun(b)
            #expect(c.status != 0 && (c.stdout + c.stderr).contains(key))
        }
    }

    // MARK: - devices

    nonisolated(unsafe) static let devices: [[String: Any]] = [
        ["path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1000, "gid": 5],
        ["path": "/dev/myfifo", "type": "p", "fileMode": 0o600, "uid": 7, "gid": 8],
        ["path": "/dev/zz", "type": "c", "major": 1, "minor": 3, "fileMode": 0o604, "uid": 3, "gid": 4],
    ]

    @Test("linux.devices are made with their type, numbers, owner and mode, as with crun")
    func devices() throws {
        let b = try Self.bundle("devices", "stat -c '%n %F %a %u %g %t %T' /dev/fuse /dev/myfifo /dev/zz")
        defer { b.cleanup() }
        try Self.set(b, linux: ["devices": Self.devices, "resources": ["devices": [["allow": true, "access": "rwm"]]]])
        let e = try Self.envyro(b)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.split(separator: "\n") == ["/dev/fuse character special file 640 1000 5 a e5", "/dev/myfifo fifo 600 7 8 0 0",
                                                   "/dev/zz character special file 604 3 4 1 3"])
        if Self.crunAvailable { #expect(try Self.crun(b).stdout == e.stdout) }
    }

    @Test("In a user namespace a FIFO is made with its owner and mode, and a device node is the host's, bound (as crun does rootless)")
    func devicesInAUserNamespace() throws {
        let b = try Self.bundle("devices-userns", "stat -c '%n %F %t %T' /dev/fuse /dev/zz; stat -c '%n %F %a %u %g' /dev/myfifo; stat -c '%a %u %g' /dev/fuse")
        defer { b.cleanup() }
        try Self.set(b, linux: ["devices": Self.devices, "namespaces": Self.namespaces(b) + [["type": "user"]],
                                "uidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]],
                                "gidMappings": [["containerID": 0, "hostID": 100_000, "size": 65536]]])
        _ = try Harness.run(["/bin/chmod", "-R", "o+rX", b.bundle.path])
        let e = try Self.envyro(b)
        #expect(e.status == 0, "\(e.stderr)")
        let lines = e.stdout.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(3)) == ["/dev/fuse character special file a e5", "/dev/zz character special file 1 3",
                                          "/dev/myfifo fifo 600 7 8"])
        // The host's node, bound: its owner (host root, unmapped) and mode, not the bundle's.
        var host = stat()
        _ = stat("/dev/fuse", &host)
        #expect(lines.last == String(host.st_mode & 0o7777, radix: 8) + " 65534 65534")
        if Self.crunAvailable {
            let c = try Self.crun(b)
            #expect(Array(c.stdout.split(separator: "\n").map(String.init).prefix(3)) == Array(lines.prefix(3)), "crun: \(c.stderr)")
        }
    }

    // MARK: - net devices

    @Test("linux.netDevices moves a host interface into the container under its new name; it is gone from the host")
    func netDevices() throws {
        let host = "envyro\(UInt16.random(in: 1000...9999))a", peer = host.dropLast() + "b"
        let made = try Harness.run(["/usr/sbin/ip", "link", "add", host, "type", "veth", "peer", "name", String(peer)])
        try #require(made.status == 0, "cannot make a veth pair: \(made.stderr)")
        defer { _ = try? Harness.run(["/usr/sbin/ip", "link", "del", host]); _ = try? Harness.run(["/usr/sbin/ip", "link", "del", String(peer)]) }
        let b = try Self.bundle("netdev", "ls /sys/class/net")
        defer { b.cleanup() }
        try Self.set(b, linux: ["netDevices": [host: ["name": "ctr0"]]])
        let e = try Self.envyro(b)
        #expect(e.status == 0, "\(e.stderr)")
        #expect(e.stdout.split(separator: "\n") == ["ctr0", "lo"])
        // The container's namespace is gone, and a veth pair with it.
        #expect(try Harness.run(["/usr/sbin/ip", "link", "show", host]).status != 0)
    }

    @Test("A net device the host lacks fails create, naming it")
    func missingNetDevice() throws {
        let b = try Self.bundle("netdev-missing", "true")
        defer { b.cleanup() }
        try Self.set(b, linux: ["netDevices": ["envyronone0": [:]]])
        let e = try Self.envyro(b)
        #expect(e.status != 0)
        #expect(e.stderr.contains("cannot move envyronone0 into the container as envyronone0: no such interface on the host"), "\(e.stderr)")
    }
}
}
