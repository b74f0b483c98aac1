import Foundation
import Testing

extension Integration {
/// The mounts of issue 17, each run on the same bundle under envyro and under a reference
/// runtime (crun 1.8.1; runc 1.1 where crun 1.8.1 gets an option wrong), comparing what the
/// container prints: mountinfo fields, stat output, a write that must fail. Where crun 1.8.1
/// lacks an option (dest-nofollow, copy-symlink, ridmap), the expected result is crun's own
/// upstream test's and is stated.
@Suite("OCI mounts, compared with crun", .serialized,
       .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable && MountBench.crunAvailable, "needs root, busybox and /usr/bin/crun"))
struct OCIMounts {
    // MARK: recursive attributes

    @Test("rro makes the mount and every mount under it read-only, as with crun")
    func recursiveReadOnly() throws {
        let bench = try MountBench("rro")
        defer { bench.cleanup() }
        let src = try bench.sourceWithSubmount()
        let r = try bench.compare(mounts: [bench.bind(src, "/mnt", ["rbind", "rro"])],
                                  script: "grep ' /mnt' /proc/self/mountinfo | cut -d' ' -f5,6; touch /mnt/sub/x || echo refused; touch /mnt/y || echo refused")
        #expect(r.envyro.stdout == r.reference.stdout, "\(r)")
        #expect(r.envyro.stdout.contains("/mnt ro,") && r.envyro.stdout.contains("/mnt/sub ro,"), "\(r)")
        #expect(r.envyro.stdout.components(separatedBy: "refused").count == 3, "both writes refused: \(r)")
    }

    /// crun 1.8.1 maps rnoatime, rstrictatime and rnodiratime to EINVAL and swaps rrelatime and
    /// rnosymfollow in its table: those are compared with runc 1.1, which has them right.
    static let recursiveOptions: [(option: String, reference: MountBench.Reference, expected: String)] = [
        ("rnosuid", .crun, "nosuid"), ("rnodev", .crun, "nodev"), ("rnoexec", .crun, "noexec"),
        ("rnoatime", .runc, "noatime"), ("rnodiratime", .runc, "nodiratime"), ("rnosymfollow", .runc, "nosymfollow"),
        ("rrelatime", .runc, "relatime"), ("rstrictatime", .runc, ""),
    ]

    @Test("Each recursive attribute reaches the submounts, as with the reference runtime", arguments: recursiveOptions)
    func recursiveAttribute(_ row: (option: String, reference: MountBench.Reference, expected: String)) throws {
        let bench = try MountBench("rattr")
        defer { bench.cleanup() }
        let src = try bench.sourceWithSubmount()
        let r = try bench.compare(mounts: [bench.bind(src, "/mnt", ["rbind", row.option])],
                                  script: "grep ' /mnt' /proc/self/mountinfo | cut -d' ' -f5,6", reference: row.reference)
        #expect(r.envyro.status == 0 && r.envyro.stdout == r.reference.stdout, "\(r)")
        let lines = r.envyro.stdout.split(separator: "\n")
        #expect(lines.count == 2, "\(r)")
        for line in lines where !row.expected.isEmpty {
            #expect(line.split(separator: " ").last?.split(separator: ",").contains(Substring(row.expected)) == true, "\(line)")
        }
    }

    // MARK: bind and rbind

    @Test("bind leaves the source's submounts out and rbind brings them, as with crun", arguments: ["bind", "rbind"])
    func bindAndRbind(_ option: String) throws {
        let bench = try MountBench("bind")
        defer { bench.cleanup() }
        let src = try bench.sourceWithSubmount()
        let r = try bench.compare(mounts: [bench.bind(src, "/mnt", [option])],
                                  script: "grep -c ' /mnt' /proc/self/mountinfo; cat /mnt/sub/marker || true")
        #expect(r.envyro.stdout == r.reference.stdout, "\(r)")
        #expect(r.envyro.stdout.hasPrefix(option == "bind" ? "1\n" : "2\nsubmount"), "\(r)")
    }

    // MARK: fifos, sockets, symlinks

    static let specialFiles: [(kind: String, options: [String])] = [
        ("fifo", ["bind"]), ("fifo", ["bind", "ro"]), ("socket", ["bind"]), ("socket", ["bind", "ro"]),
    ]

    @Test("A fifo or a unix socket is bound onto a file made for it, as with crun", arguments: specialFiles)
    func fifoAndSocket(_ row: (kind: String, options: [String])) throws {
        let bench = try MountBench("special")
        defer { bench.cleanup() }
        let source = try bench.specialFile(row.kind)
        let r = try bench.compare(mounts: [bench.bind(source, "/run/special", row.options)],
                                  script: "stat -c %F /run/special; grep ' /run/special ' /proc/self/mountinfo | cut -d' ' -f5,6")
        #expect(r.envyro.status == 0 && r.envyro.stdout == r.reference.stdout, "\(r)")
        #expect(r.envyro.stdout.hasPrefix(row.kind), "\(r)")
    }

    @Test("rro on a fifo and a socket (crun 1.8.1 fails to open them as directories: checked against the kernel's answer)",
          arguments: ["fifo", "socket"])
    func recursiveReadOnlySpecialFile(_ kind: String) throws {
        let bench = try MountBench("special-rro")
        defer { bench.cleanup() }
        let source = try bench.specialFile(kind)
        let r = try bench.envyro(mounts: [bench.bind(source, "/run/special", ["bind", "rro"])],
                                 script: "stat -c %F /run/special; grep ' /run/special ' /proc/self/mountinfo | cut -d' ' -f5,6")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix(kind) && r.stdout.contains("/run/special ro,"), "\(r.stdout)")
    }

    @Test("A bind source that is a dangling symlink is refused before anything runs, naming it, as crun refuses it")
    func danglingSymlinkSource() throws {
        let bench = try MountBench("dangling")
        defer { bench.cleanup() }
        let link = bench.host("dangling")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/nonexistent/envyro-target")
        let r = try bench.compare(mounts: [bench.bind(link, "/d", ["bind"])], script: "true")
        #expect(r.reference.status != 0, "crun: \(r.reference)")
        #expect(r.envyro.status != 0)
        #expect(r.envyro.stderr.contains("\(link) is a dangling symlink (to /nonexistent/envyro-target)"), "\(r.envyro.stderr)")
    }

    @Test("A bind source that is a symlink to a directory mounts the directory, as with crun")
    func symlinkSource() throws {
        let bench = try MountBench("symlink-source")
        defer { bench.cleanup() }
        let src = try bench.sourceWithSubmount()
        let link = bench.host("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: src)
        let r = try bench.compare(mounts: [bench.bind(link, "/mnt", ["bind"])],
                                  script: "grep ' /mnt ' /proc/self/mountinfo | cut -d' ' -f4,5; ls /mnt")
        #expect(r.envyro.status == 0 && r.envyro.stdout == r.reference.stdout, "\(r)")
        #expect(r.envyro.stdout.hasPrefix("\(src) /mnt\n"), "\(r)")
    }

    @Test("copy-symlink makes a symlink source a symlink in the container, dangling or not (crun's upstream test; 1.8.1 lacks it)")
    func copySymlink() throws {
        let bench = try MountBench("copy-symlink")
        defer { bench.cleanup() }
        let link = bench.host("a-broken-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "point-to-nowhere")
        let r = try bench.envyro(mounts: [bench.bind(link, "/a/sym/link", ["rbind", "copy-symlink"])],
                                 script: "readlink /a/sym/link; grep -c ' /a/sym/link ' /proc/self/mountinfo || true")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "point-to-nowhere\n0\n", "a symlink, not a mount: \(r.stdout)")
    }

    @Test("dest-nofollow mounts on a destination symlink instead of following it (crun's upstream test; 1.8.1 lacks it)")
    func destNoFollow() throws {
        let bench = try MountBench("dest-nofollow")
        defer { bench.cleanup() }
        let file = bench.host("a-file")
        try "inside-the-file".write(toFile: file, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: bench.bundle.rootfs.appendingPathComponent("target").path,
                                                   withDestinationPath: "point-to-nowhere")
        let r = try bench.envyro(mounts: [bench.bind(file, "/target", ["bind", "dest-nofollow"])],
                                 script: "cat /target; echo; grep -c ' /target ' /proc/self/mountinfo; ls /point-to-nowhere 2>&1 | grep -c 'No such'")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "inside-the-file\n1\n1\n", "\(r.stdout)")
    }

    @Test("src-nofollow with dest-nofollow binds a symlink source onto a symlink destination (crun's upstream test; 1.8.1 lacks it)")
    func srcNoFollow() throws {
        let bench = try MountBench("src-nofollow")
        defer { bench.cleanup() }
        let file = bench.host("a-file")
        try "inside-the-file".write(toFile: file, atomically: false, encoding: .utf8)
        let link = bench.host("a-symlink")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)
        try FileManager.default.createSymbolicLink(atPath: bench.bundle.rootfs.appendingPathComponent("target").path,
                                                   withDestinationPath: "point-to-nowhere")
        let r = try bench.envyro(mounts: [bench.bind(link, "/target", ["bind", "dest-nofollow", "src-nofollow"])],
                                 script: "readlink /target; grep -c ' /target ' /proc/self/mountinfo")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "\(file)\n1\n", "the host's link, mounted on the rootfs's: \(r.stdout)")
    }

    @Test("A destination symlink that points out of the rootfs is resolved inside it, as with crun",
          arguments: [false, true])
    func destinationSymlinkStaysInside(_ existsInside: Bool) throws {
        let bench = try MountBench("dest-escape")
        defer { bench.cleanup() }
        let outside = bench.host("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let src = try bench.sourceWithSubmount()
        // A ../ link aiming at a host directory: inside the root it means rootfs/<outside>.
        try FileManager.default.createSymbolicLink(atPath: bench.bundle.rootfs.appendingPathComponent("escape").path,
                                                   withDestinationPath: "../../../../../../../../..\(outside)")
        if existsInside { try bench.makeInRootfs(String(outside.dropFirst())) }
        let r = try bench.compare(mounts: [bench.bind(src, "/escape", ["bind"])], script: "grep -c ' \(outside) ' /proc/self/mountinfo")
        #expect(!MountBench.isMounted(outside), "the host's directory was mounted on")
        // Missing inside the root, both refuse (a dangling link is not created through);
        // present, both mount on the rootfs's own directory.
        #expect(r.envyro.status == r.reference.status && r.envyro.stdout == r.reference.stdout, "\(r)")
        #expect(existsInside ? r.envyro.stdout == "1\n" : r.envyro.status != 0, "\(r)")
    }

    @Test("A mount the kernel refuses is named with its source and destination, as runc names it (crun fails too)")
    func failedMountIsNamed() throws {
        let bench = try MountBench("named")
        defer { bench.cleanup() }
        let file = bench.host("a-file")
        FileManager.default.createFile(atPath: file, contents: nil)
        try bench.makeInRootfs("adir")
        let r = try bench.compare(mounts: [bench.bind(file, "/adir", ["bind"])], script: "true")
        #expect(r.reference.status != 0 && r.envyro.status != 0, "\(r)")
        #expect(r.envyro.stderr.contains("error mounting \"\(file)\" to rootfs at \"/adir\": Not a directory"), "\(r.envyro.stderr)")
    }

    // MARK: idmapped mounts

    @Test("An idmapped mount without a container user namespace shows the mount's mapping, as with crun")
    func idmapWithoutUserNamespace() throws {
        let bench = try MountBench("idmap")
        defer { bench.cleanup() }
        let src = try bench.ownedSource()
        let ranges: [[String: Int]] = [["containerID": 0, "hostID": 1000, "size": 10]]
        let r = try bench.compare(mounts: [bench.bind(src, "/foo", ["bind", "ro", "idmap"], uid: ranges, gid: ranges)],
                                  script: "stat -c %u:%g /foo/file; grep ' /foo ' /proc/self/mountinfo | cut -d' ' -f5,6")
        #expect(r.envyro.status == 0 && r.envyro.stdout == r.reference.stdout, "\(r)")
        #expect(r.envyro.stdout == "1000:1000\n/foo ro,relatime,idmapped\n", "\(r)")
    }

    static let userNamespaceRanges: [(ranges: [[String: Int]]?, expected: String)] = [
        ([["containerID": 0, "hostID": 100_002, "size": 10]], "2:2"),
        (nil, "0:0"),   // "idmap" alone: the container's own mapping
    ]

    @Test("An idmapped mount in a container user namespace, with its own ranges or the container's, as with crun",
          arguments: userNamespaceRanges)
    func idmapWithUserNamespace(_ row: (ranges: [[String: Int]]?, expected: String)) throws {
        let bench = try MountBench("idmap-userns", userns: true)
        defer { bench.cleanup() }
        let src = try bench.ownedSource()
        try bench.makeInRootfs("foo")
        let r = try bench.compare(mounts: [bench.bind(src, "/foo", ["bind", "ro", "idmap"], uid: row.ranges, gid: row.ranges)],
                                  script: "stat -c %u:%g /foo/file; grep ' /foo ' /proc/self/mountinfo | cut -d' ' -f5,6")
        #expect(r.envyro.status == 0 && r.envyro.stdout == r.reference.stdout, "\(r)")
        #expect(r.envyro.stdout == "\(row.expected)\n/foo ro,relatime,idmapped\n", "\(r)")
    }

    @Test("ridmap maps every mount of an rbind (crun 1.8.1 lacks ridmap and drops the submounts of an idmapped rbind)")
    func recursiveIdmap() throws {
        let bench = try MountBench("ridmap", userns: true)
        defer { bench.cleanup() }
        let src = try bench.sourceWithSubmount()
        try bench.makeInRootfs("foo")
        let r = try bench.envyro(mounts: [bench.bind(src, "/foo", ["rbind", "ridmap"])],
                                 script: "stat -c %u:%g /foo/file /foo/sub/marker; grep ' /foo' /proc/self/mountinfo | cut -d' ' -f5,6")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "0:0\n0:0\n/foo rw,relatime,idmapped\n/foo/sub rw,relatime,idmapped\n", "\(r.stdout)")
    }

    @Test("idmap without ranges and without a user namespace is refused by name (crun fails with EPERM)")
    func idmapNeedsRanges() throws {
        let bench = try MountBench("idmap-none")
        defer { bench.cleanup() }
        let src = try bench.ownedSource()
        let r = try bench.compare(mounts: [bench.bind(src, "/foo", ["bind", "idmap"])], script: "true")
        #expect(r.reference.status != 0 && r.envyro.status != 0, "\(r)")
        #expect(r.envyro.stderr.contains("takes the container's, and this container has no user namespace"), "\(r.envyro.stderr)")
    }

    // MARK: tmpfs and cgroup

    @Test("tmpfs mode, size, uid and gid in a user namespace, as with crun")
    func tmpfsInUserNamespace() throws {
        let bench = try MountBench("tmpfs-userns", userns: true)
        defer { bench.cleanup() }
        try bench.makeInRootfs("t")
        let tmpfs: [String: Any] = ["destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1770", "size=1m", "uid=5", "gid=6"]]
        let r = try bench.compare(mounts: [tmpfs], script: "stat -c '%a %u %g' /t; grep ' /t ' /proc/self/mountinfo | cut -d' ' -f5,6,9-")
        #expect(r.envyro.status == 0 && r.envyro.stdout == r.reference.stdout, "\(r)")
        #expect(r.envyro.stdout.hasPrefix("1770 5 6\n/t rw,relatime "), "\(r)")
        #expect(r.envyro.stdout.contains("size=1024k,mode=1770,uid=100005,gid=100006"), "ids are the container's: \(r)")
    }

    @Test("A read-only cgroup mount makes every hierarchy read-only, as with crun (user namespace, cgroup namespace)",
          arguments: [(false, true), (true, true), (false, false)])
    func readOnlyCgroup(_ userns: Bool, _ cgroupns: Bool) throws {
        let bench = try MountBench("cgroup-ro", userns: userns)
        defer { bench.cleanup() }
        if !cgroupns {
            bench.bundle.linux["namespaces"] = (bench.bundle.linux["namespaces"] as? [[String: Any]] ?? []).filter { $0["type"] as? String != "cgroup" }
        }
        let cgroup: [String: Any] = ["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                                     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]]
        let r = try bench.compare(mounts: [cgroup], replacing: "/sys/fs/cgroup",
                                  script: "grep ' /sys/fs/cgroup/' /proc/self/mountinfo | cut -d' ' -f5,6 | sort; mkdir /sys/fs/cgroup/memory/x || echo refused")
        #expect(r.envyro.status == 0 && r.reference.status == 0, "\(r)")
        // crun 1.8.1 leaves the v2 "unified" hierarchy out on this hybrid host (it is told v2
        // has no controllers): every hierarchy it mounts must be mounted alike by envyro.
        let envyroLines = Set(r.envyro.stdout.split(separator: "\n"))
        #expect(envyroLines.filter { $0.hasPrefix("/sys/fs/cgroup/") }.count >= 5, "every hierarchy is mounted: \(r)")
        #expect(r.reference.stdout.split(separator: "\n").count >= 5, "crun mounted them too: \(r)")
        for line in r.reference.stdout.split(separator: "\n") { #expect(envyroLines.contains(line), "\(line) in \(r)") }
        for line in envyroLines where line.hasPrefix("/sys/fs/cgroup/") { #expect(line.contains(" ro,"), "\(line)") }
        #expect(r.envyro.stdout.hasSuffix("refused\n"), "\(r)")
    }

    // MARK: propagation

    /// (per-mount option, rootfsPropagation). Where crun 1.8.1 differs it is left out: with
    /// rootfsPropagation unset it makes the whole tree rprivate after the mounts (a mount's own
    /// "unbindable" is lost; envyro keeps it), it applies "unbindable" to an rbind's submounts
    /// too (envyro: only to the mount, as mount(8) means it), and with "runbindable" it fails to
    /// bind the cgroup hierarchies (EINVAL; envyro makes the tree unbindable after pivot_root).
    static let propagationTags: [(option: String, rootfs: String)] = [
        ("runbindable", "private"), ("runbindable", "unbindable"), ("runbindable", "rslave"), ("rprivate", "rslave"),
        ("rslave", "unbindable"),
    ]

    @Test("A mount's propagation and the root's, as mountinfo shows them, as with crun", arguments: propagationTags)
    func propagationTagsMatch(_ row: (option: String, rootfs: String)) throws {
        let bench = try MountBench("tags")
        defer { bench.cleanup() }
        let src = try bench.sourceWithSubmount()
        bench.bundle.linux["rootfsPropagation"] = row.rootfs
        let r = try bench.compare(mounts: [bench.bind(src, "/mnt", ["rbind", row.option])],
                                  script: "awk '$5 == \"/\" || $5 ~ /^\\/mnt/ { print $5, $7 }' /proc/self/mountinfo")
        // Peer group numbers differ between runs: only the kind of propagation is compared.
        let kinds = { (text: String) in text.replacingOccurrences(of: #":[0-9]+"#, with: "", options: .regularExpression) }
        #expect(r.envyro.status == 0 && kinds(r.envyro.stdout) == kinds(r.reference.stdout), "\(r)")
        #expect(r.envyro.stdout.split(separator: "\n").count == 3, "\(r)")
    }

    /// (per-mount option, rootfsPropagation, does the container's mount reach the host).
    /// crun's answers on this host, except rshared: crun's containers run in the host's mount
    /// namespace's copy, envyro's in the root helper's, which is rslave of the host (the fix
    /// for CVE-2019-5736): a container's mount never reaches the host.
    static let outward: [(option: String?, rootfs: String?, crunLeaks: Bool)] = [
        (nil, nil, false), ("rshared", nil, false), ("rslave", nil, false), ("rprivate", nil, false),
        (nil, "rslave", false), ("rshared", "rslave", false), ("rprivate", "rshared", false),
        (nil, "rshared", true), ("rshared", "rshared", true),
    ]

    @Test("A mount made in the container under a host's shared mount never reaches the host", arguments: outward)
    func noLeakToHost(_ row: (option: String?, rootfs: String?, crunLeaks: Bool)) throws {
        let bench = try MountBench("propagation")
        defer { bench.cleanup() }
        let shared = try bench.sharedMount()
        try FileManager.default.createDirectory(atPath: shared + "/inner", withIntermediateDirectories: true)
        if let rootfs = row.rootfs { bench.bundle.linux["rootfsPropagation"] = rootfs }
        let inner: [String: Any] = ["destination": "/sh/inner", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]]
        let mounts = [bench.bind(shared, "/sh", ["rbind"] + (row.option.map { [$0] } ?? [])), inner]
        let e = try bench.envyro(mounts: mounts, script: "grep -c ' /sh/inner ' /proc/self/mountinfo")
        #expect(e.status == 0 && e.stdout == "1\n", "\(e)")
        #expect(!MountBench.isMounted(shared + "/inner"), "envyro's container mount reached the host")
        let c = try bench.reference(mounts: mounts, script: "true")
        #expect(c.status == 0, "\(c)")
        #expect(MountBench.isMounted(shared + "/inner") == row.crunLeaks, "crun's answer changed: \(c)")
    }

    /// (rootfsPropagation, does a host mount made after start reach the container), same for
    /// crun and envyro.
    static let inward: [(rootfs: String?, reaches: Bool)] = [(nil, false), ("rprivate", false), ("rslave", true), ("rshared", true)]

    @Test("A host mount made after start reaches the container only with an rslave or rshared root, as with crun",
          arguments: inward)
    func hostMountReachesContainer(_ row: (rootfs: String?, reaches: Bool)) throws {
        for runtime in [MountBench.Reference.crun, nil] {
            let bench = try MountBench("inward")
            defer { bench.cleanup() }
            let shared = try bench.sharedMount()
            if let rootfs = row.rootfs { bench.bundle.linux["rootfsPropagation"] = rootfs }
            let script = "touch /sh/ready; while [ ! -e /sh/go ]; do sleep 0.05; done; grep -c ' /sh/late ' /proc/self/mountinfo || true"
            let result = try bench.whileRunning(runtime, mounts: [bench.bind(shared, "/sh", ["rbind"])], script: script,
                                                readyFile: shared + "/ready") {
                try FileManager.default.createDirectory(atPath: shared + "/late", withIntermediateDirectories: true)
                _ = try Harness.run(["/bin/mount", "-t", "tmpfs", "late", shared + "/late"])
                FileManager.default.createFile(atPath: shared + "/go", contents: nil)
            }
            #expect(result.status == 0 && result.stdout == (row.reaches ? "1\n" : "0\n"), "\(runtime.map { "\($0)" } ?? "envyro"): \(result)")
        }
    }
}
}

extension Integration {
/// The same options from an ordinary user's rootless bundle (crun is not run as that user here:
/// the expected results are stated).
@Suite("OCI mounts as an ordinary user", .serialized,
       .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable && Harness.ordinaryUser != nil, "needs root, busybox and the ordinary user"))
struct OCIMountsRootless {
    static func bundle(_ name: String) throws -> (OCIBundle, String) {
        let b = try OCIBundle("rootless-\(name)", as: .ordinary, rootless: true)
        let src = b.dir.appendingPathComponent("src").path
        try FileManager.default.createDirectory(atPath: src + "/sub", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: src + "/file", contents: nil)
        // The rootfs is root's: the user's container root can't make the mount point.
        try FileManager.default.createDirectory(at: b.rootfs.appendingPathComponent("mnt"), withIntermediateDirectories: true)
        _ = try Harness.run(["/bin/chmod", "-R", "a+rX", b.dir.path])
        return (b, src)
    }

    static func run(_ b: OCIBundle, mounts: [[String: Any]], script: String) throws -> Harness.Result {
        b.config["mounts"] = (b.config["mounts"] as? [[String: Any]] ?? []) + mounts
        b.process["args"] = ["sh", "-c", script]
        try b.write()
        return try b.envyro(["run", "--bundle", b.bundle.path, b.newID("m")])
    }

    @Test("rro and rnosuid reach every mount of an rbind in a rootless container")
    func recursiveAttributes() throws {
        let (b, src) = try Self.bundle("rattr")
        defer {
            _ = try? Harness.run(["/bin/umount", "-l", src + "/sub"])
            b.cleanup()
        }
        let m = try Harness.run(["/bin/mount", "-t", "tmpfs", "-o", "size=1m", "envyro-sub", src + "/sub"])
        try #require(m.status == 0, "\(m.stderr)")
        let r = try Self.run(b, mounts: [["destination": "/mnt", "type": "bind", "source": src, "options": ["rbind", "rro", "rnosuid"]]],
                             script: "grep ' /mnt' /proc/self/mountinfo | cut -d' ' -f5,6")
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2, "\(r.stdout)")
        for line in lines { #expect(line.contains(" ro,") && line.contains("nosuid"), "\(line)") }
    }

    @Test("A rootless container with each rootfsPropagation starts, its root propagating as asked",
          arguments: [("rshared", "shared"), ("rprivate", "-"), ("runbindable", "unbindable")])
    func rootfsPropagation(_ row: (rootfs: String, tag: String)) throws {
        let (b, src) = try Self.bundle("propagation")
        defer { b.cleanup() }
        b.linux["rootfsPropagation"] = row.rootfs
        let r = try Self.run(b, mounts: [["destination": "/mnt", "type": "bind", "source": src, "options": ["rbind"]]],
                             script: "awk '$5 == \"/\" { print $7 }' /proc/self/mountinfo")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix(row.tag), "\(r.stdout)")
    }

    @Test("An idmapped mount from an ordinary user is refused by name (the kernel wants CAP_SYS_ADMIN over the source's file system)")
    func idmapRefused() throws {
        let (b, src) = try Self.bundle("idmap")
        defer { b.cleanup() }
        let ranges = [["containerID": 0, "hostID": 1000, "size": 1]]
        let r = try Self.run(b, mounts: [["destination": "/mnt", "type": "bind", "source": src, "options": ["rbind"],
                                          "uidMappings": ranges, "gidMappings": ranges]], script: "true")
        #expect(r.status != 0)
        #expect(r.stderr.contains("only host root can idmap a mount"), "\(r.stderr)")
    }
}
}
