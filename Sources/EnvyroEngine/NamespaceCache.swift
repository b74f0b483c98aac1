import Synchronization

/// Everything planned about a run's namespaces, computed once per policy and request shape and
/// then shared read-only by every run with the same ``TemplateKey``.
public struct NamespaceTemplate: Sendable, Hashable {
    /// `CLONE_NEW*` flags for clone3.
    public let cloneFlags: UInt64
    /// The compiled seccomp BPF program of the run's extra profile, when it has one.
    public let seccompProgram: [UInt8]?
    /// The limit profile's batch (the run's flags and the policy's defaults go on top).
    public let limitBatch: ResourceLimitBatch?

    /// Creates a template.
    public init(cloneFlags: UInt64, seccompProgram: [UInt8]? = nil, limitBatch: ResourceLimitBatch? = nil) {
        self.cloneFlags = cloneFlags
        self.seccompProgram = seccompProgram
        self.limitBatch = limitBatch
    }

    /// A copy with `program` as its seccomp program.
    public func with(seccompProgram program: [UInt8]?) -> NamespaceTemplate {
        NamespaceTemplate(cloneFlags: cloneFlags, seccompProgram: program, limitBatch: limitBatch)
    }

    /// A copy with `batch` as its limit batch.
    public func with(limitBatch batch: ResourceLimitBatch?) -> NamespaceTemplate {
        NamespaceTemplate(cloneFlags: cloneFlags, seccompProgram: seccompProgram, limitBatch: batch)
    }
}

/// What a ``NamespaceTemplate`` depends on: the policy (name and digest, so an edited policy
/// never hits an old template) and the shape of the request.
///
/// The hash is computed once at creation, so a cache lookup hashes one integer.
public struct TemplateKey: Sendable, Hashable, CustomStringConvertible {
    /// The policy's name.
    public let policyName: String
    /// The policy's digest or version; changes whenever the policy's content does.
    public let policyDigest: String
    /// The requested namespaces as a `CLONE_NEW*` bitmask.
    public let namespaces: UInt64
    /// The network mode.
    public let networkMode: String
    /// The kind of root filesystem, e.g. `directory`, `image`, `host`.
    public let rootfsKind: String
    /// Whether the root filesystem is writable.
    public let writable: Bool
    /// Whether a minimal init runs as PID 1.
    public let runsInit: Bool
    private let precomputedHash: Int

    /// Creates a key.
    public init(policyName: String, policyDigest: String, namespaces: UInt64, networkMode: String,
                rootfsKind: String, writable: Bool, runsInit: Bool) {
        self.policyName = policyName
        self.policyDigest = policyDigest
        self.namespaces = namespaces
        self.networkMode = networkMode
        self.rootfsKind = rootfsKind
        self.writable = writable
        self.runsInit = runsInit
        var hasher = Hasher()
        hasher.combine(policyName)
        hasher.combine(policyDigest)
        hasher.combine(namespaces)
        hasher.combine(networkMode)
        hasher.combine(rootfsKind)
        hasher.combine(writable)
        hasher.combine(runsInit)
        precomputedHash = hasher.finalize()
    }

    public static func == (lhs: TemplateKey, rhs: TemplateKey) -> Bool {
        lhs.precomputedHash == rhs.precomputedHash && lhs.namespaces == rhs.namespaces
            && lhs.writable == rhs.writable && lhs.runsInit == rhs.runsInit
            && lhs.policyName == rhs.policyName && lhs.policyDigest == rhs.policyDigest
            && lhs.networkMode == rhs.networkMode && lhs.rootfsKind == rhs.rootfsKind
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(precomputedHash)
    }

    public var description: String {
        "\(policyName)@\(policyDigest) ns=0x\(String(namespaces, radix: 16)) net=\(networkMode) rootfs=\(rootfsKind)\(writable ? " rw" : " ro")\(runsInit ? " init" : "")"
    }
}

/// Statistics of a ``NamespaceCache``.
public struct NamespaceCacheStats: Sendable, Hashable {
    /// Lookups that found a template.
    public var hits: Int
    /// Lookups that found nothing.
    public var misses: Int
    /// Templates dropped to make room.
    public var evictions: Int
    /// Templates held now.
    public var size: Int
    /// Most templates held.
    public var capacity: Int

    /// Creates stats.
    public init(hits: Int = 0, misses: Int = 0, evictions: Int = 0, size: Int = 0, capacity: Int = 0) {
        self.hits = hits
        self.misses = misses
        self.evictions = evictions
        self.size = size
        self.capacity = capacity
    }

    /// Fraction of lookups that hit (0 when there were none).
    public var hitRate: Double {
        let total = hits + misses
        return total == 0 ? 0 : Double(hits) / Double(total)
    }
}

/// A bounded, thread-safe LRU cache of ``NamespaceTemplate``s by ``TemplateKey``.
///
/// When full, inserting drops the least recently used template (a hit makes a template the most
/// recently used). Lookups and updates are O(1): a dictionary of slot indices over a doubly
/// linked list kept in arrays.
public final class NamespaceCache: Sendable {
    private struct Node {
        var key: TemplateKey
        var value: NamespaceTemplate
        var previous: Int
        var next: Int
    }

    /// Storage of the LRU list: `head` is the most recently used slot, `tail` the least.
    private struct Store {
        var index: [TemplateKey: Int] = [:]
        var nodes: [Node] = []
        var head = -1
        var tail = -1
        var hits = 0
        var misses = 0
        var evictions = 0

        mutating func unlink(_ slot: Int) {
            let node = nodes[slot]
            if node.previous >= 0 { nodes[node.previous].next = node.next } else { head = node.next }
            if node.next >= 0 { nodes[node.next].previous = node.previous } else { tail = node.previous }
        }

        mutating func pushFront(_ slot: Int) {
            nodes[slot].previous = -1
            nodes[slot].next = head
            if head >= 0 { nodes[head].previous = slot }
            head = slot
            if tail < 0 { tail = slot }
        }

        mutating func touch(_ slot: Int) {
            guard head != slot else { return }
            unlink(slot)
            pushFront(slot)
        }

        /// Looks `key` up, counting a hit or a miss and refreshing its recency.
        mutating func find(_ key: TemplateKey) -> NamespaceTemplate? {
            guard let slot = index[key] else {
                misses += 1
                return nil
            }
            hits += 1
            touch(slot)
            return nodes[slot].value
        }

        /// Stores `value` under `key` as the most recently used, evicting the LRU entry when full.
        mutating func store(_ key: TemplateKey, _ value: NamespaceTemplate, capacity: Int) {
            if let slot = index[key] {
                nodes[slot].value = value
                touch(slot)
                return
            }
            guard capacity > 0 else { return }
            if nodes.count < capacity {
                nodes.append(Node(key: key, value: value, previous: -1, next: -1))
                let slot = nodes.count - 1
                index[key] = slot
                pushFront(slot)
                return
            }
            // Reuse the least recently used slot.
            let slot = tail
            unlink(slot)
            index[nodes[slot].key] = nil
            evictions += 1
            nodes[slot].key = key
            nodes[slot].value = value
            index[key] = slot
            pushFront(slot)
        }

        mutating func remove(_ key: TemplateKey) -> NamespaceTemplate? {
            guard let slot = index[key] else { return nil }
            let removed = nodes[slot].value
            unlink(slot)
            index[key] = nil
            // Keep the arrays dense: move the last node into the freed slot.
            let last = nodes.count - 1
            if slot != last {
                let moved = nodes[last]
                nodes[slot] = moved
                index[moved.key] = slot
                if moved.previous >= 0 { nodes[moved.previous].next = slot } else { head = slot }
                if moved.next >= 0 { nodes[moved.next].previous = slot } else { tail = slot }
            }
            nodes.removeLast()
            return removed
        }

        var keysByRecency: [TemplateKey] {
            var keys: [TemplateKey] = []
            keys.reserveCapacity(nodes.count)
            var slot = head
            while slot >= 0 {
                keys.append(nodes[slot].key)
                slot = nodes[slot].next
            }
            return keys
        }
    }

    /// Most templates held.
    public let capacity: Int
    private let store: Mutex<Store>

    /// Creates a cache holding at most `capacity` templates (default 64).
    public init(capacity: Int = 64) {
        self.capacity = max(capacity, 0)
        var initial = Store()
        initial.nodes.reserveCapacity(self.capacity)
        initial.index.reserveCapacity(self.capacity)
        store = Mutex(initial)
    }

    /// The template for `key`, counting a hit (and making it most recently used) or a miss.
    public func lookup(_ key: TemplateKey) -> NamespaceTemplate? {
        store.withLock { $0.find(key) }
    }

    /// The template for `key`, built with `make` and stored on a miss.
    ///
    /// `make` runs outside the cache's lock, so a slow build (seccomp compilation) doesn't
    /// block other lookups. Two callers missing the same key at once may both build; the
    /// template stored first wins and both get it. An error from `make` stores nothing.
    public func getOrCreate(_ key: TemplateKey, make: () throws -> NamespaceTemplate) rethrows -> NamespaceTemplate {
        if let cached = lookup(key) { return cached }
        let made = try make()
        return store.withLock { store -> NamespaceTemplate in
            if let slot = store.index[key] {
                store.touch(slot)
                return store.nodes[slot].value
            }
            store.store(key, made, capacity: capacity)
            return made
        }
    }

    /// Stores `template` under `key` (replacing any), evicting the least recently used when full.
    public func insert(_ template: NamespaceTemplate, for key: TemplateKey) {
        store.withLock { $0.store(key, template, capacity: capacity) }
    }

    /// Removes the template for `key`; returns it.
    @discardableResult
    public func remove(_ key: TemplateKey) -> NamespaceTemplate? {
        store.withLock { $0.remove(key) }
    }

    /// Removes every template (statistics are kept).
    public func removeAll() {
        store.withLock { store in
            store.index.removeAll(keepingCapacity: true)
            store.nodes.removeAll(keepingCapacity: true)
            store.head = -1
            store.tail = -1
        }
    }

    /// Whether `key` is cached, without counting a lookup or changing recency.
    public func contains(_ key: TemplateKey) -> Bool {
        store.withLock { $0.index[key] != nil }
    }

    /// The cached keys, most recently used first.
    public var keysByRecency: [TemplateKey] {
        store.withLock { $0.keysByRecency }
    }

    /// The cache's statistics.
    public var stats: NamespaceCacheStats {
        store.withLock { store in
            NamespaceCacheStats(hits: store.hits, misses: store.misses, evictions: store.evictions,
                                size: store.nodes.count, capacity: capacity)
        }
    }
}
