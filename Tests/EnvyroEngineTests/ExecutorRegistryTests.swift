import EnvyroProtocol
import Synchronization
import Testing
@testable import EnvyroEngine

struct EchoExecutor: Executor {
    let type: String
    var summary: String { "test executor \(type)" }
    func validate(_ spec: ExecutorSpec) throws(ExecutorError) {}
    func prepare(_ spec: ExecutorSpec) throws(ExecutorError) -> ExecPlan {
        ExecPlan(argv: spec.argv.prefixed(by: ["/bin/echo", type]), env: spec.env, cwd: spec.cwd)
    }
}

@Suite("ConcurrentExecutorRegistry and executors")
struct ExecutorRegistryTests {
    @Test("native and shell are registered by default")
    func defaults() throws {
        let registry = ConcurrentExecutorRegistry()
        #expect(registry.listTypes() == ["native", "shell"])
        #expect(registry.list().map(\.summary) == ["execve the program and its arguments as given", "run one script string with /bin/sh -c"])
        #expect(ConcurrentExecutorRegistry(registeringDefaults: false).listTypes().isEmpty)
    }

    @Test("native executes argv as given")
    func native() throws {
        let plan = try NativeExecutor().prepare(ExecutorSpec(argv: ["/bin/ls", "-l"], env: ["A=1"], cwd: "/tmp"))
        #expect(plan == ExecPlan(argv: ["/bin/ls", "-l"], env: ["A=1"], cwd: "/tmp"))
        #expect(try NativeExecutor().prepare(ExecutorSpec(argv: ["true"], cwd: "")).cwd == "/")
    }

    @Test("shell runs exactly one script with /bin/sh -c")
    func shell() throws {
        let registry = ConcurrentExecutorRegistry()
        let plan = try registry.prepare(type: "shell", ExecutorSpec(argv: ["echo hi | wc -c"]))
        #expect(plan.argv == ["/bin/sh", "-c", "echo hi | wc -c"])
        #expect(try ShellExecutor(shellPath: "/bin/bash").prepare(ExecutorSpec(argv: ["x"])).argv.strings.first == "/bin/bash")
    }

    static let invalidSpecs: [(String, ExecutorSpec, String)] = [
        ("native", ExecutorSpec(argv: []), "the native executor can't run this command: no program given; pass the command after --"),
        ("native", ExecutorSpec(argv: [""]), "the native executor can't run this command: the program name (argv[0]) is empty"),
        ("native", ExecutorSpec(argv: ["/bin/true", "a\u{0}b"]), "the native executor can't run this command: argument 1 contains a NUL byte, which execve can't pass"),
        ("native", ExecutorSpec(argv: ["/bin/true"], env: ["NOEQUALS"]), "the native executor can't run this command: environment entry 'NOEQUALS' is not KEY=VALUE"),
        ("native", ExecutorSpec(argv: ["/bin/true"], env: ["=x"]), "the native executor can't run this command: environment entry '=x' is not KEY=VALUE"),
        ("native", ExecutorSpec(argv: ["/bin/true"], cwd: "relative"), "the native executor can't run this command: working directory 'relative' must be an absolute path"),
        ("shell", ExecutorSpec(argv: []), "the shell executor can't run this command: it takes exactly one script string, got 0 arguments; quote the script, e.g. --executor shell -- 'echo hi | wc -c'"),
        ("shell", ExecutorSpec(argv: ["echo", "hi"]), "the shell executor can't run this command: it takes exactly one script string, got 2 arguments; quote the script, e.g. --executor shell -- 'echo hi | wc -c'"),
        ("shell", ExecutorSpec(argv: ["  "]), "the shell executor can't run this command: the script is empty"),
    ]

    @Test("Invalid specs are refused with a reason", arguments: invalidSpecs)
    func invalid(type: String, spec: ExecutorSpec, message: String) throws {
        let registry = ConcurrentExecutorRegistry()
        let executor = try registry.get(type)
        do {
            try executor.validate(spec)
            Issue.record("expected \(message)")
        } catch {
            #expect(error.description == message)
        }
        #expect(throws: ExecutorError.self) { try registry.prepare(type: type, spec) }
    }

    @Test("An unknown type lists the known ones")
    func unknownType() {
        let registry = ConcurrentExecutorRegistry()
        #expect(throws: ExecutorError.unknownType("wasm", known: ["native", "shell"])) { try registry.get("wasm") }
        #expect(ExecutorError.unknownType("wasm", known: ["native", "shell"]).description
                == "unknown executor type 'wasm'; known types: native, shell")
        #expect(registry.lookup("wasm") == nil)
    }

    @Test("register, replace and remove")
    func registerRemove() throws {
        let registry = ConcurrentExecutorRegistry()
        try registry.register(EchoExecutor(type: "echo"))
        #expect(registry.listTypes() == ["echo", "native", "shell"])
        #expect(throws: ExecutorError.duplicateType("echo")) { try registry.register(EchoExecutor(type: "echo")) }
        #expect(ExecutorError.duplicateType("echo").description
                == "an executor of type 'echo' is registered already; remove it first or register with replacing: true")
        try registry.register(EchoExecutor(type: "native"), replacing: true)
        #expect(try registry.prepare(type: "native", ExecutorSpec(argv: ["x"])).argv == ["/bin/echo", "native", "x"])
        #expect(registry.remove("echo"))
        #expect(!registry.remove("echo"))
        #expect(registry.listTypes() == ["native", "shell"])
        #expect(registry.stats.writes == 4)
    }

    @Test("Many readers and writers at once always see a consistent registry")
    func hammer() async throws {
        let registry = ConcurrentExecutorRegistry()
        let failures = Counter()
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<4 {
                group.addTask {
                    for round in 0..<250 {
                        let type = "w\(writer)-\(round % 5)"
                        try? registry.register(EchoExecutor(type: type), replacing: true)
                        if round % 3 == 0 { registry.remove(type) }
                    }
                }
            }
            for _ in 0..<12 {
                group.addTask {
                    for _ in 0..<2_000 {
                        // The defaults are never removed, so every snapshot must have them.
                        guard let plan = try? registry.prepare(type: "native", ExecutorSpec(argv: ["/bin/true"])),
                              plan.argv == ["/bin/true"] else {
                            failures.increment()
                            continue
                        }
                        let types = registry.listTypes()
                        if !types.contains("shell") || types != types.sorted() { failures.increment() }
                        for type in types.prefix(3) where registry.lookup(type).map({ $0.type != type }) ?? false {
                            failures.increment()
                        }
                    }
                }
            }
        }
        #expect(failures.value == 0)
        let types = registry.listTypes()
        // Each writer's last touch of each of its 5 types decides whether it stays.
        var expected: Set<String> = ["native", "shell"]
        for writer in 0..<4 {
            for slot in 0..<5 {
                let last = (0..<250).last { $0 % 5 == slot } ?? 0
                if last % 3 != 0 { expected.insert("w\(writer)-\(slot)") }
            }
        }
        #expect(Set(types) == expected)
        let stats = registry.stats
        #expect(stats.types == expected.count)
        #expect(stats.retiredSnapshots <= 1, "a quiet writer releases the retired snapshots")
    }
}
