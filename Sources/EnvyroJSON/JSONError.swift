/// A JSON syntax error with the 1-based line and column (in Unicode scalars) where it was
/// found.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    /// 1-based column, counted in Unicode scalars.
    public var column: Int
    /// What is wrong, e.g. "duplicate key 'x'".
    public var reason: String

    /// Creates an error at a position.
    public init(line: Int, column: Int, reason: String) {
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// "line L, column C: reason".
    public var description: String { "line \(line), column \(column): \(reason)" }
}
