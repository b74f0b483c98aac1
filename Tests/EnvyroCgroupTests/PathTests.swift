import EnvyroSystem
import Glibc
import Testing
@testable import EnvyroCgroup

@Suite("Cgroup path refusals")
struct PathTests {
    @Test("Good relative paths split into components", arguments: [
        ("envyro/u1000", ["envyro", "u1000"]), ("envyro/root", ["envyro", "root"]), ("a", ["a"]),
        ("envyro/test-1_2.x", ["envyro", "test-1_2.x"]), ("..a/b..", ["..a", "b.."]),
    ])
    func accepted(path: String, parts: [String]) throws {
        #expect(try CgroupPath.components(path) == parts)
    }

    @Test("Unsafe paths are refused before any system call", arguments: [
        ("", "empty"), ("/sys/fs/cgroup/memory", "absolute"), ("/envyro", "absolute"),
        ("envyro/../../etc", "'..'"), ("..", "'..'"), ("envyro/..", "'..'"), ("./envyro", "'.'"), ("envyro/.", "'.'"),
        ("envyro//u1", "empty component"), ("envyro/u1/", "empty component"),
        ("envyro/u 1", "' '"), ("envyro/u*", "'*'"), ("envyro/ü", "byte 0xc3"), ("envyro/a\nb", "byte 0xa"), ("envyro/a\0b", "byte 0x0"),
        ("envyro/$(id)", "'$'"), ("envyro\\u1", "'\\'"),
        (String(repeating: "a/", count: 17) + "a", "more than 16"), ("envyro/" + String(repeating: "x", count: 129), "longer than 128"),
    ])
    func refused(path: String, reasonPart: String) {
        #expect {
            try CgroupPath.components(path)
        } throws: { error in
            guard case let .unsafePath(p, reason) = error as? CgroupError else { return false }
            return p == path && reason.contains(reasonPart)
        }
    }

    @Test("Container names are single safe components", arguments: ["c-1-2-3", "a/b", "..", ".", "", "c 1", "c/", "/c"])
    func names(name: String) {
        let ok = (try? CgroupPath.checkName(name)) != nil
        #expect(ok == (name == "c-1-2-3"))
    }

    @Test("Refusals say what to do")
    func message() {
        let text = CgroupError.unsafePath("../x", reason: "'..' components are refused").description
        #expect(text.contains("../x") && text.contains("use a relative path"))
    }

    /// A fake v1 "mount" in /tmp (a directory with a `cgroup.procs` file) holding symlinks:
    /// openat2's RESOLVE_NO_SYMLINKS refuses every one, wherever it sits on the path.
    @Test("Symlinks anywhere on a subtree path are refused", arguments: [
        "envyro/link-to-root", "envyro/link-to-sibling", "link/u1", "envyro/real/../real",
    ])
    func symlinks(relative: String) throws {
        let base = "/tmp/envyro-cgroup-symlink-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try Files.makeDirectories(base + "/envyro/real", mode: 0o755)
        defer { _ = try? Support.run(["/bin/rm", "-rf", base]) }
        #expect(creat(base + "/cgroup.procs", 0o644) >= 0)
        #expect(symlink("/", base + "/envyro/link-to-root") == 0)
        #expect(symlink("real", base + "/envyro/link-to-sibling") == 0)
        #expect(symlink("envyro", base + "/link") == 0)
        let h = CgroupHierarchy(unifiedMount: nil, unifiedControllers: [], v1Mounts: [CgroupV1Mount(mountPoint: base, controllers: ["memory"])])
        // The real directory opens (the fake mount is accepted: its device is unknown).
        _ = try CgroupSubtree.open(hierarchy: h, relativePath: "envyro/real", controllers: [.memory])
        #expect {
            try CgroupSubtree.open(hierarchy: h, relativePath: relative, controllers: [.memory])
        } throws: { error in
            guard case let .unsafePath(p, reason) = error as? CgroupError else { return false }
            return (p.hasSuffix(relative) && reason.contains("symlink")) || reason.contains("'..'")
        }
    }

    @Test("A mount whose device differs from mountinfo's is refused")
    func wrongDevice() throws {
        let base = "/tmp/envyro-cgroup-dev-\(getpid())"
        try Files.makeDirectories(base + "/envyro/u1", mode: 0o755)
        defer { _ = try? Support.run(["/bin/rm", "-rf", base]) }
        #expect(creat(base + "/cgroup.procs", 0o644) >= 0)
        let h = CgroupHierarchy(unifiedMount: nil, unifiedControllers: [], v1Mounts: [CgroupV1Mount(mountPoint: base, controllers: ["pids"], device: "0:9999")])
        #expect {
            try CgroupSubtree.open(hierarchy: h, relativePath: "envyro/u1", controllers: [.pids])
        } throws: { error in
            guard case let .unsafePath(_, reason) = error as? CgroupError else { return false }
            return reason.contains("not the cgroup mount")
        }
    }

    @Test("A directory that is not a cgroup filesystem is refused")
    func notCgroup() throws {
        let h = CgroupHierarchy(unifiedMount: nil, unifiedControllers: [], v1Mounts: [CgroupV1Mount(mountPoint: "/tmp", controllers: ["pids"])])
        #expect(throws: CgroupError.unsafePath("/tmp", reason: "it has no cgroup.procs, so it is not a cgroup filesystem")) {
            try CgroupSubtree.open(hierarchy: h, relativePath: "envyro/u1", controllers: [.pids])
        }
    }

    @Test("Another user's subtree is refused; your own opens")
    func ownership() throws {
        let base = "/tmp/envyro-cgroup-own-\(getpid())"
        try Files.makeDirectories(base + "/envyro/u4242", mode: 0o755)
        defer { _ = try? Support.run(["/bin/rm", "-rf", base]) }
        #expect(creat(base + "/cgroup.procs", 0o644) >= 0)
        let h = CgroupHierarchy(unifiedMount: nil, unifiedControllers: [], v1Mounts: [CgroupV1Mount(mountPoint: base, controllers: ["pids"])])
        let me = getuid()
        let stranger: uid_t = me == 4242 ? 4243 : 4242
        #expect(throws: CgroupError.notYourSubtree(path: base + "/envyro/u4242", owner: me, caller: stranger)) {
            try CgroupSubtree.open(hierarchy: h, relativePath: "envyro/u4242", controllers: [.pids], callerUID: stranger)
        }
        _ = try CgroupSubtree.open(hierarchy: h, relativePath: "envyro/u4242", controllers: [.pids], callerUID: me)
    }

    @Test("A missing subtree says how to create it")
    func missing() throws {
        let h = try CgroupHierarchy.detect()
        guard h.v1Mount(for: .pids) != nil || h.version(for: .pids) != nil else { return }
        #expect {
            try CgroupSubtree.open(hierarchy: h, relativePath: "envyro/u-does-not-exist-\(getpid())", controllers: [.pids])
        } throws: { error in
            guard case .noSubtree = error as? CgroupError else { return false }
            return (error as? CgroupError)?.description.contains("sudo envyro setup --user NAME") == true
        }
    }

    @Test("A controller mounted nowhere is reported as unavailable")
    func unavailable() {
        let h = CgroupHierarchy(unifiedMount: nil, unifiedControllers: [], v1Mounts: [])
        #expect {
            try CgroupSubtree.open(hierarchy: h, relativePath: "envyro/u1", controllers: [.memory])
        } throws: { error in
            guard case .controllerUnavailable(.memory, _) = error as? CgroupError else { return false }
            return true
        }
    }
}

/// cgroup v2 with systemd: a user's delegated service cgroup is found from /proc/self/cgroup.
@Suite("systemd delegation")
struct SystemdDelegationTests {
    @Test("the user's service cgroup is the 0:: path up to user@UID.service", arguments: [
        ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/envyro.scope\n", UInt32(1000),
         "user.slice/user-1000.slice/user@1000.service" as String?),
        ("12:pids:/\n0::/user.slice/user-1000.slice/user@1000.service\n", 1000, "user.slice/user-1000.slice/user@1000.service"),
        ("0::/user.slice/user-1000.slice/session-3.scope\n", 1000, nil),
        ("0::/user.slice/user-1001.slice/user@1001.service/x\n", 1000, nil),
        ("4:memory:/process_api/abc\n", 1000, nil),
    ])
    func servicePath(text: String, uid: UInt32, expected: String?) {
        #expect(SystemdDelegation.servicePath(procSelfCgroup: text, uid: uid) == expected)
    }

    @Test("systemd's unit names pass the path check")
    func atSign() throws {
        try CgroupPath.checkName("user@1000.service")
    }
}
