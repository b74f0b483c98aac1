import Glibc

/// A failed system call, naming the call and what it was applied to:
/// `open(/etc/envyro/policy/strict.json): Permission denied`.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call that failed, e.g. `"open"`.
    public var call: String
    /// What it was applied to (a path, a pid, an fd), or nil.
    public var subject: String?
    /// The errno value.
    public var errno: Int32

    /// Creates an error for `call` on `subject` with `errno`.
    public init(_ call: String, _ subject: String? = nil, errno: Int32) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    /// Captures the current `errno` for `call`.
    public static func current(_ call: String, _ subject: String? = nil) -> SystemError {
        SystemError(call, subject, errno: Glibc.errno)
    }

    public var description: String {
        let what = subject.map { "\(call)(\($0))" } ?? call
        return "\(what): \(Errno.describe(errno))"
    }
}

/// Readable errno names and messages.
public enum Errno {
    /// `strerror` text for `code`.
    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}

/// Retries `body` while it fails with EINTR; throws a `SystemError` naming `call` and `subject`
/// when it returns -1 for any other reason.
@inline(__always)
@discardableResult
public func retryingEINTR<T: BinaryInteger>(_ call: String, _ subject: String? = nil, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw SystemError(call, subject, errno: e)
    }
}
