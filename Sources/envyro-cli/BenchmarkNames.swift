// `envyro bench` (the Bench command in Envyro.swift) runs the benchmark library
// (Benchmarks/EnvyroBenchmarks); these names bring its entry points into this module.
import EnvyroBenchmarks

/// The engine's micro-benchmarks (Benchmarks/EnvyroBenchmarks/EngineBenchmarks.swift).
typealias EngineBenchmarks = EnvyroBenchmarks.EngineBenchmarks

/// The I/O worker's capture benchmarks (Benchmarks/EnvyroBenchmarks/IOBenchmarks.swift), with the
/// call `envyro bench --io` makes. `smallFiles` and `largeFileBytes` sized the file-read figures,
/// retired with the I/O worker's read verbs; they are accepted and unused.
enum IOBenchmarks {
    static func run(directory: String, workerPath: String, smallFiles: Int, largeFileBytes: Int,
                    captureBytes: Int) throws -> [(key: String, value: Double, unit: String)] {
        try EnvyroBenchmarks.IOBenchmarks.run(directory: directory, workerPath: workerPath, captureBytes: captureBytes)
    }
}
