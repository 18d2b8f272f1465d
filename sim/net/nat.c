/*
 * sim/net/nat.c - the NAT model (RFC 4787, RFC 5382).
 *
 * State lives in three pools (mappings, sessions, address groups) addressed
 * by 32-bit index, and one hash map (sim/util/hmap.h) that indexes all of
 * them by 128-bit keys:
 *
 *  - MAP_INT  (proto, internal ip:port [, remote ip [, remote port]]) ->
 *             mapping, the key fields present depending on the mapping
 *             behaviour;
 *  - MAP_EXT  (proto, external port) -> mapping;
 *  - SESS     (mapping, remote ip:port) -> session;
 *  - GROUP    (mapping, remote ip) -> address group (only with
 *             address-dependent filtering): the sessions of one mapping to
 *             one remote address, so that ADF is one lookup, not a scan.
 *
 * Expiry is lazy. A session is alive while now < its expiry; a mapping (and
 * a group) keeps the maximum expiry of its sessions, so its liveness is one
 * comparison. The maximum only has to be recomputed (a scan of the
 * mapping's sessions) when a session's expiry moves backwards, which only
 * happens when a TCP session closes (FIN both ways or RST). Dead state found
 * by a lookup is freed on the spot or reinitialised, exactly as if
 * sim_nat_expire had freed it, so verdicts and port choices never depend on
 * whether or when sim_nat_expire ran.
 *
 * Allocation happens only when a pool or the table must grow (doubling), and
 * capacity for the worst case of one packet is reserved before any state
 * changes, so a packet is either processed completely or dropped with
 * SIM_NAT_DROP_NOMEM without side effects.
 */
#include "sim/net/nat.h"

#include "sim/engine/rng.h"
#include "sim/util/hmap.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

/* Key kinds, in the top byte of k0. */
enum { KEY_MAP_INT = 1, KEY_MAP_EXT = 2, KEY_SESS = 3, KEY_GROUP = 4 };

/* TCP session state bits. */
enum {
  TCP_SYN_OUT = 0x01,
  TCP_SYN_IN = 0x02,
  TCP_FIN_OUT = 0x04,
  TCP_FIN_IN = 0x08,
  TCP_RST = 0x10
};

typedef struct nat_map {
  uint64_t expiry;    /* max expiry of its sessions; dead when <= now */
  uint32_t iip;       /* internal address */
  uint32_t rip;       /* remote address in the key (ADM, APDM), else 0 */
  uint32_t sess_head; /* its sessions, linked through nat_sess.next_in_map */
  uint32_t next_free; /* free-list link while unused */
  uint16_t iport, rport, eport;
  uint8_t proto;
  uint8_t in_use;
} nat_map;

typedef struct nat_sess {
  uint64_t expiry;
  uint32_t map, rip;
  uint32_t next_in_map;
  uint32_t group;         /* address group, NIL without ADF */
  uint32_t next_in_group; /* also the free-list link while unused */
  uint16_t rport;
  uint8_t tcp; /* TCP_* bits */
  uint8_t in_use;
} nat_sess;

typedef struct nat_group {
  uint64_t expiry; /* max expiry of its sessions */
  uint32_t map, rip;
  uint32_t sess_head; /* linked through nat_sess.next_in_group */
  uint32_t next_free;
  uint8_t in_use;
} nat_group;

struct sim_nat {
  sim_nat_config cfg;
  uint32_t ext_ip;
  sim_rng rng;       /* random port allocation */
  uint16_t seq_next; /* next candidate of sequential allocation */
  sim_hmap tab;      /* all four key kinds; values are pool index + 1 */
  nat_map *maps;
  uint32_t maps_cap, maps_top, maps_free;
  nat_sess *sess;
  uint32_t sess_cap, sess_top, sess_free;
  nat_group *groups;
  uint32_t groups_cap, groups_top, groups_free;
  uint64_t drops[SIM_NAT_DROP_REASON_COUNT];
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- index ------------------------------------------------------------ */

/* The shared map stores pointers; pool indices go in as index + 1 so that
 * index 0 is not the map's "absent" NULL. */
static uint32_t tab_find(const sim_hmap *t, uint64_t k0, uint64_t k1) {
  void *v = sim_hmap_get(t, k0, k1);
  return v ? (uint32_t)((uintptr_t)v - 1) : NIL;
}

/* Inserts a key known to be absent; the caller has reserved room, so the
 * put cannot fail. */
static void tab_put(sim_hmap *t, uint64_t k0, uint64_t k1, uint32_t val) {
  int rc = sim_hmap_put(t, k0, k1, (void *)(uintptr_t)((uint64_t)val + 1));
  (void)rc;
}

static void tab_del(sim_hmap *t, uint64_t k0, uint64_t k1) {
  sim_hmap_del(t, k0, k1);
}

/* ---- keys ------------------------------------------------------------- */

static uint64_t k0_map_int(uint8_t proto, uint32_t iip, uint16_t iport) {
  return ((uint64_t)KEY_MAP_INT << 56) | ((uint64_t)proto << 48) |
         ((uint64_t)iport << 32) | iip;
}

static uint64_t k1_map_int(uint32_t rip, uint16_t rport) {
  return ((uint64_t)rport << 32) | rip;
}

static uint64_t k0_map_ext(uint8_t proto, uint16_t eport) {
  return ((uint64_t)KEY_MAP_EXT << 56) | ((uint64_t)proto << 48) | eport;
}

static uint64_t k0_sess(uint32_t map, uint16_t rport) {
  return ((uint64_t)KEY_SESS << 56) | ((uint64_t)rport << 32) | map;
}

static uint64_t k0_group(uint32_t map) {
  return ((uint64_t)KEY_GROUP << 56) | map;
}

/* ---- pools ------------------------------------------------------------ */

/* Makes sure at least `need` elements of an array of `*cap` elements lie
 * beyond `top`, so that `need` allocations succeed whatever the free list
 * holds; `*out` receives the (possibly moved) array. The tail only shrinks
 * when the free list is empty, so pools do not grow in steady state. */
static int pool_reserve(void *arr, uint32_t *cap, uint32_t top, size_t esz,
                        uint32_t need, void **out) {
  *out = arr;
  if (*cap - top >= need)
    return 0;
  uint64_t ncap = *cap ? (uint64_t)*cap * 2 : 16;
  while (ncap - top < need)
    ncap *= 2;
  if (ncap >= NIL)
    return P2P_ERR_NOMEM;
  void *na = realloc(arr, (size_t)ncap * esz);
  if (!na)
    return P2P_ERR_NOMEM;
  *out = na;
  *cap = (uint32_t)ncap;
  return 0;
}

/* Reserves everything one packet can create (a hairpinned one creates a
 * mapping, a session and a group outbound, then a session and a group on
 * the target mapping): afterwards nothing in its processing fails. */
static int reserve(sim_nat *n) {
  void *p;
  if (pool_reserve(n->maps, &n->maps_cap, n->maps_top, sizeof(nat_map), 1,
                   &p) != 0)
    return P2P_ERR_NOMEM;
  n->maps = p;
  if (pool_reserve(n->sess, &n->sess_cap, n->sess_top, sizeof(nat_sess), 2,
                   &p) != 0)
    return P2P_ERR_NOMEM;
  n->sess = p;
  if (n->cfg.filtering == SIM_NAT_AD) {
    if (pool_reserve(n->groups, &n->groups_cap, n->groups_top,
                     sizeof(nat_group), 2, &p) != 0)
      return P2P_ERR_NOMEM;
    n->groups = p;
  }
  return sim_hmap_reserve(&n->tab, 8);
}

static uint32_t map_alloc(sim_nat *n) {
  uint32_t i = n->maps_free;
  if (i != NIL)
    n->maps_free = n->maps[i].next_free;
  else
    i = n->maps_top++;
  return i;
}

static uint32_t sess_alloc(sim_nat *n) {
  uint32_t i = n->sess_free;
  if (i != NIL)
    n->sess_free = n->sess[i].next_in_group;
  else
    i = n->sess_top++;
  return i;
}

static uint32_t group_alloc(sim_nat *n) {
  uint32_t i = n->groups_free;
  if (i != NIL)
    n->groups_free = n->groups[i].next_free;
  else
    i = n->groups_top++;
  return i;
}

static void sess_release(sim_nat *n, uint32_t si) {
  nat_sess *s = &n->sess[si];
  tab_del(&n->tab, k0_sess(s->map, s->rport), s->rip);
  s->in_use = 0;
  s->next_in_group = n->sess_free;
  n->sess_free = si;
}

static void group_release(sim_nat *n, uint32_t gi) {
  nat_group *g = &n->groups[gi];
  tab_del(&n->tab, k0_group(g->map), g->rip);
  g->in_use = 0;
  g->next_free = n->groups_free;
  n->groups_free = gi;
}

/* Frees a mapping with all its sessions and groups; its external port is
 * free again. */
static void map_release(sim_nat *n, uint32_t mi) {
  nat_map *m = &n->maps[mi];
  uint32_t si = m->sess_head;
  while (si != NIL) {
    uint32_t next = n->sess[si].next_in_map;
    uint32_t gi = n->sess[si].group;
    if (gi != NIL && n->groups[gi].in_use)
      group_release(n, gi);
    sess_release(n, si);
    si = next;
  }
  tab_del(&n->tab, k0_map_int(m->proto, m->iip, m->iport),
          k1_map_int(m->rip, m->rport));
  tab_del(&n->tab, k0_map_ext(m->proto, m->eport), 0);
  m->in_use = 0;
  m->next_free = n->maps_free;
  n->maps_free = mi;
}

/* ---- sessions --------------------------------------------------------- */

static bool tcp_established(uint8_t st) {
  return (st & (TCP_SYN_OUT | TCP_SYN_IN)) == (TCP_SYN_OUT | TCP_SYN_IN) &&
         !(st & TCP_RST) &&
         (st & (TCP_FIN_OUT | TCP_FIN_IN)) != (TCP_FIN_OUT | TCP_FIN_IN);
}

static bool tcp_closed(uint8_t st) {
  return (st & TCP_RST) ||
         (st & (TCP_FIN_OUT | TCP_FIN_IN)) == (TCP_FIN_OUT | TCP_FIN_IN);
}

static uint64_t sess_timeout(const sim_nat *n, uint8_t proto, uint8_t st) {
  if (proto == SIM_IPPROTO_UDP)
    return n->cfg.udp_timeout_ns;
  return tcp_established(st) ? n->cfg.tcp_established_timeout_ns
                             : n->cfg.tcp_transitory_timeout_ns;
}

static void map_recompute(sim_nat *n, uint32_t mi) {
  uint64_t e = 0;
  for (uint32_t si = n->maps[mi].sess_head; si != NIL;
       si = n->sess[si].next_in_map)
    if (n->sess[si].expiry > e)
      e = n->sess[si].expiry;
  n->maps[mi].expiry = e;
}

static void group_recompute(sim_nat *n, uint32_t gi) {
  uint64_t e = 0;
  for (uint32_t si = n->groups[gi].sess_head; si != NIL;
       si = n->sess[si].next_in_group)
    if (n->sess[si].expiry > e)
      e = n->sess[si].expiry;
  n->groups[gi].expiry = e;
}

/* Sets a session's expiry and keeps the maxima of its mapping and group
 * exact. */
static void sess_set_expiry(sim_nat *n, uint32_t si, uint64_t e) {
  nat_sess *s = &n->sess[si];
  uint64_t old = s->expiry;
  s->expiry = e;
  nat_map *m = &n->maps[s->map];
  nat_group *g = s->group != NIL ? &n->groups[s->group] : NULL;
  if (e >= old) {
    if (e > m->expiry)
      m->expiry = e;
    if (g && e > g->expiry)
      g->expiry = e;
    return;
  }
  if (old == m->expiry)
    map_recompute(n, s->map);
  if (g && old == g->expiry)
    group_recompute(n, s->group);
}

/* Creates a session of mapping mi to rip:rport with expiry 0 (the caller
 * sets it). Capacity has been reserved. */
static uint32_t sess_create(sim_nat *n, uint32_t mi, uint32_t rip,
                            uint16_t rport) {
  uint32_t si = sess_alloc(n);
  nat_sess *s = &n->sess[si];
  memset(s, 0, sizeof(*s));
  s->map = mi;
  s->rip = rip;
  s->rport = rport;
  s->in_use = 1;
  s->group = NIL;
  s->next_in_group = NIL;
  s->next_in_map = n->maps[mi].sess_head;
  n->maps[mi].sess_head = si;
  tab_put(&n->tab, k0_sess(mi, rport), rip, si);
  if (n->cfg.filtering == SIM_NAT_AD) {
    uint32_t gi = tab_find(&n->tab, k0_group(mi), rip);
    if (gi == NIL) {
      gi = group_alloc(n);
      nat_group *g = &n->groups[gi];
      g->expiry = 0;
      g->map = mi;
      g->rip = rip;
      g->sess_head = NIL;
      g->next_free = NIL;
      g->in_use = 1;
      tab_put(&n->tab, k0_group(mi), rip, gi);
    }
    s->group = gi;
    s->next_in_group = n->groups[gi].sess_head;
    n->groups[gi].sess_head = si;
  }
  return si;
}

/* Finds the session of mapping mi to rip:rport, dead or alive; NIL if
 * none. */
static uint32_t sess_find(const sim_nat *n, uint32_t mi, uint32_t rip,
                          uint16_t rport) {
  return tab_find(&n->tab, k0_sess(mi, rport), rip);
}

/* ---- port allocation -------------------------------------------------- */

/* Whether an external port is free at `now`; a dead mapping holding it is
 * freed. */
static bool port_free(sim_nat *n, uint8_t proto, uint16_t port, uint64_t now) {
  uint32_t mi = tab_find(&n->tab, k0_map_ext(proto, port), 0);
  if (mi == NIL)
    return true;
  if (n->maps[mi].expiry > now)
    return false;
  map_release(n, mi);
  return true;
}

/* Picks a free external port, or returns false when all are taken. */
static bool port_pick(sim_nat *n, uint8_t proto, uint16_t iport, uint64_t now,
                      uint16_t *out) {
  uint32_t lo = n->cfg.port_min, hi = n->cfg.port_max;
  uint32_t range = hi - lo + 1;
  uint32_t start;
  switch (n->cfg.port_alloc) {
  case SIM_NAT_PORT_SEQUENTIAL:
    for (uint32_t i = 0; i < range; i++) {
      uint16_t cand = n->seq_next;
      n->seq_next = cand >= hi ? (uint16_t)lo : (uint16_t)(cand + 1);
      if (port_free(n, proto, cand, now)) {
        *out = cand;
        return true;
      }
    }
    return false;
  case SIM_NAT_PORT_RANDOM:
    /* A few independent draws find a free port unless the range is nearly
     * full; then a scan from a random start settles it. */
    for (int i = 0; i < 16; i++) {
      uint16_t cand = (uint16_t)(lo + sim_rng_below(&n->rng, range));
      if (port_free(n, proto, cand, now)) {
        *out = cand;
        return true;
      }
    }
    start = (uint32_t)sim_rng_below(&n->rng, range);
    break;
  case SIM_NAT_PORT_PRESERVE:
  default: start = iport >= lo && iport <= hi ? iport - lo : 0; break;
  }
  for (uint32_t i = 0; i < range; i++) {
    uint16_t cand = (uint16_t)(lo + (start + i) % range);
    if (port_free(n, proto, cand, now)) {
      *out = cand;
      return true;
    }
  }
  return false;
}

/* ---- packet processing ------------------------------------------------ */

static sim_nat_verdict drop(sim_nat *n, sim_nat_drop_reason r,
                            sim_nat_drop_reason *why) {
  n->drops[r]++;
  if (why)
    *why = r;
  return SIM_NAT_DROP;
}

static sim_nat_verdict pass(sim_nat_verdict v, sim_nat_drop_reason *why) {
  if (why)
    *why = SIM_NAT_OK;
  return v;
}

/* Checks protocol and UDP blocking, and reserves capacity; returns a drop
 * reason or SIM_NAT_OK. */
static sim_nat_drop_reason precheck(sim_nat *n, const sim_nat_pkt *p) {
  if (p->proto != SIM_IPPROTO_UDP && p->proto != SIM_IPPROTO_TCP)
    return SIM_NAT_DROP_PROTO;
  if (p->proto == SIM_IPPROTO_UDP && n->cfg.udp_blocked)
    return SIM_NAT_DROP_UDP_BLOCKED;
  if (reserve(n) != 0)
    return SIM_NAT_DROP_NOMEM;
  return SIM_NAT_OK;
}

/* The inbound half, shared by sim_nat_inbound and hairpinning. */
static sim_nat_verdict inbound_core(sim_nat *n, sim_nat_pkt *p, uint64_t now,
                                    sim_nat_verdict ok,
                                    sim_nat_drop_reason *why) {
  if (p->dst_ip != n->ext_ip)
    return drop(n, SIM_NAT_DROP_NO_MAPPING, why);
  uint32_t mi = tab_find(&n->tab, k0_map_ext(p->proto, p->dst_port), 0);
  if (mi == NIL)
    return drop(n, SIM_NAT_DROP_NO_MAPPING, why);
  if (n->maps[mi].expiry <= now) {
    map_release(n, mi);
    return drop(n, SIM_NAT_DROP_NO_MAPPING, why);
  }
  uint32_t si = sess_find(n, mi, p->src_ip, p->src_port);
  bool exact = si != NIL && n->sess[si].expiry > now;
  bool allowed;
  switch (n->cfg.filtering) {
  case SIM_NAT_EI: allowed = true; break;
  case SIM_NAT_AD: {
    uint32_t gi = tab_find(&n->tab, k0_group(mi), p->src_ip);
    allowed = exact || (gi != NIL && n->groups[gi].expiry > now);
    break;
  }
  case SIM_NAT_APD:
  default: allowed = exact; break;
  }
  if (!allowed)
    return drop(n, SIM_NAT_DROP_FILTERED, why);

  uint8_t proto = p->proto;
  if (proto == SIM_IPPROTO_TCP) {
    uint8_t f = p->tcp_flags;
    bool fresh = false;
    if ((f & SIM_TCP_SYN) && !exact) {
      /* An inbound SYN that passed filtering opens a session. */
      if (si == NIL)
        si = sess_create(n, mi, p->src_ip, p->src_port);
      n->sess[si].tcp = 0;
      fresh = true;
    }
    if (exact || fresh) {
      nat_sess *s = &n->sess[si];
      if (f & SIM_TCP_SYN) {
        if (tcp_closed(s->tcp))
          s->tcp = 0;
        s->tcp |= TCP_SYN_IN;
      }
      if (f & SIM_TCP_RST)
        s->tcp |= TCP_RST;
      if (f & SIM_TCP_FIN)
        s->tcp |= TCP_FIN_IN;
      uint64_t e = add_sat(now, sess_timeout(n, proto, s->tcp));
      /* Without inbound refresh an inbound packet never extends a session,
       * but a close still shortens it to the transitory timeout. */
      if (!fresh && !n->cfg.inbound_refresh && e > s->expiry)
        e = s->expiry;
      sess_set_expiry(n, si, e);
    }
  } else if (n->cfg.inbound_refresh) {
    if (si == NIL)
      si = sess_create(n, mi, p->src_ip, p->src_port);
    sess_set_expiry(n, si, add_sat(now, n->cfg.udp_timeout_ns));
  }
  p->dst_ip = n->maps[mi].iip;
  p->dst_port = n->maps[mi].iport;
  return pass(ok, why);
}

sim_nat_verdict sim_nat_outbound(sim_nat *n, sim_nat_pkt *p, uint64_t now,
                                 sim_nat_drop_reason *why) {
  sim_nat_drop_reason r = precheck(n, p);
  if (r != SIM_NAT_OK)
    return drop(n, r, why);
  bool hairpin = p->dst_ip == n->ext_ip;
  if (hairpin && !n->cfg.hairpin)
    return drop(n, SIM_NAT_DROP_HAIRPIN_OFF, why);
  uint8_t proto = p->proto;
  bool tcp = proto == SIM_IPPROTO_TCP;
  bool syn = tcp && (p->tcp_flags & SIM_TCP_SYN);

  uint32_t krip = n->cfg.mapping != SIM_NAT_EI ? p->dst_ip : 0;
  uint16_t krport = n->cfg.mapping == SIM_NAT_APD ? p->dst_port : 0;
  uint64_t k0 = k0_map_int(proto, p->src_ip, p->src_port);
  uint64_t k1 = k1_map_int(krip, krport);
  uint32_t mi = tab_find(&n->tab, k0, k1);
  if (mi != NIL && n->maps[mi].expiry <= now) {
    map_release(n, mi);
    mi = NIL;
  }
  if (mi == NIL) {
    if (tcp && !syn)
      return drop(n, SIM_NAT_DROP_NO_MAPPING, why);
    uint16_t eport;
    if (!port_pick(n, proto, p->src_port, now, &eport))
      return drop(n, SIM_NAT_DROP_PORTS_EXHAUSTED, why);
    mi = map_alloc(n);
    nat_map *m = &n->maps[mi];
    memset(m, 0, sizeof(*m));
    m->iip = p->src_ip;
    m->iport = p->src_port;
    m->rip = krip;
    m->rport = krport;
    m->eport = eport;
    m->proto = proto;
    m->in_use = 1;
    m->sess_head = NIL;
    m->next_free = NIL;
    tab_put(&n->tab, k0, k1, mi);
    tab_put(&n->tab, k0_map_ext(proto, eport), 0, mi);
  }

  uint32_t si = sess_find(n, mi, p->dst_ip, p->dst_port);
  if (si == NIL || n->sess[si].expiry <= now) {
    /* No live session: only UDP or a SYN starts one. A dead session is
     * reused as if it had been freed. */
    if (tcp && !syn)
      return drop(n, SIM_NAT_DROP_NO_MAPPING, why);
    if (si == NIL)
      si = sess_create(n, mi, p->dst_ip, p->dst_port);
    n->sess[si].tcp = 0;
  }
  nat_sess *s = &n->sess[si];
  if (tcp) {
    uint8_t f = p->tcp_flags;
    if (f & SIM_TCP_SYN) {
      if (tcp_closed(s->tcp))
        s->tcp = 0;
      s->tcp |= TCP_SYN_OUT;
    }
    if (f & SIM_TCP_RST)
      s->tcp |= TCP_RST;
    if (f & SIM_TCP_FIN)
      s->tcp |= TCP_FIN_OUT;
  }
  sess_set_expiry(n, si, add_sat(now, sess_timeout(n, proto, s->tcp)));

  p->src_ip = n->ext_ip;
  p->src_port = n->maps[mi].eport;
  if (hairpin)
    return inbound_core(n, p, now, SIM_NAT_HAIRPIN, why);
  return pass(SIM_NAT_PASS, why);
}

sim_nat_verdict sim_nat_inbound(sim_nat *n, sim_nat_pkt *p, uint64_t now,
                                sim_nat_drop_reason *why) {
  sim_nat_drop_reason r = precheck(n, p);
  if (r != SIM_NAT_OK)
    return drop(n, r, why);
  return inbound_core(n, p, now, SIM_NAT_PASS, why);
}

void sim_nat_expire(sim_nat *n, uint64_t now) {
  for (uint32_t mi = 0; mi < n->maps_top; mi++)
    if (n->maps[mi].in_use && n->maps[mi].expiry <= now)
      map_release(n, mi);
  /* Unlink dead sessions from the groups of live mappings first, then from
   * their mappings, where they are freed. */
  for (uint32_t gi = 0; gi < n->groups_top; gi++) {
    nat_group *g = &n->groups[gi];
    if (!g->in_use)
      continue;
    uint32_t *link = &g->sess_head;
    while (*link != NIL) {
      nat_sess *s = &n->sess[*link];
      if (s->expiry <= now) {
        s->group = NIL;
        *link = s->next_in_group;
      } else {
        link = &s->next_in_group;
      }
    }
    if (g->sess_head == NIL)
      group_release(n, gi);
  }
  for (uint32_t mi = 0; mi < n->maps_top; mi++) {
    nat_map *m = &n->maps[mi];
    if (!m->in_use)
      continue;
    uint32_t *link = &m->sess_head;
    while (*link != NIL) {
      uint32_t si = *link;
      if (n->sess[si].expiry <= now) {
        *link = n->sess[si].next_in_map;
        sess_release(n, si);
      } else {
        link = &n->sess[si].next_in_map;
      }
    }
  }
}

size_t sim_nat_mapping_count(const sim_nat *n, uint64_t now) {
  size_t c = 0;
  for (uint32_t mi = 0; mi < n->maps_top; mi++)
    if (n->maps[mi].in_use && n->maps[mi].expiry > now)
      c++;
  return c;
}

/* ---- lifecycle and accessors ------------------------------------------ */

int sim_nat_new(const sim_nat_config *cfg, uint32_t external_ip, uint64_t seed,
                sim_nat **out) {
  if (!out)
    return P2P_ERR_INVALID;
  *out = NULL;
  if (!cfg || !cfg->enabled || sim_nat_config_check(cfg) != 0)
    return P2P_ERR_INVALID;
  sim_nat *n = calloc(1, sizeof(*n));
  if (!n)
    return P2P_ERR_NOMEM;
  n->cfg = *cfg;
  n->ext_ip = external_ip;
  sim_rng_init(&n->rng, seed, SIM_RNG_STREAM(SIM_RNG_KIND_NAT, 0));
  n->seq_next = cfg->port_min;
  n->maps_free = n->sess_free = n->groups_free = NIL;
  sim_hmap_init(&n->tab);
  if (sim_hmap_reserve(&n->tab, 32) != 0) {
    free(n);
    return P2P_ERR_NOMEM;
  }
  *out = n;
  return 0;
}

void sim_nat_del(sim_nat *n) {
  if (!n)
    return;
  sim_hmap_free(&n->tab);
  free(n->maps);
  free(n->sess);
  free(n->groups);
  free(n);
}

uint32_t sim_nat_external_ip(const sim_nat *n) {
  return n->ext_ip;
}

const sim_nat_config *sim_nat_get_config(const sim_nat *n) {
  return &n->cfg;
}

uint64_t sim_nat_drops(const sim_nat *n, sim_nat_drop_reason r) {
  if ((unsigned)r >= SIM_NAT_DROP_REASON_COUNT)
    return 0;
  return n->drops[r];
}

/* ---- configuration ---------------------------------------------------- */

int sim_nat_config_check(const sim_nat_config *cfg) {
  if (!cfg)
    return P2P_ERR_INVALID;
  if ((unsigned)cfg->mapping > SIM_NAT_APD ||
      (unsigned)cfg->filtering > SIM_NAT_APD ||
      (unsigned)cfg->port_alloc > SIM_NAT_PORT_RANDOM)
    return P2P_ERR_INVALID;
  if (cfg->port_min == 0 || cfg->port_min > cfg->port_max)
    return P2P_ERR_INVALID;
  if (cfg->udp_timeout_ns == 0 || cfg->tcp_established_timeout_ns == 0 ||
      cfg->tcp_transitory_timeout_ns == 0)
    return P2P_ERR_INVALID;
  return 0;
}

#define NS_PER_S 1000000000ull

static const char *const preset_names[] = {
    "open",      "full-cone", "restricted-cone", "port-restricted-cone",
    "symmetric", "cgnat",     "udp-blocked",     NULL};

const char *const *sim_nat_preset_names(void) {
  return preset_names;
}

int sim_nat_preset(const char *name, sim_nat_config *out) {
  if (!name || !out)
    return P2P_ERR_NOTFOUND;
  sim_nat_config c;
  memset(&c, 0, sizeof(c));
  c.enabled = true;
  c.mapping = SIM_NAT_EI;
  c.filtering = SIM_NAT_EI;
  c.port_alloc = SIM_NAT_PORT_PRESERVE;
  c.udp_timeout_ns = 120 * NS_PER_S;
  c.tcp_established_timeout_ns = 7440 * NS_PER_S;
  c.tcp_transitory_timeout_ns = 240 * NS_PER_S;
  c.port_min = 1024;
  c.port_max = 65535;
  if (strcmp(name, "open") == 0) {
    c.enabled = false;
  } else if (strcmp(name, "full-cone") == 0) {
    /* EIM/EIF: the defaults. */
  } else if (strcmp(name, "restricted-cone") == 0) {
    c.filtering = SIM_NAT_AD;
  } else if (strcmp(name, "port-restricted-cone") == 0) {
    c.filtering = SIM_NAT_APD;
  } else if (strcmp(name, "symmetric") == 0) {
    c.mapping = SIM_NAT_APD;
    c.filtering = SIM_NAT_APD;
    c.port_alloc = SIM_NAT_PORT_RANDOM;
  } else if (strcmp(name, "cgnat") == 0) {
    c.filtering = SIM_NAT_APD;
    c.port_alloc = SIM_NAT_PORT_RANDOM;
    c.hairpin = true;
  } else if (strcmp(name, "udp-blocked") == 0) {
    c.filtering = SIM_NAT_APD;
    c.udp_blocked = true;
  } else {
    return P2P_ERR_NOTFOUND;
  }
  *out = c;
  return 0;
}

static const char *const behavior_names[] = {
    "endpoint-independent", "address-dependent", "address-and-port-dependent"};

static const char *const port_alloc_names[] = {"preserve", "sequential",
                                               "random"};

static const char *const drop_reason_names[] = {
    "ok",          "no-mapping", "filtered", "udp-blocked", "ports-exhausted",
    "hairpin-off", "nomem",      "proto"};

const char *sim_nat_behavior_name(sim_nat_behavior b) {
  if ((unsigned)b > SIM_NAT_APD)
    return "unknown";
  return behavior_names[b];
}

int sim_nat_behavior_parse(const char *s, sim_nat_behavior *out) {
  if (!s)
    return P2P_ERR_NOTFOUND;
  for (unsigned i = 0; i <= SIM_NAT_APD; i++)
    if (strcmp(s, behavior_names[i]) == 0) {
      if (out)
        *out = (sim_nat_behavior)i;
      return 0;
    }
  return P2P_ERR_NOTFOUND;
}

const char *sim_nat_port_alloc_name(sim_nat_port_alloc a) {
  if ((unsigned)a > SIM_NAT_PORT_RANDOM)
    return "unknown";
  return port_alloc_names[a];
}

int sim_nat_port_alloc_parse(const char *s, sim_nat_port_alloc *out) {
  if (!s)
    return P2P_ERR_NOTFOUND;
  for (unsigned i = 0; i <= SIM_NAT_PORT_RANDOM; i++)
    if (strcmp(s, port_alloc_names[i]) == 0) {
      if (out)
        *out = (sim_nat_port_alloc)i;
      return 0;
    }
  return P2P_ERR_NOTFOUND;
}

const char *sim_nat_drop_reason_name(sim_nat_drop_reason r) {
  if ((unsigned)r >= SIM_NAT_DROP_REASON_COUNT)
    return "unknown";
  return drop_reason_names[r];
}
