import EnvyroProtocol
import ArgumentParser
import CEnvyroCLI
import EnvyroClient
import EnvyroSystem

// `envyro ps`, `stats` and `kill`: requests to a running supervisor.

/// Connects to the supervisor for `ps`, `stats` and `kill`, or says how to start one.
func connectDaemon(_ path: String?) throws -> SeqPacketSocket {
    envyro_cli_unblock_signals()
    let p = path ?? ClientProtocol.defaultSocketPath()
    switch ClientProtocol.connectSafely(p) {
    case .connected(let s):
        return s
    case .refused(let why):
        complain(why)
        throw ExitCode(125)
    case .absent:
        complain("no envyro-supervisor is listening at \(p); start one with: envyro-supervisor --policy strict")
        throw ExitCode(125)
    }
}

func ask(_ socket: SeqPacketSocket, _ m: ClientMessage) throws -> ClientMessage {
    do {
        let r = try ClientProtocol.exchange(socket, m)
        if r.verb == .error {
            complain(r.body["message"]?.stringValue ?? "refused")
            throw ExitCode(Int32(r.body["exitCode"]?.intValue ?? 125))
        }
        return r
    } catch let e as ClientError {
        complain(e.description)
        throw ExitCode(125)
    }
}

struct PS: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ps", abstract: "List the runs a supervisor has in flight.")
    @Option(name: .long, help: "The supervisor's socket.") var supervisor: String?

    func run() throws {
        let s = try connectDaemon(supervisor)
        defer { s.close() }
        let r = try ask(s, ClientMessage(verb: .ps, requestID: 1))
        print("RUN\tPID\tSECONDS\tCOMMAND")
        for e in r.body["runs"]?.arrayValue ?? [] {
            let argv = e["argv"]?.arrayValue?.compactMap(\.stringValue).joined(separator: " ") ?? ""
            let secs = e["seconds"]?.doubleValue.map { String(Int($0)) } ?? "?"
            print("\(e["run"]?.intValue ?? 0)\t\(e["pid"]?.intValue.map(String.init) ?? "-")\t\(secs)\t\(argv)")
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a supervisor's pool, cache, registry and helper statistics.")
    @Option(name: .long, help: "The supervisor's socket.") var supervisor: String?
    @Flag(name: .long, help: "One JSON object.") var json = false

    func run() throws {
        let s = try connectDaemon(supervisor)
        defer { s.close() }
        let r = try ask(s, ClientMessage(verb: .stats, requestID: 1))
        if json { print((r.body["fields"] ?? .null).serialized(pretty: true)) } else { print(r.body["text"]?.stringValue ?? "") }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal (default KILL) to a run of the supervisor.")
    @Option(name: .long, help: "The supervisor's socket.") var supervisor: String?
    @Argument(help: "The run's id (see envyro ps).") var id: Int64
    @Argument(help: "Signal name or number.") var signal: String = "KILL"

    func run() throws {
        let names = ["HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "USR2": 12, "TERM": 15, "CONT": 18, "STOP": 19]
        let key = signal.uppercased().hasPrefix("SIG") ? String(signal.uppercased().dropFirst(3)) : signal.uppercased()
        guard let n = Int(signal) ?? names[key], (1...64).contains(n) else {
            complain("unknown signal '\(signal)' (use a number or one of \(names.keys.sorted().joined(separator: ", ")))")
            throw ExitCode(125)
        }
        let s = try connectDaemon(supervisor)
        defer { s.close() }
        _ = try ask(s, ClientMessage(verb: .signal, requestID: 1, body: ["run": .int(id), "signal": .int(Int64(n))]))
    }
}
