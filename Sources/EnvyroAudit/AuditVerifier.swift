import EnvyroJSON
import EnvyroSystem

/// Checks an audit log's hash chain and sequence numbers, and, for a keyed log, each line's MAC.
///
/// A hash chain shows a change to any line but the newest one (nothing after it vouches for
/// it); deletions and reorderings show through the sequence numbers, truncation through a
/// missing final newline. But the chain is keyless: whoever can append can compute the next
/// `prev` and add lines that verify. A keyed line's MAC can only be made with the key, so with
/// the key every line is vouched for (the newest too); once a keyed line has appeared, an
/// unkeyed line after it is a break. (Removing lines from the end still needs an outside record
/// of the last sequence number to be noticed.)
public enum AuditVerifier {
    /// The outcome of a verification.
    public enum Outcome: Sendable, Equatable {
        /// Every line links to the one before it.
        case ok(lines: Int)
        /// The first broken line (1-based, in `file`) and why.
        case broken(file: String, line: Int, reason: String)
    }

    /// A verification and what it could vouch for.
    public struct Report: Sendable, Equatable {
        /// Whether the chain (and the MACs that could be checked) hold.
        public var outcome: Outcome
        /// Lines with a MAC (checked when a key was given).
        public var keyedLines: Int
        /// Lines without one (SHA-256 chain only); they all come before the first keyed line.
        public var unkeyedLines: Int
        /// Whether the keyed lines' MACs were checked (a key was given).
        public var macsChecked: Bool
    }

    /// Verifies `files` as one chain, in order (rotation carries the chain into the next file).
    public static func verify(files: [String]) -> Outcome {
        verify(files: files, key: nil).outcome
    }

    /// The body a keyed line's MAC covers (the line without `,"mac":"…"`) and the MAC, or nil
    /// when the line does not end in a well-formed MAC field.
    static func splitMAC(_ line: [UInt8]) -> (body: [UInt8], mac: String)? {
        let field = Array(AuditLog.macField.utf8)
        let tail = field.count + 64 + 2
        guard line.count > tail, line[(line.count - 2)...].elementsEqual(Array("\"}".utf8)) else { return nil }
        let start = line.count - tail
        guard line[start..<(start + field.count)].elementsEqual(field) else { return nil }
        let mac = String(decoding: line[(start + field.count)..<(line.count - 2)], as: UTF8.self)
        return (Array(line[..<start]) + [UInt8(ascii: "}")], mac)
    }

    /// Verifies `files` as one chain, checking each keyed line's MAC under `key` when given.
    public static func verify(files: [String], key: AuditKey?) -> Report {
        var keyed = 0, unkeyed = 0
        func report(_ o: Outcome) -> Report { Report(outcome: o, keyedLines: keyed, unkeyedLines: unkeyed, macsChecked: key != nil) }
        var prevHash = Digest.genesis
        var prevSeq: UInt64 = 0
        var total = 0
        var first = true
        for file in files {
            let bytes: [UInt8]
            do { bytes = try Files.read(file, limit: 1 << 30) } catch {
                return report(.broken(file: file, line: 0, reason: "\(error)"))
            }
            if !bytes.isEmpty && bytes.last != 0x0A {
                let n = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count
                return report(.broken(file: file, line: n, reason: "truncated: the last line has no newline"))
            }
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast().map { Array($0) }
            var parsed: [(seq: UInt64, prev: String, mac: String?)?] = []
            for line in lines {
                if case .object(let obj)? = try? JSONParser.parse(line), let seq = obj["seq"]?.intValue, seq >= 0,
                   let prev = obj["prev"]?.stringValue {
                    parsed.append((UInt64(seq), prev, obj["mac"]?.stringValue))
                } else {
                    parsed.append(nil)
                }
            }
            for (i, line) in lines.enumerated() {
                let lineNo = i + 1
                guard let (seq, prev, mac) = parsed[i] else {
                    return report(.broken(file: file, line: lineNo, reason: "edited: not an audit record (bad JSON, or seq/prev missing)"))
                }
                if let mac {
                    guard let (body, written) = splitMAC(line), written == mac else {
                        return report(.broken(file: file, line: lineNo, reason: "edited: its mac is not the last field of the line"))
                    }
                    if let key, !Digest.constantTimeEqual(Array(key.mac(body).utf8), Array(written.utf8)) {
                        return report(.broken(file: file, line: lineNo, reason: "forged or edited: its mac does not match the key \(key.path) (written without the key)"))
                    }
                    keyed += 1
                } else if keyed > 0 {
                    return report(.broken(file: file, line: lineNo, reason: "forged: an unkeyed line after keyed ones (written without the key)"))
                } else {
                    unkeyed += 1
                }
                if first {
                    first = false
                } else if seq != prevSeq + 1 {
                    let missing = prevSeq + 1
                    if seq <= prevSeq || parsed[(i + 1)...].contains(where: { $0?.seq == missing }) {
                        return report(.broken(file: file, line: lineNo, reason: "reordered: seq \(seq) follows \(prevSeq)"))
                    }
                    return report(.broken(file: file, line: lineNo, reason: "deleted: seq \(prevSeq + 1)...\(seq - 1) missing before this line"))
                }
                if prev != prevHash && !(total == 0 && lineNo == 1) {
                    // Sequence numbers are consecutive, so nothing was deleted: the line before was
                    // changed after this one was written.
                    if lineNo > 1 {
                        return report(.broken(file: file, line: lineNo - 1, reason: "edited: its hash no longer matches the next line's prev"))
                    }
                    return report(.broken(file: file, line: lineNo, reason: "edited or deleted: prev does not match the last line of the previous file"))
                }
                prevHash = Digest.hex(Digest.sha256(line))
                prevSeq = seq
                total += 1
            }
        }
        return report(.ok(lines: total))
    }
}
