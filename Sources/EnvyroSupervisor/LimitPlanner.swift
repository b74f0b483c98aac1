import EnvyroEngine
import EnvyroPolicy
import EnvyroProtocol

/// Builds a run's `ResourceLimitBatch`: the profile, then the flags (last write wins), then the
/// policy's defaults for what is still unset; validates ranges and the policy's maxima, and
/// encodes it for the helper's one call.
public enum LimitPlanner {
    /// The part that depends only on the policy and the profile (kept in the run template).
    public static func base(profile: String?, policy: Policy) throws(SupervisorError) -> ResourceLimitBatch {
        var batch = ResourceLimitBatch()
        if let name = profile {
            do { batch = try OptimizedResourceLimits.profile(named: name).batch() } catch {
                throw .invalidRequest("--profile \(name): \(error)")
            }
        }
        return batch
    }

    /// The batch for one run: `base`, then the run's limit flags, then the policy's defaults.
    public static func batch(base: ResourceLimitBatch, flags: RunSpec, policy: Policy) throws(SupervisorError) -> ResourceLimitBatch {
        var b = base
        do {
            if let m = flags.memory { b.set(.memoryMax, try ResourceLimitBatch.parseSize(m)) }
            if let s = flags.memorySwap { b.set(.memorySwapMax, try ResourceLimitBatch.parseSize(s)) }
            if let c = flags.cpus { b.setCPUs(try ResourceLimitBatch.parseCPUs(c)) }
        } catch {
            throw .invalidRequest("\(error)")
        }
        if let p = flags.pidsLimit {
            guard p > 0 || p == -1 else { throw .invalidRequest("--pids-limit \(p): expected a positive number (or -1 for no limit)") }
            b.set(.pidsMax, p)
        }
        if let s = flags.cpuShares {
            guard (2...262_144).contains(s) else { throw .invalidRequest("--cpu-shares \(s): expected 2...262144") }
            b.set(.cpuWeight, ResourceLimitBatch.cpuWeight(fromShares: s))
        }
        if let c = flags.cpusetCpus { b.set(.cpusetCpus, c) }
        if let w = flags.blkioWeight {
            guard (10...1000).contains(w) else { throw .invalidRequest("--blkio-weight \(w): expected 10...1000") }
            b.set(.ioWeight, 1 + (w - 10) * 9999 / 990)
        }
        // A memory limit without a swap setting gets no extra swap, as podman does.
        if b.integer(.memoryMax) != nil && b.integer(.memorySwapMax) == nil && flags.memory != nil {
            b.set(.memorySwapMax, b.integer(.memoryMax)!)
        }

        let rules = policy.limits
        if b.integer(.memoryMax) == nil, let d = rules.defaultMemoryBytes { b.set(.memoryMax, d) }
        if b.integer(.pidsMax) == nil, let d = rules.defaultPids { b.set(.pidsMax, d) }
        if b.integer(.cpuQuotaMicros) == nil, let d = rules.defaultCPUs {
            b.set(.cpuPeriodMicros, 100_000)
            b.set(.cpuQuotaMicros, Int64((d * 100_000).rounded()))
        }
        do { try b.validate() } catch { throw .invalidRequest("\(error)") }

        // Maxima: a request may ask for less than the policy allows, never more.
        if let max = rules.maxMemoryBytes {
            let v = b.integer(.memoryMax) ?? -1
            if v < 0 || v > max {
                throw .notAllowed(v < 0 ? "an unlimited memory limit is not allowed by policy \(policy.name) (maximum \(ResourceLimitBatch.formatSizeLong(max)))"
                    : "--memory \(ResourceLimitBatch.formatSizeLong(v)) exceeds policy \(policy.name)'s maximum of \(ResourceLimitBatch.formatSizeLong(max))")
            }
        }
        if let max = rules.maxPids {
            let v = b.integer(.pidsMax) ?? -1
            if v < 0 || v > max {
                throw .notAllowed(v < 0 ? "an unlimited pids limit is not allowed by policy \(policy.name) (maximum \(max))"
                    : "--pids-limit \(v) exceeds policy \(policy.name)'s maximum of \(max)")
            }
        }
        if let max = rules.maxCPUs {
            let q = b.integer(.cpuQuotaMicros) ?? -1
            let cpus = q < 0 ? Double.infinity : Double(q) / Double(b.integer(.cpuPeriodMicros) ?? 100_000)
            if cpus > max + 1e-9 {
                throw .notAllowed(q < 0 ? "an unlimited CPU limit is not allowed by policy \(policy.name) (maximum \(max) CPUs)"
                    : "--cpus \(cpus) exceeds policy \(policy.name)'s maximum of \(max)")
            }
        }
        return b
    }

    /// The batch as the helper's wire limits (one call applies them all).
    public static func wire(_ b: ResourceLimitBatch) -> LimitSet {
        var l = LimitSet()
        l.memoryMax = b.integer(.memoryMax).flatMap { $0 > 0 ? $0 : nil }
        l.memorySwapMax = b.integer(.memorySwapMax)
        if l.memoryMax == nil { l.memorySwapMax = nil }
        l.pidsMax = b.integer(.pidsMax).flatMap { $0 > 0 ? $0 : nil }
        l.cpuQuotaMicros = b.integer(.cpuQuotaMicros).flatMap { $0 > 0 ? $0 : nil }
        if l.cpuQuotaMicros != nil { l.cpuPeriodMicros = b.integer(.cpuPeriodMicros).map { UInt64($0) } ?? 100_000 }
        l.cpuShares = b.integer(.cpuWeight).map { UInt64(max(2, ResourceLimitBatch.cpuShares(fromWeight: $0))) }
        l.cpusetCpus = b.text(.cpusetCpus)
        l.ioWeight = b.integer(.ioWeight).map { UInt16(clamping: $0) }
        return l
    }
}
