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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
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

#include "cenvyro.h"

extern char **environ;

#define MAX_MSG (256 * 1024)

/* ---- the full command line ------------------------------------------------------------ */

/* envyro-cli's path: $ENVYRO_CLI, else beside this binary, else ../libexec/envyro/ from it (the
 * installed layout). 0, or -1 when none is executable. */
static int locate_cli(char *out, size_t n) {
    char self[PATH_MAX];
    const char *env = getenv("ENVYRO_CLI");
    if (env && *env) { snprintf(out, n, "%s", env); return 0; }
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return -1;
    *slash = 0;
    snprintf(out, n, "%s/envyro-cli", self);
    if (access(out, X_OK) == 0) return 0;
    char *up = strrchr(self, '/');
    if (!up) return -1;
    *up = 0;
    snprintf(out, n, "%s/libexec/envyro/envyro-cli", self);
    return access(out, X_OK) == 0 ? 0 : -1;
}

static void exec_cli(int argc, char **argv) {
    (void)argc;
    static char path[PATH_MAX + 64];
    if (locate_cli(path, sizeof path) == 0) { argv[0] = path; execv(path, argv); }
    fprintf(stderr, "envyro: envyro-cli is missing beside this envyro (or in ../libexec/envyro/); reinstall envyro\n");
    exit(125);
}

static int plain_name(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-')) return 0;
    return n >= 1 && n <= 64;
}

/* ---- the helper of a run with no supervisor ------------------------------------------- */

/* A run no supervisor serves is embedded in envyro-cli, which starts envyro-nshelper for it. A
 * helper's start (its Swift runtime, the policy, root's cgroups) then follows envyro-cli's own
 * start; started here instead, the two overlap (on 2 cores). envyro-cli adopts it from
 * ENVYRO_PRESTARTED_HELPER="FD PID POLICY PATH" (EnvyroSupervisor/PrestartedHelper.swift) when
 * PATH is the helper it would start and POLICY its policy; otherwise it closes FD, and the
 * helper exits at EOF. Same start as envyro-cli's (spawn_helper.c: a binary no container can
 * write), same socket, same hello: nothing here decides anything. Best effort: any failure
 * leaves envyro-cli to start the helper itself. Only for policies given by name. */
static void prestart_helper(const char *policy) {
    char cli[PATH_MAX + 64], real[PATH_MAX], helper[PATH_MAX + 64];
    const char *name = policy ? policy : "default";
    if (!plain_name(name) || locate_cli(cli, sizeof cli) != 0 || !realpath(cli, real)) return;
    const char *env = getenv("ENVYRO_NSHELPER");
    if (env && *env) snprintf(helper, sizeof helper, "%s", env);
    else {
        /* As EmbeddedSupervisor.locateHelper does from envyro-cli's resolved path. */
        char *slash = strrchr(real, '/');
        if (!slash) return;
        *slash = 0;
        snprintf(helper, sizeof helper, "%s/envyro-nshelper", real);
        if (access(helper, X_OK) != 0) {
            char *up = strrchr(real, '/');
            if (!up) return;
            *up = 0;
            snprintf(helper, sizeof helper, "%s/libexec/envyro/envyro-nshelper", real);
        }
    }
    if (access(helper, X_OK) != 0) return;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return;
    char *args[] = { helper, "--policy", (char *)name, "--fd", "3", NULL };
    int how = 0;
    pid_t pid = envyro_spawn_sealed_helper(helper, args, environ, sv[1], &how);
    close(sv[1]);
    /* Our end survives the exec into envyro-cli; it marks it close-on-exec again at once. */
    if (pid < 0 || fcntl(sv[0], F_SETFD, 0) != 0) { close(sv[0]); return; }
    char value[PATH_MAX + 160];
    snprintf(value, sizeof value, "%d %d %s %s", sv[0], (int)pid, name, helper);
    setenv("ENVYRO_PRESTARTED_HELPER", value, 1);
}

/* ---- envyro-runc: runc's command line ------------------------------------------------- */

/* Invoked as `envyro-runc` (the name engines are given), every argument is runc's and
 * envyro-cli serves it (EnvyroOCIRuntime), exec'd with argv[0] kept so it knows. For `create`
 * and `run`, which start a helper, the helper is started here first (prestart_helper), so its
 * start overlaps envyro-cli's and the bundle's reading. The policy is resolved as
 * OCIRuntime.policyName does: --policy, else $ENVYRO_OCI_POLICY, else "oci"; a flag this
 * doesn't know means no prestart, and envyro-cli starts the helper itself. */
static void runc_front(int argc, char **argv) {
    static const char *const valued[] = { "root", "log", "log-format", "criu", "rootless", "cgroup-manager", "policy" };
    static const char *const boolean[] = { "debug", "systemd-cgroup" };
    const char *policy = NULL;
    int known = 1, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *name = argv[i] + (argv[i][1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        int is_valued = 0, is_boolean = 0;
        for (size_t k = 0; k < sizeof valued / sizeof *valued; k++)
            if (strlen(valued[k]) == n && !strncmp(valued[k], name, n)) is_valued = 1;
        for (size_t k = 0; k < sizeof boolean / sizeof *boolean; k++)
            if (strlen(boolean[k]) == n && !strncmp(boolean[k], name, n)) is_boolean = 1;
        if (!is_valued && !is_boolean) { known = 0; break; }
        if (!is_valued) continue;
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (n == 6 && !strncmp(name, "policy", 6)) policy = value;
    }
    if (known && i < argc && (!strcmp(argv[i], "create") || !strcmp(argv[i], "run"))) {
        if (!policy) policy = getenv("ENVYRO_OCI_POLICY");
        prestart_helper(policy && *policy ? policy : "oci");
    }
    static char path[PATH_MAX + 64];
    if (locate_cli(path, sizeof path) == 0) execv(path, argv);
    fprintf(stderr, "envyro-runc: envyro-cli is missing beside this envyro (or in ../libexec/envyro/); reinstall envyro\n");
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

/* The run flags this front serves: the rows of the Swift table (EnvyroProtocol's RunField.all)
 * marked `front`, with their RunSpec JSON key (NULL: the flag stays here) and how a value is
 * read and written. `envyro --list-run-flags` prints this table; a test compares it with the
 * Swift one, so the two can't drift. A flag not in it (--json, --timings, --stats, --help, a
 * typo) makes the front hand the command line to envyro-cli. */
enum kind { K_STRING, K_PATH, K_LIST, K_BOOL, K_INT, K_NUMBER };
static const char *const kind_names[] = { "string", "path", "list", "bool", "int", "number" };
struct flag_row { const char *name, *key; enum kind kind; };
static const struct flag_row flags_table[] = {
    { "policy", "policy", K_STRING },          { "supervisor", NULL, K_STRING },
    { "rootfs", "rootfs", K_PATH },            { "rootfs-rw", "rootfsWritable", K_BOOL },
    { "hostname", "hostname", K_STRING },      { "env", "env", K_LIST },
    { "cwd", "cwd", K_STRING },                { "network", "network", K_STRING },
    { "timeout", "timeout", K_NUMBER },        { "init", "init", K_BOOL },
    { "userns", "userns", K_STRING },          { "uidmap", "uidmap", K_LIST },
    { "gidmap", "gidmap", K_LIST },            { "executor", "executor", K_STRING },
    { "seccomp", "seccomp", K_PATH },          { "memory", "memory", K_STRING },
    { "memory-swap", "memorySwap", K_STRING }, { "pids-limit", "pidsLimit", K_INT },
    { "cpus", "cpus", K_STRING },              { "cpu-shares", "cpuShares", K_INT },
    { "cpuset-cpus", "cpusetCpus", K_STRING }, { "blkio-weight", "blkioWeight", K_INT },
    { "profile", "profile", K_STRING },        { "log-dir", "logDir", K_PATH },
    { "log-limit", "logLimit", K_STRING },     { "log-tee", "logTee", K_BOOL },
};
#define NFLAGS ((int)(sizeof flags_table / sizeof flags_table[0]))

/* The flags given, in order: a row and its value ("true" for a switch). */
struct flags { struct { int row; const char *value; } *given; int n; };

static int flag_row(const char *name) {
    for (int r = 0; r < NFLAGS; r++) if (!strcmp(flags_table[r].name, name)) return r;
    return -1;
}
/* The last value given for row `r`, or NULL. */
static const char *last(const struct flags *f, int r) {
    for (int i = f->n - 1; i >= 0; i--) if (f->given[i].row == r) return f->given[i].value;
    return NULL;
}
static const char *flag(const struct flags *f, const char *name) { return last(f, flag_row(name)); }

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
        int r = flag_row(name);
        if (r < 0) return -1;
        const char *v = "true";
        if (flags_table[r].kind == K_BOOL) { if (eq) return -1; }
        else if (!(v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL))) return -1;
        if (flags_table[r].kind == K_INT && !is_integer(v)) return -1;
        if (flags_table[r].kind == K_NUMBER && !is_number(v)) return -1;
        f->given[f->n].row = r;
        f->given[f->n++].value = v;
    }
    if (i >= argc || argv[i][0] == '-') return -1;
    return i;
}

/* ---- the RunSpec: every row with a key, from the table (unset: null; the supervisor's reader
 * gives it its default) -------------------------------------------------------------------- */

static int put_path(struct buf *b, const char *v) {
    if (v[0] == '/') return put_string(b, v);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return -1;
    struct buf t = { 0 };
    puts_(&t, cwd); puts_(&t, "/"); puts_(&t, v);
    int r = put_string(b, t.p);
    free(t.p);
    return r;
}

static int spec(struct buf *b, const struct flags *f, int argc, char **argv, int cmd) {
    puts_(b, "{\"argv\":[");
    for (int i = cmd; i < argc; i++) { if (i > cmd) puts_(b, ","); if (put_string(b, argv[i]) < 0) return -1; }
    puts_(b, "]");
    for (int r = 0; r < NFLAGS; r++) {
        const struct flag_row *row = &flags_table[r];
        if (!row->key) continue;
        puts_(b, ",\""); puts_(b, row->key); puts_(b, "\":");
        if (row->kind == K_LIST) {
            int first = 1;
            puts_(b, "[");
            for (int i = 0; i < f->n; i++) {
                if (f->given[i].row != r) continue;
                if (!first) puts_(b, ",");
                first = 0;
                if (put_string(b, f->given[i].value) < 0) return -1;
            }
            puts_(b, "]");
            continue;
        }
        const char *v = last(f, r);
        if (row->kind == K_BOOL) puts_(b, v ? "true" : "false");
        else if (!v) puts_(b, "null");
        else if (row->kind == K_INT || row->kind == K_NUMBER) puts_(b, v);
        else if ((row->kind == K_PATH ? put_path(b, v) : put_string(b, v)) < 0) return -1;
    }
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
int main(int argc, char **argv) {
    /* Hidden: the flag table, one row a line (name, JSON key or -, kind), for the test that
     * compares it with the Swift table. */
    if (argc == 2 && !strcmp(argv[1], "--list-run-flags")) {
        for (int r = 0; r < NFLAGS; r++)
            printf("%s %s %s\n", flags_table[r].name, flags_table[r].key ? flags_table[r].key : "-", kind_names[flags_table[r].kind]);
        return 0;
    }
    const char *base = strrchr(argv[0], '/');
    if (!strcmp(base ? base + 1 : argv[0], "envyro-runc")) runc_front(argc, argv);
    if (argc < 3 || strcmp(argv[1], "run") != 0) exec_cli(argc, argv);
    struct flags f = { calloc((size_t)argc, sizeof *f.given), 0 };
    if (!f.given) exec_cli(argc, argv);
    int cmd = parse(argc, argv, &f);
    const char *supervisor = flag(&f, "supervisor"), *policy = flag(&f, "policy"), *timeout = flag(&f, "timeout");
    if (cmd < 0) exec_cli(argc, argv);
    if (supervisor && !strcmp(supervisor, "never")) { prestart_helper(policy); exec_cli(argc, argv); }

    /* The supervisor's socket: --supervisor PATH, else the default (as envyro-cli finds it). */
    char path[PATH_MAX];
    if (supervisor && strcmp(supervisor, "auto") != 0) snprintf(path, sizeof path, "%s", supervisor);
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
    int automatic = !supervisor || !strcmp(supervisor, "auto");
    const char *off = getenv("ENVYRO_AUTO_SUPERVISOR");
    const char *name = policy ? policy : "default";
    if (sock < 0 && automatic && !(off && !strcmp(off, "0")) && plain_name(name)) {
        char *slash = strrchr(path, '/');
        if (slash && (size_t)(slash - path) + strlen(name) + 16 < sizeof path) {
            snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "auto-%s.sock", name);
            sock = connect_checked(path);
        }
    }
    if (sock < 0) { if (automatic) prestart_helper(policy); exec_cli(argc, argv); }

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
            /* Limits without a cgroup: what was enforced by rlimits and what was not. */
            if (value_of(reply, "limitNote")) { fputs("envyro: note: ", stderr); print_string(reply, "limitNote"); fputc('\n', stderr); }
            if (bool_of(reply, "timedOut")) {
                double t = timeout ? strtod(timeout, NULL) : 0;
                if (t == (double)(long long)t) fprintf(stderr, "envyro: timed out after %llds; the container was killed\n", (long long)t);
                else fprintf(stderr, "envyro: timed out after %ss; the container was killed\n", timeout);
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
