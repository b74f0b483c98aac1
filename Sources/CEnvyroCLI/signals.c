#include "cenvyro_cli.h"
#include <signal.h>
#include <stddef.h>

static int g_blocked = 0;

static void job_control_set(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGINT); sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP); sigaddset(set, SIGQUIT);
}

__attribute__((constructor)) static void envyro_cli_block_signals(void) {
    sigset_t set;
    job_control_set(&set);
    g_blocked = pthread_sigmask(SIG_BLOCK, &set, NULL) == 0;
}

void envyro_cli_unblock_signals(void) {
    sigset_t set;
    job_control_set(&set);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    g_blocked = 0;
}

int envyro_cli_signals_blocked(void) { return g_blocked; }
