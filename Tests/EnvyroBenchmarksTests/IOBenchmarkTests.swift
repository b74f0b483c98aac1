import EnvyroBenchmarks
import Foundation
import Testing

@Suite("The I/O benchmarks")
struct BenchmarkTests {
    @Test("A small benchmark run reports every capture figure for both backends")
    func smallRun() throws {
        let figures = try IOBenchmarks.run(captureBytes: 8 << 20)
        let keys = Set(figures.map(\.key))
        for backend in ["io_uring", "syscalls"] {
            for method in ["splice", "read_write"] {
                for cap in ["uncapped", "cap_1m"] {
                    #expect(keys.contains("io.capture_1g.\(backend).\(method).\(cap).throughput"))
                    #expect(keys.contains("io.capture_1g.\(backend).\(method).\(cap).worker_cpu"))
                }
            }
        }
        #expect(figures.count == 16)
        #expect(figures.allSatisfy { $0.value >= 0 && $0.value.isFinite })
        if let full = ProcessInfo.processInfo.environment["ENVYRO_IO_BENCH"], full == "1" {
            for f in try IOBenchmarks.run() { print("BENCH \(f.key) \(f.value) \(f.unit)") }
        }
    }
}
