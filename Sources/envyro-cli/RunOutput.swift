import EnvyroClient
import EnvyroJSON
import EnvyroProtocol
import Glibc

// What `envyro run` prints and how it exits, whoever ran the container (embedded, or a
// supervisor through EnvyroClient): the same messages and statuses as the C front's.

/// Exit statuses envyro itself chooses.
enum RunExit {
    /// The kernel's OOM killer ended the workload (distinct from a plain SIGKILL's 137).
    static let outOfMemory: Int32 = 247
}

/// Writes one line to stderr, prefixed `envyro: `.
func complain(_ message: String) {
    writeStderr("envyro: \(message)\n")
}

/// Writes text to stderr unbuffered.
func writeStderr(_ text: String) {
    _ = text.withCString { write(2, $0, strlen($0)) }
}

/// "64 MiB", as limits are shown in messages.
func formatBytes(_ bytes: Int64) -> String {
    let units: [(Int64, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
    for (size, name) in units where bytes >= size && bytes % size == 0 { return "\(bytes / size) \(name)" }
    for (size, name) in units where bytes >= size { return "\(Double(bytes * 10 / size) / 10) \(name)" }
    return "\(bytes) bytes"
}

/// Ends `envyro run` the same way whoever ran the container.
func finishRun(exitCode: Int32, timedOut: Bool, oomKilled: Bool, memoryLimit: Int64?, oomKills: Int64, timeout: Double?) -> Never {
    if timedOut {
        let s = timeout ?? 0
        complain("timed out after \(s == s.rounded() ? "\(Int(s))s" : "\(s)s"); the container was killed")
        exit(124)
    }
    if oomKilled {
        let limit = memoryLimit.map { " (limit \(formatBytes($0)))" } ?? ""
        complain("killed: out of memory\(limit)")
        exit(RunExit.outOfMemory)
    }
    if oomKills > 0 {
        complain("warning: the kernel's OOM killer killed \(oomKills) process(es) in the container")
    }
    exit(exitCode)
}

/// Reports a run a supervisor carried out (DaemonClient's result) and exits.
func finishDaemonRun(_ result: DaemonRunResult, _ spec: RunSpec) -> Never {
    switch result {
    case .broken(let why):
        complain(why)
        exit(125)
    case .refused(let message, let exitCode):
        complain(message)
        exit(exitCode)
    case .finished(let b):
        if let note = b["limitNote"]?.stringValue, !note.isEmpty { complain("note: \(note)") }
        if spec.timings, let t = b["timings"]?.stringValue { writeStderr("timings (supervisor):\n" + t + "\n") }
        if spec.json {
            var o = b
            _ = o.removeValue(forKey: "timings")
            _ = o.removeValue(forKey: "run")
            writeStderr(JSONValue.object(o).serialized() + "\n")
        }
        finishRun(exitCode: Int32(b["exitCode"]?.intValue ?? 125), timedOut: b["timedOut"]?.boolValue ?? false,
                  oomKilled: b["oomKilled"]?.boolValue ?? false, memoryLimit: b["memoryLimitBytes"]?.intValue,
                  oomKills: b["oomKills"]?.intValue ?? 0, timeout: spec.timeoutSeconds)
    }
}
