import Synchronization
import Testing
@testable import EnvyroEngine

struct StepError: Error, CustomStringConvertible {
    let text: String
    var description: String { text }
}

@Suite("ParallelSetup")
struct ParallelSetupTests {
    @Test("Independent steps run concurrently and each is timed")
    func concurrent() async throws {
        // Each step waits until all four have started: that can only finish if they run at
        // the same time (sequentially, the first would wait forever and time out). No timing
        // threshold, so a loaded machine can't make it flaky.
        let started = Atomic<Int>(0)
        let steps = ["cgroup", "rootfs", "template", "helper"].map { name in
            SetupStep(name) {
                started.add(1, ordering: .sequentiallyConsistent)
                for _ in 0..<30_000 where started.load(ordering: .sequentiallyConsistent) < 4 {
                    try await Task.sleep(nanoseconds: 1_000_000)
                }
                guard started.load(ordering: .sequentiallyConsistent) == 4 else {
                    throw StepError(text: "\(name) never saw the other steps start")
                }
            }
        }
        let result = try await ParallelSetup.run(steps)
        #expect(result.steps.map(\.name) == ["cgroup", "rootfs", "template", "helper"])
        #expect(result.ok)
        #expect(result.steps.allSatisfy { $0.durationNs > 0 && $0.durationNs <= result.totalNs })
    }

    @Test("The first failure cancels the rest and is thrown with every step's timing")
    func failure() async {
        let sawCancel = Flag()
        let steps = [
            SetupStep("fails") { throw StepError(text: "rootfs /srv/x is missing") },
            SetupStep("slow") {
                do { try await Task.sleep(nanoseconds: 5_000_000_000) } catch {
                    sawCancel.set()
                    throw error
                }
            },
            SetupStep("quick") {},
        ]
        let start = monotonicNanoseconds()
        do {
            _ = try await ParallelSetup.run(steps)
            Issue.record("expected a failure")
        } catch let failure as SetupStepFailure {
            #expect(failure.step == "fails")
            #expect(failure.description == "setup step 'fails' failed: rootfs /srv/x is missing")
            #expect((failure.underlying as? StepError)?.text == "rootfs /srv/x is missing")
            #expect(failure.result.steps[0] == SetupStepTiming(name: "fails", durationNs: failure.result.steps[0].durationNs, ok: false, failure: "rootfs /srv/x is missing"))
            #expect(failure.result.steps[1].ok == false && failure.result.steps[1].failure == "cancelled")
            #expect(sawCancel.isSet)
        } catch {
            Issue.record("unexpected \(error)")
        }
        // sawCancel proves the slow step was cancelled rather than awaited (no timing bound: the
        // cooperative pool is shared with every other test running at the same time).
        _ = start
    }

    @Test("The sequential variant runs in order and skips after a failure")
    func sequential() {
        var order: [String] = []
        let steps = [
            SequentialSetupStep("a") { order.append("a") },
            SequentialSetupStep("b") { throw StepError(text: "boom") },
            SequentialSetupStep("c") { order.append("c") },
        ]
        do {
            _ = try ParallelSetup.runSequential(steps)
            Issue.record("expected a failure")
        } catch let failure as SetupStepFailure {
            #expect(failure.step == "b")
            #expect(failure.result.steps.map(\.ok) == [true, false, false])
            #expect(failure.result.steps[2].failure == "skipped")
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(order == ["a"])
        let ok = try? ParallelSetup.runSequential([SequentialSetupStep("only") {}])
        #expect(ok?.steps.count == 1 && ok?.ok == true)
    }

    @Test("The timings table lists each step in milliseconds and the total")
    func formatted() {
        let result = SetupResult(steps: [
            SetupStepTiming(name: "cgroup", durationNs: 120_000, ok: true),
            SetupStepTiming(name: "rootfs", durationNs: 1_234_567, ok: false, failure: "missing"),
        ], totalNs: 1_300_000)
        #expect(result.formatted() == """
            step            ms  status
            cgroup       0.120  ok
            rootfs       1.235  failed: missing
            total        1.300
            """)
    }
}
