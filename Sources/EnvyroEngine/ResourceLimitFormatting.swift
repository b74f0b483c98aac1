// ResourceLimitBatch's parsing and formatting of sizes and CPU quotas, and the small text helpers they use.

extension ResourceLimitBatch {
    /// Parses a size the way podman does: a whole number with an optional suffix `b`, `k`, `m`
    /// or `g` (also `t`), case-insensitive, in binary units (`1k` = 1024), optionally followed by
    /// `b` or `ib` (`256MB`, `256MiB`). `-1` means unlimited and is returned as -1.
    public static func parseSize(_ text: String) throws(LimitError) -> Int64 {
        let trimmed = text.trimmingSpaces()
        if trimmed == "-1" { return -1 }
        var digits = Substring(trimmed)
        var numberEnd = digits.startIndex
        while numberEnd < digits.endIndex, digits[numberEnd].isASCIIDigit {
            numberEnd = digits.index(after: numberEnd)
        }
        guard numberEnd > digits.startIndex, let number = Int64(digits[..<numberEnd]) else {
            throw .invalidSize(text)
        }
        digits = digits[numberEnd...]
        while digits.first == " " { digits = digits.dropFirst() }
        var suffix = digits.lowercased()
        let shift: Int64
        switch suffix.first {
        case nil, "b": shift = 0
        case "k": shift = 10
        case "m": shift = 20
        case "g": shift = 30
        case "t": shift = 40
        default: throw .invalidSize(text)
        }
        if !suffix.isEmpty { suffix.removeFirst() }
        if shift > 0 { guard ["", "b", "ib", "i"].contains(suffix) else { throw .invalidSize(text) } }
        else { guard suffix.isEmpty else { throw .invalidSize(text) } }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { throw .invalidSize(text) }
        return bytes
    }

    /// Parses a CPU count like podman's `--cpus`: a positive decimal number such as `0.5` or `2`,
    /// returned as a quota over the default 100 ms period (`0.5` → 50000µs / 100000µs).
    /// Digits beyond the period's resolution (5 decimals) are dropped.
    public static func parseCPUs(_ text: String) throws(LimitError) -> CPUQuota {
        let trimmed = text.trimmingSpaces()
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }),
              !(parts[0].isEmpty && (parts.count == 1 || parts[1].isEmpty)) else {
            throw .invalidCPUs(text)
        }
        let period = defaultCPUPeriodMicros
        guard parts[0].count <= 9, let whole = parts[0].isEmpty ? 0 : Int64(parts[0]) else {
            throw .invalidCPUs(text)
        }
        var fraction: Int64 = 0
        if parts.count == 2 {
            var scale: Int64 = period / 10
            for digit in parts[1].prefix(5) {
                fraction += Int64(digit.asciiValue.map { $0 - 48 } ?? 0) * scale
                scale /= 10
            }
        }
        let quota = whole * period + fraction
        guard quota > 0 else { throw .invalidCPUs(text) }
        return CPUQuota(quotaMicros: quota, periodMicros: period)
    }

    /// Formats bytes compactly for messages and round trips: `1K`, `256M`, `2G`, or plain bytes.
    public static func formatSize(_ bytes: Int64) -> String {
        for (shift, unit) in [(60, "E"), (50, "P"), (40, "T"), (30, "G"), (20, "M"), (10, "K")] {
            let size = Int64(1) << shift
            if bytes != 0, bytes % size == 0 { return "\(bytes / size)\(unit)" }
        }
        return "\(bytes)"
    }

    /// Formats bytes with a spelled-out binary unit: `1 MiB`, `64 KiB`, `100 bytes`.
    public static func formatSizeLong(_ bytes: Int64) -> String {
        for (shift, unit) in [(60, "EiB"), (50, "PiB"), (40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
            let size = Int64(1) << shift
            if bytes != 0, bytes % size == 0 { return "\(bytes / size) \(unit)" }
        }
        return "\(bytes) bytes"
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
