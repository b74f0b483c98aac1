// envyro: a daemon run takes the fast path (no argument-parsing library, no Swift concurrency);
// everything else goes through the full command line.
FastRun.attempt(CommandLine.arguments)

/// The full command line (ArgumentParser's async entry point).
func fullCommandLine() async {
    await Envyro.main(nil)
}
await fullCommandLine()
