// runc's command line as envyro reads it: flags before and after the command, the names engines
// call the runtime by, and the messages a wrong flag gets. Unprivileged, no helper.
import Testing
@testable import EnvyroOCIRuntime

@Suite("runc arguments")
struct ArgumentTests {
    static let valued: Set<String> = ["bundle", "pid-file", "env"]
    static let boolean: Set<String> = ["detach", "keep"]
    static let aliases = ["b": "bundle", "d": "detach", "e": "env"]

    func parse(_ args: [String], stop: Bool = false) throws(OCIFailure) -> OCIArguments {
        try OCIArguments(args, command: "create", valued: Self.valued, boolean: Self.boolean, aliases: Self.aliases,
                         stopAtFirstPositional: stop)
    }

    @Test("a valued flag takes the next argument, or the text after '='; the last one given wins")
    func valuedFlags() throws {
        let a = try parse(["--bundle", "/b1", "--pid-file=/p", "-b=/b2", "id"])
        #expect(a.value("bundle") == "/b2")
        #expect(a.all("bundle") == ["/b1", "/b2"])
        #expect(a.value("pid-file") == "/p")
        #expect(a.positionals == ["id"])
    }

    @Test("single and double dashes are the same flag, and aliases name long flags")
    func dashesAndAliases() throws {
        let a = try parse(["-bundle", "/b", "-d", "id", "-e", "A=1", "--env", "B=2"])
        #expect(a.value("bundle") == "/b")
        #expect(a.flag("detach"))
        #expect(a.all("env") == ["A=1", "B=2"])
    }

    @Test("a boolean flag takes =true or =false and nothing else", arguments: [
        ("--detach", true), ("--detach=true", true), ("--detach=false", false),
    ])
    func booleans(_ arg: String, _ set: Bool) throws {
        #expect(try parse([arg, "id"]).flag("detach") == set)
    }

    @Test("what runc would refuse is refused with runc's words", arguments: [
        (["--detach=yes", "id"], "create: invalid boolean value \"yes\" for --detach"),
        (["--nope", "id"], "create: flag provided but not defined: -nope"),
        (["id", "--bundle"], "create: flag needs an argument: --bundle"),
    ])
    func refusals(_ args: [String], _ message: String) {
        #expect(throws: OCIFailure(message)) { try parse(args) }
    }

    @Test("after '--', and after the first positional when asked, everything is positional")
    func positionals() throws {
        #expect(try parse(["--", "--detach", "x"]).positionals == ["--detach", "x"])
        let exec = try parse(["--env", "A=1", "id", "ls", "-l", "--detach"], stop: true)
        #expect(exec.positionals == ["id", "ls", "-l", "--detach"])
        #expect(!exec.flag("detach"))
    }

    @Test("runc's command lines are told apart from envyro's own", arguments: [
        (["--version"], true), (["-v"], true),
        (["--root", "/r", "state", "x"], true), (["--root=/r", "list"], true), (["--debug", "list"], true),
        (["--systemd-cgroup", "create", "x"], true), (["--log-format", "json", "delete", "x"], true),
        (["create", "--bundle", ".", "x"], true), (["start", "x"], true), (["state", "x"], true),
        (["delete", "x"], true), (["spec"], true), (["features"], true), (["checkpoint", "x"], true),
        (["run", "--bundle", "/b", "x"], true), (["run", "-b=/b", "x"], true), (["run", "-d", "x"], true),
        (["run", "--", "/bin/true"], false), (["run", "--memory", "1G", "--", "sh"], false),
        (["run", "sh", "-c", "true"], false),
        (["kill"], false), (["ps"], false), (["kill", "12"], false), (["kill", "12", "KILL"], false),
        // The supervisor's run ids are numbers: any other id is runc's (`envyro kill ID KILL`).
        (["kill", "no-such-container-\(Int.random(in: 0...1_000_000))", "KILL"], true), (["ps", "some-container"], true),
        // --supervisor's value is a socket, not a container id.
        (["ps", "--supervisor", "/tmp/x/s.sock"], false), (["kill", "--supervisor", "/tmp/x/s.sock", "3", "KILL"], false),
        ([], false), (["--help"], false), (["daemon"], false), (["audit", "verify", "f"], false),
    ])
    func invocation(_ argv: [String], _ isOCI: Bool) {
        #expect(OCIMain.isOCIInvocation(argv) == isOCI)
    }

    @Test("COMMAND --help is help anywhere, but for exec and ps only before the id", arguments: [
        ("state", ["--help"], true), ("state", ["x", "--help"], true), ("kill", ["-h"], true), ("delete", ["-help", "x"], true),
        ("exec", ["x", "ls", "--help"], false), ("exec", ["--help"], true), ("ps", ["x", "-h"], false),
        ("create", ["--", "--help"], false), ("start", ["x"], false),
    ])
    func helpAsked(_ command: String, _ args: [String], _ asked: Bool) {
        #expect(OCIHelp.asked(command, args) == asked)
        #expect(OCIHelp.text(command, program: "envyro-runc")?.contains("USAGE:\n   envyro-runc \(command) ") == true)
    }

    @Test("container ids: runc's ^[\\w+-\\.]+$ (a range from + to .), not . or .., with runc's message", arguments: [
        ("a,b", true), ("A_b+c-d.e", true), ("a/b", false), (".", false), ("..", false), ("a b", false), ("", false), ("a:b", false),
    ])
    func ids(_ id: String, _ ok: Bool) {
        if ok { #expect(throws: Never.self) { try OCIContainerDir.checkID(id) } } else {
            #expect(throws: OCIFailure("invalid container ID format: \(id)")) { try OCIContainerDir.checkID(id) }
        }
    }

    @Test("engines call the runtime envyro-runc, where every argument is runc's")
    func runcName() {
        #expect(OCIMain.runcName == "envyro-runc")
    }

    @Test("--version prints runc's layout: name and version, the spec, libseccomp")
    func versionText() {
        let lines = OCIMain.versionText.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == "envyro version \(envyroVersion)")
        #expect(lines.dropFirst().first == "spec: 1.0.2")
        let seccomp = lines.last ?? ""
        #expect(seccomp.hasPrefix("libseccomp: "))
        #expect(seccomp.dropFirst("libseccomp: ".count).split(separator: ".").count == 3)
    }

    @Test("signals are taken by name, with or without SIG, in any case, or by number", arguments: [
        ("SIGTERM", Int32(15)), ("term", 15), ("KILL", 9), ("9", 9), ("SIGRTMIN", 34), ("RTMIN+2", 36), ("64", 64),
    ])
    func signals(_ text: String, _ number: Int32) throws {
        #expect(try Signals.parse(text) == number)
    }

    @Test("a signal that does not exist is named in the error", arguments: [
        ("0", "invalid signal: 0 (1-64)"), ("65", "invalid signal: 65 (1-64)"),
        ("SIGNOPE", "unknown signal \"SIGNOPE\" (a name like SIGTERM or a number)"),
    ])
    func badSignals(_ text: String, _ message: String) {
        #expect(throws: OCIFailure(message)) { try Signals.parse(text) }
    }
}

extension OCIFailure: Equatable {
    public static func == (a: OCIFailure, b: OCIFailure) -> Bool { a.message == b.message && a.status == b.status }
}
