/*
 * An OCI bundle's child (`envyro oci create`), in runc's order: join the bundle's namespaces,
 * the id-map handshake, the rootfs bound by fd, the bundle's mounts (a cgroup tree among
 * them), devices, sysctls, masks, pivot_root, console, rlimits, user, capabilities, and, held,
 * wait for `start` before the exec.
 *
 * Why C: this runs in the child between clone and execve, where Swift must never run; only
 * raw, async-signal-safe syscalls (no malloc, no stdio, no locks). See trampoline.h.
 */
#include "cenvyro.h"
#include "trampoline.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <linux/magic.h>
#include <linux/openat2.h>

#define MS_PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)
#define MS_REMOUNT_BITS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME)

/* A mount hides what an fd opened before it points at: re-resolve the destination (runc: "the
 * previous call invalidates the passed procfd"). */
static int reopen_dest(int rootfd, int oldfd, const char *dest, char target[32]) {
    close(oldfd);
    int fd = envyro__open_in_root(rootfd, dest, O_PATH, 0);
    CHECK(ENVYRO_STEP_OCI_MOUNT, fd);
    fd_path(target, fd);
    return fd;
}

/* Bind `source` at the destination fd (or attach the helper's idmapped clone of it), then
 * apply the requested flags with a bind remount (a bind ignores them), keeping the flags the
 * kernel locked on the source. */
static int bind_at(int rootfd, int fd, const struct envyro_mount *m, const char *source, unsigned long flags, unsigned long rec) {
    char target[32];
    fd_path(target, fd);
    if (ENVYRO_MOUNT_HAS_TREE(m)) envyro__attach_tree(m, fd);
    else if (m->extra & ENVYRO_MOUNT_SRC_NOFOLLOW) envyro__bind_nofollow(m, target, rec);
    else CHECK(ENVYRO_STEP_OCI_MOUNT, mount(source, target, NULL, MS_BIND | rec, NULL));
    close(fd);
    fd = envyro__reopen_dest(rootfd, m);
    CHECK(ENVYRO_STEP_OCI_MOUNT, fd);
    fd_path(target, fd);
    if (flags & MS_REMOUNT_BITS)
        CHECK(ENVYRO_STEP_OCI_MOUNT, mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | (flags & MS_REMOUNT_BITS) | envyro__locked_flags(target), NULL));
    return fd;
}

/* Set in the OCI path: whether the container has a cgroup namespace of its own. */
static int g_own_cgroupns = 0;

/* Our own cgroup path in the hierarchy mounted at /sys/fs/cgroup/<name>, from /proc/self/cgroup
 * ("4:memory:/envyro/root/oci-x"; "name=systemd" for systemd, "" for unified), into out. */
static int own_cgroup_path(const char *name, char out[PATH_BUF]) {
    static char buf[8192];
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = 0, r;
    while (n < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - (size_t)n)) > 0) n += r;
    close(fd);
    buf[n] = 0;
    const char *want = s_eq(name, "systemd") ? "name=systemd" : (s_eq(name, "unified") ? "" : name);
    size_t wl = s_len(want);
    for (char *line = buf; *line;) {
        char *end = line;
        while (*end && *end != '\n') end++;
        char *c1 = line;
        while (c1 < end && *c1 != ':') c1++;
        char *c2 = c1 < end ? c1 + 1 : end;
        while (c2 < end && *c2 != ':') c2++;
        if (c2 < end && (size_t)(c2 - c1 - 1) == wl && memcmp(c1 + 1, want, wl) == 0) {
            size_t pl = (size_t)(end - c2 - 1);
            if (pl + 1 > PATH_BUF) return -1;
            memcpy(out, c2 + 1, pl);
            out[pl] = 0;
            return 0;
        }
        line = *end ? end + 1 : end;
    }
    errno = ENOENT;
    return -1;
}

/* type "cgroup" on a cgroup v1 host: a tmpfs with one entry per host hierarchy, as
 * /sys/fs/cgroup looks. Each hierarchy is mounted for real (mount -t cgroup -o <controllers>:
 * inside our cgroup namespace its root is the container's cgroup); where the kernel refuses
 * (cgroup v1 can't be mounted in a user namespace: EPERM) the host's hierarchy is bound
 * instead, recursively, read-only when the mount asks for "ro". Symlinks (cpu -> cpu,cpuacct)
 * are recreated. The tmpfs is made read-only last when asked. */
static int mount_cgroup_tree(int rootfd, int fd, const char *dest, unsigned long flags) {
    char target[32], sub[32], hostpath[PATH_BUF], link[PATH_BUF];
    fd_path(target, fd);
    unsigned long base_flags = (flags & ~MS_RDONLY) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    CHECK(ENVYRO_STEP_OCI_MOUNT, mount("tmpfs", target, "tmpfs", base_flags, "mode=755"));
    fd = reopen_dest(rootfd, fd, dest, target);
    int host = open("/sys/fs/cgroup", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (host >= 0) {
        union { char buf[4096]; struct { uint64_t a; } align; } dents;
        for (;;) {
            long nread = syscall(SYS_getdents64, host, dents.buf, sizeof dents.buf);
            CHECK(ENVYRO_STEP_OCI_MOUNT, (int)nread);
            if (nread == 0) break;
            for (long off = 0; off < nread;) {
                struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(dents.buf + off);
                off += d->reclen;
                const char *name = d->name;
                if (s_eq(name, ".") || s_eq(name, "..")) continue;
                struct stat st;
                if (fstatat(host, name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
                if (S_ISLNK(st.st_mode)) {
                    ssize_t ln = readlinkat(host, name, link, sizeof link - 1);
                    if (ln < 0) continue;
                    link[ln] = 0;
                    if (symlinkat(link, fd, name) < 0 && errno != EEXIST) envyro__fail(ENVYRO_STEP_OCI_MOUNT, errno);
                    continue;
                }
                if (!S_ISDIR(st.st_mode)) continue;
                if (s_join(hostpath, "/sys/fs/cgroup/", name) < 0) envyro__fail(ENVYRO_STEP_OCI_MOUNT, ENAMETOOLONG);
                struct statfs sfs;
                if (statfs(hostpath, &sfs) < 0) continue;
                if (sfs.f_type != CGROUP_SUPER_MAGIC && sfs.f_type != CGROUP2_SUPER_MAGIC) continue;
                if (mkdirat(fd, name, 0755) < 0 && errno != EEXIST) envyro__fail(ENVYRO_STEP_OCI_MOUNT, errno);
                int sfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                CHECK(ENVYRO_STEP_OCI_MOUNT, sfd);
                fd_path(sub, sfd);
                int r;
                if (!g_own_cgroupns) {
                    /* Without a cgroup namespace a fresh mount would show the host's whole
                     * hierarchy (writable by a root container): bind only our own cgroup, as
                     * runc does; the fallback below then makes it read-only when asked. */
                    char own[PATH_BUF];
                    if (own_cgroup_path(name, own) == 0 && s_join(hostpath, hostpath, own) == 0) r = -1;
                    else { close(sfd); continue; }
                } else if (sfs.f_type == CGROUP2_SUPER_MAGIC)
                    r = mount("cgroup2", sub, "cgroup2", flags & ~MS_PROPAGATION, NULL);
                else
                    r = mount("cgroup", sub, "cgroup", flags & ~MS_PROPAGATION, s_eq(name, "systemd") ? "none,name=systemd" : name);
                if (r < 0) {
                    CHECK(ENVYRO_STEP_OCI_MOUNT, mount(hostpath, sub, NULL, MS_BIND | MS_REC, NULL));
                    close(sfd);
                    sfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    CHECK(ENVYRO_STEP_OCI_MOUNT, sfd);
                    fd_path(sub, sfd);
                    if (flags & MS_REMOUNT_BITS)
                        CHECK(ENVYRO_STEP_OCI_MOUNT, mount(NULL, sub, NULL, MS_BIND | MS_REMOUNT | (flags & MS_REMOUNT_BITS) | envyro__locked_flags(sub), NULL));
                }
                close(sfd);
            }
        }
        close(host);
    }
    if (flags & MS_RDONLY)
        CHECK(ENVYRO_STEP_OCI_MOUNT, mount(NULL, target, NULL, MS_REMOUNT | MS_RDONLY | base_flags, NULL));
    return fd;
}

/* One entry of the bundle's `mounts`, at its destination resolved inside the rootfs. */
static void oci_mount(int rootfd, const struct envyro_mount *m, int *dev_tmpfs, int *devpts) {
    const char *dest = m->destination;
    int bind = (m->flags & MS_BIND) || m->fstype == NULL || s_eq(m->fstype, "bind");
    unsigned long flags = m->flags & ~MS_PROPAGATION;
    int is_dir = 1;
    if (bind && (m->extra & ENVYRO_MOUNT_COPY_SYMLINK) && envyro__copy_symlink(rootfd, m)) return;
    if (bind) {
        /* A fifo or a socket is bound onto an empty file, like a regular file. */
        struct stat st;
        if (ENVYRO_MOUNT_HAS_TREE(m)) CHECK(ENVYRO_STEP_OCI_MOUNT, fstat(m->tree_fd, &st));
        else if (!m->source || (m->extra & ENVYRO_MOUNT_SRC_NOFOLLOW ? lstat(m->source, &st) : stat(m->source, &st)) < 0)
            envyro__fail(ENVYRO_STEP_OCI_MOUNT, m->source ? errno : EINVAL);
        is_dir = S_ISDIR(st.st_mode);
    }
    int fd = envyro__open_dest(rootfd, m, is_dir);
    CHECK(ENVYRO_STEP_OCI_MOUNT, fd);
    char target[32];
    fd_path(target, fd);
    if (bind) {
        fd = bind_at(rootfd, fd, m, m->source, flags, flags & MS_REC);
    } else if (s_eq(m->fstype, "cgroup")) {
        fd = mount_cgroup_tree(rootfd, fd, dest, flags);
    } else {
        int r = mount(m->source ? m->source : m->fstype, target, m->fstype, flags, m->data);
        if (r < 0 && errno == EPERM && s_eq(m->fstype, "sysfs")) {
            /* sysfs needs a network namespace owned by our user namespace: bind the host's
             * /sys (recursively: its child mounts are locked), as runc does rootless. */
            fd = bind_at(rootfd, fd, m, "/sys", flags, MS_REC);
        } else if (r < 0 && errno == EPERM && s_eq(m->fstype, "mqueue")) {
            /* mqueue needs an ipc namespace owned by our user namespace. */
            fd = bind_at(rootfd, fd, m, "/dev/mqueue", flags, MS_REC);
        } else {
            CHECK(ENVYRO_STEP_OCI_MOUNT, r);
            close(fd);
            fd = envyro__reopen_dest(rootfd, m);
            CHECK(ENVYRO_STEP_OCI_MOUNT, fd);
        }
        if (s_eq(dest, "/dev") && s_eq(m->fstype, "tmpfs")) *dev_tmpfs = 1;
        if (s_eq(dest, "/dev/pts") && s_eq(m->fstype, "devpts")) *devpts = 1;
    }
    envyro__setattr_recursive(m, fd);
    fd_path(target, fd);
    if (m->propagation)
        CHECK(ENVYRO_STEP_OCI_MOUNT, mount(NULL, target, NULL, m->propagation, NULL));
    close(fd);
}

/* The host's node for device `d` (this is still the host's /dev): the same path when it is the
 * same device (type and numbers), else any node of /dev with that type and those numbers (a
 * bundle may name a node the host keeps elsewhere: /dev/zz for 1:3). Never a different device
 * than the bundle asked for. Returns 0 with the path in out, or -1 (ENODEV: the host has none). */
static int host_node(const struct envyro_device *d, char out[PATH_BUF]) {
    struct stat st;
    dev_t want = makedev(d->major, d->minor);
    mode_t type = (mode_t)d->mode & S_IFMT;
    if (stat(d->path, &st) == 0 && (st.st_mode & S_IFMT) == type && st.st_rdev == want && s_len(d->path) < PATH_BUF) {
        memcpy(out, d->path, s_len(d->path) + 1);
        return 0;
    }
    int dir = open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    union { char buf[4096]; struct { uint64_t a; } align; } dents;
    for (;;) {
        long nread = syscall(SYS_getdents64, dir, dents.buf, sizeof dents.buf);
        if (nread <= 0) break;
        for (long off = 0; off < nread;) {
            struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *e = (void *)(dents.buf + off);
            off += e->reclen;
            if (fstatat(dir, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
            if ((st.st_mode & S_IFMT) != type || st.st_rdev != want) continue;
            if (s_join(out, "/dev/", e->name) < 0) continue;
            close(dir);
            return 0;
        }
    }
    close(dir);
    errno = ENODEV;
    return -1;
}

/* One `linux.devices` entry: mknod inside the rootfs; in a user namespace (mknod: EPERM) an
 * empty file with the host's node of that device bound onto it, as runc and crun do rootless
 * (its owner and mode are then the host's: a user namespace can't change them). */
static void oci_device(int rootfd, const struct envyro_device *d) {
    char base[PATH_BUF], target[32];
    int parent = envyro__parent_in_root(rootfd, d->path, base);
    CHECK(ENVYRO_STEP_DEVICE, parent);
    if (mknodat(parent, base, (mode_t)d->mode, makedev(d->major, d->minor)) == 0) {
        CHECK(ENVYRO_STEP_DEVICE, fchownat(parent, base, d->uid, d->gid, AT_SYMLINK_NOFOLLOW));
    } else if (errno == EPERM) {
        char source[PATH_BUF];
        CHECK(ENVYRO_STEP_DEVICE, host_node(d, source));
        int f = openat(parent, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        CHECK(ENVYRO_STEP_DEVICE, f);
        close(f);
        int fd = openat(parent, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        CHECK(ENVYRO_STEP_DEVICE, fd);
        fd_path(target, fd);
        CHECK(ENVYRO_STEP_DEVICE, mount(source, target, NULL, MS_BIND, NULL));
        close(fd);
    } else if (errno != EEXIST) {   /* an existing node is the image's: leave it */
        envyro__fail(ENVYRO_STEP_DEVICE, errno);
    }
    close(parent);
}

/* /dev's standard links, on a /dev tmpfs the bundle mounted (runc's defaults); a devpts of
 * our own needs /dev/ptmx -> pts/ptmx so that a pty opened through it lands there. */
static void oci_dev_links(int rootfd, int dev_tmpfs, int devpts) {
    int dev = envyro__open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY, 0);
    CHECK(ENVYRO_STEP_DEV, dev);
    if (devpts) {
        struct stat st;
        if (fstatat(dev, "ptmx", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode)) {
            /* A bound node is a mount point (EBUSY): then it stays what the bundle made it. */
            if (unlinkat(dev, "ptmx", 0) < 0 && errno != EBUSY) envyro__fail(ENVYRO_STEP_DEV, errno);
        }
        if (symlinkat("pts/ptmx", dev, "ptmx") < 0 && errno != EEXIST && errno != EBUSY) envyro__fail(ENVYRO_STEP_DEV, errno);
    }
    if (dev_tmpfs) {
        static const char *const links[][2] = {
            { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
            { "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
            { "/proc/kcore", "core" }, { NULL, NULL },
        };
        for (int i = 0; links[i][0]; i++) {
            if (i == 4 && access("/proc/kcore", F_OK) < 0) continue;
            if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST) envyro__fail(ENVYRO_STEP_DEV, errno);
        }
    }
    close(dev);
}

/* linux.sysctl: written through the container's own procfs (its namespaces' values). No
 * symlink is followed and the file must be on a procfs: a rootfs without a proc mount can't
 * turn this into a write to an image file. */
static void oci_sysctl(int rootfd, const struct envyro_sysctl *s) {
    char rel[PATH_BUF];
    size_t kl = s_len(s->key);
    if (kl == 0 || kl + 10 >= PATH_BUF) envyro__fail(ENVYRO_STEP_SYSCTL, EINVAL);
    memcpy(rel, "proc/sys/", 9);
    for (size_t i = 0; i <= kl; i++) rel[9 + i] = s->key[i] == '.' ? '/' : s->key[i];
    int fd = envyro__open_in_root(rootfd, rel, O_WRONLY | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
    CHECK(ENVYRO_STEP_SYSCTL, fd);
    struct statfs sfs;
    CHECK(ENVYRO_STEP_SYSCTL, fstatfs(fd, &sfs));
    if (sfs.f_type != PROC_SUPER_MAGIC) envyro__fail(ENVYRO_STEP_SYSCTL, EXDEV);
    size_t vl = s_len(s->value);
    ssize_t w;
    do { w = write(fd, s->value, vl); } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)vl) envyro__fail(ENVYRO_STEP_SYSCTL, w < 0 ? errno : EIO);
    close(fd);
}

/* linux.timeOffsets: a time namespace's offsets can only be written while no process is in
 * it, so it is made with unshare (which leaves this process outside; its execve enters it) and
 * the offsets are written at once, before anything else can join. A time namespace joined by
 * path takes effect at once. Needs CAP_SYS_ADMIN (and CAP_SYS_TIME for the offsets) in our user
 * namespace: root of it by now. /proc is still the host's procfs here: /proc/self is us. */
static void enter_time_namespace(const struct envyro_oci_config *oci) {
    if (oci->time_ns_fd > 0) CHECK(ENVYRO_STEP_TIMENS, setns(oci->time_ns_fd, ENVYRO_CLONE_NEWTIME));
    if (!oci->new_timens) return;
    CHECK(ENVYRO_STEP_TIMENS, unshare(ENVYRO_CLONE_NEWTIME));
    if (!oci->time_offsets || !oci->time_offsets[0]) return;
    int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    CHECK(ENVYRO_STEP_TIMENS, fd);
    size_t len = s_len(oci->time_offsets);
    ssize_t w;
    do { w = write(fd, oci->time_offsets, len); } while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len) envyro__fail(ENVYRO_STEP_TIMENS, w < 0 ? errno : EIO);
    close(fd);
}

/* Held mode: report PREPARED, then wait for `start` to connect and send one byte. EOF or an
 * error on the connection means the container was deleted before it started: exit quietly.
 * Then nobody reads the error pipe any more (create has returned): close it, so a later exec
 * failure only sets the exit code (a write would raise SIGPIPE). */
static void wait_for_start(int start_fd) {
    envyro__report(ENVYRO_STEP_PREPARED);
    int conn;
    do { conn = accept4(start_fd, NULL, NULL, SOCK_CLOEXEC); } while (conn < 0 && errno == EINTR);
    if (conn < 0) envyro__fail(ENVYRO_STEP_START, errno);
    char byte;
    ssize_t r;
    do { r = read(conn, &byte, 1); } while (r < 0 && errno == EINTR);
    if (r != 1) _exit(125);
    close(conn);
    close(start_fd);
    envyro__close_error_fd();
}

/* The bundle's createRuntime and createContainer hooks run now, in the runtime's namespaces,
 * with the mounts made and before pivot_root (the runtime-spec's place for them): the caller
 * connects to the start socket, and we send one byte (the kernel attaches our pid, translated
 * into the caller's pid namespace) and wait for one back: 0 when every hook succeeded. Anything
 * else, or EOF (the caller is gone), fails create. */
static void pause_for_hooks(int start_fd) {
    int conn;
    do { conn = accept4(start_fd, NULL, NULL, SOCK_CLOEXEC); } while (conn < 0 && errno == EINTR);
    if (conn < 0) envyro__fail(ENVYRO_STEP_START, errno);
    char byte = 0;
    ssize_t r;
    do { r = write(conn, &byte, 1); } while (r < 0 && errno == EINTR);
    if (r != 1) envyro__fail(ENVYRO_STEP_START, r < 0 ? errno : EPIPE);
    do { r = read(conn, &byte, 1); } while (r < 0 && errno == EINTR);
    if (r != 1 || byte != 0) envyro__fail(ENVYRO_STEP_START, ECANCELED);
    close(conn);
}

/* The OCI child, in runc's order (the steps are numbered as in the design of issue 8). */
void envyro__oci_child_main(const struct envyro_container_config *cfg, int sync_fd) {
    const struct envyro_oci_config *oci = cfg->oci;
    char exe[PATH_BUF];
    int joined_user = 0;
    g_own_cgroupns = (cfg->clone_flags & CLONE_NEWCGROUP) != 0;

    /* 1. Join the bundle's namespaces (paths), the user namespace first: it grants the
     *    capabilities the other joins are checked against. A pid namespace is joined by the
     *    parent before clone (setns(CLONE_NEWPID) only affects children). */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < oci->join_count; i++) {
            uint64_t t = oci->join_types[i];
            if (t == CLONE_NEWPID || (pass == 0) != (t == CLONE_NEWUSER)) continue;
            CHECK(ENVYRO_STEP_JOIN_NS, setns(oci->join_fds[i], (int)t));
            if (t == CLONE_NEWUSER) joined_user = 1;
        }

    /* 2. A detached container outlives the helper (the engine's shim reaps it). */
    if (!oci->detached) CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));

    envyro__ready_for_id_maps(sync_fd, (cfg->clone_flags & CLONE_NEWUSER) != 0);

    /* 3. root of the user namespace, cgroup, cgroup namespace, UTS names. */
    if ((cfg->clone_flags & CLONE_NEWUSER) || joined_user) {
        CHECK(ENVYRO_STEP_SETID, (int)syscall(SYS_setresgid, 0, 0, 0));
        CHECK(ENVYRO_STEP_SETID, (int)syscall(SYS_setresuid, 0, 0, 0));
        /* uid 0 here is another kernel uid when the map isn't the identity: that cleared the
         * parent-death signal. */
        if (!oci->detached) CHECK(ENVYRO_STEP_PDEATHSIG, prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0));
    }
    envyro__join_cgroup_and_name(cfg);
    if (oci->domainname && (cfg->clone_flags & CLONE_NEWUTS))
        CHECK(ENVYRO_STEP_DOMAINNAME, setdomainname(oci->domainname, s_len(oci->domainname)));
    enter_time_namespace(oci);

    /* 4. Propagation, as crun does: none unless the bundle asks (rprivate); a slave rootfs
     *    (rslave) lets host mounts reach the container and nothing back; a shared one
     *    (rshared) keeps the peer groups of the namespace this one was copied from, so the
     *    container's mounts reach those peers. That namespace is root's helper's, itself
     *    rslave of the host's (spawn_helper.c), or owned by a less privileged user namespace
     *    (the kernel makes its copies slaves): nothing ever goes back to the host. Private
     *    and unbindable start rprivate (an unbindable tree could not be bound from) and are
     *    set on "/" after pivot_root. */
    unsigned long prop = oci->rootfs_propagation;
    unsigned long first = MS_REC | ((prop & MS_SHARED) ? MS_SHARED : (prop & MS_SLAVE) ? MS_SLAVE : MS_PRIVATE);
    CHECK(ENVYRO_STEP_MOUNT_PRIVATE, mount(NULL, "/", NULL, first, NULL));

    /* 5. The rootfs, bound onto itself (pivot_root needs a mount point). Umask 0 while
     *    building it, so that modes are what the bundle says (runc does the same). */
    mode_t old_umask = umask(0);
    if (!cfg->rootfs) envyro__fail(ENVYRO_STEP_ROOTFS_BIND, EINVAL);
    if (prop & MS_SHARED) envyro__private_root_parent(cfg->rootfs);
    int rootfd = envyro__bind_rootfs(cfg->rootfs, 0);

    /* 6. mounts, in order. */
    int dev_tmpfs = 0, devpts = 0;
    for (int i = 0; i < oci->mount_count; i++) {
        envyro__set_fail_detail(i);
        oci_mount(rootfd, &oci->mounts[i], &dev_tmpfs, &devpts);
    }
    envyro__set_fail_detail(-1);
    /* 7. devices, and /dev's links. */
    for (int i = 0; i < oci->device_count; i++) oci_device(rootfd, &oci->devices[i]);
    if (dev_tmpfs || devpts) oci_dev_links(rootfd, dev_tmpfs, devpts);
    /* 8. sysctl, through the container's procfs. */
    for (int i = 0; i < oci->sysctl_count; i++) oci_sysctl(rootfd, &oci->sysctls[i]);
    /* 9. masked and read-only paths. */
    envyro__mask_paths(rootfd, cfg);
    /* 10. read-only rootfs, lo. */
    if (cfg->rootfs_readonly) envyro__root_readonly(rootfd, 0);
    if (cfg->loopback_up && (cfg->clone_flags & CLONE_NEWNET)) envyro__loopback_up();

    /* 10b. createRuntime and createContainer hooks (the caller runs them). */
    if (oci->hook_pause && oci->start_fd >= 0) pause_for_hooks(oci->start_fd);

    /* 11. pivot_root, then the propagation the bundle asked for. */
    envyro__pivot_into(rootfd, (prop & MS_SHARED) != 0);
    if (prop) CHECK(ENVYRO_STEP_PROPAGATION, mount(NULL, "/", NULL, prop, NULL));
    umask(old_umask);

    /* 12-16. console, rlimits, bounding set, user, capabilities, no_new_privs, cwd, stdio,
     *        signals (envyro__become_process). */
    int stdio[3] = { cfg->stdio[0], cfg->stdio[1], cfg->stdio[2] };
    /* HOME from the container's /etc/passwd and LISTEN_PID (process_env.c), read in the new
     * root while still root. */
    int envc = 0;
    while (cfg->envp[envc]) envc++;
    const char *env_room[envc + 2];
    static char env_strings[ENVYRO_ENV_BUF];
    char *const *envp = envyro__process_env(cfg->envp, oci->uid, env_room, env_strings);
    struct envyro__process p = ENVYRO__PROCESS(oci, cfg);
    int filters_late = envyro__become_process(&p, stdio);

    /* 17. A missing or non-executable argv[0] fails `create`, not `start`. */
    int e = envyro__find_executable(cfg->argv[0], cfg->search_path, exe);
    if (e) envyro__fail(ENVYRO_STEP_EXEC, e);

    /* 18. Held: wait for `start`. */
    if (oci->start_fd >= 0) wait_for_start(oci->start_fd);

    /* 19. seccomp last (a filter may forbid accept4 or read), then exec what we found. */
    if (filters_late) envyro__install_bpf(cfg->filters, cfg->filter_count);
    execve(exe, (char *const *)cfg->argv, envp);
    envyro__fail(ENVYRO_STEP_EXEC, errno);
}
