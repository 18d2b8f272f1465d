/* Two core libp2p hosts over netsim's simulated TCP: they connect (Noise,
 * yamux), identify each other and ping; the ping RTT equals the configured
 * path RTT within the model's serialisation delays; a run is deterministic
 * from its seed. The same over WebSocket (RFC 6455 on TCP): the upgrade,
 * refused upgrades, its timeout, browser-mode restrictions and bulk data
 * through the framing. */
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
  int dialled_connected;     /* CONNECTED with dialled set */
  int dial_failed, dial_err; /* CONN_CLOSED with conn NULL */
  int dial_failed_dialled;   /* ... and dialled set */
  char dial_reason[128];
  char log[1024]; /* the log lines, concatenated */
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
    s->dialled_connected |= dialled;
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
  case P2P_HOST_EV_CONN_CLOSED:
    if (ev->conn == NULL) {
      s->dial_failed++;
      s->dial_err = ev->err;
      s->dial_failed_dialled = dialled;
      snprintf(s->dial_reason, sizeof s->dial_reason, "%s",
               ev->reason ? ev->reason : "");
    } else {
      s->closed = 1;
    }
    break;
  }
}

static void on_log(void *ctx, const char *msg) {
  side *s = ctx;
  size_t n = strlen(s->log);
  snprintf(s->log + n, sizeof s->log - n, "%s\n", msg);
}

/* Ports to listen on and the browser flag of a side. */
typedef struct side_opts {
  const uint16_t *tcp;
  size_t n_tcp;
  const uint16_t *ws;
  size_t n_ws;
  int browser;
} side_opts;

static int make_side_opts(side *s, p2plab_backend *b, p2plab_host_id h,
                          uint64_t seed, const side_opts *o) {
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
                            .listen_ports = o->tcp,
                            .n_listen = o->n_tcp,
                            .ws_ports = o->ws,
                            .n_ws = o->n_ws,
                            .browser = o->browser,
                            .on_event = on_event,
                            .log = on_log,
                            .ctx = s};
  char err[256];
  return sim_hostnet_new(&cfg, &s->hn, err, sizeof err);
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

/* Builds the world, connects A to B (over WebSocket when ws), pings 3
 * times; returns the RTTs. */
static void run_world_ws(uint64_t seed, uint64_t link_ms, uint64_t core_ms,
                         uint64_t rate_bps, int ws, result *out) {
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
  side_opts ob = {.tcp = &port, .n_tcp = ws ? 0 : 1};
  ob.ws = &port;
  ob.n_ws = ws ? 1 : 0;
  ck_assert_int_eq(make_side_opts(&B, b, ib, seed, &ob), 0);

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
  ck_assert_int_eq(A.dialled_connected, 1);
  ck_assert_int_eq(B.dialled_connected, 0);
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

static void run_world(uint64_t seed, uint64_t link_ms, uint64_t core_ms,
                      uint64_t rate_bps, result *out) {
  run_world_ws(seed, link_ms, core_ms, rate_bps, 0, out);
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

/* --- WebSocket ----------------------------------------------------------- */

START_TEST(test_host_netsim_ws_ping_rtt_equals_path_rtt) {
  /* As over TCP, plus the WebSocket frame header on each segment: the
   * dialer (client) masks its frames (2 + 4 bytes), the server does not
   * (2 bytes). */
  result r;
  run_world_ws(1, 5, 20, 10000000, 1, &r);
  uint64_t up = 108ull * 8 * 1000000000ull / 10000000ull;
  uint64_t down = 104ull * 8 * 1000000000ull / 10000000ull;
  uint64_t want = 2 * MS(30) + 2 * up + 2 * down;
  for (int k = 0; k < 3; k++) {
    ck_assert_msg(r.rtt[k] == want, "ping %d: rtt %llu ns, path %llu ns", k,
                  (unsigned long long)r.rtt[k], (unsigned long long)want);
  }
}
END_TEST

START_TEST(test_host_netsim_ws_rtt_follows_the_configured_latency) {
  result r;
  run_world_ws(3, 1, 50, 0, 1, &r);
  for (int k = 0; k < 3; k++)
    ck_assert_uint_eq(r.rtt[k], 2 * MS(52));
}
END_TEST

typedef struct world {
  p2plab_backend *b;
  p2plab_host_id ia, ib;
} world;

static void world_new(world *w, uint64_t seed) {
  p2plab_backend_config bc = {.seed = seed, .core_latency_ns = MS(20)};
  ck_assert_int_eq(API->create(&bc, &w->b), 0);
  p2plab_link_config l = {.latency_ns = MS(5)};
  p2plab_host_config ha = {
      .name = "a", .up = l, .down = l, .behind_nat = P2PLAB_NO_NAT};
  p2plab_host_config hb = ha;
  hb.name = "b";
  ck_assert_int_eq(API->host_add(w->b, &ha, &w->ia), 0);
  ck_assert_int_eq(API->host_add(w->b, &hb, &w->ib), 0);
}

static void run_for(world *w, uint64_t ns) {
  ck_assert_int_ge(API->run_until(w->b, API->now(w->b) + ns), 0);
}

/* s's i-th listen address with its /p2p/ ID (or a given port instead). */
static void peer_addr(side *s, size_t i, char *out, size_t cap) {
  char id[64];
  ck_assert_int_gt(
      p2p_peerid_to_string(p2p_host_peer_id(sim_hostnet_host(s->hn)), id,
                           sizeof id),
      0);
  ck_assert_int_gt(
      p2p_multiaddr_to_string(sim_hostnet_listen_addr(s->hn, i), out, cap), 0);
  ck_assert_uint_lt(strlen(out) + strlen(id) + 6, cap);
  strcat(out, "/p2p/");
  strcat(out, id);
}

static int dial_str(side *s, const char *str) {
  p2p_multiaddr ma;
  ck_assert_int_eq(p2p_multiaddr_parse(str, &ma), 0);
  int rc = sim_hostnet_dial(s->hn, &ma);
  p2p_multiaddr_free(&ma);
  return rc;
}

static int host_dial_str(side *s, world *w, const char *str) {
  p2p_multiaddr ma;
  ck_assert_int_eq(p2p_multiaddr_parse(str, &ma), 0);
  int rc = p2p_host_dial(sim_hostnet_host(s->hn), &ma, API->now(w->b));
  p2p_multiaddr_free(&ma);
  return rc;
}

/* A raw TCP peer that sends a fixed text and records what comes back. */
typedef struct raw {
  p2plab_tcp *t;
  const char *send;
  int connected, eof, closed, close_err;
  char got[512];
  size_t n;
} raw;

static void raw_on_connect(void *ctx, p2plab_tcp *t, uint64_t now) {
  raw *r = ctx;
  (void)now;
  r->connected = 1;
  r->t = t;
  if (r->send)
    ck_assert_int_eq(
        API->tcp_send(t, (const uint8_t *)r->send, strlen(r->send)), 0);
}

static void raw_on_data(void *ctx, p2plab_tcp *t, const uint8_t *buf,
                        size_t len, uint64_t now) {
  raw *r = ctx;
  (void)t;
  (void)now;
  if (len > sizeof r->got - 1 - r->n)
    len = sizeof r->got - 1 - r->n;
  memcpy(r->got + r->n, buf, len);
  r->n += len;
}

static void raw_on_eof(void *ctx, p2plab_tcp *t, uint64_t now) {
  raw *r = ctx;
  (void)now;
  r->eof = 1;
  (void)API->tcp_shutdown(t);
}

static void raw_on_close(void *ctx, p2plab_tcp *t, int err, uint64_t now) {
  raw *r = ctx;
  (void)t;
  (void)now;
  r->closed = 1;
  r->close_err = err;
  r->t = NULL;
}

static const p2plab_tcp_callbacks raw_cbs = {.on_connect = raw_on_connect,
                                             .on_data = raw_on_data,
                                             .on_eof = raw_on_eof,
                                             .on_close = raw_on_close};

static void raw_on_accept(void *ctx, p2plab_tcp_listener *l, p2plab_tcp *t,
                          const p2plab_addr *remote,
                          const p2plab_tcp_callbacks **cbs, void **cb_ctx,
                          uint64_t now) {
  raw *r = ctx;
  (void)l;
  (void)remote;
  (void)now;
  r->t = t;
  r->connected = 1;
  *cbs = &raw_cbs;
  *cb_ctx = r;
}

/* Connects a raw TCP peer from host h to s's i-th listen address. */
static void raw_connect(world *w, p2plab_host_id h, side *s, size_t i, raw *r) {
  uint32_t ip;
  uint16_t port;
  ck_assert_int_eq(p2p_multiaddr_tcp_target(sim_hostnet_listen_addr(s->hn, i),
                                            &ip, &port, NULL, NULL, NULL),
                   0);
  p2plab_addr to = {.family = P2PLAB_AF_INET, .port = port};
  to.ip.v4 = ip;
  p2plab_tcp *t;
  ck_assert_int_eq(API->tcp_connect(w->b, h, 0, &to, &raw_cbs, r, &t), 0);
}

START_TEST(test_host_netsim_ws_listen_addrs_follow_tcp_ones) {
  world w;
  world_new(&w, 1);
  static side B;
  uint16_t tcp = 4001, ws[2] = {4002, 4003};
  side_opts o = {.tcp = &tcp, .n_tcp = 1, .ws = ws, .n_ws = 2};
  ck_assert_int_eq(make_side_opts(&B, w.b, w.ib, 1, &o), 0);
  char s[128];
  ck_assert_int_gt(
      p2p_multiaddr_to_string(sim_hostnet_listen_addr(B.hn, 0), s, sizeof s),
      0);
  ck_assert_msg(strstr(s, "/tcp/4001") && !strstr(s, "/ws"), "%s", s);
  ck_assert_int_gt(
      p2p_multiaddr_to_string(sim_hostnet_listen_addr(B.hn, 1), s, sizeof s),
      0);
  ck_assert_msg(strstr(s, "/tcp/4002/ws") != NULL, "%s", s);
  ck_assert_int_gt(
      p2p_multiaddr_to_string(sim_hostnet_listen_addr(B.hn, 2), s, sizeof s),
      0);
  ck_assert_msg(strstr(s, "/tcp/4003/ws") != NULL, "%s", s);
  ck_assert_ptr_null(sim_hostnet_listen_addr(B.hn, 3));
  /* The host advertises all three. */
  size_t n = 0;
  (void)p2p_host_addrs(sim_hostnet_host(B.hn), &n);
  ck_assert_uint_eq(n, 3);
  sim_hostnet_del(B.hn);
  API->destroy(w.b);
}
END_TEST

START_TEST(test_host_netsim_ws_server_refuses_plain_http_and_keeps_serving) {
  world w;
  world_new(&w, 2);
  static side A, B;
  uint16_t ws = 4002;
  side_opts o = {.ws = &ws, .n_ws = 1};
  make_side(&A, w.b, w.ia, 2, NULL, 0);
  ck_assert_int_eq(make_side_opts(&B, w.b, w.ib, 2, &o), 0);
  /* An HTTP client that does not ask for an upgrade. */
  raw r = {.send = "GET / HTTP/1.1\r\nHost: b\r\n\r\n"};
  raw_connect(&w, w.ia, &B, 0, &r);
  /* A real WebSocket client at the same time. */
  char addr[256];
  peer_addr(&B, 0, addr, sizeof addr);
  ck_assert_int_eq(dial_str(&A, addr), 0);
  for (int i = 0; i < 100 && !(A.identified && B.identified && r.closed); i++)
    run_for(&w, MS(50));
  ck_assert_msg(strncmp(r.got, "HTTP/1.1 400", 12) == 0, "got '%s'", r.got);
  ck_assert_int_eq(r.eof, 1);
  ck_assert_int_eq(r.closed, 1);
  ck_assert_msg(strstr(B.log, "WebSocket connection with") != NULL, "log: %s",
                B.log);
  ck_assert_int_eq(A.identified, 1);
  ck_assert_int_eq(B.identified, 1);
  ck_assert_int_eq(A.closed, 0);
  ck_assert_int_eq(B.closed, 0);
  /* Bytes of another protocol instead of HTTP are refused the same way
   * once a header block ends (else the upgrade timeout closes them). */
  raw g = {.send = "\x13/multistream/1.0.0\n\x07/noise\n\r\n\r\n"};
  raw_connect(&w, w.ia, &B, 0, &g);
  for (int i = 0; i < 100 && !g.closed; i++)
    run_for(&w, MS(50));
  ck_assert_int_eq(g.closed, 1);
  ck_assert_msg(strncmp(g.got, "HTTP/1.1 400", 12) == 0, "got '%s'", g.got);
  ck_assert_int_eq(B.closed, 0);
  ck_assert_int_eq(p2p_host_ping(sim_hostnet_host(A.hn), A.conn, API->now(w.b)),
                   0);
  for (int i = 0; i < 100 && A.pings == 0; i++)
    run_for(&w, MS(10));
  ck_assert_int_eq(A.pings, 1);
  sim_hostnet_del(A.hn);
  sim_hostnet_del(B.hn);
  API->destroy(w.b);
}
END_TEST

START_TEST(test_host_netsim_ws_upgrade_timeout_closes_a_silent_client) {
  world w;
  world_new(&w, 3);
  static side B;
  uint16_t ws = 4002;
  side_opts o = {.ws = &ws, .n_ws = 1};
  ck_assert_int_eq(make_side_opts(&B, w.b, w.ib, 3, &o), 0);
  raw r = {.send = "GET / HTTP/1.1\r\n"}; /* and never the rest */
  raw_connect(&w, w.ia, &B, 0, &r);
  /* The upgrade timer starts when TCP is established (one RTT of 60 ms
   * plus the final ACK after the client's connect); the reset then takes
   * 30 ms to arrive. */
  run_for(&w, MS(9900));
  ck_assert_int_eq(r.connected, 1);
  ck_assert_int_eq(r.closed, 0);
  run_for(&w, MS(300));
  ck_assert_int_eq(r.closed, 1);
  ck_assert_int_eq(r.close_err, P2P_ERR_RESET);
  ck_assert_msg(strstr(B.log, "handshake") && strstr(B.log, "timed out"),
                "log: %s", B.log);
  ck_assert_int_eq(B.connected, 0);
  sim_hostnet_del(B.hn);
  API->destroy(w.b);
}
END_TEST

START_TEST(test_host_netsim_ws_dial_times_out_on_a_silent_server) {
  world w;
  world_new(&w, 4);
  static side A;
  make_side(&A, w.b, w.ia, 4, NULL, 0);
  raw r = {0};
  p2plab_tcp_listener *l;
  ck_assert_int_eq(API->tcp_listen(w.b, w.ib, 5000, raw_on_accept, &r, &l), 0);
  p2plab_addr at;
  ck_assert_int_eq(API->host_addr(w.b, w.ib, &at), 0);
  char s[128];
  snprintf(s, sizeof s, "/ip4/%u.%u.%u.%u/tcp/5000/ws", at.ip.v4 >> 24,
           (at.ip.v4 >> 16) & 0xff, (at.ip.v4 >> 8) & 0xff, at.ip.v4 & 0xff);
  ck_assert_int_eq(dial_str(&A, s), 0);
  run_for(&w, MS(1000));
  ck_assert_int_eq(r.connected, 1);
  ck_assert_msg(strstr(r.got, "Upgrade: websocket") != NULL, "got: %s", r.got);
  ck_assert_int_eq(A.dial_failed, 0);
  run_for(&w, MS(9500));
  ck_assert_int_eq(A.dial_failed, 1);
  ck_assert_int_eq(A.dial_err, P2P_ERR_TIMEOUT);
  ck_assert_int_eq(A.dial_failed_dialled, 1);
  ck_assert_msg(strstr(A.dial_reason, "timed out") != NULL, "%s",
                A.dial_reason);
  ck_assert_int_eq(A.connected, 0);
  run_for(&w, MS(100));
  ck_assert_int_eq(r.closed, 1);
  sim_hostnet_del(A.hn);
  API->tcp_listener_close(l);
  API->destroy(w.b);
}
END_TEST

START_TEST(test_host_netsim_ws_dial_to_a_tcp_listener_fails) {
  world w;
  world_new(&w, 5);
  static side A, B;
  uint16_t port = 4001;
  make_side(&A, w.b, w.ia, 5, NULL, 0);
  make_side(&B, w.b, w.ib, 5, &port, 1);
  char addr[256], ws[300];
  peer_addr(&B, 0, addr, sizeof addr);
  /* /ip4/B/tcp/4001/p2p/ID -> /ip4/B/tcp/4001/ws/p2p/ID */
  char *p = strstr(addr, "/p2p/");
  ck_assert_ptr_nonnull(p);
  snprintf(ws, sizeof ws, "%.*s/ws%s", (int)(p - addr), addr, p);
  ck_assert_int_eq(dial_str(&A, ws), 0);
  for (int i = 0; i < 100 && !A.dial_failed; i++)
    run_for(&w, MS(50));
  ck_assert_int_eq(A.dial_failed, 1);
  ck_assert_int_lt(A.dial_err, 0);
  ck_assert_int_eq(A.dial_failed_dialled, 1);
  ck_assert_int_eq(A.connected, 0);
  ck_assert_int_eq(B.connected, 0);
  sim_hostnet_del(A.hn);
  sim_hostnet_del(B.hn);
  API->destroy(w.b);
}
END_TEST

START_TEST(test_host_netsim_browser_cannot_listen_or_dial_tcp) {
  world w;
  world_new(&w, 6);
  static side A, B;
  uint16_t tcp = 4001, ws = 4002;
  side_opts bad_tcp = {.tcp = &tcp, .n_tcp = 1, .browser = 1};
  side_opts bad_ws = {.ws = &ws, .n_ws = 1, .browser = 1};
  side_opts browser = {.browser = 1};
  ck_assert_int_eq(make_side_opts(&A, w.b, w.ia, 6, &bad_tcp), P2P_ERR_INVALID);
  ck_assert_int_eq(make_side_opts(&A, w.b, w.ia, 6, &bad_ws), P2P_ERR_INVALID);
  ck_assert_int_eq(make_side_opts(&A, w.b, w.ia, 6, &browser), 0);
  side_opts ob = {.tcp = &tcp, .n_tcp = 1, .ws = &ws, .n_ws = 1};
  ck_assert_int_eq(make_side_opts(&B, w.b, w.ib, 6, &ob), 0);
  char tcp_addr[256], ws_addr[256];
  peer_addr(&B, 0, tcp_addr, sizeof tcp_addr);
  peer_addr(&B, 1, ws_addr, sizeof ws_addr);
  /* Plain TCP is refused both ways in; nothing starts. */
  ck_assert_int_eq(dial_str(&A, tcp_addr), P2P_ERR_INVALID);
  ck_assert_int_eq(host_dial_str(&A, &w, tcp_addr), P2P_ERR_INVALID);
  run_for(&w, MS(500));
  ck_assert_int_eq(B.connected, 0);
  ck_assert_int_eq(A.dial_failed, 0);
  /* WebSocket through the host's dial works. */
  ck_assert_int_eq(host_dial_str(&A, &w, ws_addr), 0);
  for (int i = 0; i < 100 && !(A.identified && B.identified); i++)
    run_for(&w, MS(50));
  ck_assert_int_eq(A.identified, 1);
  ck_assert_int_eq(B.identified, 1);
  ck_assert_int_eq(A.dialled_connected, 1);
  sim_hostnet_del(A.hn);
  sim_hostnet_del(B.hn);
  API->destroy(w.b);
}
END_TEST

START_TEST(test_host_netsim_failed_host_dial_ends_in_conn_closed) {
  world w;
  world_new(&w, 7);
  static side A, B;
  uint16_t ws = 4002;
  side_opts o = {.ws = &ws, .n_ws = 1};
  make_side(&A, w.b, w.ia, 7, NULL, 0);
  ck_assert_int_eq(make_side_opts(&B, w.b, w.ib, 7, &o), 0);
  char addr[256], closed[300];
  peer_addr(&B, 0, addr, sizeof addr);
  /* The same address on a port nobody listens on. */
  char *p = strstr(addr, "/tcp/4002");
  ck_assert_ptr_nonnull(p);
  snprintf(closed, sizeof closed, "%.*s/tcp/4999%s", (int)(p - addr), addr,
           p + strlen("/tcp/4002"));
  ck_assert_int_eq(host_dial_str(&A, &w, closed), 0);
  for (int i = 0; i < 100 && !A.dial_failed; i++)
    run_for(&w, MS(50));
  ck_assert_int_eq(A.dial_failed, 1);
  ck_assert_int_eq(A.dial_failed_dialled, 1);
  ck_assert_int_lt(A.dial_err, 0);
  ck_assert_int_eq(A.connected, 0);
  sim_hostnet_del(A.hn);
  sim_hostnet_del(B.hn);
  API->destroy(w.b);
}
END_TEST

/* Bulk data: a stream of a test protocol carries 1 MiB over WebSocket. */
#define BULK_PROTO "/p2plab/test-bulk/1.0.0"
#define BULK_LEN (1u << 20)

typedef struct bulk {
  p2p_stream *s;
  int open, fin, bad;
  size_t got;
} bulk;

static void bulk_on_open(void *user, p2p_stream *s, const char *proto,
                         uint64_t now) {
  bulk *k = user;
  (void)proto;
  (void)now;
  k->s = s;
  k->open = 1;
}

static void bulk_on_data(void *user, p2p_stream *s, const uint8_t *buf,
                         size_t len, uint64_t now) {
  bulk *k = user;
  (void)s;
  (void)now;
  for (size_t i = 0; i < len; i++)
    if (buf[i] != (uint8_t)((k->got + i) % 251))
      k->bad = 1;
  k->got += len;
}

static void bulk_on_fin(void *user, p2p_stream *s, uint64_t now) {
  bulk *k = user;
  k->fin = 1;
  ck_assert_int_eq(p2p_host_stream_close(s, now), 0);
}

static void bulk_on_close(void *user, p2p_stream *s, int err, uint64_t now) {
  (void)user;
  (void)s;
  (void)err;
  (void)now;
}

static const p2p_stream_handler bulk_handler = {.on_open = bulk_on_open,
                                                .on_data = bulk_on_data,
                                                .on_fin = bulk_on_fin,
                                                .on_close = bulk_on_close};

START_TEST(test_host_netsim_ws_bulk_stream_arrives_intact) {
  world w;
  world_new(&w, 8);
  static side A, B;
  uint16_t ws = 4002;
  side_opts o = {.ws = &ws, .n_ws = 1};
  make_side(&A, w.b, w.ia, 8, NULL, 0);
  ck_assert_int_eq(make_side_opts(&B, w.b, w.ib, 8, &o), 0);
  static bulk tx, rx;
  memset(&tx, 0, sizeof tx);
  memset(&rx, 0, sizeof rx);
  ck_assert_int_eq(
      p2p_host_handle(sim_hostnet_host(B.hn), BULK_PROTO, &bulk_handler, &rx),
      0);
  char addr[256];
  peer_addr(&B, 0, addr, sizeof addr);
  ck_assert_int_eq(dial_str(&A, addr), 0);
  for (int i = 0; i < 100 && !A.connected; i++)
    run_for(&w, MS(50));
  ck_assert_int_eq(A.connected, 1);
  const char *protos[] = {BULK_PROTO};
  p2p_stream *s;
  ck_assert_int_eq(p2p_host_stream_open(sim_hostnet_host(A.hn), A.conn, protos,
                                        1, &bulk_handler, &tx, API->now(w.b),
                                        &s),
                   0);
  static uint8_t chunk[65536];
  size_t sent = 0;
  for (int i = 0; i < 2000 && rx.got < BULK_LEN; i++) {
    if (tx.open && sent < BULK_LEN) {
      size_t n = p2p_host_stream_room(s);
      if (n > sizeof chunk)
        n = sizeof chunk;
      if (n > BULK_LEN - sent)
        n = BULK_LEN - sent;
      for (size_t j = 0; j < n; j++)
        chunk[j] = (uint8_t)((sent + j) % 251);
      ssize_t k = n ? p2p_host_stream_write(s, chunk, n, API->now(w.b)) : 0;
      ck_assert_int_ge(k, 0);
      sent += (size_t)k;
    }
    run_for(&w, MS(10));
  }
  ck_assert_uint_eq(rx.got, BULK_LEN);
  ck_assert_int_eq(rx.bad, 0);
  ck_assert_int_eq(A.closed, 0);
  ck_assert_int_eq(B.closed, 0);
  sim_hostnet_del(A.hn);
  sim_hostnet_del(B.hn);
  API->destroy(w.b);
}
END_TEST

START_TEST(test_multiaddr_tcp_target_splits_tcp_and_ws_addresses) {
  static const char *id =
      "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
  char s[256];
  uint32_t ip;
  uint16_t port;
  int ws = -1, has = -1;
  p2p_peerid peer;
  p2p_multiaddr ma;
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/10.0.0.2/tcp/4001", &ma), 0);
  ck_assert_int_eq(p2p_multiaddr_tcp_target(&ma, &ip, &port, &ws, &peer, &has),
                   0);
  ck_assert_uint_eq(ip, 0x0a000002u);
  ck_assert_uint_eq(port, 4001);
  ck_assert_int_eq(ws, 0);
  ck_assert_int_eq(has, 0);
  p2p_multiaddr_free(&ma);
  snprintf(s, sizeof s, "/ip4/1.2.3.4/tcp/80/ws/p2p/%s", id);
  ck_assert_int_eq(p2p_multiaddr_parse(s, &ma), 0);
  ck_assert_int_eq(p2p_multiaddr_tcp_target(&ma, &ip, &port, &ws, &peer, &has),
                   0);
  ck_assert_uint_eq(ip, 0x01020304u);
  ck_assert_uint_eq(port, 80);
  ck_assert_int_eq(ws, 1);
  ck_assert_int_eq(has, 1);
  char back[64];
  ck_assert_int_gt(p2p_peerid_to_string(&peer, back, sizeof back), 0);
  ck_assert_str_eq(back, id);
  p2p_multiaddr_free(&ma);
  static const char *bad[] = {"/ip4/1.2.3.4/tcp/80/wss",
                              "/ip4/1.2.3.4/tcp/80/ws/ws",
                              "/ip4/1.2.3.4/udp/80/ws",
                              "/ip6/::1/tcp/80/ws",
                              "/ip4/1.2.3.4",
                              "/ip4/1.2.3.4/tcp/80/tls/ws",
                              "/dns4/a.b/tcp/80/ws"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(p2p_multiaddr_parse(bad[i], &ma), 0);
    ck_assert_msg(p2p_multiaddr_tcp_target(&ma, &ip, &port, &ws, NULL, NULL) ==
                      P2P_ERR_INVALID,
                  "%s accepted", bad[i]);
    p2p_multiaddr_free(&ma);
  }
  snprintf(s, sizeof s, "/ip4/1.2.3.4/tcp/80/p2p/%s/ws", id);
  ck_assert_int_eq(p2p_multiaddr_parse(s, &ma), 0);
  ck_assert_int_eq(p2p_multiaddr_tcp_target(&ma, &ip, &port, &ws, NULL, NULL),
                   P2P_ERR_INVALID);
  p2p_multiaddr_free(&ma);
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
  tcase_add_test(tc, test_host_netsim_ws_ping_rtt_equals_path_rtt);
  tcase_add_test(tc, test_host_netsim_ws_rtt_follows_the_configured_latency);
  tcase_add_test(tc, test_host_netsim_ws_listen_addrs_follow_tcp_ones);
  tcase_add_test(
      tc, test_host_netsim_ws_server_refuses_plain_http_and_keeps_serving);
  tcase_add_test(tc,
                 test_host_netsim_ws_upgrade_timeout_closes_a_silent_client);
  tcase_add_test(tc, test_host_netsim_ws_dial_times_out_on_a_silent_server);
  tcase_add_test(tc, test_host_netsim_ws_dial_to_a_tcp_listener_fails);
  tcase_add_test(tc, test_host_netsim_browser_cannot_listen_or_dial_tcp);
  tcase_add_test(tc, test_host_netsim_failed_host_dial_ends_in_conn_closed);
  tcase_add_test(tc, test_host_netsim_ws_bulk_stream_arrives_intact);
  tcase_add_test(tc, test_multiaddr_tcp_target_splits_tcp_and_ws_addresses);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(host_netsim_suite());
}
