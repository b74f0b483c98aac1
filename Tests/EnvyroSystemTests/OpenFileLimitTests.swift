import EnvyroSystem
import Glibc
import Testing

/// The supervisor's descriptor budget (issue 14): raised to the hard limit at start; running out
/// is a refusal with a reason, never a crash.
@Suite("OpenFileLimit")
struct OpenFileLimitTests {
    @Test("raising to the hard limit leaves soft equal to hard")
    func raise() {
        let r = OpenFileLimit.raiseToHard()
        let now = OpenFileLimit.current()
        #expect(now.soft == now.hard)
        #expect(r.after == now.soft)
    }

    @Test("the open descriptors are counted: ten more open, ten more counted, and back when they close")
    func count() {
        let before = OpenFileLimit.openCount() ?? 0
        #expect(before >= 3)
        let fds = (0..<10).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) }
        #expect(fds.allSatisfy { $0 >= 0 })
        // Other test threads may open or close a few meanwhile: within a small margin.
        let during = OpenFileLimit.openCount() ?? 0
        #expect(abs(during - before - 10) <= 4, "\(before) then \(during)")
        for fd in fds { close(fd) }
        #expect(abs((OpenFileLimit.openCount() ?? 0) - before) <= 4)
    }

    @Test("a run needing more descriptors than are left is refused with the reason", arguments: [0, 8, 1 << 40])
    func refusal(needed: Int) {
        let why = OpenFileLimit.refusal(needed: needed)
        if needed < 1 << 20 {
            #expect(why == nil)
        } else {
            #expect(why?.contains("out of file descriptors") == true)
            #expect(why?.contains("RLIMIT_NOFILE") == true)
        }
    }
}
