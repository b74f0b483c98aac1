import EnvyroJSON
import EnvyroPolicy
import Foundation
import Testing

/// One way to break a valid policy: set (or remove, for nil) `key`, expecting an error
/// built from the file path, that names `key` in its message.
struct BrokenPolicy: Sendable, CustomTestStringConvertible {
    let label: String
    let changes: [(String, JSONValue?)]
    let key: String
    let expected: @Sendable (String) -> PolicyError

    init(_ label: String, _ changes: [(String, JSONValue?)], key: String, _ expected: @escaping @Sendable (String) -> PolicyError) {
        self.label = label
        self.changes = changes
        self.key = key
        self.expected = expected
    }

    var testDescription: String { label }
}

@Suite("Policy validation")
struct PolicyValidationTests {
    static let broken: [BrokenPolicy] = [
        .init("an unknown top-level key", [("foo", 1)], key: "foo") { .unknownKey(path: $0, key: "foo") },
        .init("an unknown key in network", [("network.foo", true)], key: "network.foo") { .unknownKey(path: $0, key: "network.foo") },
        .init("an unknown key in rootfs", [("rootfs.extra", true)], key: "rootfs.extra") { .unknownKey(path: $0, key: "rootfs.extra") },
        .init("an unknown key in helper", [("helper.rate", 5)], key: "helper.rate") { .unknownKey(path: $0, key: "helper.rate") },
        .init("a missing name", [("name", nil)], key: "name") { .missingKey(path: $0, key: "name") },
        .init("a missing schemaVersion", [("schemaVersion", nil)], key: "schemaVersion") { .missingKey(path: $0, key: "schemaVersion") },
        .init("a missing section", [("audit", nil)], key: "audit") { .missingKey(path: $0, key: "audit") },
        .init("a missing helper.verbs", [("helper.verbs", nil)], key: "helper.verbs") { .missingKey(path: $0, key: "helper.verbs") },
        .init("a missing network.default", [("network.default", nil)], key: "network.default") { .missingKey(path: $0, key: "network.default") },
        .init("a string where a boolean belongs", [("rootfs.allowWritable", "yes")], key: "rootfs.allowWritable") {
            .wrongType(path: $0, key: "rootfs.allowWritable", expected: "a boolean")
        },
        .init("a fraction where an integer belongs", [("helper.maxFrameBytes", 4096.5)], key: "helper.maxFrameBytes") {
            .wrongType(path: $0, key: "helper.maxFrameBytes", expected: "an integer")
        },
        .init("a string where a section belongs", [("network", "none")], key: "network") {
            .wrongType(path: $0, key: "network", expected: "an object")
        },
        .init("a number inside env", [("process.env", [1])], key: "process.env[0]") {
            .wrongType(path: $0, key: "process.env[0]", expected: "a string")
        },
        .init("a string where a list belongs", [("namespaces", "user")], key: "namespaces") {
            .wrongType(path: $0, key: "namespaces", expected: "an array of strings")
        },
        .init("a numeric name", [("name", 3)], key: "name") { .wrongType(path: $0, key: "name", expected: "a string") },
        .init("schemaVersion 2", [("schemaVersion", 2)], key: "schemaVersion") { .unsupportedSchemaVersion(path: $0, version: 2) },
        .init("schemaVersion 2 with unknown keys", [("schemaVersion", 2), ("seccomp", [:])], key: "schemaVersion") {
            .unsupportedSchemaVersion(path: $0, version: 2)
        },
        .init("schemaVersion as a string", [("schemaVersion", "1")], key: "schemaVersion") {
            .wrongType(path: $0, key: "schemaVersion", expected: "an integer")
        },
        .init("an invalid name", [("name", "Not OK")], key: "name") {
            .invalidValue(path: $0, key: "name", reason: "'Not OK' must be 1-64 characters from a-z, 0-9, '_' and '-'")
        },
        .init("namespaces without pid", [("namespaces", ["user", "mount", "network"])], key: "namespaces") {
            .invalidValue(path: $0, key: "namespaces", reason: "must include 'pid'")
        },
        .init("an unknown namespace", [("namespaces", ["user", "pid", "mount", "time"])], key: "namespaces[3]") {
            .invalidValue(path: $0, key: "namespaces[3]", reason: "'time' is not one of: user, pid, mount, uts, ipc, cgroup, network")
        },
        .init("a repeated namespace", [("namespaces", ["user", "pid", "mount", "pid"])], key: "namespaces[3]") {
            .invalidValue(path: $0, key: "namespaces[3]", reason: "'pid' is listed twice")
        },
        .init("a default network not in allowed", [("network.allowed", ["none"]), ("network.default", "host")], key: "network.default") {
            .invalidValue(path: $0, key: "network.default", reason: "'host' is not in network.allowed")
        },
        .init("an unknown network default", [("network.default", "bridge")], key: "network.default") {
            .invalidValue(path: $0, key: "network.default", reason: "must be one of: none, host")
        },
        .init("an empty network.allowed", [("network.allowed", [])], key: "network.allowed") {
            .invalidValue(path: $0, key: "network.allowed", reason: "must not be empty")
        },
        .init(
            "network none without a network namespace",
            [("namespaces", ["user", "pid", "mount"])], key: "network.allowed"
        ) {
            .invalidValue(path: $0, key: "network.allowed", reason: "must be [\"host\"] when 'network' is not in namespaces")
        },
        .init("an empty verb list", [("helper.verbs", [])], key: "helper.verbs") {
            .invalidValue(path: $0, key: "helper.verbs", reason: "must not be empty")
        },
        .init("an unknown verb", [("helper.verbs", ["hello", "exec"])], key: "helper.verbs[1]") {
            .invalidValue(path: $0, key: "helper.verbs[1]", reason: "'exec' is not one of: hello, create, signal, collect, oci_create, oci_control, oci_exec")
        },
        .init("a frame cap below 1024", [("helper.maxFrameBytes", 512)], key: "helper.maxFrameBytes") {
            .invalidValue(path: $0, key: "helper.maxFrameBytes", reason: "512 is not between 1024 and 1048576")
        },
        .init("a frame cap above 1 MiB", [("helper.maxFrameBytes", 1_048_577)], key: "helper.maxFrameBytes") {
            .invalidValue(path: $0, key: "helper.maxFrameBytes", reason: "1048577 is not between 1024 and 1048576")
        },
        .init("a relative audit path", [("audit.path", "var/log/audit")], key: "audit.path") {
            .invalidValue(path: $0, key: "audit.path", reason: "must be \"auto\" or an absolute path")
        },
        .init("an env entry without '='", [("process.env", ["PATH=/bin", "NOEQUALS"])], key: "process.env[1]") {
            .invalidValue(path: $0, key: "process.env[1]", reason: "'NOEQUALS' is not NAME=value")
        },
        .init("an env entry with an empty name", [("process.env", ["=x"])], key: "process.env[0]") {
            .invalidValue(path: $0, key: "process.env[0]", reason: "'=x' is not NAME=value")
        },
        .init("a repeated env name", [("process.env", ["A=1", "A=2"])], key: "process.env[1]") {
            .invalidValue(path: $0, key: "process.env[1]", reason: "'A' is set twice")
        },
        .init("more env entries than maxEnv", [("process.maxEnv", 1)], key: "process.env") {
            .invalidValue(path: $0, key: "process.env", reason: "has 2 entries, more than maxEnv (1)")
        },
        .init("a zero maxArgs", [("process.maxArgs", 0)], key: "process.maxArgs") {
            .invalidValue(path: $0, key: "process.maxArgs", reason: "0 is not between 1 and 131072")
        },
        .init("too many pooled network namespaces", [("pools.networkNamespaces", 65)], key: "pools.networkNamespaces") {
            .invalidValue(path: $0, key: "pools.networkNamespaces", reason: "65 is not between 0 and 64")
        },
        .init("too many pooled cgroups", [("pools.cgroups", 65)], key: "pools.cgroups") {
            .invalidValue(path: $0, key: "pools.cgroups", reason: "65 is not between 0 and 64")
        },
        .init("an unknown key in pools", [("pools.netns", 1)], key: "pools.netns") { .unknownKey(path: $0, key: "pools.netns") },
    ]

    @Test("Each broken policy produces the named error, and its message names the file and key", arguments: broken)
    func brokenPolicy(_ c: BrokenPolicy) throws {
        let dir = try TempDirectory()
        defer { dir.cleanup() }
        var document = validPolicyDocument()
        for (key, value) in c.changes { document.set(path: key, value) }
        let path = try dir.write("broken.json", JSONValue.object(document).serialized(pretty: true))
        let error = #expect(throws: PolicyError.self) {
            try PolicyLoader.load(path, searchDirectories: [])
        }
        #expect(error == c.expected(path))
        let message = error?.description ?? ""
        #expect(message.hasPrefix(path + ": "))
        #expect(message.contains(c.key))
    }

    @Test("Parsing bytes directly reports the path given")
    func parseBytes() throws {
        let bytes = Array(JSONValue.object(validPolicyDocument()).serialized().utf8)
        let policy = try PolicyLoader.parse(bytes, path: "/virtual/custom.json")
        #expect(policy.sourcePath == "/virtual/custom.json")
        #expect(policy.name == "custom")
        #expect(policy.summary == "test policy")
        #expect(policy.process.maxArgs == 100)
    }

    @Test("Optional keys fall back to their defaults")
    func defaults() throws {
        var document = validPolicyDocument()
        document.set(path: "process.maxArgs", nil)
        document.set(path: "process.maxEnv", nil)
        document.set(path: "description", nil)
        let policy = try PolicyLoader.parse(Array(JSONValue.object(document).serialized().utf8), path: "p.json")
        #expect(policy.process.maxArgs == ProcessRules.defaultMaxArgs)
        #expect(policy.process.maxEnv == ProcessRules.defaultMaxEnv)
        #expect(policy.summary == nil)
        #expect(policy.pools.networkNamespaces == 4, "without a pools section, daemon helpers keep 4 idle network namespaces")
        #expect(policy.pools.cgroups == 4, "without a pools section, daemon helpers keep 4 reaped containers' cgroups for reuse")
    }

    @Test("Host-only networking is accepted without a network namespace and an absolute audit path is kept")
    func hostOnly() throws {
        var document = validPolicyDocument()
        document.set(path: "namespaces", ["user", "pid", "mount"])
        document.set(path: "network.allowed", ["host"])
        document.set(path: "network.default", "host")
        document.set(path: "audit.path", "/var/log/envyro/audit.log")
        let policy = try PolicyLoader.parse(Array(JSONValue.object(document).serialized().utf8), path: "p.json")
        #expect(policy.namespaces == [.user, .pid, .mount])
        #expect(policy.network == NetworkRules(allowed: [.host], default: .host))
        #expect(policy.audit.path == "/var/log/envyro/audit.log")
    }

    @Test("hostRoot: {trusted: true} trusts the host's root; absent, it doesn't; anything else is refused")
    func hostRoot() throws {
        var document = validPolicyDocument()
        #expect(try !PolicyLoader.parse(Array(JSONValue.object(document).serialized().utf8), path: "p.json").hostRootTrusted)
        document.set(path: "hostRoot", ["trusted": true])
        #expect(try PolicyLoader.parse(Array(JSONValue.object(document).serialized().utf8), path: "p.json").hostRootTrusted)
        for bad: JSONValue in [["trusted": "yes"], ["trusted": true, "caps": 1], "true"] {
            document.set(path: "hostRoot", bad)
            #expect(throws: PolicyError.self) { try PolicyLoader.parse(Array(JSONValue.object(document).serialized().utf8), path: "p.json") }
        }
    }

    @Test("limits.withoutCgroup: refuse by default, rlimits when asked, and anything else refused by name")
    func withoutCgroup() throws {
        var document = validPolicyDocument()
        func parse() throws -> Policy { try PolicyLoader.parse(Array(JSONValue.object(document).serialized().utf8), path: "p.json") }
        #expect(try parse().limits.withoutCgroup == .refuse)
        document.set(path: "limits.withoutCgroup", "rlimits")
        #expect(try parse().limits.withoutCgroup == .rlimits)
        document.set(path: "limits.withoutCgroup", "ignore")
        #expect(throws: PolicyError.invalidValue(path: "p.json", key: "limits.withoutCgroup", reason: "'ignore' is not one of: refuse, rlimits")) { try parse() }
    }

    static let badJSON: [(String, String)] = [
        ("{\n  \"name\": \"x\",\n}", "line 3, column 1: expected a string key, found '}'"),
        ("{\"name\": \"a\", \"name\": \"b\"}", "line 1, column 15: duplicate key 'name'"),
        ("", "line 1, column 1: unexpected end of input, expected a value"),
    ]

    @Test("Malformed JSON is reported with the file, line and column", arguments: badJSON)
    func invalidJSON(_ text: String, _ detail: String) throws {
        let dir = try TempDirectory()
        defer { dir.cleanup() }
        let path = try dir.write("bad.json", text)
        let error = #expect(throws: PolicyError.self) { try PolicyLoader.load(path, searchDirectories: []) }
        #expect(error == .invalidJSON(path: path, detail: detail))
        #expect(error?.description == "\(path): invalid JSON: \(detail)")
    }

    @Test("A document that is not an object is a type error")
    func notAnObject() {
        #expect(throws: PolicyError.wrongType(path: "x.json", key: "", expected: "a JSON object")) {
            try PolicyLoader.parse(Array("[1]".utf8), path: "x.json")
        }
    }
}
