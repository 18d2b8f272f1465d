/*
 * plugins/netsim/netsim.c - the built-in discrete-event network backend.
 *
 * The world is a tree of address realms. The root realm is the public
 * internet (the core). Each shared NAT (nat_add, e.g. a carrier-grade NAT)
 * has its outside in a parent realm and opens a realm of its own inside
 * (100.64.0.0/10 addresses, RFC 6598). A host sits in a realm through its
 * access link; a host with a home NAT has a private realm of its own
 * (192.168.1.0/24, the same in every home, as in real homes) and shows only
 * the home NAT's external address to the realm of its access link.
 *
 * A packet's journey, with the virtual time at which each step happens:
 *
 *   send (t0)        the sender's home NAT translates it (the home router
 *                    sits before the access link), then it joins the
 *                    uplink's drop-tail queue: serialisation at the link
 *                    rate, then latency +- jitter, random loss;
 *   uplink end (t1)  it climbs realms: delivered in the first realm where
 *                    an attachment has its destination address, else
 *                    translated outbound by that realm's shared NAT (which
 *                    may hairpin it) and passed to the parent realm. A
 *                    packet that reaches the root realm crosses the core:
 *                    core latency (default or per site pair) +- jitter and
 *                    core loss;
 *   downlink (t2)    it descends through the destination's shared NATs
 *                    (inbound translation and filtering), then joins the
 *                    destination's downlink queue;
 *   arrival (t3)     the destination's home NAT translates it inbound and
 *                    the host's socket or TCP connection receives it.
 *
 * Each NAT sees every packet at the instant it crosses it, so mapping
 * creation, filtering and timeouts race exactly as on a real path. Packets
 * from a host in the root realm skip the t1 event (their route is known at
 * send time), so a public-to-public packet costs two events.
 *
 * A site is where a host meets the core: the host itself, or the outermost
 * shared NAT in front of it. Core latency overrides are per site pair.
 *
 * TCP runs the segment model of sim/net/tcp.h; segments are packets like
 * UDP datagrams and cross the NATs as such.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/backend.h"
#include "sim/engine/engine.h"
#include "sim/engine/rng.h"
#include "sim/net/nat.h"
#include "sim/net/tcp.h"
#include "sim/util/hmap.h"

#define EXPORT __attribute__((visibility("default")))

#define UDP_IP_HEADER 28u /* IPv4 20 + UDP 8 */
#define TCP_IP_HEADER 40u /* IPv4 20 + TCP 20 */
#define UDP_MAX_PAYLOAD 65507u
#define EPHEMERAL_MIN 49152u
#define EPHEMERAL_MAX 65535u

#define IP4(a, b, c, d)                                                        \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) |      \
   (uint32_t)(d))
#define HOME_HOST_IP IP4(192, 168, 1, 2)
#define PUBLIC_BASE IP4(11, 0, 0, 0)
#define SHARED_BASE IP4(100, 64, 0, 0)

/* An attachment in a realm: a host's access link or a shared NAT's outside.
 * Encoded in one word so the realm table stores it as a pointer-sized value. */
#define ATT_NAT_BIT 0x80000000u
#define ATT_HOST(id) ((uint32_t)(id))
#define ATT_NAT(id) (ATT_NAT_BIT | (uint32_t)(id))
#define ATT_IS_NAT(a) (((a)&ATT_NAT_BIT) != 0)
#define ATT_INDEX(a) ((a) & ~ATT_NAT_BIT)

/* Hash-map key spaces (the first key word's top byte). */
enum { KEY_REALM = 1, KEY_UDP, KEY_LISTEN, KEY_TCP, KEY_TCPPORT, KEY_LATENCY };
#define KEY(space, x) (((uint64_t)(space) << 56) | (uint64_t)(x))

typedef struct link {
  p2plab_link_config cfg;
  uint64_t busy_until;   /* when the transmitter is free */
  uint64_t last_arrival; /* no packet arrives before this: FIFO */
} link;

typedef struct shared_nat {
  sim_nat *nat;
  uint32_t realm;      /* realm of its outside */
  uint32_t inner;      /* realm id of its inside */
  uint32_t next_inner; /* next address to hand out inside */
  uint32_t site;       /* outermost attachment in the root realm */
} shared_nat;

typedef struct host {
  p2plab_host_id id;
  char name[32];
  uint32_t ip;        /* the host's own address */
  uint32_t attach_ip; /* its access link's address in `realm` */
  uint32_t realm;     /* 0 = root, else shared NAT index + 1 */
  uint32_t site;
  sim_nat *home; /* NULL without a home NAT */
  link up, down;
  sim_rng rng; /* the access link's loss and jitter */
  uint16_t next_ephemeral;
} host;

typedef struct packet packet;

/* Packets are recycled through per-size free lists instead of going back to
 * malloc: a size class holds payloads of up to pool_cap[class] bytes (pure
 * ACKs and control, datagrams of a few sizes, one MSS). Bigger packets are
 * plain allocations. Each list keeps at most POOL_MAX_BYTES worth of packets;
 * beyond that freed packets go back to malloc. */
#define POOL_CLASSES 5
#define POOL_NONE 0xffu
#define POOL_MAX_BYTES (16u << 20)
static const uint32_t pool_cap[POOL_CLASSES] = {64u, 128u, 256u, 512u, 1536u};

typedef struct packet_pool {
  packet *free;
  size_t n_free, max_free;
} packet_pool;

struct p2plab_backend {
  p2plab_backend_config cfg;
  sim_engine *eng;
  sim_rng core_rng;
  host **hosts;
  size_t n_hosts, cap_hosts;
  shared_nat *nats;
  size_t n_nats, cap_nats;
  uint32_t next_public;
  sim_hmap map; /* realm tables, sockets, listeners, connections, latency */
  size_t n_latency_overrides;
  p2plab_packet_fn observer;
  void *observer_ctx;
  packet *in_flight; /* every live packet, for destroy */
  packet_pool pool[POOL_CLASSES];
  struct p2plab_tcp *graveyard; /* closed connections awaiting free */
  uint64_t graveyard_event_at;
};

struct packet {
  p2plab_backend *b;
  packet *prev, *next; /* in_flight list */
  sim_nat_pkt hdr;
  p2plab_host_id src_host;
  uint32_t att;           /* destination attachment while descending */
  uint32_t realm;         /* current realm while climbing */
  uint32_t size;          /* bytes on the wire */
  uint32_t seq, ack, wnd; /* TCP only */
  uint32_t len;
  uint8_t cls; /* size class, or POOL_NONE */
  uint8_t data[];
};

struct p2plab_udp {
  p2plab_backend *b;
  host *h;
  uint16_t port;
  p2plab_udp_recv_fn fn;
  void *ctx;
};

struct p2plab_tcp_listener {
  p2plab_backend *b;
  host *h;
  uint16_t port;
  p2plab_tcp_accept_fn fn;
  void *ctx;
};

struct p2plab_tcp {
  p2plab_backend *b;
  host *h;
  uint16_t lport, rport;
  uint32_t rip;
  sim_tcp_conn *conn;
  const p2plab_tcp_callbacks *cbs;
  void *ctx;
  sim_timer timer;
  uint64_t timer_at;  /* SIM_TIME_NEVER when no timer is armed */
  int accepted;       /* inbound: report through the listener */
  int reported_close; /* the user has seen on_close (or aborted) */
  int dead;           /* out of the table, waiting to be freed */
  struct p2plab_tcp *next_dead;
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

static void *att_val(uint32_t att) {
  return (void *)(uintptr_t)((uint64_t)att + 1);
}

static int realm_lookup(const p2plab_backend *b, uint32_t realm, uint32_t ip,
                        uint32_t *att) {
  void *v = sim_hmap_get(&b->map, KEY(KEY_REALM, realm), ip);
  if (v == NULL)
    return 0;
  *att = (uint32_t)((uintptr_t)v - 1);
  return 1;
}

static uint32_t alloc_public(p2plab_backend *b) {
  /* Skip .0 and .255 so no address looks like a network or broadcast. */
  while ((b->next_public & 0xff) == 0 || (b->next_public & 0xff) == 0xff)
    b->next_public++;
  return b->next_public++;
}

static uint32_t alloc_in_realm(p2plab_backend *b, uint32_t realm) {
  if (realm == 0)
    return alloc_public(b);
  shared_nat *n = &b->nats[realm - 1];
  while ((n->next_inner & 0xff) == 0 || (n->next_inner & 0xff) == 0xff)
    n->next_inner++;
  return n->next_inner++;
}

static void observe(p2plab_backend *b, const packet *p, uint32_t dst_host,
                    int dropped, int nat_reason) {
  if (b->observer == NULL)
    return;
  p2plab_packet_event ev = {
      .time_ns = sim_engine_now(b->eng),
      .src_host = p->src_host,
      .dst_host = dst_host,
      .hdr = p->hdr,
      .size = p->size,
      .dropped = dropped,
      .nat_reason = nat_reason,
  };
  b->observer(b->observer_ctx, &ev);
}

static packet *packet_new(p2plab_backend *b, host *src, uint8_t proto,
                          uint32_t len) {
  uint8_t cls = POOL_NONE;
  packet *p;
  for (uint8_t i = 0; i < POOL_CLASSES; i++)
    if (len <= pool_cap[i]) {
      cls = i;
      break;
    }
  if (cls != POOL_NONE && b->pool[cls].free != NULL) {
    packet_pool *pl = &b->pool[cls];
    p = pl->free;
    pl->free = p->next;
    pl->n_free--;
  } else {
    p = malloc(sizeof *p + (cls != POOL_NONE ? pool_cap[cls] : len));
    if (p == NULL)
      return NULL;
  }
  memset(p, 0, sizeof *p);
  p->cls = cls;
  p->b = b;
  p->src_host = src->id;
  p->hdr.proto = proto;
  p->len = len;
  p->size = len + (proto == SIM_IPPROTO_TCP ? TCP_IP_HEADER : UDP_IP_HEADER);
  p->next = b->in_flight;
  if (b->in_flight)
    b->in_flight->prev = p;
  b->in_flight = p;
  return p;
}

static void packet_free(packet *p) {
  p2plab_backend *b = p->b;
  if (p->prev)
    p->prev->next = p->next;
  else
    b->in_flight = p->next;
  if (p->next)
    p->next->prev = p->prev;
  if (p->cls != POOL_NONE) {
    packet_pool *pl = &b->pool[p->cls];
    if (pl->n_free < pl->max_free) {
      p->next = pl->free;
      pl->free = p;
      pl->n_free++;
      return;
    }
  }
  free(p);
}

static void drop(packet *p, uint32_t dst_host, int why, int nat_reason) {
  observe(p->b, p, dst_host, why, nat_reason);
  packet_free(p);
}

/* Schedules fn(p) at `at`; frees the packet when scheduling fails (which
 * only happens when memory or the engine's limits run out). */
static void packet_at(packet *p, uint64_t at, sim_event_fn fn) {
  if (sim_engine_schedule(p->b->eng, at, fn, p, NULL) < 0) {
    logf_(p->b, "netsim: cannot schedule a packet event; packet lost");
    drop(p, UINT32_MAX, P2PLAB_DROP_QUEUE, 0);
  }
}

static uint64_t jittered(sim_rng *rng, uint64_t latency, uint64_t jitter) {
  if (jitter == 0)
    return latency;
  uint64_t span = 2 * jitter + 1;
  uint64_t d = latency + sim_rng_below(rng, span);
  return d > jitter ? d - jitter : 0;
}

/* Puts a packet on one direction of a link at `now`. Returns 0 with the
 * arrival time at the far end in *at, or the p2plab_drop reason (queue full
 * or random loss). The queue counts every byte not yet serialised, the rest
 * of the packet on the wire included. */
static int link_send(link *l, sim_rng *rng, uint32_t size, uint64_t now,
                     uint64_t *at) {
  const p2plab_link_config *c = &l->cfg;
  uint64_t start = l->busy_until > now ? l->busy_until : now;
  uint64_t tx = 0;
  if (c->rate_bps != 0) {
    if (c->queue_bytes != 0 && l->busy_until > now) {
      unsigned __int128 backlog =
          (unsigned __int128)(l->busy_until - now) * c->rate_bps / 8000000000u;
      if (backlog + size > c->queue_bytes)
        return P2PLAB_DROP_QUEUE;
    }
    tx = (uint64_t)size * 8000000000ull / c->rate_bps;
    l->busy_until = start + tx;
  }
  if (c->loss_ppm != 0 && sim_rng_chance_ppm(rng, c->loss_ppm))
    return P2PLAB_DROP_LOSS;
  uint64_t t = start + tx + jittered(rng, c->latency_ns, c->jitter_ns);
  if (t < l->last_arrival)
    t = l->last_arrival;
  l->last_arrival = t;
  *at = t;
  return 0;
}

static uint64_t core_latency(p2plab_backend *b, uint32_t sa, uint32_t sb) {
  if (b->n_latency_overrides != 0) {
    uint32_t lo = sa < sb ? sa : sb, hi = sa < sb ? sb : sa;
    void *v = sim_hmap_get(&b->map, KEY(KEY_LATENCY, lo), hi);
    if (v != NULL)
      return (uint64_t)(uintptr_t)v - 1;
  }
  return b->cfg.core_latency_ns;
}

/* ------------------------------------------------------------------------ */
/* the packet path */

static void on_host_arrive(void *ctx, uint64_t now);
static void on_down_arrive(void *ctx, uint64_t now);
static void on_up_arrive(void *ctx, uint64_t now);
static void deliver(host *h, packet *p, uint64_t now);

/* The packet has reached the realm of attachment p->att (the destination is
 * below it): crossing the core is already accounted for. Descends shared
 * NATs at `now` and enqueues on the host's downlink. */
static void descend(packet *p, uint64_t now) {
  p2plab_backend *b = p->b;
  uint32_t att = p->att;
  while (ATT_IS_NAT(att)) {
    shared_nat *n = &b->nats[ATT_INDEX(att)];
    sim_nat_drop_reason why = SIM_NAT_OK;
    if (sim_nat_inbound(n->nat, &p->hdr, now, &why) != SIM_NAT_PASS) {
      drop(p, UINT32_MAX, P2PLAB_DROP_NAT, (int)why);
      return;
    }
    if (!realm_lookup(b, n->inner, p->hdr.dst_ip, &att)) {
      drop(p, UINT32_MAX, P2PLAB_DROP_NO_ROUTE, 0);
      return;
    }
  }
  host *t = b->hosts[ATT_INDEX(att)];
  uint64_t at;
  int why = link_send(&t->down, &t->rng, p->size, now, &at);
  if (why != 0) {
    drop(p, t->id, why, 0);
    return;
  }
  p->att = att;
  packet_at(p, at, on_host_arrive);
}

/* Climbs from realm p->realm at `now` until a realm holds the destination.
 * Returns 1 with p->att set and *via_core telling whether that realm is the
 * root (the core is crossed), or 0 when the packet was dropped. */
static int climb(packet *p, uint64_t now, int *via_core) {
  p2plab_backend *b = p->b;
  uint32_t realm = p->realm;
  for (;;) {
    uint32_t att;
    if (realm_lookup(b, realm, p->hdr.dst_ip, &att)) {
      p->att = att;
      *via_core = realm == 0;
      return 1;
    }
    if (realm == 0) {
      drop(p, UINT32_MAX, P2PLAB_DROP_NO_ROUTE, 0);
      return 0;
    }
    shared_nat *n = &b->nats[realm - 1];
    sim_nat_drop_reason why = SIM_NAT_OK;
    sim_nat_verdict v = sim_nat_outbound(n->nat, &p->hdr, now, &why);
    if (v == SIM_NAT_DROP) {
      drop(p, UINT32_MAX, P2PLAB_DROP_NAT, (int)why);
      return 0;
    }
    if (v == SIM_NAT_HAIRPIN) {
      /* Turned back inside this NAT: the destination is now in `realm`. */
      if (!realm_lookup(b, realm, p->hdr.dst_ip, &att)) {
        drop(p, UINT32_MAX, P2PLAB_DROP_NO_ROUTE, 0);
        return 0;
      }
      p->att = att;
      *via_core = 0;
      return 1;
    }
    realm = n->realm;
  }
}

static uint32_t att_site(const p2plab_backend *b, uint32_t att) {
  return ATT_IS_NAT(att) ? b->nats[ATT_INDEX(att)].site
                         : b->hosts[ATT_INDEX(att)]->site;
}

/* After climbing: cross the core when needed, then descend. */
static void route_down(packet *p, int via_core, uint64_t now) {
  if (!via_core) {
    descend(p, now);
    return;
  }
  p2plab_backend *b = p->b;
  if (b->cfg.core_loss_ppm != 0 &&
      sim_rng_chance_ppm(&b->core_rng, b->cfg.core_loss_ppm)) {
    drop(p, UINT32_MAX, P2PLAB_DROP_LOSS, 0);
    return;
  }
  uint32_t src_site = b->hosts[p->src_host]->site;
  uint64_t lat = core_latency(b, src_site, att_site(b, p->att));
  uint64_t d = jittered(&b->core_rng, lat, b->cfg.core_jitter_ns);
  packet_at(p, now + d, on_down_arrive);
}

static void on_up_arrive(void *ctx, uint64_t now) {
  packet *p = ctx;
  int via_core;
  if (climb(p, now, &via_core))
    route_down(p, via_core, now);
}

static void on_down_arrive(void *ctx, uint64_t now) {
  descend(ctx, now);
}

static void on_host_arrive(void *ctx, uint64_t now) {
  packet *p = ctx;
  host *t = p->b->hosts[ATT_INDEX(p->att)];
  if (t->home != NULL) {
    sim_nat_drop_reason why = SIM_NAT_OK;
    if (sim_nat_inbound(t->home, &p->hdr, now, &why) != SIM_NAT_PASS) {
      drop(p, t->id, P2PLAB_DROP_NAT, (int)why);
      return;
    }
  }
  if (p->hdr.dst_ip != t->ip) {
    drop(p, t->id, P2PLAB_DROP_NO_ROUTE, 0);
    return;
  }
  deliver(t, p, now);
}

static void on_loopback(void *ctx, uint64_t now) {
  packet *p = ctx;
  deliver(p->b->hosts[p->src_host], p, now);
}

/* Sends a packet from host h at `now`. Takes ownership of p. */
static void packet_send(host *h, packet *p, uint64_t now) {
  p2plab_backend *b = p->b;
  if (p->hdr.dst_ip == h->ip) {
    packet_at(p, now, on_loopback);
    return;
  }
  if (h->home != NULL) {
    sim_nat_drop_reason why = SIM_NAT_OK;
    sim_nat_verdict v = sim_nat_outbound(h->home, &p->hdr, now, &why);
    if (v == SIM_NAT_DROP) {
      drop(p, UINT32_MAX, P2PLAB_DROP_NAT, (int)why);
      return;
    }
    if (v == SIM_NAT_HAIRPIN) { /* back to the same home: only h lives there */
      packet_at(p, now, on_loopback);
      return;
    }
  }
  uint64_t at;
  int why = link_send(&h->up, &h->rng, p->size, now, &at);
  if (why != 0) {
    drop(p, UINT32_MAX, why, 0);
    return;
  }
  p->realm = h->realm;
  if (h->realm != 0) {
    packet_at(p, at, on_up_arrive);
    return;
  }
  /* In the root realm the route is static: resolve it now and schedule the
   * core crossing directly, saving one event per packet. */
  uint32_t att;
  if (!realm_lookup(b, 0, p->hdr.dst_ip, &att)) {
    drop(p, UINT32_MAX, P2PLAB_DROP_NO_ROUTE, 0);
    return;
  }
  p->att = att;
  route_down(p, 1, at);
}

/* ------------------------------------------------------------------------ */
/* delivery to sockets */

static void tcp_deliver(host *h, packet *p, uint64_t now);

static void deliver(host *h, packet *p, uint64_t now) {
  p2plab_backend *b = p->b;
  if (p->hdr.proto == SIM_IPPROTO_UDP) {
    p2plab_udp *s = sim_hmap_get(&b->map, KEY(KEY_UDP, h->id), p->hdr.dst_port);
    if (s == NULL) {
      drop(p, h->id, P2PLAB_DROP_NO_SOCKET, 0);
      return;
    }
    observe(b, p, h->id, 0, 0);
    p2plab_addr from = {.family = P2PLAB_AF_INET, .port = p->hdr.src_port};
    from.ip.v4 = p->hdr.src_ip;
    /* The callback reads the payload in place and may close this socket
     * or send more; it must not destroy the backend (no callback may). */
    s->fn(s->ctx, s, &from, p->data, p->len, now);
    packet_free(p);
    return;
  }
  observe(b, p, h->id, 0, 0);
  tcp_deliver(h, p, now);
  packet_free(p);
}

/* ------------------------------------------------------------------------ */
/* topology */

static int nb_create(const p2plab_backend_config *cfg, p2plab_backend **out) {
  *out = NULL;
  if (cfg == NULL)
    return P2P_ERR_INVALID;
  p2plab_backend *b = calloc(1, sizeof *b);
  if (b == NULL)
    return P2P_ERR_NOMEM;
  b->cfg = *cfg;
  if (sim_engine_new(&b->eng) < 0) {
    free(b);
    return P2P_ERR_NOMEM;
  }
  sim_rng_init(&b->core_rng, cfg->seed, SIM_RNG_STREAM(SIM_RNG_KIND_CORE, 0));
  sim_hmap_init(&b->map);
  b->next_public = PUBLIC_BASE + 1;
  b->graveyard_event_at = SIM_TIME_NEVER;
  for (size_t i = 0; i < POOL_CLASSES; i++)
    b->pool[i].max_free = POOL_MAX_BYTES / (sizeof(packet) + pool_cap[i]);
  *out = b;
  return 0;
}

static void tcp_free(struct p2plab_tcp *c) {
  sim_tcp_del(c->conn);
  free(c);
}

static void nb_destroy(p2plab_backend *b) {
  if (b == NULL)
    return;
  sim_hmap_entry *e;
  for (size_t i = 0; (i = sim_hmap_next(&b->map, i, &e)) != 0;) {
    unsigned space = (unsigned)(e->a >> 56);
    if (space == KEY_UDP || space == KEY_LISTEN)
      free(e->val);
    else if (space == KEY_TCP)
      tcp_free(e->val);
  }
  sim_hmap_free(&b->map);
  while (b->graveyard) {
    struct p2plab_tcp *c = b->graveyard;
    b->graveyard = c->next_dead;
    tcp_free(c);
  }
  while (b->in_flight)
    packet_free(b->in_flight);
  for (size_t i = 0; i < POOL_CLASSES; i++)
    while (b->pool[i].free) {
      packet *p = b->pool[i].free;
      b->pool[i].free = p->next;
      free(p);
    }
  for (size_t i = 0; i < b->n_hosts; i++) {
    sim_nat_del(b->hosts[i]->home);
    free(b->hosts[i]);
  }
  free(b->hosts);
  for (size_t i = 0; i < b->n_nats; i++)
    sim_nat_del(b->nats[i].nat);
  free(b->nats);
  sim_engine_del(b->eng);
  free(b);
}

static uint64_t nat_seed(const p2plab_backend *b, uint64_t index) {
  sim_rng r;
  sim_rng_init(&r, b->cfg.seed, SIM_RNG_STREAM(SIM_RNG_KIND_NAT, index));
  return sim_rng_u64(&r);
}

static int nb_nat_add(p2plab_backend *b, const sim_nat_config *cfg,
                      int32_t behind_nat, int32_t *out) {
  if (cfg == NULL || !cfg->enabled || behind_nat < P2PLAB_NO_NAT ||
      (behind_nat >= 0 && (size_t)behind_nat >= b->n_nats))
    return P2P_ERR_INVALID;
  if (b->n_nats >= 0x7fffffff)
    return P2P_ERR_LIMIT;
  if (b->n_nats == b->cap_nats) {
    size_t nc = b->cap_nats ? b->cap_nats * 2 : 8;
    shared_nat *nn = realloc(b->nats, nc * sizeof *nn);
    if (nn == NULL)
      return P2P_ERR_NOMEM;
    b->nats = nn;
    b->cap_nats = nc;
  }
  uint32_t idx = (uint32_t)b->n_nats;
  uint32_t realm = behind_nat < 0 ? 0 : (uint32_t)behind_nat + 1;
  uint32_t ext = alloc_in_realm(b, realm);
  shared_nat *n = &b->nats[idx];
  int rc = sim_nat_new(cfg, ext, nat_seed(b, idx), &n->nat);
  if (rc < 0)
    return rc;
  rc = sim_hmap_put(&b->map, KEY(KEY_REALM, realm), ext, att_val(ATT_NAT(idx)));
  if (rc < 0) {
    sim_nat_del(n->nat);
    return rc;
  }
  n->realm = realm;
  n->inner = idx + 1;
  n->next_inner = SHARED_BASE + 1;
  n->site = realm == 0 ? ATT_NAT(idx) : b->nats[realm - 1].site;
  b->n_nats++;
  *out = (int32_t)idx;
  return 0;
}

static int nb_host_add(p2plab_backend *b, const p2plab_host_config *cfg,
                       p2plab_host_id *out) {
  if (cfg == NULL || cfg->behind_nat < P2PLAB_NO_NAT ||
      (cfg->behind_nat >= 0 && (size_t)cfg->behind_nat >= b->n_nats))
    return P2P_ERR_INVALID;
  if (b->n_hosts >= ATT_NAT_BIT - 1)
    return P2P_ERR_LIMIT;
  if (b->n_hosts == b->cap_hosts) {
    size_t nc = b->cap_hosts ? b->cap_hosts * 2 : 16;
    host **nh = realloc(b->hosts, nc * sizeof *nh);
    if (nh == NULL)
      return P2P_ERR_NOMEM;
    b->hosts = nh;
    b->cap_hosts = nc;
  }
  host *h = calloc(1, sizeof *h);
  if (h == NULL)
    return P2P_ERR_NOMEM;
  h->id = (p2plab_host_id)b->n_hosts;
  snprintf(h->name, sizeof h->name, "%s", cfg->name ? cfg->name : "host");
  h->realm = cfg->behind_nat < 0 ? 0 : (uint32_t)cfg->behind_nat + 1;
  h->attach_ip = alloc_in_realm(b, h->realm);
  h->up.cfg = cfg->up;
  h->down.cfg = cfg->down;
  h->next_ephemeral = EPHEMERAL_MIN;
  h->site = h->realm == 0 ? ATT_HOST(h->id) : b->nats[h->realm - 1].site;
  sim_rng_init(&h->rng, b->cfg.seed, SIM_RNG_STREAM(SIM_RNG_KIND_LINK, h->id));
  if (cfg->home_nat != NULL && cfg->home_nat->enabled) {
    int rc = sim_nat_new(cfg->home_nat, h->attach_ip,
                         nat_seed(b, 0x80000000ull | h->id), &h->home);
    if (rc < 0) {
      free(h);
      return rc;
    }
    h->ip = HOME_HOST_IP;
  } else {
    h->ip = h->attach_ip;
  }
  int rc = sim_hmap_put(&b->map, KEY(KEY_REALM, h->realm), h->attach_ip,
                        att_val(ATT_HOST(h->id)));
  if (rc < 0) {
    sim_nat_del(h->home);
    free(h);
    return rc;
  }
  b->hosts[b->n_hosts++] = h;
  *out = h->id;
  return 0;
}

static host *get_host(p2plab_backend *b, p2plab_host_id id) {
  return id < b->n_hosts ? b->hosts[id] : NULL;
}

static int nb_host_addr(p2plab_backend *b, p2plab_host_id id,
                        p2plab_addr *out) {
  host *h = get_host(b, id);
  if (h == NULL)
    return P2P_ERR_NOTFOUND;
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = h->ip;
  return 0;
}

static int nb_host_public_addr(p2plab_backend *b, p2plab_host_id id,
                               p2plab_addr *out) {
  host *h = get_host(b, id);
  if (h == NULL)
    return P2P_ERR_NOTFOUND;
  uint32_t ip = h->attach_ip;
  for (uint32_t realm = h->realm; realm != 0;) {
    shared_nat *n = &b->nats[realm - 1];
    ip = sim_nat_external_ip(n->nat);
    realm = n->realm;
  }
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = ip;
  return 0;
}

static int nb_core_latency_set(p2plab_backend *b, p2plab_host_id a,
                               p2plab_host_id c, uint64_t latency_ns) {
  host *ha = get_host(b, a), *hc = get_host(b, c);
  if (ha == NULL || hc == NULL)
    return P2P_ERR_NOTFOUND;
  if (latency_ns >= UINTPTR_MAX)
    return P2P_ERR_INVALID;
  uint32_t lo = ha->site < hc->site ? ha->site : hc->site;
  uint32_t hi = ha->site < hc->site ? hc->site : ha->site;
  int had = sim_hmap_get(&b->map, KEY(KEY_LATENCY, lo), hi) != NULL;
  int rc = sim_hmap_put(&b->map, KEY(KEY_LATENCY, lo), hi,
                        (void *)(uintptr_t)(latency_ns + 1));
  if (rc == 0 && !had)
    b->n_latency_overrides++;
  return rc;
}

static void nb_packet_observer(p2plab_backend *b, p2plab_packet_fn fn,
                               void *ctx) {
  b->observer = fn;
  b->observer_ctx = ctx;
}

/* ------------------------------------------------------------------------ */
/* clock and timers */

static uint64_t nb_now(p2plab_backend *b) {
  return sim_engine_now(b->eng);
}

static int nb_timer_start(p2plab_backend *b, uint64_t at_ns, p2plab_timer_fn fn,
                          void *ctx, p2plab_timer *out) {
  sim_timer t = 0;
  int rc = sim_engine_schedule(b->eng, at_ns, fn, ctx, &t);
  if (out)
    *out = t;
  return rc;
}

static int nb_timer_cancel(p2plab_backend *b, p2plab_timer t) {
  return sim_engine_cancel(b->eng, t);
}

static int64_t nb_run_until(p2plab_backend *b, uint64_t until_ns) {
  return sim_engine_run_until(b->eng, until_ns);
}

static void nb_stop(p2plab_backend *b) {
  sim_engine_stop(b->eng);
}

static uint64_t nb_events_processed(p2plab_backend *b) {
  return sim_engine_events_run(b->eng);
}

/* ------------------------------------------------------------------------ */
/* UDP */

static int port_taken(p2plab_backend *b, host *h, int space, uint16_t port) {
  return sim_hmap_get(&b->map, KEY(space, h->id), port) != NULL;
}

/* Picks a free ephemeral port for `space` on h, or 0 when none is left. */
static uint16_t ephemeral(p2plab_backend *b, host *h, int space) {
  for (uint32_t tries = 0; tries <= EPHEMERAL_MAX - EPHEMERAL_MIN; tries++) {
    uint16_t p = h->next_ephemeral;
    h->next_ephemeral = p == EPHEMERAL_MAX ? EPHEMERAL_MIN : (uint16_t)(p + 1);
    if (space == KEY_UDP ? !port_taken(b, h, KEY_UDP, p)
                         : !port_taken(b, h, KEY_TCPPORT, p) &&
                               !port_taken(b, h, KEY_LISTEN, p))
      return p;
  }
  return 0;
}

static int nb_udp_bind(p2plab_backend *b, p2plab_host_id hid, uint16_t port,
                       p2plab_udp_recv_fn fn, void *ctx, p2plab_udp **out) {
  host *h = get_host(b, hid);
  if (h == NULL)
    return P2P_ERR_NOTFOUND;
  if (fn == NULL)
    return P2P_ERR_INVALID;
  if (port == 0 && (port = ephemeral(b, h, KEY_UDP)) == 0)
    return P2P_ERR_LIMIT;
  if (port_taken(b, h, KEY_UDP, port))
    return P2P_ERR_ADDRINUSE;
  p2plab_udp *s = calloc(1, sizeof *s);
  if (s == NULL)
    return P2P_ERR_NOMEM;
  *s = (p2plab_udp){.b = b, .h = h, .port = port, .fn = fn, .ctx = ctx};
  int rc = sim_hmap_put(&b->map, KEY(KEY_UDP, h->id), port, s);
  if (rc < 0) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

static int nb_udp_local_addr(p2plab_udp *s, p2plab_addr *out) {
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = s->h->ip;
  out->port = s->port;
  return 0;
}

static int nb_udp_send(p2plab_udp *s, const p2plab_addr *to, const uint8_t *buf,
                       size_t len) {
  if (to == NULL || to->family != P2PLAB_AF_INET || to->port == 0 ||
      (buf == NULL && len != 0))
    return P2P_ERR_INVALID;
  if (len > UDP_MAX_PAYLOAD)
    return P2P_ERR_LIMIT;
  p2plab_backend *b = s->b;
  packet *p = packet_new(b, s->h, SIM_IPPROTO_UDP, (uint32_t)len);
  if (p == NULL)
    return P2P_ERR_NOMEM;
  p->hdr.src_ip = s->h->ip;
  p->hdr.src_port = s->port;
  p->hdr.dst_ip = to->ip.v4;
  p->hdr.dst_port = to->port;
  if (len)
    memcpy(p->data, buf, len);
  packet_send(s->h, p, sim_engine_now(b->eng));
  return 0;
}

static void nb_udp_close(p2plab_udp *s) {
  if (s == NULL)
    return;
  sim_hmap_del(&s->b->map, KEY(KEY_UDP, s->h->id), s->port);
  free(s);
}

/* ------------------------------------------------------------------------ */
/* TCP */

static uint64_t tcp_key_a(const struct p2plab_tcp *c) {
  return KEY(KEY_TCP, ((uint64_t)c->h->id << 16) | c->lport);
}
static uint64_t tcp_key_b(const struct p2plab_tcp *c) {
  return ((uint64_t)c->rip << 16) | c->rport;
}

/* Connections per local TCP port, so ephemeral ports avoid ports in use. */
static int tcp_port_ref(p2plab_backend *b, host *h, uint16_t port, int d) {
  uintptr_t n = (uintptr_t)sim_hmap_get(&b->map, KEY(KEY_TCPPORT, h->id), port);
  n = d > 0 ? (n ? n + 1 : 2) : n - 1; /* stored as count + 1 */
  if (n <= 1) {
    sim_hmap_del(&b->map, KEY(KEY_TCPPORT, h->id), port);
    return 0;
  }
  return sim_hmap_put(&b->map, KEY(KEY_TCPPORT, h->id), port, (void *)n);
}

static void graveyard_sweep(void *ctx, uint64_t now) {
  p2plab_backend *b = ctx;
  (void)now;
  b->graveyard_event_at = SIM_TIME_NEVER;
  while (b->graveyard) {
    struct p2plab_tcp *c = b->graveyard;
    b->graveyard = c->next_dead;
    tcp_free(c);
  }
}

/* Takes a connection out of the table; it is freed by an event at the
 * current time, after whatever call stack got here has unwound. */
static void tcp_bury(struct p2plab_tcp *c) {
  if (c->dead)
    return;
  p2plab_backend *b = c->b;
  c->dead = 1;
  if (c->timer_at != SIM_TIME_NEVER)
    sim_engine_cancel(b->eng, c->timer);
  c->timer_at = SIM_TIME_NEVER;
  sim_hmap_del(&b->map, tcp_key_a(c), tcp_key_b(c));
  (void)tcp_port_ref(b, c->h, c->lport, -1); /* a decrement never allocates */
  c->next_dead = b->graveyard;
  b->graveyard = c;
  uint64_t now = sim_engine_now(b->eng);
  if (b->graveyard_event_at != now) {
    if (sim_engine_schedule(b->eng, now, graveyard_sweep, b, NULL) == 0)
      b->graveyard_event_at = now;
  }
}

static void tcp_timer_fire(void *ctx, uint64_t now);

/* Re-arms the connection's engine timer after any call into the model.
 * A timer that would fire later than needed is replaced; one that fires
 * early is left (the model ignores early calls), which avoids a cancel and
 * a tombstone on every ACK that pushes the retransmission deadline back. */
static void tcp_rearm(struct p2plab_tcp *c) {
  if (c->dead)
    return;
  uint64_t exp = sim_tcp_expiry(c->conn);
  if (exp == SIM_TIME_NEVER || exp >= c->timer_at)
    return;
  p2plab_backend *b = c->b;
  if (c->timer_at != SIM_TIME_NEVER)
    sim_engine_cancel(b->eng, c->timer);
  uint64_t now = sim_engine_now(b->eng);
  if (exp < now)
    exp = now;
  if (sim_engine_schedule(b->eng, exp, tcp_timer_fire, c, &c->timer) < 0) {
    logf_(b, "netsim: cannot arm a TCP timer");
    c->timer_at = SIM_TIME_NEVER;
    return;
  }
  c->timer_at = exp;
}

static void tcp_timer_fire(void *ctx, uint64_t now) {
  struct p2plab_tcp *c = ctx;
  c->timer_at = SIM_TIME_NEVER;
  sim_tcp_on_expiry(c->conn, now);
  tcp_rearm(c);
}

static void tcp_emit(void *ctx, const sim_tcp_seg *seg, uint64_t now) {
  struct p2plab_tcp *c = ctx;
  packet *p = packet_new(c->b, c->h, SIM_IPPROTO_TCP, seg->len);
  if (p == NULL) {
    logf_(c->b, "netsim: out of memory; TCP segment lost");
    return;
  }
  p->hdr.tcp_flags = seg->flags;
  p->hdr.src_ip = c->h->ip;
  p->hdr.src_port = c->lport;
  p->hdr.dst_ip = c->rip;
  p->hdr.dst_port = c->rport;
  p->seq = seg->seq;
  p->ack = seg->ack;
  p->wnd = seg->wnd;
  if (seg->len)
    memcpy(p->data, seg->data, seg->len);
  packet_send(c->h, p, now);
}

static void tcp_connected(void *ctx, uint64_t now) {
  struct p2plab_tcp *c = ctx;
  if (c->accepted) {
    p2plab_tcp_listener *l =
        sim_hmap_get(&c->b->map, KEY(KEY_LISTEN, c->h->id), c->lport);
    if (l == NULL) { /* the listener closed during the handshake */
      sim_tcp_abort(c->conn, now);
      c->reported_close = 1;
      tcp_bury(c);
      return;
    }
    p2plab_addr remote = {.family = P2PLAB_AF_INET, .port = c->rport};
    remote.ip.v4 = c->rip;
    const p2plab_tcp_callbacks *cbs = NULL;
    void *cb_ctx = NULL;
    l->fn(l->ctx, l, c, &remote, &cbs, &cb_ctx, now);
    c->cbs = cbs;
    c->ctx = cb_ctx;
    if (cbs == NULL && !c->dead) { /* the application took nothing */
      sim_tcp_abort(c->conn, now);
      c->reported_close = 1;
      tcp_bury(c);
    }
    return;
  }
  if (c->cbs && c->cbs->on_connect)
    c->cbs->on_connect(c->ctx, c, now);
}

static void tcp_data(void *ctx, const uint8_t *buf, size_t len, uint64_t now) {
  struct p2plab_tcp *c = ctx;
  if (!c->reported_close && c->cbs && c->cbs->on_data)
    c->cbs->on_data(c->ctx, c, buf, len, now);
}

static void tcp_eof(void *ctx, uint64_t now) {
  struct p2plab_tcp *c = ctx;
  if (!c->reported_close && c->cbs && c->cbs->on_eof)
    c->cbs->on_eof(c->ctx, c, now);
}

static void report_close(struct p2plab_tcp *c, int err, uint64_t now) {
  if (c->reported_close)
    return;
  c->reported_close = 1;
  if (c->cbs && c->cbs->on_close)
    c->cbs->on_close(c->ctx, c, err, now);
}

static void tcp_closed(void *ctx, int err, uint64_t now) {
  struct p2plab_tcp *c = ctx;
  report_close(c, err, now);
  tcp_bury(c);
}

static const sim_tcp_ops tcp_ops = {
    .emit = tcp_emit,
    .connected = tcp_connected,
    .data = tcp_data,
    .eof = tcp_eof,
    .closed = tcp_closed,
};

/* After a call into the model: TIME_WAIT is the end of the connection for
 * the application (the model keeps it to answer a retransmitted FIN). */
static void tcp_after(struct p2plab_tcp *c, uint64_t now) {
  if (!c->dead && !c->reported_close &&
      sim_tcp_get_state(c->conn) == SIM_TCP_TIME_WAIT)
    report_close(c, 0, now);
  tcp_rearm(c);
}

static int tcp_new(p2plab_backend *b, host *h, uint16_t lport, uint32_t rip,
                   uint16_t rport, struct p2plab_tcp **out) {
  struct p2plab_tcp *c = calloc(1, sizeof *c);
  if (c == NULL)
    return P2P_ERR_NOMEM;
  c->b = b;
  c->h = h;
  c->lport = lport;
  c->rip = rip;
  c->rport = rport;
  c->timer_at = SIM_TIME_NEVER;
  uint32_t iss = (uint32_t)sim_rng_u64(&h->rng);
  int rc = sim_tcp_new(NULL, &tcp_ops, c, iss, &c->conn);
  if (rc < 0) {
    free(c);
    return rc;
  }
  if (sim_hmap_get(&b->map, tcp_key_a(c), tcp_key_b(c)) != NULL) {
    sim_tcp_del(c->conn);
    free(c);
    return P2P_ERR_ADDRINUSE;
  }
  rc = sim_hmap_put(&b->map, tcp_key_a(c), tcp_key_b(c), c);
  if (rc == 0 && (rc = tcp_port_ref(b, h, lport, +1)) < 0)
    sim_hmap_del(&b->map, tcp_key_a(c), tcp_key_b(c));
  if (rc < 0) {
    sim_tcp_del(c->conn);
    free(c);
    return rc;
  }
  *out = c;
  return 0;
}

static void send_rst(host *h, const packet *in, uint64_t now) {
  sim_tcp_seg seg = {.seq = in->seq,
                     .ack = in->ack,
                     .wnd = in->wnd,
                     .flags = in->hdr.tcp_flags,
                     .len = in->len,
                     .data = in->data};
  sim_tcp_seg rst;
  if (!sim_tcp_make_rst(&seg, &rst))
    return;
  packet *p = packet_new(in->b, h, SIM_IPPROTO_TCP, 0);
  if (p == NULL)
    return;
  p->hdr.tcp_flags = rst.flags;
  p->hdr.src_ip = h->ip;
  p->hdr.src_port = in->hdr.dst_port;
  p->hdr.dst_ip = in->hdr.src_ip;
  p->hdr.dst_port = in->hdr.src_port;
  p->seq = rst.seq;
  p->ack = rst.ack;
  packet_send(h, p, now);
}

static void tcp_deliver(host *h, packet *p, uint64_t now) {
  p2plab_backend *b = p->b;
  sim_tcp_seg seg = {.seq = p->seq,
                     .ack = p->ack,
                     .wnd = p->wnd,
                     .flags = p->hdr.tcp_flags,
                     .len = p->len,
                     .data = p->data};
  struct p2plab_tcp *c = sim_hmap_get(
      &b->map, KEY(KEY_TCP, ((uint64_t)h->id << 16) | p->hdr.dst_port),
      ((uint64_t)p->hdr.src_ip << 16) | p->hdr.src_port);
  if (c != NULL) {
    sim_tcp_input(c->conn, &seg, now);
    tcp_after(c, now);
    return;
  }
  p2plab_tcp_listener *l =
      sim_hmap_get(&b->map, KEY(KEY_LISTEN, h->id), p->hdr.dst_port);
  if (l != NULL &&
      (seg.flags & (SIM_TCP_SYN | SIM_TCP_ACK | SIM_TCP_RST)) == SIM_TCP_SYN) {
    if (tcp_new(b, h, p->hdr.dst_port, p->hdr.src_ip, p->hdr.src_port, &c) <
        0) {
      logf_(b, "netsim: cannot accept a TCP connection on %s:%u", h->name,
            (unsigned)p->hdr.dst_port);
      return;
    }
    c->accepted = 1;
    if (sim_tcp_accept(c->conn, &seg, now) < 0) {
      c->reported_close = 1;
      tcp_bury(c);
      return;
    }
    tcp_after(c, now);
    return;
  }
  send_rst(h, p, now); /* RFC 9293: a closed port answers with RST */
}

static int nb_tcp_listen(p2plab_backend *b, p2plab_host_id hid, uint16_t port,
                         p2plab_tcp_accept_fn fn, void *ctx,
                         p2plab_tcp_listener **out) {
  host *h = get_host(b, hid);
  if (h == NULL)
    return P2P_ERR_NOTFOUND;
  if (fn == NULL)
    return P2P_ERR_INVALID;
  if (port == 0 && (port = ephemeral(b, h, KEY_LISTEN)) == 0)
    return P2P_ERR_LIMIT;
  if (port_taken(b, h, KEY_LISTEN, port))
    return P2P_ERR_ADDRINUSE;
  p2plab_tcp_listener *l = calloc(1, sizeof *l);
  if (l == NULL)
    return P2P_ERR_NOMEM;
  *l =
      (p2plab_tcp_listener){.b = b, .h = h, .port = port, .fn = fn, .ctx = ctx};
  int rc = sim_hmap_put(&b->map, KEY(KEY_LISTEN, h->id), port, l);
  if (rc < 0) {
    free(l);
    return rc;
  }
  *out = l;
  return 0;
}

static void nb_tcp_listener_close(p2plab_tcp_listener *l) {
  if (l == NULL)
    return;
  sim_hmap_del(&l->b->map, KEY(KEY_LISTEN, l->h->id), l->port);
  free(l);
}

static int nb_tcp_listener_addr(p2plab_tcp_listener *l, p2plab_addr *out) {
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = l->h->ip;
  out->port = l->port;
  return 0;
}

static int nb_tcp_connect(p2plab_backend *b, p2plab_host_id hid,
                          uint16_t local_port, const p2plab_addr *to,
                          const p2plab_tcp_callbacks *cbs, void *ctx,
                          p2plab_tcp **out) {
  host *h = get_host(b, hid);
  if (h == NULL)
    return P2P_ERR_NOTFOUND;
  if (to == NULL || to->family != P2PLAB_AF_INET || to->port == 0 ||
      cbs == NULL)
    return P2P_ERR_INVALID;
  if (local_port == 0 && (local_port = ephemeral(b, h, KEY_TCPPORT)) == 0)
    return P2P_ERR_LIMIT;
  struct p2plab_tcp *c;
  int rc = tcp_new(b, h, local_port, to->ip.v4, to->port, &c);
  if (rc < 0)
    return rc;
  c->cbs = cbs;
  c->ctx = ctx;
  uint64_t now = sim_engine_now(b->eng);
  rc = sim_tcp_connect(c->conn, now);
  if (rc < 0) {
    c->reported_close = 1;
    tcp_bury(c);
    return rc;
  }
  tcp_after(c, now);
  *out = c;
  return 0;
}

static int nb_tcp_send(p2plab_tcp *c, const uint8_t *buf, size_t len) {
  if (c->dead || c->reported_close)
    return P2P_ERR_STATE;
  uint64_t now = sim_engine_now(c->b->eng);
  int rc = sim_tcp_send(c->conn, buf, len, now);
  tcp_after(c, now);
  return rc;
}

static int nb_tcp_shutdown(p2plab_tcp *c) {
  if (c->dead || c->reported_close)
    return P2P_ERR_STATE;
  uint64_t now = sim_engine_now(c->b->eng);
  int rc = sim_tcp_shutdown(c->conn, now);
  tcp_after(c, now);
  return rc;
}

static void nb_tcp_abort(p2plab_tcp *c) {
  if (c->dead)
    return;
  sim_tcp_abort(c->conn, sim_engine_now(c->b->eng));
  c->reported_close = 1;
  tcp_bury(c);
}

static int nb_tcp_local_addr(p2plab_tcp *c, p2plab_addr *out) {
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = c->h->ip;
  out->port = c->lport;
  return 0;
}

static int nb_tcp_remote_addr(p2plab_tcp *c, p2plab_addr *out) {
  memset(out, 0, sizeof *out);
  out->family = P2PLAB_AF_INET;
  out->ip.v4 = c->rip;
  out->port = c->rport;
  return 0;
}

/* ------------------------------------------------------------------------ */

static const p2plab_backend_api netsim_api = {
    .abi_version = P2PLAB_BACKEND_ABI_VERSION,
    .name = "netsim",
    .create = nb_create,
    .destroy = nb_destroy,
    .nat_add = nb_nat_add,
    .host_add = nb_host_add,
    .host_addr = nb_host_addr,
    .host_public_addr = nb_host_public_addr,
    .core_latency_set = nb_core_latency_set,
    .packet_observer = nb_packet_observer,
    .now = nb_now,
    .timer_start = nb_timer_start,
    .timer_cancel = nb_timer_cancel,
    .udp_bind = nb_udp_bind,
    .udp_local_addr = nb_udp_local_addr,
    .udp_send = nb_udp_send,
    .udp_close = nb_udp_close,
    .tcp_listen = nb_tcp_listen,
    .tcp_listener_close = nb_tcp_listener_close,
    .tcp_listener_addr = nb_tcp_listener_addr,
    .tcp_connect = nb_tcp_connect,
    .tcp_send = nb_tcp_send,
    .tcp_shutdown = nb_tcp_shutdown,
    .tcp_abort = nb_tcp_abort,
    .tcp_local_addr = nb_tcp_local_addr,
    .tcp_remote_addr = nb_tcp_remote_addr,
    .run_until = nb_run_until,
    .stop = nb_stop,
    .events_processed = nb_events_processed,
};

const p2plab_backend_api *p2plab_backend_entry(void);
EXPORT const p2plab_backend_api *p2plab_backend_entry(void) {
  return &netsim_api;
}
