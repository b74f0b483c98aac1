import EnvyroJSON
import Foundation

/// The repository's shipped policy directory, found relative to this file.
let repoPolicyDirectory: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // EnvyroPolicyTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // repo root
    .appendingPathComponent("policy").path

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("envyro-policy-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `contents` to `name` (creating parent directories) and returns the full path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let full = (path as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: full, atomically: false, encoding: .utf8)
        return full
    }

    func cleanup() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A complete, valid policy document to mutate in tests.
func validPolicyDocument(name: String = "custom") -> JSONObject {
    [
        "schemaVersion": 1,
        "name": .string(name),
        "description": "test policy",
        "namespaces": ["user", "pid", "mount", "uts", "ipc", "cgroup", "network"],
        "network": ["allowed": ["none", "host"], "default": "none"],
        "rootfs": ["allowWritable": true],
        "process": [
            "noNewPrivileges": true,
            "env": ["PATH=/usr/bin:/bin", "HOME=/root"],
            "allowInit": true,
            "maxArgs": 100,
            "maxEnv": 10,
        ],
        "audit": ["path": "auto", "failClosed": false],
        "helper": ["maxFrameBytes": 4096, "verbs": ["hello", "create", "signal"]],
    ]
}

extension JSONObject {
    /// Sets (or, for nil, removes) a key given as a dotted path into nested objects.
    mutating func set(path: String, _ value: JSONValue?) {
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        if parts.count == 1 {
            self[parts[0]] = value
            return
        }
        var child = self[parts[0]]?.objectValue ?? JSONObject()
        child.set(path: parts[1], value)
        self[parts[0]] = .object(child)
    }
}
