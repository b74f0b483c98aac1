// Resource and identity parts of a create request: cgroup limits, id mappings, and the extra
// seccomp program. Kept apart from Messages.swift because later issues widen them.

// LimitSet, payload (inside CreateRequest):
//   present u32 (bit i set = field i follows, in this order)
//   0 memoryMax i64 | 1 memorySwapMax i64 | 2 pidsMax i64 | 3 cpuQuotaMicros i64
//   | 4 cpuPeriodMicros u64 | 5 cpuShares u64 | 6 cpusetCpus string | 7 cpusetMems string
//   | 8 ioWeight u16
/// Cgroup limits for one container, as the helper receives them (already validated by the
/// supervisor's `ResourceLimitBatch`; the helper checks them again against its policy).
public struct LimitSet: Sendable, Equatable {
    /// memory limit in bytes.
    public var memoryMax: Int64?
    /// memory+swap limit in bytes (docker semantics), -1 for unlimited.
    public var memorySwapMax: Int64?
    /// Maximum number of tasks.
    public var pidsMax: Int64?
    /// CFS quota per period, in µs.
    public var cpuQuotaMicros: Int64?
    /// CFS period, in µs.
    public var cpuPeriodMicros: UInt64?
    /// Relative CPU weight in cgroup v1 shares.
    public var cpuShares: UInt64?
    /// CPUs the container may run on ("0-1,3").
    public var cpusetCpus: String?
    /// Memory nodes.
    public var cpusetMems: String?
    /// Relative block I/O weight, cgroup v2 scale (1...10000; the v1 driver converts).
    public var ioWeight: UInt16?

    /// No limits.
    public init() {}

    /// Is no limit set?
    public var isEmpty: Bool { self == LimitSet() }

    func encode(into w: inout WireWriter) {
        var present: UInt32 = 0
        if memoryMax != nil { present |= 1 << 0 }
        if memorySwapMax != nil { present |= 1 << 1 }
        if pidsMax != nil { present |= 1 << 2 }
        if cpuQuotaMicros != nil { present |= 1 << 3 }
        if cpuPeriodMicros != nil { present |= 1 << 4 }
        if cpuShares != nil { present |= 1 << 5 }
        if cpusetCpus != nil { present |= 1 << 6 }
        if cpusetMems != nil { present |= 1 << 7 }
        if ioWeight != nil { present |= 1 << 8 }
        w.u32(present)
        if let v = memoryMax { w.u64(UInt64(bitPattern: v)) }
        if let v = memorySwapMax { w.u64(UInt64(bitPattern: v)) }
        if let v = pidsMax { w.u64(UInt64(bitPattern: v)) }
        if let v = cpuQuotaMicros { w.u64(UInt64(bitPattern: v)) }
        if let v = cpuPeriodMicros { w.u64(v) }
        if let v = cpuShares { w.u64(v) }
        if let v = cpusetCpus { w.string(v) }
        if let v = cpusetMems { w.string(v) }
        if let v = ioWeight { w.u16(v) }
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> LimitSet {
        let present = try r.u32("limits.present")
        guard present & ~UInt32(0x1FF) == 0 else {
            throw .invalidValue(field: "limits.present", reason: "unknown limit bits 0x\(String(present, radix: 16))")
        }
        var l = LimitSet()
        if present & (1 << 0) != 0 { l.memoryMax = Int64(bitPattern: try r.u64("limits.memoryMax")) }
        if present & (1 << 1) != 0 { l.memorySwapMax = Int64(bitPattern: try r.u64("limits.memorySwapMax")) }
        if present & (1 << 2) != 0 { l.pidsMax = Int64(bitPattern: try r.u64("limits.pidsMax")) }
        if present & (1 << 3) != 0 { l.cpuQuotaMicros = Int64(bitPattern: try r.u64("limits.cpuQuotaMicros")) }
        if present & (1 << 4) != 0 { l.cpuPeriodMicros = try r.u64("limits.cpuPeriodMicros") }
        if present & (1 << 5) != 0 { l.cpuShares = try r.u64("limits.cpuShares") }
        if present & (1 << 6) != 0 { l.cpusetCpus = try r.string("limits.cpusetCpus") }
        if present & (1 << 7) != 0 { l.cpusetMems = try r.string("limits.cpusetMems") }
        if present & (1 << 8) != 0 { l.ioWeight = try r.u16("limits.ioWeight") }
        return l
    }

    /// Range checks that need no policy.
    public func validate() throws(ProtocolError) {
        if let v = memoryMax, v < 1 { throw .invalidValue(field: "limits.memoryMax", reason: "must be positive") }
        if let v = memorySwapMax, v < -1 || v == 0 { throw .invalidValue(field: "limits.memorySwapMax", reason: "must be positive or -1") }
        if let v = pidsMax, v < 1 { throw .invalidValue(field: "limits.pidsMax", reason: "must be positive") }
        if let v = cpuQuotaMicros, v < 1000 && v != -1 { throw .invalidValue(field: "limits.cpuQuotaMicros", reason: "must be at least 1000 or -1") }
        if let v = cpuPeriodMicros, v < 1000 || v > 1_000_000 { throw .invalidValue(field: "limits.cpuPeriodMicros", reason: "must be 1000...1000000") }
        if let v = cpuShares, v < 2 || v > 262_144 { throw .invalidValue(field: "limits.cpuShares", reason: "must be 2...262144") }
        for (name, s) in [("limits.cpusetCpus", cpusetCpus), ("limits.cpusetMems", cpusetMems)] {
            guard let s else { continue }
            try checkString(s, name)
            if s.isEmpty || s.utf8.count > 256 || !s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2C || $0 == 0x2D }) {
                throw .invalidValue(field: name, reason: "expected a list like 0-1,3")
            }
        }
        if let v = ioWeight, v < 1 || v > 10000 { throw .invalidValue(field: "limits.ioWeight", reason: "must be 1...10000") }
    }
}

// IDMapping, payload: containerID u32 | hostID u32 | count u32
/// One line of a uid_map or gid_map.
public struct IDMapping: Sendable, Equatable, Hashable {
    /// First id inside the container.
    public var containerID: UInt32
    /// First id outside.
    public var hostID: UInt32
    /// How many ids.
    public var count: UInt32

    /// A mapping of `count` ids from `containerID` inside to `hostID` outside.
    public init(containerID: UInt32, hostID: UInt32, count: UInt32) {
        self.containerID = containerID
        self.hostID = hostID
        self.count = count
    }

    func encode(into w: inout WireWriter) {
        w.u32(containerID); w.u32(hostID); w.u32(count)
    }

    static func decodeList(from r: inout WireReader, _ field: String) throws(ProtocolError) -> [IDMapping] {
        let n = try r.u32(field)
        guard n <= ProtocolLimits.maxIDMappings else {
            throw .invalidValue(field: field, reason: "more than \(ProtocolLimits.maxIDMappings) extents")
        }
        guard UInt64(n) * 12 <= UInt64(r.remaining) else { throw .truncated(field: field) }
        var out: [IDMapping] = []
        for _ in 0..<n {
            out.append(IDMapping(containerID: try r.u32(field), hostID: try r.u32(field), count: try r.u32(field)))
        }
        return out
    }

    static func validate(_ list: [IDMapping], _ field: String) throws(ProtocolError) {
        guard list.count <= ProtocolLimits.maxIDMappings else {
            throw .invalidValue(field: field, reason: "more than \(ProtocolLimits.maxIDMappings) extents")
        }
        for (i, m) in list.enumerated() {
            if m.count == 0 { throw .invalidValue(field: "\(field)[\(i)]", reason: "count is 0") }
            if UInt64(m.containerID) + UInt64(m.count) > UInt64(UInt32.max) || UInt64(m.hostID) + UInt64(m.count) > UInt64(UInt32.max) {
                throw .invalidValue(field: "\(field)[\(i)]", reason: "range overflows")
            }
        }
    }
}

extension ProtocolLimits {
    /// The kernel's limit on uid_map/gid_map lines.
    public static let maxIDMappings = 340
    /// Largest extra seccomp program (BPF_MAXINSNS instructions of 8 bytes).
    public static let maxSeccompBytes = 4096 * 8
}

/// What a container used, reported with its exit. -1 means the kernel did not say (no cgroup,
/// or a controller this host lacks).
public struct ResourceUsage: Sendable, Equatable {
    /// User CPU time of the container's processes (rusage of the reaped tree).
    public var userCPUMicros: Int64 = -1
    /// System CPU time.
    public var systemCPUMicros: Int64 = -1
    /// Largest resident set of any one process, KiB (rusage).
    public var maxRSSKiB: Int64 = -1
    /// Peak memory of the whole container (cgroup).
    public var memoryPeakBytes: Int64 = -1
    /// The memory limit that applied.
    public var memoryLimitBytes: Int64 = -1
    /// How many processes the kernel's OOM killer killed in the container.
    public var oomKills: Int64 = -1
    /// The most tasks the container had at once.
    public var pidsPeak: Int64 = -1
    /// CPU time of the container's cgroup, ns.
    public var cpuUsageNanos: Int64 = -1

    /// Nothing known.
    public init() {}

    func encode(into w: inout WireWriter) {
        for v in [userCPUMicros, systemCPUMicros, maxRSSKiB, memoryPeakBytes, memoryLimitBytes, oomKills, pidsPeak, cpuUsageNanos] {
            w.u64(UInt64(bitPattern: v))
        }
    }

    static func decode(from r: inout WireReader) throws(ProtocolError) -> ResourceUsage {
        var u = ResourceUsage()
        u.userCPUMicros = Int64(bitPattern: try r.u64("usage.userCPUMicros"))
        u.systemCPUMicros = Int64(bitPattern: try r.u64("usage.systemCPUMicros"))
        u.maxRSSKiB = Int64(bitPattern: try r.u64("usage.maxRSSKiB"))
        u.memoryPeakBytes = Int64(bitPattern: try r.u64("usage.memoryPeakBytes"))
        u.memoryLimitBytes = Int64(bitPattern: try r.u64("usage.memoryLimitBytes"))
        u.oomKills = Int64(bitPattern: try r.u64("usage.oomKills"))
        u.pidsPeak = Int64(bitPattern: try r.u64("usage.pidsPeak"))
        u.cpuUsageNanos = Int64(bitPattern: try r.u64("usage.cpuUsageNanos"))
        return u
    }
}
