import Foundation
import Testing

extension Integration {
/// `--log-dir`: the container's output goes to files through the I/O worker.
@Suite("log capture")
struct LogTests {
    static let identities = Harness.Identity.allCases.filter(\.available)

    @Test("stdout and stderr go to files, not to the terminal", arguments: identities)
    func capture(who: Harness.Identity) throws {
        let dir = Harness.scratchDirectory("logs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Harness.envyro(["run", "--log-dir", dir.path, "--json", "--", "sh", "-c", "echo out; echo err >&2; exit 2"], as: who)
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        #expect(try String(contentsOf: dir.appendingPathComponent("stdout.log"), encoding: .utf8) == "out\n")
        #expect(try String(contentsOf: dir.appendingPathComponent("stderr.log"), encoding: .utf8) == "err\n")
        #expect(r.stderr.contains("\"stdoutBytes\":4"))
    }

    @Test("a per-stream cap truncates with a marker, and a writer past the cap never blocks")
    func cap() throws {
        let dir = Harness.scratchDirectory("logcap")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Harness.envyro(["run", "--log-dir", dir.path, "--log-limit", "64K", "--json", "--",
                                    "sh", "-c", "head -c 20000000 /dev/zero; echo done >&2"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try Data(contentsOf: dir.appendingPathComponent("stdout.log"))
        let marker = "\n[envyro: output truncated at 65536 bytes]\n"
        #expect(out.count == 65536 + marker.utf8.count)
        #expect(String(decoding: out.suffix(marker.utf8.count), as: UTF8.self) == marker)
        #expect(r.stderr.contains("\"stdoutTruncated\":true"))
        #expect(try String(contentsOf: dir.appendingPathComponent("stderr.log"), encoding: .utf8) == "done\n")
    }

    @Test("--log-tee also prints the output")
    func tee() throws {
        let dir = Harness.scratchDirectory("logtee")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Harness.envyro(["run", "--log-dir", dir.path, "--log-tee", "--", "echo", "both"])
        #expect(r.stdout == "both\n")
        #expect(try String(contentsOf: dir.appendingPathComponent("stdout.log"), encoding: .utf8) == "both\n")
    }

    @Test("log flags without --log-dir, or a --log-dir that is a file, are clear errors", arguments: [
        (["--log-limit", "1M"], "--log-limit and --log-tee need --log-dir DIR"),
        (["--log-dir", "/etc/passwd"], "--log-dir /etc/passwd: not a directory"),
        (["--log-dir", "/tmp/envyro-log-refused", "--log-limit", "lots"], "--log-limit lots"),
    ])
    func badFlags(flags: [String], message: String) throws {
        let r = try Harness.envyro(["run"] + flags + ["--", "true"])
        #expect(r.status == 125)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        // A refused run makes nothing: not even the log directory it named.
        #expect(!FileManager.default.fileExists(atPath: "/tmp/envyro-log-refused"))
    }

    @Test("through the daemon, a relative --log-dir is the caller's")
    func daemonRelative() throws {
        let d = try DaemonTests.Daemon()
        defer { _ = d.stop() }
        let dir = Harness.scratchDirectory("logrel")
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try Harness.run(["/bin/sh", "-c", "cd \(dir.path) && \(Harness.envyro) run --supervisor \(d.socket) --log-dir out -- echo relative"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(try String(contentsOf: dir.appendingPathComponent("out/stdout.log"), encoding: .utf8) == "relative\n")
    }
}
}
