import Glibc
import Testing
@testable import EnvyroEngine

@Suite("BufferPool and ZeroCopyBuffer")
struct BufferPoolTests {
    @Test("A buffer knows its slab and offset and round-trips writes and reads")
    func writeRead() throws {
        let pool = try BufferPool(slabSize: 4096, slabCount: 4)
        let buffer = try pool.acquire()
        #expect(buffer.slabIndex == 0 && buffer.offset == 0 && buffer.capacity == 4096)
        try buffer.write([1, 2, 3])
        try buffer.write("abc")
        #expect(buffer.count == 6 && buffer.readableCount == 6)
        #expect(try buffer.read(maxCount: 2) == [1, 2])
        #expect(try buffer.read() == [3, 97, 98, 99])
        #expect(buffer.readableCount == 0)
        try buffer.reset()
        #expect(buffer.count == 0 && buffer.writableCount == 4096)
        let second = try pool.acquire()
        #expect(second.slabIndex == 1 && second.offset == 4096)
    }

    @Test("A write that doesn't fit throws and writes nothing")
    func full() throws {
        let pool = try BufferPool(slabSize: 4096, slabCount: 1)
        let buffer = try pool.acquire()
        try buffer.write(Array(repeating: 1, count: 4000))
        #expect(throws: BufferPoolError.bufferFull(capacity: 4096, used: 4000, requested: 100)) {
            try buffer.write(Array(repeating: 2, count: 100))
        }
        #expect(buffer.count == 4000)
        let message = BufferPoolError.bufferFull(capacity: 4096, used: 4000, requested: 100).description
        #expect(message == "a write of 100 bytes doesn't fit in the buffer (4000 of 4096 bytes used); split the data or reset the buffer first")
    }

    @Test("Filling the tail directly commits what the body reports")
    func writableTail() throws {
        let pool = try BufferPool(slabSize: 4096, slabCount: 1)
        let buffer = try pool.acquire()
        let written = try buffer.withUnsafeWritableTail { tail in
            tail[0] = 9
            tail[1] = 8
            return 2
        }
        #expect(written == 2)
        #expect(try buffer.withUnsafeReadableBytes { Array($0) } == [9, 8])
        var out = [UInt8](repeating: 0, count: 8)
        let count = try out.withUnsafeMutableBytes { try buffer.read(into: $0) }
        #expect(count == 2 && out[0] == 9 && out[1] == 8)
    }

    @Test("Exhaustion throws a clear error and tryAcquire returns nil")
    func exhaustion() throws {
        let pool = try BufferPool(slabSize: 4096, slabCount: 2)
        let a = try pool.acquire()
        _ = try pool.acquire()
        #expect(pool.tryAcquire() == nil)
        #expect(throws: BufferPoolError.exhausted(slabs: 2, slabSize: 4096)) { try pool.acquire() }
        #expect(BufferPoolError.exhausted(slabs: 2, slabSize: 4096).description
                == "all 2 buffer slabs of 4 KiB are in use; release buffers sooner or create the pool with more slabs")
        pool.release(a)
        let again = try pool.acquire()
        #expect(again.slabIndex == a.slabIndex)
        #expect(pool.stats == BufferPoolStats(slabs: 2, inUse: 2, allocations: 2, reuses: 1, exhausted: 2))
    }

    @Test("Release zeroes what was written, and a released buffer refuses use")
    func releaseZeroes() throws {
        let pool = try BufferPool(slabSize: 4096, slabCount: 1)
        let buffer = try pool.acquire()
        try buffer.write("secret-bytes")
        try buffer.reset()
        try buffer.write("x")
        #expect(pool.release(buffer))
        #expect(!pool.release(buffer))
        #expect(throws: BufferPoolError.released(slab: 0)) { try buffer.write("more") }
        #expect(throws: BufferPoolError.released(slab: 0)) { try buffer.read() }
        let bytes = UnsafeRawBufferPointer(start: pool.base, count: 64)
        #expect(bytes.allSatisfy { $0 == 0 })
    }

    @Test("Invalid configurations are refused with a reason", arguments: [
        (100, 4, "invalid buffer pool configuration: slab size 100 must be a positive multiple of the page size 4096"),
        (4096, 0, "invalid buffer pool configuration: slab count 0 must be at least 1"),
    ])
    func invalidConfiguration(slabSize: Int, slabCount: Int, message: String) {
        do {
            _ = try BufferPool(slabSize: slabSize, slabCount: slabCount)
            Issue.record("expected an error")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test("The memfd is shared: a second mapping sees the same bytes both ways")
    func memfdShared() throws {
        let pool = try BufferPool(slabSize: 4096, slabCount: 2)
        let first = try pool.acquire()
        let second = try pool.acquire()
        try second.write("shared through the memfd")
        let flags = fcntl(pool.memfd, F_GETFD)
        #expect(flags & FD_CLOEXEC != 0)
        let mapped = try #require(mmap(nil, pool.totalSize, PROT_READ | PROT_WRITE, MAP_SHARED, pool.memfd, 0))
        #expect(mapped != UnsafeMutableRawPointer(bitPattern: -1))
        defer { munmap(mapped, pool.totalSize) }
        let view = UnsafeRawBufferPointer(start: mapped + second.offset, count: second.count)
        #expect(String(decoding: view, as: UTF8.self) == "shared through the memfd")
        // Written from the other side, read through the pool.
        mapped.storeBytes(of: 0x41, toByteOffset: first.offset, as: UInt8.self)
        let seen = try first.withUnsafeWritableTail { tail in Int(tail[0]) }
        #expect(seen == 0x41)
    }

    @Test("Stats count fresh slabs and reuses under concurrency")
    func concurrent() async throws {
        let pool = try BufferPool(slabSize: 4096, slabCount: 8)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for round in 0..<200 {
                        guard let buffer = pool.tryAcquire() else { continue }
                        let text = "task \(task) round \(round)"
                        try? buffer.write(text)
                        #expect((try? buffer.read()).map { String(decoding: $0, as: UTF8.self) } == text)
                        pool.release(buffer)
                    }
                }
            }
        }
        let stats = pool.stats
        #expect(stats.inUse == 0)
        #expect(stats.allocations <= 8)
        #expect(stats.allocations + stats.reuses + stats.exhausted == 8 * 200)
        #expect(stats.reuseRatio > 0.9)
    }
}
