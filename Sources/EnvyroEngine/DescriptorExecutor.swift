import EnvyroProtocol
import Glibc

/// An executor a descriptor file describes (a plugin): it runs the user's arguments with a
/// runtime found in the container's own root, as crun's handlers run a wasm module with the
/// runtime the image carries. The supervisor registers one per descriptor in the directory its
/// policy names (`executors.directory`); `envyro executors` lists them; the policy's
/// `executors.allowed` decides which a run may use.
///
/// The plan is `[runtime.path] + runtime.arguments + argv`: nothing runs outside the container,
/// and the runtime is whatever the root has at that path (read-only unless `--rootfs-rw`).
public struct DescriptorExecutor: Executor {
    /// One runtime the plugin can use, with the arguments that come before the user's.
    public struct Runtime: Sendable, Hashable {
        /// The runtime's absolute path inside the container.
        public var path: String
        /// Arguments between the runtime and the user's (e.g. `["-I", "-c"]`, `["run", "--"]`).
        public var arguments: [String]

        /// A runtime.
        public init(path: String, arguments: [String] = []) {
            self.path = path
            self.arguments = arguments
        }
    }

    public let type: String
    public let summary: String
    /// Tried in order; the first one present in the container's root is used.
    public let runtimes: [Runtime]
    /// The fewest user arguments the plugin takes (the script, the module).
    public let minimumArguments: Int
    /// When set, the first user argument must end with it (e.g. `.wasm`).
    public let requiredSuffix: String?
    /// The descriptor file, for messages.
    public let source: String

    /// The host directories the built-in default root binds (see `ExecutorSpec.rootfs`).
    static let defaultRootBinds = ["/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/etc/"]

    /// A plugin executor.
    public init(type: String, summary: String, runtimes: [Runtime], minimumArguments: Int = 1,
                requiredSuffix: String? = nil, source: String) {
        self.type = type
        self.summary = summary
        self.runtimes = runtimes
        self.minimumArguments = minimumArguments
        self.requiredSuffix = requiredSuffix
        self.source = source
    }

    public func validate(_ spec: ExecutorSpec) throws(ExecutorError) {
        guard spec.argv.count >= minimumArguments else {
            throw .invalidSpec(type: type, reason: "it takes at least \(minimumArguments) argument(s) after --, got \(spec.argv.count) (\(summary))")
        }
        if let suffix = requiredSuffix, !spec.argv.isEmpty, !spec.argv[0].reversed().starts(with: suffix.utf8.reversed()) {
            throw .invalidSpec(type: type, reason: "'\(spec.argv.string(at: 0))' does not end in \(suffix)")
        }
        try validateCommon(spec, type: type)
    }

    public func prepare(_ spec: ExecutorSpec) throws(ExecutorError) -> ExecPlan {
        try validate(spec)
        guard let runtime = runtimes.first(where: { Self.present($0.path, in: spec.rootfs) }) else {
            let paths = runtimes.map(\.path).joined(separator: ", ")
            let root = spec.rootfs ?? "the default root (the host's /usr, /bin, /sbin, /lib*, /etc)"
            throw .invalidSpec(type: type, reason: "none of its runtimes (\(paths)) is an executable file in \(root); install one there or use another executor (\(source))")
        }
        return ExecPlan(argv: spec.argv.prefixed(by: [runtime.path] + runtime.arguments), env: spec.env, cwd: spec.cwd.isEmpty ? "/" : spec.cwd)
    }

    /// Whether `path` (absolute, inside the container) is an executable regular file in the
    /// root: under `rootfs` on the host, or, for the default root, on the host itself when a
    /// bound directory holds it. A lookup only: the container's own exec is what counts.
    static func present(_ path: String, in rootfs: String?) -> Bool {
        guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else { return false }
        let host: String
        if let rootfs {
            host = rootfs + path
        } else {
            guard defaultRootBinds.contains(where: { path.hasPrefix($0) }) else { return false }
            host = path
        }
        var st = stat()
        return stat(host, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && st.st_mode & 0o111 != 0
    }
}
