/// How many idle members a warm pool keeps (issue 14: a pool is a cache, never a cap).
///
/// A pool sized by a fixed number thrashes under load: with 100 runs in flight and 4 idle
/// helpers kept, nearly every run closes its helper on release and the next run starts a new
/// one. This keeps as many idle members as were in use at the recent peak, so a steady load of
/// N runs reuses N warm members; at least `floor` (the policy's number), at most `budget` (the
/// memory the pool may hold when idle); the peak is forgotten once demand has stayed below it
/// for `window`. It never limits how many members are in use: that only grows.
public struct IdleRetention: Sendable, Equatable {
    /// Idle members kept however quiet the pool is.
    public let floor: Int
    /// Idle members kept however busy it was.
    public let budget: Int
    /// How long a peak counts after demand last reached it.
    public let windowNanoseconds: UInt64
    private var peak = 0
    private var peakAt: UInt64 = 0

    /// A retention rule; `budget` is raised to `floor` when below it.
    public init(floor: Int, budget: Int, windowNanoseconds: UInt64 = 30_000_000_000) {
        self.floor = max(0, floor)
        self.budget = max(self.floor, budget)
        self.windowNanoseconds = windowNanoseconds
    }

    /// Records that `inUse` members are in use at `now`.
    public mutating func noteInUse(_ inUse: Int, now: UInt64) {
        if inUse >= peak || now &- peakAt > windowNanoseconds {
            peak = inUse
            peakAt = now
        }
    }

    /// The idle members to keep at `now`.
    public func keep(now: UInt64) -> Int {
        let demand = now &- peakAt > windowNanoseconds ? 0 : peak
        return min(budget, max(floor, demand))
    }
}
