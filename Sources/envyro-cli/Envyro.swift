import ArgumentParser

// The subcommands live in files of their own: RunCommand.swift (run), DaemonCommands.swift (ps,
// stats, kill), AdminCommands.swift (setup, gc, executors, audit), BenchCommand.swift (bench);
// OCI*.swift hold runc's command line.

/// The `envyro` command (started from main.swift, after the fast path for daemon runs).
struct Envyro: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "envyro",
        abstract: "A rootless-first, privilege-separated container runtime.",
        subcommands: [Run.self, PS.self, Stats.self, Kill.self, Executors.self, Bench.self, Audit.self, Setup.self, GC.self])
}
