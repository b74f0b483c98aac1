import Testing
@testable import EnvyroEngine

@Suite("EngineStats")
struct EngineStatsTests {
    @Test("Stats print one line per part and flatten for JSON")
    func formatted() {
        let stats = EngineStats(
            contextPool: ContextPoolStats(size: 4, active: 0, recycled: 99, created: 1, peak: 1, dropped: 0, capacity: 16),
            namespaceCache: NamespaceCacheStats(hits: 99, misses: 1, evictions: 0, size: 1, capacity: 64))
        #expect(stats.formatted() == """
            context_pool: size=4 active=0 recycled=99 created=1 peak=1 dropped=0
            namespace_cache: hits=99 misses=1 evictions=0 size=1 capacity=64
            """)
        let fields = stats.jsonFields()
        #expect(fields.count == 11)
        #expect(fields.first { $0.0 == "context_pool_recycled" }?.1 == 99)
        #expect(fields.first { $0.0 == "namespace_cache_hits" }?.1 == 99)
    }

    @Test("Every part's stats gather into one value")
    func gathersAll() throws {
        let stats = EngineStats(
            contextPool: ContextPool().stats, bufferPool: try BufferPool(slabSize: 4096, slabCount: 1).stats,
            namespaceCache: NamespaceCache().stats, lazyResources: LazyResourcePool<String, Int>().stats,
            sharedResources: SharedResourceManager().stats, executors: ConcurrentExecutorRegistry().stats)
        let lines = stats.formatted().split(separator: "\n").map { String($0.prefix { $0 != ":" }) }
        #expect(lines == ["context_pool", "buffer_pool", "namespace_cache", "lazy_resources", "shared_resources", "executors"])
        #expect(stats.jsonFields().contains { $0.0 == "executors_types" && $0.1 == 2 })
    }

    @Test("Fixed-point formatting rounds without Foundation", arguments: [
        (0.0, 2, "0.00"), (1.005, 1, "1.0"), (12.345, 2, "12.35"), (-3.5, 0, "-4"), (0.99996, 4, "1.0000"),
    ])
    func fixed(value: Double, decimals: Int, text: String) {
        #expect(formatDouble(value, decimals: decimals) == text)
    }
}
