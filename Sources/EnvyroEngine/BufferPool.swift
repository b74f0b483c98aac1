import CEnvyro
import Glibc
import Synchronization

/// What can go wrong creating a ``BufferPool`` or using a ``ZeroCopyBuffer``.
public enum BufferPoolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The slab size or count is unusable.
    case invalidConfiguration(String)
    /// A system call failed while setting the pool up.
    case system(call: String, errno: Int32)
    /// Every slab is in use.
    case exhausted(slabs: Int, slabSize: Int)
    /// A write doesn't fit in the buffer.
    case bufferFull(capacity: Int, used: Int, requested: Int)
    /// The buffer was already released to its pool.
    case released(slab: Int)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason):
            return "invalid buffer pool configuration: \(reason)"
        case .system(let call, let code):
            return "\(call) failed while creating the buffer pool: \(describeErrno(code))"
        case .exhausted(let slabs, let slabSize):
            return "all \(slabs) buffer slabs of \(ResourceLimitBatch.formatSizeLong(Int64(slabSize))) are in use; release buffers sooner or create the pool with more slabs"
        case .bufferFull(let capacity, let used, let requested):
            return "a write of \(requested) bytes doesn't fit in the buffer (\(used) of \(capacity) bytes used); split the data or reset the buffer first"
        case .released(let slab):
            return "buffer for slab \(slab) was used after it was released to its pool; acquire a new buffer"
        }
    }
}

/// Statistics of a ``BufferPool``.
public struct BufferPoolStats: Sendable, Hashable {
    /// Number of slabs in the pool.
    public var slabs: Int
    /// Slabs currently handed out.
    public var inUse: Int
    /// Acquisitions that handed out a slab for the first time.
    public var allocations: Int
    /// Acquisitions that handed out a slab used before.
    public var reuses: Int
    /// Acquisitions refused because every slab was in use.
    public var exhausted: Int

    /// Creates stats.
    public init(slabs: Int = 0, inUse: Int = 0, allocations: Int = 0, reuses: Int = 0, exhausted: Int = 0) {
        self.slabs = slabs
        self.inUse = inUse
        self.allocations = allocations
        self.reuses = reuses
        self.exhausted = exhausted
    }

    /// Fraction of acquisitions that reused a slab (0 when nothing was acquired).
    public var reuseRatio: Double {
        let total = allocations + reuses
        return total == 0 ? 0 : Double(reuses) / Double(total)
    }
}

/// Fixed-size buffers carved from one memfd mapped `MAP_SHARED`, so another process (the I/O
/// worker) can map the same memory from ``memfd`` and see the same bytes without copies.
///
/// ``acquire()`` throws ``BufferPoolError/exhausted(slabs:slabSize:)`` when every slab is in use
/// (``tryAcquire()`` returns nil instead): the pool never grows, because the other side's
/// mapping has a fixed size. Slabs come back with ``release(_:)``, which zeroes the bytes that
/// were written. A buffer keeps its pool (and so the mapping) alive.
public final class BufferPool: @unchecked Sendable {
    // @unchecked: `base` is a raw pointer set once in init; all mutable state is in `state`.

    private struct State {
        var free: [Int] = []
        var nextFresh = 0
        var inUse = 0
        var allocations = 0
        var reuses = 0
        var exhausted = 0
    }

    /// Bytes per slab.
    public let slabSize: Int
    /// Number of slabs.
    public let slabCount: Int
    /// The memfd holding every slab (close-on-exec); pass it to the I/O worker to map the
    /// same memory. Owned by the pool: closed in deinit.
    public let memfd: Int32
    /// Total bytes mapped (`slabSize * slabCount`).
    public let totalSize: Int
    let base: UnsafeMutableRawPointer
    private let state: Mutex<State>

    /// Creates `slabCount` slabs of `slabSize` bytes (default 16 × 64 KiB) in one memfd.
    ///
    /// `slabSize` must be a positive multiple of the page size so each slab can be mapped
    /// on its own.
    public init(slabSize: Int = 64 * 1024, slabCount: Int = 16, name: String = "envyro-buffers") throws(BufferPoolError) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard slabSize > 0, slabSize % max(page, 1) == 0 else {
            throw .invalidConfiguration("slab size \(slabSize) must be a positive multiple of the page size \(page)")
        }
        guard slabCount > 0 else {
            throw .invalidConfiguration("slab count \(slabCount) must be at least 1")
        }
        let (total, overflow) = slabSize.multipliedReportingOverflow(by: slabCount)
        guard !overflow, total <= 1 << 40 else {
            throw .invalidConfiguration("\(slabCount) slabs of \(slabSize) bytes exceed 1 TiB")
        }
        let fd = envyro_memfd_create(name, 1 /* MFD_CLOEXEC */)
        guard fd >= 0 else { throw .system(call: "memfd_create(\(name))", errno: errno) }
        guard ftruncate(fd, off_t(total)) == 0 else {
            let code = errno
            close(fd)
            throw .system(call: "ftruncate(memfd, \(total))", errno: code)
        }
        let mapped = mmap(nil, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let mapped, mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            let code = errno
            close(fd)
            throw .system(call: "mmap(memfd, \(total))", errno: code)
        }
        self.slabSize = slabSize
        self.slabCount = slabCount
        self.memfd = fd
        self.totalSize = total
        self.base = mapped
        var initial = State()
        initial.free.reserveCapacity(slabCount)
        self.state = Mutex(initial)
    }

    deinit {
        munmap(base, totalSize)
        close(memfd)
    }

    /// Hands out a free slab as a buffer, or throws ``BufferPoolError/exhausted(slabs:slabSize:)``.
    public func acquire() throws(BufferPoolError) -> ZeroCopyBuffer {
        guard let buffer = tryAcquire() else {
            throw .exhausted(slabs: slabCount, slabSize: slabSize)
        }
        return buffer
    }

    /// Hands out a free slab as a buffer, or returns nil when every slab is in use.
    ///
    /// Released slabs are reused first (most recently released first, for cache warmth);
    /// untouched slabs are handed out only when none is free.
    public func tryAcquire() -> ZeroCopyBuffer? {
        let slab = state.withLock { state -> Int? in
            if let slab = state.free.popLast() {
                state.reuses += 1
                state.inUse += 1
                return slab
            }
            guard state.nextFresh < slabCount else {
                state.exhausted += 1
                return nil
            }
            let slab = state.nextFresh
            state.nextFresh += 1
            state.allocations += 1
            state.inUse += 1
            return slab
        }
        guard let slab else { return nil }
        return ZeroCopyBuffer(pool: self, slab: slab)
    }

    /// Zeroes every byte written to `buffer` since it was acquired and returns its slab to the pool. Releasing a buffer
    /// twice, or one from another pool, does nothing and returns false.
    @discardableResult
    public func release(_ buffer: ZeroCopyBuffer) -> Bool {
        guard buffer.pool === self, let slab = buffer.markReleased() else { return false }
        state.withLock { state in
            state.free.append(slab)
            state.inUse -= 1
        }
        return true
    }

    /// The byte offset of `slab` in the memfd.
    public func offset(ofSlab slab: Int) -> Int { slab * slabSize }

    /// The pool's statistics.
    public var stats: BufferPoolStats {
        state.withLock { state in
            BufferPoolStats(slabs: slabCount, inUse: state.inUse, allocations: state.allocations,
                            reuses: state.reuses, exhausted: state.exhausted)
        }
    }
}

/// One slab of a ``BufferPool``: a fixed-capacity byte buffer with a write end and a read cursor.
///
/// Writes append at ``count``; reads consume from the read cursor. A buffer is owned by one task
/// between acquire and release and is not safe to use from two at once. After
/// ``BufferPool/release(_:)`` every operation fails with ``BufferPoolError/released(slab:)``.
public final class ZeroCopyBuffer: @unchecked Sendable {
    // @unchecked: single owner between acquire and release, as documented above.

    /// The pool the slab belongs to (kept alive by the buffer).
    public let pool: BufferPool
    /// The slab's index in the pool.
    public let slabIndex: Int
    /// The slab's byte offset in the pool's memfd (what the other process maps).
    public let offset: Int
    /// The slab's size in bytes.
    public let capacity: Int
    /// Bytes written so far.
    public private(set) var count = 0
    /// Bytes consumed by ``read(maxCount:)`` so far.
    public private(set) var readIndex = 0
    /// Whether the buffer has been released to its pool.
    public private(set) var isReleased = false
    /// High-water mark of written bytes since acquire: what release must zero.
    private var dirty = 0
    private let start: UnsafeMutableRawPointer

    init(pool: BufferPool, slab: Int) {
        self.pool = pool
        self.slabIndex = slab
        self.offset = pool.offset(ofSlab: slab)
        self.capacity = pool.slabSize
        self.start = pool.base + offset
    }

    /// Free space after the written bytes.
    public var writableCount: Int { capacity - count }
    /// Written bytes not read yet.
    public var readableCount: Int { count - readIndex }

    /// Appends `bytes`; throws without writing anything when they don't all fit.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(BufferPoolError) {
        guard !isReleased else { throw .released(slab: slabIndex) }
        guard bytes.count <= writableCount else {
            throw .bufferFull(capacity: capacity, used: count, requested: bytes.count)
        }
        if let source = bytes.baseAddress, bytes.count > 0 {
            (start + count).copyMemory(from: source, byteCount: bytes.count)
        }
        count += bytes.count
        dirty = max(dirty, count)
    }

    /// Appends `bytes`; throws without writing anything when they don't all fit.
    public func write(_ bytes: [UInt8]) throws(BufferPoolError) {
        let result = bytes.withUnsafeBytes { raw -> Result<Void, BufferPoolError> in
            do throws(BufferPoolError) { try write(raw); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// Appends the UTF-8 bytes of `text`; throws without writing anything when they don't fit.
    public func write(_ text: String) throws(BufferPoolError) {
        try write(Array(text.utf8))
    }

    /// Lets `body` fill the free space directly (for example with read(2) or recvmsg), then
    /// commits the number of bytes it returns (clamped to the free space).
    /// `exact`: `body` writes nothing beyond the count it returns (recvmsg(2) into the tail: it
    /// returns what it copied), so release zeroes only that; otherwise the whole tail. Zeroing
    /// (and so faulting in) a whole 64 KiB slab for a 30-byte reply was most of a helper
    /// round trip's CPU in a short-lived process (OCI commands).
    public func withUnsafeWritableTail(exact: Bool = false, _ body: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> Int {
        guard !isReleased else { throw BufferPoolError.released(slab: slabIndex) }
        let written = try body(UnsafeMutableRawBufferPointer(start: start + count, count: writableCount))
        let committed = min(max(written, 0), writableCount)
        count += committed
        // body may have written beyond what it reports; zero the whole tail on release.
        dirty = exact ? max(dirty, count) : capacity
        return committed
    }

    /// Calls `body` with the unread bytes, without copying or consuming them.
    public func withUnsafeReadableBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard !isReleased else { throw BufferPoolError.released(slab: slabIndex) }
        return try body(UnsafeRawBufferPointer(start: start + readIndex, count: readableCount))
    }

    /// Consumes and returns up to `maxCount` unread bytes (all of them by default).
    public func read(maxCount: Int = .max) throws(BufferPoolError) -> [UInt8] {
        guard !isReleased else { throw .released(slab: slabIndex) }
        let length = min(max(maxCount, 0), readableCount)
        let bytes = Array(UnsafeRawBufferPointer(start: start + readIndex, count: length))
        readIndex += length
        return bytes
    }

    /// Consumes up to `destination.count` unread bytes into `destination`; returns how many.
    public func read(into destination: UnsafeMutableRawBufferPointer) throws(BufferPoolError) -> Int {
        guard !isReleased else { throw .released(slab: slabIndex) }
        let length = min(destination.count, readableCount)
        if let target = destination.baseAddress, length > 0 {
            target.copyMemory(from: start + readIndex, byteCount: length)
        }
        readIndex += length
        return length
    }

    /// Empties the buffer; with `zeroing`, also overwrites the bytes written so far.
    public func reset(zeroing: Bool = false) throws(BufferPoolError) {
        guard !isReleased else { throw .released(slab: slabIndex) }
        if zeroing, dirty > 0 {
            explicit_bzero(start, dirty)
            dirty = 0
        }
        count = 0
        readIndex = 0
    }

    /// Zeroes what was written and marks the buffer released; returns the slab, or nil when it
    /// was released already.
    func markReleased() -> Int? {
        guard !isReleased else { return nil }
        if dirty > 0 { explicit_bzero(start, dirty) }
        dirty = 0
        count = 0
        readIndex = 0
        isReleased = true
        return slabIndex
    }
}
