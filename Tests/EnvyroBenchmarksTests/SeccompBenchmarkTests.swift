import EnvyroBenchmarks
import EnvyroSeccomp
import Testing

@Suite("The seccomp compile benchmark")
struct SeccompBenchmarkTests {
    /// `policy/seccomp/<name>.json` of this package, loaded.
    func shipped(_ name: String) throws -> SeccompProfile {
        let root = String(#filePath.split(separator: "/").dropLast(3).joined(separator: "/"))
        return try SeccompProfile.load(path: "/\(root)/policy/seccomp/\(name).json")
    }

    @Test("The benchmark reports compile times of the shipped profiles")
    func benchmark() throws {
        let result = try SeccompCompiler.benchmark(iterations: 30, profiles: [try shipped("strict"), try shipped("default")])
        for entry in result.entries {
            print("seccomp compile \(entry.path): median \(entry.medianMicros) µs, \(entry.instructionCount) instructions")
            #expect(entry.medianMicros > 0)
        }
        let quick = SeccompCompiler.benchmark(iterations: 30)
        print("seccomp compile, both shipped profiles: median \(quick.compileMicros) µs")
        #expect(quick.compileMicros.isFinite)
        #expect(quick.loadCachedMicros == nil)
    }
}
