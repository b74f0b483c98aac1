// Resource limits: the keys, values and errors, and ResourceLimitBatch (storage, validation, conversions, encoding); parsing and formatting are in ResourceLimitFormatting.swift, profiles in ResourceLimitProfiles.swift.

/// One kind of cgroup limit a run can carry.
///
/// The raw value is the key's byte in ``ResourceLimitBatch/encode()``; never renumber a case.
public enum ResourceLimitKey: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Memory limit in bytes (`memory.max` / `memory.limit_in_bytes`).
    case memoryMax = 1
    /// Memory plus swap limit in bytes, or -1 for unlimited swap (podman `--memory-swap`).
    case memorySwapMax = 2
    /// Maximum number of tasks, or -1 for no limit.
    case pidsMax = 3
    /// CPU time the group may use per period, in microseconds.
    case cpuQuotaMicros = 4
    /// Length of the CPU accounting period, in microseconds.
    case cpuPeriodMicros = 5
    /// Relative CPU weight, 1...10000 (cgroup v2 `cpu.weight`; see ``ResourceLimitBatch/cpuShares(fromWeight:)``).
    case cpuWeight = 6
    /// CPUs the group may run on, as a list like `0-3,5`.
    case cpusetCpus = 7
    /// Relative IO weight, 1...10000.
    case ioWeight = 8

    /// The command-line spelling of the key, e.g. `memory-swap`.
    public var name: String {
        switch self {
        case .memoryMax: "memory"
        case .memorySwapMax: "memory-swap"
        case .pidsMax: "pids"
        case .cpuQuotaMicros: "cpu-quota"
        case .cpuPeriodMicros: "cpu-period"
        case .cpuWeight: "cpu-weight"
        case .cpusetCpus: "cpuset-cpus"
        case .ioWeight: "io-weight"
        }
    }

    /// What the limit is called in error messages, e.g. "memory limit".
    public var displayName: String {
        switch self {
        case .memoryMax: "memory limit"
        case .memorySwapMax: "memory+swap limit"
        case .pidsMax: "pids limit"
        case .cpuQuotaMicros: "CPU quota"
        case .cpuPeriodMicros: "CPU period"
        case .cpuWeight: "CPU weight"
        case .cpusetCpus: "cpuset"
        case .ioWeight: "IO weight"
        }
    }

    /// Whether the key holds text (only ``cpusetCpus``); every other key holds an integer.
    public var isText: Bool { self == .cpusetCpus }

    /// Finds a key by its command-line ``name`` (case-insensitive).
    public init?(name: String) {
        let lowered = name.lowercased()
        guard let key = ResourceLimitKey.allCases.first(where: { $0.name == lowered }) else { return nil }
        self = key
    }

    public var description: String { name }

    fileprivate var slot: Int { Int(rawValue) - 1 }

    /// Renders an integer value of this key for messages: sizes as `256M`, times as `100000µs`.
    fileprivate func render(_ value: Int64) -> String {
        switch self {
        case .memoryMax, .memorySwapMax: value < 0 ? "\(value)" : ResourceLimitBatch.formatSize(value)
        case .cpuQuotaMicros, .cpuPeriodMicros: "\(value)µs"
        default: "\(value)"
        }
    }

    /// Renders a bound for messages: sizes as `1 MiB`.
    fileprivate func renderBound(_ value: Int64) -> String {
        switch self {
        case .memoryMax, .memorySwapMax: ResourceLimitBatch.formatSizeLong(value)
        case .cpuQuotaMicros, .cpuPeriodMicros: "\(value)µs"
        default: "\(value)"
        }
    }
}

/// The value of one limit: a number or, for ``ResourceLimitKey/cpusetCpus``, text.
public enum ResourceLimitValue: Sendable, Hashable, CustomStringConvertible {
    /// A number: bytes, microseconds, a count or a weight, depending on the key.
    case integer(Int64)
    /// Text, for the cpuset list.
    case text(String)

    public var description: String {
        switch self {
        case .integer(let value): "\(value)"
        case .text(let value): value
        }
    }
}

/// A CPU quota over a period, as produced by ``ResourceLimitBatch/parseCPUs(_:)``.
public struct CPUQuota: Sendable, Hashable {
    /// CPU time per period in microseconds.
    public var quotaMicros: Int64
    /// The period in microseconds.
    public var periodMicros: Int64
    /// Creates a quota.
    public init(quotaMicros: Int64, periodMicros: Int64) {
        self.quotaMicros = quotaMicros
        self.periodMicros = periodMicros
    }
}

/// Everything that can be wrong with a limit, a size, a profile name or an encoded batch.
public enum LimitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A size string that doesn't parse.
    case invalidSize(String)
    /// A CPU count string that doesn't parse or isn't positive.
    case invalidCPUs(String)
    /// A value under the key's minimum.
    case belowMinimum(ResourceLimitKey, value: Int64, minimum: Int64)
    /// A value over the key's maximum.
    case aboveMaximum(ResourceLimitKey, value: Int64, maximum: Int64)
    /// A memory+swap limit smaller than the memory limit.
    case swapBelowMemory(swap: Int64, memory: Int64)
    /// A memory+swap limit without a memory limit.
    case swapWithoutMemory
    /// A cpuset list that isn't numbers and ascending ranges like `0-3,5`.
    case invalidCpuset(String)
    /// A value of the wrong kind for its key (text for a number or the other way round).
    case wrongValueType(ResourceLimitKey)
    /// A key name nobody knows.
    case unknownKey(String, known: [String])
    /// A profile name nobody knows.
    case unknownProfile(String, known: [String])
    /// An encoded batch that can't be decoded.
    case malformedEncoding(String)

    public var description: String {
        switch self {
        case .invalidSize(let text):
            return "'\(text)' is not a size: use a whole number with an optional b, k, m or g suffix (binary units, case-insensitive), e.g. 256m or 1g"
        case .invalidCPUs(let text):
            return "'\(text)' is not a CPU count: use a positive decimal number of CPUs, e.g. 0.5 or 2"
        case .belowMinimum(let key, let value, let minimum):
            return "\(key.displayName) \(key.render(value)) is below the minimum \(key.renderBound(minimum))"
                + (key == .pidsMax || key == .memorySwapMax ? "; use -1 for no limit" : "")
        case .aboveMaximum(let key, let value, let maximum):
            return "\(key.displayName) \(key.render(value)) is above the maximum \(key.renderBound(maximum))"
        case .swapBelowMemory(let swap, let memory):
            return "memory+swap limit \(ResourceLimitBatch.formatSize(swap)) is below the memory limit \(ResourceLimitBatch.formatSize(memory)); set it to at least the memory limit, or -1 for unlimited swap"
        case .swapWithoutMemory:
            return "a memory+swap limit needs a memory limit: set memory too"
        case .invalidCpuset(let text):
            return "cpuset '\(text)' is not a CPU list: use numbers and ascending ranges like 0-3,5"
        case .wrongValueType(let key):
            return key.isText
                ? "\(key.displayName) takes text like 0-3,5, not a number"
                : "\(key.displayName) takes a number, not text"
        case .unknownKey(let name, let known):
            return "unknown resource limit '\(name)'; valid limits: \(known.joined(separator: ", "))"
        case .unknownProfile(let name, let known):
            return "unknown resource profile '\(name)'; valid profiles: \(known.joined(separator: ", "))"
        case .malformedEncoding(let reason):
            return "malformed resource limit batch: \(reason)"
        }
    }
}

/// A set of cgroup limits for one run, collected so they can be validated and applied in one
/// helper call.
///
/// Setting a key twice keeps the last value (the batch never holds duplicates). The batch is a
/// value type: copies are independent.
public struct ResourceLimitBatch: Sendable, Hashable {
    /// Smallest memory limit accepted: 1 MiB.
    public static let minimumMemory: Int64 = 1 << 20
    /// Largest memory limit accepted: 4 EiB - 1, the kernel's practical "max".
    public static let maximumMemory: Int64 = 1 << 62
    /// Largest pids limit accepted (the kernel's PID_MAX_LIMIT).
    public static let maximumPids: Int64 = 4_194_304
    /// Smallest CPU quota and period the kernel accepts: 1 ms.
    public static let minimumCPUMicros: Int64 = 1_000
    /// Largest CPU period the kernel accepts: 1 s.
    public static let maximumCPUPeriodMicros: Int64 = 1_000_000
    /// The default CPU period used by ``parseCPUs(_:)``: 100 ms.
    public static let defaultCPUPeriodMicros: Int64 = 100_000

    private var values: [ResourceLimitValue?]
    /// How many ``set(_:_:)`` calls replaced an earlier value for the same key.
    public private(set) var overwrites: Int = 0

    /// Creates an empty batch.
    public init() {
        values = Array(repeating: nil, count: ResourceLimitKey.allCases.count)
    }

    /// Sets `key` to `value`, replacing any earlier value (last write wins).
    public mutating func set(_ key: ResourceLimitKey, _ value: ResourceLimitValue) {
        if values[key.slot] != nil { overwrites += 1 }
        values[key.slot] = value
    }

    /// Sets a numeric limit, replacing any earlier value (last write wins).
    public mutating func set(_ key: ResourceLimitKey, _ value: Int64) {
        set(key, .integer(value))
    }

    /// Sets a text limit (the cpuset list), replacing any earlier value (last write wins).
    public mutating func set(_ key: ResourceLimitKey, _ value: String) {
        set(key, .text(value))
    }

    /// Parses `text` the way the command line spells the limit named `name` and sets it:
    /// sizes for `memory`/`memory-swap` (`256m`, `-1`), `cpus` as a CPU count (sets quota and
    /// period), text for `cpuset-cpus`, whole numbers otherwise.
    public mutating func set(parsing name: String, _ text: String) throws(LimitError) {
        if name.lowercased() == "cpus" {
            setCPUs(try Self.parseCPUs(text))
            return
        }
        guard let key = ResourceLimitKey(name: name) else {
            throw .unknownKey(name, known: ResourceLimitKey.allCases.map(\.name) + ["cpus"])
        }
        switch key {
        case .memoryMax, .memorySwapMax:
            set(key, try Self.parseSize(text))
        case .cpusetCpus:
            set(key, text)
        default:
            guard let number = Int64(text.trimmingSpaces()) else { throw .wrongValueType(key) }
            set(key, number)
        }
    }

    /// Sets the CPU quota and period together.
    public mutating func setCPUs(_ quota: CPUQuota) {
        set(.cpuQuotaMicros, quota.quotaMicros)
        set(.cpuPeriodMicros, quota.periodMicros)
    }

    /// Removes `key`; returns the value it had.
    @discardableResult
    public mutating func remove(_ key: ResourceLimitKey) -> ResourceLimitValue? {
        let old = values[key.slot]
        values[key.slot] = nil
        return old
    }

    /// Removes every limit.
    public mutating func removeAll() {
        for index in values.indices { values[index] = nil }
        overwrites = 0
    }

    /// The value of `key`, if set.
    public subscript(_ key: ResourceLimitKey) -> ResourceLimitValue? { values[key.slot] }

    /// The numeric value of `key`, if it is set to a number.
    public func integer(_ key: ResourceLimitKey) -> Int64? {
        if case .integer(let value)? = values[key.slot] { return value }
        return nil
    }

    /// The text value of `key`, if it is set to text.
    public func text(_ key: ResourceLimitKey) -> String? {
        if case .text(let value)? = values[key.slot] { return value }
        return nil
    }

    /// The set limits in key order.
    public var entries: [(key: ResourceLimitKey, value: ResourceLimitValue)] {
        ResourceLimitKey.allCases.compactMap { key in values[key.slot].map { (key, $0) } }
    }

    /// Number of set limits.
    public var count: Int { values.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }

    /// Whether no limit is set.
    public var isEmpty: Bool { values.allSatisfy { $0 == nil } }

    /// This batch with every limit of `other` written on top (other wins).
    public func merging(_ other: ResourceLimitBatch) -> ResourceLimitBatch {
        var result = self
        for (key, value) in other.entries { result.set(key, value) }
        return result
    }

    public static func == (lhs: ResourceLimitBatch, rhs: ResourceLimitBatch) -> Bool {
        lhs.values == rhs.values
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(values)
    }

    // MARK: validation

    /// Checks every limit's kind and range, and the relations between them.
    ///
    /// Throws the first problem found, in key order, with a message that says what to change.
    public func validate() throws(LimitError) {
        for (key, value) in entries {
            switch (key.isText, value) {
            case (true, .integer), (false, .text): throw .wrongValueType(key)
            default: break
            }
            switch (key, value) {
            case (.memoryMax, .integer(let bytes)):
                try Self.check(key, bytes, Self.minimumMemory, Self.maximumMemory)
            case (.memorySwapMax, .integer(let bytes)):
                guard let memory = integer(.memoryMax) else { throw .swapWithoutMemory }
                if bytes == -1 { break }
                try Self.check(key, bytes, Self.minimumMemory, Self.maximumMemory)
                if bytes < memory { throw .swapBelowMemory(swap: bytes, memory: memory) }
            case (.pidsMax, .integer(let count)):
                if count == -1 { break }
                try Self.check(key, count, 1, Self.maximumPids)
            case (.cpuQuotaMicros, .integer(let micros)):
                try Self.check(key, micros, Self.minimumCPUMicros, Int64(Int32.max) * 1_000)
            case (.cpuPeriodMicros, .integer(let micros)):
                try Self.check(key, micros, Self.minimumCPUMicros, Self.maximumCPUPeriodMicros)
            case (.cpuWeight, .integer(let weight)), (.ioWeight, .integer(let weight)):
                try Self.check(key, weight, 1, 10_000)
            case (.cpusetCpus, .text(let list)):
                guard Self.isValidCPUList(list) else { throw .invalidCpuset(list) }
            default:
                break
            }
        }
    }

    private static func check(_ key: ResourceLimitKey, _ value: Int64, _ low: Int64, _ high: Int64) throws(LimitError) {
        if value < low { throw .belowMinimum(key, value: value, minimum: low) }
        if value > high { throw .aboveMaximum(key, value: value, maximum: high) }
    }

    /// Whether `list` is a cpuset list like `0-3,5`: comma-separated numbers or ascending ranges.
    public static func isValidCPUList(_ list: String) -> Bool {
        guard !list.isEmpty else { return false }
        for part in list.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            switch bounds.count {
            case 1:
                guard Int(bounds[0]) != nil, bounds[0].allSatisfy(\.isASCIIDigit) else { return false }
            case 2:
                guard bounds[0].allSatisfy(\.isASCIIDigit), bounds[1].allSatisfy(\.isASCIIDigit),
                      let low = Int(bounds[0]), let high = Int(bounds[1]), low <= high else { return false }
            default:
                return false
            }
        }
        return true
    }

    // MARK: conversions

    /// Converts cgroup v1 `cpu.shares` (2...262144) to a cgroup v2 weight (1...10000), as runc does.
    public static func cpuWeight(fromShares shares: Int64) -> Int64 {
        let clamped = min(max(shares, 2), 262_144)
        return 1 + ((clamped - 2) * 9_999) / 262_142
    }

    /// Converts a cgroup v2 weight (1...10000) to cgroup v1 `cpu.shares` (2...262144).
    public static func cpuShares(fromWeight weight: Int64) -> Int64 {
        let clamped = min(max(weight, 1), 10_000)
        return 2 + ((clamped - 1) * 262_142) / 9_999
    }

    // MARK: encoding

    /// Magic byte of the encoding ("L").
    static let magic: UInt8 = 0x4C
    /// Encoding version.
    static let version: UInt8 = 1

    /// Encodes the batch compactly for one helper call.
    ///
    /// Layout: magic `0x4C`, version `1`, entry count, then per entry the key's raw value and
    /// either a zigzag LEB128 integer or a LEB128 length followed by UTF-8 bytes (text keys).
    /// Entries are in key order, so equal batches encode to equal bytes.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(3 + values.count * 6)
        out.append(Self.magic)
        out.append(Self.version)
        out.append(UInt8(count))
        for index in values.indices {
            guard let value = values[index] else { continue }
            out.append(UInt8(index + 1))
            switch value {
            case .integer(let number):
                Self.appendVarint(UInt64(bitPattern: (number << 1) ^ (number >> 63)), to: &out)
            case .text(let text):
                let utf8 = Array(text.utf8)
                Self.appendVarint(UInt64(utf8.count), to: &out)
                out.append(contentsOf: utf8)
            }
        }
        return out
    }

    /// Decodes bytes written by ``encode()``; rejects unknown keys, duplicates, wrong value
    /// kinds, truncation and trailing bytes.
    public static func decode(_ bytes: [UInt8]) throws(LimitError) -> ResourceLimitBatch {
        guard bytes.count >= 3 else { throw .malformedEncoding("\(bytes.count) bytes is shorter than the 3-byte header") }
        guard bytes[0] == magic else { throw .malformedEncoding("first byte is \(bytes[0]), expected \(magic)") }
        guard bytes[1] == version else { throw .malformedEncoding("version \(bytes[1]) is not supported (expected \(version))") }
        let count = Int(bytes[2])
        var batch = ResourceLimitBatch()
        var position = 3
        for entry in 0..<count {
            guard position < bytes.count else { throw .malformedEncoding("entry \(entry + 1) of \(count) is missing") }
            let raw = bytes[position]
            position += 1
            guard let key = ResourceLimitKey(rawValue: raw) else { throw .malformedEncoding("unknown key \(raw)") }
            guard batch[key] == nil else { throw .malformedEncoding("key \(key.name) appears twice") }
            let number = try readVarint(bytes, &position)
            if key.isText {
                guard number <= UInt64(bytes.count - position) else {
                    throw .malformedEncoding("text of \(key.name) runs past the end")
                }
                let end = position + Int(number)
                guard let text = String(validating: bytes[position..<end], as: UTF8.self) else {
                    throw .malformedEncoding("text of \(key.name) is not UTF-8")
                }
                position = end
                batch.set(key, text)
            } else {
                let signed = Int64(bitPattern: (number >> 1) ^ (0 &- (number & 1)))
                batch.set(key, signed)
            }
        }
        guard position == bytes.count else {
            throw .malformedEncoding("\(bytes.count - position) trailing bytes after \(count) entries")
        }
        return batch
    }

    private static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    private static func readVarint(_ bytes: [UInt8], _ position: inout Int) throws(LimitError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw .malformedEncoding("a number runs past the end") }
            let byte = bytes[position]
            position += 1
            guard shift < 64, !(shift == 63 && byte > 1) else { throw .malformedEncoding("a number is longer than 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }
}
