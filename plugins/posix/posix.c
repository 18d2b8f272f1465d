/*
 * plugins/posix/posix.c - the real-sockets backend: the kernel's UDP and TCP
 * over the local machine, driven by epoll, timed by the wall clock.
 *
 * It offers the same table as netsim, so the code above it runs unchanged,
 * but there is no topology to describe: the backend has exactly one host,
 * the local machine (host_add succeeds once, id 0; a second host_add gets
 * P2P_ERR_UNSUPPORTED). Its address, private and public, is 127.0.0.1: UDP
 * sockets, listeners and connections from a fixed local port are bound to
 * 127.0.0.1, so an experiment never listens on a real interface by accident
 * (binding another address is not offered yet). A connection from an
 * ephemeral port takes the kernel's source address for its destination.
 * Only IPv4 is supported. nat_add and core_latency_set answer
 * P2P_ERR_UNSUPPORTED; packet_observer is accepted and never called (the
 * kernel does not show us individual packets). Host and link settings
 * passed to host_add are ignored.
 *
 * Time is CLOCK_MONOTONIC in nanoseconds since create. run_until runs an
 * event loop: timers whose deadline has passed (in deadline order, ties in
 * start order), then epoll_wait until the next deadline or until_ns, then
 * the ready sockets' callbacks. A timer never fires before its deadline;
 * how late it fires depends on the machine's load. Unlike netsim, a
 * deadline already past is accepted and fires on the next pass. Callbacks
 * receive the wall clock at the moment they are called.
 *
 * Objects closed while callbacks may still reference them (from inside a
 * callback, or with epoll events still queued for them) lose their socket
 * at once and are freed at the end of the loop iteration, as netsim's
 * graveyard does.
 *
 * TCP: tcp_send appends to a per-connection buffer and writes as the socket
 * allows (EPOLLOUT is watched only while bytes are pending). tcp_shutdown
 * sends FIN (shutdown(SHUT_WR)) once the buffer has drained. on_close(0)
 * follows once both directions are finished (our FIN sent, the peer's FIN
 * read); errors close at once with P2P_ERR_RESET, P2P_ERR_REFUSED,
 * P2P_ERR_TIMEOUT or P2P_ERR_UNREACHABLE. tcp_abort sends RST (SO_LINGER 0)
 * and reports nothing. Errors of a call (a refused connect, a reset seen by
 * a write) are always reported from the loop, never from inside the call.
 *
 * UDP: a send the kernel cannot take at once (EAGAIN, ENOBUFS) is dropped
 * and counted, like a datagram lost on a link.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "plugins/backend.h"
#include "sim/util/hmap.h"

#define EXPORT __attribute__((visibility("default")))

#define RX_BUF_SIZE (64u * 1024u) /* one read or datagram */
#define UDP_MAX_PAYLOAD 65507u
#define MAX_EPOLL_EVENTS 64
#define MAX_READS_PER_WAKEUP 16 /* fairness between sockets */
#define MAX_WAIT_MS 1000        /* epoll_wait never sleeps longer */
#define LOOPBACK_IP 0x7f000001u /* 127.0.0.1, host byte order */
#define LOCAL_HOST_ID 0u
#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull

enum io_kind { IO_UDP = 1, IO_LISTENER, IO_TCP };

/* What every object with a socket starts with: epoll's data.ptr points to
 * it, and the backend keeps all of them on one list for destroy. */
typedef struct io {
  int kind;
  int fd;      /* -1 once closed */
  int dead;    /* closed: waiting in the graveyard to be freed */
  uint32_t ev; /* events registered with epoll */
  struct io *prev, *next;
  p2plab_backend *b;
} io;

typedef struct timer_entry {
  uint64_t at;
  uint64_t id; /* also the start order: ids increase */
  p2plab_timer_fn fn;
  void *ctx;
} timer_entry;

struct p2plab_backend {
  p2plab_backend_config cfg;
  struct timespec t0;
  int epfd;
  int has_host;
  int stopping;
  uint64_t events;
  uint64_t udp_dropped; /* sends the kernel could not take */
  /* Timers: a binary min-heap on (at, id); cancelled ids are removed from
   * `live` and their heap entries skipped when they reach the top. */
  timer_entry *heap;
  size_t n_heap, cap_heap;
  uint64_t next_timer_id;
  sim_hmap live;
  io *objects;   /* every open object */
  io *graveyard; /* closed objects, freed at the end of a loop pass */
  uint8_t *rxbuf;
};

struct p2plab_udp {
  io io;
  uint16_t port;
  p2plab_udp_recv_fn fn;
  void *ctx;
};

struct p2plab_tcp_listener {
  io io;
  uint16_t port;
  p2plab_tcp_accept_fn fn;
  void *ctx;
};

struct p2plab_tcp {
  io io;
  const p2plab_tcp_callbacks *cbs;
  void *ctx;
  p2plab_addr local, remote;
  int connecting;     /* non-blocking connect in progress */
  int shut_wanted;    /* tcp_shutdown called: FIN after the buffer */
  int wr_shut;        /* FIN sent */
  int rd_eof;         /* the peer's FIN read */
  int reported_close; /* on_close called or aborted */
  int pending_err;    /* an error seen outside the loop, to report there */
  uint8_t *out;       /* send buffer: bytes [out_off, out_len) pending */
  size_t out_off, out_len, out_cap;
};

/* ------------------------------------------------------------------------ */
/* helpers */

static void logf_(p2plab_backend *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(p2plab_backend *b, const char *fmt, ...) {
  if (b->cfg.log == NULL)
    return;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  b->cfg.log(b->cfg.log_ctx, msg);
}

static uint64_t clock_ns(const p2plab_backend *b) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t s = (int64_t)ts.tv_sec - (int64_t)b->t0.tv_sec;
  int64_t ns = (int64_t)ts.tv_nsec - (int64_t)b->t0.tv_nsec;
  return (uint64_t)(s * (int64_t)NS_PER_S + ns);
}

static int map_errno(int e) {
  switch (e) {
  case ECONNREFUSED: return P2P_ERR_REFUSED;
  case ETIMEDOUT: return P2P_ERR_TIMEOUT;
  case ENETUNREACH:
  case EHOSTUNREACH:
  case ENETDOWN:
  case EHOSTDOWN: return P2P_ERR_UNREACHABLE;
  case ECONNRESET:
  case EPIPE:
  case ECONNABORTED: return P2P_ERR_RESET;
  case EADDRINUSE:
  case EADDRNOTAVAIL: return P2P_ERR_ADDRINUSE;
  case ENOMEM:
  case ENOBUFS: return P2P_ERR_NOMEM;
  case EMFILE:
  case ENFILE: return P2P_ERR_LIMIT;
  default: return P2P_ERR_IO;
  }
}

static struct sockaddr_in to_sockaddr(uint32_t ip, uint16_t port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(ip);
  return sa;
}

static p2plab_addr from_sockaddr(const struct sockaddr_in *sa) {
  p2plab_addr a;
  memset(&a, 0, sizeof a);
  a.family = P2PLAB_AF_INET;
  a.port = ntohs(sa->sin_port);
  a.ip.v4 = ntohl(sa->sin_addr.s_addr);
  return a;
}

static int sock_name(int fd, int peer, p2plab_addr *out) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  int rc = peer ? getpeername(fd, (struct sockaddr *)&sa, &len)
                : getsockname(fd, (struct sockaddr *)&sa, &len);
  if (rc < 0)
    return map_errno(errno);
  *out = from_sockaddr(&sa);
  return 0;
}

static int set_reuse(int fd) {
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
    return map_errno(errno);
  return 0;
}

static int bind_local(int fd, uint16_t port) {
  struct sockaddr_in sa = to_sockaddr(LOOPBACK_IP, port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    return map_errno(errno);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* objects: registration, closing, the graveyard */

static int io_register(p2plab_backend *b, io *o, int kind, int fd,
                       uint32_t ev) {
  o->kind = kind;
  o->fd = fd;
  o->b = b;
  o->ev = ev;
  struct epoll_event e = {.events = ev, .data.ptr = o};
  if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
    return map_errno(errno);
  o->next = b->objects;
  if (b->objects)
    b->objects->prev = o;
  b->objects = o;
  return 0;
}

static void io_watch(io *o, uint32_t ev) {
  if (o->dead || o->ev == ev)
    return;
  struct epoll_event e = {.events = ev, .data.ptr = o};
  if (epoll_ctl(o->b->epfd, EPOLL_CTL_MOD, o->fd, &e) < 0) {
    logf_(o->b, "posix: epoll_ctl: %s", strerror(errno));
    return;
  }
  o->ev = ev;
}

/* Closes the socket now and moves the object to the graveyard: queued
 * epoll events and callers up the stack may still hold its address. */
static void io_bury(io *o) {
  if (o->dead)
    return;
  p2plab_backend *b = o->b;
  o->dead = 1;
  if (o->fd >= 0) {
    epoll_ctl(b->epfd, EPOLL_CTL_DEL, o->fd, NULL);
    close(o->fd);
    o->fd = -1;
  }
  if (o->prev)
    o->prev->next = o->next;
  else
    b->objects = o->next;
  if (o->next)
    o->next->prev = o->prev;
  o->prev = NULL;
  o->next = b->graveyard;
  b->graveyard = o;
}

static void io_free(io *o) {
  if (o->kind == IO_TCP)
    free(((p2plab_tcp *)o)->out);
  free(o);
}

static void graveyard_sweep(p2plab_backend *b) {
  while (b->graveyard) {
    io *o = b->graveyard;
    b->graveyard = o->next;
    io_free(o);
  }
}

/* ------------------------------------------------------------------------ */
/* lifecycle and topology */

static int px_create(const p2plab_backend_config *cfg, p2plab_backend **out) {
  *out = NULL;
  if (cfg == NULL)
    return P2P_ERR_INVALID;
  p2plab_backend *b = calloc(1, sizeof *b);
  if (b == NULL)
    return P2P_ERR_NOMEM;
  b->cfg = *cfg;
  b->rxbuf = malloc(RX_BUF_SIZE);
  if (b->rxbuf == NULL) {
    free(b);
    return P2P_ERR_NOMEM;
  }
  b->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (b->epfd < 0) {
    int rc = map_errno(errno);
    free(b->rxbuf);
    free(b);
    return rc;
  }
  clock_gettime(CLOCK_MONOTONIC, &b->t0);
  sim_hmap_init(&b->live);
  b->next_timer_id = 1;
  *out = b;
  return 0;
}

static void px_destroy(p2plab_backend *b) {
  if (b == NULL)
    return;
  while (b->objects) {
    io *o = b->objects;
    b->objects = o->next;
    if (o->fd >= 0)
      close(o->fd);
    io_free(o);
  }
  graveyard_sweep(b);
  close(b->epfd);
  sim_hmap_free(&b->live);
  free(b->heap);
  free(b->rxbuf);
  free(b);
}

static int px_nat_add(p2plab_backend *b, const sim_nat_config *cfg,
                      int32_t behind_nat, int32_t *out) {
  (void)b;
  (void)cfg;
  (void)behind_nat;
  (void)out;
  return P2P_ERR_UNSUPPORTED;
}

/* The one host is the local machine; its link and NAT settings cannot be
 * applied to real sockets and are ignored. */
static int px_host_add(p2plab_backend *b, const p2plab_host_config *cfg,
                       p2plab_host_id *out) {
  if (cfg == NULL || out == NULL)
    return P2P_ERR_INVALID;
  if (b->has_host)
    return P2P_ERR_UNSUPPORTED;
  b->has_host = 1;
  *out = LOCAL_HOST_ID;
  return 0;
}

static int check_host(const p2plab_backend *b, p2plab_host_id h) {
  return b->has_host && h == LOCAL_HOST_ID ? 0 : P2P_ERR_NOTFOUND;
}

static int px_host_addr(p2plab_backend *b, p2plab_host_id h, p2plab_addr *out) {
  int rc = check_host(b, h);
  if (rc < 0)
    return rc;
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = LOOPBACK_IP;
  return 0;
}

static int px_core_latency_set(p2plab_backend *b, p2plab_host_id a,
                               p2plab_host_id c, uint64_t latency_ns) {
  (void)b;
  (void)a;
  (void)c;
  (void)latency_ns;
  return P2P_ERR_UNSUPPORTED;
}

static void px_packet_observer(p2plab_backend *b, p2plab_packet_fn fn,
                               void *ctx) {
  (void)b;
  (void)fn;
  (void)ctx;
}

/* ------------------------------------------------------------------------ */
/* clock and timers */

static uint64_t px_now(p2plab_backend *b) {
  return clock_ns(b);
}

static int timer_less(const timer_entry *x, const timer_entry *y) {
  return x->at < y->at || (x->at == y->at && x->id < y->id);
}

static void heap_up(timer_entry *h, size_t i) {
  timer_entry t = h[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!timer_less(&t, &h[p]))
      break;
    h[i] = h[p];
    i = p;
  }
  h[i] = t;
}

static void heap_down(timer_entry *h, size_t n, size_t i) {
  timer_entry t = h[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n)
      break;
    if (c + 1 < n && timer_less(&h[c + 1], &h[c]))
      c++;
    if (!timer_less(&h[c], &t))
      break;
    h[i] = h[c];
    i = c;
  }
  h[i] = t;
}

static void heap_pop(p2plab_backend *b) {
  b->heap[0] = b->heap[--b->n_heap];
  if (b->n_heap)
    heap_down(b->heap, b->n_heap, 0);
}

/* Drops cancelled entries from the top; returns the earliest live deadline
 * or UINT64_MAX. */
static uint64_t next_deadline(p2plab_backend *b) {
  while (b->n_heap && sim_hmap_get(&b->live, b->heap[0].id, 0) == NULL)
    heap_pop(b);
  return b->n_heap ? b->heap[0].at : UINT64_MAX;
}

/* A deadline already in the past is allowed (the wall clock moves between
 * reading now() and this call): the timer fires on the next loop pass. */
static int px_timer_start(p2plab_backend *b, uint64_t at_ns, p2plab_timer_fn fn,
                          void *ctx, p2plab_timer *out) {
  if (fn == NULL)
    return P2P_ERR_INVALID;
  /* Cancelled entries are skipped lazily; compact when they dominate. */
  if (b->n_heap > 64 && b->n_heap > 2 * sim_hmap_len(&b->live) + 64) {
    size_t n = 0;
    for (size_t i = 0; i < b->n_heap; i++)
      if (sim_hmap_get(&b->live, b->heap[i].id, 0) != NULL)
        b->heap[n++] = b->heap[i];
    b->n_heap = n;
    for (size_t i = n / 2; i-- > 0;)
      heap_down(b->heap, n, i);
  }
  if (b->n_heap == b->cap_heap) {
    size_t nc = b->cap_heap ? b->cap_heap * 2 : 64;
    timer_entry *nh = realloc(b->heap, nc * sizeof *nh);
    if (nh == NULL)
      return P2P_ERR_NOMEM;
    b->heap = nh;
    b->cap_heap = nc;
  }
  uint64_t id = b->next_timer_id;
  int rc = sim_hmap_put(&b->live, id, 0, (void *)1);
  if (rc < 0)
    return rc;
  b->next_timer_id++;
  b->heap[b->n_heap] =
      (timer_entry){.at = at_ns, .id = id, .fn = fn, .ctx = ctx};
  heap_up(b->heap, b->n_heap++);
  if (out)
    *out = id;
  return 0;
}

static int px_timer_cancel(p2plab_backend *b, p2plab_timer t) {
  if (t == 0 || sim_hmap_del(&b->live, t, 0) == NULL)
    return P2P_ERR_NOTFOUND;
  return 0;
}

/* Runs the timers due at `now` that were started before this pass began,
 * so a timer that restarts itself at `now` cannot hold the loop. */
static int64_t run_timers(p2plab_backend *b, uint64_t now) {
  int64_t n = 0;
  uint64_t id_limit = b->next_timer_id;
  while (!b->stopping && next_deadline(b) <= now && b->heap[0].id < id_limit) {
    timer_entry t = b->heap[0];
    heap_pop(b);
    sim_hmap_del(&b->live, t.id, 0);
    t.fn(t.ctx, clock_ns(b));
    n++;
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* UDP */

static int px_udp_bind(p2plab_backend *b, p2plab_host_id h, uint16_t port,
                       p2plab_udp_recv_fn fn, void *ctx, p2plab_udp **out) {
  int rc = check_host(b, h);
  if (rc < 0)
    return rc;
  if (fn == NULL || out == NULL)
    return P2P_ERR_INVALID;
  p2plab_udp *s = calloc(1, sizeof *s);
  if (s == NULL)
    return P2P_ERR_NOMEM;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    free(s);
    return map_errno(errno);
  }
  p2plab_addr local = {0};
  if ((rc = bind_local(fd, port)) < 0 || (rc = sock_name(fd, 0, &local)) < 0 ||
      (rc = io_register(b, &s->io, IO_UDP, fd, EPOLLIN)) < 0) {
    close(fd);
    free(s);
    return rc;
  }
  s->port = local.port;
  s->fn = fn;
  s->ctx = ctx;
  *out = s;
  return 0;
}

static int px_udp_local_addr(p2plab_udp *s, p2plab_addr *out) {
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = LOOPBACK_IP;
  out->port = s->port;
  return 0;
}

static int px_udp_send(p2plab_udp *s, const p2plab_addr *to, const uint8_t *buf,
                       size_t len) {
  if (to == NULL || to->family != P2PLAB_AF_INET || to->port == 0 ||
      (buf == NULL && len != 0))
    return P2P_ERR_INVALID;
  if (len > UDP_MAX_PAYLOAD)
    return P2P_ERR_LIMIT;
  if (s->io.dead)
    return P2P_ERR_STATE;
  struct sockaddr_in sa = to_sockaddr(to->ip.v4, to->port);
  ssize_t n;
  do
    n = sendto(s->io.fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa);
  while (n < 0 && errno == EINTR);
  if (n >= 0)
    return 0;
  switch (errno) {
  case EAGAIN:
#if EWOULDBLOCK != EAGAIN
  case EWOULDBLOCK:
#endif
  case ENOBUFS:
  case ECONNREFUSED: /* an ICMP error left by an earlier datagram */
    s->io.b->udp_dropped++;
    return 0;
  case EMSGSIZE: return P2P_ERR_LIMIT;
  default: return map_errno(errno);
  }
}

static void px_udp_close(p2plab_udp *s) {
  if (s == NULL)
    return;
  io_bury(&s->io);
}

static int64_t udp_readable(p2plab_udp *s) {
  p2plab_backend *b = s->io.b;
  int64_t n = 0;
  for (int i = 0; i < MAX_READS_PER_WAKEUP && !s->io.dead && !b->stopping;
       i++) {
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    ssize_t r = recvfrom(s->io.fd, b->rxbuf, RX_BUF_SIZE, 0,
                         (struct sockaddr *)&sa, &salen);
    if (r < 0) {
      if (errno == EINTR || errno == ECONNREFUSED)
        continue; /* an ICMP error from an earlier send: not data */
      break;      /* EAGAIN: drained */
    }
    p2plab_addr from = from_sockaddr(&sa);
    s->fn(s->ctx, s, &from, b->rxbuf, (size_t)r, clock_ns(b));
    n++;
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* TCP */

static void tcp_report_close(p2plab_tcp *c, int err) {
  if (c->reported_close)
    return;
  c->reported_close = 1;
  if (c->cbs && c->cbs->on_close)
    c->cbs->on_close(c->ctx, c, err, clock_ns(c->io.b));
  io_bury(&c->io);
}

/* Watches what the connection waits for: writability while connecting or
 * while bytes (or a FIN) are pending, readability until the peer's FIN.
 * Errors and hang-ups are always reported by epoll. */
static void tcp_rewatch(p2plab_tcp *c) {
  uint32_t ev = 0;
  if (c->connecting || c->pending_err || c->out_off < c->out_len ||
      (c->shut_wanted && !c->wr_shut))
    ev |= EPOLLOUT;
  if (!c->connecting && !c->rd_eof)
    ev |= EPOLLIN;
  io_watch(&c->io, ev);
}

/* Orderly close once both FINs are done. */
static void tcp_check_done(p2plab_tcp *c) {
  if (!c->io.dead && !c->reported_close && c->wr_shut && c->rd_eof)
    tcp_report_close(c, 0);
}

/* Writes what the socket takes. Returns 0, or a negative error that the
 * caller reports (never from inside a table call). */
static int tcp_flush(p2plab_tcp *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->io.fd, c->out + c->out_off, c->out_len - c->out_off,
                     MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return map_errno(errno);
    }
    c->out_off += (size_t)n;
  }
  c->out_off = c->out_len = 0;
  if (c->shut_wanted && !c->wr_shut) {
    if (shutdown(c->io.fd, SHUT_WR) < 0)
      return map_errno(errno);
    c->wr_shut = 1;
  }
  return 0;
}

static p2plab_tcp *tcp_new(int fd) {
  p2plab_tcp *c = calloc(1, sizeof *c);
  if (c != NULL)
    (void)sock_name(fd, 0, &c->local); /* best effort: for *_addr only */
  return c;
}

static int px_tcp_listen(p2plab_backend *b, p2plab_host_id h, uint16_t port,
                         p2plab_tcp_accept_fn fn, void *ctx,
                         p2plab_tcp_listener **out) {
  int rc = check_host(b, h);
  if (rc < 0)
    return rc;
  if (fn == NULL || out == NULL)
    return P2P_ERR_INVALID;
  p2plab_tcp_listener *l = calloc(1, sizeof *l);
  if (l == NULL)
    return P2P_ERR_NOMEM;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    free(l);
    return map_errno(errno);
  }
  p2plab_addr local = {0};
  if ((rc = set_reuse(fd)) < 0 || (rc = bind_local(fd, port)) < 0 ||
      (listen(fd, SOMAXCONN) < 0 && (rc = map_errno(errno)) < 0) ||
      (rc = sock_name(fd, 0, &local)) < 0 ||
      (rc = io_register(b, &l->io, IO_LISTENER, fd, EPOLLIN)) < 0) {
    close(fd);
    free(l);
    return rc;
  }
  l->port = local.port;
  l->fn = fn;
  l->ctx = ctx;
  *out = l;
  return 0;
}

static void px_tcp_listener_close(p2plab_tcp_listener *l) {
  if (l == NULL)
    return;
  io_bury(&l->io);
}

static int px_tcp_listener_addr(p2plab_tcp_listener *l, p2plab_addr *out) {
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = 0x7f000001u; /* listeners bind 127.0.0.1 */
  out->port = l->port;
  return 0;
}

static int64_t listener_readable(p2plab_tcp_listener *l) {
  p2plab_backend *b = l->io.b;
  int64_t n = 0;
  for (int i = 0; i < MAX_READS_PER_WAKEUP && !l->io.dead && !b->stopping;
       i++) {
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    int fd = accept4(l->io.fd, (struct sockaddr *)&sa, &salen,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        logf_(b, "posix: accept: %s", strerror(errno));
      break;
    }
    p2plab_tcp *c = tcp_new(fd);
    if (c == NULL || io_register(b, &c->io, IO_TCP, fd, EPOLLIN) < 0) {
      free(c);
      close(fd);
      logf_(b, "posix: cannot take an accepted connection");
      continue;
    }
    c->remote = from_sockaddr(&sa);
    const p2plab_tcp_callbacks *cbs = NULL;
    void *cb_ctx = NULL;
    l->fn(l->ctx, l, c, &c->remote, &cbs, &cb_ctx, clock_ns(b));
    n++;
    if (c->io.dead)
      continue;
    c->cbs = cbs;
    c->ctx = cb_ctx;
    if (cbs == NULL) { /* the application took nothing */
      c->reported_close = 1;
      io_bury(&c->io);
    }
  }
  return n;
}

static int px_tcp_connect(p2plab_backend *b, p2plab_host_id h,
                          uint16_t local_port, const p2plab_addr *to,
                          const p2plab_tcp_callbacks *cbs, void *ctx,
                          p2plab_tcp **out) {
  int rc = check_host(b, h);
  if (rc < 0)
    return rc;
  if (to == NULL || to->family != P2PLAB_AF_INET || to->port == 0 ||
      cbs == NULL || out == NULL)
    return P2P_ERR_INVALID;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return map_errno(errno);
  if (local_port != 0 &&
      ((rc = set_reuse(fd)) < 0 || (rc = bind_local(fd, local_port)) < 0)) {
    close(fd);
    return rc;
  }
  struct sockaddr_in sa = to_sockaddr(to->ip.v4, to->port);
  int cerr = 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 &&
      errno != EINPROGRESS)
    cerr = map_errno(errno);
  p2plab_tcp *c = tcp_new(fd);
  if (c == NULL)
    rc = P2P_ERR_NOMEM;
  if (c == NULL || (rc = io_register(b, &c->io, IO_TCP, fd, EPOLLOUT)) < 0) {
    free(c);
    close(fd);
    return rc;
  }
  c->remote = *to;
  c->cbs = cbs;
  c->ctx = ctx;
  c->connecting = 1;
  c->pending_err = cerr; /* reported from the loop, like a late refusal */
  *out = c;
  return 0;
}

static int px_tcp_send(p2plab_tcp *c, const uint8_t *buf, size_t len) {
  if (c->io.dead || c->reported_close || c->shut_wanted)
    return P2P_ERR_STATE;
  if (buf == NULL && len != 0)
    return P2P_ERR_INVALID;
  if (len == 0)
    return 0;
  if (c->out_len + len > c->out_cap || c->out_len + len < len) {
    if (c->out_off != 0) { /* reuse the consumed front first */
      memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
      c->out_len -= c->out_off;
      c->out_off = 0;
    }
    if (c->out_len + len > c->out_cap) {
      size_t nc = c->out_cap ? c->out_cap : 4096;
      while (nc < c->out_len + len) {
        if (nc > SIZE_MAX / 2)
          return P2P_ERR_NOMEM;
        nc *= 2;
      }
      uint8_t *nb = realloc(c->out, nc);
      if (nb == NULL)
        return P2P_ERR_NOMEM;
      c->out = nb;
      c->out_cap = nc;
    }
  }
  memcpy(c->out + c->out_len, buf, len);
  c->out_len += len;
  if (!c->connecting && !c->pending_err) {
    int rc = tcp_flush(c);
    if (rc < 0)
      c->pending_err = rc;
  }
  tcp_rewatch(c);
  return 0;
}

static int px_tcp_shutdown(p2plab_tcp *c) {
  if (c->io.dead || c->reported_close)
    return P2P_ERR_STATE;
  if (c->shut_wanted)
    return 0;
  c->shut_wanted = 1;
  if (!c->connecting && !c->pending_err) {
    int rc = tcp_flush(c);
    if (rc < 0)
      c->pending_err = rc;
  }
  /* When the FIN went out and the peer's had come, the loop reports the
   * close (EPOLLOUT is watched for it), never this call. */
  if (c->wr_shut && c->rd_eof)
    io_watch(&c->io, EPOLLOUT);
  else
    tcp_rewatch(c);
  return 0;
}

static void px_tcp_abort(p2plab_tcp *c) {
  if (c->io.dead)
    return;
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  (void)setsockopt(c->io.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  c->reported_close = 1;
  io_bury(&c->io);
}

static int px_tcp_local_addr(p2plab_tcp *c, p2plab_addr *out) {
  if (c->local.port == 0 && c->io.fd >= 0)
    (void)sock_name(c->io.fd, 0, &c->local);
  *out = c->local;
  return c->local.port ? 0 : P2P_ERR_STATE;
}

static int px_tcp_remote_addr(p2plab_tcp *c, p2plab_addr *out) {
  *out = c->remote;
  return 0;
}

static int sock_error(int fd) {
  int e = 0;
  socklen_t len = sizeof e;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
    return map_errno(errno);
  return e ? map_errno(e) : 0;
}

static void tcp_read(p2plab_tcp *c) {
  p2plab_backend *b = c->io.b;
  for (int i = 0;
       i < MAX_READS_PER_WAKEUP && !c->io.dead && !c->rd_eof && !b->stopping;
       i++) {
    ssize_t r = recv(c->io.fd, b->rxbuf, RX_BUF_SIZE, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)
        tcp_report_close(c, map_errno(errno));
      return;
    }
    if (r == 0) {
      c->rd_eof = 1;
      tcp_rewatch(c);
      if (c->cbs && c->cbs->on_eof)
        c->cbs->on_eof(c->ctx, c, clock_ns(b));
      tcp_check_done(c);
      return;
    }
    if (c->cbs && c->cbs->on_data)
      c->cbs->on_data(c->ctx, c, b->rxbuf, (size_t)r, clock_ns(b));
  }
}

static int64_t tcp_event(p2plab_tcp *c, uint32_t ev) {
  p2plab_backend *b = c->io.b;
  if (c->connecting) {
    int err = c->pending_err ? c->pending_err : sock_error(c->io.fd);
    if (err == 0 && !(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
      return 0;
    if (err == 0 && (ev & EPOLLHUP))
      err = P2P_ERR_REFUSED; /* hung up without an error: treat as refused */
    if (err < 0) {
      tcp_report_close(c, err);
      return 1;
    }
    c->connecting = 0;
    (void)sock_name(c->io.fd, 0, &c->local);
    tcp_rewatch(c);
    if (c->cbs && c->cbs->on_connect)
      c->cbs->on_connect(c->ctx, c, clock_ns(b));
    if (c->io.dead)
      return 1;
    /* Bytes sent (or a shutdown asked) before the connect completed. */
    int rc = tcp_flush(c);
    if (rc < 0)
      tcp_report_close(c, rc);
    else
      tcp_rewatch(c);
    tcp_check_done(c);
    return 1;
  }
  if (c->pending_err) {
    tcp_report_close(c, c->pending_err);
    return 1;
  }
  if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
    tcp_read(c);
  if (c->io.dead)
    return 1;
  if (ev & EPOLLOUT) {
    int rc = tcp_flush(c);
    if (rc < 0) {
      tcp_report_close(c, rc);
      return 1;
    }
    tcp_rewatch(c);
    tcp_check_done(c);
    if (c->io.dead)
      return 1;
  }
  /* Errors reading or writing did not show: take what the socket says. A
   * hang-up after the peer's FIN while our side is still open means the
   * connection is gone (a reset whose error was already consumed). Unread
   * bytes wait for the next pass (epoll is level-triggered). */
  int err = ev & EPOLLERR ? sock_error(c->io.fd) : 0;
  if (err == 0 && (ev & EPOLLHUP) && c->rd_eof && !c->wr_shut)
    err = P2P_ERR_RESET;
  if (err < 0)
    tcp_report_close(c, err);
  return 1;
}

/* ------------------------------------------------------------------------ */
/* the loop */

static int64_t dispatch(io *o, uint32_t ev) {
  switch (o->kind) {
  case IO_UDP: return udp_readable((p2plab_udp *)o);
  case IO_LISTENER: return listener_readable((p2plab_tcp_listener *)o);
  case IO_TCP: return tcp_event((p2plab_tcp *)o, ev);
  default: return 0;
  }
}

/* Loops until the wall clock reaches until_ns (an until_ns already passed
 * makes one pass: due timers, then the sockets already ready) or stop() is
 * called from a callback. Returns the timers fired plus the socket events
 * handled, or a negative error when epoll_wait fails. */
static int64_t px_run_until(p2plab_backend *b, uint64_t until_ns) {
  int64_t n = 0;
  b->stopping = 0;
  struct epoll_event evs[MAX_EPOLL_EVENTS];
  for (;;) {
    uint64_t now = clock_ns(b);
    n += run_timers(b, now);
    graveyard_sweep(b);
    if (b->stopping)
      break;
    int last = now >= until_ns;
    int timeout = 0;
    if (!last) {
      uint64_t wake = next_deadline(b);
      if (wake > until_ns)
        wake = until_ns;
      uint64_t wait_ns = wake > now ? wake - now : 0;
      uint64_t ms = (wait_ns + NS_PER_MS - 1) / NS_PER_MS; /* never early */
      timeout = ms > MAX_WAIT_MS ? MAX_WAIT_MS : (int)ms;
    }
    int k = epoll_wait(b->epfd, evs, MAX_EPOLL_EVENTS, timeout);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      int rc = map_errno(errno);
      b->events += (uint64_t)n;
      return rc;
    }
    for (int i = 0; i < k && !b->stopping; i++) {
      io *o = evs[i].data.ptr;
      if (!o->dead)
        n += dispatch(o, evs[i].events);
    }
    graveyard_sweep(b);
    if (b->stopping || last)
      break;
  }
  b->events += (uint64_t)n;
  return n;
}

static void px_stop(p2plab_backend *b) {
  b->stopping = 1;
}

static uint64_t px_events_processed(p2plab_backend *b) {
  return b->events;
}

/* ------------------------------------------------------------------------ */

static const p2plab_backend_api posix_api = {
    .abi_version = P2PLAB_BACKEND_ABI_VERSION,
    .name = "posix",
    .create = px_create,
    .destroy = px_destroy,
    .nat_add = px_nat_add,
    .host_add = px_host_add,
    .host_addr = px_host_addr,
    .host_public_addr = px_host_addr, /* no NAT: the same 127.0.0.1 */
    .core_latency_set = px_core_latency_set,
    .packet_observer = px_packet_observer,
    .now = px_now,
    .timer_start = px_timer_start,
    .timer_cancel = px_timer_cancel,
    .udp_bind = px_udp_bind,
    .udp_local_addr = px_udp_local_addr,
    .udp_send = px_udp_send,
    .udp_close = px_udp_close,
    .tcp_listen = px_tcp_listen,
    .tcp_listener_close = px_tcp_listener_close,
    .tcp_listener_addr = px_tcp_listener_addr,
    .tcp_connect = px_tcp_connect,
    .tcp_send = px_tcp_send,
    .tcp_shutdown = px_tcp_shutdown,
    .tcp_abort = px_tcp_abort,
    .tcp_local_addr = px_tcp_local_addr,
    .tcp_remote_addr = px_tcp_remote_addr,
    .run_until = px_run_until,
    .stop = px_stop,
    .events_processed = px_events_processed,
};

const p2plab_backend_api *p2plab_backend_entry(void);
EXPORT const p2plab_backend_api *p2plab_backend_entry(void) {
  return &posix_api;
}
