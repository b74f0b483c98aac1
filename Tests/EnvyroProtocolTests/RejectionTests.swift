import EnvyroProtocol
import Testing

struct Rejection: Sendable, CustomTestStringConvertible {
    let label: String
    let bytes: [UInt8]
    let fds: Int
    let maxFrameBytes: Int
    let expecting: Direction?
    let error: ProtocolError
    var testDescription: String { label }

    init(label: String, bytes: [UInt8], fds: Int = 0, maxFrameBytes: Int = ProtocolLimits.defaultMaxFrameBytes,
         expecting: Direction? = nil, error: ProtocolError) {
        self.label = label
        self.bytes = bytes
        self.fds = fds
        self.maxFrameBytes = maxFrameBytes
        self.expecting = expecting
        self.error = error
    }

    init(label: String, fds: Int, maxFrameBytes: Int = ProtocolLimits.defaultMaxFrameBytes, bytes: [UInt8], error: ProtocolError) {
        self.init(label: label, bytes: bytes, fds: fds, maxFrameBytes: maxFrameBytes, error: error)
    }
}

let hello1 = payload { $0.u16(1).str("cli").u8(0) }

let rejections: [Rejection] = [
    Rejection(label: "empty packet", bytes: [], error: .tooShort(0)),
    Rejection(label: "15-byte packet", bytes: Array(frame(verb: 1, payload: hello1).prefix(15)), error: .tooShort(15)),
    Rejection(label: "packet larger than the cap, before the header is read",
              bytes: [UInt8](repeating: 0xEE, count: 70_000), error: .oversized(70_000, max: 65536)),
    Rejection(label: "custom small cap", bytes: frame(verb: 1, payload: hello1), maxFrameBytes: 20,
              error: .oversized(16 + hello1.count, max: 20)),
    Rejection(label: "header declaring a 2 GiB payload", bytes: frame(verb: 1, declared: 0x8000_0000),
              error: .oversized(16 + 0x8000_0000, max: 65536)),
    Rejection(label: "header declaring 4 GiB under a huge requested cap (clamped to 1 MiB)",
              bytes: frame(verb: 1, declared: 0xFFFF_FFFF), maxFrameBytes: .max,
              error: .oversized(16 + 0xFFFF_FFFF, max: 1 << 20)),
    Rejection(label: "bad magic", bytes: frame(magic: 0x4E45_5659, verb: 1, payload: hello1), error: .badMagic(0x4E45_5659)),
    Rejection(label: "version 2", bytes: frame(version: 2, verb: 1, payload: hello1), error: .unsupportedVersion(2)),
    Rejection(label: "version 0", bytes: frame(version: 0, verb: 1, payload: hello1), error: .unsupportedVersion(0)),
    Rejection(label: "unknown verb", bytes: frame(verb: 0x0044), error: .unknownVerb(0x44)),
    Rejection(label: "unknown reply verb", bytes: frame(verb: 0x8044), error: .unknownVerb(0x8044)),
    Rejection(label: "declared length larger than received", bytes: frame(verb: 1, declared: 20, payload: hello1),
              error: .lengthMismatch(declared: 20, actual: hello1.count)),
    Rejection(label: "declared length smaller than received", bytes: frame(verb: 1, declared: 2, payload: hello1),
              error: .lengthMismatch(declared: 2, actual: hello1.count)),
    Rejection(label: "payload shorter than a fixed field", bytes: frame(verb: 0x8003, payload: [1, 2, 3]),
              error: .truncated(field: "containerID")),
    Rejection(label: "string length past the end",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).u32(10).raw([0x61, 0x62, 0x63]) }),
              error: .truncated(field: "client")),
    Rejection(label: "string length 0xFFFFFFFF",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).u32(0xFFFF_FFFF).raw([0x61]) }),
              error: .truncated(field: "client")),
    Rejection(label: "string length prefix itself cut short",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).raw([5, 0]) }), error: .truncated(field: "client")),
    Rejection(label: "string longer than 65535 bytes",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).rawStr([UInt8](repeating: 0x61, count: 65536)) }),
              maxFrameBytes: 1 << 20, error: .invalidValue(field: "client", reason: "")),
    Rejection(label: "list count larger than remaining/4", fds: 3,
              bytes: frame(verb: 2, payload: Array(createPayload().prefix(4 + 1 + 7 + 4 + 1)) + payload { $0.u32(1000).str("x") }),
              error: .truncated(field: "argv")),
    Rejection(label: "list element missing", fds: 3,
              bytes: frame(verb: 2, payload: Array(createPayload().prefix(4 + 1 + 7 + 4 + 1)) + payload { $0.u32(2).str("abcdefgh") }),
              error: .truncated(field: "argv[1]")),
    Rejection(label: "list count above 65536", fds: 3, maxFrameBytes: 1 << 20,
              bytes: frame(verb: 2, payload: Array(createPayload().prefix(4 + 1 + 7 + 4 + 1))
                  + payload { $0.u32(65537).raw([UInt8](repeating: 0, count: 4 * 65537)) }),
              error: .invalidValue(field: "argv", reason: "")),
    Rejection(label: "one trailing byte", bytes: frame(verb: 0x8003, payload: payload { $0.u32(7).u8(0) }),
              error: .trailingBytes(1)),
    Rejection(label: "trailing bytes after a create", fds: 3, bytes: frame(verb: 2, payload: createPayload() + [0, 0, 0]),
              error: .trailingBytes(3)),
    Rejection(label: "invalid UTF-8 (lone continuation)",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).rawStr([0x61, 0x80]) }), error: .invalidString(field: "client")),
    Rejection(label: "invalid UTF-8 (overlong encoding)",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).rawStr([0xC0, 0xAF]) }), error: .invalidString(field: "client")),
    Rejection(label: "invalid UTF-8 (surrogate)",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).rawStr([0xED, 0xA0, 0x80]) }), error: .invalidString(field: "client")),
    Rejection(label: "invalid UTF-8 inside argv", fds: 3,
              bytes: frame(verb: 2, payload: Array(createPayload().prefix(4 + 1 + 7 + 4 + 1)) + payload { $0.u32(1).rawStr([0xFF]) }),
              error: .invalidString(field: "argv[0]")),
    Rejection(label: "NUL inside a string",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).rawStr([0x61, 0x00, 0x62]) }), error: .invalidString(field: "client")),
    Rejection(label: "NUL inside cwd", fds: 3, bytes: frame(verb: 2, payload: createPayload(cwd: "/a\0b")),
              error: .invalidString(field: "cwd")),
    Rejection(label: "a hello mode bit the protocol does not define",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).str("c").u8(0x08) }),
              error: .invalidValue(field: "modes", reason: "")),
    Rejection(label: "a hello without its modes byte",
              bytes: frame(verb: 1, payload: payload { $0.u16(1).str("c") }), error: .truncated(field: "modes")),
    Rejection(label: "a failure step the protocol does not define",
              bytes: frame(verb: 0x80FF, payload: payload { $0.i32(1).u16(0x1FF).str("m") }),
              error: .invalidValue(field: "step", reason: "")),
    Rejection(label: "a failure whose step is cut short",
              bytes: frame(verb: 0x80FF, payload: payload { $0.i32(1).u8(5) }), error: .truncated(field: "step")),
    Rejection(label: "bool byte 2",
              bytes: frame(verb: 0x8001, payload: payload { $0.i32(1).str("p").u8(2) }),
              error: .invalidValue(field: "privileged", reason: "")),
    Rejection(label: "an unknown network namespace origin in created",
              bytes: frame(verb: 0x8002, payload: payload { $0.u32(7).i32(42).u8(1).u32(0).u8(3).u32(0).u32(0) }),
              error: .invalidValue(field: "networkNamespace", reason: "")),
    Rejection(label: "more helper steps in created than are ever sent",
              bytes: frame(verb: 0x8002, payload: payload { $0.u32(7).i32(42).u8(1).u32(0).u8(0).u32(0).u32(17) }),
              error: .invalidValue(field: "stepCount", reason: "")),
    Rejection(label: "bool byte 0xFF in create", fds: 3, bytes: frame(verb: 2, payload: createPayload(useInit: 0xFF)),
              error: .invalidValue(field: "useInit", reason: "")),
    Rejection(label: "fds sent with hello", bytes: frame(verb: 1, payload: hello1), fds: 1,
              error: .unexpectedFileDescriptors(verb: "hello", expected: 0, got: 1)),
    Rejection(label: "fds sent with an event", bytes: frame(verb: 0x9001, requestID: 0, payload: payload { $0.u32(1).i32(0).i32(0).u8(0) } + [UInt8](repeating: 0xFF, count: 64)),
              fds: 2, error: .unexpectedFileDescriptors(verb: "exited", expected: 0, got: 2)),
    Rejection(label: "create without its three fds", bytes: frame(verb: 2, payload: createPayload()), fds: 0,
              error: .unexpectedFileDescriptors(verb: "create", expected: 3, got: 0)),
    Rejection(label: "create with only two fds", bytes: frame(verb: 2, payload: createPayload()), fds: 2,
              error: .unexpectedFileDescriptors(verb: "create", expected: 3, got: 2)),
    Rejection(label: "a reply where a request was expected",
              bytes: frame(verb: 0x8003, payload: payload { $0.u32(7) }), expecting: .request,
              error: .wrongDirection(verb: "signalled")),
    Rejection(label: "an event where a request was expected",
              bytes: frame(verb: 0x9001, requestID: 0, payload: payload { $0.u32(1).i32(0).i32(0).u8(0) } + [UInt8](repeating: 0xFF, count: 64)), expecting: .request,
              error: .wrongDirection(verb: "exited")),
    Rejection(label: "a request where a reply was expected",
              bytes: frame(verb: 1, payload: hello1), expecting: .replyOrEvent, error: .wrongDirection(verb: "hello")),
    Rejection(label: "event with a non-zero requestID",
              bytes: frame(verb: 0x9001, requestID: 5, payload: payload { $0.u32(1).i32(0).i32(0).u8(0) } + [UInt8](repeating: 0xFF, count: 64)),
              error: .invalidValue(field: "requestID", reason: "")),
    Rejection(label: "empty argv", fds: 3, bytes: frame(verb: 2, payload: createPayload(argv: [])),
              error: .invalidValue(field: "argv", reason: "")),
    Rejection(label: "empty argv[0]", fds: 3, bytes: frame(verb: 2, payload: createPayload(argv: ["", "x"])),
              error: .invalidValue(field: "argv[0]", reason: "")),
    Rejection(label: "env entry without '='", fds: 3, bytes: frame(verb: 2, payload: createPayload(env: ["A=1", "BROKEN"])),
              error: .invalidValue(field: "env[1]", reason: "")),
    Rejection(label: "unknown limit bits", fds: 3,
              bytes: frame(verb: 2, payload: createPayload(tail: [0, 0x10, 0, 0] + Array(defaultCreateTail.dropFirst(4)))),
              error: .invalidValue(field: "limits.present", reason: "")),
    Rejection(label: "a pids limit of zero", fds: 3,
              bytes: frame(verb: 2, payload: createPayload(tail: [4, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + Array(defaultCreateTail.dropFirst(4)))),
              error: .invalidValue(field: "limits.pidsMax", reason: "")),
    Rejection(label: "an id mapping that overflows", fds: 3,
              bytes: frame(verb: 2, payload: createPayload(tail: [0, 0, 0, 0] + [1, 0, 0, 0] + [0, 0, 0, 0] + [0xFF, 0xFF, 0xFF, 0xFF] + [2, 0, 0, 0] + Array(defaultCreateTail.dropFirst(8)))),
              error: .invalidValue(field: "uidMappings[0]", reason: "")),
    Rejection(label: "more id mappings than the kernel takes", fds: 3,
              bytes: frame(verb: 2, payload: createPayload(tail: [0, 0, 0, 0] + [0x55, 1, 0, 0] + Array(defaultCreateTail.dropFirst(8)))),
              error: .invalidValue(field: "uidMappings", reason: "")),
    Rejection(label: "a seccomp program that is not whole instructions", fds: 3,
              bytes: frame(verb: 2, payload: createPayload(tail: [UInt8](repeating: 0, count: 12) + [3, 0, 0, 0, 1, 2, 3] + [UInt8](repeating: 0xFF, count: 8))),
              error: .invalidValue(field: "seccomp", reason: "")),
    Rejection(label: "a truncated capability mask", fds: 3,
              bytes: frame(verb: 2, payload: createPayload(tail: Array(defaultCreateTail.dropLast(3)))),
              error: .truncated(field: "capabilities")),
    Rejection(label: "relative cwd", fds: 3, bytes: frame(verb: 2, payload: createPayload(cwd: "tmp")),
              error: .invalidValue(field: "cwd", reason: "")),
    Rejection(label: "empty cwd", fds: 3, bytes: frame(verb: 2, payload: createPayload(cwd: "")),
              error: .invalidValue(field: "cwd", reason: "")),
    Rejection(label: "hostname longer than 64 bytes", fds: 3,
              bytes: frame(verb: 2, payload: createPayload(hostname: String(repeating: "h", count: 65))),
              error: .invalidValue(field: "hostname", reason: "")),
    Rejection(label: "unknown namespace bit", fds: 3, bytes: frame(verb: 2, payload: createPayload(namespaces: 0x80)),
              error: .invalidValue(field: "namespaces", reason: "")),
    Rejection(label: "unknown network mode", fds: 3, bytes: frame(verb: 2, payload: createPayload(network: 2)),
              error: .invalidValue(field: "network", reason: "")),
    Rejection(label: "signal 0", bytes: frame(verb: 3, payload: payload { $0.u32(1).i32(0) }),
              error: .invalidValue(field: "signal", reason: "")),
    Rejection(label: "signal 65", bytes: frame(verb: 3, payload: payload { $0.u32(1).i32(65) }),
              error: .invalidValue(field: "signal", reason: "")),
    Rejection(label: "signal -9", bytes: frame(verb: 3, payload: payload { $0.u32(1).i32(-9) }),
              error: .invalidValue(field: "signal", reason: "")),
    Rejection(label: "exit event with signal 65",
              bytes: frame(verb: 0x9001, requestID: 0, payload: payload { $0.u32(1).i32(0).i32(65).u8(0) } + [UInt8](repeating: 0xFF, count: 64)),
              error: .invalidValue(field: "signal", reason: "")),
]

@Suite("Rejections")
struct RejectionTests {
    @Test("malformed or disallowed frames are rejected with the right error", arguments: rejections)
    func rejects(_ r: Rejection) {
        do throws(ProtocolError) {
            let f: Frame
            if let direction = r.expecting {
                f = try Codec.decode(r.bytes, fileDescriptorCount: r.fds, maxFrameBytes: r.maxFrameBytes, expecting: direction)
            } else {
                f = try Codec.decode(r.bytes, fileDescriptorCount: r.fds, maxFrameBytes: r.maxFrameBytes)
            }
            Issue.record("accepted: \(f)")
        } catch {
            #expect(sameError(error, r.error), "got \(error), expected \(r.error)")
            #expect(error.reason == r.error.reason)
        }
    }

    @Test("boundary values just inside the rules are accepted", arguments: [
        (3, frame(verb: 2, payload: createPayload(hostname: String(repeating: "h", count: 64), env: ["=", "A="], cwd: "/"))),
        (0, frame(verb: 3, payload: payload { $0.u32(1).i32(64) })),
        (0, frame(verb: 3, payload: payload { $0.u32(1).i32(1) })),
        (0, frame(verb: 1, payload: payload { $0.u16(1).str("").u8(0) })),
        (0, frame(verb: 1, payload: payload { $0.u16(1).rawStr([UInt8](repeating: 0x61, count: 65535)).u8(0) })),
        (0, frame(verb: 1, payload: payload { $0.u16(1).str("d").u8(3) })),
        (3, frame(verb: 2, payload: createPayload(namespaces: 0))),
    ] as [(Int, [UInt8])])
    func accepts(_ fds: Int, _ bytes: [UInt8]) throws {
        let f = try Codec.decode(bytes, fileDescriptorCount: fds, maxFrameBytes: 1 << 20)
        #expect(Codec.encode(f) == bytes)
    }

    @Test("the exact-cap frame is accepted and one byte more is oversized")
    func exactCap() throws {
        let client = String(repeating: "c", count: 100 - 16 - 2 - 4 - 1)
        let bytes = Codec.encode(.hello(Hello(client: client)), requestID: 1)
        #expect(bytes.count == 100)
        _ = try Codec.decode(bytes, fileDescriptorCount: 0, maxFrameBytes: 100)
        #expect(throws: ProtocolError.oversized(100, max: 99)) {
            try Codec.decode(bytes, fileDescriptorCount: 0, maxFrameBytes: 99)
        }
    }
}
