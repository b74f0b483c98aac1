/*
 * Smoke test of the trampoline's OCI mode and envyro_container_exec, driven from C the way the
 * Swift helper drives it: fill envyro_container_config, envyro_container_clone, read READY,
 * write the id maps, send the sync byte, read the records. Run as root: Tests/ctrampoline/run.sh
 */
#include "cenvyro.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <linux/capability.h>

static int failures = 0;
static char tmpdir[256], rootfs[300], hostfile[300], sockpath[300];

static void check(int ok, const char *name, const char *detail) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    if (!ok) { failures++; if (detail) printf("----- output -----\n%s\n------------------\n", detail); }
    fflush(stdout);
}

static void sh(const char *cmd) { if (system(cmd) != 0) { fprintf(stderr, "setup failed: %s\n", cmd); exit(2); } }

static void write_file(const char *path, const char *s) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) { fprintf(stderr, "write %s: %s\n", path, strerror(errno)); exit(2); }
    close(fd);
}

/* Reads one {step, errno} record; returns 0 on EOF, 1 on a record. */
static int read_record(int fd, struct envyro_child_error *e) {
    size_t got = 0;
    while (got < sizeof *e) {
        ssize_t n = read(fd, (char *)e + got, sizeof *e - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        got += (size_t)n;
    }
    return 1;
}

static void read_all(int fd, char *buf, size_t cap) {
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
        if (got >= cap - 1) break;
    }
    buf[got] = 0;
}

static int wait_exit(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0) if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define BIT(c) (1ULL << (c))

/* One container: clone, id maps, sync; returns the first record after READY (0 = EOF). */
static int create(struct envyro_container_config *cfg, struct envyro_container_handles *h, struct envyro_child_error *rec) {
    if (envyro_container_clone(cfg, h) < 0) { perror("envyro_container_clone"); exit(2); }
    struct envyro_child_error ready;
    if (!read_record(h->error_fd, &ready) || ready.step != ENVYRO_STEP_READY) {
        *rec = ready;
        return 1;
    }
    if (cfg->clone_flags & CLONE_NEWUSER) {
        char p[64];
        /* setgroups stays "allow" (root writes the maps): additional gids need it. */
        snprintf(p, sizeof p, "/proc/%d/uid_map", h->pid); write_file(p, "0 100000 65536\n");
        snprintf(p, sizeof p, "/proc/%d/gid_map", h->pid); write_file(p, "0 100000 65536\n");
    }
    if (write(h->sync_fd, "x", 1) != 1) { perror("sync"); exit(2); }
    close(h->sync_fd);
    return read_record(h->error_fd, rec);
}

static const char *const kEnv[] = { "PATH=/bin", "HOME=/", NULL };

/* The bundle of test (a): what runc's default spec gives, plus the test's extras. */
static struct envyro_mount mounts[16];
static struct envyro_device devices[6];
static struct envyro_rlimit rlimits[1] = { { RLIMIT_NOFILE, 1024, 1024 } };
static struct envyro_sysctl sysctls[1] = { { "kernel.shmmax", "12345678" } };
static const uint32_t gids[1] = { 5 };
static const char *masked[] = { "/proc/kcore", "/proc/kmsg", "/proc/acpi", NULL };
static const char *ronly[] = { "/proc/sys", NULL };

static int base_mounts(struct envyro_mount *m, int with_cgroup) {
    int n = 0;
    m[n++] = (struct envyro_mount){ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, NULL };
    m[n++] = (struct envyro_mount){ "tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, 0, "mode=755,size=65536k" };
    m[n++] = (struct envyro_mount){ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, 0, "newinstance,ptmxmode=0666,mode=0620" };
    m[n++] = (struct envyro_mount){ "shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, 0, "mode=1777,size=65536k" };
    m[n++] = (struct envyro_mount){ "mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, 0, NULL };
    m[n++] = (struct envyro_mount){ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, 0, NULL };
    if (with_cgroup)
        m[n++] = (struct envyro_mount){ "cgroup", "/sys/fs/cgroup", "cgroup", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY, 0, NULL };
    m[n++] = (struct envyro_mount){ hostfile, "/etc/hostfile", NULL, MS_BIND | MS_RDONLY, MS_PRIVATE, NULL };
    return n;
}

static void base_devices(void) {
    static const struct { const char *p; unsigned maj, min; } d[6] = {
        { "/dev/null", 1, 3 }, { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
        { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
    };
    for (int i = 0; i < 6; i++)
        devices[i] = (struct envyro_device){ d[i].p, S_IFCHR | 0666, d[i].maj, d[i].min, 0, 0 };
}

static void base_oci(struct envyro_oci_config *oci) {
    memset(oci, 0, sizeof *oci);
    oci->mounts = mounts;
    oci->mount_count = base_mounts(mounts, 1);
    oci->devices = devices; oci->device_count = 6;
    oci->umask = -1;
    /* All the capabilities we have (as the helper's policy intersection would give). */
    oci->cap_bounding = oci->cap_effective = oci->cap_permitted = oci->cap_inheritable = envyro_effective_capabilities();
    oci->start_fd = -1;
    oci->console_fd = -1;
}

static void base_cfg(struct envyro_container_config *cfg, struct envyro_oci_config *oci, uint64_t flags, const char *const *argv, int out) {
    memset(cfg, 0, sizeof *cfg);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cfg->clone_flags = flags;
    cfg->stdio[0] = devnull; cfg->stdio[1] = out; cfg->stdio[2] = out;
    cfg->hostname = "oci-test";
    cfg->rootfs = rootfs;
    cfg->cwd = "/";
    cfg->argv = argv;
    cfg->envp = (const char *const *)kEnv;
    cfg->search_path = "/bin";
    cfg->loopback_up = 1;
    cfg->oci = oci;
}

/* Runs a container to completion; returns its exit code, output in buf. */
static int run(struct envyro_container_config *cfg, int outr, char *buf, size_t cap, struct envyro_child_error *rec, int *had_rec) {
    struct envyro_container_handles h;
    *had_rec = create(cfg, &h, rec);
    close(cfg->stdio[0]);
    close(cfg->stdio[1]);
    read_all(outr, buf, cap);
    close(outr);
    close(h.error_fd);
    int code = wait_exit(h.pid);
    close(h.pidfd);
    return code;
}

static const char kScript[] =
    "id; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status; echo nofile=$(ulimit -n);"
    "stat -c '%n %F %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty;"
    "ls -l /dev; echo ptmx=$(readlink /dev/ptmx); echo fd=$(readlink /dev/fd);"
    "echo shmmax=$(cat /proc/sys/kernel/shmmax); echo host=$(hostname); echo dom=$(cat /proc/sys/kernel/domainname);"
    "cat /etc/hostfile; (echo x > /etc/hostfile) 2>/dev/null && echo hostfile-writable || echo hostfile-ro;"
    "(echo x > /proc/sys/kernel/shmmax) 2>/dev/null && echo procsys-writable || echo procsys-ro;"
    "ls /sys/fs/cgroup | tr '\\n' ' '; echo; cat /proc/self/mountinfo; echo umask=$(umask)";

static void test_a(const char *label, uint64_t flags) {
    struct envyro_oci_config oci;
    struct envyro_container_config cfg;
    base_oci(&oci);
    base_devices();
    oci.rlimits = rlimits; oci.rlimit_count = 1;
    oci.sysctls = sysctls; oci.sysctl_count = 1;
    oci.uid = 1000; oci.gid = 1000;
    oci.additional_gids = gids; oci.additional_gid_count = 1;
    oci.umask = 027;
    oci.domainname = "oci.example";
    oci.cap_bounding = oci.cap_effective = oci.cap_permitted = oci.cap_inheritable = oci.cap_ambient = BIT(CAP_KILL);
    int p[2];
    pipe2(p, O_CLOEXEC);
    const char *argv[] = { "sh", "-c", kScript, NULL };
    base_cfg(&cfg, &oci, flags, argv, p[1]);
    cfg.masked_paths = masked;
    cfg.readonly_paths = ronly;
    cfg.no_new_privs = 1;
    static char out[65536];
    struct envyro_child_error rec;
    int had;
    int code = run(&cfg, p[0], out, sizeof out, &rec, &had);
    char name[128];
    if (had) { printf("  record: step %d (%s) errno %d (%s)\n", rec.step, envyro_step_name(rec.step), rec.err, strerror(rec.err)); }
#define T(what, cond) do { snprintf(name, sizeof name, "(a %s) %s", label, what); check((cond), name, out); } while (0)
    T("create and exit 0", !had && code == 0);
    T("user uid=1000 gid=1000 groups=5", strstr(out, "uid=1000 gid=1000 groups=5") != NULL);
    T("CapBnd only CAP_KILL", strstr(out, "CapBnd:\t0000000000000020") != NULL);
    T("CapEff only CAP_KILL (ambient)", strstr(out, "CapEff:\t0000000000000020") != NULL && strstr(out, "CapAmb:\t0000000000000020") != NULL);
    T("rlimit nofile 1024", strstr(out, "nofile=1024") != NULL);
    T("devices 1:3 1:5 1:7 1:8 1:9 5:0",
      strstr(out, "/dev/null character special file 1:3") && strstr(out, "/dev/zero character special file 1:5") &&
      strstr(out, "/dev/full character special file 1:7") && strstr(out, "/dev/random character special file 1:8") &&
      strstr(out, "/dev/urandom character special file 1:9") && strstr(out, "/dev/tty character special file 5:0"));
    T("/dev/ptmx -> pts/ptmx, /dev/fd link", strstr(out, "ptmx=pts/ptmx") && strstr(out, "fd=/proc/self/fd"));
    T("sysctl kernel.shmmax", strstr(out, "shmmax=12345678") != NULL);
    T("hostname and domainname", strstr(out, "host=oci-test") && strstr(out, "dom=oci.example"));
    T("ro bind of a host file", strstr(out, "hostfile-content") && strstr(out, "hostfile-ro"));
    T("readonly path /proc/sys", strstr(out, "procsys-ro") != NULL);
    T("mounts proc, dev, devpts, shm, mqueue, sysfs ro",
      strstr(out, " /proc rw,") && strstr(out, " /dev rw,") && strstr(out, " /dev/pts rw,") &&
      strstr(out, " /dev/shm rw,") && strstr(out, " /dev/mqueue rw,") && strstr(out, " /sys ro,"));
    T("masked /proc/kmsg (file) and /proc/acpi (dir)", strstr(out, " /proc/kmsg rw,") && strstr(out, " /proc/acpi ro,"));
    T("cgroup tree ro with memory, pids", strstr(out, " /sys/fs/cgroup ro,") && strstr(out, " /sys/fs/cgroup/memory ro,") && strstr(out, "pids"));
    T("umask 0027", strstr(out, "umask=0027") != NULL);
    if (getenv("VERBOSE")) puts(out);
#undef T
}

/* (a') user namespace without a network namespace: sysfs falls back to a ro bind of /sys. */
static void test_sysfs_fallback(void) {
    struct envyro_oci_config oci;
    struct envyro_container_config cfg;
    base_oci(&oci);
    base_devices();
    int p[2];
    pipe2(p, O_CLOEXEC);
    const char *argv[] = { "sh", "-c", "grep ' /sys ' /proc/self/mountinfo; (echo x > /sys/kernel/uevent_helper) 2>/dev/null || echo sys-ro", NULL };
    base_cfg(&cfg, &oci, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC, argv, p[1]);
    cfg.loopback_up = 0;
    static char out[16384];
    struct envyro_child_error rec;
    int had;
    int code = run(&cfg, p[0], out, sizeof out, &rec, &had);
    if (had) printf("  record: step %d (%s) errno %s\n", rec.step, envyro_step_name(rec.step), strerror(rec.err));
    check(!had && code == 0 && strstr(out, " /sys ro,") && strstr(out, "sys-ro"), "(a userns, no netns) sysfs falls back to a read-only bind of /sys", out);
}

static int listen_socket(void) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    unlink(sockpath);
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sockpath);
    if (bind(s, (void *)&a, sizeof a) < 0 || listen(s, 1) < 0) { perror("start socket"); exit(2); }
    return s;
}

static void start_container(void) {
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sockpath);
    if (connect(c, (void *)&a, sizeof a) < 0 || write(c, "s", 1) != 1) { perror("start"); exit(2); }
    close(c);
}

/* A held container (argv as given), PREPARED checked; returns handles, output pipe read end. */
static int create_held(const char *label, uint64_t flags, const char *const *argv, struct envyro_container_handles *h, int *outr) {
    static struct envyro_oci_config oci;
    struct envyro_container_config cfg;
    base_oci(&oci);
    base_devices();
    oci.mount_count = base_mounts(mounts, 0);
    int p[2];
    pipe2(p, O_CLOEXEC);
    base_cfg(&cfg, &oci, flags, argv, p[1]);
    int ls = listen_socket();
    oci.start_fd = ls;
    struct envyro_child_error rec;
    int had = create(&cfg, h, &rec);
    close(ls); close(cfg.stdio[0]); close(cfg.stdio[1]);
    *outr = p[0];
    char name[128];
    snprintf(name, sizeof name, "(b %s) PREPARED arrives", label);
    check(had && rec.step == ENVYRO_STEP_PREPARED, name, NULL);
    if (had && rec.step != ENVYRO_STEP_PREPARED) printf("  record: step %d (%s) errno %s\n", rec.step, envyro_step_name(rec.step), strerror(rec.err));
    return had && rec.step == ENVYRO_STEP_PREPARED;
}

static void test_b(const char *label, uint64_t flags) {
    struct envyro_container_handles h;
    int outr;
    const char *argv[] = { "sh", "-c", "echo started; exit 7", NULL };
    if (!create_held(label, flags, argv, &h, &outr)) return;
    char exe[512], self[512], path[64], name[128];
    usleep(100000);
    snprintf(path, sizeof path, "/proc/%d/exe", h.pid);
    ssize_t n = readlink(path, exe, sizeof exe - 1); exe[n > 0 ? n : 0] = 0;
    n = readlink("/proc/self/exe", self, sizeof self - 1); self[n > 0 ? n : 0] = 0;
    snprintf(name, sizeof name, "(b %s) held process has not exec'd (exe is the driver)", label);
    check(strstr(exe, "oci_smoke") != NULL, name, exe);
    start_container();
    struct envyro_child_error rec;
    int had = read_record(h.error_fd, &rec);
    char out[4096];
    read_all(outr, out, sizeof out);
    int code = wait_exit(h.pid);
    snprintf(name, sizeof name, "(b %s) start: error pipe EOF, output, exit code 7", label);
    check(!had && strstr(out, "started") && code == 7, name, out);
    close(outr); close(h.error_fd); close(h.pidfd);

    /* A missing argv[0] fails create, with no PREPARED. */
    static struct envyro_oci_config oci;
    struct envyro_container_config cfg;
    base_oci(&oci);
    base_devices();
    oci.mount_count = base_mounts(mounts, 0);
    int p[2];
    pipe2(p, O_CLOEXEC);
    const char *argv2[] = { "/bin/nope", NULL };
    base_cfg(&cfg, &oci, flags, argv2, p[1]);
    int ls = listen_socket();
    oci.start_fd = ls;
    had = create(&cfg, &h, &rec);
    close(ls); close(cfg.stdio[0]); close(cfg.stdio[1]); close(p[0]);
    code = wait_exit(h.pid);
    snprintf(name, sizeof name, "(b %s) missing argv[0]: create fails with exec/ENOENT", label);
    check(had && rec.step == ENVYRO_STEP_EXEC && rec.err == ENOENT && code == 127, name, NULL);
    close(h.error_fd); close(h.pidfd);
}

/* (c) detached vs attached: a sub-process creates a running container and exits. */
static int proc_alive(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[2] != 'Z' && rp[2] != 'X';
}

static void test_c(int detached) {
    int p[2];
    pipe(p);
    pid_t sub = fork();
    if (sub == 0) {
        close(p[0]);
        struct envyro_oci_config oci;
        struct envyro_container_config cfg;
        base_oci(&oci);
        base_devices();
        oci.mount_count = base_mounts(mounts, 0);
        oci.detached = detached;
        const char *argv[] = { "sleep", "30", NULL };
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        base_cfg(&cfg, &oci, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET, argv, devnull);
        struct envyro_container_handles h;
        struct envyro_child_error rec;
        int had = create(&cfg, &h, &rec);
        if (had) printf("  record: step %d (%s) errno %s\n", rec.step, envyro_step_name(rec.step), strerror(rec.err));
        int32_t pid = had ? -1 : h.pid;
        write(p[1], &pid, sizeof pid);
        _exit(0);
    }
    close(p[1]);
    int32_t pid = -1;
    read(p[0], &pid, sizeof pid);
    close(p[0]);
    wait_exit(sub);
    usleep(200000);
    int alive = pid > 0 && proc_alive(pid);
    if (getenv("VERBOSE")) { char c[128]; snprintf(c, sizeof c, "grep -E 'State|PPid' /proc/%d/status", pid); system(c); }
    char name[128];
    snprintf(name, sizeof name, "(c) %s container %s its helper's exit", detached ? "detached" : "attached", detached ? "survives" : "dies with");
    check(pid > 0 && (detached ? alive : !alive), name, NULL);
    if (pid > 0) { kill(pid, SIGKILL); wait_exit(pid); }   /* we are the subreaper */
}

/* (d) symlinks in the rootfs can't send a mount outside it. */
static void test_d(uint64_t flags, const char *label) {
    struct envyro_oci_config oci;
    struct envyro_container_config cfg;
    base_oci(&oci);
    base_devices();
    int n = base_mounts(mounts, 0);
    mounts[n++] = (struct envyro_mount){ "tmpfs", "/evil/envyro-escape-x", "tmpfs", 0, 0, NULL };
    mounts[n++] = (struct envyro_mount){ hostfile, "/up/envyro-escape-y", NULL, MS_BIND, 0, NULL };
    mounts[n++] = (struct envyro_mount){ "tmpfs", "/dotdot/../../../../envyro-escape-z", "tmpfs", 0, 0, NULL };
    oci.mount_count = n;
    /* A device node through the link (mknod only as real root: in a user namespace the
     * node is a bind of the same host path, which doesn't exist here). */
    static struct envyro_device dev2[1];
    dev2[0] = (struct envyro_device){ "/evil/envyro-escape-null", S_IFCHR | 0666, 1, 3, 0, 0 };
    oci.devices = dev2; oci.device_count = (flags & CLONE_NEWUSER) ? 0 : 1;
    int p[2];
    pipe2(p, O_CLOEXEC);
    const char *argv[] = { "sh", "-c", "grep envyro-escape /proc/self/mountinfo; ls -l /etc", NULL };
    base_cfg(&cfg, &oci, flags, argv, p[1]);
    static char out[16384];
    struct envyro_child_error rec;
    int had;
    int code = run(&cfg, p[0], out, sizeof out, &rec, &had);
    if (had) printf("  record: step %d (%s) errno %s\n", rec.step, envyro_step_name(rec.step), strerror(rec.err));
    char name[128], path[400];
    struct stat st;
    int host_clean = stat("/etc/envyro-escape-x", &st) < 0 && stat("/etc/envyro-escape-null", &st) < 0 &&
                     stat("/envyro-escape-z", &st) < 0;
    snprintf(path, sizeof path, "%s/../envyro-escape-y", tmpdir);
    host_clean = host_clean && stat(path, &st) < 0;
    snprintf(name, sizeof name, "(d %s) mounts through /evil -> /etc, /up -> ../../.., dotdot stay inside the rootfs", label);
    snprintf(path, sizeof path, "%s/etc/envyro-escape-x", rootfs);
    int inside = stat(path, &st) == 0;
    check(!had && code == 0 && host_clean && inside && strstr(out, " /etc/envyro-escape-x ") && strstr(out, " /envyro-escape-z "), name, out);
}

/* (e) exec into a running container. */
static void test_e(uint64_t flags, const char *label) {
    struct envyro_container_handles h;
    int outr;
    const char *argv[] = { "sleep", "30", NULL };
    if (!create_held(label, flags, argv, &h, &outr)) return;
    start_container();
    struct envyro_child_error rec;
    read_record(h.error_fd, &rec);   /* EOF: started */
    close(outr);
    usleep(100000);

    int p[2];
    pipe2(p, O_CLOEXEC);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct envyro_exec_config ec;
    memset(&ec, 0, sizeof ec);
    ec.target_pidfd = h.pidfd;
    ec.ns_flags = flags & (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET);
    ec.stdio[0] = devnull; ec.stdio[1] = p[1]; ec.stdio[2] = p[1];
    ec.console_fd = -1;
    ec.cwd = "/";
    const char *eargv[] = { "sh", "-c", "grep -E '^(NSpid|Uid|CapEff)' /proc/self/status; echo host=$(hostname); echo procs=$(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' ')", NULL };
    ec.argv = eargv;
    ec.envp = (const char *const *)kEnv;
    ec.search_path = "/bin";
    ec.uid = 0; ec.gid = 0;
    ec.umask = -1;
    /* uid 0 gets its bounding set as effective at exec (no SECBIT_NOROOT), as with runc. */
    ec.cap_bounding = BIT(CAP_KILL);
    ec.cap_effective = ec.cap_permitted = BIT(CAP_KILL);
    pid_t pid = 0;
    int step = 0;
    int r = envyro_container_exec(&ec, &pid, &step);
    int e = errno;
    close(devnull); close(p[1]);
    char out[8192];
    read_all(p[0], out, sizeof out);
    close(p[0]);
    int code = pid > 0 ? wait_exit(pid) : -1;
    if (r < 0) printf("  exec failed: step %d (%s) errno %s\n", step, envyro_step_name(step), strerror(e));
    char name[128];
    snprintf(name, sizeof name, "(e %s) exec sees the container's pid namespace, hostname, caps", label);
    check(r == 0 && pid > 0 && code == 0 && strstr(out, "host=oci-test") && strstr(out, "procs=1 ") &&
          strstr(out, "CapEff:\t0000000000000020"), name, out);

    /* An exec of a missing program reports exec/ENOENT. */
    const char *bad[] = { "nope", NULL };
    ec.argv = bad;
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    ec.stdio[0] = ec.stdio[1] = ec.stdio[2] = devnull;
    r = envyro_container_exec(&ec, &pid, &step);
    e = errno;
    close(devnull);
    if (pid > 0) wait_exit(pid);
    snprintf(name, sizeof name, "(e %s) exec of a missing program fails with exec/ENOENT", label);
    check(r < 0 && step == ENVYRO_STEP_EXEC && e == ENOENT, name, NULL);

    /* exec with a console: the pty is made in the container's devpts. */
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    const char *targv[] = { "sh", "-c", "tty; stty size", NULL };
    ec.argv = targv;
    ec.console_fd = sv[1];
    ec.console_rows = 24; ec.console_cols = 81;
    ec.stdio[0] = ec.stdio[1] = ec.stdio[2] = -1;
    pid = 0;
    r = envyro_container_exec(&ec, &pid, &step);
    e = errno;
    close(sv[1]);
    char nm[64] = { 0 }, tout[1024] = { 0 };
    int fds[2], nfds = 0, tr, ctr;
    ssize_t n = r == 0 ? envyro_recv_frame(sv[0], nm, sizeof nm - 1, fds, 2, &nfds, &tr, &ctr) : -1;
    if (n > 0) nm[n] = 0;
    if (nfds == 1) {
        size_t got = 0;
        for (;;) { ssize_t k = read(fds[0], tout + got, sizeof tout - 1 - got); if (k <= 0) break; got += (size_t)k; }
        tout[got] = 0;
        close(fds[0]);
    }
    close(sv[0]);
    if (pid > 0) wait_exit(pid);
    if (r < 0) printf("  exec failed: step %d (%s) errno %s\n", step, envyro_step_name(step), strerror(e));
    snprintf(name, sizeof name, "(e %s) exec with a console gets a pty of the container's devpts", label);
    check(r == 0 && nfds == 1 && strncmp(nm, "/dev/pts/", 9) == 0 && strstr(tout, "/dev/pts/") && strstr(tout, "24 81"), name, tout);

    envyro_pidfd_send_signal(h.pidfd, SIGKILL);
    wait_exit(h.pid);
    close(h.error_fd); close(h.pidfd);
}

/* rootfs propagation: "/" ends up as the bundle asks. */
static void test_propagation(uint64_t flags, unsigned long prop, const char *want, const char *label) {
    struct envyro_oci_config oci;
    struct envyro_container_config cfg;
    base_oci(&oci);
    base_devices();
    oci.mount_count = base_mounts(mounts, 0);
    oci.rootfs_propagation = prop;
    int p[2];
    pipe2(p, O_CLOEXEC);
    const char *argv[] = { "sh", "-c", "grep -E '^[0-9]+ [0-9]+ [0-9:]+ [^ ]+ / ' /proc/self/mountinfo", NULL };
    base_cfg(&cfg, &oci, flags, argv, p[1]);
    char out[4096];
    struct envyro_child_error rec;
    int had;
    int code = run(&cfg, p[0], out, sizeof out, &rec, &had);
    if (had) printf("  record: step %d (%s) errno %s\n", rec.step, envyro_step_name(rec.step), strerror(rec.err));
    char name[128];
    snprintf(name, sizeof name, "(propagation %s) \"/\" is %s", label, want);
    int ok = !had && code == 0 && out[0];
    if (strcmp(want, "private") == 0) ok = ok && !strstr(out, "shared:") && !strstr(out, "master:");
    else ok = ok && strstr(out, want);
    check(ok, name, out);
}

/* (f) console: the master comes back over the console socket, named /dev/pts/0. */
static void test_f(uint64_t flags, const char *label) {
    struct envyro_oci_config oci;
    struct envyro_container_config cfg;
    base_oci(&oci);
    base_devices();
    oci.mount_count = base_mounts(mounts, 0);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    oci.console_fd = sv[1];
    oci.console_rows = 30; oci.console_cols = 100;
    const char *argv[] = { "sh", "-c", "tty; stty size; echo pgrp=$(cut -d' ' -f5-7 /proc/self/stat)", NULL };
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    base_cfg(&cfg, &oci, flags, argv, devnull);
    struct envyro_container_handles h;
    struct envyro_child_error rec;
    int had = create(&cfg, &h, &rec);
    close(sv[1]); close(cfg.stdio[0]); close(devnull);
    char nm[64] = { 0 };
    int fds[2], nfds = 0, tr, ctr;
    ssize_t n = had ? -1 : envyro_recv_frame(sv[0], nm, sizeof nm - 1, fds, 2, &nfds, &tr, &ctr);
    if (n > 0) nm[n] = 0;
    char out[4096] = { 0 };
    if (nfds == 1) {
        /* The pty's output until the slave side closes (EIO). */
        size_t got = 0;
        for (;;) {
            ssize_t k = read(fds[0], out + got, sizeof out - 1 - got);
            if (k <= 0) break;
            got += (size_t)k;
        }
        out[got] = 0;
        close(fds[0]);
    }
    close(sv[0]);
    if (!had) had = read_record(h.error_fd, &rec);
    if (had) printf("  record: step %d (%s) errno %s\n", rec.step, envyro_step_name(rec.step), strerror(rec.err));
    int code = wait_exit(h.pid);
    char name[128];
    snprintf(name, sizeof name, "(f %s) console: master received as /dev/pts/0, tty and size inside", label);
    check(!had && code == 0 && nfds == 1 && strcmp(nm, "/dev/pts/0") == 0 && strstr(out, "/dev/pts/0") && strstr(out, "30 100"), name, out);
    close(h.error_fd); close(h.pidfd);
}

int main(void) {
    if (getuid() != 0) { fprintf(stderr, "run as root\n"); return 2; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/envyro-oci-smoke.XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", tmpdir);
    snprintf(hostfile, sizeof hostfile, "%s/hostfile", tmpdir);
    snprintf(sockpath, sizeof sockpath, "%s/start.sock", tmpdir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; chmod 755 %1$s; mkdir -p %2$s/bin %2$s/etc %2$s/proc %2$s/dev %2$s/sys %2$s/tmp; cp /bin/busybox %2$s/bin/busybox;"
             "for a in sh cat ls id echo sleep mount stat grep readlink hostname tty stty cut tr umask; do ln -s busybox %2$s/bin/$a; done;"
             "ln -s /etc %2$s/evil; ln -s ../../../../.. %2$s/up; mkdir %2$s/dotdot;"
             "echo hostfile-content > %3$s; chown -R 100000:100000 %2$s",
             tmpdir, rootfs, hostfile);
    sh(cmd);

    const uint64_t userns = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;
    const uint64_t rootns = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;
    test_a("userns", userns);
    test_a("root", rootns);
    test_sysfs_fallback();
    test_b("userns", userns);
    test_b("root", rootns);
    test_c(1);
    test_c(0);
    test_d(userns, "userns");
    test_d(rootns, "root");
    test_e(userns, "userns");
    test_e(rootns, "root");
    test_propagation(userns, 0, "private", "default");
    test_propagation(userns, MS_REC | MS_SHARED, "shared:", "rshared");
    test_propagation(rootns, MS_REC | MS_SLAVE, "private", "rslave of a private host root");
    test_f(userns, "userns");
    test_f(rootns, "root");

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    sh(cmd);
    /* No stray processes: every container was ours and reaped; reap anything reparented. */
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
}
