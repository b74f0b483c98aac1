import Synchronization

/// A value created on first use by a throwing factory, exactly once even when many tasks ask at
/// the same time (the others wait for the first creation).
///
/// A factory that throws stores nothing, so the next ``get()`` tries again. ``reset()`` drops the
/// value (for example a helper process that crashed) so the next ``get()`` recreates it.
/// The factory must not call ``get()`` on the same resource (that would deadlock).
public final class LazyResource<T: Sendable>: Sendable {
    private struct State {
        var value: T?
        var creations = 0
        var failures = 0
    }

    /// A name for messages and statistics.
    public let name: String
    private let factory: @Sendable () throws -> T
    private let state: Mutex<State>

    /// A resource named `name` that `factory` creates on first use.
    public init(name: String = "", _ factory: @escaping @Sendable () throws -> T) {
        self.name = name
        self.factory = factory
        self.state = Mutex(State())
    }

    /// The value, created now by the factory when it doesn't exist yet.
    ///
    /// Rethrows the factory's error when creation fails.
    public func get() throws -> T {
        try state.withLock { state throws -> T in
            if let value = state.value { return value }
            // The lock is held while creating, so concurrent callers wait instead of creating twice.
            do {
                let value = try factory()
                state.value = value
                state.creations += 1
                return value
            } catch {
                state.failures += 1
                throw error
            }
        }
    }

    /// The value if it was created, without creating it.
    public var valueIfCreated: T? { state.withLock { $0.value } }

    /// Whether the value exists now.
    public var isCreated: Bool { state.withLock { $0.value != nil } }

    /// How many times the factory created the value (more than 1 only after ``reset()``).
    public var creationCount: Int { state.withLock { $0.creations } }

    /// How many times the factory threw.
    public var failureCount: Int { state.withLock { $0.failures } }

    /// Drops the value so the next ``get()`` creates a new one; returns the dropped value so the
    /// caller can clean it up (kill a helper, close an fd).
    @discardableResult
    public func reset() -> T? {
        state.withLock { state in
            let old = state.value
            state.value = nil
            return old
        }
    }
}

/// What can go wrong in a ``LazyResourcePool``.
public enum LazyResourceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No resource has that name and the pool has no default factory.
    case unknownResource(String, known: [String])

    public var description: String {
        switch self {
        case .unknownResource(let name, let known):
            let list = known.isEmpty ? "none are registered" : "registered: " + known.joined(separator: ", ")
            return "no lazy resource named '\(name)' (\(list)); register it before use"
        }
    }
}

/// Statistics of a ``LazyResourcePool``.
public struct LazyResourceStats: Sendable, Hashable {
    /// Resources registered.
    public var registered: Int
    /// Resources whose value exists now.
    public var created: Int
    /// Factory runs that created a value, over all resources.
    public var creations: Int

    /// Creates stats.
    public init(registered: Int = 0, created: Int = 0, creations: Int = 0) {
        self.registered = registered
        self.created = created
        self.creations = creations
    }
}

/// Named ``LazyResource``s: the helpers, the I/O worker, compiled policies, each created on
/// first use.
///
/// A key is usable when it was registered with its own factory or when the pool has a default
/// factory (which then registers the key on first use).
public final class LazyResourcePool<Key: Hashable & Sendable, T: Sendable>: Sendable {
    private let defaultFactory: (@Sendable (Key) throws -> T)?
    private let resources: Mutex<[Key: LazyResource<T>]>

    /// A pool whose unregistered keys are created by `defaultFactory`, or are an error when it is nil.
    public init(defaultFactory: (@Sendable (Key) throws -> T)? = nil) {
        self.defaultFactory = defaultFactory
        self.resources = Mutex([:])
    }

    /// Registers `key` with its own factory, replacing an earlier registration (and its value).
    public func register(_ key: Key, factory: @escaping @Sendable () throws -> T) {
        let resource = LazyResource(name: String(describing: key), factory)
        resources.withLock { $0[key] = resource }
    }

    /// The lazy resource for `key` (not created by this call).
    public func resource(_ key: Key) throws(LazyResourceError) -> LazyResource<T> {
        let defaultFactory = self.defaultFactory
        let found = resources.withLock { resources -> LazyResource<T>? in
            if let existing = resources[key] { return existing }
            guard let defaultFactory else { return nil }
            let made = LazyResource(name: String(describing: key)) { try defaultFactory(key) }
            resources[key] = made
            return made
        }
        guard let found else {
            throw .unknownResource(String(describing: key), known: keys.map { String(describing: $0) }.sorted())
        }
        return found
    }

    /// The value for `key`, created on first use. Throws ``LazyResourceError`` for an unknown
    /// key, or the factory's error.
    public func get(_ key: Key) throws -> T {
        try resource(key).get()
    }

    /// Whether the value for `key` exists now.
    public func isCreated(_ key: Key) -> Bool {
        resources.withLock { $0[key] }?.isCreated ?? false
    }

    /// Drops the value for `key` so it is recreated on next use; returns the dropped value.
    @discardableResult
    public func reset(_ key: Key) -> T? {
        resources.withLock { $0[key] }?.reset()
    }

    /// Removes `key` entirely; returns its value if it had been created.
    @discardableResult
    public func remove(_ key: Key) -> T? {
        resources.withLock { $0.removeValue(forKey: key) }?.valueIfCreated
    }

    /// The registered keys.
    public var keys: [Key] { resources.withLock { Array($0.keys) } }

    /// The pool's statistics.
    public var stats: LazyResourceStats {
        let all = resources.withLock { Array($0.values) }
        return LazyResourceStats(
            registered: all.count,
            created: all.reduce(0) { $0 + ($1.isCreated ? 1 : 0) },
            creations: all.reduce(0) { $0 + $1.creationCount })
    }
}
