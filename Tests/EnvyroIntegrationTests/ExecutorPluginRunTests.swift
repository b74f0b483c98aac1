import Foundation
import Testing

extension Integration {
/// Executor plugins on the real run path: registered from the policy's descriptor directory,
/// listed by `envyro executors`, refused by name where the policy forbids them, and run with the
/// runtime the container's own root has.
@Suite("executor plugins")
struct ExecutorPluginRuns {
    static let identities = Harness.Identity.allCases.filter(\.available)

    @Test("envyro executors lists the built-in types and the policy's plugins, and says which strict forbids")
    func listed() throws {
        let d = try Harness.envyro(["executors"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(d.stdout.split(separator: "\n").map { String($0.split(separator: "\t").first ?? "") } == ["native", "python", "shell", "wasm"], "\(d.stdout)")
        let s = try Harness.envyro(["executors", "--policy", "strict"])
        #expect(s.stdout.contains("python\t") && s.stdout.contains("(not allowed by policy strict)"), "\(s.stdout)")
    }

    @Test("--executor python runs a script with the container's python3", arguments: identities)
    func python(who: Harness.Identity) throws {
        let r = try Harness.envyro(["run", "--executor", "python", "--", "import os, sys; print(6 * 7, sys.argv[1:], os.getpid())", "a", "b"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "42 ['a', 'b'] 1\n", "\(r.stdout)")
    }

    @Test("a plugin the policy does not allow is refused by name")
    func refused() throws {
        let r = try Harness.envyro(["run", "--policy", "strict", "--executor", "python", "--", "print(1)"])
        #expect(r.status == 125)
        #expect(r.stderr.contains("--executor python is not allowed by policy strict (allowed: native, shell)"), "\(r.stderr)")
    }

    @Test("--executor wasm uses the runtime the rootfs has, and names the runtimes when it has none", arguments: identities)
    func wasm(who: Harness.Identity) throws {
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else { throw Harness.SkipInfo("no /bin/busybox") }
        let dir = Harness.scratchDirectory("wasm")
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("root")
        for sub in ["bin", "usr/bin", "tmp", "app", "proc", "dev"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root.appendingPathComponent("bin/busybox").path)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("bin/sh").path, withDestinationPath: "busybox")
        // A stand-in runtime: proves which runtime the plugin chose and what it was given.
        try "#!/bin/sh\necho \"wasmedge got: $*\"\n".write(to: root.appendingPathComponent("usr/bin/wasmedge"), atomically: false, encoding: .utf8)
        _ = try Harness.run(["/bin/chmod", "-R", "a+rX", dir.path])
        _ = try Harness.run(["/bin/chmod", "0755", root.appendingPathComponent("usr/bin/wasmedge").path])
        let r = try Harness.envyro(["run", "--rootfs", root.path, "--executor", "wasm", "--", "/app/mod.wasm", "x"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "wasmedge got: /app/mod.wasm x\n", "\(r.stdout)")
        let none = try Harness.envyro(["run", "--executor", "wasm", "--", "/app/mod.wasm"], as: who)
        #expect(none.status == 125)
        #expect(none.stderr.contains("none of its runtimes (/usr/bin/wasmtime"), "\(none.stderr)")
    }
}
}
