import EnvyroJSON
import EnvyroSystem

/// Checks an audit log's hash chain and sequence numbers.
public enum AuditVerifier {
    /// The outcome of a verification.
    public enum Outcome: Sendable, Equatable {
        /// Every line links to the one before it.
        case ok(lines: Int)
        /// The first broken line (1-based, in `file`) and why.
        case broken(file: String, line: Int, reason: String)
    }

    /// Verifies `files` as one chain, in order (rotation carries the chain into the next file).
    public static func verify(files: [String]) -> Outcome {
        var prevHash = Digest.genesis
        var prevSeq: UInt64 = 0
        var total = 0
        var first = true
        for file in files {
            let bytes: [UInt8]
            do { bytes = try Files.read(file, limit: 1 << 30) } catch {
                return .broken(file: file, line: 0, reason: "\(error)")
            }
            if !bytes.isEmpty && bytes.last != 0x0A {
                let n = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count
                return .broken(file: file, line: n, reason: "truncated: the last line has no newline")
            }
            var lineNo = 0
            for raw in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
                lineNo += 1
                let line = Array(raw)
                guard case .object(let obj)? = try? JSONParser.parse(line) else {
                    return .broken(file: file, line: lineNo, reason: "edited: not a JSON object")
                }
                guard let seq = obj["seq"]?.intValue, let prev = obj["prev"]?.stringValue else {
                    return .broken(file: file, line: lineNo, reason: "edited: missing seq or prev")
                }
                if first {
                    first = false
                } else if UInt64(seq) != prevSeq + 1 {
                    let why = UInt64(seq) <= prevSeq ? "reordered" : "deleted"
                    return .broken(file: file, line: lineNo, reason: "\(why): seq \(seq) follows \(prevSeq)")
                }
                if prev != prevHash && !(total == 0 && prev == Digest.genesis) {
                    return .broken(file: file, line: lineNo, reason: "edited or deleted: prev does not match the hash of the line before")
                }
                prevHash = Digest.hex(Digest.sha256(line))
                prevSeq = UInt64(seq)
                total += 1
            }
        }
        return .ok(lines: total)
    }
}
