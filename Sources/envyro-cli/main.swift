// envyro-cli: the full command line (ArgumentParser), run as a task while this thread waits.
// `envyro` handles daemon runs itself and execs this for everything else.
import EnvyroClient
import EnvyroSystem

FastRun.attempt(CommandLine.arguments)
_ = try? Threads.blocking { await Envyro.main(nil) }
