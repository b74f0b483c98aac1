/// A seccomp profile that can't be read, parsed or compiled, naming the file and the entry:
/// `policy/seccomp/x.json: syscalls[3].names[1]: unknown syscall 'opne'`.
public struct SeccompError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The profile's path (or the name it was parsed under).
    public var path: String
    /// The entry in JSON-path form, e.g. `syscalls[2].action`; nil for the whole file.
    public var entry: String?
    /// What is wrong.
    public var reason: String

    /// Creates an error for `entry` of the profile at `path`.
    public init(path: String, entry: String?, reason: String) {
        self.path = path
        self.entry = entry
        self.reason = reason
    }

    /// `path: entry: reason`, or `path: reason` when no entry is named.
    public var description: String {
        if let entry { return "\(path): \(entry): \(reason)" }
        return "\(path): \(reason)"
    }
}
