/*
 * Starting envyro-nshelper so that no container can ever write its binary (CVE-2019-5736 class).
 *
 * Every container process is a clone of the helper until it execs: while it is, /proc/self/exe
 * (and /proc/PID/exe for anything that can see it) is the helper's binary on the host. A workload
 * whose program is `#!/proc/self/exe`, or a process that opens /proc/PID/exe of a helper image
 * and reopens it for writing once that exits, would then overwrite the host's binary -- as
 * container root, which is host root for root's single-id map or a bundle without a user
 * namespace, and the caller for a binary the caller owns. So the helper is started from a
 * binary nothing in a container can write:
 *
 *   1. When no id a container can have may write it (owned by root, not group- or
 *      other-writable, caller not root): as it is, by posix_spawn. The installed helper
 *      (root-owned, with file capabilities) takes this path, keeping its file capabilities.
 *   2. Root: in a mount namespace of its own (a slave of the caller's, so later host mounts
 *      still reach it and nothing of it reaches the host) where the binary is bound read-only
 *      onto itself. /proc/PID/exe then names a read-only mount: EROFS, even for root.
 *   3. Otherwise (an ordinary user's own build, or where 2 is refused): a sealed memfd copy
 *      (no write, grow or shrink, ever), exec'd with execveat. Made once per process and reused.
 *
 * The plain spawns (a helper as it is, a detached supervisor) are here too: every process envyro
 * starts is started by this file, which the C front links as well (it starts the helper of a run
 * with no supervisor, overlapping the helper's start with envyro-cli's).
 *
 * Why C: the child of a multi-threaded process may only make raw syscalls between clone and
 * execve. It runs as posix_spawn's does: CLONE_VM|CLONE_VFORK on a stack of its own, signals
 * blocked in the parent meanwhile, dispositions reset in the child.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct spawn_args {
    const char *path;
    char *const *argv;
    char *const *envp;
    int keep_fd;
    int memfd;          /* >= 0: exec this (mode 3) */
    int bind;           /* mode 2 */
    int err;            /* set by the child when it fails before exec */
};

/* The child: runs on its own stack, shares the parent's memory (the parent waits in vfork). */
static int spawn_child(void *p) {
    struct spawn_args *a = p;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        (void)syscall(SYS_rt_sigaction, sig, &dfl, NULL, _NSIG / 8);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, _NSIG / 8);

    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || dup2(null, 0) < 0) goto fail;
    if (null != 0) close(null);
    /* dup2 clears CLOEXEC on the target, so the socket survives exec as fd 3. */
    if (a->keep_fd == 3) { if (fcntl(3, F_SETFD, 0) < 0) goto fail; }
    else if (dup2(a->keep_fd, 3) < 0) goto fail;

    if (a->bind) {
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) goto fail;
        if (mount(a->path, a->path, NULL, MS_BIND, NULL) < 0) goto fail;
        if (envyro__remount_readonly(a->path) < 0) goto fail;
    }
    if (a->memfd >= 0) syscall(SYS_execveat, a->memfd, "", a->argv, a->envp, AT_EMPTY_PATH);
    else execve(a->path, a->argv, a->envp);
fail:
    a->err = errno ? errno : EIO;
    _exit(127);
}

/* One sealed copy per process, of one binary (the daemon restarts helpers from it). */
static pthread_mutex_t g_memfd_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_memfd = -1;
static struct stat g_memfd_of;

static int sealed_copy(const char *path, const struct stat *st) {
    pthread_mutex_lock(&g_memfd_lock);
    if (g_memfd >= 0 && g_memfd_of.st_dev == st->st_dev && g_memfd_of.st_ino == st->st_ino &&
        g_memfd_of.st_size == st->st_size && g_memfd_of.st_mtim.tv_sec == st->st_mtim.tv_sec &&
        g_memfd_of.st_mtim.tv_nsec == st->st_mtim.tv_nsec) {
        int fd = g_memfd;
        pthread_mutex_unlock(&g_memfd_lock);
        return fd;
    }
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : memfd_create("envyro-nshelper", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int ok = out >= 0 && ftruncate(out, st->st_size) == 0;
    off_t off = 0;
    while (ok && off < st->st_size) {
        ssize_t n = sendfile(out, in, &off, (size_t)(st->st_size - off));
        if (n <= 0) { if (n < 0 && errno == EINTR) continue; ok = 0; if (n == 0) errno = EIO; }
    }
    if (ok) ok = fcntl(out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0;
    int e = errno;
    if (in >= 0) close(in);
    if (!ok) {
        if (out >= 0) close(out);
        pthread_mutex_unlock(&g_memfd_lock);
        errno = e;
        return -1;
    }
    if (g_memfd >= 0) close(g_memfd);
    g_memfd = out;
    g_memfd_of = *st;
    pthread_mutex_unlock(&g_memfd_lock);
    return out;
}

static pid_t spawn_with(struct spawn_args *a, unsigned long extra_flags) {
    enum { STACK = 64 * 1024 };
    void *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return -1;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    a->err = 0;
    pid_t pid = clone(spawn_child, (char *)stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD | extra_flags, a);
    int e = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, STACK);
    if (pid < 0) { errno = e; return -1; }
    if (a->err) {
        /* It failed before exec and has exited: reap it, report why. */
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        errno = a->err;
        return -1;
    }
    return pid;
}

/* posix_spawn attributes both spawns use: an empty signal mask, every signal at its default,
 * plus `flags` (POSIX_SPAWN_SETSID for a daemon). */
static int spawn_attributes(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr, short flags) {
    int err;
    if ((err = posix_spawn_file_actions_init(fa)) != 0) return err;
    if ((err = posix_spawnattr_init(attr)) != 0) { posix_spawn_file_actions_destroy(fa); return err; }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(attr, &none);
    posix_spawnattr_setsigdefault(attr, &all);
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | flags);
    return 0;
}

pid_t envyro_spawn_helper(const char *path, char *const argv[], char *const envp[], int keep_fd) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    pid_t pid = -1;
    int err = spawn_attributes(&fa, &attr, 0);
    if (err != 0) { errno = err; return -1; }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    /* dup2 clears CLOEXEC on the target, so the socket survives exec as fd 3. */
    if (keep_fd == 3) {
        int tmp = fcntl(keep_fd, F_DUPFD_CLOEXEC, 10);
        if (tmp < 0) { err = errno; goto out; }
        posix_spawn_file_actions_adddup2(&fa, tmp, 3);
        err = posix_spawn(&pid, path, &fa, &attr, argv, envp);
        close(tmp);
    } else {
        posix_spawn_file_actions_adddup2(&fa, keep_fd, 3);
        err = posix_spawn(&pid, path, &fa, &attr, argv, envp);
    }
out:
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (err != 0) { errno = err; return -1; }
    return pid;
}

/* A daemon of the caller's: a new session (no controlling terminal, out of the shell's job
 * control), stdio on /dev/null, default signals, and nothing else inherited. Not waited for: it
 * outlives the caller. */
pid_t envyro_spawn_detached(const char *path, char *const argv[], char *const envp[]) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    pid_t pid = -1;
    int err = spawn_attributes(&fa, &attr, POSIX_SPAWN_SETSID);
    if (err != 0) { errno = err; return -1; }
    for (int i = 0; i < 3; i++) posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    /* Nothing else of the caller's: a descriptor it didn't mark close-on-exec (a dup of its
     * stdout, say) would keep the caller's pipe open for the daemon's lifetime, and
     * `out=$(envyro run ...)` would wait for the daemon's idle exit. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    err = posix_spawn(&pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (err != 0) { errno = err; return -1; }
    return pid;
}

pid_t envyro_spawn_sealed_helper(const char *path, char *const argv[], char *const envp[], int keep_fd, int *how) {
    struct stat st;
    *how = 0;
    if (stat(path, &st) < 0) return -1;
    uid_t me = geteuid();
    int writable = me == 0 || st.st_uid == me || st.st_uid == getuid() || (st.st_mode & (S_IWGRP | S_IWOTH));
    if (!writable) return envyro_spawn_helper(path, argv, envp, keep_fd);

    struct spawn_args a = { .path = path, .argv = argv, .envp = envp, .keep_fd = keep_fd, .memfd = -1, .bind = 0, .err = 0 };
    if (me == 0) {
        a.bind = 1;
        pid_t pid = spawn_with(&a, CLONE_NEWNS);
        if (pid >= 0) { *how = 1; return pid; }
        /* EPERM/EINVAL: root of a user namespace that doesn't own its mount namespace, or a
         * kernel that refuses; the copy works everywhere. */
        a.bind = 0;
    }
    a.memfd = sealed_copy(path, &st);
    if (a.memfd < 0) return -1;
    pid_t pid = spawn_with(&a, 0);
    if (pid >= 0) *how = 2;
    return pid;
}
