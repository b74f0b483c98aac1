/// A strict RFC 8259 JSON parser.
///
/// It rejects trailing garbage, duplicate keys within one object, leading zeros,
/// unescaped control characters, invalid escapes, invalid UTF-8, lone surrogates,
/// non-finite numbers and nesting deeper than `maxDepth`. An integer literal that fits
/// `Int64` becomes `.int` (so `-0` is `.int(0)`); other numbers become `.double`, with
/// underflow rounding to zero. Nesting is parsed recursively, so keep `maxDepth` modest.
public enum JSONParser {
    /// The default limit on nested arrays and objects.
    public static let defaultMaxDepth = 64

    /// Parses one JSON document from UTF-8 bytes.
    /// - Parameters:
    ///   - bytes: the whole document; whitespace may surround the value, nothing else.
    ///   - maxDepth: how many arrays/objects may be nested inside each other.
    /// - Throws: `JSONError` with the line and column of the first problem.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        let result: Result<JSONValue, JSONError> = bytes.withUnsafeBytes { raw in
            do throws(JSONError) { return .success(try parse(raw, maxDepth: maxDepth)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Parses one JSON document from UTF-8 bytes in memory the caller owns (no copy is made).
    ///
    /// `capturing`: members of the top-level object whose value is an array of strings are not
    /// put in the tree; their strings are written, unescaped, straight into the member's sink
    /// (a run's argv and environment go into zeroed memory and never become `String`s). A
    /// captured member with any other value (null, a number, an array with a non-string) is
    /// parsed into the tree as usual, for the reader to refuse or default.
    public static func parse(_ bytes: UnsafeRawBufferPointer, capturing: [String: any JSONStringSink] = [:],
                             maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth)
        parser.capturing = capturing
        return try parser.document()
    }

    /// Parses one JSON document from a string.
    /// - Throws: `JSONError` with the line and column of the first problem.
    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

private enum Byte {
    static let quote: UInt8 = 0x22
    static let backslash: UInt8 = 0x5C
    static let slash: UInt8 = 0x2F
    static let comma: UInt8 = 0x2C
    static let colon: UInt8 = 0x3A
    static let openBrace: UInt8 = 0x7B
    static let closeBrace: UInt8 = 0x7D
    static let openBracket: UInt8 = 0x5B
    static let closeBracket: UInt8 = 0x5D
    static let minus: UInt8 = 0x2D
    static let plus: UInt8 = 0x2B
    static let dot: UInt8 = 0x2E
    static let zero: UInt8 = 0x30
    static let nine: UInt8 = 0x39
    static let lowerE: UInt8 = 0x65
    static let upperE: UInt8 = 0x45
    static let newline: UInt8 = 0x0A
}

/// Where ``JSONParser/parse(_:capturing:maxDepth:)`` writes the strings of a captured member.
public protocol JSONStringSink: AnyObject {
    /// Appends one string: `fill` writes its unescaped UTF-8 (at most `room` bytes) at the
    /// pointer and returns how many it wrote.
    func appendString(room: Int, _ fill: (UnsafeMutablePointer<UInt8>) throws(JSONError) -> Int) throws(JSONError)
    /// How many strings it holds.
    var stringCount: Int { get }
    /// Drops (and clears) the strings after the first `count`: a captured array turned out
    /// not to be all strings.
    func truncate(to count: Int)
}

/// Where unescaped string bytes go: a growing array for the tree, or a sink's memory.
protocol ByteOutput {
    mutating func append(_ byte: UInt8)
}

extension Array: ByteOutput where Element == UInt8 {}

/// Bytes written into memory whose size is known to suffice (an escaped string is never
/// shorter than its unescaped UTF-8).
private struct RawOutput: ByteOutput {
    let start: UnsafeMutablePointer<UInt8>
    var count = 0
    mutating func append(_ byte: UInt8) {
        start[count] = byte
        count += 1
    }
}

private struct Parser {
    let b: UnsafeRawBufferPointer
    let n: Int
    let maxDepth: Int
    var i = 0
    var depth = 0
    var capturing: [String: any JSONStringSink] = [:]

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        b = bytes
        n = bytes.count
        self.maxDepth = maxDepth
    }

    // MARK: errors

    func fail(_ reason: String, at pos: Int) -> JSONError {
        var line = 1
        var column = 1
        var k = 0
        let end = min(pos, n)
        while k < end {
            let c = b[k]
            if c == Byte.newline {
                line += 1
                column = 1
            } else if c & 0xC0 != 0x80 {
                column += 1
            }
            k += 1
        }
        return JSONError(line: line, column: column, reason: reason)
    }

    func found(_ pos: Int) -> String {
        guard pos < n else { return "end of input" }
        let c = b[pos]
        if c >= 0x21 && c < 0x7F { return "'\(Character(Unicode.Scalar(c)))'" }
        return "byte 0x\(hex2(c))"
    }

    // MARK: structure

    @inline(__always)
    mutating func skipWhitespace() {
        while i < n {
            switch b[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func document() throws(JSONError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if i < n { throw fail("unexpected \(found(i)) after the JSON value", at: i) }
        return value
    }

    mutating func parseValue() throws(JSONError) -> JSONValue {
        guard i < n else { throw fail("unexpected end of input, expected a value", at: i) }
        switch b[i] {
        case Byte.openBrace: return try parseObject()
        case Byte.openBracket: return try parseArray()
        case Byte.quote: return .string(try parseString())
        case 0x74: return try literal("true", .bool(true))
        case 0x66: return try literal("false", .bool(false))
        case 0x6E: return try literal("null", .null)
        case Byte.minus, Byte.zero...Byte.nine: return try parseNumber()
        default: throw fail("unexpected \(found(i)), expected a value", at: i)
        }
    }

    mutating func literal(_ word: StaticString, _ value: JSONValue) throws(JSONError) -> JSONValue {
        let count = word.utf8CodeUnitCount
        let matches = word.withUTF8Buffer { w -> Bool in
            guard i + count <= n else { return false }
            for k in 0..<count where b[i + k] != w[k] { return false }
            return true
        }
        guard matches else { throw fail("invalid literal, expected '\(word)'", at: i) }
        i += count
        return value
    }

    mutating func enter() throws(JSONError) {
        depth += 1
        if depth > maxDepth { throw fail("nesting deeper than \(maxDepth) levels", at: i) }
    }

    mutating func parseObject() throws(JSONError) -> JSONValue {
        try enter()
        i += 1
        var object = JSONObject()
        var captured: Set<String> = []
        skipWhitespace()
        if i < n && b[i] == Byte.closeBrace {
            i += 1
            depth -= 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard i < n, b[i] == Byte.quote else {
                throw fail("expected a string key, found \(found(i))", at: i)
            }
            let keyPos = i
            let key = try parseString()
            if object.contains(key: key) || (!captured.isEmpty && captured.contains(key)) { throw fail("duplicate key '\(key)'", at: keyPos) }
            skipWhitespace()
            guard i < n, b[i] == Byte.colon else {
                throw fail("expected ':' after key '\(key)', found \(found(i))", at: i)
            }
            i += 1
            skipWhitespace()
            if depth == 1, let sink = capturing[key], try capture(into: sink) {
                // Its strings are in the sink; the tree doesn't have the member.
                captured.insert(key)
            } else {
                _ = object.insertNew(key, try parseValue())
            }
            if try closes(Byte.closeBrace, "}") {
                depth -= 1
                return .object(object)
            }
        }
    }

    /// After a member or element: consumes the ',' that continues the object or array (false)
    /// or the `close` byte that ends it (true); anything else is an error naming both.
    mutating func closes(_ close: UInt8, _ shown: String) throws(JSONError) -> Bool {
        skipWhitespace()
        guard i < n else { throw fail("unexpected end of input, expected ',' or '\(shown)'", at: i) }
        if b[i] == Byte.comma || b[i] == close {
            i += 1
            return b[i - 1] == close
        }
        throw fail("expected ',' or '\(shown)', found \(found(i))", at: i)
    }

    mutating func parseArray() throws(JSONError) -> JSONValue {
        try enter()
        i += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if i < n && b[i] == Byte.closeBracket {
            i += 1
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            if try closes(Byte.closeBracket, "]") {
                depth -= 1
                return .array(elements)
            }
        }
    }

    // MARK: numbers

    @inline(__always)
    func isDigit(_ pos: Int) -> Bool {
        pos < n && b[pos] >= Byte.zero && b[pos] <= Byte.nine
    }

    mutating func parseNumber() throws(JSONError) -> JSONValue {
        let start = i
        var isInteger = true
        if b[i] == Byte.minus { i += 1 }
        guard isDigit(i) else { throw fail("expected a digit, found \(found(i))", at: i) }
        if b[i] == Byte.zero {
            i += 1
            if isDigit(i) { throw fail("leading zeros are not allowed", at: start) }
        } else {
            while isDigit(i) { i += 1 }
        }
        if i < n && b[i] == Byte.dot {
            isInteger = false
            i += 1
            guard isDigit(i) else { throw fail("expected a digit after '.', found \(found(i))", at: i) }
            while isDigit(i) { i += 1 }
        }
        if i < n && (b[i] == Byte.lowerE || b[i] == Byte.upperE) {
            isInteger = false
            i += 1
            if i < n && (b[i] == Byte.plus || b[i] == Byte.minus) { i += 1 }
            guard isDigit(i) else { throw fail("expected a digit in the exponent, found \(found(i))", at: i) }
            while isDigit(i) { i += 1 }
        }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        if isInteger, let v = Int64(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else {
            throw fail("number \(text) is out of range", at: start)
        }
        return .double(d)
    }

    // MARK: strings

    /// Parses a string starting at the opening quote.
    mutating func parseString() throws(JSONError) -> String {
        let open = i
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < n {
            let c = b[i]
            if c == Byte.quote {
                let s = String(decoding: b[start..<i], as: UTF8.self)
                i += 1
                return s
            }
            if c == Byte.backslash { break }
            if c < 0x20 { throw controlCharacter(c) }
            if c < 0x80 { i += 1 } else { try scanUTF8() }
        }
        guard i < n else { throw fail("unterminated string", at: open) }
        var out = Array(b[start..<i])
        try unescape(into: &out, open: open)
        return String(decoding: out, as: UTF8.self)
    }

    /// Unescapes the rest of a string (from `i`, inside it) into `out`, through its closing quote.
    mutating func unescape<Out: ByteOutput>(into out: inout Out, open: Int) throws(JSONError) {
        while i < n {
            let c = b[i]
            if c == Byte.quote {
                i += 1
                return
            } else if c == Byte.backslash {
                try parseEscape(into: &out)
            } else if c < 0x20 {
                throw controlCharacter(c)
            } else if c < 0x80 {
                out.append(c)
                i += 1
            } else {
                let s = i
                try scanUTF8()
                for k in s..<i { out.append(b[k]) }
            }
        }
        throw fail("unterminated string", at: open)
    }

    /// A captured member's value: when it is an array of strings, writes them into `sink` and
    /// returns true; otherwise leaves `i` and the sink as they were and returns false.
    mutating func capture(into sink: any JSONStringSink) throws(JSONError) -> Bool {
        guard i < n, b[i] == Byte.openBracket else { return false }
        let start = i, kept = sink.stringCount
        i += 1
        skipWhitespace()
        if i < n && b[i] == Byte.closeBracket {
            i += 1
            return true
        }
        while true {
            skipWhitespace()
            guard i < n, b[i] == Byte.quote else {
                // Not all strings: the tree gets the member as it is.
                sink.truncate(to: kept)
                i = start
                return false
            }
            let open = i
            i += 1
            // The escaped length bounds the unescaped one: room for it, then unescape in place.
            var end = i
            while end < n && b[end] != Byte.quote { end += b[end] == Byte.backslash ? 2 : 1 }
            try sink.appendString(room: max(min(end, n) - i, 0)) { (start) throws(JSONError) -> Int in
                var out = RawOutput(start: start)
                try unescape(into: &out, open: open)
                return out.count
            }
            if try closes(Byte.closeBracket, "]") { return true }
        }
    }

    func controlCharacter(_ c: UInt8) -> JSONError {
        fail("control character U+00\(hex2(c)) must be escaped in a string", at: i)
    }

    /// Validates one multi-byte UTF-8 sequence at `i` and advances past it.
    mutating func scanUTF8() throws(JSONError) {
        let c0 = b[i]
        let length: Int
        let minimum: UInt32
        var scalar: UInt32
        switch c0 {
        case 0xC2...0xDF: length = 2; minimum = 0x80; scalar = UInt32(c0 & 0x1F)
        case 0xE0...0xEF: length = 3; minimum = 0x800; scalar = UInt32(c0 & 0x0F)
        case 0xF0...0xF4: length = 4; minimum = 0x10000; scalar = UInt32(c0 & 0x07)
        default: throw fail("invalid UTF-8 byte 0x\(hex2(c0))", at: i)
        }
        guard i + length <= n else { throw fail("truncated UTF-8 sequence", at: i) }
        for k in 1..<length {
            let cb = b[i + k]
            guard cb & 0xC0 == 0x80 else { throw fail("invalid UTF-8 sequence", at: i) }
            scalar = scalar << 6 | UInt32(cb & 0x3F)
        }
        if scalar < minimum || (0xD800...0xDFFF).contains(scalar) || scalar > 0x10FFFF {
            throw fail("invalid UTF-8 sequence", at: i)
        }
        i += length
    }

    mutating func parseEscape<Out: ByteOutput>(into out: inout Out) throws(JSONError) {
        let escapeStart = i
        i += 1
        guard i < n else { throw fail("unterminated string", at: escapeStart) }
        let c = b[i]
        i += 1
        switch c {
        case Byte.quote, Byte.backslash, Byte.slash: out.append(c)
        case 0x62: out.append(0x08)  // b
        case 0x66: out.append(0x0C)  // f
        case 0x6E: out.append(0x0A)  // n
        case 0x72: out.append(0x0D)  // r
        case 0x74: out.append(0x09)  // t
        case 0x75:  // u
            let unit = try hex4(escapeStart: escapeStart)
            var scalar = UInt32(unit)
            if (0xDC00...0xDFFF).contains(unit) {
                throw fail("lone low surrogate \\u\(hex4String(unit))", at: escapeStart)
            }
            if (0xD800...0xDBFF).contains(unit) {
                let lowStart = i
                guard i + 1 < n, b[i] == Byte.backslash, b[i + 1] == 0x75 else {
                    throw fail("lone high surrogate \\u\(hex4String(unit))", at: escapeStart)
                }
                i += 2
                let low = try hex4(escapeStart: lowStart)
                guard (0xDC00...0xDFFF).contains(low) else {
                    throw fail("lone high surrogate \\u\(hex4String(unit))", at: escapeStart)
                }
                scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            }
            appendUTF8(scalar, to: &out)
        default:
            if c >= 0x21 && c < 0x7F {
                throw fail("invalid escape '\\\(Character(Unicode.Scalar(c)))'", at: escapeStart)
            }
            throw fail("invalid escape: '\\' followed by \(found(i - 1))", at: escapeStart)
        }
    }

    mutating func hex4(escapeStart: Int) throws(JSONError) -> UInt16 {
        guard i + 4 <= n else { throw fail("invalid \\u escape: expected 4 hex digits", at: escapeStart) }
        var v: UInt16 = 0
        for k in 0..<4 {
            let c = b[i + k]
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x41...0x46: d = c - 0x41 + 10
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw fail("invalid \\u escape: expected 4 hex digits", at: escapeStart)
            }
            v = v << 4 | UInt16(d)
        }
        i += 4
        return v
    }
}

func appendUTF8<Out: ByteOutput>(_ scalar: UInt32, to out: inout Out) {
    switch scalar {
    case 0..<0x80:
        out.append(UInt8(scalar))
    case 0x80..<0x800:
        out.append(UInt8(0xC0 | (scalar >> 6)))
        out.append(UInt8(0x80 | (scalar & 0x3F)))
    case 0x800..<0x10000:
        out.append(UInt8(0xE0 | (scalar >> 12)))
        out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (scalar & 0x3F)))
    default:
        out.append(UInt8(0xF0 | (scalar >> 18)))
        out.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (scalar & 0x3F)))
    }
}

private let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

func hex2(_ c: UInt8) -> String {
    String(decoding: [hexDigits[Int(c >> 4)], hexDigits[Int(c & 0x0F)]], as: UTF8.self)
}

func hex4String(_ v: UInt16) -> String {
    hex2(UInt8(v >> 8)) + hex2(UInt8(v & 0xFF))
}
