import EnvyroEngine
import EnvyroIO
import EnvyroPolicy
import EnvyroSystem
import Synchronization

/// The supervisor's engine: every pool and cache a run goes through (shared/DESIGN.md, "The
/// engine"). One per supervisor; in embedded mode one per `envyro` process, in the daemon one
/// for its lifetime.
public final class Engine: Sendable {
    /// Pooled execution contexts: no allocation per run, secrets zeroed on release.
    public let contexts = ContextPool(capacity: 16)
    /// Slabs in one memfd; helper frames are received straight into them. Created on first use.
    public let buffers: LazyResource<BufferPool>

    /// A buffer pool as the engine makes it, not created yet.
    public static func frameBuffers() -> LazyResource<BufferPool> {
        LazyResource<BufferPool>(name: "buffer-pool") {
            try BufferPool(slabSize: 64 * 1024, slabCount: 8, name: "envyro-frames")
        }
    }
    /// The I/O worker (io_uring in its own process, sharing the buffer pool's memfd), started on
    /// the first run that captures logs.
    public let ioWorker: LazyResource<IOWorkerClient>
    /// Frozen run templates keyed by policy and request shape.
    public let templates = NamespaceCache(capacity: 64)
    /// Policies, environment templates and mount plans shared between runs, copy-on-write.
    public let shared = SharedResourceManager()
    /// Executors by type: `native` and `shell` by default.
    public let executors = ConcurrentExecutorRegistry()
    /// Loaded policies by reference (name or absolute path), each loaded on first use.
    public let policies: LazyResourcePool<String, LoadedPolicy>

    /// Creates an engine whose policies are found in `searchDirectories`.
    /// `buffers`: the pool to use (one made earlier by `frameBuffers`), else a new one.
    public init(searchDirectories: [String], buffers: LazyResource<BufferPool>? = nil) {
        let buffers = buffers ?? Self.frameBuffers()
        self.buffers = buffers
        ioWorker = LazyResource(name: "ioworker") { try IOWorkerClient(pool: try buffers.get()) }
        let generation = Atomic<Int>(0)
        let shared = self.shared
        let executors = self.executors
        policies = LazyResourcePool { reference in
            let policy = try PolicyLoader.load(reference, searchDirectories: searchDirectories)
            // Its executor plugins join the registry (replacing an earlier load's).
            try ExecutorPlugins.register(policy, in: executors)
            let (_, g) = generation.add(1, ordering: .relaxed)
            let loaded = LoadedPolicy(policy: policy, key: "\(policy.sourcePath)#\(g)")
            shared.publish(loaded.environmentResource, policy.process.env)
            shared.publish(loaded.policyResource, policy)
            return loaded
        }
    }

    /// Every pool's and cache's statistics.
    public var stats: EngineStats {
        EngineStats(
            contextPool: contexts.stats, bufferPool: buffers.valueIfCreated?.stats,
            namespaceCache: templates.stats, lazyResources: policies.stats,
            sharedResources: shared.stats, executors: executors.stats)
    }
}

/// A policy as loaded once, with the key that names this load in caches.
public struct LoadedPolicy: Sendable {
    /// The policy.
    public let policy: Policy
    /// Unique per load (path and generation): templates built from an older load never match.
    public let key: String
    /// The shared resource holding the policy's base environment.
    public var environmentResource: String { "env:\(key)" }
    /// The shared resource holding the policy itself.
    public var policyResource: String { "policy:\(key)" }
}
