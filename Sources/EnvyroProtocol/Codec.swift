import Glibc

/// Encodes and strictly decodes Envyro frames.
public enum Codec {
    /// Zeroes `bytes` in place (no copy): a frame or packet that held a run's argv or
    /// environment, once it is sent or decoded.
    public static func zero(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress, raw.count > 0 { explicit_bzero(base, raw.count) }
        }
    }

    /// Serialises a frame. Does not validate; see `encodeValidated` for a checked variant.
    public static func encode(_ frame: Frame) -> [UInt8] {
        encode(frame.message, requestID: frame.requestID)
    }

    /// Serialises `message` with the given request id (use 0 for events).
    public static func encode(_ message: Message, requestID: UInt32) -> [UInt8] {
        var w = WireWriter(capacity: 128)
        // Header with a placeholder length, patched once the payload is written.
        w.u32(ProtocolLimits.magic)
        w.u16(ProtocolLimits.version)
        w.u16(message.verb.rawValue)
        w.u32(requestID)
        w.u32(0)
        message.payload.encode(into: &w)
        let length = UInt32(truncatingIfNeeded: w.bytes.count - ProtocolLimits.headerSize)
        for i in 0..<4 { w.bytes[12 + i] = UInt8(truncatingIfNeeded: length >> UInt32(8 * i)) }
        return w.bytes
    }

    /// Validates `message` (the rules the decoder enforces), encodes it, and checks the size cap,
    /// so the peer will accept it.
    public static func encodeValidated(
        _ message: Message, requestID: UInt32, maxFrameBytes: Int = ProtocolLimits.defaultMaxFrameBytes
    ) throws(ProtocolError) -> [UInt8] {
        try message.validate()
        if message.verb.isEvent, requestID != 0 {
            throw .invalidValue(field: "requestID", reason: "events must use requestID 0")
        }
        let bytes = encode(message, requestID: requestID)
        let cap = ProtocolLimits.effectiveMaxFrameBytes(maxFrameBytes)
        guard bytes.count <= cap else { throw .oversized(bytes.count, max: cap) }
        return bytes
    }

    /// Validates header and cap first, then decodes strictly. `fileDescriptorCount` is how many
    /// fds arrived with the packet and must equal `verb.fileDescriptorCount`.
    ///
    /// Check order: size ≥ 16, size ≤ cap, magic, version, verb, declared size ≤ cap,
    /// declared length == actual, fd count, payload fields, no trailing bytes, semantic rules.
    /// Events must carry requestID 0.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, fileDescriptorCount: Int,
        maxFrameBytes: Int = ProtocolLimits.defaultMaxFrameBytes
    ) throws(ProtocolError) -> Frame {
        try decode(bytes, fileDescriptorCount: fileDescriptorCount, maxFrameBytes: maxFrameBytes, direction: nil)
    }

    /// Array convenience for `decode(_:fileDescriptorCount:maxFrameBytes:)`.
    public static func decode(
        _ bytes: [UInt8], fileDescriptorCount: Int, maxFrameBytes: Int = ProtocolLimits.defaultMaxFrameBytes
    ) throws(ProtocolError) -> Frame {
        try decodeArray(bytes, fileDescriptorCount: fileDescriptorCount, maxFrameBytes: maxFrameBytes, direction: nil)
    }

    /// Like decode but also requires the verb's direction: `.request` (helper side) or
    /// `.replyOrEvent` (supervisor side). The direction is checked before the fd count and payload.
    public static func decode(
        _ bytes: [UInt8], fileDescriptorCount: Int, maxFrameBytes: Int, expecting: Direction
    ) throws(ProtocolError) -> Frame {
        try decodeArray(bytes, fileDescriptorCount: fileDescriptorCount, maxFrameBytes: maxFrameBytes, direction: expecting)
    }

    /// Raw-buffer variant of `decode(_:fileDescriptorCount:maxFrameBytes:expecting:)`.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, fileDescriptorCount: Int, maxFrameBytes: Int, expecting: Direction
    ) throws(ProtocolError) -> Frame {
        try decode(bytes, fileDescriptorCount: fileDescriptorCount, maxFrameBytes: maxFrameBytes, direction: expecting)
    }

    private static func decodeArray(
        _ bytes: [UInt8], fileDescriptorCount: Int, maxFrameBytes: Int, direction: Direction?
    ) throws(ProtocolError) -> Frame {
        let result: Result<Frame, ProtocolError> = bytes.withUnsafeBytes { raw in
            do throws(ProtocolError) {
                return .success(
                    try decode(raw, fileDescriptorCount: fileDescriptorCount, maxFrameBytes: maxFrameBytes, direction: direction))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func decode(
        _ bytes: UnsafeRawBufferPointer, fileDescriptorCount: Int, maxFrameBytes: Int, direction: Direction?
    ) throws(ProtocolError) -> Frame {
        let cap = ProtocolLimits.effectiveMaxFrameBytes(maxFrameBytes)
        guard bytes.count >= ProtocolLimits.headerSize else { throw .tooShort(bytes.count) }
        guard bytes.count <= cap else { throw .oversized(bytes.count, max: cap) }

        let header = FrameHeader.parse { bytes[$0] }
        let verb = try header.validate()
        // UInt64 arithmetic: no overflow even where Int is 32 bits.
        let declaredTotal = UInt64(header.payloadLength) + UInt64(ProtocolLimits.headerSize)
        guard declaredTotal <= UInt64(cap) else {
            throw .oversized(Int(clamping: declaredTotal), max: cap)
        }
        let actual = bytes.count - ProtocolLimits.headerSize
        guard UInt64(header.payloadLength) == UInt64(actual) else {
            throw .lengthMismatch(declared: header.payloadLength, actual: actual)
        }
        if let direction, !direction.admits(verb) { throw .wrongDirection(verb: verb.name) }
        let fixed = verb.fileDescriptorCount
        guard fileDescriptorCount == fixed || (fileDescriptorCount > fixed && fileDescriptorCount <= fixed + verb.row.extraFileDescriptors) else {
            throw .unexpectedFileDescriptors(verb: verb.name, expected: verb.fileDescriptorCount, got: fileDescriptorCount)
        }
        if verb.isEvent, header.requestID != 0 {
            throw .invalidValue(field: "requestID", reason: "events must use requestID 0")
        }

        var reader = WireReader(UnsafeRawBufferPointer(rebasing: bytes[ProtocolLimits.headerSize...]))
        let message = try Message.decodePayload(verb, from: &reader)
        try reader.finish()
        try message.validate()
        return Frame(requestID: header.requestID, message: message)
    }
}
