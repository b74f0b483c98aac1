#if !ENVYRO_NO_URING
import CURing
import Glibc

/// What a CQE said: the tag its SQE carried and the result (bytes, or -errno).
struct Completion {
    var tag: UInt64
    var result: Int32
}

/// SQE flags (the IOSQE_* macros are built from enum values and don't import).
enum SQEFlag {
    static let fixedFile: UInt32 = 1 << 0
    static let link: UInt32 = 1 << 2
}

/// One io_uring, kept behind a pointer (liburing's struct must not move).
///
/// `perform` runs a few linked SQEs to completion (a request's open/read/close chain) while
/// completions for other work (captures, the socket poll) that arrive meanwhile are kept in
/// `deferred` for the event loop.
final class Ring {
    let ring: UnsafeMutablePointer<io_uring>
    let depth: UInt32
    /// Completions that arrived during `perform` but belong to the event loop.
    var deferred: [Completion] = []
    private var nextSequence: UInt64 = 1
    private var cqes = [UnsafeMutablePointer<io_uring_cqe>?](repeating: nil, count: 64)

    /// Tags of `perform`'s own SQEs: kind 0xFF in the top byte.
    static let syncKind: UInt64 = 0xFF

    /// Creates a ring with `depth` entries, disabled until enabled when `startDisabled`
    /// (IORING_SETUP_R_DISABLED).
    static func make(depth: UInt32, startDisabled: Bool) throws(WorkerError) -> Ring {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        ring.initialize(to: io_uring())
        let r = envyro_uring_init(depth, ring, startDisabled ? UInt32(IORING_SETUP_R_DISABLED) : 0)
        if r < 0 {
            ring.deallocate()
            throw WorkerError(errno: -r, operation: "io_uring_queue_init", message: "io_uring_queue_init(\(depth)) failed")
        }
        return Ring(ring: ring, depth: depth)
    }

    private init(ring: UnsafeMutablePointer<io_uring>, depth: UInt32) {
        self.ring = ring
        self.depth = depth
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
    }

    /// A free SQE, submitting what is queued when the submission queue is full.
    func sqe() -> UnsafeMutablePointer<io_uring_sqe> {
        while true {
            if let s = io_uring_get_sqe(ring) { return s }
            _ = io_uring_submit(ring)
        }
    }

    /// Submits queued SQEs and waits until at least one completion is ready.
    func submitAndWait() {
        while true {
            let r = io_uring_submit_and_wait(ring, 1)
            if r >= 0 || r != -EINTR { return }
        }
    }

    /// Takes every ready completion.
    func reap(into out: inout [Completion]) {
        while true {
            let n = cqes.withUnsafeMutableBufferPointer { envyro_uring_peek(ring, $0.baseAddress!, UInt32($0.count)) }
            if n == 0 { return }
            for i in 0..<Int(n) {
                let c = cqes[i]!.pointee
                out.append(Completion(tag: c.user_data, result: c.res))
            }
            io_uring_cq_advance(ring, n)
        }
    }

    /// Tag of SQEs whose completion nobody waits for (a queued close).
    static let ignoredKind: UInt64 = 0xFE

    /// Queues a close of direct descriptor `slot` without submitting it: it goes with the next
    /// submit (usually the event loop's wait), and its completion is ignored. A later open into
    /// the same slot is queued after it.
    func queueClose(slot: UInt32) {
        let s = sqe()
        io_uring_prep_close_direct(s, slot)
        io_uring_sqe_set_data64(s, Ring.ignoredKind << 56)
    }

    /// Preps `count` SQEs with `prep(index, sqe)` (tagged for this call), submits them, and
    /// waits for all their completions; returns their results in order.
    func perform(_ count: Int, _ prep: (Int, UnsafeMutablePointer<io_uring_sqe>) -> Void) -> [Int32] {
        let sequence = nextSequence & 0xFFFF_FFFF
        nextSequence &+= 1
        for i in 0..<count {
            let s = sqe()
            prep(i, s)
            io_uring_sqe_set_data64(s, Ring.syncKind << 56 | sequence << 8 | UInt64(i))
        }
        var results = [Int32](repeating: -ECANCELED, count: count)
        var pending = count
        var batch: [Completion] = []
        while pending > 0 {
            submitAndWait()
            batch.removeAll(keepingCapacity: true)
            reap(into: &batch)
            for c in batch {
                if c.tag >> 56 == Ring.syncKind, (c.tag >> 8) & 0xFFFF_FFFF == sequence {
                    results[Int(c.tag & 0xFF)] = c.result
                    pending -= 1
                } else {
                    deferred.append(c)
                }
            }
        }
        return results
    }
}
#endif
