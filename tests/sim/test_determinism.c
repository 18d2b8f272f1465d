/* Determinism: a randomised netsim workload (NATs of every preset, a shared
 * CGNAT, jitter, loss, queues, UDP request/reply and TCP transfers) run
 * twice with one seed gives byte-identical traces of every packet event;
 * another seed gives a different trace. */
#include "fixture.h"
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/loader.h"
#include "sim/engine/rng.h"

#define MS(x) ((uint64_t)(x)*1000000ull)
#define N_HOSTS 16
#define N_SENDS 3000
#define N_TCP 6
#define TCP_BYTES 40000

#define api fx_api

typedef struct trace {
  char *buf;
  size_t len, cap;
  unsigned delivered, dropped, app_events;
} trace;

static void tprintf(trace *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tprintf(trace *t, const char *fmt, ...) {
  if (t->cap - t->len < 256) {
    t->cap = t->cap ? t->cap * 2 : 1 << 16;
    t->buf = realloc(t->buf, t->cap);
    ck_assert_ptr_nonnull(t->buf);
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
  va_end(ap);
  ck_assert(n > 0 && (size_t)n < t->cap - t->len);
  t->len += (size_t)n;
}

static void on_packet(void *ctx, const p2plab_packet_event *ev) {
  trace *t = ctx;
  if (ev->dropped)
    t->dropped++;
  else
    t->delivered++;
  tprintf(t, "%llu pkt %u>%d p%u %08x:%u>%08x:%u f%02x s%u d%d r%d\n",
          (unsigned long long)ev->time_ns, ev->src_host, (int)ev->dst_host,
          ev->hdr.proto, ev->hdr.src_ip, ev->hdr.src_port, ev->hdr.dst_ip,
          ev->hdr.dst_port, ev->hdr.tcp_flags, ev->size, ev->dropped,
          ev->nat_reason);
}

typedef struct world world;
typedef struct node {
  world *w;
  p2plab_host_id id;
  p2plab_udp *udp;
  int has_nat;
} node;

typedef struct job {
  world *w;
  int from, to;
  uint32_t len;
} job;

typedef struct tcp_peer {
  world *w;
  size_t rx;
  int closed, err;
} tcp_peer;

struct world {
  p2plab_backend *b;
  trace *t;
  node nodes[N_HOSTS];
  job jobs[N_SENDS];
  tcp_peer tcp_ends[2 * N_TCP];
  int n_tcp_ends;
};

static void udp_rx(void *ctx, p2plab_udp *s, const p2plab_addr *from,
                   const uint8_t *buf, size_t len, uint64_t now) {
  node *n = ctx;
  n->w->t->app_events++;
  tprintf(n->w->t, "%llu udp-rx %u from %08x:%u len %zu first %u\n",
          (unsigned long long)now, n->id, from->ip.v4, from->port, len,
          len ? buf[0] : 0);
  if (len > 1 && buf[0] == 'Q') { /* a request: reply to the source */
    uint8_t reply[64] = {'R'};
    (void)api->udp_send(s, from, reply, len < sizeof reply ? len : 64);
  }
}

static void send_job(void *ctx, uint64_t now) {
  job *j = ctx;
  world *w = j->w;
  (void)now;
  p2plab_addr to;
  ck_assert_int_eq(api->host_public_addr(w->b, w->nodes[j->to].id, &to), 0);
  to.port = 5000;
  uint8_t buf[1200];
  memset(buf, 'Q', sizeof buf);
  ck_assert_int_eq(api->udp_send(w->nodes[j->from].udp, &to, buf, j->len), 0);
}

static void tcp_data(void *ctx, p2plab_tcp *c, const uint8_t *buf, size_t len,
                     uint64_t now) {
  tcp_peer *p = ctx;
  (void)c;
  (void)buf;
  p->rx += len;
  tprintf(p->w->t, "%llu tcp-rx end%td %zu\n", (unsigned long long)now,
          p - p->w->tcp_ends, len);
}

static void tcp_eof(void *ctx, p2plab_tcp *c, uint64_t now) {
  (void)ctx;
  (void)now;
  (void)api->tcp_shutdown(c);
}

static void tcp_close(void *ctx, p2plab_tcp *c, int err, uint64_t now) {
  tcp_peer *p = ctx;
  (void)c;
  p->closed = 1;
  p->err = err;
  tprintf(p->w->t, "%llu tcp-close %d\n", (unsigned long long)now, err);
}

static uint8_t payload[TCP_BYTES];

static void tcp_connect_cb(void *ctx, p2plab_tcp *c, uint64_t now) {
  tcp_peer *p = ctx;
  tprintf(p->w->t, "%llu tcp-connect\n", (unsigned long long)now);
  ck_assert_int_eq(api->tcp_send(c, payload, sizeof payload), 0);
  ck_assert_int_eq(api->tcp_shutdown(c), 0);
}

static const p2plab_tcp_callbacks tcp_cbs = {
    .on_connect = tcp_connect_cb,
    .on_data = tcp_data,
    .on_eof = tcp_eof,
    .on_close = tcp_close,
};

static void tcp_accept(void *ctx, p2plab_tcp_listener *l, p2plab_tcp *c,
                       const p2plab_addr *remote,
                       const p2plab_tcp_callbacks **cbs, void **cb_ctx,
                       uint64_t now) {
  world *w = ctx;
  (void)l;
  (void)c;
  tprintf(w->t, "%llu tcp-accept from %08x:%u\n", (unsigned long long)now,
          remote->ip.v4, remote->port);
  tcp_peer *p = &w->tcp_ends[w->n_tcp_ends++];
  p->w = w;
  *cbs = &tcp_cbs;
  *cb_ctx = p;
}

/* Builds and runs the randomised world; every choice comes from `seed`. */
static void run(uint64_t seed, trace *t) {
  static world w;
  memset(&w, 0, sizeof w);
  memset(t, 0, sizeof *t);
  w.t = t;
  sim_rng r;
  sim_rng_init(&r, seed, SIM_RNG_STREAM(SIM_RNG_KIND_WORKLOAD, 0));
  p2plab_backend_config bc = {.seed = seed,
                              .core_latency_ns =
                                  MS(10) + sim_rng_below(&r, MS(30)),
                              .core_jitter_ns = MS(1),
                              .core_loss_ppm = 2000};
  ck_assert_int_eq(api->create(&bc, &w.b), 0);
  api->packet_observer(w.b, on_packet, t);
  sim_nat_config cg;
  ck_assert_int_eq(sim_nat_preset("cgnat", &cg), 0);
  int32_t isp;
  ck_assert_int_eq(api->nat_add(w.b, &cg, P2PLAB_NO_NAT, &isp), 0);

  const char *const *presets = sim_nat_preset_names();
  size_t n_presets = 0;
  while (presets[n_presets])
    n_presets++;
  static sim_nat_config nats[N_HOSTS];
  for (int i = 0; i < N_HOSTS; i++) {
    p2plab_link_config l = {
        .latency_ns = MS(1) + sim_rng_below(&r, MS(20)),
        .jitter_ns = sim_rng_below(&r, MS(3)),
        .loss_ppm = (uint32_t)sim_rng_below(&r, 20000),
        .rate_bps = 1000000ull * (1 + sim_rng_below(&r, 100)),
        .queue_bytes = (uint32_t)(16384 + sim_rng_below(&r, 131072))};
    /* The first hosts are public so that TCP has servers to reach. */
    const char *preset = i < 4 ? "open" : presets[sim_rng_below(&r, n_presets)];
    ck_assert_int_eq(sim_nat_preset(preset, &nats[i]), 0);
    p2plab_host_config hc = {.name = preset,
                             .up = l,
                             .down = l,
                             .home_nat = &nats[i],
                             .behind_nat = (i >= 4 && sim_rng_below(&r, 3) == 0)
                                               ? isp
                                               : P2PLAB_NO_NAT};
    ck_assert_int_eq(api->host_add(w.b, &hc, &w.nodes[i].id), 0);
    w.nodes[i].w = &w;
    w.nodes[i].has_nat = nats[i].enabled;
    ck_assert_int_eq(api->udp_bind(w.b, w.nodes[i].id, 5000, udp_rx,
                                   &w.nodes[i], &w.nodes[i].udp),
                     0);
  }
  for (int i = 0; i < N_SENDS; i++) {
    job *j = &w.jobs[i];
    j->w = &w;
    j->from = (int)sim_rng_below(&r, N_HOSTS);
    j->to = (int)sim_rng_below(&r, N_HOSTS - 1);
    if (j->to >= j->from)
      j->to++;
    j->len = 20 + (uint32_t)sim_rng_below(&r, 1100);
    ck_assert_int_eq(
        api->timer_start(w.b, sim_rng_below(&r, MS(10000)), send_job, j, NULL),
        0);
  }
  p2plab_tcp_listener *lst[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(
        api->tcp_listen(w.b, w.nodes[i].id, 443, tcp_accept, &w, &lst[i]), 0);
  for (int i = 0; i < N_TCP; i++) {
    int from = (int)sim_rng_below(&r, N_HOSTS);
    int to = (int)sim_rng_below(&r, 4);
    if (to == from)
      to = (to + 1) % 4;
    p2plab_addr a;
    ck_assert_int_eq(api->host_public_addr(w.b, w.nodes[to].id, &a), 0);
    a.port = 443;
    tcp_peer *p = &w.tcp_ends[w.n_tcp_ends++];
    p->w = &w;
    p2plab_tcp *c;
    ck_assert_int_eq(
        api->tcp_connect(w.b, w.nodes[from].id, 0, &a, &tcp_cbs, p, &c), 0);
  }
  ck_assert_int_ge(api->run_until(w.b, MS(30000)), 0);
  tprintf(t, "end events=%llu\n",
          (unsigned long long)api->events_processed(w.b));
  for (int i = 0; i < 4; i++)
    api->tcp_listener_close(lst[i]);
  api->destroy(w.b);
}

START_TEST(test_determinism_same_seed_gives_identical_trace) {
  static trace a, b;
  run(1234, &a);
  run(1234, &b);
  /* The workload really exercised the network. */
  ck_assert_uint_gt(a.delivered, 2000);
  ck_assert_uint_gt(a.dropped, 100);
  ck_assert_uint_gt(a.app_events, 1000);
  ck_assert_uint_eq(a.len, b.len);
  ck_assert_msg(memcmp(a.buf, b.buf, a.len) == 0,
                "traces of two runs with seed 1234 differ");
  free(a.buf);
  free(b.buf);
}
END_TEST

START_TEST(test_determinism_other_seed_gives_other_trace) {
  static trace a, b;
  run(1234, &a);
  run(1235, &b);
  ck_assert(a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0);
  free(a.buf);
  free(b.buf);
}
END_TEST

static Suite *determinism_suite(void) {
  Suite *s = suite_create("determinism");
  TCase *tc = tcase_create("determinism");
  tcase_add_checked_fixture(tc, fx_netsim_setup, fx_netsim_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_determinism_same_seed_gives_identical_trace);
  tcase_add_test(tc, test_determinism_other_seed_gives_other_trace);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(determinism_suite());
}
