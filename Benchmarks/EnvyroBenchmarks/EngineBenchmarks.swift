// The engine's micro-benchmarks (`envyro bench`): the run path's pools, caches and limit batches.
import CEnvyro
import EnvyroEngine

/// One benchmark result for `envyro bench`.
public struct BenchmarkFigure: Sendable, Hashable {
    /// The figure's name including its unit, e.g. `namespace_cache_hit_ns` (the JSON key).
    public var key: String
    /// The measured value (a median where it is a time).
    public var value: Double
    /// The unit: `ns`, `us` or `ratio`.
    public var unit: String
    /// A human description for the table.
    public var label: String

    /// Creates a figure.
    public init(key: String, value: Double, unit: String, label: String) {
        self.key = key
        self.value = value
        self.unit = unit
        self.label = label
    }
}

/// The engine's micro-benchmarks: medians of repeated timed batches, measured with
/// `clock_gettime(CLOCK_MONOTONIC)`.
public enum EngineBenchmarks {
    /// Operations per timed batch for the per-operation figures; timing a batch instead of a
    /// single operation keeps the clock's own cost (about 20 ns) out of the figures.
    static let batch = 100

    /// Runs every benchmark `iterations` times (at least 3) and returns the figures in a fixed
    /// order: `context_start_ns`, `buffer_pool_1000_cycles_us`, `buffer_pool_reuse_ratio`,
    /// `namespace_cache_hit_ns`, `namespace_cache_miss_ns`, `limit_batch_build_encode_ns`,
    /// `context_pool_acquire_release_ns`, `context_pool_recycle_rate`.
    public static func run(iterations: Int) -> [BenchmarkFigure] {
        let rounds = max(iterations, 3)
        var figures: [BenchmarkFigure] = []

        // Container start: acquire a context, fill argv and env, prepare the exec plan, release.
        let pool = ContextPool(capacity: 8)
        let registry = ConcurrentExecutorRegistry()
        let argv = ["/bin/echo", "hello", "world"]
        let env = ["PATH=/usr/bin:/bin", "HOME=/root", "TERM=xterm", "LANG=C.UTF-8", "TOKEN=s3cr3t"]
        let start = medianPerOperation(rounds: rounds) {
            let context = pool.acquire()
            for argument in argv { context.appendArgument(argument) }
            for entry in env { context.appendEnvironment(entry) }
            context.cwd = "/"
            let plan = try? registry.prepare(type: "native", ExecutorSpec(argv: context.argv, env: context.env, cwd: context.cwd))
            blackHole(plan)
            pool.release(context)
        }
        figures.append(BenchmarkFigure(key: "context_start_ns", value: start, unit: "ns",
                                       label: "container start (context + fill + executor prepare + release)"))

        // Buffer pool: 1000 acquire / write / release cycles.
        if let buffers = try? BufferPool(slabSize: 64 * 1024, slabCount: 16) {
            let payload: [UInt8] = Array(repeating: 0x5A, count: 256)
            var samples: [Double] = []
            samples.reserveCapacity(rounds)
            for _ in 0..<rounds {
                let begin = monotonicNanoseconds()
                for _ in 0..<1_000 {
                    if let buffer = buffers.tryAcquire() {
                        try? buffer.write(payload)
                        buffers.release(buffer)
                    }
                }
                samples.append(Double(monotonicNanoseconds() &- begin) / 1_000)
            }
            figures.append(BenchmarkFigure(key: "buffer_pool_1000_cycles_us", value: median(samples), unit: "us",
                                           label: "buffer pool, 1000 acquire/write/release cycles"))
            figures.append(BenchmarkFigure(key: "buffer_pool_reuse_ratio", value: buffers.stats.reuseRatio, unit: "ratio",
                                           label: "buffer pool reuses / acquisitions"))
        } else {
            figures.append(BenchmarkFigure(key: "buffer_pool_1000_cycles_us", value: .nan, unit: "us",
                                           label: "buffer pool unavailable (memfd_create or mmap failed)"))
            figures.append(BenchmarkFigure(key: "buffer_pool_reuse_ratio", value: .nan, unit: "ratio",
                                           label: "buffer pool unavailable"))
        }

        // Namespace cache: hit and miss.
        let template = NamespaceTemplate(
            cloneFlags: ENVYRO_CLONE_NEWUSER | ENVYRO_CLONE_NEWPID | ENVYRO_CLONE_NEWNS | ENVYRO_CLONE_NEWUTS
                | ENVYRO_CLONE_NEWIPC | ENVYRO_CLONE_NEWNET)
        let hitCache = NamespaceCache(capacity: 64)
        let hitKey = benchmarkKey(0)
        hitCache.insert(template, for: hitKey)
        let hit = medianPerOperation(rounds: rounds) { blackHole(hitCache.lookup(hitKey)) }
        figures.append(BenchmarkFigure(key: "namespace_cache_hit_ns", value: hit, unit: "ns",
                                       label: "namespace cache hit"))
        let missCache = NamespaceCache(capacity: 64)
        let missKeys = (1...(rounds * batch)).map(benchmarkKey)
        var next = 0
        let miss = medianPerOperation(rounds: rounds) {
            let key = missKeys[next % missKeys.count]
            next += 1
            blackHole(missCache.getOrCreate(key) { template })
        }
        figures.append(BenchmarkFigure(key: "namespace_cache_miss_ns", value: miss, unit: "ns",
                                       label: "namespace cache miss (lookup + store + eviction, trivial build)"))

        // Limit batch: profile + overrides, validate, encode.
        let build = medianPerOperation(rounds: rounds) {
            var limits = OptimizedResourceLimits(profile: .standard)
            limits.override(.memoryMax, 256 << 20)
            limits.override(.memorySwapMax, 256 << 20)
            limits.override(.pidsMax, 128)
            let batch = try? limits.validatedBatch()
            blackHole(batch?.encode())
        }
        figures.append(BenchmarkFigure(key: "limit_batch_build_encode_ns", value: build, unit: "ns",
                                       label: "limit batch build (profile + 3 overrides) + validate + encode"))

        // Context pool alone.
        let bare = ContextPool(capacity: 8)
        let acquireRelease = medianPerOperation(rounds: rounds) {
            bare.release(bare.acquire())
        }
        let stats = bare.stats
        figures.append(BenchmarkFigure(key: "context_pool_acquire_release_ns", value: acquireRelease, unit: "ns",
                                       label: "context pool acquire + release"))
        figures.append(BenchmarkFigure(key: "context_pool_recycle_rate", value: stats.recycleRate, unit: "ratio",
                                       label: "context pool recycled / acquisitions"))
        return figures
    }

    /// A table of figures: label, value and unit, one per line.
    public static func formatted(_ figures: [BenchmarkFigure]) -> String {
        let width = (figures.map(\.label.count).max() ?? 0) + 2
        return figures.map { figure in
            let decimals = figure.unit == "ratio" ? 4 : (figure.value < 100 ? 1 : 0)
            return pad(figure.label, width) + pad(formatDouble(figure.value, decimals: decimals), 12, alignRight: true)
                + " " + figure.unit + "   (" + figure.key + ")"
        }.joined(separator: "\n")
    }

    /// Median nanoseconds per call of `operation`, over `rounds` batches of ``batch`` calls.
    static func medianPerOperation(rounds: Int, _ operation: () -> Void) -> Double {
        for _ in 0..<batch { operation() }  // warm up caches and pools
        var samples: [Double] = []
        samples.reserveCapacity(rounds)
        for _ in 0..<rounds {
            let begin = monotonicNanoseconds()
            for _ in 0..<batch { operation() }
            samples.append(Double(monotonicNanoseconds() &- begin) / Double(batch))
        }
        return median(samples)
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func benchmarkKey(_ number: Int) -> TemplateKey {
        TemplateKey(policyName: "default", policyDigest: "sha256:\(number)", namespaces: 0x7C02_0000,
                    networkMode: "none", rootfsKind: "directory", writable: false, runsInit: false)
    }
}

/// Keeps the optimizer from deleting a benchmarked computation.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}
