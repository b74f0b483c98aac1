/// Pure functions for cgroup file formats: building the text written to limit files and parsing
/// what the kernel reports. None of them touches the filesystem.
public enum CgroupFormats {
    /// Why a cpuset list was refused.
    public struct ListError: Error, Sendable, Equatable {
        /// What is wrong, e.g. "range 3-1 runs backwards".
        public var reason: String
    }

    /// The largest CPU or memory-node id accepted in a cpuset list (the kernel's default
    /// NR_CPUS maximum).
    public static let maxCPUSetID = 8191

    /// Parses a cpuset list such as `0-1,3` into its ranges. Refuses empty text, empty items,
    /// spaces, signs, backwards ranges and ids above `maxCPUSetID`.
    public static func parseCPUList(_ text: String) throws(ListError) -> [ClosedRange<Int>] {
        if text.isEmpty { throw ListError(reason: "the list is empty; use ids and ranges like 0-1,3") }
        var ranges: [ClosedRange<Int>] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            if item.isEmpty { throw ListError(reason: "an item is empty (stray comma); use ids and ranges like 0-1,3") }
            let ends = item.split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count <= 2 else { throw ListError(reason: "'\(item)' has more than one '-'; use ranges like 0-3") }
            let numbers = try ends.map { (end: Substring) throws(ListError) -> Int in
                guard !end.isEmpty, end.count <= 5, end.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(end) else {
                    throw ListError(reason: "'\(item)' is not an id or a range of ids (digits only, like 2 or 0-3)")
                }
                guard n <= maxCPUSetID else { throw ListError(reason: "id \(n) is above \(maxCPUSetID)") }
                return n
            }
            let low = numbers[0], high = numbers.count == 2 ? numbers[1] : numbers[0]
            guard low <= high else { throw ListError(reason: "range \(item) runs backwards; write the lower id first") }
            ranges.append(low...high)
        }
        return ranges
    }

    /// The ids a cpuset list names, sorted and without duplicates.
    public static func cpuSetIDs(_ text: String) throws(ListError) -> [Int] {
        var ids = Set<Int>()
        for r in try parseCPUList(text) { ids.formUnion(r) }
        return ids.sorted()
    }

    /// v1 `cpu.shares` (2...262144) to v2 `cpu.weight` (1...10000) with the formula runc, crun
    /// and podman use: `1 + (shares - 2) * 9999 / 262142`, clamped into range.
    public static func cpuWeight(fromShares shares: UInt64) -> UInt64 {
        let s = min(max(shares, 2), 262_144)
        return 1 + (s - 2) * 9999 / 262_142
    }

    /// v1 `blkio.weight` (10...1000) to v2 `io.weight` (1...10000) with runc's formula
    /// `1 + (blkio - 10) * 9999 / 990`; input is clamped into 10...1000 first.
    public static func ioWeight(fromBlkioWeight blkio: UInt16) -> UInt16 {
        let b = Int(min(max(blkio, 10), 1000))
        return UInt16(1 + (b - 10) * 9999 / 990)
    }

    /// v2 `io.weight` (1...10000) to v1 `blkio.weight` (10...1000): the inverse of
    /// `ioWeight(fromBlkioWeight:)`, rounded to nearest, clamped into 10...1000. Round-trips
    /// every v1 value: `blkioWeight(fromIOWeight: ioWeight(fromBlkioWeight: b)) == b`.
    public static func blkioWeight(fromIOWeight io: UInt16) -> UInt16 {
        let w = Int(min(max(io, 1), 10_000))
        // Smallest b with ioWeight(b) >= w keeps the round trip exact.
        let b = 10 + ((w - 1) * 990 + 9998) / 9999
        return UInt16(min(max(b, 10), 1000))
    }

    /// v2 `cpu.max`: `"max 100000"` without a quota (or with -1), else `"50000 100000"`.
    public static func cpuMax(quotaMicros: Int64?, periodMicros: UInt64?) -> String {
        let period = periodMicros ?? CgroupLimits.defaultCPUPeriodMicros
        guard let q = quotaMicros, q >= 0 else { return "max \(period)" }
        return "\(q) \(period)"
    }

    /// v2 `memory.max`: bytes, or `max` for a negative value.
    public static func memoryMax(_ bytes: Int64) -> String { bytes < 0 ? "max" : String(bytes) }

    /// v2 `memory.swap.max` from docker's memory+swap total: `max` for -1, else
    /// `total - memory` (swap alone), never below 0.
    public static func memorySwapMax(total: Int64, memory: Int64) -> String {
        if total < 0 { return "max" }
        return String(max(total - memory, 0))
    }

    /// Parses a limit file that holds a number or `max` (v2 `memory.max`, `pids.max`; v1
    /// `pids.max`). v1 memory limits at or above 2^62 (the kernel's "unlimited",
    /// 9223372036854771712) are reported as nil too.
    public static func parseLimit(_ text: String) -> Int64? {
        let t = trimmed(text)
        if t == "max" { return nil }
        guard let n = Int64(t), n >= 0 else { return nil }
        return n >= (1 << 62) ? nil : n
    }

    /// Parses "key value" lines (`memory.events`, `memory.oom_control`, `cpu.stat`,
    /// `cgroup.events`, `memory.stat`). Lines that don't hold a name and an unsigned number are
    /// skipped; a repeated key keeps the last value.
    public static func parseKeyedCounters(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2, let v = UInt64(parts[1]) else { continue }
            out[String(parts[0])] = v
        }
        return out
    }

    /// v2 `memory.events`.
    public struct MemoryEvents: Sendable, Equatable {
        /// Times usage went over `memory.low` protection.
        public var low: UInt64 = 0
        /// Times usage went over `memory.high` and was throttled.
        public var high: UInt64 = 0
        /// Times usage hit `memory.max`.
        public var max: UInt64 = 0
        /// Times the OOM killer was invoked for this cgroup.
        public var oom: UInt64 = 0
        /// Processes killed by the OOM killer.
        public var oomKill: UInt64 = 0
        /// Group OOM kills (`memory.oom.group`).
        public var oomGroupKill: UInt64 = 0
        /// All zero.
        public init() {}
    }

    /// Parses v2 `memory.events`; throws when no known key is present.
    public static func parseMemoryEvents(_ text: String) throws(CgroupError) -> MemoryEvents {
        let kv = parseKeyedCounters(text)
        guard kv["oom_kill"] != nil || kv["max"] != nil else { throw .malformed(file: "memory.events", text: text) }
        var e = MemoryEvents()
        e.low = kv["low"] ?? 0
        e.high = kv["high"] ?? 0
        e.max = kv["max"] ?? 0
        e.oom = kv["oom"] ?? 0
        e.oomKill = kv["oom_kill"] ?? 0
        e.oomGroupKill = kv["oom_group_kill"] ?? 0
        return e
    }

    /// v1 `memory.oom_control`.
    public struct OOMControl: Sendable, Equatable {
        /// The OOM killer is disabled for the cgroup.
        public var oomKillDisable: Bool
        /// The cgroup is under OOM right now.
        public var underOOM: Bool
        /// Processes killed by the OOM killer (kernel 4.13+; nil on older kernels).
        public var oomKill: UInt64?
    }

    /// Parses v1 `memory.oom_control` (`oom_kill_disable 0`, `under_oom 0`, `oom_kill 3`).
    public static func parseOOMControl(_ text: String) throws(CgroupError) -> OOMControl {
        let kv = parseKeyedCounters(text)
        guard let disable = kv["oom_kill_disable"], let under = kv["under_oom"] else {
            throw .malformed(file: "memory.oom_control", text: text)
        }
        return OOMControl(oomKillDisable: disable != 0, underOOM: under != 0, oomKill: kv["oom_kill"])
    }

    /// CPU time from v2 `cpu.stat`, in microseconds.
    public struct CPUStat: Sendable, Equatable {
        /// Total CPU time.
        public var usageMicros: UInt64
        /// User CPU time.
        public var userMicros: UInt64?
        /// System CPU time.
        public var systemMicros: UInt64?
        /// Periods in which the quota was exhausted (`nr_throttled`), when the cpu controller is on.
        public var throttledPeriods: UInt64?
        /// Time spent throttled (`throttled_usec`), when the cpu controller is on.
        public var throttledMicros: UInt64?
    }

    /// Parses v2 `cpu.stat`; throws when `usage_usec` is missing.
    public static func parseCPUStat(_ text: String) throws(CgroupError) -> CPUStat {
        let kv = parseKeyedCounters(text)
        guard let usage = kv["usage_usec"] else { throw .malformed(file: "cpu.stat", text: text) }
        return CPUStat(usageMicros: usage, userMicros: kv["user_usec"], systemMicros: kv["system_usec"],
                       throttledPeriods: kv["nr_throttled"], throttledMicros: kv["throttled_usec"])
    }

    /// v2 `cgroup.events`.
    public struct CgroupEvents: Sendable, Equatable {
        /// The cgroup or a descendant holds a live process.
        public var populated: Bool
        /// The cgroup is frozen (`cgroup.freeze`), when the kernel reports it.
        public var frozen: Bool?
    }

    /// Parses v2 `cgroup.events` (`populated 0|1`, `frozen 0|1`).
    public static func parseCgroupEvents(_ text: String) throws(CgroupError) -> CgroupEvents {
        let kv = parseKeyedCounters(text)
        guard let populated = kv["populated"], populated <= 1 else { throw .malformed(file: "cgroup.events", text: text) }
        return CgroupEvents(populated: populated == 1, frozen: kv["frozen"].map { $0 != 0 })
    }

    /// Parses `cgroup.procs` / `tasks`: one pid per line.
    public static func parsePIDs(_ text: String, file: String = "cgroup.procs") throws(CgroupError) -> [Int32] {
        var out: [Int32] = []
        for line in text.split(separator: "\n") {
            guard let pid = Int32(line), pid > 0 else { throw .malformed(file: file, text: text) }
            out.append(pid)
        }
        return out
    }

    /// Parses a file holding one unsigned number (`cpuacct.usage`, `memory.peak`, `pids.peak`).
    public static func parseCounter(_ text: String, file: String) throws(CgroupError) -> UInt64 {
        guard let n = UInt64(trimmed(text)) else { throw .malformed(file: file, text: text) }
        return n
    }

    /// `text` without leading and trailing spaces and newlines.
    static func trimmed(_ text: String) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let start = text.firstIndex(where: { !isSpace($0) }),
              let end = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(text[start...end])
    }
}
