/// The fixed 16-byte frame header, as raw values (not yet validated).
///
/// Byte layout (little-endian):
/// `magic u32 @0 | version u16 @4 | verb u16 @6 | requestID u32 @8 | payloadLength u32 @12`
public struct FrameHeader: Sendable, Equatable {
    /// Raw magic; valid frames carry `ProtocolLimits.magic`.
    public var magic: UInt32
    /// Raw version; valid frames carry `ProtocolLimits.version`.
    public var version: UInt16
    /// Raw verb value (see `Verb`).
    public var verb: UInt16
    /// Request correlation id (0 for events).
    public var requestID: UInt32
    /// Declared payload length in bytes.
    public var payloadLength: UInt32

    /// Creates a header from raw values.
    public init(
        magic: UInt32 = ProtocolLimits.magic, version: UInt16 = ProtocolLimits.version,
        verb: UInt16, requestID: UInt32, payloadLength: UInt32
    ) {
        self.magic = magic
        self.version = version
        self.verb = verb
        self.requestID = requestID
        self.payloadLength = payloadLength
    }

    /// Parses the first 16 bytes of `bytes` without validating any value.
    /// Throws `.tooShort` if fewer than 16 bytes are present.
    public static func decode(_ bytes: some Collection<UInt8>) throws(ProtocolError) -> FrameHeader {
        var raw = [UInt8](repeating: 0, count: ProtocolLimits.headerSize)
        var n = 0
        for b in bytes.prefix(ProtocolLimits.headerSize) {
            raw[n] = b
            n += 1
        }
        guard n == ProtocolLimits.headerSize else { throw .tooShort(bytes.count) }
        return parse(raw)
    }

    /// Parses exactly 16 bytes from an indexable byte source; caller guarantees the length.
    static func parse(_ at: (Int) -> UInt8) -> FrameHeader {
        func u16(_ o: Int) -> UInt16 { UInt16(at(o)) | UInt16(at(o + 1)) << 8 }
        func u32(_ o: Int) -> UInt32 {
            UInt32(at(o)) | UInt32(at(o + 1)) << 8 | UInt32(at(o + 2)) << 16 | UInt32(at(o + 3)) << 24
        }
        return FrameHeader(magic: u32(0), version: u16(4), verb: u16(6), requestID: u32(8), payloadLength: u32(12))
    }

    static func parse(_ raw: [UInt8]) -> FrameHeader {
        parse { raw[$0] }
    }

    /// Checks magic, version and verb, returning the verb.
    public func validate() throws(ProtocolError) -> Verb {
        guard magic == ProtocolLimits.magic else { throw .badMagic(magic) }
        guard version == ProtocolLimits.version else { throw .unsupportedVersion(version) }
        guard let v = Verb(rawValue: verb) else { throw .unknownVerb(verb) }
        return v
    }

    /// The 16 serialised header bytes.
    public var bytes: [UInt8] {
        var w = WireWriter(capacity: ProtocolLimits.headerSize)
        w.u32(magic)
        w.u16(version)
        w.u16(verb)
        w.u32(requestID)
        w.u32(payloadLength)
        return w.bytes
    }
}
