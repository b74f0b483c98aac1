// `envyro bench` (the Bench command in Envyro.swift) runs the benchmark library
// (Benchmarks/EnvyroBenchmarks); these names bring its entry points into this module.
import EnvyroBenchmarks

/// The engine's micro-benchmarks (Benchmarks/EnvyroBenchmarks/EngineBenchmarks.swift).
typealias EngineBenchmarks = EnvyroBenchmarks.EngineBenchmarks
/// The I/O worker's benchmarks (Benchmarks/EnvyroBenchmarks/IOBenchmarks.swift).
typealias IOBenchmarks = EnvyroBenchmarks.IOBenchmarks
