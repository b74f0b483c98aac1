/// Every pool's and cache's statistics in one value, for `envyro run --stats` and `envyro stats`.
///
/// Parts that don't exist (never created, because they are lazy) are nil and left out.
public struct EngineStats: Sendable, Hashable {
    /// The context pool's statistics.
    public var contextPool: ContextPoolStats?
    /// The buffer pool's statistics.
    public var bufferPool: BufferPoolStats?
    /// The namespace cache's statistics.
    public var namespaceCache: NamespaceCacheStats?
    /// The lazy resources' statistics.
    public var lazyResources: LazyResourceStats?
    /// The shared resources' statistics.
    public var sharedResources: SharedResourceStats?
    /// The executor registry's statistics.
    public var executors: ExecutorRegistryStats?

    /// Gathers the given parts' statistics.
    public init(contextPool: ContextPoolStats? = nil, bufferPool: BufferPoolStats? = nil,
                namespaceCache: NamespaceCacheStats? = nil, lazyResources: LazyResourceStats? = nil,
                sharedResources: SharedResourceStats? = nil, executors: ExecutorRegistryStats? = nil) {
        self.contextPool = contextPool
        self.bufferPool = bufferPool
        self.namespaceCache = namespaceCache
        self.lazyResources = lazyResources
        self.sharedResources = sharedResources
        self.executors = executors
    }

    /// The sections as (name, [(field, value)]), in a fixed order.
    private var sections: [(String, [(String, Int64)])] {
        var result: [(String, [(String, Int64)])] = []
        if let s = contextPool {
            result.append(("context_pool", [("size", s.size), ("active", s.active), ("recycled", s.recycled),
                                             ("created", s.created), ("peak", s.peak), ("dropped", s.dropped)].map { ($0.0, Int64($0.1)) }))
        }
        if let s = bufferPool {
            result.append(("buffer_pool", [("slabs", s.slabs), ("in_use", s.inUse), ("allocations", s.allocations),
                                            ("reuses", s.reuses), ("exhausted", s.exhausted)].map { ($0.0, Int64($0.1)) }))
        }
        if let s = namespaceCache {
            result.append(("namespace_cache", [("hits", s.hits), ("misses", s.misses), ("evictions", s.evictions),
                                                ("size", s.size), ("capacity", s.capacity)].map { ($0.0, Int64($0.1)) }))
        }
        if let s = lazyResources {
            result.append(("lazy_resources", [("registered", s.registered), ("created", s.created),
                                               ("creations", s.creations)].map { ($0.0, Int64($0.1)) }))
        }
        if let s = sharedResources {
            result.append(("shared_resources", [("resources", s.resources), ("shared", s.shared),
                                                 ("clones", s.clones)].map { ($0.0, Int64($0.1)) }))
        }
        if let s = executors {
            result.append(("executors", [("types", s.types), ("writes", s.writes),
                                          ("retired_snapshots", s.retiredSnapshots)].map { ($0.0, Int64($0.1)) }))
        }
        return result
    }

    /// One line per part, e.g. `context_pool: size=4 active=0 recycled=99 created=1 peak=1 dropped=0`.
    public func formatted() -> String {
        sections.map { name, fields in
            name + ": " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        }.joined(separator: "\n")
    }

    /// Flat `section_field` names with values, e.g. `("context_pool_recycled", 99)`, for JSON output.
    public func jsonFields() -> [(String, Int64)] {
        sections.flatMap { name, fields in fields.map { (name + "_" + $0.0, $0.1) } }
    }
}
