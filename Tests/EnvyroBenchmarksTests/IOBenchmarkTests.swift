import EnvyroBenchmarks
import Foundation
import Testing

@Suite("The I/O benchmarks")
struct BenchmarkTests {
    @Test("A small benchmark run reports every figure for both backends")
    func smallRun() throws {
        let figures = try IOBenchmarks.run(smallFiles: 20, largeFileBytes: 4 << 20, captureBytes: 8 << 20)
        let keys = Set(figures.map(\.key))
        for backend in ["io_uring", "syscalls"] {
            #expect(keys.contains("io.small_4k.\(backend)"))
            #expect(keys.contains("io.large_read.\(backend)"))
            #expect(keys.contains("io.capture_1g.\(backend).splice.cap_1m.throughput"))
            #expect(keys.contains("io.capture_1g.\(backend).read_write.uncapped.worker_cpu"))
        }
        #expect(figures.allSatisfy { $0.value >= 0 && $0.value.isFinite })
        if let full = ProcessInfo.processInfo.environment["ENVYRO_IO_BENCH"], full == "1" {
            for f in try IOBenchmarks.run() { print("BENCH \(f.key) \(f.value) \(f.unit)") }
        }
    }
}
