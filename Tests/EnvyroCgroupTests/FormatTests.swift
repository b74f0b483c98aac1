import Testing
@testable import EnvyroCgroup

@Suite("Cgroup file formats")
struct FormatTests {
    @Test("cpuset lists parse into ranges", arguments: [
        ("0", [0...0]), ("0-1", [0...1]), ("0-1,3", [0...1, 3...3]), ("2,4-7,9", [2...2, 4...7, 9...9]),
        ("8191", [8191...8191]), ("3-3", [3...3]),
    ] as [(String, [ClosedRange<Int>])])
    func cpuList(text: String, ranges: [ClosedRange<Int>]) throws {
        #expect(try CgroupFormats.parseCPUList(text) == ranges)
    }

    @Test("Bad cpuset lists are refused with the reason", arguments: [
        ("", "empty"), (",", "stray comma"), ("0,", "stray comma"), ("1-0", "backwards"), ("0-1-2", "more than one"),
        ("a", "not an id"), ("-1", "not an id"), ("0 - 1", "not an id"), (" 0", "not an id"), ("8192", "above 8191"),
        ("+1", "not an id"), ("0x1", "not an id"), ("99999999", "not an id"),
    ])
    func badCPUList(text: String, reasonPart: String) {
        #expect {
            try CgroupFormats.parseCPUList(text)
        } throws: { error in
            (error as? CgroupFormats.ListError)?.reason.contains(reasonPart) == true
        }
    }

    @Test("cpuset ids are sorted and unique")
    func ids() throws {
        #expect(try CgroupFormats.cpuSetIDs("3,0-2,1") == [0, 1, 2, 3])
    }

    @Test("cpu.shares become cpu.weight with the runc/crun formula", arguments: [
        (2, 1), (1024, 39), (262_144, 10_000), (512, 20), (0, 1), (1, 1), (300_000, 10_000), (100, 4),
    ] as [(UInt64, UInt64)])
    func sharesToWeight(shares: UInt64, weight: UInt64) {
        #expect(CgroupFormats.cpuWeight(fromShares: shares) == weight)
    }

    @Test("blkio.weight becomes io.weight with runc's formula", arguments: [
        (10, 1), (500, 4950), (1000, 10_000), (100, 910), (5, 1), (2000, 10_000),
    ] as [(UInt16, UInt16)])
    func blkioToIO(blkio: UInt16, io: UInt16) {
        #expect(CgroupFormats.ioWeight(fromBlkioWeight: blkio) == io)
    }

    @Test("io.weight becomes blkio.weight, clamped into 10...1000", arguments: [
        (1, 10), (4950, 500), (10_000, 1000), (100, 20), (0, 10), (65535, 1000),
    ] as [(UInt16, UInt16)])
    func ioToBlkio(io: UInt16, blkio: UInt16) {
        #expect(CgroupFormats.blkioWeight(fromIOWeight: io) == blkio)
    }

    @Test("Every v1 blkio weight survives the round trip through io.weight")
    func weightRoundTrip() {
        for b in UInt16(10)...1000 {
            #expect(CgroupFormats.blkioWeight(fromIOWeight: CgroupFormats.ioWeight(fromBlkioWeight: b)) == b)
        }
    }

    @Test("cpu.max is 'max PERIOD' without a quota and 'QUOTA PERIOD' with one", arguments: [
        (nil, nil, "max 100000"), (50_000, nil, "50000 100000"), (50_000, 200_000, "50000 200000"),
        (-1, 50_000, "max 50000"), (nil, 10_000, "max 10000"), (1000, 1000, "1000 1000"),
    ] as [(Int64?, UInt64?, String)])
    func cpuMax(quota: Int64?, period: UInt64?, text: String) {
        #expect(CgroupFormats.cpuMax(quotaMicros: quota, periodMicros: period) == text)
    }

    @Test("memory.max and v2 memory.swap.max (swap alone) are formatted", arguments: [
        (268_435_456, 536_870_912, "268435456", "268435456"), (268_435_456, -1, "268435456", "max"),
        (4096, 4096, "4096", "0"), (1 << 30, 1 << 30, "1073741824", "0"),
    ] as [(Int64, Int64, String, String)])
    func memory(memory: Int64, total: Int64, maxText: String, swapText: String) {
        #expect(CgroupFormats.memoryMax(memory) == maxText)
        #expect(CgroupFormats.memorySwapMax(total: total, memory: memory) == swapText)
    }

    @Test("Limit files with a number or 'max' parse; v1's 'unlimited' is nil", arguments: [
        ("max\n", nil), ("268435456\n", 268_435_456), ("9223372036854771712\n", nil), ("0", 0), ("junk", nil), ("-1", nil),
    ] as [(String, Int64?)])
    func limit(text: String, value: Int64?) {
        #expect(CgroupFormats.parseLimit(text) == value)
    }

    @Test("memory.events parses every counter")
    func memoryEvents() throws {
        let e = try CgroupFormats.parseMemoryEvents("low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\n")
        #expect(e.low == 1 && e.high == 2 && e.max == 3 && e.oom == 4 && e.oomKill == 5 && e.oomGroupKill == 6)
        let old = try CgroupFormats.parseMemoryEvents("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
        #expect(old.oomGroupKill == 0 && old.max == 7)
        #expect(throws: CgroupError.malformed(file: "memory.events", text: "garbage")) {
            try CgroupFormats.parseMemoryEvents("garbage")
        }
    }

    @Test("memory.oom_control parses, with and without oom_kill", arguments: [
        ("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", false, false, 3),
        ("oom_kill_disable 1\nunder_oom 1\n", true, true, nil),
    ] as [(String, Bool, Bool, UInt64?)])
    func oomControl(text: String, disabled: Bool, under: Bool, kills: UInt64?) throws {
        #expect(try CgroupFormats.parseOOMControl(text) == .init(oomKillDisable: disabled, underOOM: under, oomKill: kills))
    }

    @Test("A truncated memory.oom_control is malformed")
    func badOOMControl() {
        #expect(throws: CgroupError.self) { try CgroupFormats.parseOOMControl("oom_kill 1\n") }
    }

    @Test("cpu.stat parses usage and throttling; usage_usec is required")
    func cpuStat() throws {
        let s = try CgroupFormats.parseCPUStat("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 777\n")
        #expect(s == .init(usageMicros: 1500, userMicros: 1000, systemMicros: 500, throttledPeriods: 4, throttledMicros: 777))
        let core = try CgroupFormats.parseCPUStat("usage_usec 9\nuser_usec 5\nsystem_usec 4\n")
        #expect(core.throttledPeriods == nil)
        #expect(throws: CgroupError.self) { try CgroupFormats.parseCPUStat("user_usec 5\n") }
    }

    @Test("cgroup.events gives populated and frozen", arguments: [
        ("populated 1\nfrozen 0\n", true, false), ("populated 0\nfrozen 1\n", false, true), ("populated 0\n", false, nil),
    ] as [(String, Bool, Bool?)])
    func events(text: String, populated: Bool, frozen: Bool?) throws {
        #expect(try CgroupFormats.parseCgroupEvents(text) == .init(populated: populated, frozen: frozen))
    }

    @Test("A cgroup.events without a 0/1 populated line is malformed", arguments: ["", "frozen 0\n", "populated 2\n"])
    func badEvents(text: String) {
        #expect(throws: CgroupError.self) { try CgroupFormats.parseCgroupEvents(text) }
    }

    @Test("cgroup.procs parses one pid per line and refuses anything else")
    func procs() throws {
        #expect(try CgroupFormats.parsePIDs("") == [])
        #expect(try CgroupFormats.parsePIDs("12\n345\n") == [12, 345])
        #expect(throws: CgroupError.self) { try CgroupFormats.parsePIDs("12\nabc\n") }
        #expect(throws: CgroupError.self) { try CgroupFormats.parsePIDs("0\n") }
    }

    @Test("Single counters parse, trimmed")
    func counter() throws {
        #expect(try CgroupFormats.parseCounter("123456\n", file: "cpuacct.usage") == 123_456)
        #expect(throws: CgroupError.malformed(file: "pids.peak", text: "x")) { try CgroupFormats.parseCounter("x", file: "pids.peak") }
    }
}
