/*
 * The raw UDP hole punch workload (see holepunch.h).
 *
 * Wire format, all integers big-endian, every message starting with the
 * 4-byte magic "HPB1" and a type byte:
 *   1 BIND_REQUEST  txid(8)                      peer -> reflector
 *   2 BIND_RESPONSE txid(8) ip(4) port(2)         reflector -> peer
 *   3 PROBE         sender(1) seq(4)              peer -> peer
 *   4 ACK           sender(1) seq(4)              peer -> peer (echoes seq)
 */
#include "sim/workload/holepunch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "HPB1"
#define MAGIC_LEN 4
enum { BIND_REQUEST = 1, BIND_RESPONSE = 2, PROBE = 3, ACK = 4 };
#define MAX_CANDIDATES 8

typedef struct peer {
  struct sim_holepunch *hp;
  int idx;
  p2plab_host_id host;
  p2plab_udp *sock;
  uint64_t txid;
  uint32_t binds_sent;
  p2plab_timer bind_timer;
  int mapped_known;
  p2plab_addr mapped;
  p2plab_addr cand[MAX_CANDIDATES];
  size_t n_cand;
  int through;
} peer;

struct sim_holepunch {
  const p2plab_backend_api *api;
  p2plab_backend *b;
  sim_holepunch_config cfg;
  p2plab_udp *reflector;
  peer p[2];
  p2plab_timer signal_timer, probe_timer, deadline_timer;
  int probing;
  uint32_t seq;
  sim_holepunch_result res;
};

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}
static void put64(uint8_t *p, uint64_t v) {
  put32(p, (uint32_t)(v >> 32));
  put32(p + 4, (uint32_t)v);
}
static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void fmt_addr(const p2plab_addr *a, char *buf, size_t len) {
  uint32_t ip = a->ip.v4;
  snprintf(buf, len, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 0xff,
           (ip >> 8) & 0xff, ip & 0xff, (unsigned)a->port);
}

static void trace(sim_holepunch *hp, uint64_t now, p2plab_host_id host,
                  const char *event, const char *detail) {
  if (hp->cfg.trace)
    hp->cfg.trace(hp->cfg.trace_ctx, now, host, event, detail);
}

static void cancel(sim_holepunch *hp, p2plab_timer *t) {
  if (*t) {
    hp->api->timer_cancel(hp->b, *t);
    *t = 0;
  }
}

static void finish(sim_holepunch *hp, sim_holepunch_state st,
                   const char *reason, uint64_t now) {
  if (hp->res.state != SIM_HOLEPUNCH_RUNNING)
    return;
  hp->res.state = st;
  hp->res.reason = reason;
  cancel(hp, &hp->probe_timer);
  cancel(hp, &hp->deadline_timer);
  cancel(hp, &hp->signal_timer);
  for (int i = 0; i < 2; i++)
    cancel(hp, &hp->p[i].bind_timer);
  if (st == SIM_HOLEPUNCH_SUCCESS) {
    char d[32];
    hp->res.time_to_direct_ns = now - hp->res.probe_start_ns;
    snprintf(d, sizeof d, "time_to_direct_ns=%llu",
             (unsigned long long)hp->res.time_to_direct_ns);
    trace(hp, now, hp->cfg.a, "direct", d);
  } else {
    trace(hp, now, hp->cfg.a, "failed", reason);
  }
}

static void send_msg(peer *pr, const p2plab_addr *to, const uint8_t *m,
                     size_t len) {
  /* A send can only fail for lack of memory; the retry timers cover it like
   * a lost packet. */
  (void)pr->hp->api->udp_send(pr->sock, to, m, len);
}

static void send_probe(peer *pr, const p2plab_addr *to, int type,
                       uint32_t seq) {
  uint8_t m[MAGIC_LEN + 6];
  memcpy(m, MAGIC, MAGIC_LEN);
  m[4] = (uint8_t)type;
  m[5] = (uint8_t)pr->idx;
  put32(m + 6, seq);
  if (type == PROBE)
    pr->hp->res.probes_sent++;
  send_msg(pr, to, m, sizeof m);
}

static void probe_tick(void *ctx, uint64_t now) {
  sim_holepunch *hp = ctx;
  hp->probe_timer = 0;
  for (int i = 0; i < 2; i++) {
    peer *pr = &hp->p[i];
    if (pr->through)
      continue;
    for (size_t c = 0; c < pr->n_cand; c++)
      send_probe(pr, &pr->cand[c], PROBE, ++hp->seq);
  }
  if (hp->api->timer_start(hp->b, now + hp->cfg.probe_interval_ns, probe_tick,
                           hp, &hp->probe_timer) < 0)
    finish(hp, SIM_HOLEPUNCH_FAILED, "internal", now);
}

static void deadline(void *ctx, uint64_t now) {
  sim_holepunch *hp = ctx;
  hp->deadline_timer = 0;
  finish(hp, SIM_HOLEPUNCH_FAILED, "timeout", now);
}

static int add_candidate(peer *pr, const p2plab_addr *a) {
  for (size_t i = 0; i < pr->n_cand; i++)
    if (pr->cand[i].ip.v4 == a->ip.v4 && pr->cand[i].port == a->port)
      return 0;
  if (pr->n_cand == MAX_CANDIDATES)
    return 0;
  pr->cand[pr->n_cand++] = *a;
  return 1;
}

/* The signaling channel delivered both mapped addresses: start probing. */
static void signal_done(void *ctx, uint64_t now) {
  sim_holepunch *hp = ctx;
  hp->signal_timer = 0;
  hp->probing = 1;
  hp->res.probe_start_ns = now;
  for (int i = 0; i < 2; i++) {
    char d[32];
    add_candidate(&hp->p[i], &hp->p[1 - i].mapped);
    fmt_addr(&hp->p[1 - i].mapped, d, sizeof d);
    trace(hp, now, hp->p[i].host, "probe-start", d);
  }
  if (hp->api->timer_start(hp->b, now + hp->cfg.timeout_ns, deadline, hp,
                           &hp->deadline_timer) < 0) {
    finish(hp, SIM_HOLEPUNCH_FAILED, "internal", now);
    return;
  }
  probe_tick(hp, now);
}

static void send_bind(void *ctx, uint64_t now) {
  peer *pr = ctx;
  sim_holepunch *hp = pr->hp;
  pr->bind_timer = 0;
  if (pr->mapped_known || hp->res.state != SIM_HOLEPUNCH_RUNNING)
    return;
  if (pr->binds_sent == hp->cfg.bind_tries) {
    finish(hp, SIM_HOLEPUNCH_FAILED, "no-mapped-address", now);
    return;
  }
  pr->binds_sent++;
  uint8_t m[MAGIC_LEN + 1 + 8];
  memcpy(m, MAGIC, MAGIC_LEN);
  m[4] = BIND_REQUEST;
  put64(m + 5, pr->txid);
  p2plab_addr to = {.family = P2PLAB_AF_INET, .port = hp->cfg.reflector_port};
  hp->api->host_public_addr(hp->b, hp->cfg.reflector, &to);
  to.port = hp->cfg.reflector_port;
  trace(hp, now, pr->host, "bind-request", "");
  send_msg(pr, &to, m, sizeof m);
  if (hp->api->timer_start(hp->b, now + hp->cfg.bind_retry_ns, send_bind, pr,
                           &pr->bind_timer) < 0)
    finish(hp, SIM_HOLEPUNCH_FAILED, "internal", now);
}

static void peer_recv(void *ctx, p2plab_udp *sock, const p2plab_addr *from,
                      const uint8_t *buf, size_t len, uint64_t now) {
  peer *pr = ctx;
  sim_holepunch *hp = pr->hp;
  (void)sock;
  if (len < MAGIC_LEN + 1 || memcmp(buf, MAGIC, MAGIC_LEN) != 0) {
    hp->res.malformed++;
    return;
  }
  if (hp->res.state != SIM_HOLEPUNCH_RUNNING)
    return;
  switch (buf[4]) {
  case BIND_RESPONSE:
    if (len != MAGIC_LEN + 1 + 8 + 6 || get64(buf + 5) != pr->txid) {
      hp->res.malformed++;
      return;
    }
    if (pr->mapped_known)
      return;
    pr->mapped_known = 1;
    pr->mapped = (p2plab_addr){.family = P2PLAB_AF_INET};
    pr->mapped.ip.v4 = get32(buf + 13);
    pr->mapped.port = (uint16_t)(buf[17] << 8 | buf[18]);
    cancel(hp, &pr->bind_timer);
    {
      char d[32];
      fmt_addr(&pr->mapped, d, sizeof d);
      trace(hp, now, pr->host, "mapped", d);
    }
    if (pr->idx == 0)
      hp->res.mapped_a = pr->mapped;
    else
      hp->res.mapped_b = pr->mapped;
    if (hp->p[0].mapped_known && hp->p[1].mapped_known &&
        hp->api->timer_start(hp->b, now + hp->cfg.signal_delay_ns, signal_done,
                             hp, &hp->signal_timer) < 0)
      finish(hp, SIM_HOLEPUNCH_FAILED, "internal", now);
    return;
  case PROBE:
    if (len != MAGIC_LEN + 6 || buf[5] != 1 - pr->idx) {
      hp->res.malformed++;
      return;
    }
    hp->res.probes_received++;
    send_probe(pr, from, ACK, get32(buf + 6));
    if (hp->probing && add_candidate(pr, from)) {
      char d[32];
      fmt_addr(from, d, sizeof d);
      trace(hp, now, pr->host, "peer-reflexive", d);
      if (!pr->through)
        send_probe(pr, from, PROBE, ++hp->seq); /* triggered check */
    }
    return;
  case ACK:
    if (len != MAGIC_LEN + 6 || buf[5] != 1 - pr->idx) {
      hp->res.malformed++;
      return;
    }
    hp->res.acks_received++;
    if (!pr->through) {
      char d[32];
      pr->through = 1;
      fmt_addr(from, d, sizeof d);
      trace(hp, now, pr->host, "through", d);
      if (hp->p[0].through && hp->p[1].through)
        finish(hp, SIM_HOLEPUNCH_SUCCESS, "", now);
    }
    return;
  default: hp->res.malformed++;
  }
}

static void reflector_recv(void *ctx, p2plab_udp *sock, const p2plab_addr *from,
                           const uint8_t *buf, size_t len, uint64_t now) {
  sim_holepunch *hp = ctx;
  (void)now;
  if (len != MAGIC_LEN + 1 + 8 || memcmp(buf, MAGIC, MAGIC_LEN) != 0 ||
      buf[4] != BIND_REQUEST || from->family != P2PLAB_AF_INET) {
    hp->res.malformed++;
    return;
  }
  uint8_t m[MAGIC_LEN + 1 + 8 + 6];
  memcpy(m, buf, MAGIC_LEN + 1 + 8);
  m[4] = BIND_RESPONSE;
  put32(m + 13, from->ip.v4);
  m[17] = (uint8_t)(from->port >> 8);
  m[18] = (uint8_t)from->port;
  (void)hp->api->udp_send(sock, from, m, sizeof m);
}

void sim_holepunch_config_default(sim_holepunch_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->reflector = 0;
  cfg->a = 1;
  cfg->b = 2;
  cfg->reflector_port = 3478;
  cfg->peer_port = 4001;
  cfg->bind_retry_ns = 500000000ull;
  cfg->bind_tries = 4;
  cfg->probe_interval_ns = 50000000ull;
  cfg->timeout_ns = 5000000000ull;
}

int sim_holepunch_new(const p2plab_backend_api *api, p2plab_backend *b,
                      const sim_holepunch_config *cfg, sim_holepunch **out) {
  *out = NULL;
  if (api == NULL || b == NULL || cfg == NULL || cfg->a == cfg->b ||
      cfg->probe_interval_ns == 0 || cfg->bind_tries == 0)
    return P2P_ERR_INVALID;
  sim_holepunch *hp = calloc(1, sizeof *hp);
  if (hp == NULL)
    return P2P_ERR_NOMEM;
  hp->api = api;
  hp->b = b;
  hp->cfg = *cfg;
  hp->res.reason = "";
  int rc = api->udp_bind(b, cfg->reflector, cfg->reflector_port, reflector_recv,
                         hp, &hp->reflector);
  for (int i = 0; rc == 0 && i < 2; i++) {
    peer *pr = &hp->p[i];
    pr->hp = hp;
    pr->idx = i;
    pr->host = i == 0 ? cfg->a : cfg->b;
    /* Transaction ids need only be distinct per run, not secret. */
    pr->txid = 0x6870000000000000ull | ((uint64_t)pr->host << 8) | (uint64_t)i;
    rc = api->udp_bind(b, pr->host, cfg->peer_port, peer_recv, pr, &pr->sock);
    if (rc == 0)
      rc = api->timer_start(b, cfg->start_ns, send_bind, pr, &pr->bind_timer);
  }
  if (rc < 0) {
    sim_holepunch_del(hp);
    return rc;
  }
  *out = hp;
  return 0;
}

void sim_holepunch_get_result(const sim_holepunch *hp,
                              sim_holepunch_result *out) {
  *out = hp->res;
}

uint64_t sim_holepunch_deadline(const sim_holepunch *hp) {
  const sim_holepunch_config *c = &hp->cfg;
  return c->start_ns + (uint64_t)c->bind_tries * c->bind_retry_ns +
         c->signal_delay_ns + c->timeout_ns;
}

void sim_holepunch_del(sim_holepunch *hp) {
  if (hp == NULL)
    return;
  cancel(hp, &hp->probe_timer);
  cancel(hp, &hp->deadline_timer);
  cancel(hp, &hp->signal_timer);
  for (int i = 0; i < 2; i++) {
    cancel(hp, &hp->p[i].bind_timer);
    if (hp->p[i].sock)
      hp->api->udp_close(hp->p[i].sock);
  }
  if (hp->reflector)
    hp->api->udp_close(hp->reflector);
  free(hp);
}

void sim_holepunch_world_default(sim_holepunch_world *w) {
  memset(w, 0, sizeof *w);
  w->seed = 1;
  w->access.latency_ns = 5000000ull;
  w->access.rate_bps = 20000000ull;
  w->access.queue_bytes = 65536;
  w->core_latency_ns = 20000000ull;
}

static int add_peer(const p2plab_backend_api *api, p2plab_backend *b,
                    const char *name, const sim_nat_config *nat, int32_t behind,
                    const p2plab_link_config *access, p2plab_host_id *out) {
  p2plab_host_config hc = {.name = name,
                           .up = *access,
                           .down = *access,
                           .home_nat = nat && nat->enabled ? nat : NULL,
                           .behind_nat = behind};
  return api->host_add(b, &hc, out);
}

int sim_holepunch_run_world(
    const p2plab_backend_api *api, const sim_holepunch_world *w,
    const sim_holepunch_config *cfg,
    void (*trace_fn)(void *ctx, uint64_t now, p2plab_host_id host,
                     const char *event, const char *detail),
    void *trace_ctx, sim_holepunch_result *out) {
  p2plab_backend_config bc = {.seed = w->seed,
                              .core_latency_ns = w->core_latency_ns};
  p2plab_backend *b = NULL;
  int rc = api->create(&bc, &b);
  if (rc < 0)
    return rc;
  int32_t cg_a = P2PLAB_NO_NAT, cg_b = P2PLAB_NO_NAT;
  if (w->cgnat_a != NULL)
    rc = api->nat_add(b, w->cgnat_a, P2PLAB_NO_NAT, &cg_a);
  if (rc == 0 && w->same_cgnat)
    cg_b = cg_a;
  else if (rc == 0 && w->cgnat_b != NULL)
    rc = api->nat_add(b, w->cgnat_b, P2PLAB_NO_NAT, &cg_b);

  p2plab_host_id r = 0, a = 0, pb = 0;
  if (rc == 0)
    rc = add_peer(api, b, "reflector", NULL, P2PLAB_NO_NAT, &w->access, &r);
  if (rc == 0)
    rc = add_peer(api, b, "peer-a", w->nat_a, cg_a, &w->access, &a);
  if (rc == 0)
    rc = add_peer(api, b, "peer-b", w->nat_b, cg_b, &w->access, &pb);

  sim_holepunch_config hc;
  if (cfg != NULL)
    hc = *cfg;
  else
    sim_holepunch_config_default(&hc);
  hc.reflector = r;
  hc.a = a;
  hc.b = pb;
  hc.trace = trace_fn;
  hc.trace_ctx = trace_ctx;
  sim_holepunch *hp = NULL;
  if (rc == 0)
    rc = sim_holepunch_new(api, b, &hc, &hp);
  if (rc == 0) {
    int64_t n = api->run_until(b, sim_holepunch_deadline(hp) + 1);
    if (n < 0)
      rc = (int)n;
    sim_holepunch_get_result(hp, out);
  }
  sim_holepunch_del(hp);
  api->destroy(b);
  return rc;
}
