// `--preserve-fds N` (create, run, exec) and socket activation: the descriptors after stdio
// that reach the container's process as fds 3, 4, ... (issue 17).
//
// As runc and crun do: when envyro itself was socket-activated (LISTEN_FDS=K in its environment,
// LISTEN_PID absent or envyro's own pid), fds 3...3+K-1 are passed first and the process gets
// LISTEN_FDS=K; then N more. The process's LISTEN_PID is its own pid as seen inside, set by the
// trampoline (process_env.c) whenever its environment has LISTEN_FDS.
import EnvyroProtocol
import EnvyroSupervisor
import EnvyroSystem
import Glibc

struct OCIPreservedFDs {
    /// The descriptors to pass, in order: they become 3, 4, ... in the container.
    var fds: [Int32] = []
    /// How many of them came from socket activation.
    var listenFDs = 0

    /// From `--preserve-fds` and the environment; every descriptor must be open.
    static func from(_ a: OCIArguments) throws(OCIFailure) -> OCIPreservedFDs {
        // Two variables, read as they are: no dictionary of the whole environment.
        var environment: [String: String] = [:]
        for key in ["LISTEN_FDS", "LISTEN_PID"] { environment[key] = Environment.get(key) }
        return try from(a, environment: environment)
    }

    static func from(_ a: OCIArguments, environment: [String: String]) throws(OCIFailure) -> OCIPreservedFDs {
        var extra = 0
        if let n = a.value("preserve-fds") {
            guard let v = Int(n), v >= 0 else { throw OCIFailure("--preserve-fds \(n): not a number of descriptors") }
            extra = v
        }
        var listen = 0
        if let k = environment["LISTEN_FDS"].flatMap({ Int($0) }), k > 0,
           environment["LISTEN_PID"].map({ $0 == String(getpid()) }) ?? true {
            listen = k
        }
        let total = listen + extra
        let limit = Int(WireProcessExtras.maxPreservedFDs)
        guard total <= limit else {
            throw OCIFailure("--preserve-fds \(extra)\(listen > 0 ? " with LISTEN_FDS=\(listen)" : ""): at most \(limit) descriptors can be passed")
        }
        var result = OCIPreservedFDs(listenFDs: listen)
        for fd in Int32(3)..<Int32(3 + total) {
            // The C front's helper socket may sit at a number the caller left closed: that is
            // not the caller's descriptor (PrestartedHelper.isHelperSocket).
            guard fcntl(fd, F_GETFD) >= 0, !PrestartedHelper.isHelperSocket(fd) else {
                throw OCIFailure("--preserve-fds \(extra)\(listen > 0 ? " with LISTEN_FDS=\(listen)" : ""): fd \(fd) is not open")
            }
            result.fds.append(fd)
        }
        return result
    }

    /// The process gets the count, and LISTEN_FDS when envyro was socket-activated.
    func apply(to p: inout WireProcess) {
        p.extras.preserveFDs = UInt32(fds.count)
        if listenFDs > 0 {
            p.env.removeAll { $0.hasPrefix("LISTEN_FDS=") }
            p.env.append("LISTEN_FDS=\(listenFDs)")
        }
    }
}

extension ProcessInfo {
    /// This process's environment as a dictionary.
    static var environment: [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }
}
