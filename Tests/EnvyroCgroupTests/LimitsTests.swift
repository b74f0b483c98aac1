import Testing
@testable import EnvyroCgroup

@Suite("Cgroup limits: validation, controllers, files")
struct LimitsTests {
    static let mib: Int64 = 1 << 20

    @Test("Out-of-range limits are refused with the field and its range in the message", arguments: [
        (CgroupLimits(memoryMax: 100), "memoryMax", "at least 4096"),
        (CgroupLimits(memorySwapMax: 1 << 30), "memorySwapMax", "needs memoryMax"),
        (CgroupLimits(memoryMax: 256 << 20, memorySwapMax: 128 << 20), "memorySwapMax", "at least memoryMax"),
        (CgroupLimits(memoryMax: 256 << 20, memorySwapMax: -2), "memorySwapMax", "-1 (unlimited swap)"),
        (CgroupLimits(pidsMax: 0), "pidsMax", "1...4194304"),
        (CgroupLimits(pidsMax: 5_000_000), "pidsMax", "1...4194304"),
        (CgroupLimits(cpuQuotaMicros: 999), "cpuQuotaMicros", "at least 1000"),
        (CgroupLimits(cpuQuotaMicros: -5), "cpuQuotaMicros", "-1 for unlimited"),
        (CgroupLimits(cpuPeriodMicros: 999), "cpuPeriodMicros", "1000...1000000"),
        (CgroupLimits(cpuPeriodMicros: 1_000_001), "cpuPeriodMicros", "1000...1000000"),
        (CgroupLimits(cpuShares: 1), "cpuShares", "2...262144"),
        (CgroupLimits(cpuShares: 262_145), "cpuShares", "2...262144"),
        (CgroupLimits(cpusetCpus: "1-0"), "cpusetCpus", "backwards"),
        (CgroupLimits(cpusetMems: "0,,1"), "cpusetMems", "stray comma"),
        (CgroupLimits(ioWeight: 0), "ioWeight", "1...10000"),
        (CgroupLimits(ioWeight: 10_001), "ioWeight", "1...10000"),
    ])
    func refused(limits: CgroupLimits, field: String, rangePart: String) {
        #expect {
            try limits.validate()
        } throws: { error in
            guard case let .invalidLimit(f, _, reason) = error as? CgroupError else { return false }
            return f == field && reason.contains(rangePart) && (error as? CgroupError)?.description.contains(field) == true
        }
    }

    @Test("Edge values are accepted", arguments: [
        CgroupLimits(), CgroupLimits(memoryMax: 4096), CgroupLimits(memoryMax: 4096, memorySwapMax: -1),
        CgroupLimits(memoryMax: 64 << 20, memorySwapMax: 64 << 20), CgroupLimits(pidsMax: -1), CgroupLimits(pidsMax: 4_194_304),
        CgroupLimits(cpuQuotaMicros: -1), CgroupLimits(cpuQuotaMicros: 1000, cpuPeriodMicros: 1000),
        CgroupLimits(cpuPeriodMicros: 1_000_000), CgroupLimits(cpuShares: 2), CgroupLimits(cpuShares: 262_144),
        CgroupLimits(cpusetCpus: "0-1,3", cpusetMems: "0"), CgroupLimits(ioWeight: 1), CgroupLimits(ioWeight: 10_000),
    ])
    func accepted(limits: CgroupLimits) throws {
        try limits.validate()
    }

    @Test("Each limit names the controller it needs", arguments: [
        (CgroupLimits(), []),
        (CgroupLimits(memoryMax: 1 << 30, memorySwapMax: -1), [.memory]),
        (CgroupLimits(pidsMax: 10), [.pids]),
        (CgroupLimits(cpuQuotaMicros: 50_000), [.cpu]), (CgroupLimits(cpuPeriodMicros: 50_000), [.cpu]), (CgroupLimits(cpuShares: 10), [.cpu]),
        (CgroupLimits(cpusetCpus: "0"), [.cpuset]), (CgroupLimits(cpusetMems: "0"), [.cpuset]),
        (CgroupLimits(ioWeight: 100), [.io]),
        (CgroupLimits(memoryMax: 1 << 30, pidsMax: 64, cpuQuotaMicros: 50_000), [.memory, .pids, .cpu]),
    ] as [(CgroupLimits, [CgroupController])])
    func controllers(limits: CgroupLimits, expected: [CgroupController]) {
        #expect(limits.requiredControllers == Set(expected))
    }

    static let full = CgroupLimits(memoryMax: 256 << 20, memorySwapMax: 512 << 20, pidsMax: 64, cpuQuotaMicros: 50_000,
                                   cpuPeriodMicros: 200_000, cpuShares: 1024, cpusetCpus: "0", cpusetMems: "0", ioWeight: 4950)

    @Test("v1 files, in the kernel's order, each once")
    func v1Files() {
        let writes = Self.full.fileWrites(for: .v1)
        #expect(writes.map(\.description) == [
            "memory.limit_in_bytes=268435456", "memory.memsw.limit_in_bytes=536870912", "pids.max=64", "cpu.shares=1024",
            "cpu.cfs_period_us=200000", "cpu.cfs_quota_us=50000", "cpuset.cpus=0", "cpuset.mems=0", "blkio.weight=500",
        ])
        #expect(writes.last?.alternatives == [.init(file: "blkio.bfq.weight", value: "500")])
        #expect(Set(writes.map(\.file)).count == writes.count)
    }

    @Test("v2 files: swap.max is swap alone, shares become cpu.weight, one cpu.max")
    func v2Files() {
        let writes = Self.full.fileWrites(for: .v2)
        #expect(writes.map(\.description) == [
            "memory.max=268435456", "memory.swap.max=268435456", "pids.max=64", "cpu.weight=39", "cpu.max=50000 200000",
            "cpuset.cpus=0", "cpuset.mems=0", "io.weight=default 4950",
        ])
        #expect(writes.last?.alternatives == [.init(file: "io.bfq.weight", value: "default 500")])
        #expect(writes.map(\.controller) == [.memory, .memory, .pids, .cpu, .cpu, .cpuset, .cpuset, .io])
    }

    @Test("Unlimited values are spelled the way each version wants", arguments: [
        (CgroupLimits(memoryMax: 1 << 30, memorySwapMax: -1, pidsMax: -1, cpuQuotaMicros: -1), CgroupVersion.v1,
         ["memory.limit_in_bytes=1073741824", "memory.memsw.limit_in_bytes=-1", "pids.max=max", "cpu.cfs_quota_us=-1"]),
        (CgroupLimits(memoryMax: 1 << 30, memorySwapMax: -1, pidsMax: -1, cpuQuotaMicros: -1), CgroupVersion.v2,
         ["memory.max=1073741824", "memory.swap.max=max", "pids.max=max", "cpu.max=max 100000"]),
        (CgroupLimits(cpuQuotaMicros: 50_000), CgroupVersion.v2, ["cpu.max=50000 100000"]),
        (CgroupLimits(cpuPeriodMicros: 10_000), CgroupVersion.v1, ["cpu.cfs_period_us=10000"]),
        (CgroupLimits(cpuQuotaMicros: 50_000), CgroupVersion.v1, ["cpu.cfs_quota_us=50000"]),
        (CgroupLimits(), CgroupVersion.v1, []),
    ] as [(CgroupLimits, CgroupVersion, [String])])
    func unlimited(limits: CgroupLimits, version: CgroupVersion, expected: [String]) {
        #expect(limits.fileWrites(for: version).map(\.description) == expected)
    }
}
