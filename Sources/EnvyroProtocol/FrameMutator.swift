/// Deterministic, seeded frame mutator for fuzzing the codec.
///
/// Each `mutate` applies 1–4 random operations: bit flips, byte sets (interesting values),
/// truncation, extension, length-field corruption (header `payloadLength` or an in-payload u32)
/// and splicing (with the previous input, or a block copied within the frame).
/// Uses SplitMix64, so the same seed yields the same sequence on every platform.
public struct FrameMutator: Sendable {
    private var state: UInt64
    private var previous: [UInt8] = []

    /// Creates a mutator whose output is fully determined by `seed`.
    public init(seed: UInt64) { state = seed }

    /// Next 64 pseudo-random bits (SplitMix64).
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform-ish integer in `0..<bound` (bound must be > 0; returns 0 otherwise).
    public mutating func next(below bound: Int) -> Int {
        bound > 0 ? Int(next() % UInt64(bound)) : 0
    }

    private static let interestingBytes: [UInt8] = [0x00, 0x01, 0x02, 0x3D, 0x2F, 0x7F, 0x80, 0xC0, 0xFE, 0xFF]
    private static let interestingU32: [UInt32] = [
        0, 1, 2, 3, 4, 15, 16, 17, 0x7F, 0x80, 0xFF, 0xFFFF, 0x1_0000, 0x1_0001,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF,
    ]

    /// Returns a mutated copy of `bytes`. The input is remembered as a future splice partner.
    public mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        let rounds = 1 + next(below: 4)
        for _ in 0..<rounds { mutateOnce(&out) }
        previous = bytes
        return out
    }

    private mutating func mutateOnce(_ out: inout [UInt8]) {
        switch next(below: 8) {
        case 0:  // bit flip
            guard !out.isEmpty else { return }
            let i = next(below: out.count)
            out[i] ^= UInt8(1) << UInt8(next(below: 8))
        case 1:  // byte set
            guard !out.isEmpty else { return }
            let i = next(below: out.count)
            out[i] = next(below: 2) == 0
                ? Self.interestingBytes[next(below: Self.interestingBytes.count)]
                : UInt8(truncatingIfNeeded: next())
        case 2:  // truncation
            guard !out.isEmpty else { return }
            out.removeLast(1 + next(below: out.count))
        case 3:  // extension
            let n = 1 + next(below: 32)
            for _ in 0..<n { out.append(UInt8(truncatingIfNeeded: next())) }
        case 4:  // header payloadLength corruption
            guard out.count >= ProtocolLimits.headerSize else { return }
            let v = corruptLength(current: out.count - ProtocolLimits.headerSize)
            writeU32(&out, at: 12, v)
        case 5:  // in-payload length/count corruption at a random offset
            guard out.count >= 4 else { return }
            let at = next(below: out.count - 3)
            writeU32(&out, at: at, corruptLength(current: out.count - at))
        case 6:  // splice with previous input
            guard !previous.isEmpty, !out.isEmpty else { return }
            let cut = next(below: out.count + 1)
            let from = next(below: previous.count + 1)
            out = Array(out[..<cut]) + Array(previous[from...])
        default:  // copy a block within the frame
            guard out.count >= 2 else { return }
            let src = next(below: out.count)
            let dst = next(below: out.count)
            let n = 1 + next(below: min(16, out.count - max(src, dst)))
            let block = Array(out[src..<(src + n)])
            out.replaceSubrange(dst..<(dst + n), with: block)
        }
    }

    private mutating func corruptLength(current: Int) -> UInt32 {
        switch next(below: 3) {
        case 0: return Self.interestingU32[next(below: Self.interestingU32.count)]
        case 1: return UInt32(truncatingIfNeeded: current &+ next(below: 9) &- 4)
        default: return UInt32(truncatingIfNeeded: next())
        }
    }

    private func writeU32(_ out: inout [UInt8], at: Int, _ v: UInt32) {
        for i in 0..<4 { out[at + i] = UInt8(truncatingIfNeeded: v >> UInt32(8 * i)) }
    }
}
