/// The one description of `envyro run`'s flags (issue 15, item 1).
///
/// Every run flag is one row here: its CLI name, its key in the client protocol's `RunSpec` JSON
/// (nil: it stays in the client), its kind, whether the C front (`Sources/envyro-front/front.c`)
/// handles it, its help text, and where it lives in ``RunSpec``. Everything else is derived from
/// or checked against this table:
/// - ``RunSpec``'s JSON reader and writer and the fast path's parser (``RunSpec/parse(_:)``)
///   iterate it;
/// - the ArgumentParser `Run` (envyro-cli) takes its help text from it and is converted to a
///   ``RunSpec`` through it; a test compares `envyro run --help`'s options with it, both ways;
/// - front.c keeps its flags in one static `flags_table`, which `envyro --list-run-flags` prints
///   and a test compares with the rows marked `front`.
///
/// Adding a flag: a property on ``RunSpec``, a row here, an `@Option` in `Run`, a row in
/// front.c's table (if the front is to serve it), and the code that uses it.
public struct RunField: @unchecked Sendable {
    // @unchecked: the key paths are immutable values; the table is a `let`.

    /// What a flag's value is, as the CLI reads it and the JSON carries it.
    public enum Kind: Sendable, Equatable {
        /// A string.
        case string
        /// A path: made absolute by the client (the supervisor has another working directory).
        case path
        /// A size such as `256M` or `1g` (a string; the supervisor parses it).
        case size
        /// One of a fixed set of words (a string; the supervisor refuses others with its own
        /// message).
        case choice([String])
        /// Repeatable: every occurrence is kept, in order (a JSON array of strings).
        case list
        /// A switch without a value (`true`/`false`).
        case bool
        /// An integer (64-bit).
        case int
        /// A number of seconds, possibly fractional.
        case seconds

        /// The kind's name in front.c's table (`string`, `path`, `list`, `bool`, `int`, `number`):
        /// the front needs to know only how to read and write a value.
        public var frontName: String {
            switch self {
            case .string, .size, .choice: return "string"
            case .path: return "path"
            case .list: return "list"
            case .bool: return "bool"
            case .int: return "int"
            case .seconds: return "number"
            }
        }
    }

    /// Where a row's value is kept in a ``RunSpec``; the type follows from the kind.
    enum Slot {
        case text(WritableKeyPath<RunSpec, String>)
        case optional(WritableKeyPath<RunSpec, String?>)
        case list(WritableKeyPath<RunSpec, [String]>)
        /// A list that is a run's secret (the environment): kept as ``SecretStrings``.
        case secrets(WritableKeyPath<RunSpec, SecretStrings>)
        case bool(WritableKeyPath<RunSpec, Bool>)
        case int(WritableKeyPath<RunSpec, Int64?>)
        case seconds(WritableKeyPath<RunSpec, Double?>)
    }

    /// The long option, without `--` (`pids-limit`).
    public let flag: String
    /// The key in the RunSpec JSON object, or nil when the flag stays in the client (`--json`).
    public let key: String?
    /// The value's kind.
    public let kind: Kind
    /// Whether the C front serves runs with this flag itself (others make it exec envyro-cli).
    public let front: Bool
    /// `envyro run --help`'s text for it.
    public let help: String
    let slot: Slot

    init(_ flag: String, key: String?, _ kind: Kind, front: Bool = true, _ slot: Slot, help: String) {
        self.flag = flag
        self.key = key
        self.kind = kind
        self.front = front
        self.help = help
        self.slot = slot
    }

    /// Every run flag, in `envyro run --help`'s order.
    public static let all: [RunField] = [
        RunField("policy", key: "policy", .string, .optional(\.policy),
                 help: "Policy: default, strict, or a path to a policy file (with a running supervisor: its policy)."),
        RunField("supervisor", key: nil, .string, .text(\.supervisor),
                 help: "auto (use a running envyro-supervisor if there is one), never, or the socket PATH of one."),
        RunField("rootfs", key: "rootfs", .path, .optional(\.rootfs),
                 help: "Use DIR as the container's root (read-only unless --rootfs-rw)."),
        RunField("rootfs-rw", key: "rootfsWritable", .bool, .bool(\.rootfsWritable),
                 help: "Make --rootfs writable (if the policy allows it)."),
        RunField("hostname", key: "hostname", .string, .text(\.hostname), help: "The container's hostname."),
        RunField("env", key: "env", .list, .secrets(\.env), help: "Set an environment variable (KEY=VALUE); repeatable."),
        RunField("cwd", key: "cwd", .string, .text(\.cwd), help: "Working directory inside the container."),
        RunField("network", key: "network", .choice(["none", "host"]), .optional(\.network),
                 help: "none (a new network namespace with only lo) or host."),
        RunField("timeout", key: "timeout", .seconds, .seconds(\.timeoutSeconds),
                 help: "Kill the container after SECONDS and exit 124."),
        RunField("init", key: "init", .bool, .bool(\.useInit),
                 help: "Run a tiny init as pid 1 that forwards signals and reaps orphans."),
        RunField("userns", key: "userns", .choice(["auto"]), .optional(\.userns),
                 help: "auto: container root is you, then a slice of your /etc/subuid and /etc/subgid ranges."),
        RunField("uidmap", key: "uidmap", .list, .list(\.uidMaps),
                 help: "A uid map line CONTAINER:HOST:COUNT (repeatable; needs --gidmap)."),
        RunField("gidmap", key: "gidmap", .list, .list(\.gidMaps),
                 help: "A gid map line CONTAINER:HOST:COUNT (repeatable; needs --uidmap)."),
        RunField("executor", key: "executor", .string, .text(\.executor),
                 help: "How the command is executed: native (execve argv) or shell (one script for /bin/sh -c)."),
        RunField("seccomp", key: "seccomp", .path, .optional(\.seccompProfile),
                 help: "An extra seccomp profile (OCI/moby JSON), stacked on the policy's: it can only restrict more."),
        RunField("memory", key: "memory", .size, .optional(\.memory), help: "Memory limit (e.g. 256M, 1g)."),
        RunField("memory-swap", key: "memorySwap", .size, .optional(\.memorySwap),
                 help: "Memory plus swap limit (-1: unlimited swap)."),
        RunField("pids-limit", key: "pidsLimit", .int, .int(\.pidsLimit), help: "Maximum number of tasks (-1: no limit)."),
        RunField("cpus", key: "cpus", .string, .optional(\.cpus), help: "CPU limit in CPUs (e.g. 0.5)."),
        RunField("cpu-shares", key: "cpuShares", .int, .int(\.cpuShares),
                 help: "Relative CPU weight, 2...262144 (default 1024)."),
        RunField("cpuset-cpus", key: "cpusetCpus", .string, .optional(\.cpusetCpus), help: "CPUs the container may use (e.g. 0-1,3)."),
        RunField("blkio-weight", key: "blkioWeight", .int, .int(\.blkioWeight), help: "Relative block I/O weight, 10...1000."),
        RunField("profile", key: "profile", .choice(["minimal", "standard", "performance"]), .optional(\.profile),
                 help: "Limit profile: minimal, standard or performance (flags override its fields)."),
        RunField("log-dir", key: "logDir", .path, .optional(\.logDir),
                 help: "Write the container's stdout and stderr to DIR/stdout.log and DIR/stderr.log (through the I/O worker) instead of printing them."),
        RunField("log-limit", key: "logLimit", .size, .optional(\.logLimit),
                 help: "With --log-dir: at most SIZE bytes per stream, then a truncation marker (e.g. 1M)."),
        RunField("log-tee", key: "logTee", .bool, .bool(\.logTee), help: "With --log-dir: also print the output."),
        RunField("json", key: nil, .bool, front: false, .bool(\.json),
                 help: "Print a JSON result object (status, times, peak memory, OOM kills, peak pids) to stderr after the run."),
        RunField("timings", key: nil, .bool, front: false, .bool(\.timings),
                 help: "Print the setup steps and their durations to stderr after the run."),
        RunField("stats", key: nil, .bool, front: false, .bool(\.stats),
                 help: "Print every pool's and cache's statistics to stderr after the run."),
    ]

    /// The row for `--flag`.
    public static func named(_ flag: String) -> RunField? { all.first { $0.flag == flag } }

    /// The help text of `--flag` (for the ArgumentParser declarations).
    public static func help(_ flag: String) -> String { named(flag)?.help ?? "" }
}
