import Foundation
import Testing

extension Hostile {
/// CVE-2017-5226 class: a workload that shares the caller's terminal session pushes input into
/// it with ioctl(TIOCSTI); the caller's shell runs it after the container exits.
@Suite("typing into the caller's terminal")
struct Terminal {
    /// In a real pty: a shell runs `envyro run -- <workload that pushes "echo PWNED" with
    /// TIOCSTI>`, then reads one line from the terminal. The line must be the one the test
    /// types afterwards, never the workload's.
    static func shellReadsAfter(_ envyroArgs: [String], as who: Harness.Identity) throws -> String {
        let inject = "import fcntl, termios\nfor c in b'PWNED\\n':\n    try: fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))\n    except OSError as e: print('refused', e.errno); break"
        var command = [Harness.envyro] + envyroArgs + ["--", "python3", "-c", inject]
        if who == .ordinary {
            guard let user = Harness.ordinaryUser else { throw Harness.SkipInfo("no ordinary user") }
            command = ["/usr/sbin/runuser", "-u", user, "--"] + command
        }
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let driver = """
            import os, pty, select, sys, time
            pid, fd = pty.fork()
            if pid == 0:
                os.execv("/bin/sh", ["sh", "-c", sys.argv[1] + '; read line; echo "GOT:$line"'])
            out, typed, start = b"", False, time.time()
            while time.time() - start < 20:
                r, _, _ = select.select([fd], [], [], 0.2)
                if r:
                    try: chunk = os.read(fd, 4096)
                    except OSError: break
                    if not chunk: break
                    out += chunk
                elif not typed and time.time() - start > 3:
                    os.write(fd, b"clean\\n"); typed = True
                if b"GOT:" in out and out.rstrip().endswith((b"PWNED", b"clean")): break
            os.waitpid(pid, 0)
            sys.stdout.write(out.decode(errors="replace"))
            """
        return try Harness.run(["/usr/bin/python3", "-c", driver, quoted], timeout: 40).stdout
    }

    @Test("a workload can't push input into the caller's terminal with TIOCSTI (CVE-2017-5226)",
          arguments: Hostile.identities)
    func tiocsti(who: Harness.Identity) throws {
        for policy in ["default", "strict"] {
            let out = try Self.shellReadsAfter(["run", "--policy", policy], as: who)
            #expect(out.contains("GOT:clean"), "\(policy): \(out)")
            #expect(!out.contains("GOT:PWNED"), "\(policy): the workload typed into the caller's shell: \(out)")
            #expect(out.contains("refused 1"), "\(policy): TIOCSTI was not refused with EPERM: \(out)")
        }
    }

    @Test("the workload runs in a session of its own, without a controlling terminal", arguments: Hostile.identities)
    func ownSession(who: Harness.Identity) throws {
        // sid == pid of the container's first process (1), and no controlling terminal (tty_nr 0).
        let r = try Harness.envyro(["run", "--", "sh", "-c", "cut -d' ' -f6,7 /proc/self/stat; grep NSsid /proc/self/status"], as: who)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("1 0\n"), "\(r.stdout)")
    }
}
}
