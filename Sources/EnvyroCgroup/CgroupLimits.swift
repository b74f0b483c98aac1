/// Resource limits for one container cgroup, version-neutral. `nil` means "don't write the file"
/// (the kernel default applies: unlimited, or the parent's value for cpuset).
///
/// Units and semantics follow podman/docker:
/// - `memoryMax`: bytes, at least one page (4096).
/// - `memorySwapMax`: memory + swap in total (docker's `--memory-swap`), -1 for unlimited swap;
///   needs `memoryMax` and must be at least it. v1 writes it to `memory.memsw.limit_in_bytes`;
///   v2's `memory.swap.max` counts swap alone, so it gets `memorySwapMax - memoryMax`.
/// - `pidsMax`: 1...4194304, or -1 for unlimited (`max`).
/// - `cpuQuotaMicros` / `cpuPeriodMicros`: CFS bandwidth; quota 1000...(Int64.max/1000) µs or -1
///   (unlimited), period 1000...1000000 µs (default 100000 when only a quota is set).
/// - `cpuShares`: v1 `cpu.shares` 2...262144; on v2 converted to `cpu.weight` with the
///   crun/systemd/runc formula `1 + (shares - 2) * 9999 / 262142`.
/// - `cpusetCpus` / `cpusetMems`: lists like `0-1,3` (validated; ids up to 8191).
/// - `ioWeight`: on the v2 scale 1...10000 (`io.weight`, default 100). v1 `blkio.weight` takes
///   10...1000 (default 500): the value is converted with the inverse of runc's
///   `1 + (blkio - 10) * 9999 / 990` and clamped into 10...1000. The CLI's `--blkio-weight`
///   (v1 scale) converts with `CgroupFormats.ioWeight(fromBlkioWeight:)` first.
public struct CgroupLimits: Sendable, Equatable, Hashable {
    /// Memory limit in bytes.
    public var memoryMax: Int64?
    /// Memory plus swap in bytes (docker semantics), -1 for unlimited swap.
    public var memorySwapMax: Int64?
    /// Maximum number of tasks, -1 for unlimited.
    public var pidsMax: Int64?
    /// CFS quota per period in microseconds, -1 for unlimited.
    public var cpuQuotaMicros: Int64?
    /// CFS period in microseconds.
    public var cpuPeriodMicros: UInt64?
    /// Relative CPU weight on the v1 scale (2...262144).
    public var cpuShares: UInt64?
    /// CPUs the container may run on, e.g. `0-1,3`.
    public var cpusetCpus: String?
    /// Memory nodes the container may allocate from, e.g. `0`.
    public var cpusetMems: String?
    /// Relative I/O weight on the v2 scale (1...10000).
    public var ioWeight: UInt16?
    /// v1 device rules, in order, after denying everything: (allow, "c 1:3 rwm"). nil: leave
    /// the devices controller alone.
    public var deviceRules: [DeviceRule]?

    /// Huge page limits: page size as the kernel names it ("2MB", "1GB") and bytes.
    public var hugepageLimits: [HugepageLimit]?
    /// cgroup v2 files written as given (OCI `linux.resources.unified`), in order.
    public var unified: [UnifiedEntry]?

    /// One huge page limit.
    public struct HugepageLimit: Sendable, Equatable, Hashable {
        public var pageSize: String
        public var limit: UInt64
        public init(pageSize: String, limit: UInt64) { self.pageSize = pageSize; self.limit = limit }
    }

    /// One cgroup v2 file and the text written to it.
    public struct UnifiedEntry: Sendable, Equatable, Hashable {
        public var key: String
        public var value: String
        public init(key: String, value: String) { self.key = key; self.value = value }
    }

    /// One device access rule: `type major:minor access` with `*` wildcards (cgroup v1 syntax).
    public struct DeviceRule: Sendable, Equatable, Hashable {
        /// Allow (devices.allow) or deny (devices.deny).
        public var allow: Bool
        /// The rule text, e.g. "c 1:3 rwm" or "b *:* m".
        public var rule: String
        /// A rule.
        public init(allow: Bool, rule: String) { self.allow = allow; self.rule = rule }
    }

    /// Limits with every field given (all default to nil: no limit).
    public init(memoryMax: Int64? = nil, memorySwapMax: Int64? = nil, pidsMax: Int64? = nil,
                cpuQuotaMicros: Int64? = nil, cpuPeriodMicros: UInt64? = nil, cpuShares: UInt64? = nil,
                cpusetCpus: String? = nil, cpusetMems: String? = nil, ioWeight: UInt16? = nil) {
        self.memoryMax = memoryMax
        self.memorySwapMax = memorySwapMax
        self.pidsMax = pidsMax
        self.cpuQuotaMicros = cpuQuotaMicros
        self.cpuPeriodMicros = cpuPeriodMicros
        self.cpuShares = cpuShares
        self.cpusetCpus = cpusetCpus
        self.cpusetMems = cpusetMems
        self.ioWeight = ioWeight
    }

    /// The default CFS period (100 ms), used when only a quota is given.
    public static let defaultCPUPeriodMicros: UInt64 = 100_000

    /// True when no field is set.
    public var isEmpty: Bool { self == CgroupLimits() }

    /// Checks every set field against its range; the error names the field, the value and the
    /// range.
    public func validate() throws(CgroupError) {
        if let m = memoryMax, m < 4096 {
            throw .invalidLimit(field: "memoryMax", value: String(m), reason: "must be at least 4096 bytes (one page); leave it unset for no limit")
        }
        if let s = memorySwapMax {
            guard let m = memoryMax else {
                throw .invalidLimit(field: "memorySwapMax", value: String(s), reason: "needs memoryMax too (it is memory plus swap)")
            }
            if s != -1 && s < m {
                throw .invalidLimit(field: "memorySwapMax", value: String(s), reason: "must be -1 (unlimited swap) or at least memoryMax (\(m)), since it counts memory plus swap")
            }
        }
        if let p = pidsMax, p != -1 && !(1...4_194_304).contains(p) {
            throw .invalidLimit(field: "pidsMax", value: String(p), reason: "must be in 1...4194304, or -1 for unlimited")
        }
        if let q = cpuQuotaMicros, q != -1 && !(1000...(Int64.max / 1000)).contains(q) {
            throw .invalidLimit(field: "cpuQuotaMicros", value: String(q), reason: "must be at least 1000 µs (1 ms), or -1 for unlimited")
        }
        if let p = cpuPeriodMicros, !(1000...1_000_000).contains(p) {
            throw .invalidLimit(field: "cpuPeriodMicros", value: String(p), reason: "must be in 1000...1000000 µs (1 ms to 1 s)")
        }
        if let s = cpuShares, !(2...262_144).contains(s) {
            throw .invalidLimit(field: "cpuShares", value: String(s), reason: "must be in 2...262144")
        }
        if let c = cpusetCpus {
            do { _ = try CgroupFormats.parseCPUList(c) } catch {
                throw .invalidLimit(field: "cpusetCpus", value: c, reason: error.reason)
            }
        }
        if let m = cpusetMems {
            do { _ = try CgroupFormats.parseCPUList(m) } catch {
                throw .invalidLimit(field: "cpusetMems", value: m, reason: error.reason)
            }
        }
        for h in hugepageLimits ?? [] {
            let size = h.pageSize
            let digits = size.prefix(while: { $0.isNumber })
            if digits.isEmpty || !["KB", "MB", "GB"].contains(String(size.dropFirst(digits.count))) {
                throw .invalidLimit(field: "hugepageLimits", value: size, reason: "a page size is a number and KB, MB or GB, like 2MB or 1GB")
            }
        }
        for u in unified ?? [] {
            let parts = u.key.split(separator: ".", omittingEmptySubsequences: false)
            let okKey = parts.count >= 2 && parts.allSatisfy { !$0.isEmpty } && u.key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") }
            if !okKey { throw .invalidLimit(field: "unified", value: u.key, reason: "a cgroup v2 file name like memory.high (one path component)") }
            if u.value.contains("\n") || u.value.contains("\0") { throw .invalidLimit(field: "unified", value: u.key, reason: "the value must be one line") }
        }
        for r in deviceRules ?? [] {
            let parts = r.rule.split(separator: " ")
            let okType = parts.count == 3 && ["a", "b", "c"].contains(parts[0])
            let numbers = parts.count == 3 ? parts[1].split(separator: ":", omittingEmptySubsequences: false) : []
            let okNumbers = numbers.count == 2 && numbers.allSatisfy { $0 == "*" || UInt32($0) != nil }
            let okAccess = parts.count == 3 && !parts[2].isEmpty && parts[2].allSatisfy { "rwm".contains($0) }
            if !(okType && okNumbers && okAccess) {
                throw .invalidLimit(field: "deviceRules", value: r.rule, reason: "must be 'TYPE MAJOR:MINOR ACCESS' (TYPE a, b or c; numbers or *; ACCESS of r, w, m)")
            }
        }
        if let w = ioWeight, !(1...10_000).contains(w) {
            throw .invalidLimit(field: "ioWeight", value: String(w), reason: "must be in 1...10000 (the v2 io.weight scale; v1 blkio.weight values are converted)")
        }
    }

    /// The controllers the set fields need. I/O weight is named `.io` whichever version serves
    /// it (the hierarchy resolves it to v1 `blkio` where that is mounted).
    public var requiredControllers: Set<CgroupController> {
        var out: Set<CgroupController> = []
        if memoryMax != nil || memorySwapMax != nil { out.insert(.memory) }
        if pidsMax != nil { out.insert(.pids) }
        if cpuQuotaMicros != nil || cpuPeriodMicros != nil || cpuShares != nil { out.insert(.cpu) }
        if cpusetCpus != nil || cpusetMems != nil { out.insert(.cpuset) }
        if ioWeight != nil { out.insert(.io) }
        if deviceRules != nil { out.insert(.devices) }
        if !(hugepageLimits ?? []).isEmpty { out.insert(.hugetlb) }
        return out
    }

    /// The files to write for these limits on `version`, in the order the kernel needs them
    /// (v1 `memory.limit_in_bytes` before `memory.memsw.limit_in_bytes`, the CFS period before
    /// the quota). Each file appears once, except the devices files (one write per rule). v1
    /// cpuset values left nil are not listed: the driver
    /// copies them from the parent. Call `validate()` first.
    public func fileWrites(for version: CgroupVersion) -> [CgroupFileWrite] {
        var out: [CgroupFileWrite] = []
        switch version {
        case .v1:
            if let m = memoryMax { out.append(.init(.memory, "memory.limit_in_bytes", String(m))) }
            if let s = memorySwapMax { out.append(.init(.memory, "memory.memsw.limit_in_bytes", String(s))) }
            if let p = pidsMax { out.append(.init(.pids, "pids.max", p == -1 ? "max" : String(p))) }
            if let s = cpuShares { out.append(.init(.cpu, "cpu.shares", String(s))) }
            // A new v1 cgroup's period is already the 100 ms default: write it only when asked.
            if let p = cpuPeriodMicros { out.append(.init(.cpu, "cpu.cfs_period_us", String(p))) }
            if let q = cpuQuotaMicros { out.append(.init(.cpu, "cpu.cfs_quota_us", String(q))) }
            if let c = cpusetCpus { out.append(.init(.cpuset, "cpuset.cpus", c)) }
            if let m = cpusetMems { out.append(.init(.cpuset, "cpuset.mems", m)) }
            for h in hugepageLimits ?? [] { out.append(.init(.hugetlb, "hugetlb.\(h.pageSize).limit_in_bytes", String(h.limit))) }
            if let rules = deviceRules {
                // Deny everything first, then the rules in order (runc's order).
                out.append(.init(.devices, "devices.deny", "a"))
                for r in rules { out.append(.init(.devices, r.allow ? "devices.allow" : "devices.deny", r.rule)) }
            }
            if let w = ioWeight {
                let blkio = String(CgroupFormats.blkioWeight(fromIOWeight: w))
                out.append(.init(.io, "blkio.weight", blkio, alternatives: [.init(file: "blkio.bfq.weight", value: blkio)]))
            }
        case .v2:
            if let m = memoryMax { out.append(.init(.memory, "memory.max", CgroupFormats.memoryMax(m))) }
            if let s = memorySwapMax, let m = memoryMax {
                out.append(.init(.memory, "memory.swap.max", CgroupFormats.memorySwapMax(total: s, memory: m)))
            }
            if let p = pidsMax { out.append(.init(.pids, "pids.max", p == -1 ? "max" : String(p))) }
            if let s = cpuShares { out.append(.init(.cpu, "cpu.weight", String(CgroupFormats.cpuWeight(fromShares: s)))) }
            if cpuQuotaMicros != nil || cpuPeriodMicros != nil {
                out.append(.init(.cpu, "cpu.max", CgroupFormats.cpuMax(quotaMicros: cpuQuotaMicros, periodMicros: cpuPeriodMicros)))
            }
            if let c = cpusetCpus { out.append(.init(.cpuset, "cpuset.cpus", c)) }
            if let m = cpusetMems { out.append(.init(.cpuset, "cpuset.mems", m)) }
            for h in hugepageLimits ?? [] { out.append(.init(.hugetlb, "hugetlb.\(h.pageSize).max", String(h.limit))) }
            if let w = ioWeight {
                // io.bfq.weight takes the 1...1000 scale: crun writes the blkio value there.
                let bfq = "default \(CgroupFormats.blkioWeight(fromIOWeight: w))"
                out.append(.init(.io, "io.weight", "default \(w)", alternatives: [.init(file: "io.bfq.weight", value: bfq)]))
            }
        }
        return out
    }
}

/// One write of a limit file: which controller's directory, the file, the value, and files to
/// try instead when the first doesn't exist (`blkio.bfq.weight` when the I/O scheduler only
/// offers BFQ weights).
public struct CgroupFileWrite: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The controller whose directory holds the file.
    public var controller: CgroupController
    /// The file name, e.g. `memory.max`.
    public var file: String
    /// The text written (without a newline).
    public var value: String
    /// Files (with their own values) tried in order when `file` does not exist.
    public var alternatives: [Alternative]

    /// Another file to write when the first one does not exist.
    public struct Alternative: Sendable, Equatable, Hashable {
        /// The file name.
        public var file: String
        /// The text written to it.
        public var value: String
        /// An alternative write.
        public init(file: String, value: String) {
            self.file = file
            self.value = value
        }
    }

    /// A write of `value` to `file` in `controller`'s directory.
    public init(_ controller: CgroupController, _ file: String, _ value: String, alternatives: [Alternative] = []) {
        self.controller = controller
        self.file = file
        self.value = value
        self.alternatives = alternatives
    }

    public var description: String { "\(file)=\(value)" }
}

extension CgroupLimits {
    /// Files of the controllers a policy governs (and the runtime's own `cgroup.*` files):
    /// OCI `linux.resources.unified` may not set them, or it would bypass the policy's maxima;
    /// `linux.resources.memory`, `pids`, `cpu` and `blockIO` say the same, checked.
    public static let policedUnifiedPrefixes = ["memory.", "pids.", "cpu.", "cpuset.", "io.", "hugetlb.", "cgroup."]

    /// `cgroup.*` files that only limit the cgroup's own nesting: harmless to let a bundle set.
    public static let harmlessUnifiedKeys: Set<String> = ["cgroup.max.depth", "cgroup.max.descendants"]

    /// The governed prefix a `unified` key falls under (`"memory."` for `memory.max`), or nil
    /// when a bundle may set it. Both the CLI and the helper refuse such keys: the helper must
    /// not rely on its caller (a raw-protocol client skips the CLI's checks).
    public static func policedUnifiedPrefix(_ key: String) -> String? {
        if harmlessUnifiedKeys.contains(key) { return nil }
        return policedUnifiedPrefixes.first { key.hasPrefix($0) }
    }
}
