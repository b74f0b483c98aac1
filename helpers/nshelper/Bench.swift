import CEnvyro
import EnvyroCgroup
import EnvyroPolicy
import EnvyroSeccomp
import EnvyroSystem
import Glibc

/// `envyro-nshelper --bench ITERATIONS`: the privileged halves of `envyro bench`, measured where
/// they run. Prints `key value unit` lines:
/// - seccomp: compiling each shipped profile with libseccomp (what every run would pay without a
///   cache) against loading its cached BPF from the disk cache (what a run pays with one);
/// - cgroups (root only; elsewhere a line says why it was skipped): a container cgroup with
///   memory, pids and cpu limits created, a process attached, and removed, on this host's
///   hierarchy, in a private `envyro/bench-<pid>` subtree removed afterwards.
enum HelperBench {
    static func run(iterations: Int, policy: Policy) -> Never {
        let n = max(iterations, 5)
        func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }
        func now() -> Double { Double(Clock.monotonicNanoseconds()) / 1000 }

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
            let path = "/tmp/.envyro-bench-\(getpid())-\(name).bpf"
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            _ = try? Files.writeAll(fd, bpf, subject: path)
            close(fd)
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
            unlink(path)
            print("seccomp_\(name)_compile_us \(median(compile)) us")
            print("seccomp_\(name)_cached_load_us \(median(load)) us")
            print("seccomp_\(name)_instructions \(bpf.count / 8) count")
        }

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
