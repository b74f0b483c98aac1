import EnvyroEngine
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// What a user asked `envyro run` for, before the policy is applied.
public struct RunRequest: Sendable {
    /// The command and its arguments.
    public var argv: [String]
    /// `--env K=V` entries, in order (later ones win).
    public var env: [String] = []
    /// `--cwd`, default `/`.
    public var cwd: String = "/"
    /// `--hostname`, default `envyro`.
    public var hostname: String = "envyro"
    /// `--rootfs DIR`, or nil for the built-in default.
    public var rootfs: String? = nil
    /// `--rootfs-rw`.
    public var rootfsWritable: Bool = false
    /// `--network`, or nil for the policy's default.
    public var network: String? = nil
    /// `--timeout SECONDS`.
    public var timeoutSeconds: Double? = nil
    /// `--init`: a tiny pid 1 that forwards signals and reaps.
    public var useInit: Bool = false
    /// `--userns`: nil (the single-id map) or `auto`.
    public var userns: String? = nil
    /// `--uidmap C:H:N` values.
    public var uidMaps: [String] = []
    /// `--gidmap C:H:N` values.
    public var gidMaps: [String] = []
    /// `--seccomp FILE`: an extra OCI/moby profile stacked on the policy's (it can only restrict).
    public var seccompProfile: String? = nil
    /// `--log-dir DIR`: stdout and stderr go to DIR/stdout.log and DIR/stderr.log (through the
    /// I/O worker), not to our own stdout and stderr.
    public var logDir: String? = nil
    /// `--log-limit SIZE`: at most this many bytes per stream; then a truncation marker.
    public var logLimit: String? = nil
    /// `--log-tee`: also copy the output to our own stdout and stderr.
    public var logTee: Bool = false
    /// Cgroup limit flags and `--profile`.
    public var limits = LimitFlags()
    /// `--executor`: how argv becomes the exec plan (`native`, `shell`, or a registered plugin).
    public var executor: String = "native"

    /// A request to run `argv`.
    public init(argv: [String]) { self.argv = argv }
}

/// Turns a `RunRequest` and a policy into the helper's `CreateRequest`, refusing with a clear
/// message whatever is malformed or looser than the policy.
public enum RunPlanner {
    /// Validates `request` under `policy`.
    public static func plan(_ request: RunRequest, policy: Policy) throws(SupervisorError) -> CreateRequest {
        guard let program = request.argv.first else {
            throw .invalidRequest("no command given; usage: envyro run [OPTIONS] -- CMD [ARGS...]")
        }
        if program.isEmpty { throw .invalidRequest("the command is an empty string") }
        for a in request.argv where a.utf8.contains(0) {
            throw .invalidRequest("argument \(quote(a)) contains a NUL byte")
        }

        for e in request.env {
            guard let eq = e.firstIndex(of: "="), eq != e.startIndex else {
                throw .invalidRequest("--env \(quote(e)): expected KEY=VALUE")
            }
            if e.utf8.contains(0) { throw .invalidRequest("--env \(quote(e)) contains a NUL byte") }
        }
        let env = environment(base: policy.process.env, hostname: request.hostname, extra: request.env)

        if !request.cwd.hasPrefix("/") {
            throw .invalidRequest("--cwd \(quote(request.cwd)): the working directory must be an absolute path")
        }
        let host = request.hostname
        if host.isEmpty || host.utf8.count > 64 || !host.utf8.allSatisfy({ isHostnameByte($0) }) {
            throw .invalidRequest("--hostname \(quote(host)): use 1-64 letters, digits, '-' or '.'")
        }
        if let t = request.timeoutSeconds, !(t > 0 && t <= 31_536_000) {
            throw .invalidRequest("--timeout \(t): expected a number of seconds greater than 0")
        }

        let network: NetworkMode
        if let n = request.network {
            guard let mode = NetworkMode(rawValue: n) else {
                throw .invalidRequest("--network \(quote(n)): expected none or host")
            }
            network = mode
        } else {
            network = policy.network.default
        }
        if !policy.network.allowed.contains(network) {
            let allowed = policy.network.allowed.map(\.rawValue).sorted().joined(separator: ", ")
            throw .notAllowed("--network \(network.rawValue) is not allowed by policy \(policy.name) (allowed: \(allowed))")
        }
        if request.rootfsWritable && !policy.rootfs.allowWritable {
            throw .notAllowed("--rootfs-rw is not allowed by policy \(policy.name): its rootfs is always read-only")
        }
        if request.rootfsWritable && request.rootfs == nil {
            throw .invalidRequest("--rootfs-rw needs --rootfs DIR: the built-in default rootfs is always read-only")
        }
        if request.useInit && !policy.process.allowInit {
            throw .notAllowed("--init is not allowed by policy \(policy.name)")
        }
        if request.argv.count > policy.process.maxArgs {
            throw .notAllowed("\(request.argv.count) arguments exceed policy \(policy.name)'s limit of \(policy.process.maxArgs)")
        }
        if env.count > policy.process.maxEnv {
            throw .notAllowed("\(env.count) environment variables exceed policy \(policy.name)'s limit of \(policy.process.maxEnv)")
        }

        var rootfs = ""
        if let dir = request.rootfs {
            // Used as given, never canonicalized: the container's first process opens it with no
            // symlink allowed on the way, so a component someone swaps for a symlink fails the
            // run instead of leading elsewhere (CVE-2021-30465 class). A realpath here would
            // follow the swap.
            if !dir.hasPrefix("/") { throw .invalidRequest("--rootfs \(dir): must be an absolute path") }
            switch Files.kind(dir) {
            case .missing: throw .invalidRequest("--rootfs \(dir): no such directory")
            case .directory: break
            case .symlink:
                let real = (try? Files.realPath(dir)).map { " (\($0))" } ?? ""
                throw .invalidRequest("--rootfs \(dir): is a symlink; give the directory's real path\(real)")
            default: throw .invalidRequest("--rootfs \(dir): not a directory")
            }
            var st = stat(), hostRoot = stat()
            if stat(dir, &st) == 0, stat("/", &hostRoot) == 0, st.st_dev == hostRoot.st_dev, st.st_ino == hostRoot.st_ino {
                throw .invalidRequest("--rootfs \(dir): the host's root can't be a container's rootfs; omit --rootfs for the read-only default")
            }
            rootfs = dir
        }

        var namespaces = NamespaceSet()
        for kind in policy.namespaces {
            switch kind {
            case .user: namespaces.insert(.user)
            case .pid: namespaces.insert(.pid)
            case .mount: namespaces.insert(.mount)
            case .uts: namespaces.insert(.uts)
            case .ipc: namespaces.insert(.ipc)
            case .cgroup: namespaces.insert(.cgroup)
            case .network: break
            }
        }
        if network == .none { namespaces.insert(.network) }

        if let dir = request.logDir {
            guard dir.hasPrefix("/") else { throw .invalidRequest("--log-dir \(quote(dir)): use an absolute path") }
            switch Files.kind(dir) {
            case .missing:
                do { try Files.makeDirectories(dir, mode: 0o755) } catch {
                    throw .invalidRequest("--log-dir \(dir): \(Errno.describe(error.errno))")
                }
            case .directory: break
            default: throw .invalidRequest("--log-dir \(dir): not a directory")
            }
        } else if request.logLimit != nil || request.logTee {
            throw .invalidRequest("--log-limit and --log-tee need --log-dir DIR")
        }

        var uids: [IDMapping] = [], gids: [IDMapping] = []
        switch request.userns {
        case nil:
            for m in request.uidMaps { uids.append(try IDMapRequest.parse(m, option: "--uidmap")) }
            for m in request.gidMaps { gids.append(try IDMapRequest.parse(m, option: "--gidmap")) }
            if uids.isEmpty != gids.isEmpty {
                throw .invalidRequest(uids.isEmpty ? "--gidmap needs --uidmap too" : "--uidmap needs --gidmap too")
            }
        case "auto"?:
            if !request.uidMaps.isEmpty || !request.gidMaps.isEmpty {
                throw .invalidRequest("--userns auto can't be combined with --uidmap or --gidmap")
            }
            (uids, gids) = try IDMapRequest.auto(uid: getuid(), gid: getgid())
        case let other?:
            throw .invalidRequest("--userns '\(other)': the only mode is auto (omit it for the single-id map)")
        }
        if !uids.isEmpty && !policy.idmap.allowSubordinate {
            let own = uids.allSatisfy { $0.hostID == getuid() && $0.count == 1 } && gids.allSatisfy { $0.hostID == getgid() && $0.count == 1 }
            if !own { throw .notAllowed("policy \(policy.name) allows only the single-id map (your own uid and gid)") }
        }

        return CreateRequest(
            namespaces: namespaces, network: network == .none ? .none : .host, hostname: host,
            rootfs: rootfs, rootfsWritable: request.rootfsWritable, argv: request.argv, env: env,
            cwd: request.cwd, useInit: request.useInit, uidMappings: uids, gidMappings: gids)
    }

    /// The container's environment: the policy's base, HOSTNAME, then `extra` in order; a
    /// later key wins.
    public static func environment(base: [String], hostname: String, extra: [String]) -> [String] {
        var env: [String] = []
        env.reserveCapacity(base.count + extra.count + 1)
        func put(_ entry: String) {
            let key = entry.prefix { $0 != "=" }
            env.removeAll { $0.prefix { $0 != "=" } == key }
            env.append(entry)
        }
        for e in base { put(e) }
        put("HOSTNAME=\(hostname)")
        for e in extra { put(e) }
        return env
    }

    /// What the container's mount namespace will hold (the helper's trampoline carries it out).
    public static func mountPlan(rootfs: String?, writable: Bool) -> [MountStep] {
        var steps: [MountStep] = []
        if let rootfs {
            steps.append(.bind(rootfs, to: "/", readOnly: !writable))
        } else {
            steps.append(.tmpfs("/", readOnly: true))
            for dir in ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"] {
                steps.append(.bind(dir, to: dir, readOnly: true))
            }
        }
        steps.append(.tmpfs("/tmp"))
        steps.append(.proc())
        steps.append(.dev())
        return steps
    }

    static func isHostnameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E
    }

    static func quote(_ s: String) -> String { "'\(s)'" }
}
