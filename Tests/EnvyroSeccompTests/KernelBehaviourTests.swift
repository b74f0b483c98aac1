import EnvyroSeccomp
import Foundation
import Testing

/// A small C program, compiled at test time, that installs a BPF file the way the container
/// init does (no_new_privs, then seccomp(SECCOMP_SET_MODE_FILTER)) and then makes one system
/// call, printing `result=<r> errno=<e>`; or, with "exec", execs the rest of its arguments.
private let runnerSource = #"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long child_and_wait(long r) {
    if (r == 0) _exit(0);
    if (r > 0) { int st; waitpid((pid_t)r, &st, __WALL); return 0; }
    return r;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: runner BPF SYSCALL [args]\n"); return 2; }
    static unsigned char buf[65536];
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open bpf"); return 2; }
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n <= 0 || n % 8 != 0) { fprintf(stderr, "bad bpf size %zd\n", n); return 2; }
    struct sock_fprog prog = { .len = (unsigned short)(n / 8), .filter = (struct sock_filter *)buf };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("no_new_privs"); return 3; }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); return 4; }

    const char *what = argv[2];
    char c = 'x';
    unsigned char params[120];
    memset(params, 0, sizeof params);
    errno = 0;
    long r;
    if (!strcmp(what, "exec")) { execv(argv[3], argv + 3); perror("execv"); return 5; }
    else if (!strcmp(what, "getpid")) r = syscall(SYS_getpid);
    else if (!strcmp(what, "open")) r = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY);
    else if (!strcmp(what, "fork")) r = child_and_wait(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
    else if (!strcmp(what, "clone-newuser")) r = child_and_wait(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0));
    else if (!strcmp(what, "clone3")) {
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.exit_signal = SIGCHLD;
        r = child_and_wait(syscall(SYS_clone3, &args, sizeof args));
    }
    else if (!strcmp(what, "unshare")) r = syscall(SYS_unshare, CLONE_NEWUSER);
    else if (!strcmp(what, "unshare-files")) r = syscall(SYS_unshare, CLONE_FILES);
    else if (!strcmp(what, "setns")) r = syscall(SYS_setns, -1, 0);
    else if (!strcmp(what, "ptrace")) r = syscall(SYS_ptrace, 3 /* PTRACE_PEEKUSER */, getppid(), 0, 0);
    else if (!strcmp(what, "process_vm_readv")) r = syscall(SYS_process_vm_readv, getpid(), 0, 0, 0, 0, 0);
    else if (!strcmp(what, "personality")) r = syscall(SYS_personality, 0x0040000 /* ADDR_NO_RANDOMIZE */);
    else if (!strcmp(what, "personality-query")) r = syscall(SYS_personality, 0xffffffffUL);
    else if (!strcmp(what, "tiocsti")) r = syscall(SYS_ioctl, 0, TIOCSTI, &c);
    else if (!strcmp(what, "tiocsti-high-bits")) r = syscall(SYS_ioctl, 0, (1UL << 32) | TIOCSTI, &c);
    else if (!strcmp(what, "tioclinux")) r = syscall(SYS_ioctl, 0, TIOCLINUX, &c);
    else if (!strcmp(what, "tcgets")) r = syscall(SYS_ioctl, 0, TCGETS, params);
    else if (!strcmp(what, "mount")) r = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0);
    else if (!strcmp(what, "umount2")) r = syscall(SYS_umount2, "/tmp", 0);
    else if (!strcmp(what, "pivot_root")) r = syscall(SYS_pivot_root, "/", "/");
    else if (!strcmp(what, "keyctl")) r = syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -1, 0);
    else if (!strcmp(what, "add_key")) r = syscall(SYS_add_key, "user", "x", "y", 1, -1);
    else if (!strcmp(what, "bpf")) r = syscall(SYS_bpf, 0, 0, 0);
    else if (!strcmp(what, "perf_event_open")) r = syscall(SYS_perf_event_open, 0, 0, -1, -1, 0);
    else if (!strcmp(what, "userfaultfd")) r = syscall(SYS_userfaultfd, 0);
    else if (!strcmp(what, "io_uring_setup")) r = syscall(SYS_io_uring_setup, 1, params);
    else if (!strcmp(what, "kexec_load")) r = syscall(SYS_kexec_load, 0, 0, 0, 0);
    else if (!strcmp(what, "init_module")) r = syscall(SYS_init_module, 0, 0, "");
    else if (!strcmp(what, "syscall-999")) r = syscall(999);
    else if (!strcmp(what, "clone-newpid")) r = child_and_wait(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0));
    else if (!strcmp(what, "clone-newns")) r = child_and_wait(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0));
    else if (!strcmp(what, "clone-thread")) r = child_and_wait(syscall(SYS_clone, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0));
    else if (!strcmp(what, "open_tree")) r = syscall(SYS_open_tree, -1, "", 0);
    else if (!strcmp(what, "move_mount")) r = syscall(SYS_move_mount, -1, "", -1, "", 0);
    else if (!strcmp(what, "fsopen")) r = syscall(SYS_fsopen, "envyro-no-such-fs", 0);
    else if (!strcmp(what, "mount_setattr")) r = syscall(SYS_mount_setattr, -1, "", 0, 0, 0);
    else if (!strcmp(what, "request_key")) r = syscall(SYS_request_key, "user", "envyro-none", 0, 0);
    else if (!strcmp(what, "io_uring_enter")) r = syscall(SYS_io_uring_enter, -1, 0, 0, 0, 0, 0);
    else if (!strcmp(what, "kexec_file_load")) r = syscall(SYS_kexec_file_load, -1, -1, 0, 0, 0);
    else if (!strcmp(what, "finit_module")) r = syscall(SYS_finit_module, -1, "", 0);
    else if (!strcmp(what, "delete_module")) r = syscall(SYS_delete_module, "envyro-no-such-module", 0);
    else if (!strcmp(what, "open_by_handle_at")) r = syscall(SYS_open_by_handle_at, -1, 0, 0);
    else if (!strcmp(what, "name_to_handle_at")) r = syscall(SYS_name_to_handle_at, -1, "", 0, 0, 0);
    else if (!strcmp(what, "reboot")) r = syscall(SYS_reboot, 0, 0, 0, 0);  /* bad magic: EINVAL if it ever got through */
    else if (!strcmp(what, "swapon")) r = syscall(SYS_swapon, 0, 0);
    else if (!strcmp(what, "syslog")) r = syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, 0, 0);
    else if (!strcmp(what, "acct")) r = syscall(SYS_acct, (char *)1);   /* EFAULT, never "switch accounting off" */
    else if (!strcmp(what, "settimeofday")) r = syscall(SYS_settimeofday, 0, 0);
    else if (!strcmp(what, "clock_settime")) r = syscall(SYS_clock_settime, -1, 0);
    else if (!strcmp(what, "adjtimex")) r = syscall(SYS_adjtimex, 0);
    else if (!strcmp(what, "iopl")) r = syscall(SYS_iopl, 0);
    else if (!strcmp(what, "quotactl")) r = syscall(SYS_quotactl, 0, 0, 0, 0);
    else if (!strcmp(what, "pidfd_getfd")) r = syscall(SYS_pidfd_getfd, -1, 0, 0);
    else if (!strcmp(what, "kcmp")) r = syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0);
    else if (!strcmp(what, "socket")) r = syscall(SYS_socket, 2 /* AF_INET */, 1 /* SOCK_STREAM */, 0);
    else if (!strcmp(what, "socketpair")) { int sv[2]; r = syscall(SYS_socketpair, 1 /* AF_UNIX */, 1, 0, sv); }
    else if (!strcmp(what, "connect")) r = syscall(SYS_connect, 0, 0, 0);
    else if (!strcmp(what, "getpeername")) r = syscall(SYS_getpeername, 0, params, params + 64);
    else if (!strcmp(what, "chroot")) r = syscall(SYS_chroot, "/");
    else if (!strcmp(what, "set_mempolicy")) r = syscall(SYS_set_mempolicy, 0, 0, 0);
    else if (!strcmp(what, "sched_getparam")) r = syscall(SYS_sched_getparam, 0, params);
    else if (!strcmp(what, "mincore")) r = syscall(SYS_mincore, (void *)((unsigned long)buf & ~4095UL), 4096, params);
    else if (!strcmp(what, "membarrier")) r = syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0) < 0 ? -1 : 0;
    else if (!strcmp(what, "eventfd2")) r = syscall(SYS_eventfd2, 0, 0) < 0 ? -1 : 0;
    else if (!strcmp(what, "timerfd_create")) r = syscall(SYS_timerfd_create, 1 /* CLOCK_MONOTONIC */, 0) < 0 ? -1 : 0;
    else if (!strcmp(what, "setuid-self")) r = syscall(SYS_setuid, getuid());
    else if (!strcmp(what, "seccomp-stack") || !strcmp(what, "seccomp-listener")) {
        struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog one = { .len = 1, .filter = &allow };
        unsigned long flags = !strcmp(what, "seccomp-listener") ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
        r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &one);
        if (r > 0) { close((int)r); r = 0; }
    }
    /* prctl: option in argv[3] (decimal or 0x hex), arg2 in argv[4] */
    else if (!strcmp(what, "prctl") && argc > 3) {
        unsigned long option = strtoul(argv[3], 0, 0);
        unsigned long arg2 = argc > 4 ? strtoul(argv[4], 0, 0) : 0;
        char name[16] = "envyro-test";
        if (option == PR_SET_NAME || option == PR_GET_NAME) arg2 = (unsigned long)name;
        if (option == PR_GET_PDEATHSIG || option == PR_GET_TID_ADDRESS) arg2 = (unsigned long)params;
        r = syscall(SYS_prctl, option, arg2, 0, 0, 0);
        if (r > 0) r = 0;
    }
    else { fprintf(stderr, "unknown action %s\n", what); return 2; }
    printf("result=%ld errno=%d\n", r, r < 0 ? errno : 0);
    fflush(stdout);
    return 0;
}
"""#

/// What a run of the runner ended with.
enum Outcome: Equatable, CustomStringConvertible {
    /// The call returned this errno (0 = success).
    case errno(Int32)
    /// The process was killed by this signal.
    case signal(Int32)

    var description: String {
        switch self {
        case .errno(let e): "errno \(e)"
        case .signal(let s): "signal \(s)"
        }
    }

    static let ok = Outcome.errno(0)
    static let killed = Outcome.signal(SIGSYS)
}

/// The scratch directory of this test process, removed when it exits.
private let harnessDirectory = NSTemporaryDirectory() + "envyro-seccomp-\(getpid())"

/// Builds the runner once and writes compiled profiles to files.
final class KernelHarness: Sendable {
    static let shared = KernelHarness()

    /// Why the harness can't run, or nil when it can.
    let skipReason: String?
    let directory: String
    let runner: String

    private init() {
        let dir = harnessDirectory
        directory = dir
        atexit { try? FileManager.default.removeItem(atPath: harnessDirectory) }
        runner = dir + "/runner"
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/gcc") else {
            skipReason = "/usr/bin/gcc is missing: can't build the seccomp test runner"
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try runnerSource.write(toFile: dir + "/runner.c", atomically: false, encoding: .utf8)
        } catch {
            skipReason = "can't write the runner source: \(error)"
            return
        }
        let gcc = Process()
        gcc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        gcc.arguments = ["-O1", "-o", dir + "/runner", dir + "/runner.c"]
        let errors = Pipe()
        gcc.standardError = errors
        do {
            try gcc.run()
            gcc.waitUntilExit()
        } catch {
            skipReason = "gcc failed to start: \(error)"
            return
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        skipReason = gcc.terminationStatus == 0 ? nil : "gcc failed to build the runner: \(message)"
    }

    /// Writes `filter` to a file named after `name` and returns its path.
    func write(_ filter: CompiledFilter, name: String) throws -> String {
        let path = "\(directory)/\(name).bpf"
        try Data(filter.bpf).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Runs the runner under the BPF at `bpf`, making `call`; returns the outcome and output.
    func run(bpf: String, _ arguments: [String]) throws -> (outcome: Outcome?, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: runner)
        process.arguments = [bpf] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        if process.terminationReason == .uncaughtSignal {
            return (.signal(process.terminationStatus), output)
        }
        guard process.terminationStatus == 0 else { return (nil, output) }
        if let range = output.range(of: "errno=") {
            let digits = output[range.upperBound...].prefix { $0.isNumber }
            if let e = Int32(digits) { return (.errno(e), output) }
        }
        return (nil, output)
    }
}

/// Compiled shipped profiles, written once for the kernel tests.
private let compiledPaths: [String: String] = {
    var paths: [String: String] = [:]
    let harness = KernelHarness.shared
    guard harness.skipReason == nil else { return paths }
    for name in ["strict", "default"] {
        if let profile = try? Fixtures.shipped(name),
           let filter = try? SeccompCompiler.compile(profile, capabilities: []),
           let path = try? harness.write(filter, name: name) {
            paths[name] = path
        }
    }
    return paths
}()

/// True (and prints why) when the kernel tests must be skipped.
private func mustSkip() -> Bool {
    if let reason = KernelHarness.shared.skipReason {
        print("SKIP seccomp kernel tests: \(reason)")
        return true
    }
    return false
}

private let EPERM_ = Outcome.errno(1)
private let ENOSYS_ = Outcome.errno(38)

@Suite("The compiled filters in a real kernel")
struct KernelBehaviourTests {
    @Test("Under the strict profile, each call is allowed, refused or kills as designed", arguments: [
        ("getpid", Outcome.ok),
        ("open", .ok),
        ("fork", .ok),
        ("clone-thread", .ok),
        ("personality-query", .ok),
        ("tcgets", .errno(25)), // allowed through to the kernel: stdin is not a terminal
        ("getpeername", .errno(88)), // allowed through: stdin is not a socket (ENOTSOCK); bash asks
        ("sched_getparam", .ok),
        ("mincore", .ok),
        ("membarrier", .ok),
        ("eventfd2", .ok),
        ("timerfd_create", .ok),
        ("setuid-self", .ok),
        ("seccomp-stack", .ok),      // a filter of its own can only restrict further
        ("seccomp-listener", EPERM_), // but no user-notification listener
        // Refused in a way a program recovers from: ENOSYS for what the profile doesn't name.
        ("clone3", ENOSYS_),
        ("syscall-999", ENOSYS_),
        ("personality", ENOSYS_),
        ("chroot", ENOSYS_),
        ("set_mempolicy", ENOSYS_),
        // EPERM: no sockets, no terminal injection.
        ("socket", EPERM_),
        ("socketpair", EPERM_),
        ("connect", EPERM_),
        ("tiocsti", EPERM_),
        ("tiocsti-high-bits", EPERM_),
        ("tioclinux", EPERM_),
        // The dangerous set kills.
        ("clone-newuser", .killed),
        ("clone-newpid", .killed),
        ("clone-newns", .killed),
        ("unshare", .killed),
        ("unshare-files", .killed),
        ("setns", .killed),
        ("ptrace", .killed),
        ("process_vm_readv", .killed),
        ("kcmp", .killed),
        ("pidfd_getfd", .killed),
        ("mount", .killed),
        ("umount2", .killed),
        ("pivot_root", .killed),
        ("open_tree", .killed),
        ("move_mount", .killed),
        ("fsopen", .killed),
        ("mount_setattr", .killed),
        ("keyctl", .killed),
        ("add_key", .killed),
        ("request_key", .killed),
        ("bpf", .killed),
        ("perf_event_open", .killed),
        ("userfaultfd", .killed),
        ("io_uring_setup", .killed),
        ("io_uring_enter", .killed),
        ("kexec_load", .killed),
        ("kexec_file_load", .killed),
        ("init_module", .killed),
        ("finit_module", .killed),
        ("delete_module", .killed),
        ("open_by_handle_at", .killed),
        ("name_to_handle_at", .killed),
        ("reboot", .killed),
        ("swapon", .killed),
        ("syslog", .killed),
        ("acct", .killed),
        ("settimeofday", .killed),
        ("clock_settime", .killed),
        ("adjtimex", .killed),
        ("iopl", .killed),
        ("quotactl", .killed),
    ])
    func strict(call: String, expected: Outcome) throws {
        if mustSkip() { return }
        let bpf = try #require(compiledPaths["strict"])
        let (outcome, output) = try KernelHarness.shared.run(bpf: bpf, [call])
        #expect(outcome == expected, "\(call): \(output)")
    }

    @Test("Under the strict profile, prctl runs its harmless options and refuses every other with EPERM", arguments: [
        ("15", "0", Outcome.ok),           // PR_SET_NAME: busybox names every applet
        ("16", "0", .ok),                  // PR_GET_NAME
        ("1", "0", .ok),                   // PR_SET_PDEATHSIG
        ("2", "0", .ok),                   // PR_GET_PDEATHSIG
        ("3", "0", .ok),                   // PR_GET_DUMPABLE
        ("4", "0", .ok),                   // PR_SET_DUMPABLE to 0
        ("4", "1", EPERM_),                // PR_SET_DUMPABLE back to 1
        ("21", "0", .ok),                  // PR_GET_SECCOMP
        ("23", "0", .ok),                  // PR_CAPBSET_READ
        ("36", "1", .ok),                  // PR_SET_CHILD_SUBREAPER (tini, dumb-init)
        ("38", "1", .ok),                  // PR_SET_NO_NEW_PRIVS
        ("39", "0", .ok),                  // PR_GET_NO_NEW_PRIVS
        ("41", "1", .ok),                  // PR_SET_THP_DISABLE
        ("47", "1", .ok),                  // PR_CAP_AMBIENT_IS_SET
        ("47", "2", EPERM_),               // PR_CAP_AMBIENT_RAISE
        ("22", "0", .errno(22)),           // PR_SET_SECCOMP: allowed through, mode 0 is EINVAL
        ("24", "0", EPERM_),               // PR_CAPBSET_DROP
        ("35", "0", EPERM_),               // PR_SET_MM
        ("8", "1", EPERM_),                // PR_SET_KEEPCAPS
        ("0", "0", EPERM_),
        ("79", "0", EPERM_),               // the largest value refused one by one
        ("80", "0", EPERM_),               // above it: unknown and future options
        ("1000", "0", EPERM_),
        ("0x53564d41", "0", EPERM_),       // PR_SET_VMA
        ("0x59616d61", "0", EPERM_),       // PR_SET_PTRACER
        ("0x10000000f", "0", EPERM_),      // PR_SET_NAME with a high bit the kernel would drop
        ("0xffffffffffffffff", "0", EPERM_), // a negative option
    ])
    func strictPrctl(option: String, argument: String, expected: Outcome) throws {
        if mustSkip() { return }
        let bpf = try #require(compiledPaths["strict"])
        let (outcome, output) = try KernelHarness.shared.run(bpf: bpf, ["prctl", option, argument])
        #expect(outcome == expected, "prctl(\(option), \(argument)): \(output)")
    }

    /// The options strict lets through (PR_SET_DUMPABLE 4 and PR_CAP_AMBIENT 47 only with the
    /// argument their own rules name, which 0 is for 4 and is not for 47).
    static let strictPrctlAllowed: Set<Int> = [1, 2, 3, 4, 7, 15, 16, 21, 22, 23, 29, 30, 36, 37, 38, 39, 40, 41, 42, 52]

    @Test("Under the strict profile, each prctl option from 0 to 99, and each with bit 63 set, gets exactly the answer the profile lists: through for the harmless ones, EPERM for every other (the refused ones are compiled as masked blocks)")
    func strictPrctlEveryOption() throws {
        if mustSkip() { return }
        let bpf = try #require(compiledPaths["strict"])
        for option in 0..<100 {
            for value in [UInt64(option), UInt64(option) | (1 << 63)] {
                let (outcome, output) = try KernelHarness.shared.run(bpf: bpf, ["prctl", "0x" + String(value, radix: 16), "0"])
                if value == UInt64(option) && Self.strictPrctlAllowed.contains(option) {
                    #expect(outcome != EPERM_ && outcome != .errno(ENOSYS), "prctl(\(option), 0) must get through: \(output)")
                    if case .signal = outcome { Issue.record("prctl(\(option), 0) was killed: \(output)") }
                } else {
                    #expect(outcome == EPERM_, "prctl(0x\(String(value, radix: 16)), 0) must be refused with EPERM: \(output)")
                }
            }
        }
    }

    @Test("Under the default profile, unknown calls get ENOSYS and dangerous ones EPERM", arguments: [
        ("getpid", Outcome.ok),
        ("fork", .ok),
        ("clone3", .ok),
        ("unshare-files", .ok),
        ("syscall-999", ENOSYS_),
        ("io_uring_setup", ENOSYS_),
        ("personality", ENOSYS_),
        ("kexec_load", EPERM_),
        ("init_module", EPERM_),
        ("keyctl", EPERM_),
        ("add_key", EPERM_),
        ("bpf", EPERM_),
        ("perf_event_open", EPERM_),
        ("userfaultfd", EPERM_),
        ("mount", EPERM_),
        ("umount2", EPERM_),
        ("pivot_root", EPERM_),
        ("unshare", EPERM_),
        ("setns", EPERM_),
        ("clone-newuser", EPERM_),
        ("tcgets", .errno(25)),           // allowed through to the kernel: stdin is not a terminal
        ("tiocsti", EPERM_),              // never typed into a terminal (CVE-2017-5226 class)
        ("tiocsti-high-bits", EPERM_),
        ("tioclinux", EPERM_),
    ])
    func defaultProfile(call: String, expected: Outcome) throws {
        if mustSkip() { return }
        let bpf = try #require(compiledPaths["default"])
        let (outcome, output) = try KernelHarness.shared.run(bpf: bpf, [call])
        #expect(outcome == expected, "\(call): \(output)")
    }

    @Test("The strict profile runs a shell, coreutils, python3, bash and busybox", arguments: [
        ["/bin/sh", "-c", "ls -l / >/dev/null && id -u >/dev/null && cat /etc/passwd | wc -l >/dev/null && date >/dev/null && sort /etc/passwd | head -1 >/dev/null && echo shell-ok"],
        ["/usr/bin/python3", "-c", "import threading, subprocess, json, hashlib; t = threading.Thread(target=lambda: None); t.start(); t.join(); subprocess.run(['true'], check=True); print('python-ok')"],
        ["/bin/bash", "-c", "x=$( (echo sub) | tr a-z A-Z ); [ \"$x\" = SUB ] && echo bash-ok"],
        ["/bin/busybox", "sh", "-c", "busybox ls / >/dev/null && echo b a | busybox wc -w >/dev/null && echo busybox-ok"],
    ])
    func strictRunsPrograms(command: [String]) throws {
        if mustSkip() { return }
        guard FileManager.default.isExecutableFile(atPath: command[0]) else {
            print("SKIP: \(command[0]) is not installed")
            return
        }
        let bpf = try #require(compiledPaths["strict"])
        let (outcome, output) = try KernelHarness.shared.run(bpf: bpf, ["exec"] + command)
        #expect(outcome != .killed, "\(command[0]) was killed: \(output)")
        #expect(output.contains("-ok"), "\(output)")
    }

    @Test("A static C binary starts under the strict profile")
    func strictRunsStaticBinary() throws {
        if mustSkip() { return }
        let harness = KernelHarness.shared
        let source = harness.directory + "/static.c"
        let binary = harness.directory + "/static"
        try "#include <stdio.h>\nint main(void) { FILE *f = fopen(\"/etc/hostname\", \"r\"); printf(\"static-%s\\n\", f ? \"ok\" : \"nofile\"); return 0; }\n"
            .write(toFile: source, atomically: false, encoding: .utf8)
        let gcc = Process()
        gcc.executableURL = URL(fileURLWithPath: "/usr/bin/gcc")
        gcc.arguments = ["-O1", "-static", "-o", binary, source]
        gcc.standardError = FileHandle.nullDevice
        try gcc.run()
        gcc.waitUntilExit()
        guard gcc.terminationStatus == 0 else {
            print("SKIP: gcc can't link statically here (no static libc)")
            return
        }
        let bpf = try #require(compiledPaths["strict"])
        let (outcome, output) = try harness.run(bpf: bpf, ["exec", binary])
        #expect(outcome != .killed)
        #expect(output.contains("static-ok"), "\(output)")
    }
}
