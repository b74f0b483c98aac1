/*
 * exec into a running container (OCI `exec`): the code between clone and execve for a process
 * that joins an existing container. Same rules as the rest of the trampoline (trampoline.h): after
 * clone only raw, async-signal-safe syscalls, no malloc, failures as {step, errno} on a
 * close-on-exec pipe.
 *
 *   helper ──clone──▶ intermediate: join the cgroup, setns(pidfd, ns_flags)
 *                          │ clone (now inside the container's pid namespace)
 *                          ▼
 *                      process: console, rlimits, user, caps, no_new_privs, cwd, stdio,
 *                               signals, seccomp, execve
 *
 * The intermediate is needed because setns(CLONE_NEWPID) only places the caller's future
 * children in the namespace. It reports the process's pid and exits at once. Attached, the
 * process is cloned with CLONE_PARENT: the helper is its parent, so PDEATHSIG ties it to the
 * helper (not to the intermediate, which is gone at once) and the helper reaps it. Detached,
 * it is an orphan reparented to the nearest subreaper (the engine's shim).
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static __attribute__((noreturn)) void exec_process(const struct envyro_exec_config *cfg) {
    if (!cfg->detached) {
        CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
        /* The helper may have died between clone and prctl: then nobody would kill us. */
        if (getppid() == 1) envyro__fail(ENVYRO_STEP_PDEATHSIG, ESRCH);
    }
    /* The mount namespace was joined: /dev/ptmx is the container's. */
    int stdio[3] = { cfg->stdio[0], cfg->stdio[1], cfg->stdio[2] };
    /* HOME and LISTEN_PID as for the first process (process_env.c), in the container's root. */
    int envc = 0;
    while (cfg->envp[envc]) envc++;
    const char *env_room[envc + 2];
    static char env_strings[ENVYRO_ENV_BUF];
    char *const *envp = envyro__process_env(cfg->envp, cfg->uid, env_room, env_strings);
    struct envyro__process p = ENVYRO__PROCESS(cfg, cfg);
    if (envyro__become_process(&p, stdio)) envyro__install_bpf(cfg->filters, cfg->filter_count);
    envyro__fail(ENVYRO_STEP_EXEC, envyro__exec_search(cfg->argv[0], (char *const *)cfg->argv, envp, cfg->search_path));
}

static __attribute__((noreturn)) void intermediate(const struct envyro_exec_config *cfg, int pid_fd, int err_fd) {
    /* First, every fd of the helper's but ours is closed: the process joins the container and
     * must hold nothing of the host (CVE-2024-21626). */
    int keep[ENVYRO_KEEP_MAX];
    int n = 0;
    if (cfg->cgroup_procs_count + cfg->preserved_fd_count + 7 > ENVYRO_KEEP_MAX) envyro__fail(ENVYRO_STEP_STDIO, EMFILE);
    keep[n++] = pid_fd; keep[n++] = err_fd; keep[n++] = cfg->target_pidfd; keep[n++] = cfg->console_fd;
    for (int i = 0; i < 3; i++) keep[n++] = cfg->stdio[i];
    for (int i = 0; i < cfg->cgroup_procs_count; i++) keep[n++] = cfg->cgroup_procs[i];
    for (int i = 0; i < cfg->preserved_fd_count; i++) keep[n++] = cfg->preserved_fds[i];
    envyro__close_fds_except(keep, n);
    /* The cgroup first, while we are still in the namespaces the helper opened the
     * cgroup.procs files in (the kernel checks a migration against the opener's credentials and
     * cgroup namespace; doing it here keeps writer and opener alike). */
    for (int i = 0; i < cfg->cgroup_procs_count; i++) {
        ssize_t w;
        do { w = write(cfg->cgroup_procs[i], "0", 1); } while (w < 0 && errno == EINTR);
        if (w != 1) envyro__fail(ENVYRO_STEP_CGROUP, w < 0 ? errno : EIO);
        close(cfg->cgroup_procs[i]);
    }
    /* One call joins them all (pidfd setns, Linux 5.8): the kernel orders the user namespace
     * first and applies all or nothing. */
    if (cfg->ns_flags) CHECK(ENVYRO_STEP_JOIN_NS, setns(cfg->target_pidfd, (int)cfg->ns_flags));
    unsigned long flags = cfg->detached ? SIGCHLD : (CLONE_PARENT | SIGCHLD);
    long pid = syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (pid < 0) envyro__fail(ENVYRO_STEP_INIT, errno);
    if (pid == 0) exec_process(cfg);
    int32_t p = (int32_t)pid;
    ssize_t w;
    do { w = write(pid_fd, &p, sizeof p); } while (w < 0 && errno == EINTR);
    _exit(0);
}

int envyro_container_exec(const struct envyro_exec_config *cfg, pid_t *pid_out, int *step_out) {
    int err[2], pids[2];
    *step_out = ENVYRO_STEP_NONE;
    *pid_out = 0;
    if (pipe2(err, O_CLOEXEC) < 0) return -1;
    if (pipe2(pids, O_CLOEXEC) < 0) { int e = errno; close(err[0]); close(err[1]); errno = e; return -1; }
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        /* Child: only async-signal-safe C from here on. */
        close(err[0]);
        close(pids[0]);
        envyro__set_error_fd(err[1]);
        intermediate(cfg, pids[1], err[1]);
    }
    int saved = errno;
    close(err[1]);
    close(pids[1]);
    if (pid < 0) { close(err[0]); close(pids[0]); errno = saved; return -1; }

    int status;
    pid_t r;
    do { r = waitpid((pid_t)pid, &status, 0); } while (r < 0 && errno == EINTR);
    /* ECHILD: SIGCHLD is ignored and the kernel reaped it; the pipes still tell the story. */

    int32_t p = 0;
    ssize_t n;
    do { n = read(pids[0], &p, sizeof p); } while (n < 0 && errno == EINTR);
    close(pids[0]);
    if (n == (ssize_t)sizeof p) *pid_out = (pid_t)p;

    /* The process (or, if it never got that far, the intermediate) writes {step, errno} on
     * failure; EOF alone means execve succeeded. */
    struct envyro_child_error e = { 0, 0 };
    size_t got = 0;
    while (got < sizeof e) {
        n = read(err[0], (char *)&e + got, sizeof e - got);
        if (n < 0) { if (errno == EINTR) continue; break; }
        if (n == 0) break;
        got += (size_t)n;
    }
    close(err[0]);
    if (got == sizeof e) {
        *step_out = e.step;
        errno = e.err ? e.err : EIO;
        return -1;
    }
    if (n == (ssize_t)-1 || (got == 0 && *pid_out == 0)) {
        /* The intermediate died without a word (killed?). */
        *step_out = ENVYRO_STEP_INIT;
        errno = ECHILD;
        return -1;
    }
    return 0;
}
