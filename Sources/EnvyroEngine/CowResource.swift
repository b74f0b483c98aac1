import Synchronization

/// Counts copies made by ``CowResource``s; shared by every resource of one
/// ``SharedResourceManager``.
public final class CowCloneCounter: Sendable {
    private let clones = Atomic<Int>(0)

    /// Creates a counter at zero.
    public init() {}

    /// Copies made so far.
    public var value: Int { clones.load(ordering: .relaxed) }

    func increment() { clones.add(1, ordering: .relaxed) }
}

/// A copy-on-write box: copies of a `CowResource` share one stored value until one of them is
/// mutated while shared, which clones the value for that copy alone.
///
/// Like `Array`, a single `CowResource` variable must not be mutated from two tasks at once;
/// copies may be read and mutated independently anywhere.
public struct CowResource<T: Sendable>: Sendable {
    final class Box: @unchecked Sendable {
        // @unchecked: `value` is only mutated while the box is uniquely referenced (checked
        // with isKnownUniquelyReferenced), so no other copy can observe the mutation.
        var value: T
        init(_ value: T) { self.value = value }
    }

    private var box: Box
    /// The counter clones are reported to.
    public let counter: CowCloneCounter

    /// Wraps `value`, counting clones in `counter` (a fresh one by default).
    public init(_ value: T, counter: CowCloneCounter = CowCloneCounter()) {
        self.box = Box(value)
        self.counter = counter
    }

    /// The current value (no copy of the storage is made by reading).
    public var value: T { box.value }

    /// Mutates the value, cloning it first when other copies share the storage.
    public mutating func modify<R>(_ body: (inout T) throws -> R) rethrows -> R {
        if !isKnownUniquelyReferenced(&box) {
            box = Box(box.value)
            counter.increment()
        }
        return try body(&box.value)
    }

    /// Replaces the value (cloning the box when shared, counted like any mutation).
    public mutating func set(_ newValue: T) {
        modify { $0 = newValue }
    }

    /// Whether this copy is the only one holding the storage (a mutation now wouldn't clone).
    public mutating func isUniquelyOwned() -> Bool {
        isKnownUniquelyReferenced(&box)
    }

    /// Whether two copies still share storage.
    public func sharesStorage(with other: CowResource<T>) -> Bool {
        box === other.box
    }

    /// Clones counted by this resource's counter (all resources sharing the counter).
    public var clones: Int { counter.value }
}

/// What can go wrong in a ``SharedResourceManager``.
public enum SharedResourceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing is published under that name.
    case unknownResource(String, known: [String])
    /// The resource holds a different type than asked for.
    case typeMismatch(String, stored: String, requested: String)

    public var description: String {
        switch self {
        case .unknownResource(let name, let known):
            let list = known.isEmpty ? "nothing is published" : "published: " + known.joined(separator: ", ")
            return "no shared resource named '\(name)' (\(list)); publish it first"
        case .typeMismatch(let name, let stored, let requested):
            return "shared resource '\(name)' holds \(stored), not \(requested)"
        }
    }
}

/// Statistics of a ``SharedResourceManager``.
public struct SharedResourceStats: Sendable, Hashable {
    /// Resources published.
    public var resources: Int
    /// Copies handed out by ``SharedResourceManager/share(_:as:)``.
    public var shared: Int
    /// Copies that had to clone their value because they were mutated while shared.
    public var clones: Int

    /// Creates stats.
    public init(resources: Int = 0, shared: Int = 0, clones: Int = 0) {
        self.resources = resources
        self.shared = shared
        self.clones = clones
    }
}

/// Named read-only resources shared between runs (policies, environment templates, mount
/// plans): each run gets a ``CowResource`` that shares the published value and clones it only
/// if the run mutates its copy.
public final class SharedResourceManager: Sendable {
    private struct Entry: Sendable {
        var resource: any Sendable
        /// The stored type, named only for an error: `String(describing:)` of a type demangles
        /// its name, which was 4% of an embedded run's CPU when done on every publish.
        var typeName: @Sendable () -> String
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var shared = 0
    }

    private let state = Mutex(State())
    private let counter = CowCloneCounter()

    /// Creates an empty manager.
    public init() {}

    /// Publishes `value` under `name`, replacing what was there (copies already handed out keep
    /// the old value).
    public func publish<T: Sendable>(_ name: String, _ value: T) {
        let entry = Entry(resource: CowResource(value, counter: counter), typeName: { String(describing: T.self) })
        state.withLock { $0.entries[name] = entry }
    }

    /// A copy of the resource published under `name`, sharing its storage.
    public func share<T: Sendable>(_ name: String, as type: T.Type = T.self) throws(SharedResourceError) -> CowResource<T> {
        let outcome = state.withLock { state -> Result<CowResource<T>, SharedResourceError> in
            guard let entry = state.entries[name] else {
                return .failure(.unknownResource(name, known: state.entries.keys.sorted()))
            }
            guard let resource = entry.resource as? CowResource<T> else {
                return .failure(.typeMismatch(name, stored: entry.typeName(), requested: String(describing: T.self)))
            }
            state.shared += 1
            return .success(resource)
        }
        return try outcome.get()
    }

    /// Removes `name`; returns whether it was published.
    @discardableResult
    public func remove(_ name: String) -> Bool {
        state.withLock { $0.entries.removeValue(forKey: name) != nil }
    }

    /// The published names, sorted.
    public var names: [String] { state.withLock { $0.entries.keys.sorted() } }

    /// The manager's statistics.
    public var stats: SharedResourceStats {
        state.withLock { state in
            SharedResourceStats(resources: state.entries.count, shared: state.shared, clones: counter.value)
        }
    }
}
