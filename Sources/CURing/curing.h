/*
 * CURing: liburing for envyro-ioworker, plus the few things Swift can't reach by itself.
 *
 * The libc headers come first, without _GNU_SOURCE, exactly as the Glibc module sees them;
 * liburing.h (which defines _GNU_SOURCE) comes last. The other order breaks clean debug builds
 * ("fds_bits from module 'CURing' is not present in definition of 'fd_set'"), see
 * shared/SWIFT-LINUX.md.
 *
 * Everything below liburing.h is a static inline wrapper: function-like macros, variadic calls
 * (syscall, fcntl, open) and _GNU_SOURCE constants Swift can't import.
 */
#ifndef ENVYRO_CURING_H
#define ENVYRO_CURING_H

#include <sys/socket.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>

#include <liburing.h>

/* F_SETPIPE_SZ / F_GETPIPE_SZ and the splice flags are _GNU_SOURCE-only in fcntl.h. */
#define ENVYRO_F_SETPIPE_SZ 1031
#define ENVYRO_F_GETPIPE_SZ 1032
#define ENVYRO_SPLICE_F_MOVE 1
#define ENVYRO_SPLICE_F_NONBLOCK 2

/// splice(2) between two descriptors at their current positions (hidden behind _GNU_SOURCE).
static inline long envyro_io_splice(int fd_in, int fd_out, size_t len, unsigned int flags) {
    return syscall(SYS_splice, fd_in, NULL, fd_out, NULL, len, flags);
}

/// fcntl(fd, cmd, arg) with an int argument (fcntl is variadic).
static inline int envyro_io_fcntl_int(int fd, int cmd, int arg) { return fcntl(fd, cmd, arg); }

/// The CQEs ready now, without waiting: up to `max` pointers into `cqes` (io_uring_for_each_cqe
/// is a macro). Mark them seen with io_uring_cq_advance.
static inline unsigned envyro_uring_peek(struct io_uring *ring, struct io_uring_cqe **cqes, unsigned max) {
    return io_uring_peek_batch_cqe(ring, cqes, max);
}

/// io_uring_queue_init_params with only `flags` set; returns 0 or -errno.
static inline int envyro_uring_init(unsigned entries, struct io_uring *ring, unsigned flags) {
    struct io_uring_params p;
    for (size_t i = 0; i < sizeof p; i++) ((char *)&p)[i] = 0;
    p.flags = flags;
    return io_uring_queue_init_params(entries, ring, &p);
}

/// IORING_REGISTER_ENABLE_RINGS for a ring created with IORING_SETUP_R_DISABLED; 0 or -errno.
static inline int envyro_uring_enable(struct io_uring *ring) {
    if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) return -errno;
    return 0;
}

/// Restricts `ring` (created with IORING_SETUP_R_DISABLED) to the SQE opcodes in `ops`, with no
/// register operation allowed afterwards and only the SQE flags in `sqe_flags_allowed`, then enables it. Returns 0 or -errno.
static inline int envyro_uring_restrict_and_enable(struct io_uring *ring, const uint8_t *ops, unsigned count,
                                                   uint8_t sqe_flags_allowed) {
    struct io_uring_restriction res[33];
    if (count > 32) return -EINVAL;
    for (unsigned i = 0; i < count; i++) {
        for (size_t b = 0; b < sizeof res[i]; b++) ((char *)&res[i])[b] = 0;
        res[i].opcode = IORING_RESTRICTION_SQE_OP;
        res[i].sqe_op = ops[i];
    }
    /* Without this entry every SQE flag (link, fixed file) is refused with EACCES. */
    for (size_t b = 0; b < sizeof res[count]; b++) ((char *)&res[count])[b] = 0;
    res[count].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
    res[count].sqe_flags = sqe_flags_allowed;
    count++;
    /* Debian's liburing 2.3 doesn't export io_uring_register_restrictions/enable_rings. */
    if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, count) < 0) return -errno;
    return envyro_uring_enable(ring);
}

#endif
