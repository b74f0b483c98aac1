// envyro-cli: the full command line (ArgumentParser), run as a task while this thread waits.
// `envyro` handles daemon runs itself and execs this for everything else.
import EnvyroClient
import EnvyroSystem

// runc's command line (podman, containerd): `envyro create|start|state|… ID`.
if OCIMain.isOCIInvocation(Array(CommandLine.arguments.dropFirst())) {
    OCIMain.main(Array(CommandLine.arguments.dropFirst()))
}
FastRun.attempt(CommandLine.arguments)
_ = try? Threads.blocking { await Envyro.main(nil) }
