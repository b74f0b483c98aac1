import EnvyroJSON
import EnvyroProtocol
import Testing

@Suite("RunSpec, read and written through the RunField table")
struct RunSpecTests {
    /// A value of each row's type, different from its default.
    static func sample(_ f: RunField) -> [String] {
        switch f.kind {
        case .bool: return ["--\(f.flag)"]
        case .int: return ["--\(f.flag)", "7"]
        case .seconds: return ["--\(f.flag)=1.5"]
        case .list: return ["--\(f.flag)", "a=1", "--\(f.flag)=b=2"]
        case .choice(let words): return ["--\(f.flag)", words[0]]
        default: return ["--\(f.flag)", "/x-\(f.flag)"]
        }
    }

    @Test("every flag parses on the fast path and survives the JSON round trip", arguments: RunField.all.map(\.flag))
    func roundTrip(flag: String) throws {
        let field = try #require(RunField.named(flag))
        let spec = try #require(RunSpec.parse(ArraySlice(Self.sample(field) + ["cmd", "arg"])))
        #expect(spec.argv == ["cmd", "arg"])
        #expect(spec != RunSpec(argv: ["cmd", "arg"]), "--\(flag) changed nothing")
        guard field.key != nil else { return }
        #expect(try RunSpec(json: spec.jsonObject()) == spec)
    }

    @Test("what the fast path leaves to the full parser", arguments: [
        ["--help", "cmd"], ["--pids-limit", "x", "cmd"], ["--timeout", "soon", "cmd"], ["--init=yes", "cmd"],
        ["--hostname"], ["--bogus", "cmd"], ["--", "-x"],
    ])
    func declined(args: [String]) {
        #expect(RunSpec.parse(ArraySlice(args)) == nil)
    }

    static let refused: [(key: String, value: JSONValue, message: String)] = [
        ("bogus", .int(1), "run spec: unknown key 'bogus'"),
        ("json", .bool(true), "run spec: unknown key 'json'"),
        ("hostname", .int(1), "run spec: 'hostname' must be a string"),
        ("env", .string("A=1"), "run spec: 'env' must be an array of strings"),
        ("pidsLimit", .string("9"), "run spec: 'pidsLimit' must be an integer"),
        ("init", .int(1), "run spec: 'init' must be true or false"),
        ("timeout", .string("1s"), "run spec: 'timeout' must be a number of seconds"),
    ]

    @Test("the reader names the key it refuses", arguments: 0..<7)
    func refusals(index: Int) {
        let (key, value, message) = Self.refused[index]
        var object = JSONObject()
        object.set(key, value)
        do { _ = try RunSpec(json: object); Issue.record("accepted \(key)") } catch { #expect(error.message == message) }
    }

    @Test("nulls and missing keys keep the defaults; paths are resolved by the client only")
    func defaults() throws {
        let spec = try RunSpec(json: ["argv": ["true"], "cwd": .null, "hostname": .null])
        #expect(spec == RunSpec(argv: ["true"]))
        var relative = RunSpec(argv: ["true"])
        relative.rootfs = "r"
        relative.logDir = "l"
        relative.seccompProfile = "s"
        relative.cwd = "c"
        let resolved = relative.resolvingPaths { "/base/" + $0 }
        #expect([resolved.rootfs, resolved.logDir, resolved.seccompProfile] == ["/base/r", "/base/l", "/base/s"])
        #expect(resolved.cwd == "c")
    }
}
