import Glibc

/// Plain pthreads for blocking work (accept loops, one thread per daemon client), which must
/// not sit on Swift's two cooperative threads.
public enum Threads {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Runs `body` on a new detached thread.
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if rc == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<Box>.fromOpaque(box).release()
        }
    }

    /// Runs async `body` from a blocking thread and waits for it (a pipe carries the wake-up).
    public static func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
        let slot = ResultSlot<T>()
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SystemError.current("pipe") }
        let writeEnd = fds[1]
        Task {
            do { slot.result = .success(try await body()) } catch { slot.result = .failure(error) }
            var b: UInt8 = 1
            _ = write(writeEnd, &b, 1)
        }
        var b: UInt8 = 0
        while read(fds[0], &b, 1) < 0 && errno == EINTR {}
        close(fds[0])
        close(fds[1])
        switch slot.result! {
        case .success(let v): return v
        case .failure(let e): throw e
        }
    }
}

/// A result handed from a task to a waiting thread (the pipe orders the accesses).
private final class ResultSlot<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
