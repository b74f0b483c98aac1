/// Every way a frame can be rejected. Decoding never traps; it throws one of these.
public enum ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Fewer than 16 bytes (the actual count).
    case tooShort(Int)
    /// Frame (actual or declared size) exceeds the cap.
    case oversized(Int, max: Int)
    /// Header magic is not `ProtocolLimits.magic`.
    case badMagic(UInt32)
    /// Header version is not `ProtocolLimits.version`.
    case unsupportedVersion(UInt16)
    /// Header verb is not a known `Verb`.
    case unknownVerb(UInt16)
    /// Declared payload length differs from the bytes actually received.
    case lengthMismatch(declared: UInt32, actual: Int)
    /// A field runs past the end of the payload.
    case truncated(field: String)
    /// Payload bytes left over after the last field.
    case trailingBytes(Int)
    /// A string is not valid UTF-8 or contains NUL.
    case invalidString(field: String)
    /// A field decoded but holds a value the protocol does not allow.
    case invalidValue(field: String, reason: String)
    /// The number of fds received does not match the verb.
    case unexpectedFileDescriptors(verb: String, expected: Int, got: Int)
    /// The verb flows the other way (e.g. a reply where a request was expected).
    case wrongDirection(verb: String)

    /// Short machine-friendly token for audit lines.
    public var reason: String {
        switch self {
        case .tooShort: "too_short"
        case .oversized: "oversized"
        case .badMagic: "bad_magic"
        case .unsupportedVersion: "unsupported_version"
        case .unknownVerb: "unknown_verb"
        case .lengthMismatch: "length_mismatch"
        case .truncated: "truncated"
        case .trailingBytes: "trailing_bytes"
        case .invalidString: "invalid_string"
        case .invalidValue: "invalid_value"
        case .unexpectedFileDescriptors: "unexpected_fds"
        case .wrongDirection: "wrong_direction"
        }
    }

    /// Human-readable description.
    public var description: String {
        switch self {
        case .tooShort(let n): "frame too short: \(n) bytes, header needs \(ProtocolLimits.headerSize)"
        case .oversized(let n, let max): "frame too large: \(n) bytes, cap \(max)"
        case .badMagic(let m): "bad magic 0x\(String(m, radix: 16))"
        case .unsupportedVersion(let v): "unsupported protocol version \(v)"
        case .unknownVerb(let v): "unknown verb 0x\(String(v, radix: 16))"
        case .lengthMismatch(let d, let a): "payload length mismatch: declared \(d), actual \(a)"
        case .truncated(let f): "truncated field \(f)"
        case .trailingBytes(let n): "\(n) trailing bytes after payload"
        case .invalidString(let f): "invalid string in \(f) (bad UTF-8 or NUL)"
        case .invalidValue(let f, let r): "invalid \(f): \(r)"
        case .unexpectedFileDescriptors(let v, let e, let g): "verb \(v) expects \(e) fds, got \(g)"
        case .wrongDirection(let v): "verb \(v) not allowed in this direction"
        }
    }
}
