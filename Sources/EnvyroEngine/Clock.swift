import Glibc

/// Monotonic time in nanoseconds, read with `clock_gettime(CLOCK_MONOTONIC)`.
///
/// Used for every duration the engine reports (setup steps, context timings, benchmarks);
/// it never goes backwards and is unaffected by changes to the wall clock.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Formats `value / 10^decimals` with exactly `decimals` fraction digits, without Foundation.
package func formatFixed(_ value: UInt64, scaleDigits: Int, decimals: Int) -> String {
    var divisor: UInt64 = 1
    for _ in 0..<scaleDigits { divisor &*= 10 }
    var shownScale: UInt64 = 1
    for _ in 0..<decimals { shownScale &*= 10 }
    // Round to the shown precision.
    let unitsPerShown = divisor / max(shownScale, 1)
    let rounded: UInt64
    if unitsPerShown > 1 {
        rounded = (value + unitsPerShown / 2) / unitsPerShown
    } else {
        rounded = value &* (shownScale / max(divisor, 1))
    }
    let whole = rounded / shownScale
    guard decimals > 0 else { return String(whole) }
    var fraction = String(rounded % shownScale)
    while fraction.count < decimals { fraction = "0" + fraction }
    return "\(whole).\(fraction)"
}

/// Formats a non-negative or negative `Double` with `decimals` fraction digits, without Foundation.
package func formatDouble(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return String(describing: value) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let negative = value < 0
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9.0e18 else { return String(describing: value) }
    let text = formatFixed(UInt64(scaled), scaleDigits: decimals, decimals: decimals)
    return negative && scaled != 0 ? "-" + text : text
}

/// Pads `text` with spaces on the right (or left when `right` is false) to `width` characters.
package func pad(_ text: String, _ width: Int, alignRight: Bool = false) -> String {
    let missing = width - text.count
    guard missing > 0 else { return text }
    let spaces = String(repeating: " ", count: missing)
    return alignRight ? spaces + text : text + spaces
}

/// Describes an errno value as "ENOENT (No such file or directory)"-like text.
func describeErrno(_ code: Int32) -> String {
    if let message = strerror(code) {
        return "errno \(code): \(String(cString: message))"
    }
    return "errno \(code)"
}
