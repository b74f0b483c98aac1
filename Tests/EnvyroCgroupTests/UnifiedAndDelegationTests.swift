import CEnvyro
import EnvyroSystem
import Glibc
import Testing
@testable import EnvyroCgroup

@Suite("cgroup v2 and delegation on the real hierarchies (root)", .serialized, .enabled(if: Support.isRoot, "\(Support.rootReason)"))
struct UnifiedAndDelegationTests {
    /// Polls `condition` for at most a second.
    static func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            usleep(1000)
        }
        return condition()
    }

    @Test("The unified hierarchy: attach, cgroup.events, cgroup.freeze, cpu.stat, cgroup.kill, rmdir")
    func unified() throws {
        try Support.withTestSubtree("v2") { h, rel in
            guard let mount = h.unifiedMount else {
                print("no cgroup2 mount on this host: the v2 driver is covered by the format tests only")
                return
            }
            let offered = Support.read(mount + "/cgroup.controllers") ?? ""
            let enabled = Support.read("\(mount)/\(rel)/cgroup.controllers") ?? ""
            print("cgroup2 at \(mount): root offers [\(offered)], the envyro subtree gets [\(enabled)] (the root's subtree_control is never written)")
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [], includeUnified: true)
            #expect(subtree.directories.map(\.version) == [.v2])
            let c = try ContainerCgroup.create(in: subtree, name: ContainerCgroup.uniqueName(sequence: 2), limits: CgroupLimits())
            defer { try? c.remove() }
            let dir = c.paths[0]
            #expect(try !c.isPopulated())

            let pid = try Support.spawn(["/bin/sleep", "30"])
            var reaped = false
            defer { if !reaped { kill(pid, SIGKILL); _ = Support.wait(pid) } }
            try c.attach(pid: pid)
            #expect(try c.processes() == [pid])
            #expect(try CgroupFormats.parseCgroupEvents(Support.read(dir + "/cgroup.events") ?? "").populated)
            #expect(try c.isPopulated())
            #expect((Support.read("/proc/\(pid)/cgroup") ?? "").contains("0::/\(rel)/\(c.name)"))
            #expect(c.stats().cpuUsageNanos != nil, "cpu.stat is a core file")

            if Files.kind(dir + "/cgroup.freeze") == .regular {
                try Files.writeOnce(dir + "/cgroup.freeze", "1")
                #expect(Self.eventually { (try? CgroupFormats.parseCgroupEvents(Support.read(dir + "/cgroup.events") ?? ""))?.frozen == true })
                try Files.writeOnce(dir + "/cgroup.freeze", "0")
            }

            #expect(Files.kind(dir + "/cgroup.kill") == .regular, "cgroup.kill needs kernel 5.14+")
            try c.killAll()
            #expect(Support.wait(pid) == .signaled(SIGKILL))
            reaped = true
            #expect(Self.eventually { (try? CgroupFormats.parseCgroupEvents(Support.read(dir + "/cgroup.events") ?? ""))?.populated == false })
            try c.remove()
            #expect(Files.kind(dir) == .missing)
        }
    }

    @Test("On a hybrid host a container also placed in cgroup2 is killed through cgroup.kill, v1 dirs included")
    func hybridKill() throws {
        try Support.withTestSubtree("hyb") { h, rel in
            guard h.unifiedMount != nil, h.version(for: .memory) == .v1 else { return }
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.memory, .pids], includeUnified: true)
            let c = try ContainerCgroup.create(in: subtree, name: "c-hybrid", limits: CgroupLimits(memoryMax: 32 << 20, pidsMax: 4))
            defer { try? c.remove() }
            #expect(Set(c.directories.map(\.version)) == [.v1, .v2])
            let pid = try Support.spawn(["/bin/sleep", "30"])
            var reaped = false
            defer { if !reaped { kill(pid, SIGKILL); _ = Support.wait(pid) } }
            try c.attach(pid: pid)
            try c.remove()
            #expect(Support.wait(pid) == .signaled(SIGKILL))
            reaped = true
            for p in c.paths { #expect(Files.kind(p) == .missing) }
        }
    }

    /// The test user's ids, creating `envyrotest` when it's missing.
    static func testUser() throws -> (uid: uid_t, gid: gid_t)? {
        if getpwnam("envyrotest") == nil {
            _ = try Support.run(["/usr/sbin/useradd", "-M", "-s", "/bin/sh", "envyrotest"])
        }
        guard let pw = getpwnam("envyrotest") else { return nil }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    @Test("delegate hands envyro/u<uid> to the user: they can make and limit children, not change the subtree's own limits")
    func delegation() throws {
        let h = try Support.hierarchy()
        guard let (uid, gid) = try Self.testUser(), let memory = h.v1Mount(for: .memory), let pids = h.v1Mount(for: .pids) else {
            Issue.record("could not create the envyrotest user or no v1 memory/pids hierarchy")
            return
        }
        let rel = CgroupDelegation.subtreePath(uid: uid)
        #expect(rel == "envyro/u\(uid)")
        #expect(CgroupDelegation.subtreePath(uid: 0) == "envyro/root")
        let existed = Files.kind("\(memory.mountPoint)/\(rel)") == .directory
        let probe = "c-probe-\(getpid())"
        defer {
            // Only what this test made: the probe cgroups, and the subtree if it was new.
            for m in [memory.mountPoint, pids.mountPoint] + (h.unifiedMount.map { [$0] } ?? []) {
                _ = rmdir("\(m)/\(rel)/\(probe)")
            }
            if !existed {
                do { try CgroupDelegation.undelegate(hierarchy: h, uid: uid) } catch { Issue.record("undelegate failed: \(error)") }
            }
        }
        let paths = try CgroupDelegation.delegate(hierarchy: h, uid: uid, gid: gid)
        #expect(paths.contains("\(memory.mountPoint)/\(rel)"))
        #expect(paths.count == CgroupDelegation.mounts(of: h).count)
        for p in paths {
            var st = stat()
            #expect(lstat(p, &st) == 0 && st.st_uid == uid && st.st_gid == gid, "\(p)")
            #expect(lstat(p + "/cgroup.procs", &st) == 0 && st.st_uid == uid, "\(p)/cgroup.procs")
        }
        var st = stat()
        #expect(lstat("\(memory.mountPoint)/\(rel)/tasks", &st) == 0 && st.st_uid == uid)
        #expect(lstat("\(memory.mountPoint)/\(rel)/memory.limit_in_bytes", &st) == 0 && st.st_uid == 0, "the subtree's own limits stay root's")
        if let cpuset = h.v1Mount(for: .cpuset) {
            #expect(Support.read("\(cpuset.mountPoint)/\(rel)/cpuset.cpus")?.isEmpty == false, "cpuset.cpus copied down")
        }

        // The ownership check the helper relies on.
        _ = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.memory, .pids], callerUID: uid)
        #expect(throws: CgroupError.self) {
            try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.memory], callerUID: uid + 1)
        }

        // As the user, with the kernel checking permissions.
        let m = "\(memory.mountPoint)/\(rel)", p = "\(pids.mountPoint)/\(rel)"
        var script = """
            mkdir \(m)/\(probe) || exit 10
            echo 67108864 > \(m)/\(probe)/memory.limit_in_bytes || exit 11
            mkdir \(p)/\(probe) || exit 12
            echo 5 > \(p)/\(probe)/pids.max || exit 13
            echo $$ > \(m)/\(probe)/cgroup.procs || exit 14
            echo $$ > \(p)/\(probe)/cgroup.procs || exit 15
            if echo 1 > \(m)/memory.limit_in_bytes 2>/dev/null; then exit 16; fi
            if echo 1 > \(p)/pids.max 2>/dev/null; then exit 17; fi
            if mkdir \(memory.mountPoint)/envyro/intruder-\(getpid()) 2>/dev/null; then exit 18; fi
            if mkdir \(memory.mountPoint)/envyro/root/intruder-\(getpid()) 2>/dev/null; then exit 19; fi

            """
        if let u = h.unifiedMount {
            script += "mkdir \(u)/\(rel)/\(probe) || exit 20\nrmdir \(u)/\(rel)/\(probe) || exit 21\n"
        }
        script += "exit 0\n"
        let result = try Support.run(["/usr/sbin/runuser", "-u", "envyrotest", "--", "/bin/sh", "-c", script])
        #expect(result == .exited(0), "exit codes: 10-15 a delegated step failed, 16-19 a forbidden step succeeded, 20-21 v2 mkdir/rmdir")
        #expect(Support.read("\(m)/\(probe)/memory.limit_in_bytes") == "67108864")
        _ = rmdir("\(memory.mountPoint)/envyro/intruder-\(getpid())")
    }
}
