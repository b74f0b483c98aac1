/// One independent setup step of a run, for ``ParallelSetup/run(_:)``.
public struct SetupStep: Sendable {
    /// The step's name in timings, e.g. `cgroup`.
    public let name: String
    /// The work.
    public let body: @Sendable () async throws -> Void

    /// Creates a step.
    public init(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.body = body
    }
}

/// One step of a run that must stay on the caller's thread, for ``ParallelSetup/runSequential(_:)``.
public struct SequentialSetupStep {
    /// The step's name in timings.
    public let name: String
    /// The work.
    public let body: () throws -> Void

    /// Creates a step.
    public init(_ name: String, _ body: @escaping () throws -> Void) {
        self.name = name
        self.body = body
    }
}

/// How one setup step went.
public struct SetupStepTiming: Sendable, Hashable {
    /// The step's name.
    public var name: String
    /// How long it ran, in nanoseconds (0 when it never started).
    public var durationNs: UInt64
    /// Whether it finished without error.
    public var ok: Bool
    /// Why it failed: its error, or that it was cancelled or skipped after another step failed.
    public var failure: String?

    /// Creates a timing.
    public init(name: String, durationNs: UInt64, ok: Bool, failure: String? = nil) {
        self.name = name
        self.durationNs = durationNs
        self.ok = ok
        self.failure = failure
    }
}

/// The timings of a run's setup, in the order the steps were given.
public struct SetupResult: Sendable, Hashable {
    /// Per-step timings.
    public var steps: [SetupStepTiming]
    /// Wall time of the whole setup in nanoseconds.
    public var totalNs: UInt64

    /// Creates a result.
    public init(steps: [SetupStepTiming], totalNs: UInt64) {
        self.steps = steps
        self.totalNs = totalNs
    }

    /// Whether every step succeeded.
    public var ok: Bool { steps.allSatisfy(\.ok) }

    /// Sum of the step durations; more than ``totalNs`` when steps overlapped.
    public var summedNs: UInt64 { steps.reduce(0) { $0 &+ $1.durationNs } }

    /// A small table for `envyro run --timings`:
    /// ```
    /// step        ms      status
    /// cgroup      0.120   ok
    /// rootfs      0.300   failed: ...
    /// total       0.310
    /// ```
    public func formatted() -> String {
        let width = max(steps.map(\.name.count).max() ?? 0, 5) + 2
        var lines = [pad("step", width) + pad("ms", 10, alignRight: true) + "  status"]
        for step in steps {
            let status = step.ok ? "ok" : "failed" + (step.failure.map { ": \($0)" } ?? "")
            lines.append(pad(step.name, width)
                         + pad(formatFixed(step.durationNs, scaleDigits: 6, decimals: 3), 10, alignRight: true)
                         + "  " + status)
        }
        lines.append(pad("total", width) + pad(formatFixed(totalNs, scaleDigits: 6, decimals: 3), 10, alignRight: true))
        return lines.joined(separator: "\n")
    }
}

/// A setup step failed; carries the step, its error and the timings of every step.
public struct SetupStepFailure: Error, Sendable, CustomStringConvertible {
    /// The name of the first step that failed.
    public let step: String
    /// The error it threw.
    public let underlying: any Error
    /// Timings of all steps (the others show as cancelled or skipped, or finished).
    public let result: SetupResult

    /// Creates a failure.
    public init(step: String, underlying: any Error, result: SetupResult) {
        self.step = step
        self.underlying = underlying
        self.result = result
    }

    public var description: String {
        "setup step '\(step)' failed: \(underlying)"
    }
}

/// Runs a run's independent setup steps (cgroup preparation, rootfs checks, template lookup,
/// helper readiness) concurrently, timing each.
public enum ParallelSetup {
    private struct Outcome: Sendable {
        var index: Int
        var duration: UInt64
        var error: (any Error)?
        var cancelledBeforeStart: Bool
    }

    /// Runs every step concurrently in a task group and returns per-step timings.
    ///
    /// When a step throws, the remaining steps are cancelled (they see `Task.isCancelled`),
    /// their completion is awaited, and a ``SetupStepFailure`` naming the first failed step
    /// is thrown with the underlying error and every step's timing.
    public static func run(_ steps: [SetupStep]) async throws -> SetupResult {
        let start = monotonicNanoseconds()
        var timings = steps.map { SetupStepTiming(name: $0.name, durationNs: 0, ok: false, failure: "not run") }
        var firstFailure: (step: String, error: any Error)?
        await withTaskGroup(of: Outcome.self) { group in
            for (index, step) in steps.enumerated() {
                group.addTask {
                    if Task.isCancelled {
                        return Outcome(index: index, duration: 0, error: CancellationError(), cancelledBeforeStart: true)
                    }
                    let stepStart = monotonicNanoseconds()
                    do {
                        try await step.body()
                        return Outcome(index: index, duration: monotonicNanoseconds() &- stepStart, error: nil, cancelledBeforeStart: false)
                    } catch {
                        return Outcome(index: index, duration: monotonicNanoseconds() &- stepStart, error: error, cancelledBeforeStart: false)
                    }
                }
            }
            for await outcome in group {
                let name = steps[outcome.index].name
                if let error = outcome.error {
                    let cancelled = outcome.cancelledBeforeStart || (firstFailure != nil && error is CancellationError)
                    timings[outcome.index] = SetupStepTiming(
                        name: name, durationNs: outcome.duration, ok: false,
                        failure: cancelled ? "cancelled" : String(describing: error))
                    if firstFailure == nil && !cancelled {
                        firstFailure = (name, error)
                        group.cancelAll()
                    }
                } else {
                    timings[outcome.index] = SetupStepTiming(name: name, durationNs: outcome.duration, ok: true)
                }
            }
        }
        let result = SetupResult(steps: timings, totalNs: monotonicNanoseconds() &- start)
        if let firstFailure {
            throw SetupStepFailure(step: firstFailure.step, underlying: firstFailure.error, result: result)
        }
        return result
    }

    /// Runs the steps one after another on the calling thread, timing each.
    ///
    /// Stops at the first failure and throws a ``SetupStepFailure``; later steps show as skipped.
    public static func runSequential(_ steps: [SequentialSetupStep]) throws -> SetupResult {
        let start = monotonicNanoseconds()
        var timings: [SetupStepTiming] = []
        timings.reserveCapacity(steps.count)
        var firstFailure: (step: String, error: any Error)?
        for step in steps {
            if firstFailure != nil {
                timings.append(SetupStepTiming(name: step.name, durationNs: 0, ok: false, failure: "skipped"))
                continue
            }
            let stepStart = monotonicNanoseconds()
            do {
                try step.body()
                timings.append(SetupStepTiming(name: step.name, durationNs: monotonicNanoseconds() &- stepStart, ok: true))
            } catch {
                timings.append(SetupStepTiming(name: step.name, durationNs: monotonicNanoseconds() &- stepStart,
                                               ok: false, failure: String(describing: error)))
                firstFailure = (step.name, error)
            }
        }
        let result = SetupResult(steps: timings, totalNs: monotonicNanoseconds() &- start)
        if let firstFailure {
            throw SetupStepFailure(step: firstFailure.step, underlying: firstFailure.error, result: result)
        }
        return result
    }
}
