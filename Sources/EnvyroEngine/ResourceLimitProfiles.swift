// OptimizedResourceLimits: named limit profiles with per-field overrides on top.

/// Named limit profiles with per-field overrides on top.
///
/// ```swift
/// var limits = try OptimizedResourceLimits.profile(named: "standard")
/// limits.override(.memoryMax, try ResourceLimitBatch.parseSize("1g"))
/// let batch = try limits.validatedBatch()
/// ```
public struct OptimizedResourceLimits: Sendable, Hashable {
    /// The built-in profiles.
    public enum Profile: String, Sendable, Hashable, CaseIterable {
        /// Small, throttled: 64 MiB, no swap, 64 tasks, a quarter of a CPU, low weights.
        case minimal
        /// A general default: 512 MiB, no swap, 512 tasks, one CPU, default weights.
        case standard
        /// Large and unthrottled: 4 GiB, 4096 tasks, no CPU quota, high weights.
        case performance
    }

    /// The profile the limits start from.
    public let profile: Profile
    /// The fields changed on top of the profile.
    public private(set) var overrides: ResourceLimitBatch

    /// Starts from `profile` with no overrides.
    public init(profile: Profile) {
        self.profile = profile
        self.overrides = ResourceLimitBatch()
    }

    /// Looks a profile up by name (case-insensitive); an unknown name lists the valid ones.
    public static func profile(named name: String) throws(LimitError) -> OptimizedResourceLimits {
        guard let profile = Profile(rawValue: name.lowercased()) else {
            throw .unknownProfile(name, known: Profile.allCases.map(\.rawValue))
        }
        return OptimizedResourceLimits(profile: profile)
    }

    /// The profile's own limits, without overrides.
    public static func base(_ profile: Profile) -> ResourceLimitBatch {
        var batch = ResourceLimitBatch()
        switch profile {
        case .minimal:
            batch.set(.memoryMax, 64 << 20)
            batch.set(.memorySwapMax, 64 << 20)
            batch.set(.pidsMax, 64)
            batch.set(.cpuQuotaMicros, 25_000)
            batch.set(.cpuPeriodMicros, 100_000)
            batch.set(.cpuWeight, 50)
            batch.set(.ioWeight, 50)
        case .standard:
            batch.set(.memoryMax, 512 << 20)
            batch.set(.memorySwapMax, 512 << 20)
            batch.set(.pidsMax, 512)
            batch.set(.cpuQuotaMicros, 100_000)
            batch.set(.cpuPeriodMicros, 100_000)
            batch.set(.cpuWeight, 100)
            batch.set(.ioWeight, 100)
        case .performance:
            batch.set(.memoryMax, 4 << 30)
            batch.set(.memorySwapMax, 4 << 30)
            batch.set(.pidsMax, 4_096)
            batch.set(.cpuWeight, 1_000)
            batch.set(.ioWeight, 1_000)
        }
        return batch
    }

    /// Overrides one field (last write wins).
    public mutating func override(_ key: ResourceLimitKey, _ value: ResourceLimitValue) {
        overrides.set(key, value)
    }

    /// Overrides one numeric field (last write wins).
    public mutating func override(_ key: ResourceLimitKey, _ value: Int64) {
        overrides.set(key, value)
    }

    /// Overrides one text field (last write wins).
    public mutating func override(_ key: ResourceLimitKey, _ value: String) {
        overrides.set(key, value)
    }

    /// Overrides every field set in `batch`.
    public mutating func override(with batch: ResourceLimitBatch) {
        overrides = overrides.merging(batch)
    }

    /// The profile's limits with the overrides applied.
    public func batch() -> ResourceLimitBatch {
        Self.base(profile).merging(overrides)
    }

    /// ``batch()``, validated.
    public func validatedBatch() throws(LimitError) -> ResourceLimitBatch {
        let result = batch()
        try result.validate()
        return result
    }
}
