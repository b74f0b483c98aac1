import EnvyroJSON
import EnvyroProtocol
import Testing

@Suite("SecretStrings: a run's argv and env in zeroed memory")
struct SecretStringsTests {
    @Test("the parser writes captured arrays of strings straight into their lists, escapes undone, and leaves them out of the tree")
    func capture() throws {
        let argv = SecretStrings(), env = SecretStrings(arena: argv.arena)
        let json = #"{"argv": ["sh", "-c", "echo \"hi\" \u00e9"], "env": ["A=1", "B=\ud83d\ude00"], "cwd": "/"}"#
        let value = try Array(json.utf8).withUnsafeBytes { raw in
            try JSONParser.parse(raw, capturing: RunSpec.capturing(argv: argv, env: env))
        }
        #expect(argv.strings == ["sh", "-c", "echo \"hi\" é"])
        #expect(env.strings == ["A=1", "B=😀"])
        #expect(value.objectValue?.keys.sorted() == ["cwd"])
        let spec = try RunSpec(json: try #require(value.objectValue), argv: argv, env: env)
        #expect(spec.argv === argv && spec.env === env)
    }

    @Test("a captured member that is not an array of strings stays in the tree for the reader to refuse")
    func fallback() throws {
        let argv = SecretStrings(), env = SecretStrings()
        let json = #"{"argv": ["x", 1], "env": null}"#
        let value = try Array(json.utf8).withUnsafeBytes { raw in
            try JSONParser.parse(raw, capturing: RunSpec.capturing(argv: argv, env: env))
        }
        #expect(argv.isEmpty && env.isEmpty)
        #expect(throws: RunSpecError.self) { try RunSpec(json: try #require(value.objectValue), argv: argv, env: env) }
        #expect(throws: JSONError.self) {
            try Array(#"{"argv": ["a"], "argv": ["b"]}"#.utf8).withUnsafeBytes { raw in
                try JSONParser.parse(raw, capturing: RunSpec.capturing(argv: argv, env: env))
            }
        }
    }

    @Test("an executor's prefix and the environment's later keys are views of the same bytes")
    func views() {
        let argv: SecretStrings = ["script"]
        let shell = argv.prefixed(by: ["/bin/sh", "-c"])
        #expect(shell.strings == ["/bin/sh", "-c", "script"] && shell.arena === argv.arena)
        let env = SecretStrings(["A=1", "B=2", "A=3", "C"]).prefixed(by: ["PATH=/bin", "B=0"]).keepingLastOfEachKey()
        #expect(env.strings == ["PATH=/bin", "B=2", "A=3", "C"])
        #expect(env.lastIndex(ofKey: "PATH") == 0 && env.lastIndex(ofKey: "X") == nil)
    }

    @Test("wiping zeroes the bytes and empties every list of the arena; the description never shows them")
    func wipe() {
        let list: SecretStrings = ["TOKEN=hunter2"]
        let view = list.prefixed(by: ["x"])
        #expect("\(list)" == "<1 secret strings>")
        list.wipe()
        #expect(list.isEmpty && view.isEmpty)
        list.arena.withStorage { #expect($0.allSatisfy { $0 == 0 }) }
    }

    @Test("a create request's argv and env cross the wire and decode into a zeroing arena")
    func wire() throws {
        let create = CreateRequest(namespaces: [.user], network: .host, hostname: "h", rootfs: "", rootfsWritable: false,
                                   argv: ["/bin/echo", "s3cret"], env: ["K=v"], cwd: "/", useInit: false)
        let frame = try Codec.decode(Codec.encode(.create(create), requestID: 1), fileDescriptorCount: 3)
        guard case .create(let back) = frame.message else { Issue.record("not a create"); return }
        #expect(back == create && back.argv.arena === back.env.arena && back.argv.arena !== create.argv.arena)
    }
}
