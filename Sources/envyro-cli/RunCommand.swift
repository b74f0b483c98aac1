import ArgumentParser
import CEnvyro
import CEnvyroCLI
import EnvyroClient
import EnvyroJSON
import EnvyroProtocol
import EnvyroSupervisor
import EnvyroSystem
import Glibc

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a new container and return its exit status.",
        discussion: """
            Without --rootfs the container sees the host's /usr, /bin, /sbin, /lib* and /etc \
            read-only, a private /tmp, a fresh /proc and a minimal /dev. Exit status: the \
            command's, 128+N if it died of signal N, 124 after --timeout, 125 for envyro's own \
            errors, 126/127 when the command can't be run or found.
            """)

    @Option(name: .long, help: ArgumentHelp(RunField.help("policy")))
    var policy: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("supervisor")))
    var supervisor: String = RunSpec().supervisor

    @Option(name: .long, help: ArgumentHelp(RunField.help("rootfs")))
    var rootfs: String?

    @Flag(name: .long, help: ArgumentHelp(RunField.help("rootfs-rw")))
    var rootfsRw = false

    @Option(name: .long, help: ArgumentHelp(RunField.help("hostname")))
    var hostname: String = RunSpec().hostname

    @Option(name: .long, help: ArgumentHelp(RunField.help("env")))
    var env: [String] = []

    @Option(name: .long, help: ArgumentHelp(RunField.help("cwd")))
    var cwd: String = RunSpec().cwd

    @Option(name: .long, help: ArgumentHelp(RunField.help("network")))
    var network: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("timeout")))
    var timeout: Double?

    @Flag(name: .long, help: ArgumentHelp(RunField.help("init")))
    var `init` = false

    @Option(name: .long, help: ArgumentHelp(RunField.help("userns")))
    var userns: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("uidmap")))
    var uidmap: [String] = []

    @Option(name: .long, help: ArgumentHelp(RunField.help("gidmap")))
    var gidmap: [String] = []

    @Option(name: .long, help: ArgumentHelp(RunField.help("executor")))
    var executor: String = RunSpec().executor

    @Option(name: .long, help: ArgumentHelp(RunField.help("seccomp")))
    var seccomp: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("memory")))
    var memory: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("memory-swap")))
    var memorySwap: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("pids-limit")))
    var pidsLimit: Int64?

    @Option(name: .long, help: ArgumentHelp(RunField.help("cpus")))
    var cpus: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("cpu-shares")))
    var cpuShares: Int64?

    @Option(name: .long, help: ArgumentHelp(RunField.help("cpuset-cpus")))
    var cpusetCpus: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("blkio-weight")))
    var blkioWeight: Int64?

    @Option(name: .long, help: ArgumentHelp(RunField.help("profile")))
    var profile: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("log-dir")))
    var logDir: String?

    @Option(name: .long, help: ArgumentHelp(RunField.help("log-limit")))
    var logLimit: String?

    @Flag(name: .long, help: ArgumentHelp(RunField.help("log-tee")))
    var logTee = false

    @Flag(name: .long, help: ArgumentHelp(RunField.help("json")))
    var json = false

    @Flag(name: .long, help: ArgumentHelp(RunField.help("timings")))
    var timings = false

    @Flag(name: .long, help: ArgumentHelp(RunField.help("stats")))
    var stats = false

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    func run() async throws {
        var argv = command
        if let first = argv.first, first.hasPrefix("-"), first != "--" {
            complain("unknown option '\(first)' (see envyro run --help; put the command after --)")
            throw ExitCode(64)
        }
        if argv.first == "--" { argv.removeFirst() }
        var request = spec
        request.argv = SecretStrings(argv)
        await RunFlow.run(request)
    }

    /// The options as a `RunSpec`, through the one table (`RunField`): each `@Option` or `@Flag`
    /// property is matched to its row by its flag name, so there is no field-by-field copy here.
    /// A test compares `envyro run --help` with the table, both ways.
    var spec: RunSpec {
        var s = RunSpec()
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, label.hasPrefix("_"),
                  let field = RunField.named(Self.flagName(label.dropFirst())) else { continue }
            guard let value = Self.parsedValue(child.value), s.set(field, to: value) else {
                preconditionFailure("Run.\(label.dropFirst()) does not have the type RunField '\(field.flag)' needs")
            }
        }
        return s
    }

    /// `memorySwap` -> `memory-swap`, as ArgumentParser names a property's long flag.
    static func flagName(_ property: Substring) -> String {
        var out = ""
        for c in property {
            if c.isUppercase { out += "-" + c.lowercased() } else { out.append(c) }
        }
        return out
    }

    /// The parsed value inside an ArgumentParser property wrapper of one of RunField's types.
    static func parsedValue(_ wrapper: Any) -> Any? {
        if let o = wrapper as? Option<String> { return o.wrappedValue }
        if let o = wrapper as? Option<String?> { return o.wrappedValue as Any }
        if let o = wrapper as? Option<[String]> { return o.wrappedValue }
        if let o = wrapper as? Option<Int64?> { return o.wrappedValue as Any }
        if let o = wrapper as? Option<Double?> { return o.wrappedValue as Any }
        if let f = wrapper as? Flag<Bool> { return f.wrappedValue }
        return nil
    }

}

/// The supervisor `envyro run` starts on first use (`--supervisor auto`, the default), so the
/// runs after it are fast with nothing to set up. It is the same `envyro-supervisor`, with the
/// same checks, policy and audit, started in a session of its own with `--auto`: it serves
/// `auto-NAME.sock` for this run's policy and exits after the policy's
/// `pools.autoSupervisorIdleSeconds` without a client. Off with `--supervisor never`,
/// `ENVYRO_AUTO_SUPERVISOR=0`, or `pools.autoSupervisorIdleSeconds: 0` in the policy.
enum AutoSupervisor {
    static func start(_ embedded: EmbeddedSupervisor, socketPath: String) {
        guard let loaded = try? embedded.engine.policies.get(embedded.policyReference),
              loaded.policy.pools.autoSupervisorIdleSeconds > 0 else { return }
        let dir = Files.directory(of: Files.executablePath())
        let candidates = [dir + "/envyro-supervisor", Files.directory(of: Files.directory(of: dir)) + "/bin/envyro-supervisor"]
        guard let path = candidates.first(where: { access($0, X_OK) == 0 }) else { return }
        let words: [String] = [path, "--policy", embedded.policyReference, "--socket", socketPath, "--auto"]
        var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) }
        argv.append(nil)
        defer { for p in argv { free(p) } }
        _ = envyro_spawn_detached(path, &argv, envyro_environ())
    }
}
