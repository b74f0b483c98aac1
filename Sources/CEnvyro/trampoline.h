/*
 * Private to CEnvyro: the trampoline steps that container_init.c (a container's first process)
 * and container_exec.c (a process exec'd into a running container) share. Everything here runs
 * between clone and execve: raw syscalls, no malloc, failures through envyro__fail.
 */
#ifndef ENVYRO_TRAMPOLINE_H
#define ENVYRO_TRAMPOLINE_H

#include "cenvyro.h"

#define ENVYRO_HIDDEN __attribute__((visibility("hidden")))

/* The error pipe of this child (-1: nobody listens; a failure then only sets the exit code). */
ENVYRO_HIDDEN void envyro__set_error_fd(int fd);
ENVYRO_HIDDEN __attribute__((noreturn)) void envyro__fail(int step, int err);
/* Makes a pty in /dev/ptmx (of the current root), sends the master with its name over
 * `console_fd`, makes the slave the controlling terminal and stores it in stdio[0..2]. */
ENVYRO_HIDDEN void envyro__setup_console(int console_fd, uint16_t rows, uint16_t cols, int stdio[3]);
ENVYRO_HIDDEN void envyro__apply_rlimits(const struct envyro_rlimit *limits, int count);
ENVYRO_HIDDEN void envyro__drop_bounding(uint64_t keep);
ENVYRO_HIDDEN void envyro__apply_user(uint32_t uid, uint32_t gid, const uint32_t *gids, int count);
ENVYRO_HIDDEN void envyro__set_caps(uint64_t eff, uint64_t perm, uint64_t inh, uint64_t amb);
ENVYRO_HIDDEN void envyro__install_bpf(const struct envyro_bpf *filters, int count);
/* dup2 stdio onto 0..2, CLOEXEC everything above, default dispositions and an empty mask. */
ENVYRO_HIDDEN void envyro__stdio_and_signals(const int stdio[3]);
ENVYRO_HIDDEN int envyro__exec_search(const char *file, char *const argv[], char *const envp[], const char *search_path);
/* Closes every fd from 3 up except the `n` in `keep` (CVE-2024-21626: a helper fd left open
 * until execve is a way out of the container for anything that can name /proc/self/fd/N). */
ENVYRO_HIDDEN void envyro__close_fds_except(const int *keep, int n);
/* chdir to `cwd` resolved inside the current root (openat2 RESOLVE_IN_ROOT, no magic links),
 * then checks that the kernel can reach the new cwd from the root. */
ENVYRO_HIDDEN void envyro__enter_cwd(const char *cwd);

#endif
