/* Two core libp2p hosts over netsim's simulated TCP: they connect (Noise,
 * yamux), identify each other and ping; the ping RTT equals the configured
 * path RTT within the model's serialisation delays; a run is deterministic
 * from its seed. */
#include "fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/rng.h"
#include "sim/hostnet/hostnet.h"

#define API fx_api
#define MS(x) ((uint64_t)(x)*1000000ull)

typedef struct side {
  sim_rng rng;
  p2p_rand rnd;
  p2p_privkey key;
  sim_hostnet *hn;
  int connected, identified, closed;
  char agent[64];
  uint64_t rtt[8];
  int pings;
  p2p_conn *conn;
} side;

static void rng_fill(void *ctx, uint8_t *buf, size_t len) {
  sim_rng_fill(ctx, buf, len);
}

static void on_event(void *ctx, const p2p_host_event *ev, int dialled) {
  side *s = ctx;
  (void)dialled;
  switch (ev->type) {
  case P2P_HOST_EV_CONNECTED:
    s->connected = 1;
    s->conn = ev->conn;
    break;
  case P2P_HOST_EV_IDENTIFY:
    s->identified = 1;
    snprintf(s->agent, sizeof s->agent, "%s",
             ev->identify->agent_version ? ev->identify->agent_version : "");
    break;
  case P2P_HOST_EV_PING:
    if (s->pings < 8)
      s->rtt[s->pings++] = ev->rtt_ns;
    break;
  case P2P_HOST_EV_PING_FAILED:
    ck_abort_msg("ping failed: %s", ev->reason);
    break;
  case P2P_HOST_EV_CONN_CLOSED: s->closed = 1; break;
  }
}

static void make_side(side *s, p2plab_backend *b, p2plab_host_id h,
                      uint64_t seed, const uint16_t *ports, size_t n_ports) {
  memset(s, 0, sizeof *s);
  sim_rng_init(&s->rng, seed, SIM_RNG_STREAM(SIM_RNG_KIND_HOST, h));
  s->rnd = (p2p_rand){.fill = rng_fill, .ctx = &s->rng};
  ck_assert_int_eq(p2p_key_generate(&s->rnd, &s->key), 0);
  sim_hostnet_config cfg = {.api = API,
                            .b = b,
                            .hid = h,
                            .key = &s->key,
                            .rnd = &s->rnd,
                            .agent_version = "p2plab-test",
                            .listen_ports = ports,
                            .n_listen = n_ports,
                            .on_event = on_event,
                            .ctx = s};
  char err[256];
  ck_assert_msg(sim_hostnet_new(&cfg, &s->hn, err, sizeof err) == 0, "%s", err);
}

typedef struct result {
  uint64_t rtt[3];
  char dialer_id[64], listener_id[64];
} result;

/* Builds the world, connects A to B, pings 3 times; returns the RTTs. */
static void run_world(uint64_t seed, uint64_t link_ms, uint64_t core_ms,
                      uint64_t rate_bps, result *out) {
  p2plab_backend_config bc = {.seed = seed, .core_latency_ns = MS(core_ms)};
  p2plab_backend *b;
  ck_assert_int_eq(API->create(&bc, &b), 0);
  p2plab_link_config l = {.latency_ns = MS(link_ms), .rate_bps = rate_bps};
  p2plab_host_config ha = {
      .name = "a", .up = l, .down = l, .behind_nat = P2PLAB_NO_NAT};
  p2plab_host_config hb = ha;
  hb.name = "b";
  p2plab_host_id ia, ib;
  ck_assert_int_eq(API->host_add(b, &ha, &ia), 0);
  ck_assert_int_eq(API->host_add(b, &hb, &ib), 0);
  static side A, B;
  uint16_t port = 4001;
  make_side(&A, b, ia, seed, NULL, 0);
  make_side(&B, b, ib, seed, &port, 1);

  /* A dials B's listen address with B's peer ID. */
  char s[256], id[64];
  const p2p_peerid *bid = p2p_host_peer_id(sim_hostnet_host(B.hn));
  ck_assert_int_gt(p2p_peerid_to_string(bid, id, sizeof id), 0);
  ck_assert_int_gt(
      p2p_multiaddr_to_string(sim_hostnet_listen_addr(B.hn, 0), s, sizeof s),
      0);
  strcat(s, "/p2p/");
  strcat(s, id);
  p2p_multiaddr ma;
  ck_assert_int_eq(p2p_multiaddr_parse(s, &ma), 0);
  ck_assert_int_eq(sim_hostnet_dial(A.hn, &ma), 0);
  p2p_multiaddr_free(&ma);

  for (int i = 0; i < 100 && !(A.identified && B.identified); i++)
    ck_assert_int_ge(API->run_until(b, API->now(b) + MS(50)), 0);
  ck_assert_int_eq(A.connected, 1);
  ck_assert_int_eq(B.connected, 1);
  ck_assert_int_eq(A.identified, 1);
  ck_assert_int_eq(B.identified, 1);
  ck_assert_str_eq(A.agent, "p2plab-test");
  ck_assert_str_eq(B.agent, "p2plab-test");

  /* Let the connection go quiet, then ping three times, one after the
   * other, so nothing else shares the links. */
  ck_assert_int_ge(API->run_until(b, API->now(b) + MS(1000)), 0);
  for (int k = 0; k < 3; k++) {
    int before = A.pings;
    ck_assert_int_eq(p2p_host_ping(sim_hostnet_host(A.hn), A.conn, API->now(b)),
                     0);
    for (int i = 0; i < 100 && A.pings == before; i++)
      ck_assert_int_ge(API->run_until(b, API->now(b) + MS(10)), 0);
    ck_assert_int_eq(A.pings, before + 1);
    ck_assert_int_ge(API->run_until(b, API->now(b) + MS(1000)), 0);
  }
  for (int k = 0; k < 3; k++)
    out->rtt[k] = A.rtt[k];
  ck_assert_int_gt(
      p2p_peerid_to_string(p2p_host_peer_id(sim_hostnet_host(A.hn)),
                           out->dialer_id, sizeof out->dialer_id),
      0);
  snprintf(out->listener_id, sizeof out->listener_id, "%s", id);
  ck_assert_int_eq(A.closed, 0);
  sim_hostnet_del(A.hn);
  sim_hostnet_del(B.hn);
  API->destroy(b);
}

START_TEST(test_host_netsim_ping_rtt_equals_path_rtt) {
  /* One way: 5 ms access + 20 ms core + 5 ms access = 30 ms. At 10 Mbit/s a
   * ping's TCP segment (32 bytes + yamux 12 + Noise 2 + 16 + TCP/IP 40 =
   * 102 bytes) takes 81.6 us per link, two links each way. */
  result r;
  run_world(1, 5, 20, 10000000, &r);
  uint64_t ser = 102ull * 8 * 1000000000ull / 10000000ull;
  uint64_t want = 2 * (MS(30) + 2 * ser);
  for (int k = 0; k < 3; k++) {
    ck_assert_msg(r.rtt[k] == want, "ping %d: rtt %llu ns, path %llu ns", k,
                  (unsigned long long)r.rtt[k], (unsigned long long)want);
  }
}
END_TEST

START_TEST(test_host_netsim_rtt_follows_the_configured_latency) {
  result r;
  run_world(1, 1, 50, 0, &r); /* no rate limit: no serialisation */
  for (int k = 0; k < 3; k++)
    ck_assert_uint_eq(r.rtt[k], 2 * MS(52));
}
END_TEST

START_TEST(test_host_netsim_same_seed_same_run) {
  result a, b, c;
  run_world(7, 5, 20, 10000000, &a);
  run_world(7, 5, 20, 10000000, &b);
  run_world(8, 5, 20, 10000000, &c);
  ck_assert_str_eq(a.dialer_id, b.dialer_id);
  ck_assert_str_eq(a.listener_id, b.listener_id);
  ck_assert_mem_eq(a.rtt, b.rtt, sizeof a.rtt);
  ck_assert_str_ne(a.dialer_id, c.dialer_id); /* keys come from the seed */
}
END_TEST

static Suite *host_netsim_suite(void) {
  Suite *s = suite_create("host_netsim");
  TCase *tc = tcase_create("host_netsim");
  tcase_add_checked_fixture(tc, fx_netsim_setup, fx_netsim_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_host_netsim_ping_rtt_equals_path_rtt);
  tcase_add_test(tc, test_host_netsim_rtt_follows_the_configured_latency);
  tcase_add_test(tc, test_host_netsim_same_seed_same_run);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(host_netsim_suite());
}
