import EnvyroEngine
import EnvyroSystem
import Glibc
import Synchronization

/// Warm helpers for the daemon: started and greeted ahead of time, one per run in flight, put
/// back after a clean run and replaced when one dies. A background thread keeps `target` ready.
public final class HelperPool: Sendable {
    /// How many idle helpers the pool keeps ready.
    public var target: Int { targetValue.withLock { $0 } }
    private let targetValue: Mutex<Int>
    private let path: String
    private let policy: Mutex<String>
    private let buffers: LazyResource<BufferPool>
    private let state: Mutex<State>

    private struct State {
        var ready: [HelperProcess] = []
        var hits = 0, misses = 0, started = 0, discarded = 0
        var closed = false
        /// Helpers handed out and not yet given back.
        var inUse = 0
        var retention: IdleRetention
    }

    /// Idle helpers kept at most, however many runs were in flight: each idle helper is a
    /// process of a few MiB (VmHWM 6-14 MiB measured under load). More runs than this in flight
    /// still each get a helper (started on demand); only what is kept idle afterwards is capped.
    public static let idleBudget = 128

    /// Statistics for `envyro stats`.
    public struct Stats: Sendable {
        /// Runs that got a warm helper.
        public var hits: Int
        /// Runs that had to start one.
        public var misses: Int
        /// Helpers started in all.
        public var started: Int
        /// Helpers dropped because they had died or the policy changed.
        public var discarded: Int
        /// Idle, ready helpers.
        public var ready: Int
    }

    /// A pool of helpers at `path` serving `policy`.
    public init(path: String, policy: String, buffers: LazyResource<BufferPool>, target: Int) {
        self.path = path
        self.policy = Mutex(policy)
        self.buffers = buffers
        self.targetValue = Mutex(target)
        state = Mutex(State(retention: IdleRetention(floor: max(2 * target, 1), budget: Self.idleBudget)))
    }

    /// Changes how many idle helpers are kept (the policy's `pools.helpers`).
    public func setTarget(_ n: Int) {
        targetValue.withLock { $0 = max(0, n) }
        state.withLock { $0.retention = IdleRetention(floor: max(2 * max(0, n), 1), budget: Self.idleBudget) }
    }

    private func start() throws(SupervisorError) -> HelperProcess {
        let h = try HelperProcess(path: path, policy: policy.withLock { $0 }, buffers: buffers)
        // A daemon reuses its helpers: they prepare containers ahead of runs.
        try h.greet(client: "envyro-supervisor", modes: .prewarm)
        state.withLock { $0.started += 1 }
        return h
    }

    /// A ready helper (warm when one is idle, else started now).
    /// Never a cap: with no idle helper one is started for this run.
    public func acquire() throws(SupervisorError) -> HelperProcess {
        let now = Clock.monotonicNanoseconds()
        state.withLock { s in
            s.inUse += 1
            s.retention.noteInUse(s.inUse, now: now)
        }
        while let h = state.withLock({ s -> HelperProcess? in s.ready.popLast() }) {
            if h.isAlive {
                state.withLock { $0.hits += 1 }
                return h
            }
            h.close()
            state.withLock { $0.discarded += 1 }
        }
        state.withLock { $0.misses += 1 }
        do { return try start() } catch {
            state.withLock { $0.inUse -= 1 }
            throw error
        }
    }

    /// Gives a helper back after its run; a dead or surplus one is closed. As many are kept
    /// idle as were in use at the recent peak (`IdleRetention`, within `idleBudget`), at least
    /// twice the target: closing a warm helper only for the next run to start another costs a
    /// helper start on every run (measured with 100 runs in flight: see `make test-load`).
    public func release(_ h: HelperProcess) {
        let now = Clock.monotonicNanoseconds()
        let alive = h.isAlive
        let keep = state.withLock { s -> Bool in
            s.inUse -= 1
            guard alive, !s.closed, s.ready.count < s.retention.keep(now: now) else { return false }
            s.ready.append(h)
            return true
        }
        if !keep { h.close() }
    }

    /// Starts helpers until `target` are ready (called by the refill thread). A new helper goes
    /// to the bottom of the stack: `acquire` takes the most recently used one first, whose
    /// prewarmed containers and caches are warm.
    public func refill() {
        // Idle helpers beyond what recent demand justifies are closed (oldest first).
        let now = Clock.monotonicNanoseconds()
        let surplus = state.withLock { s -> [HelperProcess] in
            let keep = s.retention.keep(now: now)
            guard s.ready.count > keep else { return [] }
            let extra = Array(s.ready.prefix(s.ready.count - keep))
            s.ready.removeFirst(extra.count)
            return extra
        }
        for h in surplus { h.close() }
        while state.withLock({ !$0.closed && $0.ready.count < target }) {
            guard let h = try? start() else { return }
            let kept = state.withLock { s -> Bool in
                guard !s.closed else { return false }
                s.ready.insert(h, at: 0)
                return true
            }
            if !kept { h.close(); return }
        }
    }

    /// New helpers load `reference`; idle ones (with the old policy) are dropped.
    public func switchPolicy(_ reference: String) {
        policy.withLock { $0 = reference }
        let old = state.withLock { s -> [HelperProcess] in
            let r = s.ready
            s.ready = []
            s.discarded += r.count
            return r
        }
        for h in old { h.close() }
    }

    /// Closes every idle helper and stops keeping any.
    public func close() {
        let old = state.withLock { s -> [HelperProcess] in
            s.closed = true
            let r = s.ready
            s.ready = []
            return r
        }
        for h in old { h.close() }
    }

    /// Current figures.
    public var stats: Stats {
        state.withLock { Stats(hits: $0.hits, misses: $0.misses, started: $0.started, discarded: $0.discarded, ready: $0.ready.count) }
    }
}
