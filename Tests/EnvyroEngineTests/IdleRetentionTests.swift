import EnvyroEngine
import Testing

/// A warm pool is a cache sized by demand, never a cap (issue 14).
@Suite("IdleRetention")
struct IdleRetentionTests {
    @Test("a quiet pool keeps its floor")
    func quiet() {
        let r = IdleRetention(floor: 4, budget: 128)
        #expect(r.keep(now: 0) == 4)
    }

    @Test("after a peak of N in use, N idle members are kept (within the budget)", arguments: [
        (peak: 1, kept: 4), (peak: 20, kept: 20), (peak: 100, kept: 100), (peak: 500, kept: 128),
    ])
    func keepsThePeak(peak: Int, kept: Int) {
        var r = IdleRetention(floor: 4, budget: 128)
        for n in 1...peak { r.noteInUse(n, now: 1_000) }
        // Demand falls while the runs finish: the peak still counts.
        for n in stride(from: peak, through: 0, by: -1) { r.noteInUse(n, now: 2_000) }
        #expect(r.keep(now: 3_000) == kept)
    }

    @Test("a peak is forgotten once demand stayed below it for the window")
    func decays() {
        var r = IdleRetention(floor: 2, budget: 128, windowNanoseconds: 1_000)
        r.noteInUse(100, now: 0)
        r.noteInUse(3, now: 500)
        #expect(r.keep(now: 900) == 100)
        #expect(r.keep(now: 1_500) == 2)
        r.noteInUse(3, now: 1_600)
        #expect(r.keep(now: 1_700) == 3)
    }

    @Test("the budget is never below the floor")
    func budgetAtLeastFloor() {
        let r = IdleRetention(floor: 10, budget: 3)
        #expect(r.budget == 10)
        #expect(r.keep(now: 0) == 10)
    }
}
