/*
 * envyro: the front of the command line.
 *
 * Why C: `envyro run` through a running envyro-supervisor is the hot path of the product (a
 * container start is a whole CLI process), and a Swift executable spends about 1.3 ms starting
 * its runtime before main (measured: a static "hello" 1.3 ms, this file's binary 0.5 ms). This
 * file does only that path: read the run flags, send the run (client protocol v1, README) with
 * our stdio by SCM_RIGHTS, forward signals, and exit with the run's status and the same
 * messages as envyro-cli. Anything else -- another subcommand, --json, --timings, --help, a flag
 * it doesn't know, a malformed value, no supervisor listening -- is handed to envyro-cli by exec
 * with the same arguments, so the two can't disagree about errors.
 *
 * No policy logic here: the supervisor decides everything, as for any other client.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_MSG (256 * 1024)

/* ---- the full command line ------------------------------------------------------------ */

static void exec_cli(int argc, char **argv) {
    (void)argc;
    char self[PATH_MAX], path[PATH_MAX + 64];
    const char *env = getenv("ENVYRO_CLI");
    if (env && *env) { argv[0] = (char *)env; execv(env, argv); }
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(path, sizeof path, "%s/envyro-cli", self);
            argv[0] = path; execv(path, argv);
            char *up = strrchr(self, '/');
            if (up) { *up = 0; snprintf(path, sizeof path, "%s/libexec/envyro/envyro-cli", self); argv[0] = path; execv(path, argv); }
        }
    }
    fprintf(stderr, "envyro: envyro-cli is missing beside this envyro (or in ../libexec/envyro/); reinstall envyro\n");
    exit(125);
}

/* ---- a growable JSON text ------------------------------------------------------------- */

struct buf { char *p; size_t n, cap; };

static void put(struct buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096);
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { fprintf(stderr, "envyro: out of memory\n"); exit(125); }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal; invalid UTF-8 makes the whole run go to envyro-cli (returns -1). */
static int put_string(struct buf *b, const char *s) {
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; put(b, e, 2); }
        else if (c < 0x20) { char e[8]; snprintf(e, sizeof e, "\\u%04x", c); puts_(b, e); }
        else if (c < 0x80) put(b, (const char *)p, 1);
        else {
            int len = (c >= 0xF0 && c < 0xF5) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC2 && c < 0xE0) ? 2 : 0;
            if (len == 0 || (c >= 0xF5)) return -1;
            for (int i = 1; i < len; i++) if ((p[i] & 0xC0) != 0x80) return -1;
            put(b, (const char *)p, (size_t)len);
            p += len - 1;
        }
    }
    put(b, "\"", 1);
    return 0;
}

/* ---- flags: the same forms as envyro-cli (--flag value, --flag=value, switches) -------- */

struct flags {
    const char *policy, *supervisor, *rootfs, *hostname, *cwd, *network, *timeout, *executor,
        *seccomp, *userns, *memory, *memory_swap, *pids, *cpus, *shares, *cpuset, *blkio, *profile,
        *log_dir, *log_limit;
    int rootfs_rw, init, log_tee;
    const char **env, **uidmap, **gidmap;
    int nenv, nuid, ngid;
};

static int is_integer(const char *s) {
    if (*s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++) if (*s < '0' || *s > '9') return 0;
    return 1;
}
static int is_number(const char *s) {
    char *end;
    errno = 0;
    strtod(s, &end);
    return *s && !*end && errno == 0;
}

/* Returns the index of the command's first word, or -1 when envyro-cli should handle it. */
static int parse(int argc, char **argv, struct flags *f) {
    static const char *values[] = { "policy", "supervisor", "rootfs", "hostname", "env", "cwd", "network",
        "timeout", "executor", "seccomp", "userns", "uidmap", "gidmap", "memory", "memory-swap", "pids-limit",
        "cpus", "cpu-shares", "cpuset-cpus", "blkio-weight", "profile", "log-dir", "log-limit", NULL };
    int i = 2;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) break;
        if (strcmp(a, "--") == 0) { i++; break; }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (len >= sizeof name) return -1;
        memcpy(name, a + 2, len); name[len] = 0;
        if (!strcmp(name, "rootfs-rw") || !strcmp(name, "init") || !strcmp(name, "log-tee")) {
            if (eq) return -1;
            if (!strcmp(name, "rootfs-rw")) f->rootfs_rw = 1;
            else if (!strcmp(name, "init")) f->init = 1;
            else f->log_tee = 1;
            continue;
        }
        int known = 0;
        for (int k = 0; values[k]; k++) if (!strcmp(name, values[k])) known = 1;
        if (!known) return -1;   /* --json, --timings, --stats, --help, a typo: envyro-cli */
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return -1;
        if (!strcmp(name, "policy")) f->policy = v;
        else if (!strcmp(name, "supervisor")) f->supervisor = v;
        else if (!strcmp(name, "rootfs")) f->rootfs = v;
        else if (!strcmp(name, "hostname")) f->hostname = v;
        else if (!strcmp(name, "env")) f->env[f->nenv++] = v;
        else if (!strcmp(name, "cwd")) f->cwd = v;
        else if (!strcmp(name, "network")) f->network = v;
        else if (!strcmp(name, "timeout")) { if (!is_number(v)) return -1; f->timeout = v; }
        else if (!strcmp(name, "executor")) f->executor = v;
        else if (!strcmp(name, "seccomp")) f->seccomp = v;
        else if (!strcmp(name, "userns")) f->userns = v;
        else if (!strcmp(name, "uidmap")) f->uidmap[f->nuid++] = v;
        else if (!strcmp(name, "gidmap")) f->gidmap[f->ngid++] = v;
        else if (!strcmp(name, "memory")) f->memory = v;
        else if (!strcmp(name, "memory-swap")) f->memory_swap = v;
        else if (!strcmp(name, "pids-limit")) { if (!is_integer(v)) return -1; f->pids = v; }
        else if (!strcmp(name, "cpus")) f->cpus = v;
        else if (!strcmp(name, "cpu-shares")) { if (!is_integer(v)) return -1; f->shares = v; }
        else if (!strcmp(name, "cpuset-cpus")) f->cpuset = v;
        else if (!strcmp(name, "blkio-weight")) { if (!is_integer(v)) return -1; f->blkio = v; }
        else if (!strcmp(name, "profile")) f->profile = v;
        else if (!strcmp(name, "log-dir")) f->log_dir = v;
        else if (!strcmp(name, "log-limit")) f->log_limit = v;
    }
    if (i >= argc || argv[i][0] == '-') return -1;
    return i;
}

/* ---- the RunSpec ------------------------------------------------------------------------ */

static int key_string(struct buf *b, const char *key, const char *v, int absolute) {
    puts_(b, ",\""); puts_(b, key); puts_(b, "\":");
    if (!v) { puts_(b, "null"); return 0; }
    if (absolute && v[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) return -1;
        struct buf t = { 0 };
        puts_(&t, cwd); puts_(&t, "/"); puts_(&t, v);
        int r = put_string(b, t.p);
        free(t.p);
        return r;
    }
    return put_string(b, v);
}
static int key_list(struct buf *b, const char *key, const char **v, int n) {
    puts_(b, ",\""); puts_(b, key); puts_(b, "\":[");
    for (int i = 0; i < n; i++) { if (i) puts_(b, ","); if (put_string(b, v[i]) < 0) return -1; }
    puts_(b, "]");
    return 0;
}
static void key_raw(struct buf *b, const char *key, const char *v) {
    puts_(b, ",\""); puts_(b, key); puts_(b, "\":"); puts_(b, v ? v : "null");
}

static int spec(struct buf *b, const struct flags *f, int argc, char **argv, int cmd) {
    puts_(b, "{\"argv\":[");
    for (int i = cmd; i < argc; i++) { if (i > cmd) puts_(b, ","); if (put_string(b, argv[i]) < 0) return -1; }
    puts_(b, "]");
    if (key_list(b, "env", f->env, f->nenv) < 0) return -1;
    if (key_string(b, "cwd", f->cwd ? f->cwd : "/", 0) < 0) return -1;
    if (key_string(b, "hostname", f->hostname ? f->hostname : "envyro", 0) < 0) return -1;
    if (key_string(b, "rootfs", f->rootfs, 1) < 0) return -1;
    key_raw(b, "rootfsWritable", f->rootfs_rw ? "true" : "false");
    if (key_string(b, "network", f->network, 0) < 0) return -1;
    key_raw(b, "timeout", f->timeout);
    key_raw(b, "init", f->init ? "true" : "false");
    if (key_string(b, "executor", f->executor ? f->executor : "native", 0) < 0) return -1;
    if (key_string(b, "seccomp", f->seccomp, 1) < 0) return -1;
    if (key_string(b, "userns", f->userns, 0) < 0) return -1;
    if (key_list(b, "uidmap", f->uidmap, f->nuid) < 0) return -1;
    if (key_list(b, "gidmap", f->gidmap, f->ngid) < 0) return -1;
    if (key_string(b, "memory", f->memory, 0) < 0) return -1;
    if (key_string(b, "memorySwap", f->memory_swap, 0) < 0) return -1;
    key_raw(b, "pidsLimit", f->pids);
    if (key_string(b, "cpus", f->cpus, 0) < 0) return -1;
    key_raw(b, "cpuShares", f->shares);
    if (key_string(b, "cpusetCpus", f->cpuset, 0) < 0) return -1;
    key_raw(b, "blkioWeight", f->blkio);
    if (key_string(b, "profile", f->profile, 0) < 0) return -1;
    if (key_string(b, "policy", f->policy, 0) < 0) return -1;
    if (key_string(b, "logDir", f->log_dir, 1) < 0) return -1;
    if (key_string(b, "logLimit", f->log_limit, 0) < 0) return -1;
    key_raw(b, "logTee", f->log_tee ? "true" : "false");
    puts_(b, "}");
    return 0;
}

/* ---- reading the replies: flat JSON objects ---------------------------------------------- */

/* The raw text of top-level `key`'s value in `json` (a flat object from the supervisor), or NULL. */
static const char *value_of(const char *json, const char *key) {
    size_t klen = strlen(key);
    int depth = 0, in_str = 0;
    for (const char *p = json; *p; p++) {
        if (in_str) { if (*p == '\\' && p[1]) p++; else if (*p == '"') in_str = 0; continue; }
        if (*p == '{' || *p == '[') { depth++; continue; }
        if (*p == '}' || *p == ']') { depth--; continue; }
        if (*p != '"') continue;
        if (depth == 1 && !strncmp(p + 1, key, klen) && p[1 + klen] == '"') {
            const char *c = p + 2 + klen;
            while (*c == ' ') c++;
            if (*c == ':') { c++; while (*c == ' ') c++; return c; }
        }
        in_str = 1;
    }
    return NULL;
}
static long long number_of(const char *json, const char *key, long long fallback) {
    const char *v = value_of(json, key);
    if (!v || *v == 'n') return fallback;
    return strtoll(v, NULL, 10);
}
static int bool_of(const char *json, const char *key) {
    const char *v = value_of(json, key);
    return v && !strncmp(v, "true", 4);
}
/* Prints `key`'s string value, unescaped, to stderr. */
static void print_string(const char *json, const char *key) {
    const char *v = value_of(json, key);
    if (!v || *v != '"') { fputs("the supervisor refused the run", stderr); return; }
    for (v++; *v && *v != '"'; v++) {
        if (*v != '\\') { fputc(*v, stderr); continue; }
        v++;
        switch (*v) {
        case 'n': fputc('\n', stderr); break;
        case 't': fputc('\t', stderr); break;
        case 'r': fputc('\r', stderr); break;
        case 'b': fputc('\b', stderr); break;
        case 'f': fputc('\f', stderr); break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 1; i <= 4 && v[i]; i++) cp = cp * 16 + (unsigned)(v[i] <= '9' ? v[i] - '0' : (v[i] | 32) - 'a' + 10);
            if (cp < 0x80) fputc((int)cp, stderr);
            else if (cp < 0x800) { fputc(0xC0 | (int)(cp >> 6), stderr); fputc(0x80 | (int)(cp & 0x3F), stderr); }
            else { fputc(0xE0 | (int)(cp >> 12), stderr); fputc(0x80 | (int)((cp >> 6) & 0x3F), stderr); fputc(0x80 | (int)(cp & 0x3F), stderr); }
            v += 4;
            break;
        }
        default: fputc(*v, stderr);
        }
    }
}

/* "64 MiB", as envyro-cli shows limits. */
static void format_bytes(long long b, char *out, size_t n) {
    static const struct { long long size; const char *name; } units[] = {
        { 1LL << 40, "TiB" }, { 1LL << 30, "GiB" }, { 1LL << 20, "MiB" }, { 1LL << 10, "KiB" } };
    for (int i = 0; i < 4; i++) if (b >= units[i].size && b % units[i].size == 0) { snprintf(out, n, "%lld %s", b / units[i].size, units[i].name); return; }
    for (int i = 0; i < 4; i++) if (b >= units[i].size) { snprintf(out, n, "%.1f %s", (double)(b * 10 / units[i].size) / 10, units[i].name); return; }
    snprintf(out, n, "%lld bytes", b);
}

/* ---- the protocol ------------------------------------------------------------------------ */

static void put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put_u32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }

static int send_message(int sock, uint16_t verb, uint32_t id, const char *json, const int *fds, int nfds) {
    size_t len = strlen(json);
    unsigned char *frame = malloc(16 + len);
    if (!frame) return -1;
    put_u32(frame, 0x59564E45u); put_u16(frame + 4, 1); put_u16(frame + 6, verb);
    put_u32(frame + 8, id); put_u32(frame + 12, (uint32_t)len);
    memcpy(frame + 16, json, len);
    struct iovec iov = { frame, 16 + len };
    union { char b[CMSG_SPACE(sizeof(int) * 3)]; struct cmsghdr align; } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        memset(&ctl, 0, sizeof ctl);
        msg.msg_control = ctl.b;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t r;
    do { r = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (r < 0 && errno == EINTR);
    free(frame);
    return r == (ssize_t)(16 + len) ? 0 : -1;
}

/* Receives one message; returns its verb (0 at EOF or on a malformed one). */
static uint16_t receive_message(int sock, char *json, size_t cap) {
    static unsigned char frame[MAX_MSG];
    ssize_t n;
    do { n = recv(sock, frame, sizeof frame, 0); } while (n < 0 && errno == EINTR);
    if (n < 16) return 0;
    uint32_t len = frame[12] | frame[13] << 8 | frame[14] << 16 | (uint32_t)frame[15] << 24;
    if (frame[0] != 0x45 || frame[1] != 0x4E || frame[2] != 0x56 || frame[3] != 0x59 || len != (uint32_t)(n - 16) || len >= cap) return 0;
    memcpy(json, frame + 16, len);
    json[len] = 0;
    return (uint16_t)(frame[6] | frame[7] << 8);
}

/* Nothing is sent unless the socket's directory is ours and private (lstat: not a symlink, our
 * uid, mode 0700) and the process listening runs as us or root (SO_PEERCRED): in /tmp another
 * user can make /tmp/envyro-UID first and plant a socket that would get our argv, environment
 * and stdio (issue 13, item 4). Returns the connected socket, or -1: then envyro-cli, which
 * checks the same, says why and runs without the daemon (or refuses an explicit one). */
static int connect_checked(const char *path) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return -1;
    if (slash == dir) slash[1] = 0; else *slash = 0;
    struct stat ds;
    if (lstat(dir, &ds) != 0 || !S_ISDIR(ds.st_mode) || ds.st_uid != getuid() || (ds.st_mode & 077) != 0) return -1;
    int sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (sock < 0 || strlen(path) >= sizeof addr.sun_path) { if (sock >= 0) close(sock); return -1; }
    strcpy(addr.sun_path, path);
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) { close(sock); return -1; }
    struct ucred peer;
    socklen_t plen = sizeof peer;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &plen) != 0 || (peer.uid != getuid() && peer.uid != 0)) {
        close(sock);
        return -1;
    }
    return sock;
}

/* A policy name (not a file): the only kind an auto-started supervisor serves. */
static int plain_name(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-')) return 0;
    return n >= 1 && n <= 64;
}

int main(int argc, char **argv) {
    if (argc < 3 || strcmp(argv[1], "run") != 0) exec_cli(argc, argv);
    struct flags f = { 0 };
    f.env = calloc((size_t)argc, sizeof(char *));
    f.uidmap = calloc((size_t)argc, sizeof(char *));
    f.gidmap = calloc((size_t)argc, sizeof(char *));
    if (!f.env || !f.uidmap || !f.gidmap) exec_cli(argc, argv);
    int cmd = parse(argc, argv, &f);
    if (cmd < 0 || (f.supervisor && !strcmp(f.supervisor, "never"))) exec_cli(argc, argv);

    /* The supervisor's socket: --supervisor PATH, else the default (as envyro-cli finds it). */
    char path[PATH_MAX];
    if (f.supervisor && strcmp(f.supervisor, "auto") != 0) snprintf(path, sizeof path, "%s", f.supervisor);
    else {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        struct stat st;
        char run[64];
        snprintf(run, sizeof run, "/run/user/%u", getuid());
        if (xdg && xdg[0] == '/') snprintf(path, sizeof path, "%s/envyro/supervisor.sock", xdg);
        else if (stat(run, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(path, sizeof path, "%s/envyro/supervisor.sock", run);
        else snprintf(path, sizeof path, "/tmp/envyro-%u/supervisor.sock", getuid());
    }
    int sock = connect_checked(path);
    /* With --supervisor auto and none started by the user: the one an earlier run started for
     * this policy (auto-NAME.sock beside the default socket; envyro-cli starts it). */
    int automatic = !f.supervisor || !strcmp(f.supervisor, "auto");
    const char *off = getenv("ENVYRO_AUTO_SUPERVISOR");
    const char *name = f.policy ? f.policy : "default";
    if (sock < 0 && automatic && !(off && !strcmp(off, "0")) && plain_name(name)) {
        char *slash = strrchr(path, '/');
        if (slash && (size_t)(slash - path) + strlen(name) + 16 < sizeof path) {
            snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "auto-%s.sock", name);
            sock = connect_checked(path);
        }
    }
    if (sock < 0) exec_cli(argc, argv);

    struct buf body = { 0 };
    if (spec(&body, &f, argc, argv, cmd) < 0) { close(sock); exec_cli(argc, argv); }

    /* Job-control signals go to the container (a second SIGINT or SIGTERM kills it). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM); sigaddset(&set, SIGHUP); sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    int stdio[3];
    for (int i = 0; i < 3; i++) stdio[i] = fcntl(i, F_GETFD) >= 0 ? i : open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
    if (send_message(sock, 0x0201, 1, body.p, stdio, 3) != 0) {
        fprintf(stderr, "envyro: the supervisor: %s\n", strerror(errno));
        return 125;
    }
    static char reply[MAX_MSG];
    long long run = 0;
    int interrupts = 0;
    for (;;) {
        struct pollfd p[2] = { { sock, POLLIN, 0 }, { sfd, POLLIN, 0 } };
        if (poll(p, sfd >= 0 ? 2 : 1, -1) < 0) { if (errno == EINTR) continue; return 125; }
        if (sfd >= 0 && (p[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                int sig = (int)si.ssi_signo;
                if (sig == SIGINT || sig == SIGTERM) interrupts++;
                if (interrupts >= 2) sig = SIGKILL;
                if (run > 0) {
                    char msg[64];
                    snprintf(msg, sizeof msg, "{\"run\":%lld,\"signal\":%d}", run, sig);
                    send_message(sock, 0x0202, 0, msg, NULL, 0);
                }
            }
        }
        if (!(p[0].revents & (POLLIN | POLLHUP))) continue;
        uint16_t verb = receive_message(sock, reply, sizeof reply);
        switch (verb) {
        case 0x8201:   /* started */
            run = number_of(reply, "run", 0);
            break;
        case 0x8202: { /* finished: end as envyro-cli's finishRun does */
            long long code = number_of(reply, "exitCode", 125);
            if (bool_of(reply, "timedOut")) {
                double t = f.timeout ? strtod(f.timeout, NULL) : 0;
                if (t == (double)(long long)t) fprintf(stderr, "envyro: timed out after %llds; the container was killed\n", (long long)t);
                else fprintf(stderr, "envyro: timed out after %ss; the container was killed\n", f.timeout);
                return 124;
            }
            if (bool_of(reply, "oomKilled")) {
                long long limit = number_of(reply, "memoryLimitBytes", -1);
                char text[48] = "";
                if (limit > 0) { char b[32]; format_bytes(limit, b, sizeof b); snprintf(text, sizeof text, " (limit %s)", b); }
                fprintf(stderr, "envyro: killed: out of memory%s\n", text);
                return 247;
            }
            long long ooms = number_of(reply, "oomKills", 0);
            if (ooms > 0) fprintf(stderr, "envyro: warning: the kernel's OOM killer killed %lld process(es) in the container\n", ooms);
            return (int)code;
        }
        case 0x8203:   /* error */
            fputs("envyro: ", stderr);
            print_string(reply, "message");
            fputc('\n', stderr);
            return (int)number_of(reply, "exitCode", 125);
        case 0:
            fprintf(stderr, "envyro: the supervisor closed the connection\n");
            return 125;
        default:
            break;
        }
    }
}
