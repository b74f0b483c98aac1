import Foundation
import Testing
extension Integration {
/// envyro as an OCI runtime (runc's command line), on bundles made here: lifecycle, stdio,
/// exec, ps, pause, update, what config.json asks for, hooks, refusals, the errors engines
/// depend on, global flags and the audit log.
@Suite("envyro as an OCI runtime", .enabled(if: OCIBundle.busyboxAvailable, "busybox is not installed at /bin/busybox (the bundles' rootfs is busybox)"))
struct OCIRuntimeTests {

    /// Whether `pid` is a live process (not a zombie).
    static func alive(_ pid: Int32) -> Bool { OCIRunner.alive(pid) }

    /// Waits up to `seconds` for `condition`.
    @discardableResult
    static func wait(_ seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        try OCIRunner.wait(seconds, condition)
    }

    /// The file `name` in `pid`'s cgroup of `controller` (cgroup v1), from /proc/PID/cgroup.
    static func cgroupFile(pid: Int32, controller: String, _ name: String) -> String? {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if f.count == 3, f[1].split(separator: ",").contains(Substring(controller)) {
                return "/sys/fs/cgroup/\(controller)\(f[2])/\(name)"
            }
        }
        return nil
    }

    static func read(_ path: String?) -> String {
        guard let path else { return "" }
        return ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Cgroups envyro made for container `id` (named `oci-ID-HASH`) in any hierarchy.
    static func cgroups(of id: String) -> [String] {
        var out: [String] = []
        for controller in ["memory", "pids", "freezer", "cpu,cpuacct", "cpuacct", "unified"] {
            for owner in ["root"] + (Harness.ordinaryUser != nil ? ["u\(Harness.ordinaryUID)"] : []) {
                let d = "/sys/fs/cgroup/\(controller)/envyro/\(owner)"
                for name in (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? [] where name.hasPrefix("oci-\(id)-") {
                    out.append(d + "/" + name)
                }
            }
        }
        return out
    }

    /// Nothing of container `id` is left: no state directory, no cgroup, no process (by the
    /// marker argument or the host snapshot).
    static func expectNothingLeft(_ b: OCIBundle, _ id: String, since before: Harness.HostSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!FileManager.default.fileExists(atPath: b.stateRoot + "/" + id), "the state directory of \(id) is left", sourceLocation: sourceLocation)
        wait(3) { cgroups(of: id).isEmpty }
        #expect(cgroups(of: id).isEmpty, "cgroups left: \(cgroups(of: id))", sourceLocation: sourceLocation)
        Harness.expectNothingLeaked(since: before, sourceLocation: sourceLocation)
    }

    /// Runs the bundle's container in the foreground (`run ID`) with `script` and returns the
    /// result; `edit` changes config.json first.
    func runScript(_ name: String, _ script: String, edit: (OCIBundle) -> Void = { _ in }) throws -> Harness.Result {
        let b = try OCIBundle(name, args: ["sh", "-c", script])
        defer { b.cleanup() }
        edit(b)
        try b.write()
        return try b.envyro(["run", "--bundle", b.bundle.path, b.newID()])
    }

    /// Creates and starts a long-running container; returns its id and pid.
    func startContainer(_ b: OCIBundle, sourceLocation: SourceLocation = #_sourceLocation) throws -> (String, Int32) {
        let id = b.newID()
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id])
        try #require(c.status == 0, "create: \(c.stderr)", sourceLocation: sourceLocation)
        let s = try b.envyro(["start", id])
        try #require(s.status == 0, "start: \(s.stderr)", sourceLocation: sourceLocation)
        let pid = try b.pid(id)
        // Until the workload has exec'd, /proc/PID/exe is the helper.
        Self.wait { ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? "").hasSuffix("busybox") }
        return (id, pid)
    }

    // MARK: - spec and lifecycle

    @Test("spec writes a config.json that create and start run, and refuses to overwrite it", .enabled(if: Harness.isRoot, "needs root"))
    func specRuns() throws {
        let b = try OCIBundle("spec", args: ["sh", "-c", "echo from-spec"])
        defer { b.cleanup() }
        let again = try b.envyro(["spec", "--bundle", b.bundle.path])
        #expect(again.status == 1)
        #expect(again.stderr.contains("exists"), "\(again.stderr)")
        let r = try b.envyro(["run", "--bundle", b.bundle.path, b.newID()])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "from-spec\n")
    }

    @Test("create holds the process before exec, start runs it, kill stops it, delete removes it", .enabled(if: Harness.isRoot, "needs root"))
    func lifecycle() throws {
        let before = Harness.snapshot()
        let b = try OCIBundle("lifecycle")
        defer { b.cleanup() }
        let id = b.newID()
        let pidFile = b.dir.appendingPathComponent("pid").path
        let c = try b.envyro(["create", "--bundle", b.bundle.path, "--pid-file", pidFile, id])
        try #require(c.status == 0, "\(c.stderr)")
        let created = try #require(try b.state(id))
        #expect(created["status"] as? String == "created")
        #expect(created["id"] as? String == id)
        #expect(created["bundle"] as? String == b.bundle.path)
        let pid = Int32(created["pid"] as? Int ?? 0)
        #expect(pid > 0)
        #expect(Self.read(pidFile) == String(pid))
        let heldExe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
        #expect(!heldExe.hasSuffix("busybox"), "the process exec'd before start: \(heldExe)")

        let s = try b.envyro(["start", id])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(try b.status(id) == "running")
        #expect(Self.wait { ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? "").hasSuffix("busybox") })

        let k = try b.envyro(["kill", id, "KILL"])
        #expect(k.status == 0, "\(k.stderr)")
        #expect(Self.wait { (try? b.status(id)) == "stopped" })
        #expect(try b.state(id)?["pid"] as? Int == 0)
        let d = try b.envyro(["delete", id])
        #expect(d.status == 0, "\(d.stderr)")
        let gone = try b.envyro(["state", id])
        #expect(gone.status == 1)
        #expect(gone.stderr.contains("container \"\(id)\" does not exist"), "\(gone.stderr)")
        Self.expectNothingLeft(b, id, since: before)
    }

    @Test("SIGTERM stops a container whose process handles it", .enabled(if: Harness.isRoot, "needs root"))
    func killTerm() throws {
        let b = try OCIBundle("term", args: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done", "envyro-leak-marker"])
        defer { b.cleanup() }
        let (id, pid) = try startContainer(b)
        usleep(200_000)   // the trap is set
        let k = try b.envyro(["kill", id, "SIGTERM"])
        #expect(k.status == 0, "\(k.stderr)")
        #expect(Self.wait { (try? b.status(id)) == "stopped" })
        #expect(!Self.alive(pid))
    }

    @Test("list shows the container as a table, as JSON and by id with -q", .enabled(if: Harness.isRoot, "needs root"))
    func list() throws {
        let b = try OCIBundle("list")
        defer { b.cleanup() }
        let (id, pid) = try startContainer(b)
        let table = try b.envyro(["list"])
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.hasPrefix("ID"))
        let row = table.stdout.split(separator: "\n").first(where: { $0.hasPrefix(id) }) ?? ""
        #expect(row.split(separator: " ").map(String.init).prefix(3) == [id, String(pid), "running"], "\(table.stdout)")
        let json = try b.envyro(["list", "--format", "json"])
        let items = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(items.count == 1)
        #expect(items.first?["id"] as? String == id)
        #expect(items.first?["pid"] as? Int == Int(pid))
        #expect(items.first?["status"] as? String == "running")
        let quiet = try b.envyro(["list", "-q"])
        #expect(quiet.stdout == "\(id)\n")
    }

    @Test("a second create with the same id fails and leaves the first container intact", .enabled(if: Harness.isRoot, "needs root"))
    func duplicateID() throws {
        let b = try OCIBundle("dup")
        defer { b.cleanup() }
        let (id, pid) = try startContainer(b)
        let again = try b.envyro(["create", "--bundle", b.bundle.path, id])
        #expect(again.status == 1)
        #expect(again.stderr.contains("exists"), "\(again.stderr)")
        #expect(try b.status(id) == "running")
        #expect(try b.pid(id) == pid)
        #expect(Self.alive(pid))
    }

    // MARK: - stdio and exit statuses

    @Test("the container writes to the pipe create was given, once started", .enabled(if: Harness.isRoot, "needs root"))
    func stdoutPipe() throws {
        let b = try OCIBundle("pipe", args: ["sh", "-c", "echo hello from the container"])
        defer { b.cleanup() }
        let id = b.newID()
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        // Only the container gets the write end (through create's stdout).
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let readEnd = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id], stdout: fds[1])
        close(fds[1])
        try #require(c.status == 0, "\(c.stderr)")
        let s = try b.envyro(["start", id])
        #expect(s.status == 0, "\(s.stderr)")
        // The container holds the only write end: EOF when it exits.
        var flags = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        #expect(poll(&flags, 1, 10_000) == 1, "no output within 10 s")
        let out = String(decoding: readEnd.readDataToEndOfFile(), as: UTF8.self)
        #expect(out == "hello from the container\n")
        #expect(Self.wait { (try? b.status(id)) == "stopped" })
    }

    @Test("run returns the process's exit status", .enabled(if: Harness.isRoot, "needs root"),
          arguments: [("exit 7", Int32(7)), ("true", 0), ("false", 1)])
    func runStatus(script: String, expected: Int32) throws {
        let b = try OCIBundle("run", args: ["sh", "-c", "echo out; \(script)"])
        defer { b.cleanup() }
        let id = b.newID()
        let r = try b.envyro(["run", "--bundle", b.bundle.path, id])
        #expect(r.status == expected, "\(r.stderr)")
        #expect(r.stdout == "out\n")
        // Without --keep, run deletes the container.
        #expect(try b.state(id) == nil)
    }

    @Test("run --detach returns at once with the container running", .enabled(if: Harness.isRoot, "needs root"))
    func runDetached() throws {
        let b = try OCIBundle("detach")
        defer { b.cleanup() }
        let id = b.newID()
        let start = Date()
        let r = try b.envyro(["run", "--detach", "--bundle", b.bundle.path, id], timeout: 20)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Date().timeIntervalSince(start) < 15)
        #expect(try b.status(id) == "running")
        let pid = try b.pid(id)
        let d = try b.envyro(["delete", "--force", id])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(Self.wait { !Self.alive(pid) })
    }

    // MARK: - exec

    @Test("exec runs in the container's pid namespace and sees its hostname", .enabled(if: Harness.isRoot, "needs root"))
    func execNamespaces() throws {
        let b = try OCIBundle("exec")
        b.config["hostname"] = "oci-exec-box"
        try b.write()
        defer { b.cleanup() }
        let (id, _) = try startContainer(b)
        let r = try b.envyro(["exec", id, "sh", "-c", "echo $$; hostname; tr '\\0' ' ' < /proc/1/cmdline"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(r.stdout)")
        #expect((Int(lines.first ?? "") ?? 99_999) < 10, "not in the container's pid namespace: \(lines)")
        #expect(lines.dropFirst().first == "oci-exec-box")
        #expect(lines.last?.hasPrefix("sh -c sleep 60") == true || lines.last?.hasPrefix("sleep 60") == true, "\(lines)")
    }

    @Test("a bundle joins another container's pid, network, ipc and uts namespaces by path", .enabled(if: Harness.isRoot, "needs root"))
    func joinNamespaces() throws {
        let a = try OCIBundle("join-a")
        a.config["hostname"] = "shared-box"
        try a.write()
        defer { a.cleanup() }
        let (_, pid) = try startContainer(a)
        let b = try OCIBundle("join-b", args: ["sh", "-c", "hostname; tr '\\0' ' ' < /proc/1/cmdline"])
        defer { b.cleanup() }
        var linux = b.linux
        linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []).map { ns in
            var ns = ns
            let file = ["pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts"][ns["type"] as? String ?? ""]
            if let file { ns["path"] = "/proc/\(pid)/ns/\(file)" }
            return ns
        }
        b.linux = linux
        b.config["hostname"] = nil
        try b.write()
        let r = try b.envyro(["run", "--bundle", b.bundle.path, b.newID()])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "shared-box", "\(r.stdout)")
        #expect(lines.last?.contains("sleep 60") == true, "pid 1 is the first container's: \(r.stdout)")
    }

    @Test("joining a mount namespace by path is refused by name", .enabled(if: Harness.isRoot, "needs root"))
    func joinMountRefused() throws {
        let b = try OCIBundle("join-mnt")
        defer { b.cleanup() }
        var linux = b.linux
        linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []).map { ns in
            var ns = ns
            if ns["type"] as? String == "mount" { ns["path"] = "/proc/self/ns/mnt" }
            return ns
        }
        b.linux = linux
        try b.write()
        let r = try b.envyro(["create", "--bundle", b.bundle.path, b.newID()])
        #expect(r.status == 1)
        #expect(r.stderr.contains("linux.namespaces[") && r.stderr.contains("mount namespace"), "\(r.stderr)")
    }

    @Test("exec takes --env, --cwd, --user and --process FILE", .enabled(if: Harness.isRoot, "needs root"))
    func execOptions() throws {
        let b = try OCIBundle("exec-opts")
        defer { b.cleanup() }
        let (id, _) = try startContainer(b)
        let env = try b.envyro(["exec", "--env", "A=B", id, "sh", "-c", "echo $A"])
        #expect(env.stdout == "B\n", "\(env.stderr)")
        let cwd = try b.envyro(["exec", "--cwd", "/tmp", id, "pwd"])
        #expect(cwd.stdout == "/tmp\n", "\(cwd.stderr)")
        let user = try b.envyro(["exec", "--user", "1000:1000", id, "sh", "-c", "id -u; id -g"])
        #expect(user.stdout == "1000\n1000\n", "\(user.stderr)")
        let processFile = b.dir.appendingPathComponent("process.json")
        try Data("""
            {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh", "-c", "echo from-process-file $X; pwd"],
             "env": ["PATH=/bin", "X=42"], "cwd": "/proc"}
            """.utf8).write(to: processFile)
        let p = try b.envyro(["exec", "--process", processFile.path, id])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout == "from-process-file 42\n/proc\n")
    }

    @Test("exec returns the exec'd process's exit status", .enabled(if: Harness.isRoot, "needs root"))
    func execStatus() throws {
        let b = try OCIBundle("exec-status")
        defer { b.cleanup() }
        let (id, _) = try startContainer(b)
        let r = try b.envyro(["exec", id, "sh", "-c", "exit 9"])
        #expect(r.status == 9, "\(r.stderr)")
    }

    @Test("exec of a missing command fails clearly, and exec into a stopped container fails", .enabled(if: Harness.isRoot, "needs root"))
    func execFailures() throws {
        let b = try OCIBundle("exec-fail")
        defer { b.cleanup() }
        let (id, _) = try startContainer(b)
        let missing = try b.envyro(["exec", id, "no-such-command-xyz"])
        #expect(missing.status == 127 || missing.status == 1, "\(missing.status) \(missing.stderr)")
        #expect(missing.stderr.contains("no-such-command-xyz") || missing.stderr.contains("exec"), "\(missing.stderr)")
        _ = try b.envyro(["kill", id, "KILL"])
        #expect(Self.wait { (try? b.status(id)) == "stopped" })
        let stopped = try b.envyro(["exec", id, "true"])
        #expect(stopped.status == 1)
        #expect(stopped.stderr.contains("stopped"), "\(stopped.stderr)")
    }

    // MARK: - ps, pause, update, limits

    @Test("ps lists the container's pids as JSON and as a table with a PID column", .enabled(if: Harness.isRoot, "needs root"))
    func ps() throws {
        let b = try OCIBundle("ps")
        defer { b.cleanup() }
        let (id, pid) = try startContainer(b)
        let json = try b.envyro(["ps", "--format", "json", id])
        #expect(json.status == 0, "\(json.stderr)")
        let pids = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [Int] ?? []
        #expect(pids.contains(Int(pid)), "\(json.stdout)")
        let table = try b.envyro(["ps", id])
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.split(separator: " ").contains("PID") == true, "\(table.stdout)")
        #expect(lines.dropFirst().contains(where: { $0.split(separator: " ").contains(Substring(String(pid))) }), "\(table.stdout)")
    }

    @Test("pause freezes the container and resume thaws it", .enabled(if: Harness.isRoot, "needs root"))
    func pauseResume() throws {
        let b = try OCIBundle("pause")
        defer { b.cleanup() }
        let (id, pid) = try startContainer(b)
        let freezer = Self.cgroupFile(pid: pid, controller: "freezer", "freezer.state")
        let p = try b.envyro(["pause", id])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(try b.status(id) == "paused")
        #expect(Self.read(freezer) == "FROZEN", "\(freezer ?? "no freezer cgroup")")
        let exec = try b.envyro(["exec", id, "true"], timeout: 10)
        #expect(exec.status == 1, "exec into a paused container: \(exec.stderr)")
        let r = try b.envyro(["resume", id])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try b.status(id) == "running")
        #expect(Self.read(freezer) == "THAWED")
    }

    @Test("update sets the memory and pids limits of the container's cgroup", .enabled(if: Harness.isRoot, "needs root"))
    func update() throws {
        let b = try OCIBundle("update")
        defer { b.cleanup() }
        let (id, pid) = try startContainer(b)
        let u = try b.envyro(["update", "--memory", "67108864", "--pids-limit", "50", id])
        #expect(u.status == 0, "\(u.stderr)")
        #expect(Self.read(Self.cgroupFile(pid: pid, controller: "memory", "memory.limit_in_bytes")) == "67108864")
        #expect(Self.read(Self.cgroupFile(pid: pid, controller: "pids", "pids.max")) == "50")
        let resources = b.dir.appendingPathComponent("resources.json")
        try Data(#"{"memory": {"limit": 33554432}, "pids": {"limit": 40}}"#.utf8).write(to: resources)
        let r = try b.envyro(["update", "--resources", resources.path, id])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(Self.read(Self.cgroupFile(pid: pid, controller: "memory", "memory.limit_in_bytes")) == "33554432")
        #expect(Self.read(Self.cgroupFile(pid: pid, controller: "pids", "pids.max")) == "40")
    }

    @Test("linux.resources memory and pids limits land in the container's cgroup", .enabled(if: Harness.isRoot, "needs root"))
    func configLimits() throws {
        let b = try OCIBundle("limits")
        defer { b.cleanup() }
        var resources = b.linux["resources"] as? [String: Any] ?? [:]
        resources["memory"] = ["limit": 50_331_648]
        resources["pids"] = ["limit": 25]
        b.linux["resources"] = resources
        try b.write()
        let (_, pid) = try startContainer(b)
        #expect(Self.read(Self.cgroupFile(pid: pid, controller: "memory", "memory.limit_in_bytes")) == "50331648")
        #expect(Self.read(Self.cgroupFile(pid: pid, controller: "pids", "pids.max")) == "25")
    }

    @Test("linux.resources.unified writes a cgroup v2 file of the container's own cgroup", .enabled(if: Harness.isRoot, "needs root"))
    func unifiedFiles() throws {
        let b = try OCIBundle("unified")
        defer { b.cleanup() }
        var resources = b.linux["resources"] as? [String: Any] ?? [:]
        resources["unified"] = ["cgroup.max.descendants": "7"]
        b.linux["resources"] = resources
        try b.write()
        let (_, pid) = try startContainer(b)
        let text = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
        let v2 = text.split(separator: "\n").first { $0.hasPrefix("0::") }.map { String($0.dropFirst(3)) }
        let path = try #require(v2, "no cgroup v2 line in /proc/\(pid)/cgroup")
        #expect(Self.read("/sys/fs/cgroup/unified\(path)/cgroup.max.descendants") == "7")
    }

    @Test("root's container without a user namespace may mknod a disk but not open it: the device cgroup denies it",
          .enabled(if: Harness.isRoot, "needs root"))
    func deviceCgroup() throws {
        let r = try runScript("devices", """
            mknod /dev/disk0 b 8 0 && echo made
            head -c 1 /dev/disk0 >/dev/null 2>&1 && echo disk-readable || echo disk-denied
            echo x > /dev/null && echo null-ok
            """) { b in
            let caps = ["CAP_MKNOD", "CAP_DAC_OVERRIDE"]
            b.process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
        }
        #expect(r.stdout == "made\ndisk-denied\nnull-ok\n", "\(r.stdout)\(r.stderr)")
    }

    // MARK: - what config.json asks for

    @Test("a read-only bind mount, a tmpfs and proc from the bundle's mounts", .enabled(if: Harness.isRoot, "needs root"))
    func mounts() throws {
        let host = Harness.scratchDirectory("oci-hostdir")
        defer { try? FileManager.default.removeItem(at: host) }
        try Data("host data\n".utf8).write(to: host.appendingPathComponent("file"))
        let r = try runScript("mounts", """
            cat /data/file; touch /data/new 2>/dev/null && echo data-writable
            echo x > /scratch/f && cat /scratch/f; grep ' /scratch ' /proc/mounts | cut -d' ' -f3
            test -r /proc/self/status && echo proc-ok
            """) { b in
            var mounts = b.config["mounts"] as? [[String: Any]] ?? []
            mounts.append(["destination": "/data", "type": "bind", "source": host.path, "options": ["rbind", "ro"]])
            mounts.append(["destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m"]])
            b.config["mounts"] = mounts
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "host data\nx\ntmpfs\nproc-ok\n", "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: host.appendingPathComponent("new").path))
    }

    @Test("root.readonly decides whether / is writable", .enabled(if: Harness.isRoot, "needs root"), arguments: [true, false])
    func readonlyRoot(readonly: Bool) throws {
        let r = try runScript("ro", "touch /probe 2>/dev/null && echo writable || echo read-only; rm -f /probe") { b in
            b.config["root"] = ["path": "rootfs", "readonly": readonly]
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == (readonly ? "read-only\n" : "writable\n"))
    }

    @Test("hostname, env and cwd come from the bundle", .enabled(if: Harness.isRoot, "needs root"))
    func hostnameEnvCwd() throws {
        let r = try runScript("env", "hostname; echo $FOO; pwd") { b in
            b.config["hostname"] = "bundle-host"
            b.process["env"] = ["PATH=/bin", "FOO=bar baz"]
            b.process["cwd"] = "/tmp"
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "bundle-host\nbar baz\n/tmp\n")
    }

    @Test("process.user sets uid, gid and the supplementary groups", .enabled(if: Harness.isRoot, "needs root"))
    func user() throws {
        let r = try runScript("user", "id -u; id -g; id -G") { b in
            b.process["user"] = ["uid": 1000, "gid": 1001, "additionalGids": [10, 20]]
        }
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.prefix(2) == ["1000", "1001"], "\(r.stdout)")
        #expect(Set((lines.last ?? "").split(separator: " ")) == ["1001", "10", "20"], "\(r.stdout)")
    }

    @Test("process.rlimits set the soft and hard limits", .enabled(if: Harness.isRoot, "needs root"))
    func rlimits() throws {
        let r = try runScript("rlimits", "ulimit -n; ulimit -Hn") { b in
            b.process["rlimits"] = [["type": "RLIMIT_NOFILE", "soft": 256, "hard": 512]]
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "256\n512\n")
    }

    @Test("the process has exactly the bundle's capabilities", .enabled(if: Harness.isRoot, "needs root"))
    func capabilities() throws {
        let r = try runScript("caps", "grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status") { b in
            let caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            b.process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
        }
        #expect(r.status == 0, "\(r.stderr)")
        // CHOWN (0), KILL (5), NET_BIND_SERVICE (10).
        #expect(r.stdout == "CapPrm:\t0000000000000421\nCapEff:\t0000000000000421\nCapBnd:\t0000000000000421\n", "\(r.stdout)")
    }

    @Test("process.noNewPrivileges decides NoNewPrivs", .enabled(if: Harness.isRoot, "needs root"), arguments: [true, false])
    func noNewPrivileges(on: Bool) throws {
        let r = try runScript("nnp", "grep NoNewPrivs /proc/self/status") { b in b.process["noNewPrivileges"] = on }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "NoNewPrivs:\t\(on ? 1 : 0)\n")
    }

    // /proc/keys rather than /proc/kcore: not every kernel has kcore.
    @Test("masked paths read empty and read-only paths can't be written", .enabled(if: Harness.isRoot, "needs root"),
          .enabled(if: FileManager.default.fileExists(atPath: "/proc/keys"), "this kernel has no /proc/keys to mask"))
    func maskedAndReadonlyPaths() throws {
        let r = try runScript("masked", """
            wc -c < /proc/keys; cat /secret.txt; echo; echo x > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable
            echo x > /etc/ro-file 2>/dev/null && echo etc-writable; echo done
            """) { b in
            try? Data("secret".utf8).write(to: b.rootfs.appendingPathComponent("secret.txt"))
            try? Data("".utf8).write(to: b.rootfs.appendingPathComponent("etc/ro-file"))
            b.config["root"] = ["path": "rootfs", "readonly": false]
            var linux = b.linux
            linux["maskedPaths"] = (linux["maskedPaths"] as? [String] ?? []) + ["/secret.txt"]
            linux["readonlyPaths"] = (linux["readonlyPaths"] as? [String] ?? []) + ["/etc"]
            b.linux = linux
        }
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "0\n\ndone\n", "\(r.stdout)")
    }

    // MARK: - hooks

    @Test("createRuntime and poststop hooks run with the state on stdin", .enabled(if: Harness.isRoot, "needs root"))
    func hooks() throws {
        let b = try OCIBundle("hooks")
        defer { b.cleanup() }
        let createLog = b.dir.appendingPathComponent("createRuntime.json").path
        let stopLog = b.dir.appendingPathComponent("poststop.json").path
        b.config["hooks"] = [
            "createRuntime": [["path": "/bin/sh", "args": ["sh", "-c", "cat > \(createLog)"]]],
            "poststop": [["path": "/bin/sh", "args": ["sh", "-c", "cat > \(stopLog)"]]],
        ]
        try b.write()
        let id = b.newID()
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id])
        try #require(c.status == 0, "\(c.stderr)")
        let pid = try b.pid(id)
        let created = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: createLog))) as? [String: Any]
        #expect(created?["id"] as? String == id)
        #expect(created?["pid"] as? Int == Int(pid))
        #expect(created?["bundle"] as? String == b.bundle.path)
        #expect(!FileManager.default.fileExists(atPath: stopLog))
        let d = try b.envyro(["delete", "--force", id])
        #expect(d.status == 0, "\(d.stderr)")
        let stopped = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: stopLog))) as? [String: Any]
        #expect(stopped?["id"] as? String == id)
    }

    @Test("a failing createRuntime hook makes create fail and leaves nothing behind", .enabled(if: Harness.isRoot, "needs root"))
    func failingHook() throws {
        let before = Harness.snapshot()
        let b = try OCIBundle("hook-fail")
        defer { b.cleanup() }
        b.config["hooks"] = ["createRuntime": [["path": "/bin/sh", "args": ["sh", "-c", "exit 3"]]]]
        try b.write()
        let id = b.newID()
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id])
        #expect(c.status == 1)
        #expect(c.stderr.contains("createRuntime hook"), "\(c.stderr)")
        Self.expectNothingLeft(b, id, since: before)
    }

    // MARK: - refusals

    /// A bundle edit envyro must refuse, and what the message must contain.
    struct Refusal: CustomStringConvertible, Sendable {
        var description: String
        var message: [String]
        /// Global flags (the policy, when the refusal is the restricted policy's).
        var global: [String] = []
        var edit: @Sendable (OCIBundle) -> Void
    }

    static let refusals: [Refusal] = [
        // Honoured where the hierarchy offers hugetlb; this host's unified hierarchy doesn't enable
        // it below the root (a cgroup we don't own), so the refusal names the controller.
        Refusal(description: "hugepage limits on a host whose hierarchy lacks hugetlb", message: ["hugetlb"]) { b in
            var r = b.linux["resources"] as? [String: Any] ?? [:]
            r["hugepageLimits"] = [["pageSize": "2MB", "limit": 2_097_152]]
            b.linux["resources"] = r
        },
        Refusal(description: "a unified key the policy governs", message: ["linux.resources.unified[0]", "memory.max"]) { b in
            var r = b.linux["resources"] as? [String: Any] ?? [:]
            r["unified"] = ["memory.max": "max"]
            b.linux["resources"] = r
        },
        Refusal(description: "a memory reservation", message: ["linux.resources.memory.reservation"]) { b in
            var r = b.linux["resources"] as? [String: Any] ?? [:]
            r["memory"] = ["reservation": 1_048_576]
            b.linux["resources"] = r
        },
        Refusal(description: "time offsets for a joined time namespace", message: ["linux.timeOffsets", "needs a new time namespace"]) { b in
            b.linux["namespaces"] = (b.linux["namespaces"] as? [[String: Any]] ?? []) + [["type": "time", "path": "/proc/self/ns/time"]]
            b.linux["timeOffsets"] = ["monotonic": ["secs": 1]]
        },
        Refusal(description: "an AppArmor profile", message: ["process.apparmorProfile"]) { b in b.process["apparmorProfile"] = "docker-default" },
        Refusal(description: "an unknown key", message: ["process.foo"]) { b in b.process["foo"] = 1 },
        Refusal(description: "Intel RDT", message: ["linux.intelRdt"]) { b in b.linux["intelRdt"] = ["closID": "guaranteed_group"] },
        Refusal(description: "a windows section", message: ["windows"]) { b in b.config["windows"] = ["layerFolders": ["C:\\x"]] },
        // Host root may ask for it under `oci` (runc's behaviour; OCIPolicyTests), not under oci-restricted.
        Refusal(description: "CAP_SYS_ADMIN", message: ["CAP_SYS_ADMIN", "policy oci-restricted"], global: ["--policy", "oci-restricted"]) { b in
            let caps = ["CAP_KILL", "CAP_SYS_ADMIN"]
            b.process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
        },
        Refusal(description: "a missing rootfs", message: ["root.path", "no-such-rootfs"]) { b in b.config["root"] = ["path": "no-such-rootfs"] },
        Refusal(description: "a missing executable", message: ["exec", "/bin/no-such-program"]) { b in
            b.process["args"] = ["/bin/no-such-program", "envyro-leak-marker"]
        },
    ]

    @Test("create refuses what envyro can't or won't do, naming it, and leaves nothing behind", .enabled(if: Harness.isRoot, "needs root"),
          arguments: refusals)
    func refusal(_ refusal: Refusal) throws {
        let before = Harness.snapshot()
        let b = try OCIBundle("refuse")
        defer { b.cleanup() }
        refusal.edit(b)
        try b.write()
        let id = b.newID()
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id], global: refusal.global)
        #expect(c.status == 1, "\(c.stderr)")
        for part in refusal.message { #expect(c.stderr.contains(part), "\(refusal): \(c.stderr)") }
        #expect(try b.state(id) == nil)
        Self.expectNothingLeft(b, id, since: before)
    }

    @Test("an id with a slash is refused with runc's message", .enabled(if: Harness.isRoot, "needs root"))
    func badID() throws {
        let b = try OCIBundle("bad-id")
        defer { b.cleanup() }
        let c = try b.envyro(["create", "--bundle", b.bundle.path, "a/b"])
        #expect(c.status == 1)
        #expect(c.stderr.contains("invalid container ID format"), "\(c.stderr)")
        #expect(!FileManager.default.fileExists(atPath: b.stateRoot + "/a"))
    }

    // MARK: - errors engines rely on

    @Test("state, start, kill and delete of an unknown id say it does not exist; delete --force succeeds",
          .enabled(if: Harness.isRoot, "needs root"))
    func unknownID() throws {
        let b = try OCIBundle("unknown")
        defer { b.cleanup() }
        for command in [["state"], ["start"], ["kill"], ["delete"], ["kill", "--all"], ["pause"], ["exec"]] {
            let r = try b.envyro(command + ["nonesuch"] + (command == ["exec"] ? ["true"] : []))
            #expect(r.status == 1, "\(command)")
            #expect(r.stderr.contains("container \"nonesuch\" does not exist"), "\(command): \(r.stderr)")
        }
        let force = try b.envyro(["delete", "--force", "nonesuch"])
        #expect(force.status == 0, "\(force.stderr)")
    }

    @Test("start of a running container says it is already running", .enabled(if: Harness.isRoot, "needs root"))
    func startTwice() throws {
        let b = try OCIBundle("start-twice")
        defer { b.cleanup() }
        let (id, _) = try startContainer(b)
        let again = try b.envyro(["start", id])
        #expect(again.status == 1)
        #expect(again.stderr.contains("already running"), "\(again.stderr)")
    }

    @Test("delete refuses a running container; delete --force kills and removes it", .enabled(if: Harness.isRoot, "needs root"))
    func deleteRunning() throws {
        let before = Harness.snapshot()
        let b = try OCIBundle("delete")
        defer { b.cleanup() }
        let (id, pid) = try startContainer(b)
        let d = try b.envyro(["delete", id])
        #expect(d.status == 1)
        #expect(d.stderr.contains("running"), "\(d.stderr)")
        #expect(try b.status(id) == "running")
        let f = try b.envyro(["delete", "--force", id])
        #expect(f.status == 0, "\(f.stderr)")
        #expect(Self.wait { !Self.alive(pid) }, "the container's process \(pid) is still alive")
        #expect(try b.state(id) == nil)
        Self.expectNothingLeft(b, id, since: before)
    }

    @Test("delete of a created container that never started removes it", .enabled(if: Harness.isRoot, "needs root"))
    func deleteCreated() throws {
        let before = Harness.snapshot()
        let b = try OCIBundle("delete-created")
        defer { b.cleanup() }
        let id = b.newID()
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id])
        try #require(c.status == 0, "\(c.stderr)")
        let pid = try b.pid(id)
        let d = try b.envyro(["delete", id])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(Self.wait { !Self.alive(pid) }, "the held process \(pid) is still alive")
        Self.expectNothingLeft(b, id, since: before)
    }

    // MARK: - global flags

    @Test("--log with --log-format json writes runc's error line on failure", .enabled(if: Harness.isRoot, "needs root"))
    func jsonLog() throws {
        let b = try OCIBundle("log")
        defer { b.cleanup() }
        let log = b.dir.appendingPathComponent("runtime.log").path
        let r = try b.envyro(["state", "nonesuch"], global: ["--log", log, "--log-format", "json"])
        #expect(r.status == 1)
        let line = try #require(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").last)
        let j = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(j?["level"] as? String == "error")
        #expect(j?["msg"] as? String == "container \"nonesuch\" does not exist")
    }

    @Test("--systemd-cgroup is refused with a message naming cgroupfs", .enabled(if: Harness.isRoot, "needs root"))
    func systemdCgroup() throws {
        let b = try OCIBundle("systemd")
        defer { b.cleanup() }
        let r = try b.envyro(["list"], global: ["--systemd-cgroup"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("cgroupfs"), "\(r.stderr)")
    }

    @Test("features is a runtime-spec features document and --version names the spec")
    func featuresAndVersion() throws {
        let f = try Harness.envyro(["features"])
        #expect(f.status == 0, "\(f.stderr)")
        let j = try JSONSerialization.jsonObject(with: Data(f.stdout.utf8)) as? [String: Any]
        #expect(j?["ociVersionMin"] as? String == "1.0.0")
        #expect(j?["ociVersionMax"] is String)
        #expect((j?["mountOptions"] as? [String] ?? []).contains("bind"))
        #expect((j?["hooks"] as? [String] ?? []).contains("createRuntime"))
        let v = try Harness.envyro(["--version"])
        #expect(v.status == 0)
        #expect(v.stdout.contains("spec: 1."), "\(v.stdout)")
    }

    // MARK: - audit

    /// The last `bytes` of the root helper's audit log, as lines that mention `oci ID`.
    static func auditLines(for id: String, bytes: Int = 4 << 20) -> [[String: Any]] {
        guard let h = FileHandle(forReadingAtPath: "/var/log/envyro/audit.jsonl") else { return [] }
        defer { try? h.close() }
        let size = (try? h.seekToEnd()) ?? 0
        try? h.seek(toOffset: size > UInt64(bytes) ? size - UInt64(bytes) : 0)
        let text = String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
        return text.split(separator: "\n").filter { $0.contains("oci \(id)") }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { ($0["detail"] as? String)?.hasPrefix("oci \(id)") == true }
    }

    @Test("create, start, exec, kill and delete are audited as oci_create, oci_exec and oci_control", .enabled(if: Harness.isRoot, "needs root"))
    func audit() throws {
        let b = try OCIBundle("audit")
        defer { b.cleanup() }
        let (id, _) = try startContainer(b)
        _ = try b.envyro(["exec", id, "true"])
        _ = try b.envyro(["kill", id, "KILL"])
        Self.wait { (try? b.status(id)) == "stopped" }
        let d = try b.envyro(["delete", id])
        #expect(d.status == 0, "\(d.stderr)")
        let records = Self.auditLines(for: id)
        let verbs = records.compactMap { $0["verb"] as? String }
        #expect(verbs.first == "oci_create", "\(verbs)")
        #expect(verbs.contains("oci_exec"), "\(verbs)")
        #expect(verbs.filter { $0 == "oci_control" }.count >= 2, "kill and delete: \(verbs)")
        let details = records.compactMap { $0["detail"] as? String }
        #expect(details.contains(where: { $0.hasPrefix("oci \(id) destroy") }), "\(details)")
        #expect(details.contains(where: { $0.hasPrefix("oci \(id) signal 9") }), "\(details)")
        for r in records {
            #expect(r["uid"] as? Int == 0)
            #expect(r["decision"] as? String == "allowed")
        }
    }

    @Test("a policy refusal is audited as a denied oci_create", .enabled(if: Harness.isRoot, "needs root"))
    func auditDenied() throws {
        let b = try OCIBundle("audit-denied")
        defer { b.cleanup() }
        let caps = ["CAP_SYS_ADMIN"]
        b.process["capabilities"] = ["bounding": caps, "effective": caps, "permitted": caps]
        try b.write()
        let id = b.newID()
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id], global: ["--policy", "oci-restricted"])
        #expect(c.status == 1)
        let records = Self.auditLines(for: id)
        #expect(records.map { $0["verb"] as? String } == ["oci_create"])
        #expect(records.first?["decision"] as? String != "allowed", "\(records)")
    }

    // MARK: - an ordinary user

    @Test("an ordinary user runs a spec --rootless bundle: uid 0 inside, a single-id map",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and the envyrotest user"))
    func rootless() throws {
        let before = Harness.snapshot()
        let b = try OCIBundle("rootless", as: .ordinary, rootless: true,
                              args: ["sh", "-c", "id -u; cat /proc/self/uid_map; exec sleep 60", "envyro-leak-marker"])
        defer { b.cleanup() }
        let id = b.newID()
        let out = b.dir.appendingPathComponent("container.out")
        let outFD = open(out.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        defer { close(outFD) }
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id], stdout: outFD)
        try #require(c.status == 0, "\(c.stderr)")
        #expect(try b.status(id) == "created")
        #expect(try b.state(id)?["owner"] as? String == Harness.ordinaryUser)
        let s = try b.envyro(["start", id])
        #expect(s.status == 0, "\(s.stderr)")
        #expect(Self.wait { Self.read(out.path).split(separator: "\n").count >= 2 })
        let words = Self.read(out.path).split(whereSeparator: { $0 == " " || $0 == "\n" })
        #expect(words == ["0", "0", Substring(Harness.ordinaryUID), "1"], "\(words)")
        #expect(try b.status(id) == "running")
        let d = try b.envyro(["delete", "--force", id])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(try b.state(id) == nil)
        Self.expectNothingLeft(b, id, since: before)
    }

    @Test("an ordinary user's bundle without a user namespace is refused: only root may",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and the envyrotest user"))
    func rootlessWithoutUserNamespace() throws {
        let before = Harness.snapshot()
        let b = try OCIBundle("no-userns", as: .ordinary)
        defer { b.cleanup() }
        let id = b.newID()
        let c = try b.envyro(["create", "--bundle", b.bundle.path, id])
        #expect(c.status == 1)
        #expect(c.stderr.contains("only root may"), "\(c.stderr)")
        Self.expectNothingLeft(b, id, since: before)
    }
}
}
