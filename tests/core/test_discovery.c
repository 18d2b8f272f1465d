/*
 * Bootstrap and pubsub peer discovery, on hosts wired in memory.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "memnet.h"
#include "p2p/discovery.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define TOPIC "browser-peer-discovery"

typedef struct node {
  p2p_gossipsub *gs;
  p2p_discovery *d;
  int found; /* discoveries reported */
} node;

static void on_msg(void *ctx, const p2p_gossip_msg *m, uint64_t now) {
  node *n = ctx;
  (void)p2p_discovery_on_message(n->d, m, now);
}

static void on_found(void *ctx, const p2p_peerid *peer,
                     const p2p_multiaddr *addrs, size_t na, uint64_t now) {
  node *n = ctx;
  (void)peer;
  (void)addrs;
  (void)na;
  (void)now;
  n->found++;
}

/* Host i of m gets GossipSub and discovery (bootstrap to host `boot` when
 * >= 0; dialling discovered peers when dial). */
static void setup(memnet *m, node *n, size_t i, long boot, int dial,
                  unsigned max_conns) {
  p2p_host *h = memnet_host(m, i);
  p2p_gossipsub_config gc = {.on_message = on_msg, .ctx = n};
  ck_assert_int_eq(p2p_gossipsub_new(h, &gc, &n->gs), 0);
  const char *topics[] = {TOPIC};
  p2p_discovery_config dc = {
      .bootstrap = boot >= 0 ? memnet_addr(m, (size_t)boot) : NULL,
      .n_bootstrap = boot >= 0 ? 1 : 0,
      .pubsub = n->gs,
      .topics = topics,
      .n_topics = 1,
      .interval_ns = 1 * SEC,
      .dial_discovered = dial,
      .max_conns = max_conns,
      .on_discovery = on_found,
      .ctx = n};
  ck_assert_int_eq(p2p_discovery_new(h, &dc, memnet_now(m), &n->d), 0);
}

static void teardown_nodes(node *n, size_t k) {
  for (size_t i = 0; i < k; i++) {
    p2p_discovery_del(n[i].d);
    p2p_gossipsub_del(n[i].gs);
  }
}

START_TEST(test_peer_message_round_trips_and_rejects_garbage) {
  memnet *m = memnet_new(MS);
  p2p_host *h = memnet_add(m, 7);
  ck_assert_ptr_nonnull(h);
  size_t n = 0;
  const p2p_multiaddr *own = p2p_host_addrs(h, &n);
  uint8_t buf[1024];
  ssize_t len =
      p2p_discovery_encode_peer(&p2p_host_key(h)->pub, own, n, buf, sizeof buf);
  ck_assert_int_gt(len, 0);
  p2p_peerid peer;
  p2p_multiaddr *addrs = NULL;
  size_t na = 0;
  ck_assert_int_eq(
      p2p_discovery_decode_peer(buf, (size_t)len, &peer, &addrs, &na), 0);
  ck_assert(p2p_peerid_equal(&peer, p2p_host_peer_id(h)));
  ck_assert_uint_eq(na, 1);
  ck_assert_uint_eq(addrs[0].len, own[0].len);
  ck_assert_mem_eq(addrs[0].bytes, own[0].bytes, own[0].len);
  p2p_multiaddr_free(&addrs[0]);
  free(addrs);
  /* A cut-off message, and one without a public key. */
  ck_assert_int_eq(
      p2p_discovery_decode_peer(buf, (size_t)len - 3, &peer, &addrs, &na),
      P2P_ERR_PROTO);
  const uint8_t nokey[] = {0x12, 0x02, 0x04, 0x7f};
  ck_assert_int_eq(
      p2p_discovery_decode_peer(nokey, sizeof nokey, &peer, &addrs, &na),
      P2P_ERR_PROTO);
  ck_assert_int_eq(
      p2p_discovery_encode_peer(&p2p_host_key(h)->pub, own, n, buf, 10),
      P2P_ERR_LIMIT);
  memnet_del(m);
}
END_TEST

/* A hub and two leaves that only know the hub: the leaves find each other
 * through the hub's GossipSub and connect directly. */
START_TEST(test_peers_found_over_pubsub_are_dialled) {
  memnet *m = memnet_new(5 * MS);
  for (uint64_t i = 0; i < 3; i++)
    ck_assert_ptr_nonnull(memnet_add(m, 100 + i));
  node n[3] = {0};
  setup(m, &n[0], 0, -1, 0, 0);
  setup(m, &n[1], 1, 0, 1, 0);
  setup(m, &n[2], 2, 0, 1, 0);
  memnet_run(m, 500 * MS);
  /* Bootstrap connected the leaves to the hub, not to each other. */
  ck_assert_ptr_nonnull(p2p_host_find_conn(
      memnet_host(m, 1), p2p_host_peer_id(memnet_host(m, 0))));
  ck_assert_ptr_null(p2p_host_find_conn(memnet_host(m, 1),
                                        p2p_host_peer_id(memnet_host(m, 2))));
  memnet_run(m, 5 * SEC);
  ck_assert_int_gt(n[1].found, 0);
  ck_assert_int_gt(n[2].found, 0);
  ck_assert_ptr_nonnull(p2p_host_find_conn(
      memnet_host(m, 1), p2p_host_peer_id(memnet_host(m, 2))));
  p2p_discovery_stats st;
  p2p_discovery_get_stats(n[1].d, &st);
  ck_assert_uint_gt(st.announced, 0);
  ck_assert_uint_eq(st.bad_messages, 0);
  teardown_nodes(n, 3);
  memnet_del(m);
}
END_TEST

START_TEST(test_max_conns_stops_dialling) {
  memnet *m = memnet_new(5 * MS);
  for (uint64_t i = 0; i < 5; i++)
    ck_assert_ptr_nonnull(memnet_add(m, 200 + i));
  node n[5] = {0};
  setup(m, &n[0], 0, -1, 0, 0);
  setup(m, &n[1], 1, 0, 1, 2); /* the hub and one more */
  for (size_t i = 2; i < 5; i++)
    setup(m, &n[i], i, 0, 0, 0);
  memnet_run(m, 10 * SEC);
  ck_assert_int_ge(n[1].found, 3);
  size_t conns = 0;
  for (size_t j = 0; j < 5; j++)
    conns += j != 1 && p2p_host_find_conn(memnet_host(m, 1),
                                          p2p_host_peer_id(memnet_host(m, j)));
  ck_assert_uint_eq(conns, 2);
  teardown_nodes(n, 5);
  memnet_del(m);
}
END_TEST

START_TEST(test_bootstrap_redials_after_loss) {
  memnet *m = memnet_new(5 * MS);
  ck_assert_ptr_nonnull(memnet_add(m, 1));
  ck_assert_ptr_nonnull(memnet_add(m, 2));
  node n[2] = {0};
  setup(m, &n[0], 0, -1, 0, 0);
  setup(m, &n[1], 1, 0, 0, 0);
  memnet_run(m, 1 * SEC);
  const p2p_peerid *hub = p2p_host_peer_id(memnet_host(m, 0));
  ck_assert_ptr_nonnull(p2p_host_find_conn(memnet_host(m, 1), hub));
  memnet_set_down(m, 0, 1);
  memnet_run(m, 3 * SEC);
  ck_assert_ptr_null(p2p_host_find_conn(memnet_host(m, 1), hub));
  memnet_set_down(m, 0, 0);
  memnet_run(m, 70 * SEC); /* the backoff is at most 60 s */
  ck_assert_ptr_nonnull(p2p_host_find_conn(memnet_host(m, 1), hub));
  p2p_discovery_stats st;
  p2p_discovery_get_stats(n[1].d, &st);
  ck_assert_uint_ge(st.bootstrap_dials, 2);
  teardown_nodes(n, 2);
  memnet_del(m);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("discovery");
  TCase *tc = tcase_create("discovery");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_peer_message_round_trips_and_rejects_garbage);
  tcase_add_test(tc, test_peers_found_over_pubsub_are_dialled);
  tcase_add_test(tc, test_max_conns_stops_dialling);
  tcase_add_test(tc, test_bootstrap_redials_after_loss);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
