// envyro-cli: the full command line (ArgumentParser), run as a task while this thread waits.
// `envyro` handles daemon runs itself and execs this for everything else.
import EnvyroClient
import EnvyroSupervisor
import EnvyroOCIRuntime
import EnvyroSystem

// runc's command line (podman, containerd). Invoked as `envyro-runc` (a link to the C front, which execs this binary with argv[0] kept,
// the name engines are given), every argument is runc's, with no guessing: `envyro-runc kill ID
// KILL` is always the OCI kill. As `envyro`, runc's commands are told apart from envyro's own by
// `isOCIInvocation` (kept for engines configured with `envyro` itself). The OCI runtime is the
// EnvyroOCIRuntime library (Sources/EnvyroOCIRuntime).
// The helper the C front may have started for a run with no supervisor: out of the environment
// and close-on-exec before anything is spawned (EnvyroSupervisor/PrestartedHelper.swift).
PrestartedHelper.claim()

if Files.baseName(CommandLine.arguments.first ?? "") == OCIMain.runcName {
    OCIMain.main(Array(CommandLine.arguments.dropFirst()))
}
if OCIMain.isOCIInvocation(Array(CommandLine.arguments.dropFirst())) {
    OCIMain.main(Array(CommandLine.arguments.dropFirst()), program: "envyro")
}
RunFlow.attemptThroughDaemon(CommandLine.arguments)
RunFlow.attempt(CommandLine.arguments)
_ = try? Threads.blocking { await Envyro.main(nil) }
