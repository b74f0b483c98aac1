/*
 * CEnvyroCLI: linked only into the `envyro` CLI.
 *
 * Why C: `envyro run` forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to the container through a
 * signalfd, which only works if those signals are blocked in every thread. Swift's concurrency
 * runtime starts threads on its own schedule, so the signals are blocked here, in a constructor
 * that runs before the Swift runtime and before any thread exists; every thread inherits the mask.
 * Subcommands that don't forward signals call envyro_cli_unblock_signals().
 */
#ifndef CENVYRO_CLI_H
#define CENVYRO_CLI_H
/// Unblocks the job-control signals the constructor blocked (in the calling thread).
void envyro_cli_unblock_signals(void);
/// 1 when the constructor blocked the job-control signals.
int envyro_cli_signals_blocked(void);
#endif
