/*
 * Pooled network namespaces, for a daemon helper that holds CAP_SYS_ADMIN in its own user
 * namespace (root's). Creating a network namespace is the slowest namespace to make (loopback,
 * per-namespace sysctl tables) and tearing one down costs a kernel worker as much again; a
 * long-lived helper makes each one once and clones container after container into it.
 *
 * Why this is no weaker than a fresh namespace per container:
 *   - The pooled namespace belongs to the helper's user namespace, not the container's, so a
 *     container holds no capability over it: it cannot add interfaces, addresses, routes or
 *     filter rules, or write its sysctls. Only sockets can outlive a container, and
 *   - a namespace goes back to the pool only when it holds no socket at all (not even one in
 *     TIME_WAIT); otherwise it is closed and the kernel frees it.
 * Only a container that keeps none of CAP_NET_ADMIN/CAP_NET_RAW gets one (those capabilities
 * are about the namespace it runs in); for one that keeps CAP_NET_BIND_SERVICE the namespace
 * sets net.ipv4.ip_unprivileged_port_start to 0, which lets it bind low ports on its private
 * loopback as it could in a namespace of its own.
 *
 * setns(2) with CLONE_NEWNET changes only the calling thread; every function here returns with
 * the thread back in `home`.
 */
#include "cenvyro.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

int envyro_netns_current(void) {
    return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

/* Reads a small /proc file of the current thread's network namespace into buf (NUL-terminated). */
static int read_small(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t got = 0;
    while (got + 1 < size) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = 0;
    return 0;
}

/* The number after `key` in text, or -1. */
static long field(const char *text, const char *key) {
    const char *p = strstr(text, key);
    if (!p) return -1;
    p += strlen(key);
    while (*p == ' ') p++;
    if (*p < '0' || *p > '9') return -1;
    long v = 0;
    while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
    return v;
}

/* Back home; a failure here would leave the helper in the wrong namespace, which it must not
 * survive. */
static void go_home(int home) {
    if (setns(home, CLONE_NEWNET) < 0) _exit(125);
}

int envyro_netns_create(int home, int low_ports) {
    if (unshare(CLONE_NEWNET) < 0) return -1;
    int fd = envyro_netns_current();
    int err = fd < 0 ? errno : 0;
    if (!err) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        memcpy(ifr.ifr_name, "lo", 3);
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) err = errno;
        else {
            ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
            if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) err = errno;
        }
        if (s >= 0) close(s);
    }
    if (!err && low_ports) {
        /* /proc/sys/net is the opener's network namespace: this one. */
        int f = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY | O_CLOEXEC);
        if (f < 0 || write(f, "0", 1) != 1) err = errno ? errno : EIO;
        if (f >= 0) close(f);
    }
    go_home(home);
    if (err) {
        if (fd >= 0) close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int envyro_netns_idle(int ns, int home) {
    if (setns(ns, CLONE_NEWNET) < 0) return -1;
    char text[1024];
    int r = read_small("/proc/thread-self/net/sockstat", text, sizeof text);
    int e = errno;
    go_home(home);
    if (r < 0) { errno = e; return -1; }
    /* "sockets: used N" counts every user socket of the namespace, of any family; TIME_WAIT
     * entries are not sockets any more, and are counted in "tw". */
    long used = field(text, "sockets: used"), tw = field(text, " tw");
    if (used < 0 || tw < 0) { errno = EPROTO; return -1; }
    return used == 0 && tw == 0 ? 1 : 0;
}
