import EnvyroSystem
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

    @Test("the open descriptors are counted")
    func count() {
        #expect((OpenFileLimit.openCount() ?? 0) >= 3)
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
