import CEnvyro
import EnvyroSystem
import Glibc
import Synchronization

/// The helper the C front started for a run no supervisor serves (front.c `prestart_helper`):
/// its start then overlaps envyro-cli's own instead of following it. The front passes
/// `ENVYRO_PRESTARTED_HELPER="FD PID POLICY PATH"`; `claim()` (first thing in envyro-cli's main)
/// takes it out of the environment and marks FD close-on-exec before anything else can be
/// spawned, and the embedded supervisor adopts it only for the same helper binary and policy it
/// would start itself. The adopted helper gets the same `hello` as one started here.
public enum PrestartedHelper {
    struct Handle: Sendable { let fd: Int32; let pid: pid_t; let policy: String; let path: String }
    private static let slot = Mutex<Handle?>(nil)
    /// The claimed helper's socket, kept after adoption: it is this process's, never the
    /// caller's, whatever number it got (see `isHelperSocket`).
    private static let claimedFD = Atomic<Int32>(-1)

    /// Whether `fd` is the socket of the helper the front started. The front's socketpair takes
    /// the lowest free numbers, which may be ones an engine names with `--preserve-fds` or
    /// LISTEN_FDS without having opened them: such an fd is not the caller's and is never passed
    /// on (it would hand a container the supervisor's end of the helper's socket).
    public static func isHelperSocket(_ fd: Int32) -> Bool {
        fd >= 0 && claimedFD.load(ordering: .relaxed) == fd
    }

    /// Takes the front's helper out of the environment: checks that FD is a SEQPACKET socket
    /// this process made (the front, before its exec into us) and PID a child of ours.
    public static func claim() {
        guard let value = Environment.get("ENVYRO_PRESTARTED_HELPER") else { return }
        unsetenv("ENVYRO_PRESTARTED_HELPER")
        let words = value.split(separator: " ", maxSplits: 3).map(String.init)
        guard words.count == 4, let fd = Int32(words[0]), fd > 2, let pid = pid_t(words[1]), pid > 0 else { return }
        guard fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else { return }
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        var peerPID: pid_t = 0, peerUID: uid_t = 0, peerGID: gid_t = 0
        var status: Int32 = 0
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_SEQPACKET.rawValue),
              envyro_peer_credentials(fd, &peerPID, &peerUID, &peerGID) == 0, peerPID == getpid(),
              waitpid(pid, &status, WNOHANG) == 0 else {
            _ = Glibc.close(fd)
            return
        }
        slot.withLock { $0 = Handle(fd: fd, pid: pid, policy: words[2], path: words[3]) }
        claimedFD.store(fd, ordering: .relaxed)
        // However this process ends (an error before the run, ArgumentParser's exit), a helper
        // not adopted is closed and reaped first: nothing of ours outlives the command.
        atexit { PrestartedHelper.discard() }
    }

    /// Closes and reaps the claimed helper if it was not adopted.
    public static func discard() {
        if let h = take() { end(h) }
    }

    private static func take() -> Handle? { slot.withLock { s -> Handle? in defer { s = nil }; return s } }

    /// Closes its socket (it exits at EOF) and reaps it.
    private static func end(_ h: Handle) {
        _ = Glibc.close(h.fd)
        var status: Int32 = 0
        while waitpid(h.pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// The claimed helper when it is `path` with `policy`; any other is closed (it exits at
    /// EOF) and reaped. At most once.
    static func adopt(path: String, policy: String) -> (pid: pid_t, socket: SeqPacketSocket)? {
        guard let h = take() else { return nil }
        if h.path == path && h.policy == policy { return (h.pid, SeqPacketSocket(fd: h.fd)) }
        end(h)
        return nil
    }
}
