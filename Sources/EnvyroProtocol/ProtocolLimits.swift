/// Fixed constants of the Envyro wire protocol.
///
/// Frame layout (all integers little-endian), 16-byte header followed by the payload:
///
///     offset  size  field
///     0       4     magic          u32 = 0x59564E45 (bytes 45 4E 56 59, "ENVY")
///     4       2     version        u16 = 1
///     6       2     verb           u16 (see `Verb`)
///     8       4     requestID      u32 (0 for events)
///     12      4     payloadLength  u32 = frame size - 16
///     16      n     payload
public enum ProtocolLimits {
    /// Size of the fixed frame header in bytes.
    public static let headerSize = 16
    /// Default cap on a whole frame (header + payload) in bytes.
    public static let defaultMaxFrameBytes = 65536
    /// No caller-supplied cap may exceed this (1 MiB).
    public static let absoluteMaxFrameBytes = 1 << 20
    /// Frame magic, "ENVY" when serialised little-endian.
    public static let magic: UInt32 = 0x5956_4E45
    /// The only protocol version this codec speaks.
    public static let version: UInt16 = 1
    /// Longest string (in UTF-8 bytes) allowed in a payload.
    public static let maxStringBytes = 65535
    /// Largest element count allowed in a string list.
    public static let maxListCount = 65536
    /// Longest hostname accepted in a create request (Linux HOST_NAME_MAX).
    public static let maxHostnameBytes = 64
    /// Valid range for signal numbers carried by the protocol.
    public static let signalRange: ClosedRange<Int32> = 1...64

    /// Clamps a caller-supplied cap to `headerSize...absoluteMaxFrameBytes`.
    @inlinable
    public static func effectiveMaxFrameBytes(_ requested: Int) -> Int {
        min(max(requested, headerSize), absoluteMaxFrameBytes)
    }
}
