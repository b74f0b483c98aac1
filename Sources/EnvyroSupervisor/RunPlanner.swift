import EnvyroEngine
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// Turns a `RunSpec` and a policy into the helper's `CreateRequest` (the run's plan: the helper
/// lowers it once into the C config), refusing with a clear message whatever is malformed or
/// looser than the policy. The environment is built by the caller (`EmbeddedSupervisor.plan`,
/// once) and passed in; its size is checked there, after the executor, once.
public enum RunPlanner {
    /// Validates `request` under `policy`.
    /// argv and env are checked on their bytes (they are the run's secrets, never `String`s on
    /// this path); only a refusal quotes one (a copy, in the message to the client).
    public static func plan(_ request: RunSpec, policy: Policy, environment env: SecretStrings) throws(SupervisorError) -> CreateRequest {
        let argv = request.argv, extra = request.env
        guard !argv.isEmpty else {
            throw .invalidRequest("no command given; usage: envyro run [OPTIONS] -- CMD [ARGS...]")
        }
        if argv[0].isEmpty { throw .invalidRequest("the command is an empty string") }
        if let i = argv.firstIndexContainingNUL() {
            throw .invalidRequest("argument \(quote(argv.string(at: i))) contains a NUL byte")
        }

        for i in 0..<extra.count {
            guard let eq = extra[i].firstIndex(of: UInt8(ascii: "=")), eq != 0 else {
                throw .invalidRequest("--env \(quote(extra.string(at: i))): expected KEY=VALUE")
            }
            if extra[i].contains(0) { throw .invalidRequest("--env \(quote(extra.string(at: i))) contains a NUL byte") }
        }

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
            // Every log flag is checked before the directory is made: a refused run makes nothing.
            if let text = request.logLimit {
                do { _ = try ResourceLimitBatch.parseSize(text) } catch { throw .invalidRequest("--log-limit \(text): \(error)") }
            }
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
    /// later key wins. A view of `extra`'s arena (the base and HOSTNAME are copied in; the
    /// run's own entries are not copied).
    public static func environment(base: [String], hostname: String, extra: SecretStrings) -> SecretStrings {
        extra.prefixed(by: base + ["HOSTNAME=\(hostname)"]).keepingLastOfEachKey()
    }

    static func isHostnameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E
    }

    static func quote(_ s: String) -> String { "'\(s)'" }
}
