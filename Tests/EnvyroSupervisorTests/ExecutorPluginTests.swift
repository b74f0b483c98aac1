import EnvyroEngine
import EnvyroJSON
import EnvyroSupervisor
import Foundation
import Testing

/// Executor plugins: descriptor files read strictly, and the plan a plugin makes from the
/// runtime it finds in the container's root. No containers here: see the integration tests.
@Suite("executor plugins")
struct ExecutorPluginTests {
    static func parse(_ text: String) throws -> DescriptorExecutor {
        try ExecutorPlugins.parse(JSONParser.parse(text), path: "x.json")
    }

    @Test("a descriptor becomes an executor whose plan is runtime, its arguments, then the user's")
    func plan() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("plugin-root-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("opt/bin"), withIntermediateDirectories: true)
        let runtime = root.appendingPathComponent("opt/bin/rt").path
        FileManager.default.createFile(atPath: runtime, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        let p = try Self.parse(#"{"schemaVersion": 1, "type": "rt", "summary": "s", "runtimes": [{"path": "/missing/rt", "arguments": ["-x"]}, {"path": "/opt/bin/rt", "arguments": ["run", "--"]}]}"#)
        let plan = try p.prepare(ExecutorSpec(argv: ["m", "a"], env: ["A=1"], cwd: "", rootfs: root.path))
        #expect(plan.argv == ["/opt/bin/rt", "run", "--", "m", "a"])
        #expect(plan.cwd == "/" && plan.env == ["A=1"])
    }

    @Test("a plugin whose runtime is in no root says which paths it looked for")
    func missingRuntime() throws {
        let p = try Self.parse(#"{"schemaVersion": 1, "type": "rt", "summary": "s", "runtimes": [{"path": "/opt/none/rt"}]}"#)
        #expect(throws: ExecutorError.self) { try p.prepare(ExecutorSpec(argv: ["m"], rootfs: "/nonexistent-root")) }
        do { _ = try p.prepare(ExecutorSpec(argv: ["m"])) } catch {
            #expect("\(error)".contains("/opt/none/rt") && "\(error)".contains("default root"), "\(error)")
        }
    }

    @Test("a plugin checks its argument count and suffix before looking for a runtime")
    func arguments() throws {
        let p = try Self.parse(#"{"schemaVersion": 1, "type": "w", "summary": "s", "runtimes": [{"path": "/usr/bin/true"}], "minimumArguments": 1, "requiredSuffix": ".wasm"}"#)
        #expect(throws: ExecutorError.self) { try p.validate(ExecutorSpec(argv: [])) }
        #expect(throws: ExecutorError.self) { try p.validate(ExecutorSpec(argv: ["m.py"])) }
        try p.validate(ExecutorSpec(argv: ["m.wasm"]))
    }

    @Test("a broken descriptor is an error naming the file and the key", arguments: [
        (#"{"schemaVersion": 1, "type": "x", "summary": "s", "runtimes": [{"path": "/a"}], "extra": 1}"#, "x.json: extra: unknown key"),
        (#"{"schemaVersion": 2, "type": "x", "summary": "s", "runtimes": [{"path": "/a"}]}"#, "x.json: schemaVersion: must be 1"),
        (#"{"schemaVersion": 1, "type": "X Y", "summary": "s", "runtimes": [{"path": "/a"}]}"#, "x.json: type:"),
        (#"{"schemaVersion": 1, "type": "native", "summary": "s", "runtimes": [{"path": "/a"}]}"#, "is built in"),
        (#"{"schemaVersion": 1, "type": "x", "summary": "s", "runtimes": []}"#, "x.json: runtimes:"),
        (#"{"schemaVersion": 1, "type": "x", "summary": "s", "runtimes": [{"path": "relative"}]}"#, "x.json: runtimes[0].path:"),
        (#"{"schemaVersion": 1, "type": "x", "summary": "s", "runtimes": [{"path": "/a/../b"}]}"#, "x.json: runtimes[0].path:"),
        (#"{"schemaVersion": 1, "type": "x", "summary": "s", "runtimes": [{"path": "/a", "env": 1}]}"#, "x.json: runtimes[0].env: unknown key"),
        (#"{"schemaVersion": 1, "type": "x", "summary": "s", "runtimes": [{"path": "/a"}], "minimumArguments": 99}"#, "x.json: minimumArguments:"),
    ])
    func broken(text: String, message: String) throws {
        do {
            _ = try Self.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test("the shipped descriptors load: python and wasm")
    func shipped() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("policy/executors").path
        let plugins = try ExecutorPlugins.load(directory: dir)
        #expect(plugins.map(\.type) == ["python", "wasm"])
    }
}
