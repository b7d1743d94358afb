/* net family: sockets, sending and receiving (bytes requested and moved),
 * and waiting for readiness (poll, select, epoll: the latency histogram is
 * the time blocked; "ready" counts the descriptors or events returned).
 * Every hook is generated from its table entry. */
#include "shim.h"

MMP_CALLS_net(MMP_DEFINE)

    const struct mmp_family_ops mmp_family_net = {0};
