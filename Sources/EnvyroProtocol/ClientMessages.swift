// The supervisor's client protocol on the wire (README: "Client protocol (version 1)"): its
// verbs and messages, beside the helper's and the I/O worker's. Connecting, the socket checks
// and `envyro run` through a supervisor are the client's, in EnvyroClient.
import EnvyroJSON

/// The supervisor's client protocol: what `envyro run` (or any other client) says to a running
/// `envyro-supervisor` over its unix socket. Documented in the README.
///
/// The socket is SOCK_SEQPACKET: one message per packet. A message is the helper protocol's
/// 16-byte header (magic "ENVY", version 1, verb, request id, payload length; little-endian)
/// followed by a UTF-8 JSON object, so a client in any language needs only a JSON library.
/// `run` carries the container's stdin, stdout and stderr by SCM_RIGHTS.
public enum ClientVerb: UInt16, Sendable {
    /// Start a container: a `RunSpec` object; 3 fds. Answered by `started`, later `finished`
    /// (or `error`). While it runs, the same connection may send `signal`.
    case run = 0x0201
    /// `{"run": ID, "signal": N}`: signal a run (from any connection of the same user).
    case signal = 0x0202
    /// `{}`: the runs in flight.
    case ps = 0x0203
    /// `{}`: the engine's statistics.
    case stats = 0x0204
    /// `{"run": ID, "pid": PID}`.
    case started = 0x8201
    /// The run's result: the same object `envyro run --json` prints, plus `"run"`.
    case finished = 0x8202
    /// `{"exitCode": N, "message": "..."}`: the request failed; exitCode is what envyro exits with.
    case error = 0x8203
    /// `{"runs": [{"run", "pid", "argv", "seconds"}]}`.
    case psReply = 0x8204
    /// `{"text": "...", "fields": {name: number}}`.
    case statsReply = 0x8205
    /// `{}`.
    case ok = 0x8206
}

/// One client message.
public struct ClientMessage: Sendable {
    /// The verb.
    public var verb: ClientVerb
    /// The request id (replies carry the request's).
    public var requestID: UInt32
    /// The JSON body.
    public var body: JSONObject

    /// The largest message either side sends.
    public static let maxBytes = 256 * 1024

    /// A message.
    public init(verb: ClientVerb, requestID: UInt32 = 0, body: JSONObject = JSONObject()) {
        self.verb = verb
        self.requestID = requestID
        self.body = body
    }

    /// Header + JSON.
    public func encode() -> [UInt8] {
        var json: [UInt8] = []
        JSONValue.object(body).append(to: &json)
        var out = FrameHeader(verb: verb.rawValue, requestID: requestID, payloadLength: UInt32(json.count)).bytes
        out.append(contentsOf: json)
        return out
    }

    /// Parses a packet; nil for anything malformed (the caller closes the connection).
    /// `capturing`: top-level members whose strings go straight into sinks instead of the body
    /// (a run's argv and env, ``RunSpec/capturing(argv:env:)``). The JSON is read where it is.
    public static func decode(_ bytes: [UInt8], capturing: [String: any JSONStringSink] = [:]) -> ClientMessage? {
        guard bytes.count >= ProtocolLimits.headerSize, bytes.count <= ClientMessage.maxBytes,
              let header = try? FrameHeader.decode(bytes), header.magic == ProtocolLimits.magic,
              header.version == ProtocolLimits.version, Int(header.payloadLength) == bytes.count - ProtocolLimits.headerSize,
              let verb = ClientVerb(rawValue: header.verb),
              case .object(let body)? = bytes.withUnsafeBytes({ raw in
                  try? JSONParser.parse(UnsafeRawBufferPointer(rebasing: raw[ProtocolLimits.headerSize...]), capturing: capturing)
              })
        else { return nil }
        return ClientMessage(verb: verb, requestID: header.requestID, body: body)
    }
}
