// envyro-supervisor: the long-running, unprivileged supervisor (see SupervisorDaemon).
import EnvyroClient
import EnvyroSupervisor
import Glibc

func usage(_ problem: String? = nil) -> Never {
    if let problem { _ = "envyro-supervisor: \(problem)\n".withCString { write(2, $0, strlen($0)) } }
    print("""
        usage: envyro-supervisor [--policy default|strict|FILE] [--socket PATH] [--pool N] [--idle-exit SECONDS]

        --pool N: idle helpers kept warm (default: the policy's pools.helpers).
        --idle-exit SECONDS: exit after that long with no client connected.
        --auto: started by `envyro run` on first use (idle exit from the policy's
          pools.autoSupervisorIdleSeconds; one per socket).

        Serves `envyro run` (and any client of the protocol in the README) on a unix socket that
        only this user may use; default socket: \(ClientProtocol.defaultSocketPath()).
        SIGTERM drains (runs in flight get 10 s, then are killed); SIGHUP reloads the policy.
        """)
    exit(problem == nil ? 0 : 64)
}

var policy = "default"
var socketPath = ClientProtocol.defaultSocketPath()
var poolSize: Int? = nil
var idleExit: Int? = nil
var auto = false
var args = CommandLine.arguments.dropFirst()
while let arg = args.popFirst() {
    switch arg {
    case "--policy": guard let v = args.popFirst() else { usage("--policy needs a value") }; policy = v
    case "--socket": guard let v = args.popFirst(), v.hasPrefix("/") else { usage("--socket needs an absolute path") }; socketPath = v
    case "--pool": guard let v = args.popFirst(), let n = Int(v), (0...64).contains(n) else { usage("--pool needs 0...64") }; poolSize = n
    case "--idle-exit": guard let v = args.popFirst(), let n = Int(v), (1...86_400).contains(n) else { usage("--idle-exit needs 1...86400 seconds") }; idleExit = n
    case "--auto": auto = true
    case "-h", "--help": usage()
    default: usage("unknown argument '\(arg)'")
    }
}
exit(SupervisorDaemon(policy: policy, socketPath: socketPath, poolSize: poolSize, idleExitSeconds: idleExit, auto: auto).serve())
