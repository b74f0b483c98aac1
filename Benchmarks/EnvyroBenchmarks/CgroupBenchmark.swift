// The per-run cgroup cost (envyro-helper-bench --cgroup, and a root test in EnvyroCgroupTests).
import EnvyroCgroup
import EnvyroSystem
import Glibc

/// A timing loop for the per-run cgroup cost: create (with limits) + attach + remove.
public enum CgroupBenchmark {
    /// Medians over the iterations, in microseconds.
    public struct Result: Sendable, Equatable, CustomStringConvertible {
        /// How many runs were timed.
        public var iterations: Int
        /// create + attach + remove.
        public var medianMicros: Double
        /// 90th percentile of the total.
        public var p90Micros: Double
        /// mkdir in every hierarchy + limit writes.
        public var createMicros: Double
        /// cgroup.procs writes.
        public var attachMicros: Double
        /// rmdir in every hierarchy (the cgroup is empty by then).
        public var removeMicros: Double

        public var description: String {
            func f(_ v: Double) -> String { String(Int((v * 10).rounded())).withDecimal }
            return "cgroup per-run cost over \(iterations) runs: median \(f(medianMicros)) µs (p90 \(f(p90Micros)) µs; create+limits \(f(createMicros)), attach \(f(attachMicros)), remove \(f(removeMicros)))"
        }
    }

    /// Times `iterations` runs of create(`limits`) + attach(`pid`) + remove in `subtree`.
    /// Between attach and remove the process is moved to a parking cgroup (not timed), as the
    /// real run's process would have exited. `pid` must be a throwaway process the caller
    /// started for this (e.g. `sleep 60`): it is killed when the parking cgroup is removed at
    /// the end.
    public static func run(subtree: CgroupSubtree, limits: CgroupLimits, pid: Int32, iterations: Int) throws(CgroupError) -> Result {
        let park = try ContainerCgroup.create(in: subtree, name: ContainerCgroup.uniqueName(sequence: 999_999_999), limits: CgroupLimits())
        defer { try? park.remove() }
        var totals: [Double] = [], creates: [Double] = [], attaches: [Double] = [], removes: [Double] = []
        for i in 0..<max(iterations, 1) {
            let t0 = Clock.monotonicNanoseconds()
            let c = try ContainerCgroup.create(in: subtree, name: ContainerCgroup.uniqueName(sequence: UInt64(i)), limits: limits)
            let t1 = Clock.monotonicNanoseconds()
            do {
                try c.attach(pid: pid)
            } catch {
                try? park.attach(pid: pid)
                try? c.remove()
                throw error
            }
            let t2 = Clock.monotonicNanoseconds()
            try park.attach(pid: pid)
            let t3 = Clock.monotonicNanoseconds()
            try c.remove()
            let t4 = Clock.monotonicNanoseconds()
            creates.append(Double(t1 - t0) / 1000)
            attaches.append(Double(t2 - t1) / 1000)
            removes.append(Double(t4 - t3) / 1000)
            totals.append(Double((t2 - t0) + (t4 - t3)) / 1000)
        }
        return Result(iterations: totals.count, medianMicros: percentile(totals, 0.5), p90Micros: percentile(totals, 0.9),
                      createMicros: percentile(creates, 0.5), attachMicros: percentile(attaches, 0.5),
                      removeMicros: percentile(removes, 0.5))
    }

    /// The `q` quantile (nearest rank) of `values`.
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        if values.isEmpty { return 0 }
        let sorted = values.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }
}

extension String {
    /// "1234" (tenths) → "123.4".
    fileprivate var withDecimal: String {
        let digits = count < 2 ? String(repeating: "0", count: 2 - count) + self : self
        return String(digits.dropLast()) + "." + String(digits.suffix(1))
    }
}
