import EnvyroBenchmarks
import Testing

@Suite("The engine benchmarks")
struct EngineBenchmarkTests {
    @Test("Benchmarks report every figure with its key and unit")
    func benchmarks() {
        let figures = EngineBenchmarks.run(iterations: 5)
        #expect(figures.map(\.key) == [
            "context_start_ns", "buffer_pool_1000_cycles_us", "buffer_pool_reuse_ratio", "namespace_cache_hit_ns",
            "namespace_cache_miss_ns", "limit_batch_build_encode_ns", "context_pool_acquire_release_ns",
            "context_pool_recycle_rate",
        ])
        for figure in figures {
            #expect(figure.value.isFinite && figure.value > 0, "\(figure.key) = \(figure.value)")
            let suffix = figure.unit == "ratio" ? (figure.key.hasSuffix("_rate") ? "_rate" : "_ratio") : "_" + figure.unit
            #expect(figure.key.hasSuffix(suffix))
        }
        #expect(figures.first { $0.key == "buffer_pool_reuse_ratio" }!.value > 0.99)
        #expect(figures.first { $0.key == "context_pool_recycle_rate" }!.value > 0.99)
        let table = EngineBenchmarks.formatted(figures)
        #expect(table.split(separator: "\n").count == 8)
        print(table)
    }
}
