// Framing of the I/O worker protocol (IOMessages.swift): encode, and a strict decode in the
// same order as the helper protocol's `Codec`: size cap first, then header, verb, length,
// direction, descriptor count, payload fields, no trailing bytes, semantic rules.

/// A decoded I/O protocol frame.
public struct IOFrame: Sendable, Equatable {
    /// The request id (a reply carries its request's).
    public var requestID: UInt32
    /// The message.
    public var message: IOMessage

    /// Memberwise initialiser.
    public init(requestID: UInt32, message: IOMessage) {
        self.requestID = requestID
        self.message = message
    }
}

/// Encodes and strictly decodes I/O worker frames.
public enum IOCodec {
    /// Frame cap of the I/O protocol (data travels in slabs, so frames stay small).
    public static let maxFrameBytes = 16 * 1024

    /// Serialises `message` with `requestID`. Does not validate (see `encodeValidated`).
    public static func encode(_ message: IOMessage, requestID: UInt32) -> [UInt8] {
        var w = WireWriter(capacity: 96)
        w.u32(ProtocolLimits.magic)
        w.u16(ProtocolLimits.version)
        w.u16(message.verb.rawValue)
        w.u32(requestID)
        w.u32(0)
        message.encodePayload(into: &w)
        let length = UInt32(truncatingIfNeeded: w.bytes.count - ProtocolLimits.headerSize)
        for i in 0..<4 { w.bytes[12 + i] = UInt8(truncatingIfNeeded: length >> UInt32(8 * i)) }
        return w.bytes
    }

    /// Validates `message` as the decoder will, encodes it and checks the cap.
    public static func encodeValidated(_ message: IOMessage, requestID: UInt32) throws(ProtocolError) -> [UInt8] {
        try message.validate()
        let bytes = encode(message, requestID: requestID)
        guard bytes.count <= maxFrameBytes else { throw .oversized(bytes.count, max: maxFrameBytes) }
        return bytes
    }

    /// Decodes one frame strictly. Check order: size ≥ 16, size ≤ cap, magic, version, verb (an
    /// I/O verb), declared length == actual, direction, descriptor count allowed for the verb,
    /// payload fields, no trailing bytes, descriptor count matches the payload, semantic rules.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, fileDescriptorCount: Int, expecting direction: Direction
    ) throws(ProtocolError) -> IOFrame {
        guard bytes.count >= ProtocolLimits.headerSize else { throw .tooShort(bytes.count) }
        guard bytes.count <= maxFrameBytes else { throw .oversized(bytes.count, max: maxFrameBytes) }
        let header = FrameHeader.parse { bytes[$0] }
        guard header.magic == ProtocolLimits.magic else { throw .badMagic(header.magic) }
        guard header.version == ProtocolLimits.version else { throw .unsupportedVersion(header.version) }
        guard let verb = IOVerb(rawValue: header.verb) else { throw .unknownVerb(header.verb) }
        let actual = bytes.count - ProtocolLimits.headerSize
        guard UInt64(header.payloadLength) == UInt64(actual) else {
            throw .lengthMismatch(declared: header.payloadLength, actual: actual)
        }
        guard verb.flows(direction) else { throw .wrongDirection(verb: verb.name) }
        let allowed = verb.allowedFileDescriptorCounts
        guard allowed.contains(fileDescriptorCount) else {
            throw .unexpectedFileDescriptors(verb: verb.name, expected: allowed[0], got: fileDescriptorCount)
        }
        var reader = WireReader(UnsafeRawBufferPointer(rebasing: bytes[ProtocolLimits.headerSize...]))
        let message = try IOMessage.decodePayload(verb, from: &reader)
        try reader.finish()
        guard message.fileDescriptorCount == fileDescriptorCount else {
            throw .unexpectedFileDescriptors(verb: verb.name, expected: message.fileDescriptorCount, got: fileDescriptorCount)
        }
        try message.validate()
        return IOFrame(requestID: header.requestID, message: message)
    }

    /// Array convenience for `decode(_:fileDescriptorCount:expecting:)`.
    public static func decode(
        _ bytes: [UInt8], fileDescriptorCount: Int, expecting direction: Direction
    ) throws(ProtocolError) -> IOFrame {
        let result: Result<IOFrame, ProtocolError> = bytes.withUnsafeBytes { raw in
            do throws(ProtocolError) {
                return .success(try decode(raw, fileDescriptorCount: fileDescriptorCount, expecting: direction))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
