import CEnvyro
import EnvyroProtocol
import EnvyroSystem
import Glibc

/// `envyro-nshelper --fuzz N [--seed S] --policy P`: throws N random and mutated frames at the
/// helper's real decoder, permit table and dispatcher (creates are checked against the policy
/// but not carried out), and prints what happened. A crash or a hang fails the run; so does a
/// rejection without its audit line (the test compares the count with the audit log).
enum FuzzDriver {
    nonisolated(unsafe) static var peer: Int32 = -1
    nonisolated(unsafe) static var frames = 0
    nonisolated(unsafe) static var seed: UInt64 = 1

    /// Valid frames of every request verb, the seeds of the mutator.
    static let seeds: [[UInt8]] = [
        Codec.encode(.hello(Hello(client: "fuzz")), requestID: 1),
        Codec.encode(.create(CreateRequest(namespaces: .all, network: .none, hostname: "f", rootfs: "", rootfsWritable: false,
                                           argv: ["/bin/true"], env: ["PATH=/bin"], cwd: "/", useInit: false)), requestID: 2),
        Codec.encode(.create(CreateRequest(namespaces: .all, network: .host, hostname: "f", rootfs: "/", rootfsWritable: true,
                                           argv: ["sh", "-c", "x"], env: [], cwd: "/tmp", useInit: true,
                                           uidMappings: [IDMapping(containerID: 0, hostID: 0, count: 65536)],
                                           gidMappings: [IDMapping(containerID: 0, hostID: 0, count: 1)], seccomp: [0, 0, 0, 0, 6, 0, 0, 0])), requestID: 3),
        Codec.encode(.signal(SignalRequest(containerID: 1, signal: 9)), requestID: 4),
        Codec.encode(.collect(CollectRequest(dryRun: true)), requestID: 5),
    ]

    static func run(_ server: HelperServer) -> Int32 {
        server.dryRun = true
        var mutator = FrameMutator(seed: seed)
        var rng = seed | 1
        func next() -> UInt64 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng }
        var accepted = 0
        let start = Clock.monotonicNanoseconds()
        var drain = [UInt8](repeating: 0, count: 70_000)
        for i in 0..<frames {
            let bytes: [UInt8]
            switch next() % 10 {
            case 0:
                // Pure noise, sometimes behind a valid-looking header.
                var noise = (0..<Int(next() % 200)).map { _ in UInt8(truncatingIfNeeded: next()) }
                if next() % 2 == 0, noise.count >= 16 { noise.replaceSubrange(0..<4, with: [0x45, 0x4E, 0x56, 0x59]) }
                bytes = noise
            case 1:
                bytes = seeds[Int(next() % UInt64(seeds.count))]
            default:
                bytes = mutator.mutate(seeds[Int(next() % UInt64(seeds.count))])
            }
            // Descriptors ride along at random, as a hostile supervisor might send them.
            let withFDs = next() % 8 == 0
            let packet = SeqPacketSocket.Packet(bytes: bytes, fds: withFDs ? [dup(0), dup(1), dup(2)] : [],
                                                tooManyFDs: false, truncated: bytes.count > server.maxFrame, controlTruncated: false)
            if server.handle(packet) {
                accepted += 1
            } else {
                // A rejection closes a real connection; the next frame starts a new one.
                server.phase = .greeting
            }
            // Keep the reply queue empty.
            while recv(peer, &drain, drain.count, Int32(MSG_DONTWAIT)) > 0 {}
            if i % 10_000 == 9_999 {
                let line = "fuzz: \(i + 1) frames\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
            }
        }
        let ms = (Clock.monotonicNanoseconds() - start) / 1_000_000
        print("frames=\(frames) accepted=\(accepted) rejected=\(server.rejections) ms=\(ms)")
        return 0
    }
}
