import Glibc

/// Appends little-endian primitives to a byte buffer.
///
/// A frame may carry a run's secrets (a create's argv and env): the buffer grows by hand, and
/// the outgrown one is zeroed before it is freed, so no partial copy is left in freed memory.
/// The sender zeroes the frame itself once it is sent (``Codec/zero(_:)``).
struct WireWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    /// Room for `extra` more bytes, in a new buffer if need be (the old one zeroed).
    private mutating func ensure(_ extra: Int) {
        guard bytes.count + extra > bytes.capacity else { return }
        var bigger: [UInt8] = []
        bigger.reserveCapacity(max(bytes.capacity * 2, bytes.count + extra))
        bigger.append(contentsOf: bytes)
        Codec.zero(&bytes)
        bytes = bigger
    }

    mutating func u8(_ v: UInt8) {
        ensure(1)
        bytes.append(v)
    }
    mutating func u16(_ v: UInt16) {
        ensure(2)
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }
    mutating func u32(_ v: UInt32) {
        ensure(4)
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func u64(_ v: UInt64) {
        ensure(8)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
    mutating func bool(_ v: Bool) { u8(v ? 1 : 0) }
    /// Writes u32 byte length + UTF-8 bytes. Does not enforce limits (the decoder does).
    mutating func string(_ s: String) {
        u32(UInt32(truncatingIfNeeded: s.utf8.count))
        ensure(s.utf8.count)
        bytes.append(contentsOf: s.utf8)
    }
    /// A string list as `strings` writes one, from the secret's own bytes.
    mutating func strings(_ list: SecretStrings) {
        u32(UInt32(truncatingIfNeeded: list.count))
        for i in 0..<list.count {
            let s = list[i]
            u32(UInt32(truncatingIfNeeded: s.count))
            ensure(s.count)
            bytes.append(contentsOf: s)
        }
    }
    /// Writes u32 byte length + raw bytes.
    mutating func blob(_ b: [UInt8]) {
        u32(UInt32(truncatingIfNeeded: b.count))
        ensure(b.count)
        bytes.append(contentsOf: b)
    }
    mutating func strings(_ list: [String]) {
        u32(UInt32(truncatingIfNeeded: list.count))
        for s in list { string(s) }
    }
}

/// Strict bounds-checked reader over a payload. Never reads past `buffer`.
struct WireReader {
    let buffer: UnsafeRawBufferPointer
    private(set) var offset: Int = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var remaining: Int { buffer.count - offset }

    private mutating func take(_ n: Int, _ field: String) throws(ProtocolError) -> Int {
        guard n >= 0, n <= remaining else { throw .truncated(field: field) }
        let start = offset
        offset += n
        return start
    }

    mutating func u8(_ field: String) throws(ProtocolError) -> UInt8 {
        buffer[try take(1, field)]
    }
    mutating func u16(_ field: String) throws(ProtocolError) -> UInt16 {
        let o = try take(2, field)
        return UInt16(buffer[o]) | UInt16(buffer[o + 1]) << 8
    }
    mutating func u32(_ field: String) throws(ProtocolError) -> UInt32 {
        let o = try take(4, field)
        return UInt32(buffer[o]) | UInt32(buffer[o + 1]) << 8 | UInt32(buffer[o + 2]) << 16 | UInt32(buffer[o + 3]) << 24
    }
    mutating func i32(_ field: String) throws(ProtocolError) -> Int32 {
        Int32(bitPattern: try u32(field))
    }
    mutating func u64(_ field: String) throws(ProtocolError) -> UInt64 {
        let lo = UInt64(try u32(field))
        let hi = UInt64(try u32(field))
        return lo | hi << 32
    }
    mutating func bool(_ field: String) throws(ProtocolError) -> Bool {
        switch try u8(field) {
        case 0: return false
        case 1: return true
        case let b: throw .invalidValue(field: field, reason: "bool must be 0 or 1, got \(b)")
        }
    }
    /// Reads a string; `index` names a list element in errors (built only on failure).
    mutating func string(_ field: String, index: Int? = nil) throws(ProtocolError) -> String {
        let slice = try stringBytes(field, index: index)
        guard let s = String(validating: slice, as: UTF8.self) else { throw .invalidString(field: index.map { "\(field)[\($0)]" } ?? field) }
        return s
    }
    /// A string's bytes in the buffer (no copy): length-checked, without NUL.
    private mutating func stringBytes(_ field: String, index: Int?) throws(ProtocolError) -> UnsafeRawBufferPointer {
        func name() -> String { index.map { "\(field)[\($0)]" } ?? field }
        guard remaining >= 4 else { throw .truncated(field: name()) }
        let length = try u32(field)
        guard UInt64(length) <= UInt64(remaining) else { throw .truncated(field: name()) }
        let n = Int(length)
        guard n <= ProtocolLimits.maxStringBytes else {
            throw .invalidValue(field: name(), reason: "string of \(n) bytes exceeds \(ProtocolLimits.maxStringBytes)")
        }
        let start = try take(n, field)
        let slice = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + n)])
        if slice.contains(0) { throw .invalidString(field: name()) }
        return slice
    }
    /// A list's element count, checked against what can follow and the cap.
    private mutating func listCount(_ field: String) throws(ProtocolError) -> Int {
        let count = try u32(field)
        guard UInt64(count) <= UInt64(remaining / 4) else { throw .truncated(field: field) }
        guard count <= ProtocolLimits.maxListCount else {
            throw .invalidValue(field: field, reason: "list of \(count) exceeds \(ProtocolLimits.maxListCount)")
        }
        return Int(count)
    }
    mutating func strings(_ field: String) throws(ProtocolError) -> [String] {
        let count = try listCount(field)
        var out: [String] = []
        out.reserveCapacity(count)
        for i in 0..<count { out.append(try string(field, index: i)) }
        return out
    }
    /// A string list (argv, env) read into `list`'s arena, never into `String`s: the same
    /// checks as `strings`, UTF-8 validated in place.
    mutating func strings(_ field: String, into list: SecretStrings) throws(ProtocolError) {
        let count = try listCount(field)
        for i in 0..<count {
            let slice = try stringBytes(field, index: i)
            guard SecretStrings.isValidUTF8(slice) else { throw .invalidString(field: "\(field)[\(i)]") }
            list.append(bytes: slice)
        }
    }
    /// Reads u32 length + that many raw bytes, at most `max`.
    mutating func blob(_ field: String, max: Int) throws(ProtocolError) -> [UInt8] {
        let length = try u32(field)
        guard UInt64(length) <= UInt64(remaining) else { throw .truncated(field: field) }
        guard Int(length) <= max else { throw .invalidValue(field: field, reason: "\(length) bytes exceed \(max)") }
        let start = try take(Int(length), field)
        return Array(buffer[start..<(start + Int(length))])
    }
    func finish() throws(ProtocolError) {
        guard remaining == 0 else { throw .trailingBytes(remaining) }
    }
}
