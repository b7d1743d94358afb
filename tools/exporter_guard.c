/* mmstat-exporter's guard against slow and greedy clients (slowloris).
 * Every connection is tracked from accept to close. One that has not
 * sent a complete request within the request timeout of being accepted
 * (or of its previous answer) is closed. When a new connection would go
 * over the limit per address or in all, the connection that has waited
 * longest for a request is closed to make room: of the same address, or
 * of the address holding the most connections; the newcomer itself if no
 * connection is waiting. A client that sends its request at once, as a
 * scraper does, so always gets through, whatever others hold open.
 *
 * A connection is closed by shutdown(2) of its socket: libmicrohttpd then
 * sees the stream end and closes it as its own. The socket is never
 * closed under it, and never shut down after it was closed: MHD reports a
 * connection closed (under our lock) before it closes the socket. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <netinet/in.h>

#include "exporter.h"
#include "hash.h"

/* Connections of one client address. */
struct gaddr {
    unsigned char key[16]; /* IPv6, or IPv4 as ::ffff:a.b.c.d */
    unsigned n;            /* counted: open and not closed by us */
    unsigned refs;         /* tracked, closed by us or not */
    UT_hash_handle hh;
};

struct gconn {
    struct gconn *prev, *next;
    int fd;
    struct gaddr *addr;
    int64_t since_ns; /* when it began to wait for a request */
    bool waiting;     /* no request of it is being answered */
    bool closed;      /* shut down by us: no longer counted */
};

struct guard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running, stop;
    struct gconn *head, *tail; /* in the order they were accepted */
    struct gaddr *addrs;
    unsigned n; /* connections counted */
    unsigned max_conn, max_per_ip;
    int64_t timeout_ns;
    struct exporter *x; /* its counters */
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The address of C as 16 bytes. */
static void addr_key(struct MHD_Connection *c, unsigned char key[16])
{
    memset(key, 0, 16);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &v4->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    }
}

/* Under the lock: close GC to make room (or for being slow). */
static void close_conn(struct guard *g, struct gconn *gc, bool slow)
{
    shutdown(gc->fd, SHUT_RDWR);
    gc->closed = true;
    g->n--;
    gc->addr->n--;
    atomic_fetch_add(slow ? &g->x->closed_slow : &g->x->closed_for_room, 1);
}

/* Under the lock: the connection to close to make room, other than NEW:
 * the one waiting longest of ADDR (NULL: of the address with the most
 * connections), or NULL if none is waiting. */
static struct gconn *victim(struct guard *g, const struct gaddr *addr,
                            const struct gconn *new)
{
    struct gconn *best = NULL;
    for (struct gconn *gc = g->head; gc; gc = gc->next) {
        if (gc == new || gc->closed || !gc->waiting ||
            (addr && gc->addr != addr))
            continue;
        if (!best || gc->addr->n > best->addr->n ||
            (gc->addr->n == best->addr->n && gc->since_ns < best->since_ns))
            best = gc;
    }
    return best;
}

/* Under the lock: make the limits hold with NEW counted. */
static void make_room(struct guard *g, struct gconn *new)
{
    while (!new->closed &&new->addr->n > g->max_per_ip) {
        struct gconn *v = victim(g, new->addr, new);
        close_conn(g, v ? v : new, false);
    }
    while (!new->closed && g->n > g->max_conn) {
        struct gconn *v = victim(g, NULL, new);
        close_conn(g, v ? v : new, false);
    }
}

void guard_started(struct guard *g, struct MHD_Connection *c, void **ctx)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct gconn *gc = calloc(1, sizeof *gc);
    if (!gc || !ci) {
        /* Untracked, it could not be limited: not served. */
        free(gc);
        if (ci)
            shutdown(ci->connect_fd, SHUT_RDWR);
        return;
    }
    gc->fd = ci->connect_fd;
    gc->waiting = true;
    gc->since_ns = mono_ns();
    unsigned char key[16];
    addr_key(c, key);
    pthread_mutex_lock(&g->lock);
    struct gaddr *a;
    HASH_FIND(hh, g->addrs, key, sizeof key, a);
    if (!a && (a = calloc(1, sizeof *a))) {
        memcpy(a->key, key, sizeof key);
        HASH_ADD(hh, g->addrs, key, sizeof a->key, a);
        if (!hash_added(a)) {
            free(a);
            a = NULL;
        }
    }
    if (!a) {
        pthread_mutex_unlock(&g->lock);
        shutdown(gc->fd, SHUT_RDWR);
        free(gc);
        return;
    }
    gc->addr = a;
    a->refs++;
    a->n++;
    g->n++;
    gc->prev = g->tail;
    if (g->tail)
        g->tail->next = gc;
    else
        g->head = gc;
    g->tail = gc;
    make_room(g, gc);
    pthread_mutex_unlock(&g->lock);
    *ctx = gc;
}

void guard_closed(struct guard *g, void **ctx)
{
    struct gconn *gc = *ctx;
    if (!gc)
        return;
    *ctx = NULL;
    pthread_mutex_lock(&g->lock);
    if (!gc->closed) {
        g->n--;
        gc->addr->n--;
    }
    if (--gc->addr->refs == 0) {
        HASH_DEL(g->addrs, gc->addr);
        free(gc->addr);
    }
    if (gc->prev)
        gc->prev->next = gc->next;
    else
        g->head = gc->next;
    if (gc->next)
        gc->next->prev = gc->prev;
    else
        g->tail = gc->prev;
    pthread_mutex_unlock(&g->lock);
    free(gc);
}

/* The tracking record of C, or NULL. */
static struct gconn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void guard_request(struct guard *g, struct MHD_Connection *c)
{
    struct gconn *gc = conn_of(c);
    if (!gc)
        return;
    pthread_mutex_lock(&g->lock);
    gc->waiting = false;
    pthread_mutex_unlock(&g->lock);
}

void guard_completed(struct guard *g, struct MHD_Connection *c)
{
    struct gconn *gc = conn_of(c);
    if (!gc)
        return;
    pthread_mutex_lock(&g->lock);
    gc->waiting = true;
    gc->since_ns = mono_ns();
    pthread_mutex_unlock(&g->lock);
}

unsigned guard_connections(struct guard *g)
{
    pthread_mutex_lock(&g->lock);
    unsigned n = g->n;
    pthread_mutex_unlock(&g->lock);
    return n;
}

/* The watchdog: closes connections that have waited for a request longer
 * than the timeout, waking at the next such deadline. */
static void *watch(void *arg)
{
    struct guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        int64_t now = mono_ns(), next = now + g->timeout_ns;
        for (struct gconn *gc = g->head; gc; gc = gc->next) {
            if (gc->closed || !gc->waiting)
                continue;
            if (now - gc->since_ns >= g->timeout_ns)
                close_conn(g, gc, true);
            else if (gc->since_ns + g->timeout_ns < next)
                next = gc->since_ns + g->timeout_ns;
        }
        struct timespec ts = {(time_t)(next / 1000000000),
                              (long)(next % 1000000000)};
        pthread_cond_timedwait(&g->wake, &g->lock, &ts);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int guard_start(struct guard **out, struct exporter *x, unsigned max_conn,
                unsigned max_per_ip, unsigned timeout_s)
{
    struct guard *g = calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->x = x;
    g->max_conn = max_conn;
    g->max_per_ip = max_per_ip;
    g->timeout_ns = (int64_t)timeout_s * 1000000000;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    int e = pthread_create(&g->thread, NULL, watch, g);
    if (e) {
        guard_stop(g);
        return -e;
    }
    g->running = true;
    *out = g;
    return 0;
}

void guard_stop(struct guard *g)
{
    if (!g)
        return;
    if (g->running) {
        pthread_mutex_lock(&g->lock);
        g->stop = true;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    /* MHD has closed every connection by now (the daemon is stopped). */
    struct gaddr *a = g->addrs, *next;
    HASH_CLEAR(hh, g->addrs);
    for (; a; a = next) {
        next = a->hh.next;
        free(a);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
