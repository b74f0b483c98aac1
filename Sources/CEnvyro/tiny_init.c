/*
 * The tiny init (`envyro run --init`): pid 1 of the container's pid namespace, which starts the
 * workload as pid 2, forwards catchable signals to it, reaps every child, and exits with the
 * workload's status, so a workload that is not written to be pid 1 behaves as it would
 * anywhere else.
 *
 * Why C: pid 1 is the helper's cloned child, which never execs; Swift must never run there.
 * It makes only raw, async-signal-safe syscalls (no malloc, no stdio, no locks). See
 * trampoline.h.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile pid_t g_workload = 0;

static void forward_signal(int sig) {
    int saved = errno;
    if (g_workload > 0) kill(g_workload, sig);
    errno = saved;
}

/* As pid 1: start the workload as pid 2, forward catchable signals to it, reap every child,
 * and exit with the workload's status (128+N when it died of signal N). */
void envyro__run_init(const struct envyro_container_config *cfg, char *const argv[], char *const envp[], const char *search_path) {
    /* pid 1 is a copy of the helper, not an exec'd program: non-dumpable, so the workload can't
     * open /proc/1/exe (the helper binary on the host), /proc/1/mem, or ptrace it. */
    CHECK(ENVYRO_STEP_INIT, prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sa.sa_flags = SA_RESTART;
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) continue;
        if (sig >= 32 && sig < SIGRTMIN) continue; /* glibc's internal signals */
        sigaction(sig, &sa, NULL);
    }
    pid_t pid = (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) envyro__fail(ENVYRO_STEP_INIT, errno);
    if (pid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        envyro__install_bpf(cfg->filters, cfg->filter_count);
        envyro__fail(ENVYRO_STEP_EXEC, envyro__exec_search(argv[0], argv, envp, search_path));
    }
    g_workload = pid;
    /* The error pipe stays open in the workload until its execve succeeds. */
    envyro__close_error_fd();
    sigprocmask(SIG_SETMASK, &old, NULL);
    int status = 0;
    for (;;) {
        int st;
        pid_t r = wait4(-1, &st, 0, NULL);
        if (r < 0) { if (errno == EINTR) continue; break; }
        if (r == pid) { status = st; break; }
    }
    if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
    _exit(WEXITSTATUS(status));
}
