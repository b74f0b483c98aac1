import CEnvyro
import EnvyroJSON
import EnvyroSystem
import Glibc

/// What the helper decided about one call.
public enum AuditDecision: Sendable, Equatable {
    /// The call was permitted by the policy and carried out.
    case allowed
    /// The call was refused; `reason` says why (e.g. `"bad_magic"`, `"network host not allowed"`).
    case denied(reason: String)
}

/// One helper call, as it goes into the audit log.
public struct AuditRecord: Sendable, Equatable {
    /// The verb's name (`hello`, `create`, `signal`, `exited`, or `invalid` for an undecodable frame).
    public var verb: String
    /// Kernel credentials of the caller (SO_PEERCRED).
    public var callerUID: UInt32
    /// The caller's pid.
    public var callerPID: Int32
    /// SHA-256 of the request payload.
    public var argumentDigest: [UInt8]
    /// Allowed or denied, and why.
    public var decision: AuditDecision
    /// `"ok"` or an errno name such as `"EPERM"`.
    public var result: String
    /// How long the call took.
    public var durationMicros: UInt64
    /// A short human note (the container id, the exit status), or nil.
    public var detail: String?

    /// Creates a record.
    public init(verb: String, callerUID: UInt32, callerPID: Int32, argumentDigest: [UInt8],
                decision: AuditDecision, result: String, durationMicros: UInt64, detail: String? = nil) {
        self.verb = verb
        self.callerUID = callerUID
        self.callerPID = callerPID
        self.argumentDigest = argumentDigest
        self.decision = decision
        self.result = result
        self.durationMicros = durationMicros
        self.detail = detail
    }
}

/// SHA-256 helpers (libmd through CEnvyro).
public enum Digest {
    /// SHA-256 of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { sha256(bytes[...]) }

    /// SHA-256 of a slice, read where it is (no copy: a helper request's payload may hold a
    /// run's secrets).
    public static func sha256(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { buf in
            out.withUnsafeMutableBufferPointer { o in envyro_sha256(buf.baseAddress, buf.count, o.baseAddress!) }
        }
        return out
    }

    /// Lower-case hex.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The `prev` value of the first line of a chain.
    public static let genesis = String(repeating: "0", count: 64)
}

/// An append-only audit log: one JSON line per helper call, each carrying the SHA-256 of the
/// line before it, so `AuditVerifier` finds edited, deleted or reordered lines.
///
/// With a key (`AuditKey`; the helper always has one), each line also ends in `"mac"`: an
/// HMAC-SHA256 under the key of the line as it reads without that field. A SHA-256 chain alone
/// can be extended by anyone who can append (the hash is public); a MAC needs the key.
///
/// Several helpers (one per supervisor) may append to the same file. Each append takes an
/// exclusive `flock`, reads where the chain stands (cached when the file did not grow behind
/// our back), and writes the line with one `write`; a short write is rolled back with
/// `ftruncate`, so the file never holds a half line.
public final class AuditLog {
    /// Where the log lives.
    public let path: String
    /// Rotate when the file would grow past this many bytes.
    public let maxBytes: Int64
    /// Rotated files kept (`path.1` is the newest).
    public let keep: Int
    /// `fdatasync` after every line.
    public let sync: Bool
    /// The key each line is MACed with, or nil for an unkeyed (SHA-256 only) log.
    public let key: AuditKey?
    private var fd: Int32
    private var cachedEnd: Int64 = -1
    private var lastSeq: UInt64 = 0
    private var lastHash: String = Digest.genesis

    /// Opens (creating it and its directory, mode 0700/0600) the log at `path`.
    public init(path: String, maxBytes: Int = 16 << 20, keep: Int = 5, sync: Bool = false, key: AuditKey? = nil) throws(SystemError) {
        self.path = path
        self.key = key
        self.maxBytes = Int64(maxBytes)
        self.keep = max(1, keep)
        self.sync = sync
        try Files.makeDirectories(Files.directory(of: path), mode: 0o700)
        fd = try Self.openLog(path)
    }

    private static func openLog(_ path: String) throws(SystemError) -> Int32 {
        try retryingEINTR("open", path) { open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600) }
    }

    /// Another helper rotated the file under us: our descriptor points at `path.1` now.
    private func reopenIfRotated() throws(SystemError) {
        var mine = stat(), current = stat()
        if fstat(fd, &mine) == 0, stat(path, &current) == 0, mine.st_ino == current.st_ino, mine.st_dev == current.st_dev { return }
        let fresh = try Self.openLog(path)
        // Lock the new file before letting go of the old one's lock (held by the caller).
        try retryingEINTR("flock", path) { flock(fresh, LOCK_EX) }
        close(fd)
        fd = fresh
        cachedEnd = -1
    }

    /// Renames `path` to `path.1` (shifting older ones, dropping the oldest) and starts a new
    /// file; the caller carries the chain's last hash and sequence number into it.
    private func rotate() throws(SystemError) {
        unlink("\(path).\(keep)")
        if keep > 1 {
            for i in stride(from: keep - 1, through: 1, by: -1) { rename("\(path).\(i)", "\(path).\(i + 1)") }
        }
        if rename(path, "\(path).1") != 0 { throw SystemError.current("rename", path) }
        let fresh = try Self.openLog(path)
        try retryingEINTR("flock", path) { flock(fresh, LOCK_EX) }
        close(fd)   // releases the old file's lock
        fd = fresh
    }

    deinit { close(fd) }

    /// Appends `record` as one line and returns the line written (without the newline).
    @discardableResult
    public func append(_ record: AuditRecord) throws(SystemError) -> String {
        try append(record, sync: sync)
    }

    /// Appends `record`, syncing it to disk when `sync` (a fail-closed log syncs the record made
    /// before a call; the outcome lines after it reach the disk with the next synced line).
    @discardableResult
    public func append(_ record: AuditRecord, sync: Bool) throws(SystemError) -> String {
        try retryingEINTR("flock", path) { flock(fd, LOCK_EX) }
        defer { _ = flock(fd, LOCK_UN) }
        try reopenIfRotated()
        var st = stat()
        try retryingEINTR("fstat", path) { fstat(fd, &st) }
        var size = Int64(st.st_size)
        if size != cachedEnd { try readChainState(size: size) }

        let line = Self.format(record, seq: lastSeq + 1, prev: lastHash, key: key)
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        if size > 0 && size + Int64(bytes.count) > maxBytes {
            // The chain (seq, prev) carries over into the new file.
            try rotate()
            size = 0
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let e = n < 0 ? errno : ENOSPC
                _ = ftruncate(fd, off_t(size))
                cachedEnd = -1
                throw SystemError("write", path, errno: e)
            }
            written += n
        }
        if sync && fdatasync(fd) != 0 {
            let e = errno
            _ = ftruncate(fd, off_t(size))
            cachedEnd = -1
            throw SystemError("fdatasync", path, errno: e)
        }
        lastSeq += 1
        lastHash = Digest.hex(Digest.sha256(Array(line.utf8)))
        cachedEnd = size + Int64(bytes.count)
        return line
    }

    /// Finds the last complete line of the file and takes its `seq` and hash.
    private func readChainState(size: Int64) throws(SystemError) {
        lastSeq = 0
        lastHash = Digest.genesis
        cachedEnd = size
        if size == 0 { return }
        let rfd = try retryingEINTR("open", path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        defer { close(rfd) }
        let window = Int(min(size, 65536))
        var buf = [UInt8](repeating: 0, count: window)
        let n = buf.withUnsafeMutableBytes { pread(rfd, $0.baseAddress, window, off_t(size - Int64(window))) }
        if n != window { throw SystemError.current("pread", path) }
        // Drop a trailing newline, then take the text after the previous one.
        var end = buf.count
        if end > 0 && buf[end - 1] == 0x0A { end -= 1 }
        var start = end
        while start > 0 && buf[start - 1] != 0x0A { start -= 1 }
        let last = Array(buf[start..<end])
        guard !last.isEmpty, case .object(let obj)? = try? JSONParser.parse(last),
              let seq = obj["seq"]?.intValue, seq >= 0 else {
            // Not ours or damaged: keep appending, and let `verify` report the break.
            lastHash = Digest.hex(Digest.sha256(last))
            return
        }
        lastSeq = UInt64(seq)
        lastHash = Digest.hex(Digest.sha256(last))
    }

    /// The JSON line for `record` (keys in a fixed order); with `key`, `"mac"` comes last and
    /// is the HMAC of the line without it (`{…,"prev":"…"}`).
    public static func format(_ r: AuditRecord, seq: UInt64, prev: String, key: AuditKey?) -> String {
        let body = format(r, seq: seq, prev: prev)
        guard let key else { return body }
        return String(body.dropLast()) + Self.macField + key.mac(Array(body.utf8)) + "\"}"
    }

    /// What precedes the MAC's hex digits at the end of a keyed line.
    public static let macField = ",\"mac\":\""

    /// The JSON line for `record` (keys in a fixed order), unkeyed.
    public static func format(_ r: AuditRecord, seq: UInt64, prev: String) -> String {
        var s = "{\"seq\":\(seq),\"time\":\"\(utcTimestamp())\",\"uid\":\(r.callerUID),\"pid\":\(r.callerPID)"
        s += ",\"helper_pid\":\(getpid()),\"verb\":" + JSONText.quoted(r.verb)
        s += ",\"args_sha256\":\"" + Digest.hex(r.argumentDigest) + "\""
        switch r.decision {
        case .allowed: s += ",\"decision\":\"allowed\""
        case .denied(let reason): s += ",\"decision\":\"denied\",\"reason\":" + JSONText.quoted(reason)
        }
        s += ",\"result\":" + JSONText.quoted(r.result)
        s += ",\"duration_us\":\(r.durationMicros)"
        if let d = r.detail { s += ",\"detail\":" + JSONText.quoted(d) }
        s += ",\"prev\":\"" + prev + "\"}"
        return s
    }

    /// Now, as `2026-11-26T12:34:56.123456Z`.
    public static func utcTimestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(Int(tmv.tm_year) + 1900, 4))-\(pad(Int(tmv.tm_mon) + 1, 2))-\(pad(Int(tmv.tm_mday), 2))T"
            + "\(pad(Int(tmv.tm_hour), 2)):\(pad(Int(tmv.tm_min), 2)):\(pad(Int(tmv.tm_sec), 2)).\(pad(ts.tv_nsec / 1000, 6))Z"
    }

    /// Where the audit log goes when the policy says `auto`: root → /var/log/envyro/audit.jsonl;
    /// others → `$XDG_STATE_HOME/envyro/audit.jsonl` (when `allowEnvironment`), else
    /// `~/.local/state/envyro/audit.jsonl` from the passwd database.
    public static func defaultPath(uid: uid_t, allowEnvironment: Bool) -> String {
        if uid == 0 && UserNamespace.isInitial { return "/var/log/envyro/audit.jsonl" }
        if allowEnvironment, let xdg = Environment.get("XDG_STATE_HOME"), xdg.hasPrefix("/") {
            return xdg + "/envyro/audit.jsonl"
        }
        // Root of another user namespace (rootless podman's) writes where its user does.
        if uid == 0, !UserNamespace.isInitial, let host = UserNamespace.hostUID, host != 0,
           let home = Environment.homeDirectory(uid: host) {
            return home + "/.local/state/envyro/audit.jsonl"
        }
        let home = Environment.homeDirectory(uid: uid) ?? "/tmp/envyro-\(uid)"
        return home + "/.local/state/envyro/audit.jsonl"
    }
}
