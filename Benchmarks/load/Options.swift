// envyro-load's command-line options and their parser.

import CEnvyro
import EnvyroClient
import EnvyroJSON
import EnvyroSystem
import Glibc
import Synchronization

// MARK: options

struct Options: Sendable {
    var bin = ""
    var policy = "strict"
    var work = ""
    var concurrency = 20
    var seconds = 10.0
    var faults: [(kind: FaultKind, at: Double)] = []
    var logEvery = 10
    var memory = "64M"
    var pids: Int64 = 32
    var sleep = "0.2"
    var audit = ""
    var json: String? = nil
    var label = ""
}

enum FaultKind: String, Sendable { case helper, ioworker, supervisor }

func usage(_ problem: String) -> Never {
    _ = "envyro-load: \(problem)\n".withCString { write(2, $0, strlen($0)) }
    print("""
        usage: envyro-load --bin DIR --work DIR [--policy NAME|FILE] [--concurrency N] [--seconds S]
                           [--fault helper@S] [--fault ioworker@S] [--fault supervisor@S]
                           [--log-every K] [--memory SIZE] [--pids-limit N] [--sleep S]
                           [--audit FILE] [--json FILE] [--label TEXT]
        """)
    exit(64)
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst()
    func value(_ name: String) -> String {
        guard let v = args.popFirst() else { usage("\(name) needs a value") }
        return v
    }
    while let a = args.popFirst() {
        switch a {
        case "--bin": o.bin = value(a)
        case "--policy": o.policy = value(a)
        case "--work": o.work = value(a)
        case "--concurrency": guard let n = Int(value(a)), n > 0, n <= 4096 else { usage("--concurrency needs 1...4096") }; o.concurrency = n
        case "--seconds": guard let s = Double(value(a)), s > 0 else { usage("--seconds needs a positive number") }; o.seconds = s
        case "--fault":
            let v = value(a).split(separator: "@")
            guard v.count == 2, let k = FaultKind(rawValue: String(v[0])), let t = Double(v[1]) else { usage("--fault needs helper|ioworker|supervisor@SECONDS") }
            o.faults.append((k, t))
        case "--log-every": guard let n = Int(value(a)), n >= 0 else { usage("--log-every needs N >= 0") }; o.logEvery = n
        case "--memory": o.memory = value(a)
        case "--pids-limit": guard let n = Int64(value(a)) else { usage("--pids-limit needs a number") }; o.pids = n
        case "--sleep": o.sleep = value(a)
        case "--audit": o.audit = value(a)
        case "--json": o.json = value(a)
        case "--label": o.label = value(a)
        default: usage("unknown argument '\(a)'")
        }
    }
    guard o.bin.hasPrefix("/"), o.work.hasPrefix("/") else { usage("--bin and --work need absolute paths") }
    o.faults.sort { $0.at < $1.at }
    if o.label.isEmpty { o.label = "uid \(getuid())" }
    return o
}
