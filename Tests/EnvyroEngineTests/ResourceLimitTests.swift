import Testing
@testable import EnvyroEngine

@Suite("ResourceLimitBatch and OptimizedResourceLimits")
struct ResourceLimitTests {
    static let sizes: [(String, Int64)] = [
        ("0", 0), ("512", 512), ("512b", 512), ("1k", 1024), ("1K", 1024), ("256m", 268_435_456),
        ("256M", 268_435_456), ("2g", 2_147_483_648), ("2G", 2_147_483_648), ("1t", 1_099_511_627_776),
        ("256MB", 268_435_456), ("256MiB", 268_435_456), ("64 k", 65_536), (" 8m ", 8_388_608), ("-1", -1),
    ]

    @Test("Sizes parse with podman's binary suffixes, case-insensitive", arguments: sizes)
    func parseSize(text: String, expected: Int64) throws {
        #expect(try ResourceLimitBatch.parseSize(text) == expected)
    }

    @Test("Bad sizes are refused with a message that shows the form", arguments: [
        "", "m", "12x", "1.5g", "-2", "1kk", "1bb", "abc", "99999999999999999999", "9000000000g",
    ])
    func badSize(text: String) {
        #expect(throws: LimitError.invalidSize(text)) { try ResourceLimitBatch.parseSize(text) }
        #expect(LimitError.invalidSize(text).description
                == "'\(text)' is not a size: use a whole number with an optional b, k, m or g suffix (binary units, case-insensitive), e.g. 256m or 1g")
    }

    @Test("CPU counts become a quota over the 100 ms period", arguments: [(String, Int64)]([
        ("0.5", 50_000), ("1", 100_000), ("2", 200_000), ("1.25", 125_000), (".5", 50_000),
        ("3.", 300_000), ("0.01", 1_000), ("0.123456", 12_345),
    ]))
    func parseCPUs(text: String, quota: Int64) throws {
        #expect(try ResourceLimitBatch.parseCPUs(text) == CPUQuota(quotaMicros: quota, periodMicros: 100_000))
    }

    @Test("Bad CPU counts are refused", arguments: ["", "0", "0.0", "-1", "abc", "1.2.3", ".", "0.000001"])
    func badCPUs(text: String) {
        #expect(throws: LimitError.invalidCPUs(text)) { try ResourceLimitBatch.parseCPUs(text) }
        #expect(LimitError.invalidCPUs(text).description
                == "'\(text)' is not a CPU count: use a positive decimal number of CPUs, e.g. 0.5 or 2")
    }

    @Test("Setting a key twice keeps the last value")
    func lastWriteWins() {
        var batch = ResourceLimitBatch()
        batch.set(.memoryMax, 1 << 30)
        batch.set(.pidsMax, 10)
        batch.set(.memoryMax, 256 << 20)
        #expect(batch.count == 2)
        #expect(batch.integer(.memoryMax) == 256 << 20)
        #expect(batch.overwrites == 1)
        #expect(batch.entries.map(\.key) == [.memoryMax, .pidsMax])
        #expect(batch.remove(.pidsMax) == .integer(10))
        #expect(batch.count == 1)
    }

    @Test("Limits parse from their command-line names")
    func setParsing() throws {
        var batch = ResourceLimitBatch()
        try batch.set(parsing: "memory", "256m")
        try batch.set(parsing: "memory-swap", "-1")
        try batch.set(parsing: "cpus", "1.5")
        try batch.set(parsing: "pids", "100")
        try batch.set(parsing: "cpuset-cpus", "0-1")
        #expect(batch.integer(.memoryMax) == 256 << 20)
        #expect(batch.integer(.memorySwapMax) == -1)
        #expect(batch.integer(.cpuQuotaMicros) == 150_000 && batch.integer(.cpuPeriodMicros) == 100_000)
        #expect(batch.text(.cpusetCpus) == "0-1")
        try batch.validate()
        #expect(throws: LimitError.unknownKey("swap", known: ResourceLimitKey.allCases.map(\.name) + ["cpus"])) {
            try batch.set(parsing: "swap", "1g")
        }
        #expect(LimitError.unknownKey("swap", known: ["memory", "cpus"]).description
                == "unknown resource limit 'swap'; valid limits: memory, cpus")
        #expect(throws: LimitError.wrongValueType(.pidsMax)) { try batch.set(parsing: "pids", "many") }
    }

    static let validationCases: [(ResourceLimitKey, ResourceLimitValue, String)] = [
        (.memoryMax, .integer(1024), "memory limit 1K is below the minimum 1 MiB"),
        (.memoryMax, .integer(4_611_686_018_427_387_905), "memory limit 4611686018427387905 is above the maximum 4 EiB"),
        (.pidsMax, .integer(0), "pids limit 0 is below the minimum 1; use -1 for no limit"),
        (.pidsMax, .integer(5_000_000), "pids limit 5000000 is above the maximum 4194304"),
        (.cpuQuotaMicros, .integer(500), "CPU quota 500µs is below the minimum 1000µs"),
        (.cpuPeriodMicros, .integer(2_000_000), "CPU period 2000000µs is above the maximum 1000000µs"),
        (.cpuWeight, .integer(0), "CPU weight 0 is below the minimum 1"),
        (.cpuWeight, .integer(10_001), "CPU weight 10001 is above the maximum 10000"),
        (.ioWeight, .integer(0), "IO weight 0 is below the minimum 1"),
        (.cpusetCpus, .text("0-a"), "cpuset '0-a' is not a CPU list: use numbers and ascending ranges like 0-3,5"),
        (.cpusetCpus, .text("3-1"), "cpuset '3-1' is not a CPU list: use numbers and ascending ranges like 0-3,5"),
        (.cpusetCpus, .text(""), "cpuset '' is not a CPU list: use numbers and ascending ranges like 0-3,5"),
        (.cpusetCpus, .integer(3), "cpuset takes text like 0-3,5, not a number"),
        (.memoryMax, .text("1g"), "memory limit takes a number, not text"),
        (.memorySwapMax, .integer(1_073_741_824), "a memory+swap limit needs a memory limit: set memory too"),
    ]

    @Test("Validation names the limit, the value and the bound", arguments: validationCases)
    func validationMessages(key: ResourceLimitKey, value: ResourceLimitValue, message: String) {
        var batch = ResourceLimitBatch()
        batch.set(key, value)
        do {
            try batch.validate()
            Issue.record("expected \(message)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test("Swap below memory is refused; -1 and equal are fine")
    func swapRules() throws {
        var batch = ResourceLimitBatch()
        batch.set(.memoryMax, 512 << 20)
        batch.set(.memorySwapMax, 256 << 20)
        #expect(throws: LimitError.swapBelowMemory(swap: 256 << 20, memory: 512 << 20)) { try batch.validate() }
        #expect(LimitError.swapBelowMemory(swap: 256 << 20, memory: 512 << 20).description
                == "memory+swap limit 256M is below the memory limit 512M; set it to at least the memory limit, or -1 for unlimited swap")
        batch.set(.memorySwapMax, -1)
        try batch.validate()
        batch.set(.memorySwapMax, 512 << 20)
        try batch.validate()
        batch.set(.pidsMax, -1)
        batch.set(.cpusetCpus, "0-3,5,7-8")
        try batch.validate()
    }

    @Test("Encode and decode round-trip every kind of value")
    func roundTrip() throws {
        var batch = ResourceLimitBatch()
        #expect(try ResourceLimitBatch.decode(batch.encode()) == batch)
        batch.set(.memoryMax, 256 << 20)
        batch.set(.memorySwapMax, -1)
        batch.set(.pidsMax, 4_194_304)
        batch.set(.cpuQuotaMicros, 50_000)
        batch.set(.cpuPeriodMicros, 100_000)
        batch.set(.cpuWeight, 1)
        batch.set(.cpusetCpus, "0-3,5")
        batch.set(.ioWeight, 10_000)
        let bytes = batch.encode()
        #expect(bytes.count < 40)
        #expect(bytes[0] == 0x4C && bytes[1] == 1 && bytes[2] == 8)
        #expect(try ResourceLimitBatch.decode(bytes) == batch)
        var extremes = ResourceLimitBatch()
        extremes.set(.memoryMax, .max)
        extremes.set(.pidsMax, .min)
        #expect(try ResourceLimitBatch.decode(extremes.encode()) == extremes)
    }

    static let malformedCases: [([UInt8], String)] = [
        ([UInt8](), "malformed resource limit batch: 0 bytes is shorter than the 3-byte header"),
        ([0x00, 1, 0], "malformed resource limit batch: first byte is 0, expected 76"),
        ([0x4C, 9, 0], "malformed resource limit batch: version 9 is not supported (expected 1)"),
        ([0x4C, 1, 1], "malformed resource limit batch: entry 1 of 1 is missing"),
        ([0x4C, 1, 1, 99, 0], "malformed resource limit batch: unknown key 99"),
        ([0x4C, 1, 2, 3, 2, 3, 2], "malformed resource limit batch: key pids appears twice"),
        ([0x4C, 1, 1, 3, 0x80], "malformed resource limit batch: a number runs past the end"),
        ([0x4C, 1, 1, 7, 5, 0x30], "malformed resource limit batch: text of cpuset-cpus runs past the end"),
        ([0x4C, 1, 1, 7, 1, 0xFF], "malformed resource limit batch: text of cpuset-cpus is not UTF-8"),
        ([0x4C, 1, 0, 0], "malformed resource limit batch: 1 trailing bytes after 0 entries"),
        ([0x4C, 1, 1, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1], "malformed resource limit batch: a number is longer than 64 bits"),
    ]

    @Test("Malformed encodings are refused with the reason", arguments: malformedCases)
    func malformed(bytes: [UInt8], message: String) {
        do {
            _ = try ResourceLimitBatch.decode(bytes)
            Issue.record("expected \(message)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test("Profiles are valid and overrides apply on top", arguments: OptimizedResourceLimits.Profile.allCases)
    func profiles(profile: OptimizedResourceLimits.Profile) throws {
        var limits = try OptimizedResourceLimits.profile(named: profile.rawValue.uppercased())
        #expect(limits.profile == profile)
        let base = try limits.validatedBatch()
        #expect(base.integer(.memoryMax) != nil && base.integer(.pidsMax) != nil)
        limits.override(.pidsMax, 77)
        limits.override(.cpusetCpus, "0")
        let batch = try limits.validatedBatch()
        #expect(batch.integer(.pidsMax) == 77)
        #expect(batch.text(.cpusetCpus) == "0")
        #expect(batch.integer(.memoryMax) == base.integer(.memoryMax))
        #expect(try ResourceLimitBatch.decode(batch.encode()) == batch)
    }

    @Test("An override that breaks a profile's rule is caught by validation")
    func badOverride() {
        var limits = OptimizedResourceLimits(profile: .standard)
        limits.override(.memoryMax, 1 << 30)
        #expect(throws: LimitError.swapBelowMemory(swap: 512 << 20, memory: 1 << 30)) { try limits.validatedBatch() }
    }

    @Test("An unknown profile lists the valid ones")
    func unknownProfile() {
        #expect(throws: LimitError.unknownProfile("fast", known: ["minimal", "standard", "performance"])) {
            try OptimizedResourceLimits.profile(named: "fast")
        }
        #expect(LimitError.unknownProfile("fast", known: ["minimal", "standard", "performance"]).description
                == "unknown resource profile 'fast'; valid profiles: minimal, standard, performance")
    }

    @Test("CPU shares and weights convert like runc", arguments: [(Int64, Int64)]([
        (2, 1), (1024, 39), (262_144, 10_000),
    ]))
    func sharesWeight(shares: Int64, weight: Int64) {
        #expect(ResourceLimitBatch.cpuWeight(fromShares: shares) == weight)
        #expect(ResourceLimitBatch.cpuShares(fromWeight: 1) == 2)
        #expect(ResourceLimitBatch.cpuShares(fromWeight: 10_000) == 262_144)
    }

    @Test("Sizes format compactly and in long form")
    func formatting() {
        #expect(ResourceLimitBatch.formatSize(1024) == "1K")
        #expect(ResourceLimitBatch.formatSize(256 << 20) == "256M")
        #expect(ResourceLimitBatch.formatSize(1000) == "1000")
        #expect(ResourceLimitBatch.formatSizeLong(1 << 20) == "1 MiB")
        #expect(ResourceLimitBatch.formatSizeLong(100) == "100 bytes")
    }
}
