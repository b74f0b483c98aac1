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
    private let state = Mutex<State>(State())

    private struct State {
        var ready: [HelperProcess] = []
        var hits = 0, misses = 0, started = 0, discarded = 0
        var closed = false
    }

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
    }

    /// Changes how many idle helpers are kept (the policy's `pools.helpers`).
    public func setTarget(_ n: Int) { targetValue.withLock { $0 = max(0, n) } }

    private func start() throws(SupervisorError) -> HelperProcess {
        let h = try HelperProcess(path: path, policy: policy.withLock { $0 }, buffers: buffers)
        // A daemon reuses its helpers: they prepare containers ahead of runs.
        try h.greet(client: "envyro-supervisor", modes: .prewarm)
        state.withLock { $0.started += 1 }
        return h
    }

    /// A ready helper (warm when one is idle, else started now).
    public func acquire() throws(SupervisorError) -> HelperProcess {
        while let h = state.withLock({ s -> HelperProcess? in s.ready.popLast() }) {
            if h.isAlive {
                state.withLock { $0.hits += 1 }
                return h
            }
            h.close()
            state.withLock { $0.discarded += 1 }
        }
        state.withLock { $0.misses += 1 }
        return try start()
    }

    /// Gives a helper back after its run; a dead or surplus one is closed. (Up to twice the
    /// target are kept: closing a warm helper only for the refill thread to start another costs
    /// a helper start on every run.)
    public func release(_ h: HelperProcess) {
        let keep = h.isAlive && state.withLock { s -> Bool in
            guard !s.closed, s.ready.count < max(2 * target, 1) else { return false }
            s.ready.append(h)
            return true
        }
        if !keep { h.close() }
    }

    /// Starts helpers until `target` are ready (called by the refill thread). A new helper goes
    /// to the bottom of the stack: `acquire` takes the most recently used one first, whose
    /// prewarmed containers and caches are warm.
    public func refill() {
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
