/*
 * The scenario runner (see runner.h).
 *
 * Host naming: a group of count 1 is one host named after the group; a
 * larger group's hosts are NAME-1 .. NAME-n. Host ids on the backend follow
 * file order, so a run is reproducible from (scenario, overrides, seed).
 *
 * The raw UDP hole punch workload: every pair of the workload gets its own
 * reflector port and peer ports (20000 + k on the reflector, 30000 + k on
 * both peers for the k-th pair of the run), so pairs never share sockets
 * and a host can take part in many pairs.
 */
#include "sim/runner/runner.h"

#include "sim/util/errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "plugins/loader.h"
#include "sim/engine/rng.h"
#include "sim/hostnet/stack.h"
#include "sim/metrics/evlog.h"
#include "sim/metrics/summary.h"
#include "sim/workload/holepunch.h"

#define MAX_PAIRS 20000

typedef struct run_host {
  p2plab_host_id id;
  char name[80];
  int group;
  struct runner *r;
  /* The libp2p node of relay and browser hosts (and of nodes that have
   * libp2p settings), or NULL. */
  sim_stack *stack;
  sim_rng rng;
  p2p_rand rnd;
} run_host;

/* One publisher of a gossip workload. */
typedef struct publisher {
  struct runner *r;
  const sim_scn_workload *w;
  size_t host; /* run_host index */
  uint32_t seq;
} publisher;

typedef struct attempt {
  struct runner *r;
  uint32_t id;
  int a, b; /* run_host indices */
  sim_holepunch *hp;
  char nat_pair[96];
} attempt;

typedef struct runner {
  const sim_scenario *s;
  const p2plab_backend_api *api;
  p2plab_backend *b;
  sim_evlog *log;
  run_host *hosts;
  size_t n_hosts;
  size_t *group_first; /* first run_host index of each group */
  attempt *attempts;
  size_t n_attempts;
  publisher *pubs;
  size_t n_pubs;
  p2p_sigcache *sigcache; /* shared by every simulated host */
  int log_err;            /* first error while logging (reported at the end) */
  int setup_err;          /* a host that joined later could not start */
  char setup_msg[512];
} runner;

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int mkdir_p(const char *path) {
  char buf[1024];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf)
    return P2P_ERR_INVALID;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == '\0') {
      char c = buf[i];
      buf[i] = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return P2P_ERR_IO;
      buf[i] = c;
    }
  }
  return 0;
}

/* The label of a NAT profile in by_nat_pair: its preset, else its name. */
static const char *nat_label(const sim_scenario *s, int nat) {
  if (nat == SIM_SCN_NONE)
    return "open";
  return s->nats[nat].preset ? s->nats[nat].preset : s->nats[nat].name;
}

static void log_event(runner *r, uint64_t t, const char *host, const char *name,
                      const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void log_event(runner *r, uint64_t t, const char *host, const char *name,
                      const char *fmt, ...) {
  char fields[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fields, sizeof fields, fmt, ap);
  va_end(ap);
  int rc = sim_evlog_add(r->log, t, host, name, fields);
  if (rc < 0 && r->log_err == 0)
    r->log_err = rc;
}

static void attempt_start(void *ctx, uint64_t now) {
  attempt *at = ctx;
  runner *r = at->r;
  log_event(r, now, r->hosts[at->a].name, "holepunch.start",
            "id=%u peer=%s transport=udp nat_pair=%s", at->id,
            r->hosts[at->b].name, at->nat_pair);
}

static void attempt_trace(void *ctx, uint64_t now, p2plab_host_id host,
                          const char *event, const char *detail) {
  attempt *at = ctx;
  runner *r = at->r;
  const char *hname = r->hosts[host].name;
  if (strcmp(event, "direct") == 0) {
    /* detail is "time_to_direct_ns=N" */
    log_event(r, now, hname, "holepunch.direct", "id=%u %s", at->id, detail);
  } else if (strcmp(event, "failed") == 0) {
    log_event(r, now, hname, "holepunch.failed", "id=%u reason=%s", at->id,
              detail);
  } else {
    /* bind-request, mapped, probe-start, peer-reflexive, through */
    log_event(r, now, hname, "holepunch.step", "id=%u step=%s%s%s", at->id,
              event, detail[0] ? " addr=" : "", detail);
  }
}

static int build_world(runner *r, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  const p2plab_backend_api *api = r->api;
  int rc;
  size_t total = 0;
  for (size_t g = 0; g < s->n_hosts; g++)
    total += s->hosts[g].count;
  r->hosts = calloc(total ? total : 1, sizeof *r->hosts);
  r->group_first = calloc(s->n_hosts ? s->n_hosts : 1, sizeof(size_t));
  if (r->hosts == NULL || r->group_first == NULL)
    return P2P_ERR_NOMEM;
  for (size_t g = 0; g < s->n_hosts; g++) {
    const sim_scn_host *hg = &s->hosts[g];
    int32_t shared = P2PLAB_NO_NAT;
    if (hg->cgnat != SIM_SCN_NONE) {
      rc = api->nat_add(r->b, &s->nats[hg->cgnat].cfg, P2PLAB_NO_NAT, &shared);
      if (rc < 0) {
        sim_errf(err, errlen, "%s: host group '%s': cannot add its cgnat: %s",
                 s->file, hg->name, p2p_strerror(rc));
        return rc;
      }
    }
    const sim_nat_config *home =
        hg->nat != SIM_SCN_NONE && s->nats[hg->nat].cfg.enabled
            ? &s->nats[hg->nat].cfg
            : NULL;
    r->group_first[g] = r->n_hosts;
    for (uint32_t i = 0; i < hg->count; i++) {
      run_host *h = &r->hosts[r->n_hosts];
      if (hg->count == 1)
        snprintf(h->name, sizeof h->name, "%s", hg->name);
      else
        snprintf(h->name, sizeof h->name, "%s-%u", hg->name, i + 1);
      h->group = (int)g;
      p2plab_host_config hc = {.name = h->name,
                               .up = hg->up,
                               .down = hg->down,
                               .home_nat = home,
                               .behind_nat = shared};
      rc = api->host_add(r->b, &hc, &h->id);
      if (rc < 0) {
        sim_errf(err, errlen, "%s: host '%s': %s", s->file, h->name,
                 p2p_strerror(rc));
        return rc;
      }
      if (h->id != r->n_hosts) {
        sim_errf(err, errlen, "backend %s numbers hosts unexpectedly",
                 api->name);
        return P2P_ERR_INTERNAL;
      }
      r->n_hosts++;
    }
  }
  for (size_t i = 0; i < s->n_latencies; i++) {
    const sim_scn_latency *l = &s->latencies[i];
    for (uint32_t x = 0; x < s->hosts[l->a].count; x++) {
      for (uint32_t y = 0; y < s->hosts[l->b].count; y++) {
        p2plab_host_id ha = r->hosts[r->group_first[l->a] + x].id;
        p2plab_host_id hb = r->hosts[r->group_first[l->b] + y].id;
        if (ha == hb)
          continue;
        rc = api->core_latency_set(r->b, ha, hb, l->latency_ns);
        if (rc < 0) {
          sim_errf(err, errlen, "%s: latency override: %s", s->file,
                   p2p_strerror(rc));
          return rc;
        }
      }
    }
  }
  return 0;
}

static int add_attempt(runner *r, const sim_scn_workload *w, size_t a, size_t b,
                       uint64_t start, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  if (r->n_attempts >= MAX_PAIRS) {
    sim_errf(err, errlen,
             "%s: the hole-punch workloads make more than %d pairs", s->file,
             MAX_PAIRS);
    return P2P_ERR_LIMIT;
  }
  attempt *at = &r->attempts[r->n_attempts];
  at->r = r;
  at->id = (uint32_t)r->n_attempts + 1;
  at->a = (int)a;
  at->b = (int)b;
  snprintf(at->nat_pair, sizeof at->nat_pair, "%s|%s",
           nat_label(s, s->hosts[r->hosts[a].group].nat),
           nat_label(s, s->hosts[r->hosts[b].group].nat));
  sim_holepunch_config hc;
  sim_holepunch_config_default(&hc);
  hc.reflector = r->hosts[r->group_first[w->stun]].id;
  hc.a = r->hosts[a].id;
  hc.b = r->hosts[b].id;
  hc.reflector_port = (uint16_t)(20000 + r->n_attempts);
  hc.peer_port = (uint16_t)(30000 + r->n_attempts);
  hc.start_ns = start;
  hc.timeout_ns = w->timeout_ns;
  hc.probe_interval_ns = w->probe_interval_ns;
  hc.signal_delay_ns = w->signal_delay_ns;
  hc.trace = attempt_trace;
  hc.trace_ctx = at;
  int rc = r->api->timer_start(r->b, start, attempt_start, at, NULL);
  if (rc == 0)
    rc = sim_holepunch_new(r->api, r->b, &hc, &at->hp);
  if (rc < 0) {
    sim_errf(err, errlen, "%s: hole punch %s x %s: %s", s->file,
             r->hosts[a].name, r->hosts[b].name, p2p_strerror(rc));
    return rc;
  }
  r->n_attempts++;
  return 0;
}

/* ---- the libp2p world (relays, browsers, nodes with libp2p settings) --- */

/* Hosts join at this spacing within their group (browser k starts k times
 * this late), so thousands of browsers do not dial their relay in the same
 * instant. */
#define JOIN_SPACING_NS 2000000ull
/* Simulated time 0 is 2025-01-01T00:00:00Z for the fields in Unix time. */
#define SIM_EPOCH_UNIX_NS (1735689600ull * 1000000000ull)

static int has_libp2p(const sim_scn_host *g) {
  return g->role == SIM_SCN_ROLE_RELAY || g->role == SIM_SCN_ROLE_BROWSER ||
         g->n_listen || g->n_topics || g->n_bootstrap || g->discovery_topic;
}

static runner *runner_of(sim_stack *st, void *ctx, size_t *host) {
  run_host *h = ctx;
  (void)st;
  *host = (size_t)h->id;
  return h->r;
}

static int subscribed(const sim_scn_host *g, const char *topic) {
  for (size_t i = 0; i < g->n_topics; i++)
    if (strcmp(g->topics[i], topic) == 0)
      return 1;
  return 0;
}

static void st_trace(void *ctx, sim_stack *st, const char *name,
                     const char *fields, uint64_t now) {
  size_t hi;
  runner *r = runner_of(st, ctx, &hi);
  log_event(r, now, r->hosts[hi].name, name, "%s", fields);
}

static void st_event(void *ctx, sim_stack *st, const p2p_host_event *ev,
                     int dialled) {
  size_t hi;
  runner *r = runner_of(st, ctx, &hi);
  (void)dialled;
  if (ev->type != P2P_HOST_EV_CONNECTED || ev->conn == NULL ||
      !p2p_host_conn_outbound(ev->conn))
    return;
  char id[P2P_PEERID_STR_MAX] = "?";
  if (ev->peer && p2p_peerid_to_string(ev->peer, id, sizeof id) < 0)
    strcpy(id, "?");
  log_event(r, ev->now, r->hosts[hi].name, "conn.open", "kind=%s peer=%s",
            p2p_host_conn_limited(ev->conn) ? "relayed" : "direct", id);
}

/* Payload of a workload message: "p2plab P.S T" (publisher host, sequence,
 * publish time in ns), zero-padded to the message size. */
static void st_message(void *ctx, sim_stack *st, const p2p_gossip_msg *m,
                       uint64_t now) {
  size_t hi;
  runner *r = runner_of(st, ctx, &hi);
  char text[80];
  size_t n = m->data_len < sizeof text - 1 ? m->data_len : sizeof text - 1;
  memcpy(text, m->data, n);
  text[n] = '\0';
  unsigned long p, q;
  unsigned long long t;
  if (sscanf(text, "p2plab %lu.%lu %llu", &p, &q, &t) != 3 || t > now)
    return; /* not a workload message */
  log_event(r, now, r->hosts[hi].name, "gossip.deliver",
            "id=%lu.%lu topic=%s latency_ns=%llu", p, q, m->topic,
            (unsigned long long)(now - t));
}

/* Hosts' log lines (closed connections, refused input) go to stderr when
 * P2PLAB_HOST_LOG is set: for debugging a scenario, never in the results. */
static void st_log(void *ctx, const char *msg) {
  run_host *h = ctx;
  static int on = -1;
  if (on < 0)
    on = getenv("P2PLAB_HOST_LOG") != NULL;
  if (on)
    fprintf(stderr, "%s: %s\n", h->name, msg);
}

static void rng_fill(void *ctx, uint8_t *buf, size_t len) {
  sim_rng_fill(ctx, buf, len);
}

/* The address host `target` is reached at from a host of group g: its
 * WebSocket listener for browsers (and groups without tcp), else TCP. */
static int bootstrap_addr(runner *r, const sim_scn_host *g, size_t target,
                          p2p_multiaddr *out) {
  sim_hostnet *hn = sim_stack_hostnet(r->hosts[target].stack);
  int want_ws = g->role == SIM_SCN_ROLE_BROWSER ||
                !(g->transports & SIM_SCN_TRANSPORT_TCP);
  const p2p_multiaddr *pick = NULL;
  for (size_t i = 0; sim_hostnet_listen_addr(hn, i); i++) {
    const p2p_multiaddr *a = sim_hostnet_listen_addr(hn, i);
    if (p2p_multiaddr_has(a, P2P_MA_WS) == want_ws) {
      pick = a;
      break;
    }
  }
  if (pick == NULL)
    return P2P_ERR_NOTFOUND;
  char s[512], id[P2P_PEERID_STR_MAX];
  if (p2p_multiaddr_to_string(pick, s, 256) < 0 ||
      p2p_peerid_to_string(
          p2p_host_peer_id(sim_stack_host(r->hosts[target].stack)), id,
          sizeof id) < 0)
    return P2P_ERR_INVALID;
  strcat(s, "/p2p/");
  strcat(s, id);
  return p2p_multiaddr_parse(s, out);
}

static int make_stack(runner *r, size_t hi, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  run_host *h = &r->hosts[hi];
  const sim_scn_host *g = &s->hosts[h->group];
  sim_rng_init(&h->rng, s->seed, SIM_RNG_STREAM(SIM_RNG_KIND_HOST, h->id));
  h->rnd = (p2p_rand){.fill = rng_fill, .ctx = &h->rng};
  uint8_t seed[P2P_ED25519_SEED_LEN];
  sim_rng_fill(&h->rng, seed, sizeof seed);
  p2p_privkey key;
  int rc = p2p_key_from_seed(seed, &key);
  if (rc < 0)
    return rc;
  uint16_t tcp[8], ws[8];
  size_t nt = 0, nw = 0;
  int circuit = 0;
  for (size_t i = 0; i < g->n_listen; i++) {
    if (g->listen[i].kind == SIM_SCN_LISTEN_TCP && nt < 8)
      tcp[nt++] = g->listen[i].port;
    else if (g->listen[i].kind == SIM_SCN_LISTEN_WS && nw < 8)
      ws[nw++] = g->listen[i].port;
    else if (g->listen[i].kind == SIM_SCN_LISTEN_CIRCUIT)
      circuit = 1;
  }
  p2p_multiaddr boot[16];
  size_t nb = 0;
  for (size_t i = 0; rc == 0 && i < g->n_bootstrap; i++) {
    const sim_scn_host *tg = &s->hosts[g->bootstrap[i]];
    size_t me = hi - r->group_first[h->group];
    size_t first = r->group_first[g->bootstrap[i]];
    size_t targets[16], n_tg = 0;
    if (g->bootstrap[i] == h->group) {
      /* A group bootstrapping to itself (relays that peer with each
       * other): every member dials the members before it. */
      for (size_t k = 0; k < me && n_tg < 16; k++)
        targets[n_tg++] = first + k;
    } else {
      /* One host of another group, round-robin over its members (the k-th
       * browser uses relay k mod count): load spreads over several relays
       * as it does when apps pick one. */
      targets[n_tg++] = first + me % tg->count;
    }
    for (size_t k = 0; rc == 0 && k < n_tg && nb < 16; k++) {
      size_t t = targets[k];
      if (r->hosts[t].stack == NULL) {
        sim_errf(err, errlen,
                 "%s: host '%s': bootstrap peer '%s' is not running yet "
                 "(bootstrap targets may not bootstrap to other groups)",
                 s->file, h->name, r->hosts[t].name);
        rc = P2P_ERR_INVALID;
        break;
      }
      rc = bootstrap_addr(r, g, t, &boot[nb]);
      if (rc < 0)
        sim_errf(err, errlen,
                 "%s: host '%s': bootstrap peer '%s' has no %s listener",
                 s->file, h->name, r->hosts[t].name,
                 g->role == SIM_SCN_ROLE_BROWSER ? "WebSocket" : "TCP");
      else
        nb++;
    }
  }
  if (rc == 0) {
    sim_stack_config sc = {
        .api = r->api,
        .b = r->b,
        .hid = h->id,
        .key = &key,
        .rnd = &h->rnd,
        .tcp_ports = tcp,
        .n_tcp = nt,
        .ws_ports = ws,
        .n_ws = nw,
        .browser = g->role == SIM_SCN_ROLE_BROWSER,
        .unix_offset_ns = SIM_EPOCH_UNIX_NS,
        .relay_server = g->role == SIM_SCN_ROLE_RELAY || g->has_relay,
        .relay = {.max_reservations = g->relay.reservations,
                  .max_reservations_per_ip = g->relay.reservations_per_ip,
                  .max_circuits = g->relay.circuits,
                  .max_circuits_per_peer = g->relay.circuits,
                  .reservation_ttl_ns = g->relay.reservation_ttl_ns,
                  .limit_duration_ns = g->relay.circuit_duration_ns,
                  .limit_data = g->relay.circuit_data},
        .circuit_listen = circuit,
        .pubsub = g->role == SIM_SCN_ROLE_RELAY,
        .gossip = {.sigcache = r->sigcache},
        .topics = (const char *const *)g->topics,
        .n_topics = g->n_topics,
        .bootstrap = boot,
        .n_bootstrap = nb,
        .discovery_topic = g->discovery_topic,
        .discovery_interval_ns = g->discovery_interval_ns,
        .max_conns = g->max_conns,
        .on_message = st_message,
        .on_event = st_event,
        .on_trace = st_trace,
        .log = st_log,
        .ctx = h};
    char e2[512] = "";
    rc = sim_stack_new(&sc, &h->stack, e2, sizeof e2);
    if (rc < 0)
      sim_errf(err, errlen, "%s: host '%s': %s", s->file, h->name, e2);
  }
  for (size_t i = 0; i < nb; i++)
    p2p_multiaddr_free(&boot[i]);
  p2p_privkey_clear(&key);
  return rc;
}

static void join_timer(void *ctx, uint64_t now) {
  run_host *h = ctx;
  runner *r = h->r;
  (void)now;
  if (r->setup_err)
    return;
  int rc = make_stack(r, (size_t)h->id, r->setup_msg, sizeof r->setup_msg);
  if (rc < 0)
    r->setup_err = rc;
}

/* Nonzero when every bootstrap group of g is g itself (or it has none):
 * such hosts start at once, in file order (relays); the others join spread
 * over time. */
static int starts_at_once(const sim_scn_host *g, int gi) {
  for (size_t i = 0; i < g->n_bootstrap; i++)
    if (g->bootstrap[i] != gi)
      return 0;
  return 1;
}

/* Hosts without bootstrap peers start at once (the relays); the others
 * join spread over time, in file order. */
static int start_libp2p(runner *r, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  int any = 0;
  for (size_t g = 0; g < s->n_hosts; g++)
    any |= has_libp2p(&s->hosts[g]);
  if (!any)
    return 0;
  int rc0 = p2p_sigcache_new(1 << 16, &r->sigcache);
  if (rc0 < 0)
    return rc0;
  for (size_t i = 0; i < r->n_hosts; i++) {
    run_host *h = &r->hosts[i];
    h->r = r;
    const sim_scn_host *g = &s->hosts[h->group];
    if (!has_libp2p(g) || !starts_at_once(g, h->group))
      continue;
    int rc = make_stack(r, i, err, errlen);
    if (rc < 0)
      return rc;
  }
  for (size_t gi = 0; gi < s->n_hosts; gi++) {
    const sim_scn_host *g = &s->hosts[gi];
    if (!has_libp2p(g) || starts_at_once(g, (int)gi))
      continue;
    for (uint32_t k = 0; k < g->count; k++) {
      run_host *h = &r->hosts[r->group_first[gi] + k];
      int rc = r->api->timer_start(r->b, (uint64_t)k * JOIN_SPACING_NS,
                                   join_timer, h, NULL);
      if (rc < 0) {
        sim_errf(err, errlen, "%s: cannot schedule host '%s': %s", s->file,
                 h->name, p2p_strerror(rc));
        return rc;
      }
    }
  }
  return 0;
}

static void publish_timer(void *ctx, uint64_t now) {
  publisher *p = ctx;
  runner *r = p->r;
  const sim_scn_workload *w = p->w;
  run_host *h = &r->hosts[p->host];
  if (now > w->stop_ns || (w->messages && p->seq >= w->messages))
    return;
  if (h->stack && sim_stack_gossipsub(h->stack)) {
    uint32_t seq = ++p->seq;
    /* Who should get it: every other host subscribed to the topic and in
     * its mesh right now. */
    size_t expected = 0;
    for (size_t i = 0; i < r->n_hosts; i++) {
      run_host *o = &r->hosts[i];
      if (i == p->host || o->stack == NULL ||
          sim_stack_gossipsub(o->stack) == NULL ||
          !subscribed(&r->s->hosts[o->group], w->topic))
        continue;
      if (p2p_gossipsub_mesh_size(sim_stack_gossipsub(o->stack), w->topic) > 0)
        expected++;
    }
    size_t len = w->msg_size < 64 ? 64 : (size_t)w->msg_size;
    uint8_t *buf = calloc(1, len);
    if (buf == NULL) {
      r->setup_err = P2P_ERR_NOMEM;
      return;
    }
    snprintf((char *)buf, len, "p2plab %zu.%u %llu", p->host, seq,
             (unsigned long long)now);
    int rc = p2p_gossipsub_publish(sim_stack_gossipsub(h->stack), w->topic, buf,
                                   len, now, NULL, NULL, 0);
    free(buf);
    log_event(r, now, h->name, "gossip.publish",
              "id=%zu.%u topic=%s expected=%zu size=%zu ok=%d", p->host, seq,
              w->topic, expected, len, rc == 0);
  }
  uint64_t next = now + w->msg_interval_ns;
  if (next <= w->stop_ns && (w->messages == 0 || p->seq < w->messages))
    (void)r->api->timer_start(r->b, next, publish_timer, p, NULL);
}

static int start_gossip(runner *r, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  size_t total = 0;
  for (size_t i = 0; i < s->n_workloads; i++)
    if (s->workloads[i].kind == SIM_SCN_WL_GOSSIP)
      total += s->hosts[s->workloads[i].publishers].count;
  if (total == 0)
    return 0;
  r->pubs = calloc(total, sizeof *r->pubs);
  if (r->pubs == NULL)
    return P2P_ERR_NOMEM;
  for (size_t i = 0; i < s->n_workloads; i++) {
    const sim_scn_workload *w = &s->workloads[i];
    if (w->kind != SIM_SCN_WL_GOSSIP)
      continue;
    uint32_t n = s->hosts[w->publishers].count;
    for (uint32_t k = 0; k < n; k++) {
      publisher *p = &r->pubs[r->n_pubs++];
      p->r = r;
      p->w = w;
      p->host = r->group_first[w->publishers] + k;
      /* Publishers are spread evenly over one interval. */
      uint64_t at = w->start_ns + w->msg_interval_ns * k / n;
      int rc = r->api->timer_start(r->b, at, publish_timer, p, NULL);
      if (rc < 0) {
        sim_errf(err, errlen, "%s: cannot schedule publishing: %s", s->file,
                 p2p_strerror(rc));
        return rc;
      }
    }
  }
  return 0;
}

/* End-of-run totals that only the routers know. */
static void log_totals(runner *r, uint64_t now) {
  uint64_t dup = 0, bad = 0;
  if (r->sigcache == NULL)
    return; /* no libp2p host in this run */
  for (size_t i = 0; i < r->n_hosts; i++) {
    if (r->hosts[i].stack == NULL ||
        sim_stack_gossipsub(r->hosts[i].stack) == NULL)
      continue;
    p2p_gossipsub_stats st;
    p2p_gossipsub_get_stats(sim_stack_gossipsub(r->hosts[i].stack), &st);
    dup += st.duplicates;
    bad += st.bad_rpc + st.bad_sig;
  }
  log_event(r, now, "", "gossip.totals", "duplicates=%llu rejected=%llu",
            (unsigned long long)dup, (unsigned long long)bad);
}

static int start_workloads(runner *r, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  r->attempts = calloc(MAX_PAIRS, sizeof *r->attempts);
  if (r->attempts == NULL)
    return P2P_ERR_NOMEM;
  for (size_t i = 0; i < s->n_workloads; i++) {
    const sim_scn_workload *w = &s->workloads[i];
    if (w->kind != SIM_SCN_WL_HOLEPUNCH)
      continue;
    size_t a0 = r->group_first[w->a], b0 = r->group_first[w->b];
    uint32_t na = s->hosts[w->a].count, nb = s->hosts[w->b].count;
    uint64_t start = w->start_ns;
    for (uint32_t x = 0; x < na; x++) {
      for (uint32_t y = w->a == w->b ? x + 1 : 0; y < nb; y++) {
        int rc = add_attempt(r, w, a0 + x, b0 + y, start, err, errlen);
        if (rc < 0)
          return rc;
        start += w->interval_ns;
      }
    }
  }
  return 0;
}

static void progress_line(const sim_scenario *s, uint64_t now, double t0,
                          uint64_t events) {
  double wall = wall_now() - t0;
  double frac = (double)now / (double)s->duration_ns;
  double eta = frac > 0 ? wall / frac - wall : 0;
  fprintf(stderr,
          "\r%s: sim %.1f s / %.1f s (%3.0f%%), %.2f M events/s, ETA %.0f s  ",
          s->name, (double)now / 1e9, (double)s->duration_ns / 1e9, frac * 100,
          wall > 0 ? (double)events / wall / 1e6 : 0.0, eta);
  fflush(stderr);
}

static void free_runner(runner *r) {
  for (size_t i = 0; i < r->n_attempts; i++)
    sim_holepunch_del(r->attempts[i].hp);
  free(r->attempts);
  for (size_t i = 0; i < r->n_hosts; i++)
    sim_stack_del(r->hosts[i].stack);
  p2p_sigcache_del(r->sigcache);
  free(r->pubs);
  if (r->b)
    r->api->destroy(r->b);
  free(r->hosts);
  free(r->group_first);
  sim_evlog_del(r->log);
}

static int write_results(runner *r, const sim_run_opts *opts,
                         sim_run_result *res, double wall_s, uint64_t events,
                         char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  char path[1200];
  int rc = mkdir_p(res->out_dir);
  if (rc < 0) {
    sim_errf(err, errlen, "cannot create %s: %s", res->out_dir,
             strerror(errno));
    return P2P_ERR_IO;
  }
  uint8_t sha[32];
  snprintf(path, sizeof path, "%s/events.csv", res->out_dir);
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    sim_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return P2P_ERR_IO;
  }
  rc = sim_evlog_write_csv(r->log, f, sha);
  if (fclose(f) != 0 && rc == 0)
    rc = P2P_ERR_IO;
  if (rc < 0) {
    sim_errf(err, errlen, "cannot write %s", path);
    return rc;
  }

  const char **roles = calloc(r->n_hosts ? r->n_hosts : 1, sizeof *roles);
  if (roles == NULL)
    return P2P_ERR_NOMEM;
  for (size_t i = 0; i < r->n_hosts; i++)
    roles[i] = sim_scn_role_name(s->hosts[r->hosts[i].group].role);
  sim_run_info info = {.scenario = s->name,
                       .seed = s->seed,
                       .backend = r->api->name,
                       .sim_time_ns = s->duration_ns,
                       .wall_time_s = wall_s,
                       .events_processed = events,
                       .role_names = roles,
                       .n_hosts = r->n_hosts,
                       .trace_sha256 = sha};
  rc = sim_summary_compute(r->log, &info, &res->summary);
  free(roles);
  if (rc < 0) {
    sim_errf(err, errlen, "cannot compute the summary: %s", p2p_strerror(rc));
    return rc;
  }
  rc = sim_summary_expect(res->summary, s->expects, s->n_expects, &res->all_ok,
                          err, errlen);
  if (rc < 0)
    return rc;

  snprintf(path, sizeof path, "%s/summary.json", res->out_dir);
  f = fopen(path, "w");
  if (f == NULL) {
    sim_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return P2P_ERR_IO;
  }
  rc = sim_json_write(res->summary, f);
  if (fclose(f) != 0 && rc == 0)
    rc = P2P_ERR_IO;
  if (rc < 0) {
    sim_errf(err, errlen, "cannot write %s", path);
    return rc;
  }
  if (opts->plots) {
    char perr[512] = "";
    int n = sim_plot_run(r->log, res->out_dir, perr, sizeof perr);
    if (n < 0) {
      sim_errf(err, errlen, "graphs: %s", perr);
      return n;
    }
    res->plots = n;
  }
  return 0;
}

int sim_run(const sim_scenario *s, const sim_run_opts *opts,
            sim_run_result *res, char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  if (opts->out_dir)
    snprintf(res->out_dir, sizeof res->out_dir, "%s", opts->out_dir);
  else
    snprintf(res->out_dir, sizeof res->out_dir, "results/runs/%s-%llu", s->name,
             (unsigned long long)s->seed);

  p2plab_plugin *plugin = NULL;
  int rc = p2plab_plugin_load(s->backend, &plugin, err, errlen);
  if (rc < 0)
    return rc;
  runner r = {.s = s, .api = p2plab_plugin_api(plugin)};
  p2plab_backend_config bc = {.seed = s->seed,
                              .core_latency_ns = s->core_latency_ns,
                              .core_jitter_ns = s->core_jitter_ns,
                              .core_loss_ppm = s->core_loss_ppm};
  rc = sim_evlog_new(&r.log);
  if (rc == 0)
    rc = r.api->create(&bc, &r.b);
  if (rc < 0) {
    sim_errf(err, errlen, "backend %s: %s", r.api->name, p2p_strerror(rc));
    goto out;
  }
  rc = build_world(&r, err, errlen);
  if (rc == 0)
    rc = start_workloads(&r, err, errlen);
  if (rc == 0)
    rc = start_libp2p(&r, err, errlen);
  if (rc == 0)
    rc = start_gossip(&r, err, errlen);
  if (rc < 0)
    goto out;

  double t0 = wall_now();
  uint64_t ev0 = r.api->events_processed(r.b);
  uint64_t slice = s->duration_ns / 100 ? s->duration_ns / 100 : 1;
  double last_print = 0;
  for (uint64_t now = 0; now < s->duration_ns;) {
    uint64_t next = now + slice < s->duration_ns ? now + slice : s->duration_ns;
    int64_t n = r.api->run_until(r.b, next);
    if (n < 0) {
      rc = (int)n;
      sim_errf(err, errlen, "backend %s failed: %s", r.api->name,
               p2p_strerror(rc));
      goto out;
    }
    now = next;
    if (r.setup_err) {
      rc = r.setup_err;
      sim_errf(err, errlen, "%s", r.setup_msg);
      goto out;
    }
    if (opts->progress && wall_now() - last_print > 0.2) {
      last_print = wall_now();
      progress_line(s, now, t0, r.api->events_processed(r.b) - ev0);
    }
  }
  log_totals(&r, s->duration_ns);
  double wall_s = wall_now() - t0;
  if (opts->progress)
    fprintf(stderr, "\r%*s\r", 100, "");
  /* Attempts still running at the end stay without an outcome in the
   * events: the summary counts them as "unfinished". */
  uint64_t events = r.api->events_processed(r.b) - ev0;
  if (r.log_err) {
    rc = r.log_err;
    sim_errf(err, errlen, "event log: %s", p2p_strerror(rc));
    goto out;
  }
  rc = write_results(&r, opts, res, wall_s, events, err, errlen);
out:
  free_runner(&r);
  p2plab_plugin_unload(plugin);
  if (rc < 0) {
    sim_json_free(res->summary);
    res->summary = NULL;
  }
  return rc;
}
