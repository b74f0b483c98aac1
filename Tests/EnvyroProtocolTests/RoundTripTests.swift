import EnvyroProtocol
import Testing

@Suite("Round trips and layout")
struct RoundTripTests {
    @Test("every message survives encode then decode unchanged", arguments: sampleFrames)
    func roundTrip(_ f: Frame) throws {
        let bytes = Codec.encode(f)
        #expect(bytes.count >= ProtocolLimits.headerSize)
        let back = try Codec.decode(bytes, fileDescriptorCount: f.verb.fileDescriptorCount)
        #expect(back == f)
        #expect(Codec.encode(back) == bytes)
        let viaRaw = try bytes.withUnsafeBytes {
            try Codec.decode($0, fileDescriptorCount: f.verb.fileDescriptorCount)
        }
        #expect(viaRaw == f)
        let direction: Direction = f.verb.isRequest ? .request : .replyOrEvent
        let directed = try Codec.decode(
            bytes, fileDescriptorCount: f.verb.fileDescriptorCount,
            maxFrameBytes: ProtocolLimits.defaultMaxFrameBytes, expecting: direction)
        #expect(directed == f)
        #expect(try Codec.encodeValidated(f.message, requestID: f.requestID) == bytes)
    }

    @Test("the header and a payload have the documented byte layout")
    func goldenLayout() throws {
        let bytes = Codec.encode(.signal(SignalRequest(containerID: 0x0102_0304, signal: 9)), requestID: 0xAABB_CCDD)
        #expect(bytes == [
            0x45, 0x4E, 0x56, 0x59, 0x01, 0x00, 0x03, 0x00, 0xDD, 0xCC, 0xBB, 0xAA, 0x08, 0x00, 0x00, 0x00,
            0x04, 0x03, 0x02, 0x01, 0x09, 0x00, 0x00, 0x00,
        ])
        let header = try FrameHeader.decode(bytes)
        #expect(header == FrameHeader(verb: 0x0003, requestID: 0xAABB_CCDD, payloadLength: 8))
        #expect(try header.validate() == .signal)
        #expect(header.bytes == Array(bytes.prefix(16)))
        #expect(throws: ProtocolError.tooShort(15)) { try FrameHeader.decode(bytes.prefix(15)) }

        let hello = Codec.encode(.hello(Hello(protocolVersion: 1, client: "ab", modes: .oci)), requestID: 1)
        #expect(Array(hello.dropFirst(16)) == [0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x61, 0x62, 0x02])
        #expect(hello == frame(verb: 1, requestID: 1, payload: payload { $0.u16(1).str("ab").u8(2) }))
        #expect(Codec.encode(.create(sampleCreate), requestID: 1) == frame(verb: 2, payload: createPayload()))
    }

    @Test("verb properties classify direction, names and fd counts", arguments: Verb.allCases)
    func verbProperties(_ v: Verb) {
        let kinds = [v.isRequest, v.isReply, v.isEvent].filter { $0 }.count
        #expect(kinds == 1)
        #expect(v.fileDescriptorCount == [Verb.create: 3, .ociCreate: 5, .ociExec: 4][v, default: 0])
        #expect(!v.name.isEmpty)
        #expect(Direction.request.admits(v) == v.isRequest)
        #expect(Direction.replyOrEvent.admits(v) == !v.isRequest)
    }

    @Test("verb names are unique and match the audit vocabulary")
    func verbNames() {
        let names = Verb.allCases.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(Verb.hello.name == "hello" && Verb.create.name == "create" && Verb.exited.name == "exited")
        #expect(NamespaceSet.all.rawValue == 0x7F)
    }

    @Test("every error has a distinct audit reason token and a description")
    func errorReasons() {
        let errors: [ProtocolError] = [
            .tooShort(1), .oversized(2, max: 1), .badMagic(0), .unsupportedVersion(2), .unknownVerb(9),
            .lengthMismatch(declared: 1, actual: 2), .truncated(field: "x"), .trailingBytes(1),
            .invalidString(field: "x"), .invalidValue(field: "x", reason: "y"),
            .unexpectedFileDescriptors(verb: "hello", expected: 0, got: 1), .wrongDirection(verb: "hello"),
        ]
        #expect(Set(errors.map(\.reason)).count == errors.count)
        #expect(errors.allSatisfy { !$0.description.isEmpty && !$0.reason.contains(" ") })
        #expect(ProtocolError.tooShort(3).reason == "too_short")
        #expect(ProtocolError.badMagic(0).reason == "bad_magic")
    }

    @Test("encodeValidated refuses messages the peer would reject")
    func encodeValidatedRejects() {
        var bad = sampleCreate
        bad.cwd = "relative"
        #expect(throws: ProtocolError.self) { try Codec.encodeValidated(.create(bad), requestID: 1) }
        #expect(throws: ProtocolError.self) {
            try Codec.encodeValidated(.exited(Exited(containerID: 1, exitCode: 0, signal: 0, coreDumped: false)), requestID: 5)
        }
        #expect(throws: ProtocolError.self) {
            try Codec.encodeValidated(.hello(Hello(client: String(repeating: "x", count: 200))), requestID: 1, maxFrameBytes: 64)
        }
        #expect(throws: ProtocolError.invalidString(field: "client")) {
            try Codec.encodeValidated(.hello(Hello(client: "a\0b")), requestID: 1)
        }
    }

    @Test("a 1 MiB cap admits large but legal frames and larger caps are clamped")
    func largeFrames() throws {
        var c = sampleCreate
        c.env = SecretStrings((0..<2000).map { "VAR\($0)=" + String(repeating: "v", count: 100) })
        let bytes = Codec.encode(.create(c), requestID: 1)
        #expect(bytes.count > ProtocolLimits.defaultMaxFrameBytes)
        #expect(throws: ProtocolError.oversized(bytes.count, max: 65536)) {
            try Codec.decode(bytes, fileDescriptorCount: 3)
        }
        #expect(try Codec.decode(bytes, fileDescriptorCount: 3, maxFrameBytes: .max).message == .create(c))
        #expect(ProtocolLimits.effectiveMaxFrameBytes(.max) == ProtocolLimits.absoluteMaxFrameBytes)
    }
}
