// envyro-helper-bench: the benchmark and fuzz drivers for envyro-nshelper, kept out of the
// privileged binary (issue 13, item 9). It is an ordinary, unprivileged program: it drives a real
// envyro-nshelper process over its SOCK_SEQPACKET socket (fd 3), as the supervisor does, and is
// never installed with capabilities (it refuses to run with them).
//
//   envyro-helper-bench --bench N [--policy P] [--helper PATH]
//   envyro-helper-bench --fuzz N [--seed S] --policy P [--helper PATH]
//
// Temporary files go into a private directory made with mkdtemp (mode 0700), each created
// O_EXCL | O_NOFOLLOW, and the directory is removed afterwards.
import CEnvyro
import EnvyroBenchmarks
import EnvyroCgroup
import EnvyroPolicy
import EnvyroProtocol
import EnvyroSeccomp
import EnvyroSystem
import Glibc

func die(_ message: String, code: Int32 = 2) -> Never {
    let line = "envyro-helper-bench: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(code)
}

/// One envyro-nshelper process and our end of its socket.
struct HelperConnection {
    var pid: pid_t
    var socket: SeqPacketSocket

    /// Starts `helper --policy policy` with the other end of a socket pair as fd 3, as the
    /// supervisor does (HelperProcess); `quiet` sends its stderr to /dev/null.
    static func start(helper: String, policy: String, quiet: Bool) -> HelperConnection {
        var pair: [Int32] = [-1, -1]
        guard envyro_seqpacket_pair(&pair) == 0 else { die("socketpair: \(SystemError.current("socketpair"))") }
        // Above 3, so that dup2 onto 3 always makes a fresh descriptor without close-on-exec.
        let theirs = fcntl(pair[1], F_DUPFD_CLOEXEC, 10)
        close(pair[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, theirs, 3)
        if quiet { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(helper), strdup("--policy"), strdup(policy), nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, helper, &actions, nil, &argv, envyro_environ())
        close(theirs)
        guard rc == 0 else { die("cannot start \(helper): \(SystemError("posix_spawn", helper, errno: rc))") }
        return HelperConnection(pid: pid, socket: SeqPacketSocket(fd: pair[0]))
    }

    /// Closes our end (the helper then exits, killing what it made) and reaps it.
    func finish() {
        socket.close()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Waits for the reply to request `id`, skipping events; false when the helper closed the
    /// connection (it refused the frame). A hang is a failure.
    func awaitReply(to id: UInt32?, timeoutMs: Int32 = 10_000) -> Bool {
        while true {
            let ready = (try? Poll.readable([socket.fd], timeoutMs: timeoutMs)) ?? []
            guard !ready.isEmpty else { die("the helper (pid \(pid)) hung: no reply within \(timeoutMs) ms", code: 1) }
            guard let packet = try? socket.receive(capacity: ProtocolLimits.absoluteMaxFrameBytes + 1, maxFDs: 8) else { return false }
            for fd in packet.fds { close(fd) }
            guard let header = try? FrameHeader.decode(packet.bytes) else { continue }
            if id == nil || header.requestID == id { return true }
        }
    }
}

/// `--fuzz`: random and mutated frames thrown at real helpers. A rejection closes the
/// connection (the helper audits it and exits), and the next frame goes to a new helper.
/// Prints `frames= accepted= rejected= helpers= ms=`. The seeds' creates run a program that does
/// not exist, so a create that survives mutation and every check fails at exec, harmlessly.
enum FuzzDriver {
    static let seeds: [[UInt8]] = [
        Codec.encode(.hello(Hello(client: "fuzz")), requestID: 1),
        Codec.encode(.create(CreateRequest(namespaces: .all, network: .none, hostname: "f", rootfs: "", rootfsWritable: false,
                                           argv: ["/nonexistent/envyro-fuzz"], env: ["PATH=/nonexistent"], cwd: "/", useInit: false)), requestID: 2),
        Codec.encode(.create(CreateRequest(namespaces: .all, network: .none, hostname: "f", rootfs: "", rootfsWritable: false,
                                           argv: ["/nonexistent/envyro-fuzz", "x"], env: [], cwd: "/", useInit: true,
                                           uidMappings: [IDMapping(containerID: 0, hostID: 0, count: 65536)],
                                           gidMappings: [IDMapping(containerID: 0, hostID: 0, count: 1)], seccomp: [0, 0, 0, 0, 6, 0, 0, 0])), requestID: 3),
        Codec.encode(.signal(SignalRequest(containerID: 1, signal: 0)), requestID: 4),
    ]

    static func run(frames: Int, seed: UInt64, helper: String, policy: String) -> Never {
        var mutator = FrameMutator(seed: seed)
        var rng = seed | 1
        func next() -> UInt64 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng }
        var accepted = 0, rejected = 0, helpers = 0
        // Every other helper is greeted first (not counted as a fuzz frame), so that the frames
        // reach the `ready` phase's verbs as well as the `greeting` phase's.
        func fresh() -> HelperConnection {
            let c = HelperConnection.start(helper: helper, policy: policy, quiet: true)
            helpers += 1
            if helpers % 2 == 0 {
                guard (try? c.socket.send(Codec.encode(.hello(Hello(client: "fuzz")), requestID: 0xFFFF_FFFF))) != nil,
                      c.awaitReply(to: 0xFFFF_FFFF) else { die("the helper refused a valid hello (is the policy usable?)", code: 1) }
            }
            return c
        }
        var conn = fresh()
        let start = Clock.monotonicNanoseconds()
        for i in 0..<frames {
            var bytes: [UInt8]
            switch next() % 10 {
            case 0:
                // Pure noise (never empty: an empty packet reads as end of file), sometimes
                // behind a valid-looking magic.
                bytes = (0..<Int(1 + next() % 200)).map { _ in UInt8(truncatingIfNeeded: next()) }
                if next() % 2 == 0, bytes.count >= 16 { bytes.replaceSubrange(0..<4, with: [0x45, 0x4E, 0x56, 0x59]) }
            case 1:
                bytes = seeds[Int(next() % UInt64(seeds.count))]
            default:
                bytes = mutator.mutate(seeds[Int(next() % UInt64(seeds.count))])
                if bytes.isEmpty { bytes = [0] }
            }
            // Descriptors ride along at random, as a hostile supervisor might send them.
            let fds: [Int32] = next() % 8 == 0 ? [0, 1, 2] : []
            let id = (try? FrameHeader.decode(bytes))?.requestID
            let sent = (try? conn.socket.send(bytes, fds: fds)) != nil
            if sent && conn.awaitReply(to: id) {
                accepted += 1
            } else {
                rejected += 1
                conn.finish()
                conn = fresh()
            }
            if i % 1000 == 999 {
                let line = "fuzz: \(i + 1) frames\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
            }
        }
        conn.finish()
        let ms = (Clock.monotonicNanoseconds() - start) / 1_000_000
        print("frames=\(frames) accepted=\(accepted) rejected=\(rejected) helpers=\(helpers) ms=\(ms)")
        exit(0)
    }
}

/// `--bench`: the figures `envyro bench` shows for the helper. Prints `key value unit` lines:
/// - helper_start_hello_us: a real helper started, greeted and closed (what an embedded run pays);
/// - seccomp: compiling each shipped profile with libseccomp (what every run would pay without
///   a cache) against loading its BPF back from a file (what a run pays with the disk cache);
/// - cgroups (root only; elsewhere a line says why it was skipped): a container cgroup with
///   memory, pids and cpu limits created, a process attached, and removed, in a private
///   `envyro/bench-<pid>` subtree removed afterwards.
enum HelperBench {
    static func run(iterations: Int, helper: String, policyName: String) -> Never {
        let n = max(iterations, 5)
        func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }
        func now() -> Double { Double(Clock.monotonicNanoseconds()) / 1000 }

        let dirs = PolicyLoader.searchDirectories(executablePath: Files.executablePath(), allowEnvironment: true)
        guard let policy = try? PolicyLoader.load(policyName, searchDirectories: dirs) else { die("--bench: policy \(policyName) not found") }

        // A helper started and greeted, as an embedded supervisor pays for each run.
        var hello: [Double] = []
        for i in 0..<min(n, 20) {
            let t = now()
            let conn = HelperConnection.start(helper: helper, policy: policy.sourcePath, quiet: false)
            let ok = (try? conn.socket.send(Codec.encode(.hello(Hello(client: "bench")), requestID: UInt32(i + 1)))) != nil
                && conn.awaitReply(to: UInt32(i + 1))
            conn.finish()
            guard ok else { print("helper_start_skipped 0 reason:helper-refused"); break }
            hello.append(now() - t)
        }
        if !hello.isEmpty { print("helper_start_hello_us \(median(hello)) us") }

        // A private directory for the BPF files: nobody else can place or replace anything in it.
        var template = Array("/tmp/envyro-helper-bench-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            die("mkdtemp: \(SystemError.current("mkdtemp", "/tmp"))")
        }
        let scratch = String(cString: made)
        for name in ["strict", "default"] {
            let dir = Files.directory(of: policy.sourcePath)
            guard let profile = try? SeccompProfile.load(path: "\(dir)/seccomp/\(name).json") else {
                print("seccomp_\(name)_skipped 0 reason:no-profile"); continue
            }
            var compile: [Double] = []
            var bpf: [UInt8] = []
            for _ in 0..<n {
                let t = now()
                bpf = (try? SeccompCompiler.compile(profile, capabilities: []))?.bpf ?? []
                compile.append(now() - t)
            }
            let path = "\(scratch)/\(name).bpf"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { die("cannot create \(path): \(SystemError.current("open", path))") }
            _ = try? Files.writeAll(fd, bpf, subject: path)
            close(fd)
            defer { unlink(path) }
            var load: [Double] = []
            for _ in 0..<n {
                let t = now()
                let rfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                var st = stat()
                _ = fstat(rfd, &st)
                let bytes = (try? Files.readAll(rfd, subject: path, limit: 1 << 16)) ?? []
                close(rfd)
                precondition(bytes.count == bpf.count)
                load.append(now() - t)
            }
            print("seccomp_\(name)_compile_us \(median(compile)) us")
            print("seccomp_\(name)_cached_load_us \(median(load)) us")
            print("seccomp_\(name)_instructions \(bpf.count / 8) count")
        }

        rmdir(scratch)

        if getuid() != 0 {
            print("cgroup_skipped 0 reason:needs-root")
            exit(0)
        }
        do {
            let h = try CgroupHierarchy.detect()
            let name = "bench-\(getpid())"
            try CgroupDelegation.createSubtree(hierarchy: h, name: name, uid: 0, gid: 0)
            defer { _ = try? CgroupDelegation.removeSubtree(hierarchy: h, name: name) }
            var limits = CgroupLimits()
            limits.memoryMax = 256 << 20
            limits.pidsMax = 128
            limits.cpuQuotaMicros = 50_000
            limits.cpuPeriodMicros = 100_000
            let subtree = try CgroupSubtree.open(hierarchy: h, relativePath: "envyro/\(name)", controllers: [.memory, .pids, .cpu])
            var pid: pid_t = 0
            var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
            defer { for p in argv { free(p) } }
            guard posix_spawn(&pid, "/bin/sleep", nil, nil, &argv, nil) == 0 else { print("cgroup_skipped 0 reason:spawn"); exit(0) }
            defer { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) }
            let r = try CgroupBenchmark.run(subtree: subtree, limits: limits, pid: pid, iterations: n)
            print("cgroup_run_us \(r.medianMicros) us")
            print("cgroup_create_limits_us \(r.createMicros) us")
            print("cgroup_attach_us \(r.attachMicros) us")
            print("cgroup_remove_us \(r.removeMicros) us")
        } catch {
            print("cgroup_skipped 0 reason:\(error)")
        }
        exit(0)
    }
}

/// envyro-nshelper beside this program (or in ../libexec/envyro/), or `$ENVYRO_NSHELPER`.
func locateHelper() -> String {
    if let p = Environment.get("ENVYRO_NSHELPER"), !p.isEmpty { return p }
    let dir = Files.directory(of: Files.executablePath())
    let beside = dir + "/envyro-nshelper"
    if access(beside, X_OK) == 0 { return beside }
    let installed = Files.directory(of: dir) + "/libexec/envyro/envyro-nshelper"
    return access(installed, X_OK) == 0 ? installed : beside
}

@main
struct HelperBenchMain {
    static func main() {
        // A test tool must never carry privilege: it honours its environment and writes files.
        if envyro_at_secure() != 0 || (getuid() != 0 && envyro_effective_capabilities() != 0) {
            die("refusing to run with file capabilities or set-id bits: envyro-helper-bench is an unprivileged test tool; remove them (setcap -r)", code: 77)
        }
        signal(SIGPIPE, SIG_IGN)
        var bench = 0, fuzz = 0
        var seed: UInt64 = 1
        var policy = "default"
        var helper = locateHelper()
        var args = CommandLine.arguments.dropFirst()
        while let arg = args.popFirst() {
            switch arg {
            case "--bench":
                guard let v = args.popFirst(), let n = Int(v), n > 0 else { die("--bench needs an iteration count") }
                bench = n
            case "--fuzz":
                guard let v = args.popFirst(), let n = Int(v), n > 0 else { die("--fuzz needs a frame count") }
                fuzz = n
            case "--seed":
                guard let v = args.popFirst(), let n = UInt64(v) else { die("--seed needs a number") }
                seed = n
            case "--policy":
                guard let v = args.popFirst() else { die("--policy needs a name or a path") }
                policy = v
            case "--helper":
                guard let v = args.popFirst() else { die("--helper needs the path of envyro-nshelper") }
                helper = v
            case "-h", "--help":
                print("usage: envyro-helper-bench --bench N [--policy P] [--helper PATH]\n       envyro-helper-bench --fuzz N [--seed S] --policy P [--helper PATH]")
                exit(0)
            default:
                die("unknown argument '\(arg)' (see --help)", code: 64)
            }
        }
        if fuzz > 0 { FuzzDriver.run(frames: fuzz, seed: seed, helper: helper, policy: policy) }
        if bench > 0 { HelperBench.run(iterations: bench, helper: helper, policyName: policy) }
        die("give --bench N or --fuzz N (see --help)", code: 64)
    }
}
