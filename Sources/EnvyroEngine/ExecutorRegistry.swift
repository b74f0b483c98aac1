import EnvyroProtocol
import Synchronization

/// What a user asked to run, before an executor turns it into an ``ExecPlan``.
///
/// argv and env are the run's secrets, in its context's zeroing arenas: executors check them
/// on their bytes and build their plan as a view of the same bytes (``SecretStrings/prefixed(by:)``),
/// never as `String` copies.
public struct ExecutorSpec: Sendable, Equatable {
    /// The command line as given.
    public var argv: SecretStrings
    /// `KEY=VALUE` environment entries.
    public var env: SecretStrings
    /// The working directory inside the container; empty means `/`.
    public var cwd: String
    /// The container's root on the host (`--rootfs`), or nil for the built-in default root,
    /// which binds the host's `/usr`, `/bin`, `/sbin`, `/lib*` and `/etc` read-only. Plugins
    /// look for their runtime there.
    public var rootfs: String?

    /// Creates a spec.
    public init(argv: SecretStrings, env: SecretStrings = SecretStrings(), cwd: String = "/", rootfs: String? = nil) {
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.rootfs = rootfs
    }
}

/// What will be executed in the sandbox: `execve(argv[0], argv, env)` in `cwd`.
public struct ExecPlan: Sendable, Equatable {
    /// The program (`argv[0]`) and its arguments: the spec's, or a view of them behind the
    /// executor's runtime.
    public var argv: SecretStrings
    /// `KEY=VALUE` environment entries.
    public var env: SecretStrings
    /// The absolute working directory.
    public var cwd: String

    /// Creates a plan.
    public init(argv: SecretStrings, env: SecretStrings, cwd: String) {
        self.argv = argv
        self.env = env
        self.cwd = cwd
    }
}

/// Why an executor can't be found, registered or used.
public enum ExecutorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No executor has that type.
    case unknownType(String, known: [String])
    /// An executor of that type is registered already.
    case duplicateType(String)
    /// The spec doesn't suit the executor.
    case invalidSpec(type: String, reason: String)

    public var description: String {
        switch self {
        case .unknownType(let name, let known):
            return "unknown executor type '\(name)'; known types: \(known.joined(separator: ", "))"
        case .duplicateType(let name):
            return "an executor of type '\(name)' is registered already; remove it first or register with replacing: true"
        case .invalidSpec(let type, let reason):
            return "the \(type) executor can't run this command: \(reason)"
        }
    }
}

/// Turns an ``ExecutorSpec`` into an ``ExecPlan``; one implementation per executor type.
public protocol Executor: Sendable {
    /// The type name users select with `envyro run --executor TYPE`.
    var type: String { get }
    /// One line for `envyro executors`.
    var summary: String { get }
    /// Checks that `spec` suits the executor; throws ``ExecutorError/invalidSpec(type:reason:)``.
    func validate(_ spec: ExecutorSpec) throws(ExecutorError)
    /// Validates `spec` and returns what to execve.
    func prepare(_ spec: ExecutorSpec) throws(ExecutorError) -> ExecPlan
}

/// Checks shared by the built-in executors: strings execve can carry and an absolute cwd.
func validateCommon(_ spec: ExecutorSpec, type: String) throws(ExecutorError) {
    if let index = spec.argv.firstIndexContainingNUL() {
        throw .invalidSpec(type: type, reason: "argument \(index) contains a NUL byte, which execve can't pass")
    }
    if spec.env.firstIndexContainingNUL() != nil {
        throw .invalidSpec(type: type, reason: "an environment entry contains a NUL byte, which execve can't pass")
    }
    for i in 0..<spec.env.count where (spec.env[i].firstIndex(of: UInt8(ascii: "=")) ?? 0) == 0 {
        // Refused: the message may quote it (a copy the client asked for).
        throw .invalidSpec(type: type, reason: "environment entry '\(spec.env.string(at: i).prefix(40))' is not KEY=VALUE")
    }
    if !spec.cwd.isEmpty && !spec.cwd.hasPrefix("/") {
        throw .invalidSpec(type: type, reason: "working directory '\(spec.cwd)' must be an absolute path")
    }
}

/// `native`: execve the program and arguments exactly as given.
public struct NativeExecutor: Executor {
    /// Creates the executor.
    public init() {}

    public var type: String { "native" }
    public var summary: String { "execve the program and its arguments as given" }

    public func validate(_ spec: ExecutorSpec) throws(ExecutorError) {
        guard !spec.argv.isEmpty else {
            throw .invalidSpec(type: type, reason: "no program given; pass the command after --")
        }
        guard spec.argv[0].count > 0 else {
            throw .invalidSpec(type: type, reason: "the program name (argv[0]) is empty")
        }
        try validateCommon(spec, type: type)
    }

    public func prepare(_ spec: ExecutorSpec) throws(ExecutorError) -> ExecPlan {
        try validate(spec)
        return ExecPlan(argv: spec.argv, env: spec.env, cwd: spec.cwd.isEmpty ? "/" : spec.cwd)
    }
}

/// `shell`: run one script string with the root filesystem's `/bin/sh -c`.
public struct ShellExecutor: Executor {
    /// The shell inside the container.
    public let shellPath: String

    /// Creates the executor for `shellPath` (default `/bin/sh`).
    public init(shellPath: String = "/bin/sh") {
        self.shellPath = shellPath
    }

    public var type: String { "shell" }
    public var summary: String { "run one script string with \(shellPath) -c" }

    public func validate(_ spec: ExecutorSpec) throws(ExecutorError) {
        guard spec.argv.count == 1 else {
            throw .invalidSpec(type: type, reason: "it takes exactly one script string, got \(spec.argv.count) arguments; quote the script, e.g. --executor shell -- 'echo hi | wc -c'")
        }
        guard Self.hasNonWhitespace(spec.argv[0]) else {
            throw .invalidSpec(type: type, reason: "the script is empty")
        }
        try validateCommon(spec, type: type)
    }

    public func prepare(_ spec: ExecutorSpec) throws(ExecutorError) -> ExecPlan {
        try validate(spec)
        return ExecPlan(argv: spec.argv.prefixed(by: [shellPath, "-c"]), env: spec.env, cwd: spec.cwd.isEmpty ? "/" : spec.cwd)
    }

    /// Whether the script has a character that isn't whitespace, read scalar by scalar from its
    /// bytes (valid UTF-8: the protocol checked it).
    static func hasNonWhitespace(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while case .scalarValue(let scalar) = decoder.decode(&iterator) {
            if !scalar.properties.isWhitespace { return true }
        }
        return false
    }
}

/// A type and summary, for `envyro executors`.
public struct ExecutorInfo: Sendable, Hashable {
    /// The executor's type.
    public var type: String
    /// Its one-line summary.
    public var summary: String
}

/// Statistics of a ``ConcurrentExecutorRegistry``.
public struct ExecutorRegistryStats: Sendable, Hashable {
    /// Registered executor types.
    public var types: Int
    /// Registrations and removals so far (each publishes a new snapshot).
    public var writes: Int
    /// Replaced snapshots waiting until no reader is between load and retain.
    public var retiredSnapshots: Int

    /// Creates stats.
    public init(types: Int = 0, writes: Int = 0, retiredSnapshots: Int = 0) {
        self.types = types
        self.writes = writes
        self.retiredSnapshots = retiredSnapshots
    }
}

/// Executors by type, read concurrently without a lock.
///
/// Writers (register, remove; rare, mostly at start-up) build a new immutable snapshot under a
/// mutex and publish it with an atomic store. Readers take no lock: they announce themselves
/// in an atomic reader count, load the snapshot pointer, retain the snapshot and leave. A
/// replaced snapshot is released by a writer only when it sees no reader inside that window;
/// readers that arrive later load the new pointer (all operations are sequentially consistent),
/// so a released snapshot can never be retained again.
public final class ConcurrentExecutorRegistry: Sendable {
    private final class Snapshot: Sendable {
        let executors: [String: any Executor]
        let types: [String]
        init(_ executors: [String: any Executor]) {
            self.executors = executors
            self.types = executors.keys.sorted()
        }
    }

    private struct WriterState {
        /// Replaced snapshots not yet released (each holds one retain).
        var retired: [UInt] = []
        var writes = 0
    }

    /// Bit pattern of the current snapshot's pointer; the registry holds one retain on it.
    private let current: Atomic<UInt>
    private let readers = Atomic<Int>(0)
    private let writer = Mutex(WriterState())

    /// Creates a registry, with the `native` and `shell` executors unless `registeringDefaults`
    /// is false.
    public init(registeringDefaults: Bool = true) {
        var initial: [String: any Executor] = [:]
        if registeringDefaults {
            let defaults: [any Executor] = [NativeExecutor(), ShellExecutor()]
            for executor in defaults { initial[executor.type] = executor }
        }
        let snapshot = Unmanaged.passRetained(Snapshot(initial))
        current = Atomic(UInt(bitPattern: snapshot.toOpaque()))
    }

    deinit {
        Self.releaseSnapshot(current.load(ordering: .sequentiallyConsistent))
        writer.withLock { state in
            for bits in state.retired { Self.releaseSnapshot(bits) }
            state.retired.removeAll()
        }
    }

    private static func releaseSnapshot(_ bits: UInt) {
        guard let pointer = UnsafeRawPointer(bitPattern: bits) else { return }
        Unmanaged<Snapshot>.fromOpaque(pointer).release()
    }

    /// The current snapshot, retained for the caller. Lock-free.
    private func snapshot() -> Snapshot {
        readers.add(1, ordering: .sequentiallyConsistent)
        let bits = current.load(ordering: .sequentiallyConsistent)
        // The registry always holds a retain on the current snapshot, and a writer releases a
        // replaced one only after seeing readers == 0, so this pointer is alive here.
        // The retain is explicit so it happens before the reader leaves the window.
        guard let pointer = UnsafeRawPointer(bitPattern: bits) else {
            preconditionFailure("executor registry without a snapshot")
        }
        let retained = Unmanaged<Snapshot>.fromOpaque(pointer).retain()
        readers.subtract(1, ordering: .sequentiallyConsistent)
        return retained.takeRetainedValue()
    }

    /// Publishes the result of `change` applied to the current executors. Writers are serialised.
    private func update<R>(_ change: (inout [String: any Executor]) throws(ExecutorError) -> R) throws(ExecutorError) -> R {
        try writer.withLock { state throws(ExecutorError) -> R in
            let old = current.load(ordering: .sequentiallyConsistent)
            guard let oldPointer = UnsafeRawPointer(bitPattern: old) else {
                preconditionFailure("executor registry without a snapshot")
            }
            var executors = Unmanaged<Snapshot>.fromOpaque(oldPointer).takeUnretainedValue().executors
            let result = try change(&executors)
            let fresh = Unmanaged.passRetained(Snapshot(executors))
            current.store(UInt(bitPattern: fresh.toOpaque()), ordering: .sequentiallyConsistent)
            state.retired.append(old)
            state.writes += 1
            if readers.load(ordering: .sequentiallyConsistent) == 0 {
                for bits in state.retired { Self.releaseSnapshot(bits) }
                state.retired.removeAll(keepingCapacity: true)
            }
            return result
        }
    }

    /// Registers `executor` under its type. Throws ``ExecutorError/duplicateType(_:)`` when the
    /// type is taken, unless `replacing` is true.
    public func register(_ executor: any Executor, replacing: Bool = false) throws(ExecutorError) {
        try update { (executors) throws(ExecutorError) in
            if !replacing, executors[executor.type] != nil { throw .duplicateType(executor.type) }
            executors[executor.type] = executor
        }
    }

    /// Removes the executor of `type`; returns whether there was one.
    @discardableResult
    public func remove(_ type: String) -> Bool {
        // update only throws what the closure throws, and this closure throws nothing.
        (try? update { $0.removeValue(forKey: type) != nil }) ?? false
    }

    /// The executor of `type`, or nil. Lock-free.
    public func lookup(_ type: String) -> (any Executor)? {
        snapshot().executors[type]
    }

    /// The executor of `type`; an unknown type throws ``ExecutorError/unknownType(_:known:)``
    /// listing the registered ones. Lock-free.
    public func get(_ type: String) throws(ExecutorError) -> any Executor {
        let snapshot = snapshot()
        guard let executor = snapshot.executors[type] else {
            throw .unknownType(type, known: snapshot.types)
        }
        return executor
    }

    /// Looks up `type` and prepares `spec` with it.
    public func prepare(type: String, _ spec: ExecutorSpec) throws(ExecutorError) -> ExecPlan {
        try get(type).prepare(spec)
    }

    /// The registered types, sorted.
    public func listTypes() -> [String] {
        snapshot().types
    }

    /// Type and summary of every executor, sorted by type.
    public func list() -> [ExecutorInfo] {
        let snapshot = snapshot()
        return snapshot.types.compactMap { type in
            snapshot.executors[type].map { ExecutorInfo(type: type, summary: $0.summary) }
        }
    }

    /// The registry's statistics.
    public var stats: ExecutorRegistryStats {
        let types = snapshot().types.count
        return writer.withLock { state in
            ExecutorRegistryStats(types: types, writes: state.writes, retiredSnapshots: state.retired.count)
        }
    }
}
