// envyro-supervisor's daemon: its state, socket and lifecycle (serve, accept, reload, drain); one client is in DaemonClient.swift, stats and the policy snapshot in DaemonSnapshot.swift.

import CEnvyro
import EnvyroClient
import EnvyroEngine
import EnvyroJSON
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSystem
import Glibc
import Synchronization

/// `envyro-supervisor`: the long-running, unprivileged supervisor. It owns one engine (pools,
/// caches, templates stay warm across runs), keeps warm helpers, and serves clients of its own
/// uid on a unix socket, each client on a thread of its own.
public final class SupervisorDaemon: @unchecked Sendable {
    /// Planning and driving runs; its engine is shared by every client.
    public let supervisor: EmbeddedSupervisor
    /// Warm helpers.
    public let pool: HelperPool
    /// Where clients connect.
    public let socketPath: String
    let runs = Mutex<[UInt64: RunEntry]>([:])
    let nextRun = Atomic<UInt64>(1)
    let started = Atomic<Int>(0)
    let startedAt = Clock.monotonicNanoseconds()
    let draining = Atomic<Bool>(false)

    struct RunEntry {
        /// The run's context's list (zeroed when the run ends); `ps` copies it out on request.
        var argv: SecretStrings
        var startedNs: UInt64
        var helper: HelperProcess
        var containerID: UInt32?
        var pid: Int32?
    }

    /// A daemon for `policy` listening at `socketPath`, keeping `poolSize` helpers warm (nil:
    /// the policy's `pools.helpers`). `idleExitSeconds`: exit after that long with no client
    /// connected (nil: never). `auto`: started by `envyro run` on first use (see `serve`).
    public init(policy: String, socketPath: String, helperPath: String? = nil, poolSize: Int? = nil,
                idleExitSeconds: Int? = nil, auto: Bool = false) {
        supervisor = EmbeddedSupervisor(policy: policy, helperPath: helperPath)
        self.socketPath = socketPath
        self.poolSize = poolSize
        self.idleExitSeconds = idleExitSeconds
        self.auto = auto
        pool = HelperPool(path: supervisor.helperPath, policy: supervisor.policyReference,
                          buffers: supervisor.engine.buffers, target: poolSize ?? 0)
    }
    private let poolSize: Int?
    private let idleExitSeconds: Int?
    private let auto: Bool
    /// Clients connected now, and when the last one left (for the idle exit).
    private let clients = Atomic<Int>(0)
    private let lastClientNs = Atomic<UInt64>(Clock.monotonicNanoseconds())
    let prewarmHits = Atomic<Int>(0)
    let prewarmMisses = Atomic<Int>(0)
    let prewarmDiscards = Atomic<Int>(0)
    /// Network namespaces: taken from a helper's pool, made for its pool, and closed by it.
    let netnsReused = Atomic<Int>(0)
    let netnsCreated = Atomic<Int>(0)
    let netnsDiscards = Atomic<Int>(0)

    /// Runs until SIGTERM (or SIGINT); returns the exit status. Call from the main thread before
    /// any other thread exists: it blocks SIGTERM, SIGINT and SIGHUP to read them from a signalfd.
    public func serve() -> Int32 {
        let signals = envyro_daemon_signalfd()
        guard signals >= 0 else { return fail("cannot set up signal handling: \(SystemError.current("signalfd"))") }
        // Several descriptors per run in flight: a login's soft limit (often 1024) would cap
        // concurrency long before memory does. What is left is checked per run (`run`).
        let files = OpenFileLimit.raiseToHard()
        if files.after < 4096 {
            log("the open-file limit is \(files.after) (hard); about \(files.after / UInt64(Self.descriptorsPerRun)) runs can be in flight at once")
        }
        reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        // The policy must load before anything is served (a broken one is an error at start).
        var idleExit = idleExitSeconds
        do {
            let loaded = try supervisor.policy()
            pool.setTarget(poolSize ?? loaded.policy.pools.helpers)
            if auto {
                // Started by `envyro run`: only where the policy wants it, for its idle time.
                let idle = loaded.policy.pools.autoSupervisorIdleSeconds
                if idle == 0 { return fail("policy \(loaded.policy.name) has pools.autoSupervisorIdleSeconds 0: no supervisor is started on first use") }
                idleExit = idleExit ?? idle
            }
        } catch { return fail("\(error)") }
        // One auto-started supervisor per socket: two first runs at once start two, and the one
        // that doesn't get the lock beside the socket exits before touching the socket.
        if auto, !takeAutoLock() { return 0 }
        // Listening first checks that the socket's directory is ours and private: only then is
        // anything written there.
        let listener: Int32
        do { listener = try listen() } catch { return fail("\(error)") }
        removeStaleSnapshots()
        snapshotPolicy()
        log("serving policy \(supervisor.policyReference) on \(socketPath) (pid \(getpid()))")

        let pool = self.pool
        Threads.detach {
            while true {
                pool.refill()
                usleep(10_000)
            }
        }

        while !draining.load(ordering: .relaxed) {
            let ready: [Int]
            do { ready = try Poll.readable([listener, signals], timeoutMs: idleExit == nil ? -1 : 1000) } catch { continue }
            if let idle = idleExit, ready.isEmpty, clients.load(ordering: .relaxed) == 0,
               Clock.monotonicNanoseconds() - lastClientNs.load(ordering: .relaxed) > UInt64(idle) * 1_000_000_000 {
                // Idle: the socket goes first, so a new client finds none (and runs without a
                // supervisor, or starts another); one already in the backlog is still served.
                log("idle for \(idle) s; exiting")
                unlink(socketPath)
                while (try? Poll.readable([listener], timeoutMs: 0))?.isEmpty == false { accept(listener) }
                draining.store(true, ordering: .relaxed)
                break
            }
            if ready.contains(1) {
                while case let sig = envyro_signalfd_read(signals), sig > 0 {
                    switch sig {
                    case SIGHUP: reload()
                    default: draining.store(true, ordering: .relaxed)
                    }
                }
            }
            if ready.contains(0) && !draining.load(ordering: .relaxed) { accept(listener) }
        }
        close(listener)
        unlink(socketPath)
        drain()
        if auto { unlink(socketPath + ".lock") }   // still held: nobody else got it meanwhile
        return 0
    }

    // MARK: socket

    private func listen() throws(SystemError) -> Int32 {
        // systemd socket activation: LISTEN_PID is us and one fd was passed (as fd 3).
        if Environment.get("LISTEN_PID") == String(getpid()), Environment.get("LISTEN_FDS") == "1" {
            _ = fcntl(3, F_SETFD, FD_CLOEXEC)
            return 3
        }
        try prepareSocketDirectory()
        if Files.kind(socketPath) != .missing {
            if let other = ClientProtocol.connect(socketPath) {
                other.close()
                throw SystemError("bind", "\(socketPath): another envyro-supervisor is serving it", errno: EADDRINUSE)
            }
            unlink(socketPath)   // left behind by a supervisor that was killed
        }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError.current("socket", socketPath) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { close(fd); throw SystemError("bind", socketPath, errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let old = umask(0o177)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard rc == 0 else { let e = SystemError.current("bind", socketPath); close(fd); throw e }
        chmod(socketPath, 0o600)
        guard Glibc.listen(fd, 128) == 0 else { let e = SystemError.current("listen", socketPath); close(fd); throw e }
        return fd
    }

    /// Descriptors a run holds in this process at most: the client's connection and the three
    /// stdio fds it sent, the helper's socket, two capture pipes' write ends, and a spare for
    /// the helper's start-up (the socketpair's other end until posix_spawn has passed it on).
    static let descriptorsPerRun = 8
    /// Held open so that, out of descriptors, a connection can still be accepted and told why
    /// it is refused (instead of poll reporting the listener readable forever).
    private var reserveFD: Int32 = -1

    private func accept(_ listener: Int32) {
        var fd = envyro_accept_cloexec(listener)
        if fd < 0 && (errno == EMFILE || errno == ENFILE) && reserveFD >= 0 {
            close(reserveFD)
            fd = envyro_accept_cloexec(listener)
            if fd >= 0 {
                let text = OpenFileLimit.refusal(needed: Self.descriptorsPerRun)
                    ?? "the supervisor is out of file descriptors (\(Errno.describe(EMFILE)))"
                let reply = ClientMessage(verb: .error, requestID: 0, body: ["exitCode": .int(125), "message": .string(text)])
                _ = try? SeqPacketSocket(fd: fd).send(reply.encode())
                close(fd)
            }
            reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if fd >= 0 { usleep(1000) }   // the refused client reads its reply; don't spin
            return
        }
        guard fd >= 0 else { return }
        var pid: pid_t = 0, uid: uid_t = 0, gid: gid_t = 0
        // Only clients of our own uid: the socket's mode says so too, this makes sure.
        guard envyro_peer_credentials(fd, &pid, &uid, &gid) == 0, uid == getuid() else {
            close(fd)
            return
        }
        clients.add(1, ordering: .relaxed)
        let client = SeqPacketSocket(fd: fd)
        Threads.detach { [self] in
            serveClient(client)
            lastClientNs.store(Clock.monotonicNanoseconds(), ordering: .relaxed)
            clients.subtract(1, ordering: .relaxed)
        }
    }

    /// Why a run is refused for memory: the daemon's resident size (/proc/self/statm) is over
    /// the policy's `pools.supervisorMemoryBytes`. Nil when within it (or unknown).
    func memoryRefusal() -> String? {
        guard let loaded = try? supervisor.policy(), let rss = Self.residentBytes() else { return nil }
        let budget = loaded.policy.pools.supervisorMemoryBytes
        guard rss > budget else { return nil }
        return "the supervisor uses \(rss >> 20) MiB, over its budget of \(budget >> 20) MiB (policy \(loaded.policy.name), pools.supervisorMemoryBytes); runs in flight: \(runs.withLock { $0.count }); retry when they end, or raise the budget"
    }

    /// This process's resident size in bytes, from /proc/self/statm (pages).
    static func residentBytes() -> Int64? {
        guard let bytes = try? Files.read("/proc/self/statm", limit: 256) else { return nil }
        let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int64(fields[1]) else { return nil }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Makes the socket's directory if missing and checks it: ours, private and not a symlink
    /// (lstat). In /tmp another user may have made /tmp/envyro-UID first, to read what clients
    /// send or plant files; nothing is written there before this passes.
    private func prepareSocketDirectory() throws(SystemError) {
        let dir = Files.directory(of: socketPath)
        try Files.makeDirectories(dir, mode: 0o700)
        if let why = RuntimeDirectory.refusal(dir, uid: getuid()) {
            throw SystemError("listen", "\(socketPath): refusing its directory: \(why)", errno: EPERM)
        }
    }

    /// The lock an auto-started supervisor holds for its lifetime (`flock` on `NAME.lock` beside
    /// the socket, in the directory `listen` checked is ours and private).
    private func takeAutoLock() -> Bool {
        guard (try? prepareSocketDirectory()) != nil else { return false }
        let fd = open(socketPath + ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return false }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 { close(fd); return false }
        return true   // held (fd open) until the process exits
    }

    // MARK: signals

    /// SIGHUP: new runs get the reloaded policy; a broken one keeps the old and says why.
    private func reload() {
        let dirs = PolicyLoader.searchDirectories(executablePath: Files.executablePath(), allowEnvironment: true)
        do {
            _ = try PolicyLoader.load(supervisor.policyReference, searchDirectories: dirs)
        } catch {
            log("SIGHUP: keeping the old policy: \(error)")
            return
        }
        supervisor.reloadPolicy()
        if poolSize == nil, let loaded = try? supervisor.policy() { pool.setTarget(loaded.policy.pools.helpers) }
        snapshotPolicy()
        log("SIGHUP: reloaded policy \(supervisor.policyReference)")
    }

    /// SIGTERM: no new runs; runs in flight get a grace period, then are killed; helpers close
    /// (each removes what it created).
    private func drain(graceSeconds: Double = 10) {
        let deadline = Clock.monotonicNanoseconds() + UInt64(graceSeconds * 1e9)
        while runs.withLock({ !$0.isEmpty }) && Clock.monotonicNanoseconds() < deadline { usleep(20_000) }
        for entry in runs.withLock({ Array($0.values) }) {
            if let c = entry.containerID { _ = try? entry.helper.send(.signal(SignalRequest(containerID: c, signal: SIGKILL))) }
        }
        let hard = Clock.monotonicNanoseconds() + 2_000_000_000
        while runs.withLock({ !$0.isEmpty }) && Clock.monotonicNanoseconds() < hard { usleep(20_000) }
        pool.close()
        unlink(Files.directory(of: socketPath) + "/policy-\(getpid()).json")
        log("drained; exiting")
    }

    private func log(_ text: String) {
        let line = "envyro-supervisor: \(text)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    private func fail(_ text: String) -> Int32 {
        log(text)
        return 1
    }
}
