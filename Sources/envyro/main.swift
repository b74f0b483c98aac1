// envyro: a daemon run takes the fast path (no argument-parsing library, and Swift concurrency is
// never started: this file has no top-level `await`); everything else goes through the full
// command line, run as a task while this thread waits.
import EnvyroSystem

FastRun.attempt(CommandLine.arguments)
_ = try? Threads.blocking { await Envyro.main(nil) }
