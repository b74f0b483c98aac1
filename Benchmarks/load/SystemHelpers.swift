// envyro-load's small system helpers: /proc readers, spawning, and text normalisation.

import CEnvyro
import EnvyroClient
import EnvyroJSON
import EnvyroSystem
import Glibc
import Synchronization

// MARK: small system helpers

func now() -> UInt64 { Clock.monotonicNanoseconds() }

func readText(_ path: String, limit: Int = 1 << 16) -> String? {
    guard let b = try? Files.read(path, limit: limit) else { return nil }
    return String(decoding: b, as: UTF8.self)
}

/// Pids in /proc.
func allPIDs() -> [Int32] { ((try? Files.listDirectory("/proc")) ?? []).compactMap { Int32($0) } }

/// (ppid, state, comm) from /proc/PID/stat.
func stat(of pid: Int32) -> (ppid: Int32, state: Character, comm: String)? {
    guard let s = readText("/proc/\(pid)/stat"), let open = s.firstIndex(of: "("), let close = s.lastIndex(of: ")") else { return nil }
    let comm = String(s[s.index(after: open)..<close])
    let fields = s[s.index(after: close)...].split(separator: " ")
    guard fields.count > 2, let state = fields[0].first, let ppid = Int32(fields[1]) else { return nil }
    return (ppid, state, comm)
}

func uidOf(_ pid: Int32) -> UInt32? {
    guard let s = readText("/proc/\(pid)/status") else { return nil }
    for line in s.split(separator: "\n") where line.hasPrefix("Uid:") {
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { UInt32($0) }
    }
    return nil
}

/// VmHWM (peak resident set) of `pid`, in KiB.
func peakRSS(_ pid: Int32) -> Int? {
    guard let s = readText("/proc/\(pid)/status") else { return nil }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().first.flatMap { Int($0) }
    }
    return nil
}

func openFDCount(_ pid: Int32) -> Int { (try? Files.listDirectory("/proc/\(pid)/fd"))?.count ?? 0 }

/// Starts `argv` with stdin from /dev/null and stdout/stderr appended to `logPath`.
func spawn(_ argv: [String], logPath: String) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_APPEND | O_CREAT, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    cArgs.append(nil)
    defer { for p in cArgs { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, envyro_environ())
    return rc == 0 ? pid : nil
}

/// Replaces runs of 4 or more digits (pids, times) with N, so that causes group by kind, not by pid or number.
func normalize(_ text: String) -> String {
    var out = ""
    var digits = ""
    func flush() { out += digits.count >= 4 ? "N" : digits; digits = "" }
    for c in text {
        if c.isNumber { digits.append(c) } else { flush(); out.append(c) }
    }
    flush()
    return out.count > 200 ? String(out.prefix(200)) + "..." : out
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = self
        while s.last == "\n" { s.removeLast() }
        return s
    }
}
