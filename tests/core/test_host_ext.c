/*
 * The host's extension points (services, dialing, connection accessors,
 * address changes pushed through identify), on hosts wired in memory.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "memnet.h"
#include "p2p/host.h"

#define MS 1000000ull
#define SEC 1000000000ull

typedef struct svc_log {
  int connected, identified, closed, dial_failed, expiries;
  uint64_t next; /* the service's deadline */
  uint64_t fired_at;
} svc_log;

static void svc_event(void *ctx, const p2p_host_event *ev) {
  svc_log *l = ctx;
  if (ev->type == P2P_HOST_EV_CONNECTED)
    l->connected++;
  else if (ev->type == P2P_HOST_EV_IDENTIFY)
    l->identified++;
  else if (ev->type == P2P_HOST_EV_CONN_CLOSED && ev->conn == NULL)
    l->dial_failed++;
  else if (ev->type == P2P_HOST_EV_CONN_CLOSED)
    l->closed++;
}

static uint64_t svc_expiry(void *ctx) {
  return ((svc_log *)ctx)->next;
}

static void svc_on_expiry(void *ctx, uint64_t now) {
  svc_log *l = ctx;
  l->expiries++;
  l->fired_at = now;
  l->next = UINT64_MAX;
}

static const p2p_host_service svc = {
    .on_event = svc_event, .expiry = svc_expiry, .on_expiry = svc_on_expiry};

START_TEST(test_service_sees_events_and_runs_its_timer) {
  memnet *m = memnet_new(5 * MS);
  ck_assert_ptr_nonnull(memnet_add(m, 1));
  ck_assert_ptr_nonnull(memnet_add(m, 2));
  svc_log a = {.next = 750 * MS}, b = {.next = UINT64_MAX};
  ck_assert_int_eq(p2p_host_add_service(memnet_host(m, 0), &svc, &a), 0);
  ck_assert_int_eq(p2p_host_add_service(memnet_host(m, 0), &svc, &a),
                   P2P_ERR_EXISTS);
  ck_assert_int_eq(p2p_host_add_service(memnet_host(m, 1), &svc, &b), 0);
  ck_assert_int_eq(memnet_dial(m, 0, 1), 0);
  memnet_run(m, 500 * MS);
  ck_assert_int_eq(a.connected, 1);
  ck_assert_int_eq(b.connected, 1);
  ck_assert_int_ge(a.identified, 1);
  ck_assert_int_eq(a.expiries, 0);
  memnet_run(m, 1 * SEC);
  ck_assert_int_eq(a.expiries, 1);
  ck_assert_uint_eq(a.fired_at, 750 * MS);
  /* The connection from both ends. */
  p2p_conn *c = p2p_host_find_conn(memnet_host(m, 0),
                                   p2p_host_peer_id(memnet_host(m, 1)));
  ck_assert_ptr_nonnull(c);
  ck_assert(p2p_host_conn_outbound(c));
  ck_assert(!p2p_host_conn_limited(c));
  ck_assert(p2p_host_conn_is_open(c));
  ck_assert_ptr_nonnull(p2p_host_conn_remote(c));
  /* A local close reaches the service on both sides. */
  p2p_host_conn_close(memnet_host(m, 0), c, "test", memnet_now(m));
  memnet_run(m, 2 * SEC);
  ck_assert_int_eq(a.closed, 1);
  ck_assert_int_eq(b.closed, 1);
  ck_assert_ptr_null(p2p_host_find_conn(memnet_host(m, 0),
                                        p2p_host_peer_id(memnet_host(m, 1))));
  /* A removed service hears nothing more. */
  p2p_host_remove_service(memnet_host(m, 1), &b);
  ck_assert_int_eq(memnet_dial(m, 0, 1), 0);
  memnet_run(m, 3 * SEC);
  ck_assert_int_eq(a.connected, 2);
  ck_assert_int_eq(b.connected, 1);
  p2p_host_remove_service(memnet_host(m, 0), &a);
  memnet_del(m);
}
END_TEST

START_TEST(test_dial_failure_reaches_services) {
  memnet *m = memnet_new(5 * MS);
  ck_assert_ptr_nonnull(memnet_add(m, 1));
  ck_assert_ptr_nonnull(memnet_add(m, 2));
  svc_log a = {.next = UINT64_MAX};
  ck_assert_int_eq(p2p_host_add_service(memnet_host(m, 0), &svc, &a), 0);
  ck_assert_int_eq(memnet_dial(m, 0, 1), 0);
  memnet_set_down(m, 1, 1); /* goes down while the dial is on its way */
  memnet_run(m, 1 * SEC);
  ck_assert_int_eq(a.dial_failed, 1);
  ck_assert_int_eq(a.connected, 0);
  /* A circuit address without a circuit dialer cannot be dialled. */
  p2p_multiaddr ma = {0};
  ck_assert_int_eq(
      p2p_multiaddr_parse("/ip4/10.0.0.2/tcp/4001/p2p-circuit", &ma), 0);
  ck_assert_int_eq(p2p_host_dial(memnet_host(m, 0), &ma, memnet_now(m)),
                   P2P_ERR_INVALID);
  p2p_multiaddr_free(&ma);
  p2p_host_remove_service(memnet_host(m, 0), &a);
  memnet_del(m);
}
END_TEST

static size_t count_addrs(const p2p_identify_msg *im) {
  return im ? im->n_listen_addrs : 0;
}

START_TEST(test_added_address_is_pushed_to_peers) {
  memnet *m = memnet_new(5 * MS);
  p2p_host *a = memnet_add(m, 1), *b = memnet_add(m, 2);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(memnet_dial(m, 1, 0), 0);
  memnet_run(m, 500 * MS);
  ck_assert_uint_eq(count_addrs(p2p_host_peer_info(b, p2p_host_peer_id(a))), 1);
  p2p_multiaddr ma = {0};
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/10.0.0.9/tcp/4001/ws", &ma), 0);
  ck_assert_int_eq(p2p_host_add_addr(a, &ma, memnet_now(m)), 0);
  ck_assert_int_eq(p2p_host_add_addr(a, &ma, memnet_now(m)), P2P_ERR_EXISTS);
  size_t n = 0;
  ck_assert_ptr_nonnull(p2p_host_addrs(a, &n));
  ck_assert_uint_eq(n, 2);
  memnet_run(m, 1 * SEC);
  ck_assert_uint_eq(count_addrs(p2p_host_peer_info(b, p2p_host_peer_id(a))), 2);
  ck_assert_int_eq(p2p_host_remove_addr(a, &ma, memnet_now(m)), 0);
  ck_assert_int_eq(p2p_host_remove_addr(a, &ma, memnet_now(m)),
                   P2P_ERR_NOTFOUND);
  memnet_run(m, 2 * SEC);
  ck_assert_uint_eq(count_addrs(p2p_host_peer_info(b, p2p_host_peer_id(a))), 1);
  p2p_multiaddr_free(&ma);
  memnet_del(m);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("host_ext");
  TCase *tc = tcase_create("ext");
  tcase_add_test(tc, test_service_sees_events_and_runs_its_timer);
  tcase_add_test(tc, test_dial_failure_reaches_services);
  tcase_add_test(tc, test_added_address_is_pushed_to_peers);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
