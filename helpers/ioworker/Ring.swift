#if !ENVYRO_NO_URING
import CURing
import Glibc

/// What a CQE said: the tag its SQE carried and the result (bytes, or -errno).
struct Completion {
    var tag: UInt64
    var result: Int32
}

/// One io_uring, kept behind a pointer (liburing's struct must not move).
final class Ring {
    let ring: UnsafeMutablePointer<io_uring>
    let depth: UInt32
    private var cqes = [UnsafeMutablePointer<io_uring_cqe>?](repeating: nil, count: 64)

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


}
#endif
