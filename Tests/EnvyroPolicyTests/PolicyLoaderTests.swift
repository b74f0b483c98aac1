import EnvyroJSON
import EnvyroPolicy
import Foundation
import Testing

@Suite("Finding and reading policy files")
struct PolicyLoaderTests {
    static let resolution: [(String, Bool)] = [
        ("default", false),
        ("strict", false),
        ("my_policy-2", false),
        ("default.json", true),
        ("./default", true),
        ("/etc/envyro/policy/strict.json", true),
        ("policies/custom", true),
    ]

    @Test("Bare words are names; anything with a slash or .json is a path", arguments: resolution)
    func nameOrPath(_ input: String, _ isPath: Bool) {
        #expect(PolicyLoader.isPath(input) == isPath)
    }

    static let badNames = ["Default", "has space", "dots.in.name", "ümlaut", String(repeating: "a", count: 65), ""]

    @Test("Names outside [a-z0-9_-]{1,64} are rejected before any lookup", arguments: badNames)
    func invalidNames(_ name: String) {
        #expect(throws: PolicyError.invalidName(name)) {
            try PolicyLoader.load(name, searchDirectories: [repoPolicyDirectory])
        }
        #expect(PolicyError.invalidName(name).description.contains("'\(name)'"))
    }

    @Test("A name resolves in the first search directory that has it")
    func searchOrder() throws {
        let first = try TempDirectory()
        let second = try TempDirectory()
        defer { first.cleanup(); second.cleanup() }
        try second.write("mine.json", JSONValue.object(validPolicyDocument(name: "second")).serialized())
        let onlySecond = try PolicyLoader.load("mine", searchDirectories: [first.path, second.path])
        #expect(onlySecond.name == "second")
        #expect(onlySecond.sourcePath == second.path + "/mine.json")
        try first.write("mine.json", JSONValue.object(validPolicyDocument(name: "first")).serialized())
        let both = try PolicyLoader.load("mine", searchDirectories: [first.path, second.path])
        #expect(both.name == "first")
    }

    @Test("A name found nowhere lists every directory searched")
    func notFound() throws {
        let dirs = ["/nonexistent/one", repoPolicyDirectory]
        let error = #expect(throws: PolicyError.self) { try PolicyLoader.load("nope", searchDirectories: dirs) }
        #expect(error == .notFound(name: "nope", searched: dirs))
        #expect(error?.description == "policy 'nope' not found (looked in: /nonexistent/one, \(repoPolicyDirectory)); use --policy default|strict|FILE")
    }

    @Test("A missing file given as a path is unreadable with ENOENT")
    func missingPath() {
        let path = "/nonexistent/envyro/policy.json"
        let error = #expect(throws: PolicyError.self) { try PolicyLoader.load(path, searchDirectories: []) }
        #expect(error == .unreadable(path: path, errno: ENOENT))
        #expect(error?.description == "\(path): cannot read policy: No such file or directory (errno \(ENOENT))")
    }

    @Test("A directory is refused as not a regular file")
    func directory() throws {
        let dir = try TempDirectory()
        defer { dir.cleanup() }
        let path = dir.path + "/d.json"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        #expect(throws: PolicyError.unreadable(path: path, errno: EISDIR)) {
            try PolicyLoader.load(path, searchDirectories: [])
        }
    }

    @Test("A FIFO is refused without blocking")
    func fifo() throws {
        let dir = try TempDirectory()
        defer { dir.cleanup() }
        let path = dir.path + "/pipe.json"
        #expect(mkfifo(path, 0o600) == 0)
        let error = #expect(throws: PolicyError.self) { try PolicyLoader.load(path, searchDirectories: []) }
        #expect(error == .unreadable(path: path, errno: EINVAL))
        #expect(error?.description.contains("not a regular file") == true)
    }

    @Test("Files over 1 MiB are refused")
    func tooLarge() throws {
        let dir = try TempDirectory()
        defer { dir.cleanup() }
        let padding = String(repeating: " ", count: PolicyLoader.maxFileBytes)
        let path = try dir.write("big.json", JSONValue.object(validPolicyDocument()).serialized() + padding)
        let error = #expect(throws: PolicyError.self) { try PolicyLoader.load(path, searchDirectories: []) }
        #expect(error == .unreadable(path: path, errno: EFBIG))
        #expect(error?.description == "\(path): cannot read policy: file is larger than 1 MiB")
    }

    @Test("A file of exactly 1 MiB is still read")
    func exactlyLimit() throws {
        let dir = try TempDirectory()
        defer { dir.cleanup() }
        let body = JSONValue.object(validPolicyDocument()).serialized()
        let padding = String(repeating: "\n", count: PolicyLoader.maxFileBytes - body.utf8.count)
        let path = try dir.write("exact.json", body + padding)
        #expect(try PolicyLoader.load(path, searchDirectories: []).name == "custom")
    }

    @Test("Search directories include policy dirs found above the executable, then the system dirs")
    func searchDirectoriesNearExecutable() throws {
        let dir = try TempDirectory()
        defer { dir.cleanup() }
        let root = URL(fileURLWithPath: dir.path).resolvingSymlinksInPath().path
        try dir.write("prefix/bin/envyro", "")
        try dir.write("prefix/policy/default.json", "{}")
        try dir.write("prefix/share/envyro/policy/default.json", "{}")
        try dir.write("policy/strict.json", "{}")  // no default.json: not a policy dir
        let dirs = PolicyLoader.searchDirectories(executablePath: dir.path + "/prefix/bin/envyro", allowEnvironment: false)
        #expect(dirs == [
            root + "/prefix/policy", root + "/prefix/share/envyro/policy",
        ] + PolicyLoader.systemDirectories)
    }

    @Test("The walk up from the executable stops after five levels")
    func searchDepth() throws {
        let dir = try TempDirectory()
        defer { dir.cleanup() }
        let root = URL(fileURLWithPath: dir.path).resolvingSymlinksInPath().path
        try dir.write("policy/default.json", "{}")
        try dir.write("a/b/c/d/envyro", "")
        try dir.write("a/b/c/d/e/envyro", "")
        let near = PolicyLoader.searchDirectories(executablePath: dir.path + "/a/b/c/d/envyro", allowEnvironment: false)
        #expect(near.first == root + "/policy")
        let far = PolicyLoader.searchDirectories(executablePath: dir.path + "/a/b/c/d/e/envyro", allowEnvironment: false)
        #expect(far == PolicyLoader.systemDirectories)
    }

    @Test("ENVYRO_POLICY_DIR comes first, but only when the environment is allowed")
    func environment() throws {
        setenv(PolicyLoader.environmentVariable, "/custom/policies", 1)
        defer { unsetenv(PolicyLoader.environmentVariable) }
        let allowed = PolicyLoader.searchDirectories(executablePath: "/nonexistent/bin/envyro", allowEnvironment: true)
        #expect(allowed == ["/custom/policies"] + PolicyLoader.systemDirectories)
        let denied = PolicyLoader.searchDirectories(executablePath: "/nonexistent/bin/envyro", allowEnvironment: false)
        #expect(denied == PolicyLoader.systemDirectories)
    }

    @Test("The test binary finds the repository's policy directory")
    func findsRepoPolicies() throws {
        let exe = CommandLine.arguments[0]
        let dirs = PolicyLoader.searchDirectories(executablePath: exe, allowEnvironment: false)
        let canonicalRepo = URL(fileURLWithPath: repoPolicyDirectory).resolvingSymlinksInPath().path
        #expect(dirs.contains(canonicalRepo))
        #expect(try PolicyLoader.load("strict", searchDirectories: dirs).name == "strict")
    }
}
