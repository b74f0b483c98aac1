import Synchronization

/// An atomic counter that closures can capture (an `Atomic` local can't be captured).
final class Counter: Sendable {
    private let storage = Atomic<Int>(0)
    @discardableResult
    func increment() -> Int { storage.add(1, ordering: .relaxed).newValue }
    var value: Int { storage.load(ordering: .relaxed) }
}

/// A flag that closures can capture.
final class Flag: Sendable {
    private let storage = Atomic<Bool>(false)
    func set() { storage.store(true, ordering: .relaxed) }
    var isSet: Bool { storage.load(ordering: .relaxed) }
}
