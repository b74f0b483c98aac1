import Testing
@testable import EnvyroCgroup

@Suite("Cgroup hierarchy detection from mountinfo")
struct HierarchyTests {
    /// This CI machine: v1 per controller (cpu and cpuacct apart) plus a hybrid cgroup2.
    static let hybrid = """
        22 27 0:21 / /proc rw,relatime - proc proc rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    /// A systemd host of the older kind: cpu,cpuacct co-mounted, optional fields present.
    static let comounted = """
        25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
        27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
        30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
        31 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
        32 25 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
        33 25 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
        34 25 0:31 / /mnt/pids\\040copy rw,relatime shared:17 - cgroup cgroup rw,pids
        """

    /// A pure cgroup v2 host.
    static let unified = """
        24 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        30 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw
        """

    @Test("This machine's layout: every v1 controller on its own mount, cgroup2 at unified")
    func hybridHost() {
        let h = CgroupHierarchy.parse(mountinfo: Self.hybrid, unifiedControllers: ["hugetlb"])
        #expect(h.unifiedMount == "/sys/fs/cgroup/unified")
        #expect(h.unifiedDevice == "0:38")
        #expect(h.v1Mounts.count == 8, "name=systemd is not a controller")
        #expect(h.v1Mount(for: .memory) == CgroupV1Mount(mountPoint: "/sys/fs/cgroup/memory", controllers: ["memory"], device: "0:32"))
        #expect(h.placement(of: .cpu) == CgroupPlacement(version: .v1, mountPoint: "/sys/fs/cgroup/cpu"))
        #expect(h.placement(of: .cpuacct) == CgroupPlacement(version: .v1, mountPoint: "/sys/fs/cgroup/cpuacct"))
        #expect(h.placement(of: .io) == CgroupPlacement(version: .v1, mountPoint: "/sys/fs/cgroup/blkio"))
        #expect(h.placement(of: .blkio) == h.placement(of: .io))
        #expect(!h.isUnifiedOnly)
        #expect(h.v1Mounts.contains { $0.controllers == ["name=systemd"] } == false)
    }

    @Test("Co-mounted cpu,cpuacct share one mount; bind mounts of a hierarchy count once; escapes decode")
    func comountedHost() {
        let h = CgroupHierarchy.parse(mountinfo: Self.comounted)
        #expect(h.placement(of: .cpu) == CgroupPlacement(version: .v1, mountPoint: "/sys/fs/cgroup/cpu,cpuacct"))
        #expect(h.placement(of: .cpuacct) == h.placement(of: .cpu))
        #expect(h.v1Mount(for: .cpu)?.controllers == ["cpu", "cpuacct"])
        #expect(h.v1Mounts.filter { $0.controllers == ["pids"] }.count == 1)
        #expect(h.v1Mount(for: .pids)?.mountPoint == "/sys/fs/cgroup/pids")
        #expect(h.placement(of: .cpuset) == nil, "no cpuset mount and no v2 controllers listed")
        #expect(h.placement(of: .freezer) == CgroupPlacement(version: .v2, mountPoint: "/sys/fs/cgroup/unified"),
                "without a v1 freezer, v2's core cgroup.freeze serves it")
    }

    @Test("On a hybrid host a controller bound to v1 stays there even when v2 lists it")
    func v1Wins() {
        let h = CgroupHierarchy.parse(mountinfo: Self.comounted, unifiedControllers: ["memory", "pids", "cpuset"])
        #expect(h.version(for: .memory) == .v1)
        #expect(h.version(for: .cpuset) == .v2)
        #expect(h.version(for: .io) == nil)
    }

    @Test("A pure v2 host serves what cgroup.controllers lists, and cpuacct/freezer from core files, but no devices")
    func unifiedHost() {
        let h = CgroupHierarchy.parse(mountinfo: Self.unified, unifiedControllers: CgroupHierarchy.parseControllerList("cpuset cpu io memory hugetlb pids rdma misc\n"))
        #expect(h.isUnifiedOnly)
        #expect(h.placement(of: .devices) == nil)
        for c in CgroupController.allCases where c != .devices {
            #expect(h.placement(of: c) == CgroupPlacement(version: .v2, mountPoint: "/sys/fs/cgroup"), "\(c)")
        }
        let bare = CgroupHierarchy.parse(mountinfo: Self.unified, unifiedControllers: ["pids"])
        #expect(bare.version(for: .memory) == nil)
        #expect(bare.version(for: .pids) == .v2)
    }

    @Test("A host without cgroups offers nothing")
    func none() {
        let h = CgroupHierarchy.parse(mountinfo: "22 27 0:21 / /proc rw,relatime - proc proc rw\n")
        #expect(h.unifiedMount == nil && h.v1Mounts.isEmpty)
        #expect(CgroupController.allCases.allSatisfy { h.placement(of: $0) == nil })
    }

    @Test("Garbage lines are skipped", arguments: ["", "-", "1 2 3", "a b c d e f - cgroup", "1 2 0:1 / /x rw - cgroup"])
    func garbage(line: String) {
        let h = CgroupHierarchy.parse(mountinfo: line)
        #expect(h.v1Mounts.isEmpty && h.unifiedMount == nil)
    }

    @Test("Octal escapes in mount fields decode", arguments: [
        ("/a\\040b", "/a b"), ("/a\\011b", "/a\tb"), ("/a\\134b", "/a\\b"), ("/plain", "/plain"), ("/x\\09", "/x\\09"), ("/end\\", "/end\\"),
    ])
    func escapes(raw: String, decoded: String) {
        #expect(CgroupHierarchy.unescapeMountField(raw) == decoded)
    }

    @Test("detect() on this machine finds cgroup mounts")
    func detect() throws {
        let h = try CgroupHierarchy.detect()
        #expect(h.unifiedMount != nil || !h.v1Mounts.isEmpty)
        for m in h.v1Mounts { #expect(!m.device.isEmpty) }
    }
}
