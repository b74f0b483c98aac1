import EnvyroJSON
import EnvyroSystem

/// Checks an audit log's hash chain and sequence numbers.
///
/// A hash chain shows a change to any line but the newest one (nothing after it vouches for
/// it); deletions and reorderings show through the sequence numbers, truncation through a
/// missing final newline.
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
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map { Array($0) }
            var parsed: [(seq: UInt64, prev: String)?] = []
            for line in lines {
                if case .object(let obj)? = try? JSONParser.parse(line), let seq = obj["seq"]?.intValue, seq >= 0,
                   let prev = obj["prev"]?.stringValue {
                    parsed.append((UInt64(seq), prev))
                } else {
                    parsed.append(nil)
                }
            }
            for (i, line) in lines.enumerated() {
                let lineNo = i + 1
                guard let (seq, prev) = parsed[i] else {
                    return .broken(file: file, line: lineNo, reason: "edited: not an audit record (bad JSON, or seq/prev missing)")
                }
                if first {
                    first = false
                } else if seq != prevSeq + 1 {
                    let missing = prevSeq + 1
                    if seq <= prevSeq || parsed[(i + 1)...].contains(where: { $0?.seq == missing }) {
                        return .broken(file: file, line: lineNo, reason: "reordered: seq \(seq) follows \(prevSeq)")
                    }
                    return .broken(file: file, line: lineNo, reason: "deleted: seq \(prevSeq + 1)...\(seq - 1) missing before this line")
                }
                if prev != prevHash && !(total == 0 && lineNo == 1) {
                    // Sequence numbers are consecutive, so nothing was deleted: the line before was
                    // changed after this one was written.
                    if lineNo > 1 {
                        return .broken(file: file, line: lineNo - 1, reason: "edited: its hash no longer matches the next line's prev")
                    }
                    return .broken(file: file, line: lineNo, reason: "edited or deleted: prev does not match the last line of the previous file")
                }
                prevHash = Digest.hex(Digest.sha256(line))
                prevSeq = seq
                total += 1
            }
        }
        return .ok(lines: total)
    }
}
