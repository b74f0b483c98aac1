import EnvyroJSON
import Testing

@Suite("Serializing JSON")
struct JSONSerializationTests {
    static let compact: [(JSONValue, String)] = [
        (.null, "null"),
        (.bool(true), "true"),
        (.int(-5), "-5"),
        (.int(Int64.min), "-9223372036854775808"),
        (.double(1.5), "1.5"),
        (.double(1), "1.0"),
        (.double(.infinity), "null"),
        (.double(.nan), "null"),
        (.string("a\"b\\c"), #""a\"b\\c""#),
        (.array([]), "[]"),
        (.object(JSONObject()), "{}"),
        (["z": 1, "a": [true, nil], "m": ["x": "y"]], #"{"z":1,"a":[true,null],"m":{"x":"y"}}"#),
    ]

    @Test("Values serialize compactly and in insertion order", arguments: compact)
    func compactOutput(_ value: JSONValue, _ text: String) {
        #expect(value.serialized() == text)
        #expect(value.description == text)
    }

    @Test("Pretty output uses two-space indentation")
    func prettyOutput() {
        let value: JSONValue = ["name": "x", "list": [1, 2], "empty": [], "obj": ["k": .object(JSONObject())]]
        let expected = """
            {
              "name": "x",
              "list": [
                1,
                2
              ],
              "empty": [],
              "obj": {
                "k": {}
              }
            }
            """
        #expect(value.serialized(pretty: true) == expected)
    }

    static let documents = [
        #"{"a":1,"b":[1.5,-2,"x",null,true,false],"c":{"d":{}},"e":"\u0001\n"}"#,
        #"[]"#,
        #""héllo 中 😀""#,
        #"[1e-05,1e+16,0.1,-0.0,5e-324,1.7976931348623157e+308]"#,
    ]

    @Test("Serializing a parsed compact document gives the same text back", arguments: documents)
    func textRoundTrip(_ text: String) throws {
        #expect(try JSONParser.parse(text).serialized() == text)
    }

    static let doubles: [Double] = [
        0.1, 1.0 / 3.0, -2.5e-300, 6.02214076e23, 1e16, 123456789.125, .leastNonzeroMagnitude,
        .greatestFiniteMagnitude, -0.0, 9_007_199_254_740_992, 4.35,
    ]

    @Test("Doubles survive a round trip exactly", arguments: doubles)
    func doubleRoundTrip(_ d: Double) throws {
        let back = try JSONParser.parse(JSONValue.double(d).serialized())
        #expect(back == .double(d))
        #expect(back.doubleValue?.sign == d.sign)
    }

    static let values: [JSONValue] = [
        ["nested": [["a": 1], ["b": [2.25, "three", nil]]], "unicode": "ü\u{7}\u{1F}\u{2028}", "big": .int(Int64.max)],
        [.string(""), .string("\\\"/"), .object(["k": false])],
    ]

    @Test("Values survive parse(serialize(v)) in both styles", arguments: values, [false, true])
    func valueRoundTrip(_ value: JSONValue, _ pretty: Bool) throws {
        #expect(try JSONParser.parse(value.serialized(pretty: pretty)) == value)
    }

    static let quoting: [(String, String)] = [
        ("plain", #""plain""#),
        ("quote\"back\\slash", #""quote\"back\\slash""#),
        ("slash/kept", #""slash/kept""#),
        ("\u{8}\u{C}\n\r\t", #""\b\f\n\r\t""#),
        ("\u{0}\u{1}\u{1F}", #""\u0000\u0001\u001F""#),
        ("\u{7F}é中😀", "\"\u{7F}é中😀\""),
    ]

    @Test("JSONText quotes strings with the minimal escapes", arguments: quoting)
    func quoted(_ input: String, _ expected: String) throws {
        #expect(JSONText.quoted(input) == expected)
        var bytes: [UInt8] = [0x5B]
        JSONText.append(quoted: input, to: &bytes)
        #expect(bytes == [0x5B] + Array(expected.utf8))
        #expect(try JSONParser.parse(expected) == .string(input))
    }
}

@Suite("JSON values and objects")
struct JSONValueTests {
    @Test("Objects keep insertion order and set replaces in place")
    func objectOrder() {
        var object = JSONObject([("b", 1), ("a", 2)])
        object.set("c", 3)
        object.set("b", 10)
        #expect(object.keys == ["b", "a", "c"])
        #expect(object["b"] == .int(10))
        #expect(object["missing"] == nil)
        #expect(object.count == 3)
        #expect(object.map(\.key) == ["b", "a", "c"])
        #expect(object.entries.map(\.value) == [10, 2, 3])
    }

    @Test("Removing a key keeps the rest in order and lookups correct")
    func objectRemove() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        #expect(object.removeValue(forKey: "a") == .int(1))
        object["b"] = nil
        object["d"] = 4
        #expect(object.keys == ["c", "d"])
        #expect(object["c"] == .int(3))
        #expect(object["d"] == .int(4))
    }

    @Test("Object equality ignores key order but not values")
    func objectEquality() {
        let a: JSONObject = ["x": 1, "y": 2]
        let b: JSONObject = ["y": 2, "x": 1]
        let c: JSONObject = ["x": 1, "y": 3]
        #expect(a == b)
        #expect(a != c)
        #expect(a != ["x": 1])
    }

    @Test("Accessors return values only for the matching case")
    func accessors() {
        #expect(JSONValue.string("s").stringValue == "s")
        #expect(JSONValue.int(1).stringValue == nil)
        #expect(JSONValue.int(7).intValue == 7)
        #expect(JSONValue.double(7).intValue == nil)
        #expect(JSONValue.int(7).doubleValue == 7.0)
        #expect(JSONValue.double(0.5).doubleValue == 0.5)
        #expect(JSONValue.bool(false).boolValue == false)
        #expect(JSONValue.null.boolValue == nil)
        #expect(JSONValue.array([1]).arrayValue == [1])
        #expect(JSONValue.object(["k": "v"]).objectValue?["k"] == "v")
        #expect(JSONValue.object(["k": "v"])["k"] == "v")
        #expect(JSONValue.null.isNull)
        #expect(JSONValue.int(1) != JSONValue.double(1))
    }
}
