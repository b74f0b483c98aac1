/*
 * The environment an OCI process execs with (a bundle's first process, or one exec'd into a
 * running container): HOME from the container's /etc/passwd when the bundle's env has none,
 * as runc and crun do ("/" for a uid the file doesn't name, as runc does), and LISTEN_PID set to
 * the process's own pid when the env has LISTEN_FDS (socket activation: the pid outside, or the
 * engine's, means nothing inside).
 *
 * Why C: this runs in the child between clone and execve (no malloc, no stdio): the strings go
 * to a caller's buffer, the new array to a caller's stack.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* The largest /etc/passwd read: a file that goes on longer (or is a device) ends the search. */
#define PASSWD_MAX (4 << 20)

static int has_name(const char *entry, const char *name) {
    size_t n = s_len(name);
    return memcmp(entry, name, n) == 0 && entry[n] == '=';
}

/* Field 6 (the home directory) of the line whose field 3 is `uid`, into out ("HOME=..."):
 * returns 1 when found. A line longer than the buffer is skipped. */
static int line_home(const char *line, size_t len, uint32_t uid, char *out, size_t cap) {
    const char *field[7];
    size_t flen[7];
    int f = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len && f < 7; i++) {
        if (i == len || line[i] == ':') {
            field[f] = line + start;
            flen[f] = i - start;
            f++;
            start = i + 1;
        }
    }
    if (f < 6 || flen[2] == 0 || flen[2] > 10) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < flen[2]; i++) {
        char c = field[2][i];
        if (c < '0' || c > '9') return 0;
        v = v * 10 + (uint64_t)(c - '0');
    }
    if (v != uid || flen[5] + 6 > cap) return 0;
    memcpy(out, "HOME=", 5);
    memcpy(out + 5, field[5], flen[5]);
    out[5 + flen[5]] = 0;
    return 1;
}

/* "HOME=<dir>" for uid from /etc/passwd of the current root, or "HOME=/". The file is the
 * container's: O_NONBLOCK and a regular-file check so that a FIFO or a device there can't hang
 * or feed `create`. */
static void home_for(uint32_t uid, char *out, size_t cap) {
    static char line[PATH_BUF];
    memcpy(out, "HOME=/", 7);
    int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) { close(fd); return; }
    char chunk[1024];
    size_t used = 0, total = 0;
    int skipping = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += (size_t)n;
        for (ssize_t i = 0; i < n; i++) {
            if (chunk[i] == '\n') {
                if (!skipping && line_home(line, used, uid, out, cap)) { close(fd); return; }
                used = 0;
                skipping = 0;
            } else if (used < sizeof line) {
                line[used++] = chunk[i];
            } else {
                skipping = 1;
            }
        }
        if (total > PASSWD_MAX) { close(fd); return; }
    }
    if (used && !skipping) line_home(line, used, uid, out, cap);
    close(fd);
}

char *const *envyro__process_env(const char *const *envp, uint32_t uid, const char **out, char buf[ENVYRO_ENV_BUF]) {
    int n = 0, has_home = 0, listen_fds = 0;
    for (; envp[n]; n++) {
        if (has_name(envp[n], "HOME")) has_home = 1;
        if (has_name(envp[n], "LISTEN_FDS")) listen_fds = 1;
    }
    if (has_home && !listen_fds) return (char *const *)envp;
    int m = 0;
    char *home = buf, *pid = buf + PATH_BUF;
    for (int i = 0; i < n; i++) {
        if (listen_fds && has_name(envp[i], "LISTEN_PID")) continue;
        out[m++] = envp[i];
    }
    if (!has_home) {
        home_for(uid, home, PATH_BUF);
        out[m++] = home;
    }
    if (listen_fds) {
        memcpy(pid, "LISTEN_PID=", 11);
        fmt_uint(pid + 11, (unsigned int)getpid());
        out[m++] = pid;
    }
    out[m] = NULL;
    return (char *const *)out;
}
