// Seccomp compile times of the shipped profiles (the cost a cached filter saves a run).
import EnvyroSeccomp
import EnvyroSystem
import Glibc

// Where the benchmark finds the shipped profiles (policy/seccomp/strict.json, default.json).
extension SeccompProfile {
    /// Directories that may hold the shipped profiles (`strict.json`, `default.json`), in
    /// search order: `$ENVYRO_POLICY_DIR/seccomp` (only if `allowEnvironment`; privileged
    /// helpers pass false), `policy/seccomp` and `share/envyro/policy/seccomp` beside the
    /// executable and up to 4 of its ancestors, `policy/seccomp` in the working directory,
    /// then the system policy directories.
    public static func searchDirectories(allowEnvironment: Bool) -> [String] {
        var result: [String] = []
        func add(_ directory: String) {
            if !result.contains(directory) { result.append(directory) }
        }
        if allowEnvironment, let value = Environment.get("ENVYRO_POLICY_DIR"), !value.isEmpty {
            add(value + "/seccomp")
        }
        var directory = Files.directory(of: (try? Files.realPath(Files.executablePath())) ?? Files.executablePath())
        for _ in 0..<5 {
            let base = directory == "/" ? "" : directory
            add(base + "/policy/seccomp")
            add(base + "/share/envyro/policy/seccomp")
            if directory == "/" { break }
            directory = Files.directory(of: directory)
        }
        if let cwd = try? Files.realPath(".") { add((cwd == "/" ? "" : cwd) + "/policy/seccomp") }
        for system in ["/etc/envyro/policy", "/usr/local/share/envyro/policy", "/usr/share/envyro/policy"] {
            add(system + "/seccomp")
        }
        return result
    }

    /// The path of the shipped profile `name` ("strict", "default") in the first of
    /// `searchDirectories(allowEnvironment:)` that has it, or nil.
    public static func shippedProfilePath(named name: String, allowEnvironment: Bool = false) -> String? {
        for directory in searchDirectories(allowEnvironment: allowEnvironment)
        where Files.kind(directory + "/\(name).json") == .regular {
            return directory + "/\(name).json"
        }
        return nil
    }
}

/// Compile times measured by `SeccompCompiler.benchmark(iterations:profiles:)`.
public struct SeccompBenchmarkResult: Sendable {
    /// One measured profile.
    public struct Entry: Sendable {
        /// The profile's path.
        public var path: String
        /// Median compile time in microseconds.
        public var medianMicros: Double
        /// Instructions in the compiled filter.
        public var instructionCount: Int
    }

    /// Per profile, in the order given.
    public var entries: [Entry]
    /// Median over every compile of every profile.
    public var overallMedianMicros: Double
}

extension SeccompCompiler {
    /// The median time to compile the shipped strict and default profiles (no capabilities),
    /// `iterations` times each, in microseconds. `loadCachedMicros` is nil: installing a filter
    /// is irreversible, so the load of cached BPF is measured in the container init, not here.
    /// `compileMicros` is NaN when the shipped profiles can't be found or don't compile.
    public static func benchmark(iterations: Int) -> (compileMicros: Double, loadCachedMicros: Double?) {
        var profiles: [SeccompProfile] = []
        for name in ["strict", "default"] {
            guard let path = SeccompProfile.shippedProfilePath(named: name, allowEnvironment: true),
                  let profile = try? SeccompProfile.load(path: path) else { return (.nan, nil) }
            profiles.append(profile)
        }
        guard let result = try? benchmark(iterations: iterations, profiles: profiles) else { return (.nan, nil) }
        return (result.overallMedianMicros, nil)
    }

    /// Compiles each of `profiles` `iterations` times (after one warm-up compile) with no
    /// capabilities and reports the medians.
    /// - Throws: `SeccompError` if a profile doesn't compile.
    public static func benchmark(iterations: Int, profiles: [SeccompProfile]) throws(SeccompError) -> SeccompBenchmarkResult {
        let rounds = max(1, iterations)
        var entries: [SeccompBenchmarkResult.Entry] = []
        var all: [Double] = []
        for profile in profiles {
            let warm = try compile(profile, capabilities: [])
            var samples: [Double] = []
            samples.reserveCapacity(rounds)
            for _ in 0..<rounds {
                let start = EnvyroSystem.Clock.monotonicNanoseconds()
                _ = try compile(profile, capabilities: [])
                samples.append(Double(EnvyroSystem.Clock.monotonicNanoseconds() - start) / 1000)
            }
            all += samples
            entries.append(.init(path: profile.path, medianMicros: median(samples), instructionCount: warm.instructionCount))
        }
        return SeccompBenchmarkResult(entries: entries, overallMedianMicros: median(all))
    }

    private static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
