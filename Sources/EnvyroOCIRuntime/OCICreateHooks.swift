// The createRuntime (and prestart) and createContainer hooks at their place in `create`: the
// container has its namespaces, cgroup and mounts, and has not yet pivoted into its root
// (runtime-spec "Lifecycle"). The container pauses there (oci_child.c, pause_for_hooks) and
// reaches us through its start socket while the helper's oci_create is still in flight, so
// the hooks run on a thread of their own while this one waits for the helper's answer.
import CEnvyro
import EnvyroOCI
import EnvyroSystem
import Glibc

/// One create's hook pause: the connection to the paused container, the thread that runs the
/// hooks, and what they answered.
final class OCICreateHookPause: @unchecked Sendable {
    let connection: Int32
    private var done: [Int32] = [-1, -1]
    /// Why a hook failed (create then fails with it), or nil.
    private(set) var failure: OCIFailure?
    /// Whether the hooks ran (the container reached the pause).
    private(set) var ran = false

    /// Connects to the start socket before the container exists (the listening socket's backlog
    /// holds the connection until the container accepts it at its pause), with SO_PASSCRED so
    /// that its byte arrives with its pid.
    init(startSocket: String) throws(OCIFailure) {
        connection = try UnixSocket.connect(startSocket)
        var one: Int32 = 1
        guard setsockopt(connection, SOL_SOCKET, SO_PASSCRED, &one, socklen_t(MemoryLayout<Int32>.size)) == 0,
              envyro_pipe_cloexec(&done) == 0 else {
            let e = errno
            close(connection)
            throw OCIFailure("cannot wait for the container's hooks: \(Errno.describe(e))")
        }
    }

    /// Starts the thread: when the container pauses, `hooks(pid)` runs them (throwing the first
    /// failure), and the container is told to go on (0) or to fail (1).
    func start(_ hooks: @escaping @Sendable (Int32) throws(OCIFailure) -> Void) {
        Threads.detach { [self] in
            var byte: UInt8 = 0
            var pid: pid_t = 0
            if envyro_recv_byte_with_pid(connection, &byte, &pid) == 1, pid > 0 {
                ran = true
                var answer: UInt8 = 0
                do throws(OCIFailure) { try hooks(pid) } catch {
                    failure = error
                    answer = 1
                }
                _ = write(connection, &answer, 1)
            }
            var one: UInt8 = 1
            _ = write(done[1], &one, 1)
        }
    }

    /// After the helper answered: a container that never paused (create failed before) leaves
    /// the thread waiting, so the connection is shut down; then the thread is waited for.
    func finish() {
        shutdown(connection, Int32(SHUT_RDWR))
        var b: UInt8 = 0
        while read(done[0], &b, 1) < 0 && errno == EINTR {}
        close(done[0]); close(done[1]); close(connection)
    }
}
