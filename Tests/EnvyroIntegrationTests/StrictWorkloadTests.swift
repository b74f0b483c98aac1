import Foundation
import Testing

/// Root filesystems built from the host's own packages, for the strict workload tests: no
/// debootstrap, no network, no image pulls.
enum WorkloadRootfs {
    /// The host's static busybox (Debian's `busybox-static`, the base of Alpine-like images).
    static let busybox = "/bin/busybox"

    /// A rootfs with `/bin/busybox` and a symlink for each of its applets (`busybox --list`),
    /// empty `/tmp`, `/proc` and `/dev`, and `extra` files copied to the given paths inside.
    static func busyboxRoot(_ name: String, extra: [(source: String, path: String)] = []) throws -> (scratch: URL, root: URL) {
        guard FileManager.default.isExecutableFile(atPath: busybox) else {
            throw Harness.SkipInfo("\(busybox) is missing: install busybox-static (make deps does)")
        }
        let scratch = Harness.scratchDirectory(name)
        let root = scratch.appendingPathComponent("root")
        let bin = root.appendingPathComponent("bin")
        let fm = FileManager.default
        try fm.createDirectory(at: bin, withIntermediateDirectories: true)
        // Mount points as every image has them: an ordinary user's container can't create them
        // in a root-owned rootfs ("mount /proc: Permission denied").
        for dir in ["tmp", "proc", "dev"] {
            try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: busybox, toPath: bin.appendingPathComponent("busybox").path)
        let list = try Harness.run([busybox, "--list"])
        for applet in list.stdout.split(separator: "\n") where applet != "busybox" && !applet.contains("/") {
            try fm.createSymbolicLink(atPath: bin.appendingPathComponent(String(applet)).path, withDestinationPath: "busybox")
        }
        for (source, path) in extra {
            try fm.copyItem(atPath: source, toPath: root.appendingPathComponent(path).path)
        }
        _ = try Harness.run(["/bin/chmod", "-R", "a+rX", scratch.path])
        return (scratch, root)
    }

    /// Runs a compiler command line, or says why it failed.
    static func build(_ argv: [String], environment: [String: String]? = nil, what: String) throws {
        let r = try Harness.run(argv, environment: environment)
        guard r.status == 0 else { throw Harness.SkipInfo("\(what) failed to build: \(r.stderr)") }
    }
}

extension Integration {
/// Issue 14 item 3: `--policy strict` must run the common base images' ordinary programs (busybox,
/// a Debian userland, static Go and glibc binaries) without SIGSYS, and still kill the dangerous
/// calls. Every workload runs as root and as an ordinary user, under strict's default limits.
@Suite("strict runs the common base images' programs")
struct StrictWorkloadTests {
    static let identities = Harness.Identity.allCases.filter(\.available)

    /// `envyro run --policy strict [--rootfs ROOT] -- ARGV` as `who`, checked for exit 0 and
    /// never SIGSYS (159).
    func runStrict(_ argv: [String], rootfs: URL? = nil, as who: Harness.Identity,
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> Harness.Result {
        var args = ["run", "--policy", "strict"]
        if let rootfs { args += ["--rootfs", rootfs.path] }
        let r = try Harness.envyro(args + ["--"] + argv, as: who)
        #expect(r.status != 128 + 31, "killed by seccomp (SIGSYS): \(argv) \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.status == 0, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

    @Test("busybox's applets run under strict in a busybox-static rootfs", arguments: identities)
    func busybox(who: Harness.Identity) throws {
        let (scratch, root) = try WorkloadRootfs.busyboxRoot("strict-busybox")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let t = try runStrict(["/bin/true"], rootfs: root, as: who)
        #expect(t.stdout.isEmpty)
        let script = """
            ls /bin/busybox; echo hello | cat; printf 'b\\na\\nc\\n' | sort | tr '\\n' ' '; echo;
            echo one two three | wc -w; echo abc | sed s/b/X/; echo 1 2 3 | awk '{print $2 + $3}';
            sleep 0.1; ps -o pid,comm | grep -c ps; id -u; mkdir /tmp/d && echo data > /tmp/d/f && cat /tmp/d/f;
            find /tmp -type f; echo done
            """
        let r = try runStrict(["/bin/sh", "-c", script], rootfs: root, as: who)
        #expect(r.stdout == "/bin/busybox\nhello\na b c \n3\naXc\n5\n1\n0\ndata\n/tmp/d/f\ndone\n", "\(r.stderr)")
    }

    @Test("bash, coreutils and python3 of the host's Debian userland run under strict", arguments: identities)
    func debianUserland(who: Harness.Identity) throws {
        // The built-in rootfs: the host's /usr, /bin, /lib*, /etc bound read-only, a private /tmp.
        for tool in ["/bin/bash", "/usr/bin/python3"] where !FileManager.default.isExecutableFile(atPath: tool) {
            try Test.cancel("\(tool) is not installed on this host")
        }
        let bash = """
            set -e
            x=$( (echo sub; echo shell) | tr a-z A-Z | sort | tr '\\n' ' ' ); echo "$x"
            { echo b; echo a; } | sort | head -1
            cp /etc/hostname /tmp/h && stat -c %s /tmp/h >/dev/null && ls /tmp
            date +%Y >/dev/null; id -u; find /etc -maxdepth 0
            if command -v tar >/dev/null; then tar -cf /tmp/t.tar -C /tmp h && tar -tf /tmp/t.tar; else echo h; fi
            mkfifo /tmp/fifo; echo through-fifo > /tmp/fifo & cat /tmp/fifo; wait
            echo $((6 * 7)); sleep 0.1; echo bash-done
            """
        let b = try runStrict(["/bin/bash", "-c", bash], as: who)
        #expect(b.stdout == "SHELL SUB \na\nh\n0\n/etc\nh\nthrough-fifo\n42\nbash-done\n", "\(b.stderr)")

        let python = """
            import threading, subprocess, json, hashlib, tempfile, os, concurrent.futures
            out = []
            t = threading.Thread(target=lambda: out.append("thread")); t.start(); t.join()
            with concurrent.futures.ThreadPoolExecutor(4) as ex: squares = list(ex.map(lambda n: n * n, range(4)))
            r = subprocess.run(["/bin/echo", "child"], check=True, capture_output=True, text=True)
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "x.json")
                with open(p, "w") as f: json.dump({"k": squares}, f)
                with open(p) as f: data = json.load(f)
            print(out[0], r.stdout.strip(), data["k"], hashlib.sha256(b"envyro").hexdigest()[:12], "python-ok")
            """
        let p = try runStrict(["/usr/bin/python3", "-c", python], as: who)
        let digest = ((try? Harness.run(["/usr/bin/python3", "-c", "import hashlib; print(hashlib.sha256(b'envyro').hexdigest()[:12])"]))?.stdout ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(p.stdout == "thread child [0, 1, 4, 9] \(digest) python-ok\n", "\(p.stderr)")
    }

    /// A Go program with goroutines, timers, file I/O and os/exec.
    static let goSource = """
        package main

        import (
        \t"fmt"
        \t"os"
        \t"os/exec"
        \t"sync"
        \t"time"
        )

        func main() {
        \tvar wg sync.WaitGroup
        \tsquares := make([]int, 8)
        \tfor i := 0; i < 8; i++ {
        \t\twg.Add(1)
        \t\tgo func(i int) {
        \t\t\tdefer wg.Done()
        \t\t\ttime.Sleep(10 * time.Millisecond)
        \t\t\tsquares[i] = i * i
        \t\t}(i)
        \t}
        \twg.Wait()
        \tsum := 0
        \tfor _, s := range squares {
        \t\tsum += s
        \t}
        \tf, err := os.CreateTemp("/tmp", "go-")
        \tif err != nil {
        \t\tfmt.Println("create:", err)
        \t\tos.Exit(1)
        \t}
        \tf.WriteString("file-ok")
        \tf.Close()
        \tdata, err := os.ReadFile(f.Name())
        \tif err != nil {
        \t\tfmt.Println("read:", err)
        \t\tos.Exit(1)
        \t}
        \tos.Remove(f.Name())
        \tif err := exec.Command("/bin/true").Run(); err != nil {
        \t\tfmt.Println("exec:", err)
        \t\tos.Exit(1)
        \t}
        \tfmt.Printf("go sum=%d %s exec-ok\\n", sum, data)
        }

        """

    @Test("a static Go binary with goroutines, file I/O and os/exec runs under strict", arguments: identities)
    func staticGo(who: Harness.Identity) throws {
        let go = ["/usr/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let go else {
            try Test.cancel("golang-go is not installed (no go in /usr/bin, /usr/lib/go/bin, /usr/local/go/bin): apt-get install golang-go (make deps does)")
        }
        let build = Harness.scratchDirectory("go-build")
        defer { try? FileManager.default.removeItem(at: build) }
        let source = build.appendingPathComponent("main.go")
        try Self.goSource.write(to: source, atomically: false, encoding: .utf8)
        let binary = build.appendingPathComponent("hello-go").path
        try WorkloadRootfs.build([go, "build", "-o", binary, source.path],
                                 environment: ["PATH": "/usr/bin:/bin", "CGO_ENABLED": "0", "HOME": build.path,
                                               "GOCACHE": build.appendingPathComponent("cache").path,
                                               "GOPATH": build.appendingPathComponent("gopath").path, "GO111MODULE": "off"],
                                 what: "the Go program")
        let (scratch, root) = try WorkloadRootfs.busyboxRoot("strict-go", extra: [(binary, "hello-go")])
        defer { try? FileManager.default.removeItem(at: scratch) }
        let r = try runStrict(["/hello-go"], rootfs: root, as: who)
        #expect(r.stdout == "go sum=140 file-ok exec-ok\n", "\(r.stderr)")
    }

    /// A C program with pthreads, malloc, stdio on /tmp and fork, linked statically with glibc.
    static let cSource = """
        #include <pthread.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/wait.h>
        #include <unistd.h>
        static int squares[4];
        static void *work(void *arg) { long i = (long)arg; usleep(1000); squares[i] = (int)(i * i); return NULL; }
        int main(void) {
            pthread_t t[4];
            for (long i = 0; i < 4; i++) if (pthread_create(&t[i], NULL, work, (void *)i) != 0) { puts("pthread_create failed"); return 1; }
            int sum = 0;
            for (int i = 0; i < 4; i++) { pthread_join(t[i], NULL); sum += squares[i]; }
            char *buf = malloc(1 << 24); memset(buf, 1, 1 << 24); free(buf);
            FILE *f = fopen("/tmp/c-static", "w"); if (!f) { perror("fopen"); return 1; }
            fputs("file-ok", f); fclose(f);
            char line[16] = ""; f = fopen("/tmp/c-static", "r"); fgets(line, sizeof line, f); fclose(f);
            pid_t pid = fork(); if (pid == 0) _exit(7);
            int st = 0; waitpid(pid, &st, 0);
            printf("c sum=%d %s child=%d\\n", sum, line, WEXITSTATUS(st));
            return 0;
        }

        """

    @Test("a static glibc binary with pthreads and fork runs under strict", arguments: identities)
    func staticGlibc(who: Harness.Identity) throws {
        let build = Harness.scratchDirectory("c-build")
        defer { try? FileManager.default.removeItem(at: build) }
        let source = build.appendingPathComponent("main.c")
        try Self.cSource.write(to: source, atomically: false, encoding: .utf8)
        let binary = build.appendingPathComponent("hello-c").path
        try WorkloadRootfs.build(["/usr/bin/gcc", "-static", "-O1", "-pthread", "-o", binary, source.path], what: "the static C program")
        let (scratch, root) = try WorkloadRootfs.busyboxRoot("strict-c", extra: [(binary, "hello-c")])
        defer { try? FileManager.default.removeItem(at: scratch) }
        let r = try runStrict(["/hello-c"], rootfs: root, as: who)
        #expect(r.stdout == "c sum=14 file-ok child=7\n", "\(r.stderr)")
    }

    @Test("a dangerous call still kills under strict, in busybox and in the host userland", arguments: identities)
    func dangerousKills(who: Harness.Identity) throws {
        let (scratch, root) = try WorkloadRootfs.busyboxRoot("strict-kill")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for argv in [["/bin/unshare", "-U", "/bin/true"], ["/bin/mount", "-t", "tmpfs", "none", "/tmp"]] {
            let r = try Harness.envyro(["run", "--policy", "strict", "--rootfs", root.path, "--"] + argv, as: who)
            #expect(r.status == 128 + 31, "\(argv): exit \(r.status): \(r.stderr)")
        }
        let u = try Harness.envyro(["run", "--policy", "strict", "--", "unshare", "-U", "true"], as: who)
        #expect(u.status == 128 + 31, "\(u.stderr)")
    }

    @Test("a --seccomp FILE stacks under strict and the workload runs with both filters", arguments: identities)
    func stackedFilter(who: Harness.Identity) throws {
        // Strict once killed its own init here: installing the second filter is a seccomp() call
        // that strict's filter judges.
        let dir = Harness.scratchDirectory("strict-stack")
        defer { try? FileManager.default.removeItem(at: dir) }
        let profile = dir.appendingPathComponent("deny-mkdir.json").path
        try #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#
            .write(toFile: profile, atomically: false, encoding: .utf8)
        _ = try Harness.run(["/bin/chmod", "a+r", profile])
        let r = try Harness.envyro(["run", "--policy", "strict", "--seccomp", profile, "--",
                                    "sh", "-c", "mkdir /tmp/x 2>/dev/null || echo denied; grep Seccomp_filters /proc/self/status"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "denied\nSeccomp_filters:\t2\n", "\(r.stderr)")
    }

    @Test("an unknown prctl option and a socket get EPERM and PR_SET_NAME works, with no kill", arguments: identities)
    func prctlRefusedNotKilled(who: Harness.Identity) throws {
        let script = """
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            def call(option, arg=0):
                ctypes.set_errno(0)
                r = libc.prctl(option, arg, 0, 0, 0)
                return f"{r} {ctypes.get_errno()}"
            print("set_name", call(15, ctypes.c_char_p(b"envyro-named")), open("/proc/self/comm").read().strip())
            print("unknown", call(1000))
            print("set_mm", call(35))
            print("capbset_drop", call(24))
            """
        let r = try runStrict(["/usr/bin/python3", "-c", script], as: who)
        #expect(r.stdout == "set_name 0 0 envyro-named\nunknown -1 1\nset_mm -1 1\ncapbset_drop -1 1\n", "\(r.stderr)")
        let s = try runStrict(["/usr/bin/python3", "-c", "import socket\ntry: socket.socket()\nexcept OSError as e: print('socket', e.errno)"], as: who)
        #expect(s.stdout == "socket 1\n", "\(s.stderr)")
    }
}
}
