/* Tests for the netsim backend (plugins/netsim/netsim.c), driven through
 * the backend ABI exactly as the simulator drives it. */
#include "fixture.h"
#include "tcp_end.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/loader.h"

#define MS(x) ((uint64_t)(x)*1000000ull)
#define US(x) ((uint64_t)(x)*1000ull)
#define IP(a, b, c, d)                                                         \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) |      \
   (uint32_t)(d))

#define api fx_api

/* --- a recording harness ------------------------------------------------ */

#define MAX_RX 20000
typedef struct rx {
  uint64_t t;
  p2plab_addr from;
  size_t len;
  uint32_t tag;
} rx;

typedef struct sink {
  rx r[MAX_RX];
  size_t n;
} sink;

static void on_udp(void *ctx, p2plab_udp *s, const p2plab_addr *from,
                   const uint8_t *buf, size_t len, uint64_t now) {
  sink *k = ctx;
  (void)s;
  if (k->n < MAX_RX) {
    rx *x = &k->r[k->n++];
    x->t = now;
    x->from = *from;
    x->len = len;
    x->tag = len >= 4 ? (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
                            (uint32_t)buf[2] << 8 | buf[3]
                      : 0;
  }
}

typedef struct drops {
  unsigned by_kind[8];
  unsigned nat_reason[SIM_NAT_DROP_REASON_COUNT];
  unsigned delivered;
} drops;

static void on_packet(void *ctx, const p2plab_packet_event *ev) {
  drops *d = ctx;
  if (ev->dropped == 0)
    d->delivered++;
  else {
    d->by_kind[ev->dropped]++;
    if (ev->dropped == P2PLAB_DROP_NAT)
      d->nat_reason[ev->nat_reason]++;
  }
}

static p2plab_backend *world(uint64_t seed, uint64_t core_latency) {
  p2plab_backend_config bc = {.seed = seed, .core_latency_ns = core_latency};
  p2plab_backend *b = NULL;
  ck_assert_int_eq(api->create(&bc, &b), 0);
  return b;
}

static p2plab_host_id host(p2plab_backend *b, const char *name,
                           const p2plab_link_config *link,
                           const sim_nat_config *nat, int32_t behind) {
  p2plab_host_config hc = {.name = name, .behind_nat = behind, .home_nat = nat};
  if (link) {
    hc.up = *link;
    hc.down = *link;
  }
  p2plab_host_id id;
  ck_assert_int_eq(api->host_add(b, &hc, &id), 0);
  return id;
}

static p2plab_addr pub(p2plab_backend *b, p2plab_host_id h, uint16_t port) {
  p2plab_addr a;
  ck_assert_int_eq(api->host_public_addr(b, h, &a), 0);
  a.port = port;
  return a;
}

static void send_tag(p2plab_udp *s, const p2plab_addr *to, uint32_t tag,
                     size_t len) {
  uint8_t buf[2048] = {0};
  buf[0] = (uint8_t)(tag >> 24);
  buf[1] = (uint8_t)(tag >> 16);
  buf[2] = (uint8_t)(tag >> 8);
  buf[3] = (uint8_t)tag;
  ck_assert_int_eq(api->udp_send(s, to, buf, len), 0);
}

/* --- UDP timing -------------------------------------------------------- */

START_TEST(test_netsim_udp_delay_is_links_plus_core_plus_serialisation) {
  p2plab_backend *b = world(1, MS(20));
  p2plab_link_config l = {.latency_ns = MS(5), .rate_bps = 1000000};
  p2plab_host_id a = host(b, "a", &l, NULL, P2PLAB_NO_NAT);
  p2plab_host_id c = host(b, "c", &l, NULL, P2PLAB_NO_NAT);
  static sink k;
  k.n = 0;
  p2plab_udp *sa, *sc;
  ck_assert_int_eq(api->udp_bind(b, a, 1000, on_udp, &k, &sa), 0);
  ck_assert_int_eq(api->udp_bind(b, c, 2000, on_udp, &k, &sc), 0);
  p2plab_addr to = pub(b, c, 2000);
  send_tag(sa, &to, 7, 100); /* 128 bytes on the wire: 1.024 ms at 1 Mbit */
  api->run_until(b, MS(100));
  ck_assert_uint_eq(k.n, 1);
  /* uplink: 1.024 + 5, core 20, downlink 1.024 + 5 */
  ck_assert_uint_eq(k.r[0].t, US(1024) + MS(5) + MS(20) + US(1024) + MS(5));
  p2plab_addr from_a = pub(b, a, 1000);
  ck_assert_uint_eq(k.r[0].from.ip.v4, from_a.ip.v4);
  ck_assert_uint_eq(k.r[0].from.port, 1000);
  ck_assert_uint_eq(k.r[0].len, 100);
  ck_assert_uint_eq(k.r[0].tag, 7);
  ck_assert_uint_eq(api->now(b), MS(100));
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_back_to_back_packets_queue_behind_each_other) {
  p2plab_backend *b = world(1, 0);
  p2plab_link_config up = {.latency_ns = MS(1), .rate_bps = 1000000};
  p2plab_link_config fast = {.latency_ns = 0};
  p2plab_host_id a = host(b, "a", &up, NULL, P2PLAB_NO_NAT);
  p2plab_host_id c = host(b, "c", &fast, NULL, P2PLAB_NO_NAT);
  static sink k;
  k.n = 0;
  p2plab_udp *sa, *sc;
  ck_assert_int_eq(api->udp_bind(b, a, 1, on_udp, &k, &sa), 0);
  ck_assert_int_eq(api->udp_bind(b, c, 2, on_udp, &k, &sc), 0);
  p2plab_addr to = pub(b, c, 2);
  for (int i = 0; i < 10; i++)
    send_tag(sa, &to, (uint32_t)i, 972); /* 1000 bytes: 8 ms at 1 Mbit */
  api->run_until(b, MS(500));
  ck_assert_uint_eq(k.n, 10);
  for (int i = 0; i < 10; i++) {
    ck_assert_uint_eq(k.r[i].tag, (uint32_t)i);
    ck_assert_uint_eq(k.r[i].t, MS(8) * (uint64_t)(i + 1) + MS(1));
  }
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_drop_tail_queue_drops_what_does_not_fit) {
  p2plab_backend *b = world(1, 0);
  /* 1 Mbit/s, queue of 3000 bytes not yet serialised: of ten 1000-byte
   * packets sent at once, three fit (the first one on the wire counts until
   * it is out); the rest are dropped. */
  p2plab_link_config up = {.rate_bps = 1000000, .queue_bytes = 3000};
  p2plab_host_id a = host(b, "a", &up, NULL, P2PLAB_NO_NAT);
  p2plab_host_id c = host(b, "c", NULL, NULL, P2PLAB_NO_NAT);
  static sink k;
  static drops d;
  memset(&d, 0, sizeof d);
  k.n = 0;
  api->packet_observer(b, on_packet, &d);
  p2plab_udp *sa, *sc;
  ck_assert_int_eq(api->udp_bind(b, a, 1, on_udp, &k, &sa), 0);
  ck_assert_int_eq(api->udp_bind(b, c, 2, on_udp, &k, &sc), 0);
  p2plab_addr to = pub(b, c, 2);
  for (int i = 0; i < 10; i++)
    send_tag(sa, &to, (uint32_t)i, 972);
  api->run_until(b, MS(500));
  ck_assert_uint_eq(k.n, 3);
  ck_assert_uint_eq(d.by_kind[P2PLAB_DROP_QUEUE], 7);
  for (int i = 0; i < 3; i++)
    ck_assert_uint_eq(k.r[i].tag, (uint32_t)i);
  /* Once the queue drained, packets fit again. */
  send_tag(sa, &to, 99, 972);
  api->run_until(b, MS(600));
  ck_assert_uint_eq(k.n, 4);
  ck_assert_uint_eq(k.r[3].tag, 99);
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_loss_rate_matches_configuration) {
  p2plab_backend *b = world(42, MS(1));
  p2plab_link_config lossy = {.latency_ns = MS(1), .loss_ppm = 100000};
  p2plab_host_id a = host(b, "a", &lossy, NULL, P2PLAB_NO_NAT);
  p2plab_host_id c = host(b, "c", NULL, NULL, P2PLAB_NO_NAT);
  static sink k;
  static drops d;
  memset(&d, 0, sizeof d);
  k.n = 0;
  api->packet_observer(b, on_packet, &d);
  p2plab_udp *sa, *sc;
  ck_assert_int_eq(api->udp_bind(b, a, 1, on_udp, &k, &sa), 0);
  ck_assert_int_eq(api->udp_bind(b, c, 2, on_udp, &k, &sc), 0);
  p2plab_addr to = pub(b, c, 2);
  for (int i = 0; i < 10000; i++)
    send_tag(sa, &to, (uint32_t)i, 10);
  api->run_until(b, MS(100));
  /* Uplink 10% loss only: expect 9000 +- 4.5 sigma (sigma = 30). */
  ck_assert_uint_eq(k.n + d.by_kind[P2PLAB_DROP_LOSS], 10000);
  ck_assert_int_gt((int)k.n, 9000 - 135);
  ck_assert_int_lt((int)k.n, 9000 + 135);
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_jitter_stays_in_bounds_and_never_reorders) {
  p2plab_backend *b = world(3, 0);
  p2plab_link_config j = {.latency_ns = MS(10), .jitter_ns = MS(4)};
  p2plab_host_id a = host(b, "a", &j, NULL, P2PLAB_NO_NAT);
  p2plab_host_id c = host(b, "c", NULL, NULL, P2PLAB_NO_NAT);
  static sink k;
  k.n = 0;
  p2plab_udp *sa, *sc;
  ck_assert_int_eq(api->udp_bind(b, a, 1, on_udp, &k, &sa), 0);
  ck_assert_int_eq(api->udp_bind(b, c, 2, on_udp, &k, &sc), 0);
  p2plab_addr to = pub(b, c, 2);
  /* One packet every 5 ms: arrivals spread over [6, 14] ms after sending,
   * and the link keeps them in order. */
  uint64_t min_d = UINT64_MAX, max_d = 0;
  for (int i = 0; i < 400; i++) {
    send_tag(sa, &to, (uint32_t)i, 10);
    api->run_until(b, api->now(b) + MS(5));
  }
  api->run_until(b, api->now(b) + MS(50));
  ck_assert_uint_eq(k.n, 400);
  for (size_t i = 0; i < k.n; i++) {
    ck_assert_uint_eq(k.r[i].tag, i);
    uint64_t d = k.r[i].t - MS(5) * i;
    if (d < min_d)
      min_d = d;
    if (d > max_d)
      max_d = d;
    if (i)
      ck_assert_uint_ge(k.r[i].t, k.r[i - 1].t);
  }
  ck_assert_uint_ge(min_d, MS(6));
  ck_assert_uint_le(max_d, MS(14) + MS(5)); /* FIFO may push one behind */
  ck_assert_uint_lt(min_d, MS(7));          /* the spread is really used */
  ck_assert_uint_gt(max_d, MS(13));
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_core_latency_override_applies_to_that_pair_only) {
  p2plab_backend *b = world(1, MS(20));
  p2plab_host_id a = host(b, "a", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id c = host(b, "c", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id e = host(b, "e", NULL, NULL, P2PLAB_NO_NAT);
  ck_assert_int_eq(api->core_latency_set(b, c, a, MS(80)), 0);
  static sink k;
  k.n = 0;
  p2plab_udp *sa, *sc, *se;
  ck_assert_int_eq(api->udp_bind(b, a, 1, on_udp, &k, &sa), 0);
  ck_assert_int_eq(api->udp_bind(b, c, 2, on_udp, &k, &sc), 0);
  ck_assert_int_eq(api->udp_bind(b, e, 3, on_udp, &k, &se), 0);
  p2plab_addr to_c = pub(b, c, 2), to_e = pub(b, e, 3);
  send_tag(sa, &to_c, 1, 10);
  send_tag(sa, &to_e, 2, 10);
  api->run_until(b, MS(200));
  ck_assert_uint_eq(k.n, 2);
  ck_assert_uint_eq(k.r[0].tag, 2);
  ck_assert_uint_eq(k.r[0].t, MS(20));
  ck_assert_uint_eq(k.r[1].tag, 1);
  ck_assert_uint_eq(k.r[1].t, MS(80));
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_unbound_port_and_unknown_address_are_dropped) {
  p2plab_backend *b = world(1, MS(1));
  p2plab_host_id a = host(b, "a", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id c = host(b, "c", NULL, NULL, P2PLAB_NO_NAT);
  static drops d;
  memset(&d, 0, sizeof d);
  api->packet_observer(b, on_packet, &d);
  static sink k;
  k.n = 0;
  p2plab_udp *sa, *again;
  ck_assert_int_eq(api->udp_bind(b, a, 1, on_udp, &k, &sa), 0);
  ck_assert_int_eq(api->udp_bind(b, a, 1, on_udp, &k, &again),
                   P2P_ERR_ADDRINUSE);
  p2plab_addr to = pub(b, c, 9);
  send_tag(sa, &to, 1, 10);
  p2plab_addr nowhere = {.family = P2PLAB_AF_INET, .port = 5};
  nowhere.ip.v4 = IP(198, 51, 100, 7);
  send_tag(sa, &nowhere, 2, 10);
  api->run_until(b, MS(10));
  ck_assert_uint_eq(d.by_kind[P2PLAB_DROP_NO_SOCKET], 1);
  ck_assert_uint_eq(d.by_kind[P2PLAB_DROP_NO_ROUTE], 1);
  ck_assert_uint_eq(k.n, 0);
  api->destroy(b);
}
END_TEST

/* --- NATs on the path -------------------------------------------------- */

START_TEST(test_netsim_nat_rewrites_source_and_filters_unsolicited) {
  p2plab_backend *b = world(1, MS(10));
  sim_nat_config prc;
  ck_assert_int_eq(sim_nat_preset("port-restricted-cone", &prc), 0);
  p2plab_host_id srv = host(b, "server", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id oth = host(b, "other", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id cli = host(b, "client", NULL, &prc, P2PLAB_NO_NAT);
  static sink ks, kc;
  static drops d;
  ks.n = kc.n = 0;
  memset(&d, 0, sizeof d);
  api->packet_observer(b, on_packet, &d);
  p2plab_udp *ss, *so, *sc;
  ck_assert_int_eq(api->udp_bind(b, srv, 80, on_udp, &ks, &ss), 0);
  ck_assert_int_eq(api->udp_bind(b, oth, 81, on_udp, &ks, &so), 0);
  ck_assert_int_eq(api->udp_bind(b, cli, 4001, on_udp, &kc, &sc), 0);

  p2plab_addr own, nat_pub;
  ck_assert_int_eq(api->host_addr(b, cli, &own), 0);
  ck_assert_int_eq(api->host_public_addr(b, cli, &nat_pub), 0);
  ck_assert_uint_eq(own.ip.v4, IP(192, 168, 1, 2));
  ck_assert_uint_ne(nat_pub.ip.v4, own.ip.v4);

  p2plab_addr to = pub(b, srv, 80);
  send_tag(sc, &to, 1, 10);
  api->run_until(b, MS(100));
  ck_assert_uint_eq(ks.n, 1);
  ck_assert_uint_eq(ks.r[0].from.ip.v4, nat_pub.ip.v4);
  ck_assert_uint_eq(ks.r[0].from.port, 4001); /* preserved */

  /* The reply passes; the same packet from another host is filtered. */
  send_tag(ss, &ks.r[0].from, 2, 10);
  send_tag(so, &ks.r[0].from, 3, 10);
  api->run_until(b, MS(200));
  ck_assert_uint_eq(kc.n, 1);
  ck_assert_uint_eq(kc.r[0].tag, 2);
  ck_assert_uint_eq(kc.r[0].from.ip.v4, to.ip.v4);
  ck_assert_uint_eq(d.nat_reason[SIM_NAT_DROP_FILTERED], 1);
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_nested_nat_shows_cgnat_address_and_hairpins_inside) {
  p2plab_backend *b = world(1, MS(30));
  sim_nat_config home, cg;
  ck_assert_int_eq(sim_nat_preset("full-cone", &home), 0);
  ck_assert_int_eq(sim_nat_preset("cgnat", &cg), 0);
  int32_t isp;
  ck_assert_int_eq(api->nat_add(b, &cg, P2PLAB_NO_NAT, &isp), 0);
  p2plab_link_config l = {.latency_ns = MS(2)};
  p2plab_host_id srv = host(b, "server", &l, NULL, P2PLAB_NO_NAT);
  p2plab_host_id h1 = host(b, "h1", &l, &home, isp);
  p2plab_host_id h2 = host(b, "h2", &l, &home, isp);
  static sink ks, k1, k2;
  ks.n = k1.n = k2.n = 0;
  p2plab_udp *ss, *s1, *s2;
  ck_assert_int_eq(api->udp_bind(b, srv, 3478, on_udp, &ks, &ss), 0);
  ck_assert_int_eq(api->udp_bind(b, h1, 5000, on_udp, &k1, &s1), 0);
  ck_assert_int_eq(api->udp_bind(b, h2, 5000, on_udp, &k2, &s2), 0);

  p2plab_addr p1, p2;
  ck_assert_int_eq(api->host_public_addr(b, h1, &p1), 0);
  ck_assert_int_eq(api->host_public_addr(b, h2, &p2), 0);
  ck_assert_uint_eq(p1.ip.v4, p2.ip.v4); /* both show the CGNAT's address */

  p2plab_addr to = pub(b, srv, 3478);
  send_tag(s1, &to, 1, 10);
  send_tag(s2, &to, 2, 10);
  api->run_until(b, MS(100));
  ck_assert_uint_eq(ks.n, 2);
  ck_assert_uint_eq(ks.r[0].from.ip.v4, p1.ip.v4);
  ck_assert_uint_eq(ks.r[0].t, MS(2) + MS(30) + MS(2));
  ck_assert_uint_ne(ks.r[0].from.port, ks.r[1].from.port);

  /* h1 and h2 reach each other through the CGNAT's hairpin: the packets
   * turn around inside the CGNAT and never cross the core. The CGNAT filters
   * by address and port, so h1's first packet is dropped (h2's mapping has
   * talked only to the server); once h2 has sent to h1's mapping, packets
   * pass both ways, carrying the external (mapped) source address. */
  p2plab_addr m1 = ks.r[0].from, m2 = ks.r[1].from;
  static drops d;
  memset(&d, 0, sizeof d);
  api->packet_observer(b, on_packet, &d);
  uint64_t t0 = api->now(b);
  send_tag(s1, &m2, 3, 10);
  api->run_until(b, t0 + MS(50));
  ck_assert_uint_eq(k2.n, 0);
  ck_assert_uint_eq(d.nat_reason[SIM_NAT_DROP_FILTERED], 1);
  uint64_t t1 = api->now(b);
  send_tag(s2, &m1, 4, 10);
  api->run_until(b, t1 + MS(50));
  ck_assert_uint_eq(k1.n, 1);
  ck_assert_uint_eq(k1.r[0].tag, 4);
  ck_assert_uint_eq(k1.r[0].t, t1 + MS(4)); /* two access links, no core */
  ck_assert_uint_eq(k1.r[0].from.ip.v4, m2.ip.v4);
  ck_assert_uint_eq(k1.r[0].from.port, m2.port);
  send_tag(s1, &m2, 5, 10);
  api->run_until(b, t1 + MS(100));
  ck_assert_uint_eq(k2.n, 1);
  ck_assert_uint_eq(k2.r[0].tag, 5);
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_udp_blocked_nat_drops_udp) {
  p2plab_backend *b = world(1, MS(1));
  sim_nat_config ub;
  ck_assert_int_eq(sim_nat_preset("udp-blocked", &ub), 0);
  p2plab_host_id srv = host(b, "server", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id cli = host(b, "client", NULL, &ub, P2PLAB_NO_NAT);
  static sink k;
  static drops d;
  k.n = 0;
  memset(&d, 0, sizeof d);
  api->packet_observer(b, on_packet, &d);
  p2plab_udp *ss, *sc;
  ck_assert_int_eq(api->udp_bind(b, srv, 80, on_udp, &k, &ss), 0);
  ck_assert_int_eq(api->udp_bind(b, cli, 80, on_udp, &k, &sc), 0);
  p2plab_addr to = pub(b, srv, 80);
  send_tag(sc, &to, 1, 10);
  api->run_until(b, MS(10));
  ck_assert_uint_eq(k.n, 0);
  ck_assert_uint_eq(d.nat_reason[SIM_NAT_DROP_UDP_BLOCKED], 1);
  api->destroy(b);
}
END_TEST

/* --- TCP --------------------------------------------------------------- */

static void tcp_transfer(uint32_t loss_ppm, size_t n) {
  p2plab_backend *b = world(7, MS(10));
  p2plab_link_config l = {.latency_ns = MS(5),
                          .rate_bps = 50000000,
                          .queue_bytes = 256 * 1024,
                          .loss_ppm = loss_ppm};
  p2plab_host_id a = host(b, "a", &l, NULL, P2PLAB_NO_NAT);
  p2plab_host_id s = host(b, "s", &l, NULL, P2PLAB_NO_NAT);
  static tcp_end client, server;
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  uint8_t *up = tcp_end_pattern(n, 1), *down = tcp_end_pattern(n, 2);
  client.tx = up;
  client.tx_len = n;
  server.tx = down;
  server.tx_len = n;
  p2plab_tcp_listener *lst;
  ck_assert_int_eq(api->tcp_listen(b, s, 443, tcp_end_accept, &server, &lst),
                   0);
  p2plab_addr bound;
  ck_assert_int_eq(api->tcp_listener_addr(lst, &bound), 0);
  ck_assert_uint_eq(bound.port, 443);
  p2plab_addr to = pub(b, s, 443);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, a, 0, &to, &tcp_end_cbs, &client, &c),
                   0);
  api->run_until(b, MS(120000));
  ck_assert_int_eq(client.connected, 1);
  ck_assert_int_eq(server.connected, 1);
  if (loss_ppm == 0) {
    /* SYN, SYN-ACK: the client is connected after one RTT of 2 x 20 ms
     * plus the serialisation of two 40-byte segments on two links. */
    uint64_t ser = 40 * 8 * 1000000000ull / 50000000ull;
    ck_assert_uint_eq(client.connected_at, MS(40) + 4 * ser);
  }
  ck_assert_uint_eq(server.rx_len, n);
  ck_assert_uint_eq(client.rx_len, n);
  ck_assert(memcmp(server.rx, up, n) == 0);
  ck_assert(memcmp(client.rx, down, n) == 0);
  ck_assert_int_eq(client.eof, 1);
  ck_assert_int_eq(server.eof, 1);
  ck_assert_int_eq(client.closed, 1);
  ck_assert_int_eq(server.closed, 1);
  ck_assert_int_eq(client.close_err, 0);
  ck_assert_int_eq(server.close_err, 0);
  api->tcp_listener_close(lst);
  api->destroy(b);
  free(up);
  free(down);
  free(client.rx);
  free(server.rx);
}

START_TEST(test_netsim_tcp_transfers_both_ways_and_closes) {
  tcp_transfer(0, 300000);
}
END_TEST

START_TEST(test_netsim_tcp_survives_loss_byte_exact) {
  tcp_transfer(20000, 200000); /* 2% on every link direction */
}
END_TEST

START_TEST(test_netsim_tcp_closed_port_answers_rst) {
  p2plab_backend *b = world(1, MS(10));
  p2plab_host_id a = host(b, "a", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id s = host(b, "s", NULL, NULL, P2PLAB_NO_NAT);
  static tcp_end client;
  memset(&client, 0, sizeof client);
  p2plab_addr to = pub(b, s, 9999);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, a, 0, &to, &tcp_end_cbs, &client, &c),
                   0);
  api->run_until(b, MS(100));
  ck_assert_int_eq(client.connected, 0);
  ck_assert_int_eq(client.closed, 1);
  ck_assert_int_eq(client.close_err, P2P_ERR_REFUSED);
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_tcp_simultaneous_open_through_two_nats) {
  /* Both peers behind port-restricted cone NATs (port preserving) dial each
   * other's public address from the port they dial to, at the same time:
   * each SYN opens its own NAT's session for the other's SYN, and the model
   * goes through simultaneous open to ESTABLISHED on both sides. */
  p2plab_backend *b = world(1, MS(15));
  sim_nat_config prc;
  ck_assert_int_eq(sim_nat_preset("port-restricted-cone", &prc), 0);
  p2plab_link_config l = {.latency_ns = MS(5)};
  p2plab_host_id a = host(b, "a", &l, &prc, P2PLAB_NO_NAT);
  p2plab_host_id c = host(b, "c", &l, &prc, P2PLAB_NO_NAT);
  static tcp_end ea, ec;
  memset(&ea, 0, sizeof ea);
  memset(&ec, 0, sizeof ec);
  uint8_t *msg = tcp_end_pattern(5000, 3);
  ea.tx = msg;
  ea.tx_len = 5000;
  ec.shut_on_eof = 1;
  p2plab_addr to_c = pub(b, c, 6001), to_a = pub(b, a, 6000);
  p2plab_tcp *ca, *cc;
  ck_assert_int_eq(api->tcp_connect(b, a, 6000, &to_c, &tcp_end_cbs, &ea, &ca),
                   0);
  ck_assert_int_eq(api->tcp_connect(b, c, 6001, &to_a, &tcp_end_cbs, &ec, &cc),
                   0);
  api->run_until(b, MS(5000));
  ck_assert_int_eq(ea.connected, 1);
  ck_assert_int_eq(ec.connected, 1);
  ck_assert_uint_eq(ec.rx_len, 5000);
  ck_assert(memcmp(ec.rx, msg, 5000) == 0);
  ck_assert_int_eq(ea.closed, 1);
  ck_assert_int_eq(ec.closed, 1);
  free(msg);
  free(ec.rx);
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_tcp_unsolicited_syn_through_nat_times_out) {
  /* Without the NAT's cooperation a SYN from outside is silently dropped
   * (RFC 5382 REQ-4): the dialler retries and finally times out. */
  p2plab_backend *b = world(1, MS(10));
  sim_nat_config prc;
  ck_assert_int_eq(sim_nat_preset("port-restricted-cone", &prc), 0);
  p2plab_host_id a = host(b, "a", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id n = host(b, "n", NULL, &prc, P2PLAB_NO_NAT);
  static tcp_end ea, en;
  memset(&ea, 0, sizeof ea);
  memset(&en, 0, sizeof en);
  p2plab_tcp_listener *lst;
  ck_assert_int_eq(api->tcp_listen(b, n, 7000, tcp_end_accept, &en, &lst), 0);
  p2plab_addr to = pub(b, n, 7000);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, a, 0, &to, &tcp_end_cbs, &ea, &c), 0);
  api->run_until(b, MS(200000));
  ck_assert_int_eq(en.connected, 0);
  ck_assert_int_eq(ea.closed, 1);
  ck_assert_int_eq(ea.close_err, P2P_ERR_TIMEOUT);
  api->tcp_listener_close(lst);
  api->destroy(b);
}
END_TEST

/* --- timers ------------------------------------------------------------- */

static uint64_t fired[8];
static int n_fired;
static void timer_cb(void *ctx, uint64_t now) {
  (void)ctx;
  fired[n_fired++] = now;
}

START_TEST(test_netsim_timers_run_at_their_time_and_cancel) {
  p2plab_backend *b = world(1, 0);
  n_fired = 0;
  p2plab_timer t1, t2, t3;
  ck_assert_int_eq(api->timer_start(b, MS(30), timer_cb, NULL, &t1), 0);
  ck_assert_int_eq(api->timer_start(b, MS(10), timer_cb, NULL, &t2), 0);
  ck_assert_int_eq(api->timer_start(b, MS(20), timer_cb, NULL, &t3), 0);
  ck_assert_int_eq(api->timer_cancel(b, t3), 0);
  ck_assert_int_eq(api->timer_cancel(b, t3), P2P_ERR_NOTFOUND);
  int64_t ran = api->run_until(b, MS(100));
  ck_assert_int_eq(ran, 2);
  ck_assert_int_eq(n_fired, 2);
  ck_assert_uint_eq(fired[0], MS(10));
  ck_assert_uint_eq(fired[1], MS(30));
  ck_assert_int_eq(api->timer_start(b, MS(50), timer_cb, NULL, &t1),
                   P2P_ERR_INVALID); /* in the past */
  api->destroy(b);
}
END_TEST

START_TEST(test_netsim_destroy_frees_packets_in_flight) {
  /* Run under ASan/valgrind: packets, connections and sockets still alive
   * at destroy are freed without leaks. */
  p2plab_backend *b = world(1, MS(50));
  p2plab_host_id a = host(b, "a", NULL, NULL, P2PLAB_NO_NAT);
  p2plab_host_id s = host(b, "s", NULL, NULL, P2PLAB_NO_NAT);
  static sink k;
  static tcp_end client, server;
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  p2plab_udp *sa, *ss;
  ck_assert_int_eq(api->udp_bind(b, a, 1, on_udp, &k, &sa), 0);
  ck_assert_int_eq(api->udp_bind(b, s, 2, on_udp, &k, &ss), 0);
  p2plab_addr to = pub(b, s, 2);
  for (int i = 0; i < 100; i++)
    send_tag(sa, &to, (uint32_t)i, 500);
  p2plab_tcp_listener *lst;
  ck_assert_int_eq(api->tcp_listen(b, s, 443, tcp_end_accept, &server, &lst),
                   0);
  p2plab_addr t443 = pub(b, s, 443);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, a, 0, &t443, &tcp_end_cbs, &client, &c),
                   0);
  api->run_until(b, MS(120)); /* connected, with segments in flight */
  ck_assert_int_eq(client.connected, 1);
  ck_assert_int_eq(api->tcp_send(c, (const uint8_t *)"hello", 5), 0);
  api->destroy(b);
}
END_TEST

static void setup(void) {
  fx_netsim_setup();
  tcp_end_use(fx_api);
}

static Suite *netsim_suite(void) {
  Suite *s = suite_create("netsim");
  TCase *tc = tcase_create("netsim");
  tcase_add_checked_fixture(tc, setup, fx_netsim_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc,
                 test_netsim_udp_delay_is_links_plus_core_plus_serialisation);
  tcase_add_test(tc, test_netsim_back_to_back_packets_queue_behind_each_other);
  tcase_add_test(tc, test_netsim_drop_tail_queue_drops_what_does_not_fit);
  tcase_add_test(tc, test_netsim_loss_rate_matches_configuration);
  tcase_add_test(tc, test_netsim_jitter_stays_in_bounds_and_never_reorders);
  tcase_add_test(tc,
                 test_netsim_core_latency_override_applies_to_that_pair_only);
  tcase_add_test(tc, test_netsim_unbound_port_and_unknown_address_are_dropped);
  tcase_add_test(tc, test_netsim_nat_rewrites_source_and_filters_unsolicited);
  tcase_add_test(
      tc, test_netsim_nested_nat_shows_cgnat_address_and_hairpins_inside);
  tcase_add_test(tc, test_netsim_udp_blocked_nat_drops_udp);
  tcase_add_test(tc, test_netsim_tcp_transfers_both_ways_and_closes);
  tcase_add_test(tc, test_netsim_tcp_survives_loss_byte_exact);
  tcase_add_test(tc, test_netsim_tcp_closed_port_answers_rst);
  tcase_add_test(tc, test_netsim_tcp_simultaneous_open_through_two_nats);
  tcase_add_test(tc, test_netsim_tcp_unsolicited_syn_through_nat_times_out);
  tcase_add_test(tc, test_netsim_timers_run_at_their_time_and_cancel);
  tcase_add_test(tc, test_netsim_destroy_frees_packets_in_flight);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(netsim_suite());
}
