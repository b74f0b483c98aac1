/* One-line wrappers for what Swift can't call directly; see cenvyro.h for why each is here. */
#include "cenvyro.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <sha2.h>
#include <linux/capability.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int envyro_memfd_create(const char *name, unsigned int flags) { return memfd_create(name, flags); }

int envyro_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int envyro_seqpacket_pair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}

int envyro_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int envyro_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int envyro_waitid_pidfd(int pidfd, int flags, int *code, int *status, pid_t *pid_out) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int r;
    do { r = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | flags); } while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    *code = info.si_code;
    *status = info.si_status;
    *pid_out = info.si_pid;
    return 0;
}

int envyro_waitid_pidfd_rusage(int pidfd, int flags, int *code, int *status, pid_t *pid_out,
                               int64_t *user_us, int64_t *system_us, int64_t *maxrss_kib) {
    siginfo_t info;
    struct rusage ru;
    memset(&info, 0, sizeof info);
    memset(&ru, 0, sizeof ru);
    long r;
    do { r = syscall(SYS_waitid, P_PIDFD, pidfd, &info, WEXITED | flags, &ru); } while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    *code = info.si_code;
    *status = info.si_status;
    *pid_out = info.si_pid;
    *user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
    *system_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    *maxrss_kib = ru.ru_maxrss;
    return 0;
}

int envyro_prctl(int option, unsigned long arg2, unsigned long arg3) {
    return prctl(option, arg2, arg3, 0UL, 0UL);
}

int envyro_close_range_from(unsigned int first, unsigned int flags) {
    return (int)syscall(SYS_close_range, first, ~0U, flags);
}

int envyro_openat2_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    long r;
    do { r = syscall(SYS_openat2, dirfd, path, &how, sizeof how); } while (r < 0 && errno == EINTR);
    return (int)r;
}

int envyro_mkdirat(int dirfd, const char *path, unsigned int mode) { return mkdirat(dirfd, path, (mode_t)mode); }

int envyro_rmdirat(int dirfd, const char *path) { return unlinkat(dirfd, path, AT_REMOVEDIR); }

int envyro_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
    *pid = cred.pid; *uid = cred.uid; *gid = cred.gid;
    return 0;
}

/* SCM_MAX_FD: an OCI request's own fds plus up to 240 of --preserve-fds. */
#define ENVYRO_MAX_FDS 253

ssize_t envyro_send_frame(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    if (nfds < 0 || nfds > ENVYRO_MAX_FDS) { errno = EINVAL; return -1; }
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    union { char buf[CMSG_SPACE(sizeof(int) * ENVYRO_MAX_FDS)]; struct cmsghdr align; } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0 && fds != NULL) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t r;
    do { r = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (r < 0 && errno == EINTR);
    return r;
}

ssize_t envyro_recv_frame(int sock, void *buf, size_t cap, int *fds, int maxfds, int *nfds,
                          int *truncated, int *ctruncated) {
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    union { char buf[CMSG_SPACE(sizeof(int) * ENVYRO_MAX_FDS)]; struct cmsghdr align; } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    *nfds = 0; *truncated = 0; *ctruncated = 0;
    ssize_t r;
    do { r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (r < 0 && errno == EINTR);
    if (r < 0) return r;
    if (msg.msg_flags & MSG_TRUNC) *truncated = 1;
    if (msg.msg_flags & MSG_CTRUNC) *ctruncated = 1;
    int kept = 0, extra = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *p = (int *)(void *)CMSG_DATA(c);
        for (int i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, p + i, sizeof fd);
            if (kept < maxfds) fds[kept++] = fd; else { close(fd); extra = 1; }
        }
    }
    *nfds = extra ? maxfds + 1 : kept;
    return r;
}

int envyro_signalfd_for_forwarding(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT); sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); sigaddset(&set, SIGQUIT);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int envyro_has_file_caps(const char *path) {
    return getxattr(path, "security.capability", NULL, 0) > 0;
}

int envyro_accept_cloexec(int fd) {
    int r;
    do { r = accept4(fd, NULL, NULL, SOCK_CLOEXEC); } while (r < 0 && errno == EINTR);
    return r;
}

int envyro_daemon_signalfd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM); sigaddset(&set, SIGINT); sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int envyro_signalfd_read(int sfd) {
    struct signalfd_siginfo info;
    ssize_t r = read(sfd, &info, sizeof info);
    if (r != (ssize_t)sizeof info) return -1;
    return (int)info.ssi_signo;
}

int envyro_keep_capabilities(uint64_t mask) {
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) < 0) return -1;
    uint64_t have = (uint64_t)data[0].permitted | ((uint64_t)data[1].permitted << 32);
    uint64_t keep = have & mask;
    data[0].permitted = data[0].effective = (uint32_t)keep;
    data[1].permitted = data[1].effective = (uint32_t)(keep >> 32);
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &hdr, data) < 0) return -1;
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL ? -1 : 0;
}

uint64_t envyro_effective_capabilities(void) {
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) < 0) return 0;
    return (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
}

extern char **environ;
char **envyro_environ(void) { return environ; }

/* SHA-256 from libmd (BSD's message-digest library, 47 KB): OpenSSL's libcrypto did the same
 * job for 3.4 MB of the helper's resident memory (measured). */
void envyro_sha256(const void *data, size_t len, uint8_t out[32]) {
    SHA2_CTX ctx;
    SHA256Init(&ctx);
    SHA256Update(&ctx, (const uint8_t *)(data ? data : ""), len);
    SHA256Final(out, &ctx);
}

const char *envyro_errno_name(int err) {
    const char *name = strerrorname_np(err);
    return name ? name : "E?";
}

ssize_t envyro_recv_byte_with_pid(int sock, uint8_t *byte, pid_t *pid) {
    struct iovec iov = { .iov_base = byte, .iov_len = 1 };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(struct ucred))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf };
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    *pid = 0;
    if (n <= 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            *pid = cred.pid;
        }
    }
    return n;
}
