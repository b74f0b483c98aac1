import EnvyroBenchmarks
import EnvyroSystem
import Glibc
import Testing
@testable import EnvyroCgroup

/// Against the real hierarchies of this machine, under `envyro/test-<pid>-<tag>` only.
@Suite("Cgroups on the real hierarchies (root)", .serialized, .enabled(if: Support.isRoot, "\(Support.rootReason)"))
struct RootV1Tests {
    static let limits = CgroupLimits(memoryMax: 64 << 20, memorySwapMax: 128 << 20, pidsMax: 16, cpuQuotaMicros: 50_000,
                                     cpuPeriodMicros: 100_000, cpuShares: 512)
    static let v1Set: Set<CgroupController> = [.memory, .pids, .cpu, .cpuacct, .cpuset, .freezer]

    @Test("A container cgroup gets its limits, holds a process, reports stats, kills it and goes away",
          arguments: [true, false])
    func lifecycle(withFreezer: Bool) throws {
        try Support.withTestSubtree("life\(withFreezer ? "f" : "")") { h, rel in
            guard h.version(for: .memory) == .v1 else { return }
            let set = withFreezer ? Self.v1Set : Self.v1Set.subtracting([.freezer])
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: set)
            let c = try ContainerCgroup.create(in: subtree, name: ContainerCgroup.uniqueName(sequence: 1), limits: Self.limits)
            defer { try? c.remove() }
            #expect(c.paths.count == set.count)
            func file(_ ctl: CgroupController, _ name: String) -> String? {
                guard let m = h.v1Mount(for: ctl) else { return nil }
                return Support.read("\(m.mountPoint)/\(rel)/\(c.name)/\(name)")
            }
            #expect(file(.memory, "memory.limit_in_bytes") == "67108864")
            #expect(file(.memory, "memory.memsw.limit_in_bytes") == "134217728")
            #expect(file(.pids, "pids.max") == "16")
            #expect(file(.cpu, "cpu.cfs_quota_us") == "50000")
            #expect(file(.cpu, "cpu.cfs_period_us") == "100000")
            #expect(file(.cpu, "cpu.shares") == "512")
            let parentCPUs = Support.read("\(h.v1Mount(for: .cpuset)?.mountPoint ?? "")/\(rel)/cpuset.cpus")
            #expect(file(.cpuset, "cpuset.cpus") == parentCPUs, "copied from the parent")
            #expect(file(.cpuset, "cpuset.mems")?.isEmpty == false)

            let pid = try Support.spawn(["/bin/sleep", "30"])
            var reaped = false
            defer { if !reaped { kill(pid, SIGKILL); _ = Support.wait(pid) } }
            try c.attach(pid: pid)
            #expect(try c.processes() == [pid])
            #expect(try c.isPopulated())
            let own = Support.read("/proc/\(pid)/cgroup") ?? ""
            #expect(own.contains("memory:/\(rel)/\(c.name)"), "\(own)")
            #expect(own.contains("pids:/\(rel)/\(c.name)"))

            let s = c.stats()
            #expect(s.pidsCurrent == 1)
            #expect(s.memoryLimit == 64 << 20)
            #expect(s.memoryPeakBytes != nil)
            #expect(s.oomKills == 0)
            #expect(s.memoryLimitHits == 0)
            #expect(s.cpuUsageNanos != nil)
            print("v1 stats of a sleeping process: \(s)")

            try c.killAll()
            #expect(Support.wait(pid) == .signaled(SIGKILL))
            reaped = true
            if withFreezer, let m = h.v1Mount(for: .freezer) {
                #expect(Support.read("\(m.mountPoint)/\(rel)/\(c.name)/freezer.state") == "THAWED")
            }
            try c.remove()
            for p in c.paths { #expect(Files.kind(p) == .missing, "\(p)") }
            try c.remove()  // idempotent
        }
    }

    @Test("remove() on a populated cgroup kills what is inside first")
    func removeKills() throws {
        try Support.withTestSubtree("rmkill") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.pids, .memory])
            let c = try ContainerCgroup.create(in: subtree, name: "c-rmkill", limits: CgroupLimits(pidsMax: 8))
            let pids = try (0..<3).map { _ in try Support.spawn(["/bin/sleep", "30"]) }
            defer { for p in pids { kill(p, SIGKILL); _ = Support.wait(p) } }
            for p in pids { try c.attach(pid: p) }
            #expect(try c.processes() == pids.sorted())
            try c.remove()
            for p in pids { #expect(Support.wait(p) == .signaled(SIGKILL)) }
            for p in c.paths { #expect(Files.kind(p) == .missing) }
        }
    }

    @Test("remove() also kills and removes cgroups the workload nested inside its own")
    func nested() throws {
        try Support.withTestSubtree("nested") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.pids, .freezer])
            let c = try ContainerCgroup.create(in: subtree, name: "c-nested", limits: CgroupLimits(pidsMax: 8))
            let inner = try ContainerCgroup.create(in: try CgroupSubtree.open(hierarchy: h, relativePath: rel + "/c-nested", controllers: [.pids, .freezer]),
                                                   name: "inner", limits: CgroupLimits())
            let pid = try Support.spawn(["/bin/sleep", "30"])
            var reaped = false
            defer { if !reaped { kill(pid, SIGKILL); _ = Support.wait(pid) } }
            try inner.attach(pid: pid)
            #expect(try c.processes() == [pid], "pids of nested cgroups count")
            try c.remove()
            #expect(Support.wait(pid) == .signaled(SIGKILL))
            reaped = true
            for p in c.paths + inner.paths { #expect(Files.kind(p) == .missing, "\(p)") }
        }
    }

    @Test("A memory hog is OOM-killed and the stats say so")
    func oomKill() throws {
        guard access("/usr/bin/python3", X_OK) == 0 else {
            print("no /usr/bin/python3 to allocate memory with: the OOM test is skipped")
            return
        }
        try Support.withTestSubtree("oom") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.memory, .pids])
            let c = try ContainerCgroup.create(in: subtree, name: "c-oom", limits: CgroupLimits(memoryMax: 16 << 20, memorySwapMax: 16 << 20, pidsMax: 8))
            defer { try? c.remove() }
            // The pause lets the attach land before the allocation starts.
            let pid = try Support.spawn(["/usr/bin/python3", "-c", "import time; time.sleep(0.3); b = b'a' * (256 << 20)"])
            try c.attach(pid: pid)
            #expect(Support.wait(pid) == .signaled(SIGKILL))
            let s = c.stats()
            print("v1 stats after an OOM kill: \(s)")
            #expect((s.oomKills ?? 0) >= 1)
            #expect(s.memoryLimitHits != nil, "read, though kernel 6.18 leaves v1 failcnt at 0")
            #expect((s.memoryPeakBytes ?? 0) > 8 << 20)
        }
    }

    @Test("A fork loop stops at the pids limit")
    func pidsLimit() throws {
        try Support.withTestSubtree("pids") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.pids, .freezer])
            let c = try ContainerCgroup.create(in: subtree, name: "c-pids", limits: CgroupLimits(pidsMax: 4))
            defer { try? c.remove() }
            let pid = try Support.spawn(["/bin/sh", "-c", "sleep 0.3; for i in 1 2 3 4 5 6 7 8; do /bin/sleep 30 & done; sleep 30"])
            var reaped = false
            defer { if !reaped { kill(pid, SIGKILL); _ = Support.wait(pid) } }
            try c.attach(pid: pid)
            #expect(Self.eventually { c.stats().pidsCurrent == 4 })
            usleep(100_000)
            let s = c.stats()
            #expect(s.pidsCurrent == 4)
            #expect(s.pidsPeak == nil || s.pidsPeak == 4)
            if let m = h.v1Mount(for: .pids), let events = Support.read("\(m.mountPoint)/\(rel)/c-pids/pids.events") {
                #expect((CgroupFormats.parseKeyedCounters(events)["max"] ?? 0) >= 1, "forks refused at the limit: \(events)")
            }
            try c.remove()
            // dash gives up with status 2 when a fork fails; otherwise remove() killed it.
            let end = Support.wait(pid)
            #expect(end == .signaled(SIGKILL) || end == .exited(2))
            reaped = true
        }
    }

    /// Polls `condition` for at most two seconds.
    static func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<2000 {
            if condition() { return true }
            usleep(1000)
        }
        return condition()
    }

    @Test("A limit the kernel refuses removes every directory already made")
    func rollback() throws {
        try Support.withTestSubtree("rollback") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: Self.v1Set)
            let name = "c-rollback"
            #expect(throws: CgroupError.self) {
                // CPU 4095 is valid syntax but not a CPU of this machine: cpuset.cpus refuses it.
                try ContainerCgroup.create(in: subtree, name: name, limits: CgroupLimits(memoryMax: 64 << 20, pidsMax: 8, cpusetCpus: "4095"))
            }
            for d in subtree.directories { #expect(Files.kind(d.path + "/" + name) == .missing, "\(d.path)/\(name)") }
        }
    }

    @Test("A name in use is refused and the existing cgroup is left alone")
    func nameTaken() throws {
        try Support.withTestSubtree("taken") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.pids, .memory])
            let first = try ContainerCgroup.create(in: subtree, name: "c-taken", limits: CgroupLimits(pidsMax: 8))
            defer { try? first.remove() }
            #expect {
                try ContainerCgroup.create(in: subtree, name: "c-taken", limits: CgroupLimits())
            } throws: { error in
                guard case let .system(e, advice) = error as? CgroupError else { return false }
                return e.errno == EEXIST && advice.contains("unique name")
            }
            for p in first.paths { #expect(Files.kind(p) == .directory) }
        }
    }

    @Test("Limits needing a controller the subtree wasn't opened with are refused")
    func missingController() throws {
        try Support.withTestSubtree("missing") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.pids])
            #expect {
                try ContainerCgroup.create(in: subtree, name: "c-x", limits: CgroupLimits(memoryMax: 1 << 30))
            } throws: { error in
                guard case .controllerUnavailable(.memory, _) = error as? CgroupError else { return false }
                return true
            }
        }
    }

    @Test("ioWeight lands in blkio.weight or blkio.bfq.weight, or fails loudly when neither exists")
    func ioWeight() throws {
        try Support.withTestSubtree("io") { h, rel in
            guard let blkio = h.v1Mount(for: .blkio) else { return }
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.io])
            let dir = "\(blkio.mountPoint)/\(rel)"
            let hasWeights = Files.kind(dir + "/blkio.weight") == .regular || Files.kind(dir + "/blkio.bfq.weight") == .regular
            if hasWeights {
                let c = try ContainerCgroup.create(in: subtree, name: "c-io", limits: CgroupLimits(ioWeight: 4950))
                defer { try? c.remove() }
                let written = Support.read(dir + "/c-io/blkio.weight") ?? Support.read(dir + "/c-io/blkio.bfq.weight")
                #expect(written?.hasSuffix("500") == true, "blkio weight 500 (io.weight 4950 converted): \(written ?? "nil")")
            } else {
                #expect {
                    try ContainerCgroup.create(in: subtree, name: "c-io", limits: CgroupLimits(ioWeight: 4950))
                } throws: { error in
                    guard case let .controllerUnavailable(.io, detail) = error as? CgroupError else { return false }
                    return detail.contains("blkio.weight or blkio.bfq.weight")
                }
                #expect(Files.kind("\(blkio.mountPoint)/\(rel)/c-io") == .missing)
            }
        }
    }

    @Test("Symlinks can't be planted in cgroupfs, and a subtree path through one is refused")
    func symlinkInCgroupfs() throws {
        try Support.withTestSubtree("symlink") { h, rel in
            guard let m = h.v1Mount(for: .pids) else { return }
            let link = "\(m.mountPoint)/\(rel)/link"
            let rc = symlink("/", link)
            if rc == 0 {
                defer { unlink(link) }
                #expect(throws: CgroupError.self) {
                    try CgroupSubtree.open(hierarchy: h, relativePath: rel + "/link", controllers: [.pids])
                }
            } else {
                #expect(errno == EPERM || errno == EACCES || errno == ENOSYS, "the kernel refused the symlink: \(Errno.describe(errno))")
            }
            #expect {
                try CgroupSubtree.open(hierarchy: h, relativePath: rel + "/../../memory", controllers: [.pids])
            } throws: { error in
                guard case .unsafePath = error as? CgroupError else { return false }
                return true
            }
            #expect(throws: CgroupError.self) {
                try CgroupSubtree.open(hierarchy: h, relativePath: m.mountPoint + "/" + rel, controllers: [.pids])
            }
        }
    }

    @Test("A root-owned subtree is refused for another user")
    func otherUsersSubtree() throws {
        try Support.withTestSubtree("owner") { h, rel in
            #expect {
                try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.pids], callerUID: 4242)
            } throws: { error in
                guard case let .notYourSubtree(_, owner, caller) = error as? CgroupError else { return false }
                return owner == 0 && caller == 4242
            }
        }
    }

    @Test("gc removes cgroups whose owner is gone, killing what is inside, and keeps live owners'")
    func gc() throws {
        try Support.withTestSubtree("gc") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.pids, .memory, .freezer])
            let live = try ContainerCgroup.create(in: subtree, name: ContainerCgroup.uniqueName(sequence: 7), limits: CgroupLimits())
            defer { try? live.remove() }
            // pid_max here is far below 4000000, so this owner is certainly gone.
            let orphan = try ContainerCgroup.create(in: subtree, name: "c-4000000-1-0", limits: CgroupLimits(pidsMax: 8))
            let reused = try ContainerCgroup.create(in: subtree, name: "c-\(getpid())-1-0", limits: CgroupLimits())
            let unowned = try ContainerCgroup.create(in: subtree, name: "c-handmade", limits: CgroupLimits())
            defer { try? unowned.remove() }
            let pid = try Support.spawn(["/bin/sleep", "30"])
            var reaped = false
            defer { if !reaped { kill(pid, SIGKILL); _ = Support.wait(pid) } }
            try orphan.attach(pid: pid)
            let removed = try CgroupGC.collect(subtree: subtree)
            #expect(removed == [orphan.name, reused.name].sorted())
            #expect(Support.wait(pid) == .signaled(SIGKILL))
            reaped = true
            for p in orphan.paths + reused.paths { #expect(Files.kind(p) == .missing) }
            for p in live.paths + unowned.paths { #expect(Files.kind(p) == .directory) }
            #expect(ContainerCgroup.owner(ofName: live.name)?.pid == getpid())
            #expect(CgroupGC.ownerIsAlive(pid: getpid(), startTime: ContainerCgroup.ownStartTime))
        }
    }

    @Test("Per-run cost of create + limits (memory+pids+cpu) + attach + remove on this host")
    func benchmark() throws {
        try Support.withTestSubtree("bench") { h, rel in
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.memory, .pids, .cpu])
            let pid = try Support.spawn(["/bin/sleep", "60"])
            defer { kill(pid, SIGKILL); _ = Support.wait(pid) }
            let limits = CgroupLimits(memoryMax: 256 << 20, pidsMax: 64, cpuQuotaMicros: 50_000)
            _ = try CgroupBenchmark.run(subtree: subtree, limits: limits, pid: pid, iterations: 20)  // warm-up
            let pid2 = try Support.spawn(["/bin/sleep", "60"])
            defer { kill(pid2, SIGKILL); _ = Support.wait(pid2) }
            let result = try CgroupBenchmark.run(subtree: subtree, limits: limits, pid: pid2, iterations: 500)
            print("\(result) [\(h.version(for: .memory)?.rawValue ?? "?"), floor in DESIGN.md: about 130 µs]")
            #expect(result.iterations == 500)
            #expect(result.medianMicros > 0 && result.medianMicros < 20_000)
        }
    }

    @Test("A single-threaded process joins a v1 cgroup whole through its tasks file (no RCU wait)")
    func joinsThroughTasks() throws {
        try Support.withTestSubtree("join") { h, rel in
            guard h.version(for: .pids) == .v1 else { return }
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: rel, controllers: [.pids, .memory])
            let c = try ContainerCgroup.create(in: subtree, name: ContainerCgroup.uniqueName(sequence: 2), limits: CgroupLimits())
            defer { try? c.remove() }
            let pid = try Support.spawn(["/bin/sleep", "30"])
            defer { kill(pid, SIGKILL); _ = Support.wait(pid) }
            for d in c.directories {
                #expect(d.joinFile == "tasks")
                let fd = openat(d.fd, d.joinFile, O_WRONLY | O_CLOEXEC)
                #expect(fd >= 0)
                let text = "\(pid)"
                #expect(write(fd, text, text.utf8.count) == text.utf8.count)
                close(fd)
                let procs = Support.read(d.path + "/cgroup.procs") ?? ""
                #expect(procs.split(separator: "\n").contains(Substring(text)), "the whole process is in \(d.path)")
            }
        }
    }
}
