/*
 * linux.netDevices (runtime-spec 1.2): move a host network interface into a container's
 * network namespace under a new name, as `ip link set NAME netns PID name NEW` does: one
 * RTM_NEWLINK with IFLA_NET_NS_PID and IFLA_IFNAME, answered by an ack.
 *
 * Why C: rtnetlink messages are packed C structs with aligned attributes; the helper calls this
 * in its own (the host's) network namespace, where it holds CAP_NET_ADMIN only for host root.
 */
#include "cenvyro.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

static void add_attr(struct nlmsghdr *h, size_t cap, unsigned short type, const void *data, size_t len) {
    struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
    size_t total = RTA_LENGTH(len);
    if (NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(total) > cap) return;
    a->rta_type = type;
    a->rta_len = (unsigned short)total;
    memcpy(RTA_DATA(a), data, len);
    h->nlmsg_len = (uint32_t)(NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(total));
}

int envyro_netdev_move(const char *name, const char *new_name, pid_t pid) {
    unsigned int index = if_nametoindex(name);
    if (index == 0) return -1;   /* errno: ENODEV */
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) return -1;
    union { char buf[512]; struct nlmsghdr align; } req;
    memset(&req, 0, sizeof req);
    struct nlmsghdr *h = &req.align;
    h->nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    h->nlmsg_type = RTM_NEWLINK;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = 1;
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = (int)index;
    uint32_t target = (uint32_t)pid;
    add_attr(h, sizeof req, IFLA_NET_NS_PID, &target, sizeof target);
    add_attr(h, sizeof req, IFLA_IFNAME, new_name, strlen(new_name) + 1);
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(s, h, h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) { int e = errno; close(s); errno = e; return -1; }
    union { char buf[4096]; struct nlmsghdr align; } reply;
    ssize_t n;
    do { n = recv(s, reply.buf, sizeof reply.buf, 0); } while (n < 0 && errno == EINTR);
    int e = n < 0 ? errno : EIO;
    close(s);
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) { errno = e; return -1; }
    struct nlmsghdr *r = &reply.align;
    if (r->nlmsg_type != NLMSG_ERROR) { errno = EIO; return -1; }
    struct nlmsgerr *err = NLMSG_DATA(r);
    if (err->error != 0) { errno = -err->error; return -1; }
    return 0;
}
