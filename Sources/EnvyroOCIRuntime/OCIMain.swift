// envyro as an OCI runtime (issue 8): runc's command line, for podman (conmon), containerd
// (its runc shim) and people.
//
//   envyro [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup]
//          [--cgroup-manager cgroupfs|systemd] [--rootless auto|true|false] COMMAND ...
//
// runc's flags are parsed by hand (ArgumentParser can't take options before a subcommand and
// runc's `-flag` spellings): every flag runc documents for a command is accepted, a flag runc
// doesn't have is an error naming it. Errors go to stderr and, with --log, to the log file in
// runc's format (containerd's shim reads `{"level":"error","msg":…}` from there).
import CEnvyro
import EnvyroJSON
import EnvyroOCI
import EnvyroSeccomp
import EnvyroSystem
import Glibc

/// An error an OCI command reports: the message, and the exit status (runc: 1).
struct OCIFailure: Error, CustomStringConvertible {
    var message: String
    var status: Int32 = 1
    var description: String { message }
    init(_ message: String, status: Int32 = 1) { self.message = message; self.status = status }
}

/// The global flags, parsed before the command.
struct OCIGlobals {
    var root: String?
    var log: String?
    var logFormat = "text"
    var debug = false
    /// An envyro extension: the policy the helper enforces (default `oci`).
    var policy: String?
    /// The name this binary was invoked under (`envyro-runc`, or `envyro`), for usage and hints.
    var program = OCIMain.runcName

    /// Where container state lives: `--root`, else /run/envyro/oci for root, else
    /// $XDG_RUNTIME_DIR/envyro/oci (or /tmp/envyro-UID/oci).
    var stateRoot: String {
        Self.stateRoot(root: root, isHostRoot: UserNamespace.isHostRoot,
                       runtimeDirectory: Environment.get("XDG_RUNTIME_DIR"), uid: geteuid())
    }

    /// The rule of `stateRoot`, on its inputs.
    static func stateRoot(root: String?, isHostRoot: Bool, runtimeDirectory: String?, uid: uid_t) -> String {
        if let r = root { return r }
        if isHostRoot { return "/run/envyro/oci" }
        if let x = runtimeDirectory, !x.isEmpty { return x + "/envyro/oci" }
        return "/tmp/envyro-\(uid)/oci"
    }
}

/// runc-style argument lists for one command: flags (with values or not) and positionals.
struct OCIArguments {
    var values: [String: [String]] = [:]
    var switches: Set<String> = []
    var positionals: [String] = []

    /// Parses `args` with `valued` flags (take a value) and `boolean` flags; aliases map short
    /// names ("b") to long ones ("bundle"). Everything after the first positional that is an
    /// id is positional when `stopAtFirstPositional` (exec's command, ps's options).
    init(_ args: [String], command: String, valued: Set<String>, boolean: Set<String>, aliases: [String: String] = [:],
         stopAtFirstPositional: Bool = false) throws(OCIFailure) {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { positionals += args[(i + 1)...]; break }
            if a.hasPrefix("-") && a.count > 1 && !(stopAtFirstPositional && !positionals.isEmpty) {
                var name = String(a.drop(while: { $0 == "-" }))
                var inline: String? = nil
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                name = aliases[name] ?? name
                if valued.contains(name) {
                    let v: String
                    if let inline { v = inline } else {
                        guard i + 1 < args.count else { throw OCIFailure("\(command): flag needs an argument: --\(name)") }
                        i += 1
                        v = args[i]
                    }
                    values[name, default: []].append(v)
                } else if boolean.contains(name) {
                    if let inline, inline != "true" {
                        if inline != "false" { throw OCIFailure("\(command): invalid boolean value \"\(inline)\" for --\(name)") }
                    } else {
                        switches.insert(name)
                    }
                } else {
                    throw OCIFailure("\(command): flag provided but not defined: -\(name)")
                }
            } else {
                positionals.append(a)
            }
            i += 1
        }
    }

    func value(_ name: String) -> String? { values[name]?.last }
    func all(_ name: String) -> [String] { values[name] ?? [] }
    func flag(_ name: String) -> Bool { switches.contains(name) }
}

/// The OCI command dispatcher: envyro-cli's main calls `isOCIInvocation` and `main`.
public enum OCIMain {
    /// Commands only the OCI runtime has; `run`, `kill` and `ps` are shared with envyro's own and
    /// told apart in `isOCIInvocation`.
    static let ociOnly: Set<String> = ["create", "start", "state", "delete", "exec", "list", "pause", "resume", "update",
                                       "spec", "features", "events", "checkpoint", "restore"]
    static let globalValued: Set<String> = ["root", "log", "log-format", "criu", "rootless", "cgroup-manager", "policy"]
    static let globalBoolean: Set<String> = ["debug", "systemd-cgroup", "help", "h", "version", "v"]

    /// Whether `argv` (without argv[0]) is an OCI runtime invocation rather than envyro's own
    /// command line: global runtime flags first, an OCI-only command, `run` without `--`,
    /// `kill`/`ps` naming a container in the state directory, or `--version`.
    public static func isOCIInvocation(_ argv: [String]) -> Bool {
        guard let first = argv.first else { return false }
        if first == "--version" || first == "-v" { return true }
        if first.hasPrefix("-") {
            let name = String(first.drop(while: { $0 == "-" }).prefix(while: { $0 != "=" }))
            return globalValued.contains(name) || ["debug", "systemd-cgroup"].contains(name)
        }
        if ociOnly.contains(first) { return true }
        switch first {
        case "run":
            // `envyro run [flags] [--] CMD` is envyro's own; runc's `run [flags] ID` names a
            // bundle: a runc-only flag, or a config.json in the current directory, and no `--`.
            if argv.contains("--") { return false }
            let ociFlags: Set<String> = ["--bundle", "-b", "--detach", "-d", "--pid-file", "--console-socket",
                                         "--no-subreaper", "--keep", "--no-pivot", "--no-new-keyring", "--preserve-fds"]
            if argv.contains(where: { a in ociFlags.contains(String(a.prefix(while: { $0 != "=" }))) }) { return true }
            return argv.count == 2 && !argv[1].hasPrefix("-") && Files.kind("config.json") == .regular
        case "kill", "ps":
            // `envyro kill RUN-ID [SIGNAL]` / `envyro ps` talk to the supervisor, whose run ids
            // are numbers; any other id (runc's `kill ID KILL`), or an id of a container in the
            // OCI state directory, means the OCI command.
            // `--supervisor SOCKET` is envyro's own flag (runc has none): its value is no id.
            if argv.contains(where: { $0 == "--supervisor" || $0.hasPrefix("--supervisor=") }) { return false }
            guard let id = argv.dropFirst().first(where: { !$0.hasPrefix("-") }) else { return false }
            return Int64(id) == nil || Files.kind(OCIGlobals().stateRoot + "/" + id) == .directory
        default: return false
        }
    }

    /// Runs the OCI command line `argv` (without argv[0]) and exits; `program` is the name it
    /// was invoked under.
    public static func main(_ argv: [String], program: String = runcName) -> Never {
        var globals = OCIGlobals()
        globals.program = program
        do throws(OCIFailure) {
            // Global flags, up to the command; everything after it is the command's.
            let a = try OCIArguments(argv, command: "envyro", valued: globalValued, boolean: globalBoolean,
                                     stopAtFirstPositional: true)
            globals.root = a.value("root")
            globals.log = a.value("log")
            globals.policy = a.value("policy")
            globals.debug = a.flag("debug")
            if let f = a.value("log-format") {
                guard f == "text" || f == "json" else { throw OCIFailure("invalid log-format: \(f) (text or json)") }
                globals.logFormat = f
            }
            if a.flag("systemd-cgroup") || (a.value("cgroup-manager").map { $0 != "cgroupfs" } ?? false) {
                throw OCIFailure(systemdRefusal)
            }
            // --criu (no checkpointing) and --rootless (detected) are accepted and unused.
            if a.flag("version") || a.flag("v") { printVersion(); exit(0) }
            guard let command = a.positionals.first, !a.flag("help"), !a.flag("h") else { printUsage(program); exit(0) }
            let runtime = OCIRuntime(globals: globals)
            exit(try runtime.dispatch(command, Array(a.positionals.dropFirst())))
        } catch {
            report(error.message, globals: globals)
            exit(error.status)
        }
    }

    static let systemdRefusal = "envyro manages cgroups itself (cgroupfs); run the engine with --cgroup-manager cgroupfs (podman) or SystemdCgroup = false (containerd)"

    /// Prints `message` to stderr and, with --log, appends it to the log file.
    static func report(_ message: String, globals: OCIGlobals, level: String = "error") {
        let line = "envyro: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        log(message, globals: globals, level: level)
    }

    /// Appends one line to --log: runc's JSON (`{"level","msg","time"}`) or text.
    static func log(_ message: String, globals: OCIGlobals, level: String) {
        guard let path = globals.log else { return }
        let line: String
        if globals.logFormat == "json" {
            line = "{\"level\":\"\(level)\",\"msg\":\(JSONText.quoted(message)),\"time\":\"\(OCITime.now())\"}\n"
        } else {
            line = "time=\"\(OCITime.now())\" level=\(level) msg=\(JSONText.quoted(message))\n"
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = line.withCString { write(fd, $0, strlen($0)) }
        close(fd)
    }

    /// The name under which this binary speaks only runc's command line (`make install` links
    /// it to envyro-cli; point engines at it).
    public static let runcName = "envyro-runc"

    /// runc's format: `NAME version V`, then `key: value` lines (podman shows them in `info`).
    static func printVersion() {
        print(versionText)
    }

    /// What `--version` prints.
    static var versionText: String {
        """
        envyro version \(envyroVersion)
        spec: 1.0.2
        libseccomp: \(SeccompCompiler.libseccompVersion)
        """
    }

    static func printUsage(_ program: String) {
        print("""
        \(program): an OCI runtime (runc's command line), privilege-separated.

        usage: \(program) [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND [options] ID
        (`\(program) COMMAND --help` for each command's options)

        commands:
          create --bundle DIR [--pid-file F] [--console-socket S] ID   build the container, held before exec
          start ID                      exec the container's process
          run [--bundle DIR] [--detach] [--pid-file F] ID   create + start (+ wait)
          state ID                      the runtime-spec state document
          kill [--all] ID [SIGNAL]      signal the container (default SIGTERM)
          delete [--force] ID...        remove stopped containers (--force kills them first)
          exec [--process JSON | ARGS] [--env K=V] [--cwd D] [--tty] [--detach] [--pid-file F] ID
          ps [--format table|json] ID   the container's processes
          list [--format table|json] [-q]
          pause ID / resume ID          freeze / thaw every process
          update [--resources JSON | flags] ID
          spec [--rootless] [--bundle DIR]   write a default config.json
          features                      what this runtime supports (runtime-spec features document)
          checkpoint, restore, events   refused: not supported by envyro
        """)
    }
}

/// The version string `--version` prints.
public let envyroVersion = "0.8.0"
