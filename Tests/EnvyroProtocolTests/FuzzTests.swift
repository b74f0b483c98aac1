import EnvyroProtocol
import Testing

@Suite("Mutation fuzzing")
struct FuzzTests {
    @Test("100,000 mutated frames only ever decode or throw, and accepted frames re-encode byte-for-byte")
    func mutationNeverTraps() {
        let seeds = sampleFrames.map { Codec.encode($0) }
        var mutator = FrameMutator(seed: 0x454E_5659_2025)
        let clock = ContinuousClock()
        var accepted = 0
        var reasons: [String: Int] = [:]
        let elapsed = clock.measure {
            for i in 0..<100_000 {
                var input = seeds[i % seeds.count]
                // Sometimes stack mutations on top of a previous mutant.
                if i % 7 == 0 { input = mutator.mutate(input) }
                let bytes = mutator.mutate(input)
                // Pass the fd count the (possibly mutated) verb wants most of the time, sometimes a wrong one.
                let verb = (try? FrameHeader.decode(bytes)).flatMap { Verb(rawValue: $0.verb) }
                let fds = i % 13 == 0 ? mutator.next(below: 5) : (verb?.fileDescriptorCount ?? 0)
                do throws(ProtocolError) {
                    let f = try Codec.decode(bytes, fileDescriptorCount: fds, maxFrameBytes: 1 << 20)
                    accepted += 1
                    #expect(Codec.encode(f) == bytes)
                    #expect(throws: Never.self) { try f.message.validate() }
                } catch {
                    reasons[error.reason, default: 0] += 1
                }
                if i % 5 == 0 {
                    let direction: Direction = i % 10 == 0 ? .request : .replyOrEvent
                    _ = try? Codec.decode(bytes, fileDescriptorCount: fds, maxFrameBytes: 4096, expecting: direction)
                }
            }
        }
        #expect(accepted > 0)
        #expect(reasons.count >= 8, "error variety: \(reasons)")
        #expect(elapsed < .seconds(60))
    }

    @Test("the mutator is deterministic for a given seed", arguments: [0, 1, 42, UInt64.max] as [UInt64])
    func deterministic(_ seed: UInt64) {
        var a = FrameMutator(seed: seed)
        var b = FrameMutator(seed: seed)
        let input = Codec.encode(sampleFrames[1])
        for _ in 0..<1000 {
            #expect(a.mutate(input) == b.mutate(input))
        }
    }

    @Test("random byte soup never traps the decoder or the header parser")
    func randomSoup() {
        var m = FrameMutator(seed: 7)
        for _ in 0..<20_000 {
            let n = m.next(below: 200)
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: m.next()) }
            if n >= 16, m.next(below: 2) == 0 {
                // Give it a valid header so the payload decoders get exercised.
                let verb = Verb.allCases[m.next(below: Verb.allCases.count)]
                bytes.replaceSubrange(0..<16, with: FrameHeader(verb: verb.rawValue, requestID: 0, payloadLength: UInt32(n - 16)).bytes)
            }
            _ = try? FrameHeader.decode(bytes)
            _ = try? Codec.decode(bytes, fileDescriptorCount: 0)
            _ = try? Codec.decode(bytes, fileDescriptorCount: 3)
        }
    }
}
