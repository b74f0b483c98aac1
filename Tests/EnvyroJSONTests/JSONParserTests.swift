import EnvyroJSON
import Testing

struct ValidCase: Sendable, CustomTestStringConvertible {
    let text: String
    let expected: JSONValue
    var testDescription: String { text }
}

struct InvalidCase: Sendable, CustomTestStringConvertible {
    let text: String
    let line: Int
    let column: Int
    let reason: String
    var testDescription: String { "\(text.debugDescription) -> \(reason)" }
    init(_ text: String, _ line: Int, _ column: Int, _ reason: String) {
        self.text = text
        self.line = line
        self.column = column
        self.reason = reason
    }
}

@Suite("Parsing JSON")
struct JSONParserTests {
    static let valid: [ValidCase] = [
        .init(text: "null", expected: .null),
        .init(text: " true ", expected: .bool(true)),
        .init(text: "false", expected: .bool(false)),
        .init(text: "0", expected: .int(0)),
        .init(text: "-0", expected: .int(0)),
        .init(text: "42", expected: .int(42)),
        .init(text: "-17", expected: .int(-17)),
        .init(text: "9223372036854775807", expected: .int(Int64.max)),
        .init(text: "-9223372036854775808", expected: .int(Int64.min)),
        .init(text: "9223372036854775808", expected: .double(9_223_372_036_854_775_808)),
        .init(text: "1.5", expected: .double(1.5)),
        .init(text: "-0.25", expected: .double(-0.25)),
        .init(text: "1e3", expected: .double(1000)),
        .init(text: "1E+2", expected: .double(100)),
        .init(text: "2.5e-3", expected: .double(0.0025)),
        .init(text: "1.0", expected: .double(1)),
        .init(text: "1e-400", expected: .double(0)),
        .init(text: "\"\"", expected: .string("")),
        .init(text: "\"hello\"", expected: .string("hello")),
        .init(text: #""a\"b\\c\/d\b\f\n\r\t""#, expected: .string("a\"b\\c/d\u{8}\u{C}\n\r\t")),
        .init(text: #""\u0041\u00e9\u4E2D""#, expected: .string("Aé中")),
        .init(text: #""\ud83d\ude00""#, expected: .string("😀")),
        .init(text: "\"héllo 中 😀\"", expected: .string("héllo 中 😀")),
        .init(text: #""\u0000""#, expected: .string("\u{0}")),
        .init(text: "[]", expected: .array([])),
        .init(text: "[1, \"two\", [3], {}]", expected: [1, "two", [3], .object(JSONObject())]),
        .init(text: "{}", expected: .object(JSONObject())),
        .init(text: "{\"a\": 1, \"b\": {\"c\": [true, null]}}", expected: ["a": 1, "b": ["c": [true, nil]]]),
        .init(text: "\r\n\t {\"k\" :\n\"v\"}\n", expected: ["k": "v"]),
    ]

    @Test("Valid documents parse to the expected value", arguments: valid)
    func parsesValid(_ c: ValidCase) throws {
        #expect(try JSONParser.parse(c.text) == c.expected)
    }

    static let invalid: [InvalidCase] = [
        .init("", 1, 1, "unexpected end of input, expected a value"),
        .init("   ", 1, 4, "unexpected end of input, expected a value"),
        .init("nul", 1, 1, "invalid literal, expected 'null'"),
        .init("True", 1, 1, "unexpected 'T', expected a value"),
        .init("1 2", 1, 3, "unexpected '2' after the JSON value"),
        .init("{} x", 1, 4, "unexpected 'x' after the JSON value"),
        .init("01", 1, 1, "leading zeros are not allowed"),
        .init("-01", 1, 1, "leading zeros are not allowed"),
        .init("-", 1, 2, "expected a digit, found end of input"),
        .init("+1", 1, 1, "unexpected '+', expected a value"),
        .init("1.", 1, 3, "expected a digit after '.', found end of input"),
        .init(".5", 1, 1, "unexpected '.', expected a value"),
        .init("1e", 1, 3, "expected a digit in the exponent, found end of input"),
        .init("1e400", 1, 1, "number 1e400 is out of range"),
        .init("[1,]", 1, 4, "unexpected ']', expected a value"),
        .init("[1 2]", 1, 4, "expected ',' or ']', found '2'"),
        .init("[1", 1, 3, "unexpected end of input, expected ',' or ']'"),
        .init("{\"a\":1,}", 1, 8, "expected a string key, found '}'"),
        .init("{a:1}", 1, 2, "expected a string key, found 'a'"),
        .init("{\"a\" 1}", 1, 6, "expected ':' after key 'a', found '1'"),
        .init("{\"a\":1 \"b\":2}", 1, 8, "expected ',' or '}', found '\"'"),
        .init("{\"a\":1,\n \"a\":2}", 2, 2, "duplicate key 'a'"),
        .init("{\"x\":{\"y\":1,\"y\":1}}", 1, 13, "duplicate key 'y'"),
        .init("\"abc", 1, 1, "unterminated string"),
        .init("\"a\tb\"", 1, 3, "control character U+0009 must be escaped in a string"),
        .init("\"a\nb\"", 1, 3, "control character U+000A must be escaped in a string"),
        .init(#""\x""#, 1, 2, "invalid escape '\\x'"),
        .init(#""\u12""#, 1, 2, "invalid \\u escape: expected 4 hex digits"),
        .init(#""\u12G4""#, 1, 2, "invalid \\u escape: expected 4 hex digits"),
        .init(#""\ud83d""#, 1, 2, "lone high surrogate \\uD83D"),
        .init(#""\ud83d\u0041""#, 1, 2, "lone high surrogate \\uD83D"),
        .init(#""\ude00""#, 1, 2, "lone low surrogate \\uDE00"),
        .init("[\n  1,\n  tru\n]", 3, 3, "invalid literal, expected 'true'"),
        .init("[\"é\", x]", 1, 7, "unexpected 'x', expected a value"),
    ]

    @Test("Invalid documents fail with the reason, line and column", arguments: invalid)
    func rejectsInvalid(_ c: InvalidCase) {
        #expect(throws: JSONError(line: c.line, column: c.column, reason: c.reason)) {
            try JSONParser.parse(c.text)
        }
    }

    static let badUTF8: [[UInt8]] = [
        [0x22, 0xFF, 0x22],  // never valid
        [0x22, 0xC0, 0xAF, 0x22],  // overlong '/'
        [0x22, 0xE0, 0x80, 0xAF, 0x22],  // overlong 3-byte
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8 encoded surrogate
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
        [0x22, 0xC3, 0x22],  // truncated
        [0x22, 0xE4, 0xB8],  // truncated at end
    ]

    @Test("Invalid UTF-8 inside strings is rejected", arguments: badUTF8)
    func rejectsBadUTF8(_ bytes: [UInt8]) {
        #expect(throws: JSONError.self) { try JSONParser.parse(bytes) }
    }

    @Test("Raw bytes and the String overload agree")
    func bytesOverload() throws {
        let text = "{\"k\": [1, 2.5, \"é\"]}"
        #expect(try JSONParser.parse(Array(text.utf8)) == JSONParser.parse(text))
    }

    @Test("Nesting up to the depth limit is accepted and one more level is not", arguments: [1, 2, 10, 64])
    func depthLimit(_ depth: Int) throws {
        let ok = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        _ = try JSONParser.parse(Array(ok.utf8), maxDepth: depth)
        let tooDeep = String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1)
        #expect(throws: JSONError(line: 1, column: depth + 1, reason: "nesting deeper than \(depth) levels")) {
            try JSONParser.parse(Array(tooDeep.utf8), maxDepth: depth)
        }
    }

    @Test("The default depth limit is 64 and counts objects too")
    func defaultDepth() throws {
        let ok = String(repeating: "{\"a\":", count: 63) + "[]" + String(repeating: "}", count: 63)
        _ = try JSONParser.parse(ok)
        let deep = String(repeating: "{\"a\":", count: 64) + "[]" + String(repeating: "}", count: 64)
        #expect(throws: JSONError.self) { try JSONParser.parse(deep) }
    }

    @Test("A very deep document fails cleanly instead of overflowing the stack")
    func veryDeep() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONError.self) { try JSONParser.parse(deep) }
    }

    @Test("Errors describe themselves as line, column and reason")
    func errorDescription() {
        let error = JSONError(line: 3, column: 5, reason: "duplicate key 'x'")
        #expect(error.description == "line 3, column 5: duplicate key 'x'")
    }
}
