import EnvyroProtocol
import Glibc
import Synchronization

/// Everything one run needs on its way to execve: the pooled unit of ``ContextPool``.
///
/// A context belongs to one task between ``ContextPool/acquire()`` and
/// ``ContextPool/release(_:)``; it is not safe to use from two tasks at once (it is `Sendable`
/// only so it can be handed from the pool to the task that owns it). argv and environment
/// strings live in the context's own zeroing arenas (``SecretStrings``) that ``reset()`` zeroes:
/// the daemon parses a client's request straight into them, and the plan, the `CreateRequest`
/// and the frame to the helper refer to them, so they are the run's only copy and secrets passed
/// in the environment or the arguments don't linger in memory after the run.
public final class ExecutionContext: @unchecked Sendable {
    /// The run's id, unique within the pool that handed the context out (0 when not leased).
    public internal(set) var id: UInt64 = 0
    /// The working directory inside the container.
    public var cwd: String = ""
    /// The cgroup limits for the run.
    public var limits = ResourceLimitBatch()
    /// The name of the policy the run is checked against.
    public var policyName: String = ""
    /// File descriptors handed to the run (stdio, sockets); the context does not close them.
    public var fds: [Int32] = []
    /// Named step durations in nanoseconds, in recording order.
    public private(set) var timings: [(step: String, nanoseconds: UInt64)] = []

    private let argvList = SecretStrings()
    private let envList = SecretStrings()
    /// The pool that leased this context, while leased (guarded by that pool's lock).
    var leasedBy: ObjectIdentifier?

    /// Creates an empty context. Normally contexts come from a ``ContextPool``.
    public init() {
        timings.reserveCapacity(8)
        fds.reserveCapacity(4)
    }

    /// The program and its arguments, in the context's arena. Setting copies the strings in
    /// (nothing, when they are this list already: a request the daemon parsed into it).
    public var argv: SecretStrings {
        get { argvList }
        set { Self.replace(argvList, with: newValue) }
    }

    /// The environment as `KEY=VALUE` strings, in the context's arena; setting copies, as `argv`.
    public var env: SecretStrings {
        get { envList }
        set { Self.replace(envList, with: newValue) }
    }

    private static func replace(_ list: SecretStrings, with other: SecretStrings) {
        guard other !== list else { return }
        list.wipe()
        for i in 0..<other.count { list.append(other, at: i) }
    }

    /// Number of argv entries.
    public var argumentCount: Int { argvList.count }
    /// Number of environment entries.
    public var environmentCount: Int { envList.count }

    /// Appends one argument.
    public func appendArgument(_ argument: String) { argvList.append(argument) }

    /// Appends one `KEY=VALUE` environment entry.
    public func appendEnvironment(_ entry: String) { envList.append(entry) }

    /// Appends `KEY=VALUE` built from its parts.
    public func appendEnvironment(key: String, value: String) { envList.append(key + "=" + value) }

    /// The argument at `index` (a `String` copy: tests and messages).
    public func argument(at index: Int) -> String { argvList.string(at: index) }

    /// The environment entry at `index` (a `String` copy: tests and messages).
    public func environmentEntry(at index: Int) -> String { envList.string(at: index) }

    /// Records how long a named step took.
    public func recordTiming(_ step: String, nanoseconds: UInt64) {
        timings.append((step, nanoseconds))
    }

    /// Runs `body`, records its duration under `step` and returns its result.
    public func timed<R>(_ step: String, _ body: () throws -> R) rethrows -> R {
        let start = monotonicNanoseconds()
        defer { recordTiming(step, nanoseconds: monotonicNanoseconds() &- start) }
        return try body()
    }

    /// Calls `body` with NULL-terminated `argv` and `envp` arrays pointing into the context's
    /// own storage (no copies of the strings), ready for execve or posix_spawn.
    /// The pointers are valid only inside `body` and only until the context changes.
    public func withExecArrays<R>(
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>, UnsafePointer<UnsafeMutablePointer<CChar>?>) throws -> R
    ) rethrows -> R {
        var argvPointers = (0..<argvList.count).map { UnsafeMutablePointer(mutating: argvList.cString(at: $0)) as UnsafeMutablePointer<CChar>? }
        argvPointers.append(nil)
        var envPointers = (0..<envList.count).map { UnsafeMutablePointer(mutating: envList.cString(at: $0)) as UnsafeMutablePointer<CChar>? }
        envPointers.append(nil)
        return try argvPointers.withUnsafeBufferPointer { argvBuffer in
            try envPointers.withUnsafeBufferPointer { envBuffer in
                // Both arrays hold at least the terminating nil, so the base addresses exist.
                guard let argvBase = argvBuffer.baseAddress, let envBase = envBuffer.baseAddress else {
                    preconditionFailure("non-empty array without storage")
                }
                return try body(argvBase, envBase)
            }
        }
    }

    /// Calls `body` with the raw bytes of the argv and environment storage (the whole
    /// allocations, including bytes already wiped), so audits and tests can check that secrets
    /// are gone after ``reset()``.
    public func withSecretStorage<R>(_ body: (_ argv: UnsafeRawBufferPointer, _ env: UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try argvList.arena.withStorage { argv in try envList.arena.withStorage { env in try body(argv, env) } }
    }

    /// Zeroes the argv and environment bytes in place, then clears every field.
    ///
    /// The storage is kept (zeroed) so the next run through the pool doesn't allocate.
    public func reset() {
        argvList.wipe()
        envList.wipe()
        id = 0
        cwd = ""
        limits.removeAll()
        policyName = ""
        fds.removeAll(keepingCapacity: true)
        timings.removeAll(keepingCapacity: true)
    }
}

/// Statistics of a ``ContextPool``.
public struct ContextPoolStats: Sendable, Hashable {
    /// Idle contexts waiting in the free list.
    public var size: Int
    /// Contexts handed out and not yet released.
    public var active: Int
    /// Acquisitions served by a context that had been used before.
    public var recycled: Int
    /// Contexts ever created by the pool.
    public var created: Int
    /// The highest number of contexts active at once.
    public var peak: Int
    /// Released contexts dropped because the free list was full.
    public var dropped: Int
    /// The free list's capacity.
    public var capacity: Int

    /// Creates stats.
    public init(size: Int = 0, active: Int = 0, recycled: Int = 0, created: Int = 0, peak: Int = 0, dropped: Int = 0, capacity: Int = 0) {
        self.size = size
        self.active = active
        self.recycled = recycled
        self.created = created
        self.peak = peak
        self.dropped = dropped
        self.capacity = capacity
    }

    /// Fraction of acquisitions that reused a context (0 when nothing was acquired).
    public var recycleRate: Double {
        let acquisitions = recycled + created
        return acquisitions == 0 ? 0 : Double(recycled) / Double(acquisitions)
    }
}

/// A thread-safe pool of ``ExecutionContext``s: a run acquires one, fills it, and releases it;
/// release zeroes its secrets and puts it back on a bounded free list.
public final class ContextPool: Sendable {
    private struct State {
        var free: [ExecutionContext] = []
        var active = 0
        var recycled = 0
        var created = 0
        var peak = 0
        var dropped = 0
        var nextID: UInt64 = 1
    }

    /// Most idle contexts kept; releases beyond it drop the context.
    public let capacity: Int
    private let state: Mutex<State>

    /// Creates a pool keeping at most `capacity` idle contexts, with `prewarm` of them created
    /// up front (at most `capacity`).
    public init(capacity: Int = 16, prewarm: Int = 0) {
        let capacity = max(capacity, 0)
        self.capacity = capacity
        var initial = State()
        let warm = min(max(prewarm, 0), capacity)
        initial.free.reserveCapacity(capacity)
        for _ in 0..<warm { initial.free.append(ExecutionContext()) }
        initial.created = warm
        state = Mutex(initial)
    }

    /// Hands out a clean context with a fresh ``ExecutionContext/id``, reusing an idle one if any.
    public func acquire() -> ExecutionContext {
        let identity = ObjectIdentifier(self)
        let (reused, id) = state.withLock { state -> (ExecutionContext?, UInt64) in
            let id = state.nextID
            state.nextID &+= 1
            state.active += 1
            if state.active > state.peak { state.peak = state.active }
            if let context = state.free.popLast() {
                state.recycled += 1
                context.id = id
                context.leasedBy = identity
                return (context, id)
            }
            state.created += 1
            return (nil, id)
        }
        if let reused { return reused }
        // Creating outside the lock: allocation is the slow part.
        let context = ExecutionContext()
        context.id = id
        state.withLock { _ in context.leasedBy = identity }
        return context
    }

    /// Zeroes and clears `context` and returns it to the free list (or drops it when the list
    /// is full). Returns false, doing nothing, when the context isn't currently leased from this
    /// pool (a double release or a foreign context), so one context can never be handed out twice.
    @discardableResult
    public func release(_ context: ExecutionContext) -> Bool {
        let identity = ObjectIdentifier(self)
        let owned = state.withLock { state -> Bool in
            guard context.leasedBy == identity else { return false }
            context.leasedBy = nil
            state.active -= 1
            return true
        }
        guard owned else { return false }
        // Zeroing happens outside the lock; nobody else can reach the context now.
        context.reset()
        state.withLock { state in
            if state.free.count < capacity {
                state.free.append(context)
            } else {
                state.dropped += 1
            }
        }
        return true
    }

    /// Acquires a context, runs `body` with it and releases it, even when `body` throws.
    public func withContext<R>(_ body: (ExecutionContext) throws -> R) rethrows -> R {
        let context = acquire()
        defer { release(context) }
        return try body(context)
    }

    /// The pool's statistics.
    public var stats: ContextPoolStats {
        state.withLock { state in
            ContextPoolStats(
                size: state.free.count, active: state.active, recycled: state.recycled,
                created: state.created, peak: state.peak, dropped: state.dropped, capacity: capacity)
        }
    }
}
