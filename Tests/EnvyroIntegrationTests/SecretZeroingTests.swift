import Foundation
import Testing

extension Integration {
/// The context pool holds the only copy of a run's argv and environment, and zeroes it when the
/// run is over (issue 15, item 4): after a run through the daemon, neither the supervisor nor its
/// helpers hold the run's secret anywhere in their memory, freed memory included.
@Suite("SecretZeroing: a run's secrets are gone from the daemon's processes after it")
struct DaemonSecretZeroingTests {
    /// 48 random letters and digits: valid in an environment value, an argument and JSON, and
    /// found nowhere else by chance.
    static func freshSecret() -> [UInt8] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var rng = SystemRandomNumberGenerator()
        return (0..<48).map { _ in alphabet[Int(rng.next(upperBound: UInt64(alphabet.count)))] }
    }

    /// Every readable mapping of process `pid` (/proc/PID/maps), read through /proc/PID/mem and
    /// searched for `needle`; the addresses where it was found. Mappings that can't be read
    /// (vvar, vsyscall, guard pages) are skipped.
    static func occurrences(of needle: [UInt8], inProcess pid: Int32) -> [String] {
        guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return [] }
        let fd = open("/proc/\(pid)/mem", O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var found: [String] = []
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[1].hasPrefix("r") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16), end > start else { continue }
            var region = [UInt8](repeating: 0, count: Int(end - start))
            let got = region.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(Int64(bitPattern: start))) }
            guard got > 0 else { continue }
            let hits = region.withUnsafeBytes { raw -> [Int] in
                var hits: [Int] = []
                var offset = 0
                while offset + needle.count <= got {
                    guard let p = memchr(raw.baseAddress! + offset, Int32(needle[0]), got - offset - needle.count + 1) else { break }
                    let at = raw.baseAddress!.distance(to: UnsafeRawPointer(p))
                    if memcmp(raw.baseAddress! + at, needle, needle.count) == 0 { hits.append(at) }
                    offset = at + 1
                }
                return hits
            }
            let name = fields.count >= 6 ? String(fields[5]) : "[anonymous]"
            for h in hits { found.append("0x\(String(start + UInt64(h), radix: 16)) in \(name)") }
        }
        return found
    }

    /// `pid` and every process below it.
    static func tree(_ pid: Int32) -> [Int32] {
        [pid] + Harness.children(of: pid).flatMap { tree($0) }
    }

    @Test("after a run with a secret in its environment and its argv, the supervisor and its helpers hold no copy of it")
    func secretsAreGone() throws {
        guard Harness.isRoot else {
            print("skipped: reading another process's memory (/proc/PID/mem) needs root")
            return
        }
        let d = try Daemon()
        defer { _ = d.stop() }
        let secret = Self.freshSecret()
        let text = String(decoding: secret, as: UTF8.self)
        // The secret travels in an environment variable and as an argument: in the client's JSON,
        // the supervisor's plan, the helper's request and the container's execve.
        let run = try Harness.envyro(["run", "--supervisor", d.socket, "--env", "ENVYRO_TEST_SECRET=\(text)",
                                      "--", "sh", "-c", "test \"$ENVYRO_TEST_SECRET\" = \"$0\"", text])
        #expect(run.status == 0, "the container saw its secret: \(run.stderr)")

        // Checked in the daemon and every process it started (helpers, prewarmed containers not
        // yet given a run); the run's own container has exited. Never this process: it made the
        // secret and holds it.
        let supervisor = d.process.processIdentifier
        let processes = Self.tree(supervisor)
        #expect(processes.count > 1, "the daemon has started its helpers")
        var leaks: [String] = []
        for pid in processes where pid != getpid() {
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? "?"
            for place in Self.occurrences(of: secret, inProcess: pid) {
                leaks.append("pid \(pid) (\(URL(fileURLWithPath: exe).lastPathComponent)): \(place)")
            }
        }
        #expect(leaks.isEmpty, "copies of the run's secret left behind:\n\(leaks.joined(separator: "\n"))")
    }

    @Test("the scan finds a secret a process does hold (the check can fail)")
    func scanFindsWhatIsThere() throws {
        guard Harness.isRoot else {
            print("skipped: reading another process's memory (/proc/PID/mem) needs root")
            return
        }
        // A process of our own that keeps the secret in its argv (on its stack) while it waits on
        // its stdin (a builtin: no child outlives it holding our output open).
        let secret = Self.freshSecret()
        let p = Process()
        let stdin = Pipe()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "read line", String(decoding: secret, as: UTF8.self)]
        p.standardInput = stdin
        try p.run()
        defer { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        #expect(!Self.occurrences(of: secret, inProcess: p.processIdentifier).isEmpty)
    }
}
}

extension Integration.DaemonSecretZeroingTests {
    typealias Daemon = Integration.DaemonTests.Daemon
}
