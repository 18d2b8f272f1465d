/*
 * test_relay.c - circuit relay v2 (core/src/relay.c) on hosts wired in
 * memory (tests/support/memnet.h): host 0 is the relay R, host 1 the
 * listener A (reserves on R), host 2 the dialer B, host 3 a peer C.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "memnet.h"
#include "p2p/host.h"
#include "p2p/relay.h"
#include "p2p/relay_msg.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define LATENCY_NS (5 * MS)
#define ECHO_PROTO "/test/echo/1.0.0"
#define RAW_PROTO_MAX 64
#define SECRET "relay-must-never-see-this-plaintext-0123456789"
#define TAP_MAX (2u << 20)

enum { R = 0, A = 1, B = 2, C = 3 };

typedef struct world {
  memnet *m;
  p2p_relay_server *srv;
  p2p_relay_client *cl[4];
  /* Events. */
  p2p_conn *b_conn; /* B's relayed connection to A */
  p2p_conn *a_conn; /* A's relayed connection from B */
  int b_connected, a_connected, b_closed, a_closed;
  p2p_peerid b_conn_peer, a_conn_peer;
  int b_pings, b_ping_failed;
  int b_dial_failed;
  char b_dial_fail_reason[64];
  /* Reservations (A's client). */
  int rsv_ok, rsv_fail, rsv_last_status;
  /* Logs of the relay clients. */
  char log[16384];
  size_t log_len;
  /* Bytes the relay forwarded. */
  uint8_t *tap;
  size_t tap_len;
  /* B's echo client. */
  size_t to_send, sent;
  uint8_t *payload;
  uint8_t got[1 << 20];
  size_t got_len;
  int echo_closed, echo_err;
  /* A raw hop stream from B to R. */
  p2p_stream *raw;
  const uint8_t *raw_req;
  size_t raw_req_len;
  p2p_relay_reader raw_rd;
  int raw_status, raw_fin, raw_closed;
  int stop_refuse; /* C's stop handler answers CONNECTION_FAILED once */
} world;

static void on_event(void *ctx, size_t i, const p2p_host_event *ev) {
  world *w = ctx;
  if (ev->type == P2P_HOST_EV_CONNECTED && p2p_host_conn_limited(ev->conn)) {
    if (i == B) {
      w->b_conn = ev->conn;
      w->b_connected++;
      w->b_conn_peer = *ev->peer;
    } else if (i == A) {
      w->a_conn = ev->conn;
      w->a_connected++;
      w->a_conn_peer = *ev->peer;
    }
  } else if (ev->type == P2P_HOST_EV_CONN_CLOSED) {
    if (i == B && ev->conn && ev->conn == w->b_conn) {
      w->b_conn = NULL;
      w->b_closed++;
    } else if (i == A && ev->conn && ev->conn == w->a_conn) {
      w->a_conn = NULL;
      w->a_closed++;
    } else if (i == B && ev->conn == NULL) {
      w->b_dial_failed++;
      snprintf(w->b_dial_fail_reason, sizeof w->b_dial_fail_reason, "%s",
               ev->reason ? ev->reason : "");
    }
  } else if (ev->type == P2P_HOST_EV_PING && i == B) {
    w->b_pings++;
  } else if (ev->type == P2P_HOST_EV_PING_FAILED && i == B) {
    w->b_ping_failed++;
  }
}

static void cl_log(void *ctx, const char *msg) {
  world *w = ctx;
  int n =
      snprintf(w->log + w->log_len, sizeof w->log - w->log_len, "%s\n", msg);
  if (n > 0 && w->log_len + (size_t)n < sizeof w->log)
    w->log_len += (size_t)n;
}

static void on_rsv(void *ctx, const p2p_peerid *relay, int status,
                   uint64_t expire, uint64_t now) {
  (void)relay;
  (void)expire;
  (void)now;
  world *w = ctx;
  if (status == P2P_RELAY_STATUS_OK)
    w->rsv_ok++;
  else
    w->rsv_fail++;
  w->rsv_last_status = status;
}

static void tap(void *ctx, const uint8_t *buf, size_t len) {
  world *w = ctx;
  if (w->tap_len + len > TAP_MAX)
    len = TAP_MAX - w->tap_len;
  memcpy(w->tap + w->tap_len, buf, len);
  w->tap_len += len;
}

/* A's echo service. */
static void echo_srv_data(void *user, p2p_stream *s, const uint8_t *buf,
                          size_t len, uint64_t now) {
  (void)user;
  ck_assert_int_eq(p2p_host_stream_write(s, buf, len, now), (ssize_t)len);
}

static void echo_srv_fin(void *user, p2p_stream *s, uint64_t now) {
  (void)user;
  ck_assert_int_eq(p2p_host_stream_close(s, now), 0);
}

static const p2p_stream_handler echo_srv = {.on_data = echo_srv_data,
                                            .on_fin = echo_srv_fin};

/* B's echo client: writes w->payload, collects the echo. */
static void echo_cl_open(void *user, p2p_stream *s, const char *proto,
                         uint64_t now) {
  (void)proto;
  world *w = user;
  while (w->sent < w->to_send) {
    ssize_t n = p2p_host_stream_write(s, w->payload + w->sent,
                                      w->to_send - w->sent, now);
    if (n <= 0)
      break;
    w->sent += (size_t)n;
  }
}

static void echo_cl_data(void *user, p2p_stream *s, const uint8_t *buf,
                         size_t len, uint64_t now) {
  (void)s;
  (void)now;
  world *w = user;
  if (w->got_len + len <= sizeof w->got) {
    memcpy(w->got + w->got_len, buf, len);
    w->got_len += len;
  }
}

static void echo_cl_close(void *user, p2p_stream *s, int err, uint64_t now) {
  (void)s;
  (void)now;
  world *w = user;
  w->echo_closed = 1;
  w->echo_err = err;
}

static const p2p_stream_handler echo_cl = {.on_open = echo_cl_open,
                                           .on_data = echo_cl_data,
                                           .on_close = echo_cl_close};

static world *world_new(const p2p_relay_server_config *scfg, size_t nhosts) {
  world *w = calloc(1, sizeof *w);
  ck_assert_ptr_nonnull(w);
  w->tap = malloc(TAP_MAX);
  ck_assert_ptr_nonnull(w->tap);
  w->m = memnet_new(LATENCY_NS);
  ck_assert_ptr_nonnull(w->m);
  memnet_on_event(w->m, on_event, w);
  for (size_t i = 0; i < nhosts; i++)
    ck_assert_ptr_nonnull(memnet_add(w->m, 100 + i));
  p2p_relay_server_config sc = scfg ? *scfg : (p2p_relay_server_config){0};
  sc.tap = tap;
  sc.ctx = w;
  ck_assert_int_eq(p2p_relay_server_new(memnet_host(w->m, R), &sc, &w->srv), 0);
  for (size_t i = 1; i < nhosts; i++) {
    p2p_relay_client_config cc = {.accept_stop = i != C,
                                  .log = cl_log,
                                  .ctx = w,
                                  .on_reservation = i == A ? on_rsv : NULL};
    ck_assert_int_eq(p2p_relay_client_new(memnet_host(w->m, i), &cc, &w->cl[i]),
                     0);
  }
  ck_assert_int_eq(
      p2p_host_handle(memnet_host(w->m, A), ECHO_PROTO, &echo_srv, w), 0);
  p2p_relay_reader_init(&w->raw_rd);
  return w;
}

static void world_free(world *w) {
  for (size_t i = 0; i < 4; i++)
    p2p_relay_client_del(w->cl[i]);
  p2p_relay_server_del(w->srv);
  memnet_del(w->m);
  free(w->payload);
  free(w->tap);
  free(w);
}

static void run_for(world *w, uint64_t ns) {
  memnet_run(w->m, memnet_now(w->m) + ns);
}

/* The circuit address of host `peer` through R (R's memnet address). */
static void circuit_to(world *w, size_t peer, p2p_multiaddr *out) {
  char ra[256], id[P2P_PEERID_STR_MAX], s[512];
  ck_assert_int_gt(p2p_multiaddr_to_string(memnet_addr(w->m, R), ra, sizeof ra),
                   0);
  ck_assert_int_gt(
      p2p_peerid_to_string(p2p_host_peer_id(memnet_host(w->m, peer)), id,
                           sizeof id),
      0);
  snprintf(s, sizeof s, "%s/p2p-circuit/p2p/%s", ra, id);
  ck_assert_int_eq(p2p_multiaddr_parse(s, out), 0);
}

/* 1 when host i advertises a /p2p-circuit address through R. */
static int advertises_circuit(world *w, size_t i) {
  char want[256], s[512];
  ck_assert_int_gt(
      p2p_multiaddr_to_string(memnet_addr(w->m, R), want, sizeof want), 0);
  strcat(want, "/p2p-circuit");
  size_t n = 0;
  const p2p_multiaddr *as = p2p_host_addrs(memnet_host(w->m, i), &n);
  for (size_t k = 0; k < n; k++)
    if (p2p_multiaddr_to_string(&as[k], s, sizeof s) > 0 &&
        strcmp(s, want) == 0)
      return 1;
  return 0;
}

static void listen_on_relay(world *w, size_t i) {
  ck_assert_int_eq(
      p2p_relay_client_listen(w->cl[i], memnet_addr(w->m, R), memnet_now(w->m)),
      0);
}

/* A reserves on R, B dials A through R. */
static void connect_b_to_a(world *w) {
  listen_on_relay(w, A);
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[A]), 1);
  p2p_multiaddr ca;
  circuit_to(w, A, &ca);
  ck_assert_int_eq(p2p_host_dial(memnet_host(w->m, B), &ca, memnet_now(w->m)),
                   0);
  p2p_multiaddr_free(&ca);
  run_for(w, 1 * SEC);
  ck_assert_int_eq(w->b_connected, 1);
  ck_assert_ptr_nonnull(w->b_conn);
}

static void echo(world *w, const uint8_t *data, size_t len) {
  free(w->payload);
  w->payload = malloc(len);
  ck_assert_ptr_nonnull(w->payload);
  memcpy(w->payload, data, len);
  w->to_send = len;
  w->sent = 0;
  w->got_len = 0;
  const char *protos[] = {ECHO_PROTO};
  p2p_stream *s = NULL;
  ck_assert_int_eq(p2p_host_stream_open(memnet_host(w->m, B), w->b_conn, protos,
                                        1, &echo_cl, w, memnet_now(w->m), &s),
                   0);
}

static int tap_contains(const world *w, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= w->tap_len; i++)
    if (memcmp(w->tap + i, needle, n) == 0)
      return 1;
  return 0;
}

START_TEST(test_relay_reservation_advertises_circuit_addr) {
  world *w = world_new(NULL, 3);
  ck_assert(!advertises_circuit(w, A));
  listen_on_relay(w, A);
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[A]), 1);
  ck_assert_int_eq(w->rsv_ok, 1);
  ck_assert(advertises_circuit(w, A));
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.reservations, 1);
  ck_assert_uint_eq(st.reservations_accepted, 1);
  /* R learnt the circuit address through identify push. */
  const p2p_identify_msg *info = p2p_host_peer_info(
      memnet_host(w->m, R), p2p_host_peer_id(memnet_host(w->m, A)));
  ck_assert_ptr_nonnull(info);
  p2p_multiaddr ca;
  circuit_to(w, A, &ca);
  p2p_multiaddr_free(&ca);
  /* Listening twice on one relay is refused. */
  ck_assert_int_eq(
      p2p_relay_client_listen(w->cl[A], memnet_addr(w->m, R), memnet_now(w->m)),
      P2P_ERR_EXISTS);
  world_free(w);
}
END_TEST

START_TEST(test_relay_dial_through_relay_connects_pings_and_echoes) {
  world *w = world_new(NULL, 3);
  connect_b_to_a(w);
  ck_assert(p2p_peerid_equal(&w->b_conn_peer,
                             p2p_host_peer_id(memnet_host(w->m, A))));
  ck_assert_int_eq(w->a_connected, 1);
  ck_assert(p2p_peerid_equal(&w->a_conn_peer,
                             p2p_host_peer_id(memnet_host(w->m, B))));
  ck_assert(p2p_host_conn_outbound(w->b_conn));
  ck_assert(!p2p_host_conn_outbound(w->a_conn));
  /* The remote addresses name the circuit. */
  char s[512], want[512];
  p2p_multiaddr ca;
  circuit_to(w, A, &ca);
  ck_assert_int_gt(p2p_multiaddr_to_string(&ca, want, sizeof want), 0);
  p2p_multiaddr_free(&ca);
  ck_assert_int_gt(
      p2p_multiaddr_to_string(p2p_host_conn_remote(w->b_conn), s, sizeof s), 0);
  ck_assert_str_eq(s, want);
  ck_assert_int_gt(
      p2p_multiaddr_to_string(p2p_host_conn_remote(w->a_conn), s, sizeof s), 0);
  ck_assert_ptr_nonnull(strstr(s, "/p2p-circuit/p2p/"));
  /* The limits are reported on both ends. */
  p2p_relay_limit lim;
  ck_assert_int_eq(p2p_relay_client_conn_limit(w->cl[B], w->b_conn, &lim), 0);
  ck_assert(lim.has_data && lim.data_bytes == 128 * 1024);
  ck_assert(lim.has_duration && lim.duration_s == 120);
  ck_assert_int_eq(p2p_relay_client_conn_limit(w->cl[A], w->a_conn, &lim), 0);
  ck_assert(lim.has_data && lim.data_bytes == 128 * 1024);
  /* Ping and an application stream over the circuit. */
  ck_assert_int_eq(
      p2p_host_ping(memnet_host(w->m, B), w->b_conn, memnet_now(w->m)), 0);
  run_for(w, 1 * SEC);
  ck_assert_int_eq(w->b_pings, 1);
  echo(w, (const uint8_t *)SECRET, strlen(SECRET));
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(w->got_len, strlen(SECRET));
  ck_assert(memcmp(w->got, SECRET, strlen(SECRET)) == 0);
  /* The relay forwarded only ciphertext. */
  ck_assert_uint_gt(w->tap_len, 1000);
  ck_assert(!tap_contains(w, SECRET));
  ck_assert(!tap_contains(w, ECHO_PROTO));
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.circuits_opened, 1);
  ck_assert_uint_eq(st.circuits, 1);
  ck_assert_uint_eq(st.bytes_relayed, w->tap_len);
  world_free(w);
}
END_TEST

START_TEST(test_relay_bulk_transfer_arrives_intact) {
  p2p_relay_server_config sc = {.limit_data = 8u << 20};
  world *w = world_new(&sc, 3);
  connect_b_to_a(w);
  size_t len = 768 * 1024;
  uint8_t *data = malloc(len);
  ck_assert_ptr_nonnull(data);
  for (size_t i = 0; i < len; i++)
    data[i] = (uint8_t)(i * 131 + (i >> 11));
  echo(w, data, len);
  run_for(w, 10 * SEC);
  ck_assert_uint_eq(w->sent, len);
  ck_assert_uint_eq(w->got_len, len);
  ck_assert(memcmp(w->got, data, len) == 0);
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_gt(st.bytes_relayed, 2 * len);
  ck_assert_uint_eq(st.circuits_limit_closed, 0);
  free(data);
  world_free(w);
}
END_TEST

START_TEST(test_relay_closing_relayed_conn_ends_circuit_on_both_sides) {
  world *w = world_new(NULL, 3);
  connect_b_to_a(w);
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.circuits, 1);
  p2p_host_conn_close(memnet_host(w->m, B), w->b_conn, "done",
                      memnet_now(w->m));
  run_for(w, 1 * SEC);
  ck_assert_int_eq(w->b_closed, 1);
  ck_assert_int_eq(w->a_closed, 1);
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.circuits, 0);
  ck_assert_uint_eq(st.circuits_limit_closed, 0);
  /* A keeps its reservation and can be dialled again. */
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[A]), 1);
  p2p_multiaddr ca;
  circuit_to(w, A, &ca);
  ck_assert_int_eq(p2p_host_dial(memnet_host(w->m, B), &ca, memnet_now(w->m)),
                   0);
  p2p_multiaddr_free(&ca);
  run_for(w, 1 * SEC);
  ck_assert_int_eq(w->b_connected, 2);
  ck_assert_ptr_nonnull(w->b_conn);
  world_free(w);
}
END_TEST

START_TEST(test_relay_data_limit_resets_circuit) {
  p2p_relay_server_config sc = {.limit_data = 32 * 1024};
  world *w = world_new(&sc, 3);
  connect_b_to_a(w);
  static uint8_t big[64 * 1024];
  memset(big, 'x', sizeof big);
  echo(w, big, sizeof big);
  run_for(w, 2 * SEC);
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.circuits_limit_closed, 1);
  ck_assert_uint_eq(st.circuits, 0);
  ck_assert_uint_lt(w->got_len, sizeof big);
  ck_assert_int_eq(w->b_closed, 1);
  ck_assert_int_eq(w->a_closed, 1);
  ck_assert_ptr_null(w->b_conn);
  world_free(w);
}
END_TEST

START_TEST(test_relay_duration_limit_resets_circuit) {
  p2p_relay_server_config sc = {.limit_duration_ns = 3 * SEC};
  world *w = world_new(&sc, 3);
  connect_b_to_a(w);
  p2p_relay_limit lim;
  ck_assert_int_eq(p2p_relay_client_conn_limit(w->cl[B], w->b_conn, &lim), 0);
  ck_assert_uint_eq(lim.duration_s, 3);
  run_for(w, 1 * SEC);
  ck_assert_int_eq(w->b_closed, 0);
  run_for(w, 2 * SEC);
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.circuits_limit_closed, 1);
  ck_assert_int_eq(w->b_closed, 1);
  ck_assert_int_eq(w->a_closed, 1);
  world_free(w);
}
END_TEST

START_TEST(test_relay_connect_without_reservation_is_refused) {
  world *w = world_new(NULL, 4);
  p2p_multiaddr cc;
  circuit_to(w, C, &cc);
  ck_assert_int_eq(p2p_host_dial(memnet_host(w->m, B), &cc, memnet_now(w->m)),
                   0);
  p2p_multiaddr_free(&cc);
  run_for(w, 1 * SEC);
  ck_assert_int_eq(w->b_connected, 0);
  ck_assert_int_eq(w->b_dial_failed, 1);
  ck_assert_str_eq(w->b_dial_fail_reason, "NO_RESERVATION");
  ck_assert_ptr_nonnull(strstr(w->log, "NO_RESERVATION"));
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.circuits_refused, 1);
  ck_assert_uint_eq(st.circuits_opened, 0);
  world_free(w);
}
END_TEST

START_TEST(test_relay_reservation_total_limit_refuses) {
  p2p_relay_server_config sc = {.max_reservations = 1};
  world *w = world_new(&sc, 4);
  listen_on_relay(w, A);
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[A]), 1);
  listen_on_relay(w, C);
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[C]), 0);
  ck_assert(!advertises_circuit(w, C));
  ck_assert_ptr_nonnull(strstr(w->log, "RESOURCE_LIMIT_EXCEEDED"));
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.reservations, 1);
  ck_assert_uint_eq(st.reservations_refused, 1);
  world_free(w);
}
END_TEST

START_TEST(test_relay_circuit_limit_refuses) {
  p2p_relay_server_config sc = {.max_circuits = 1};
  world *w = world_new(&sc, 4);
  connect_b_to_a(w);
  /* C's circuit to A is one too many. */
  p2p_multiaddr ca;
  circuit_to(w, A, &ca);
  ck_assert_int_eq(p2p_host_dial(memnet_host(w->m, C), &ca, memnet_now(w->m)),
                   0);
  p2p_multiaddr_free(&ca);
  run_for(w, 1 * SEC);
  ck_assert_ptr_nonnull(strstr(w->log, "RESOURCE_LIMIT_EXCEEDED"));
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.circuits_refused, 1);
  ck_assert_uint_eq(st.circuits, 1);
  world_free(w);
}
END_TEST

START_TEST(test_relay_refresh_keeps_reservation_past_expiry) {
  p2p_relay_server_config sc = {.reservation_ttl_ns = 20 * SEC};
  world *w = world_new(&sc, 3);
  listen_on_relay(w, A);
  run_for(w, 60 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[A]), 1);
  ck_assert(advertises_circuit(w, A));
  ck_assert_int_ge(w->rsv_ok, 3);
  ck_assert_int_eq(w->rsv_fail, 0);
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.reservations, 1);
  ck_assert_uint_ge(st.reservations_accepted, 3);
  world_free(w);
}
END_TEST

START_TEST(test_relay_connection_loss_withdraws_and_rereserves) {
  world *w = world_new(NULL, 3);
  listen_on_relay(w, A);
  run_for(w, 1 * SEC);
  ck_assert(advertises_circuit(w, A));
  memnet_set_down(w->m, R, 1);
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[A]), 0);
  ck_assert(!advertises_circuit(w, A));
  ck_assert_int_ge(w->rsv_fail, 1);
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.reservations, 0);
  memnet_set_down(w->m, R, 0);
  /* The first retry is 5 s after the loss. */
  run_for(w, 2 * SEC);
  ck_assert(!advertises_circuit(w, A));
  run_for(w, 5 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[A]), 1);
  ck_assert(advertises_circuit(w, A));
  ck_assert_int_eq(w->rsv_ok, 2);
  world_free(w);
}
END_TEST

/* B's raw hop stream to R. */
static void raw_open(void *user, p2p_stream *s, const char *proto,
                     uint64_t now) {
  (void)proto;
  world *w = user;
  ck_assert_int_eq(p2p_host_stream_write(s, w->raw_req, w->raw_req_len, now),
                   (ssize_t)w->raw_req_len);
}

static void raw_data(void *user, p2p_stream *s, const uint8_t *buf, size_t len,
                     uint64_t now) {
  (void)s;
  (void)now;
  world *w = user;
  ssize_t used = p2p_relay_reader_recv(&w->raw_rd, buf, len);
  ck_assert_int_ge(used, 0);
  if (p2p_relay_reader_done(&w->raw_rd)) {
    p2p_relay_hop_msg m;
    ck_assert_int_eq(p2p_relay_reader_take_hop(&w->raw_rd, &m), 0);
    ck_assert_int_eq(m.type, P2P_RELAY_HOP_STATUS);
    w->raw_status = (int)m.status;
    p2p_relay_hop_msg_free(&m);
  }
}

static void raw_fin(void *user, p2p_stream *s, uint64_t now) {
  world *w = user;
  w->raw_fin = 1;
  ck_assert_int_eq(p2p_host_stream_close(s, now), 0);
}

static void raw_close(void *user, p2p_stream *s, int err, uint64_t now) {
  (void)s;
  (void)err;
  (void)now;
  world *w = user;
  w->raw_closed = 1;
}

static const p2p_stream_handler raw_handler = {.on_open = raw_open,
                                               .on_data = raw_data,
                                               .on_fin = raw_fin,
                                               .on_close = raw_close};

/* Sends req on a new hop stream of host i's connection c (NULL: its
 * direct connection to R) and runs a second. */
static void raw_hop_on(world *w, size_t i, p2p_conn *c, const uint8_t *req,
                       size_t len) {
  w->raw_req = req;
  w->raw_req_len = len;
  w->raw_status = 0;
  w->raw_fin = w->raw_closed = 0;
  p2p_relay_reader_init(&w->raw_rd);
  if (c == NULL)
    c = p2p_host_find_conn(memnet_host(w->m, i),
                           p2p_host_peer_id(memnet_host(w->m, R)));
  ck_assert_ptr_nonnull(c);
  ck_assert(!p2p_host_conn_limited(c));
  const char *protos[] = {P2P_RELAY_HOP_PROTOCOL};
  p2p_stream *s = NULL;
  ck_assert_int_eq(p2p_host_stream_open(memnet_host(w->m, i), c, protos, 1,
                                        &raw_handler, w, memnet_now(w->m), &s),
                   0);
  run_for(w, 1 * SEC);
}

static void raw_hop(world *w, const uint8_t *req, size_t len) {
  raw_hop_on(w, B, NULL, req, len);
}

typedef struct conn_list {
  p2p_conn *c[4];
  size_t n;
} conn_list;

static void collect_conn(void *ctx, p2p_conn *c) {
  conn_list *l = ctx;
  if (l->n < 4)
    l->c[l->n++] = c;
}

START_TEST(test_relay_reservation_per_ip_limit_refuses) {
  /* Two connections from A (one IP): the per-peer limit allows two
   * reservations, the per-IP limit one. */
  p2p_relay_server_config sc = {.max_reservations_per_peer = 2,
                                .max_reservations_per_ip = 1};
  world *w = world_new(&sc, 3);
  ck_assert_int_eq(memnet_dial(w->m, A, R), 0);
  ck_assert_int_eq(memnet_dial(w->m, A, R), 0);
  run_for(w, 1 * SEC);
  conn_list l = {0};
  p2p_host_foreach_conn(memnet_host(w->m, A), collect_conn, &l);
  ck_assert_uint_eq(l.n, 2);
  uint8_t msg[16];
  p2p_relay_hop_msg rq = {.type = P2P_RELAY_HOP_RESERVE};
  ssize_t n = p2p_relay_hop_encode(&rq, msg, sizeof msg);
  ck_assert_int_gt(n, 0);
  raw_hop_on(w, A, l.c[0], msg, (size_t)n);
  ck_assert_int_eq(w->raw_status, P2P_RELAY_STATUS_OK);
  /* A renewal on the same connection is not a second reservation. */
  raw_hop_on(w, A, l.c[0], msg, (size_t)n);
  ck_assert_int_eq(w->raw_status, P2P_RELAY_STATUS_OK);
  raw_hop_on(w, A, l.c[1], msg, (size_t)n);
  ck_assert_int_eq(w->raw_status, P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED);
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.reservations, 1);
  ck_assert_uint_eq(st.reservations_accepted, 2);
  ck_assert_uint_eq(st.reservations_refused, 1);
  world_free(w);
}
END_TEST

/* C's own stop handler: silent, or answering a refusal. */

static void stop_data(void *user, p2p_stream *s, const uint8_t *buf, size_t len,
                      uint64_t now) {
  world *w = user;
  (void)buf;
  (void)len;
  if (!w->stop_refuse)
    return;
  uint8_t msg[16];
  p2p_relay_stop_msg m = {.type = P2P_RELAY_STOP_STATUS,
                          .has_status = 1,
                          .status = P2P_RELAY_STATUS_CONNECTION_FAILED};
  ssize_t n = p2p_relay_stop_encode(&m, msg, sizeof msg);
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_host_stream_write(s, msg, (size_t)n, now), n);
  w->stop_refuse = 0;
}

static const p2p_stream_handler stop_handler = {.on_data = stop_data};

static void circuit_to_unanswering_target(int refuse, uint64_t wait_ns,
                                          uint64_t not_before_ns) {
  world *w = world_new(NULL, 4);
  w->stop_refuse = refuse;
  ck_assert_int_eq(p2p_host_handle(memnet_host(w->m, C),
                                   P2P_RELAY_STOP_PROTOCOL, &stop_handler, w),
                   0);
  listen_on_relay(w, C);
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[C]), 1);
  p2p_multiaddr cc;
  circuit_to(w, C, &cc);
  ck_assert_int_eq(p2p_host_dial(memnet_host(w->m, B), &cc, memnet_now(w->m)),
                   0);
  p2p_multiaddr_free(&cc);
  if (not_before_ns) {
    run_for(w, not_before_ns);
    ck_assert_int_eq(w->b_dial_failed, 0);
  }
  run_for(w, wait_ns);
  ck_assert_int_eq(w->b_dial_failed, 1);
  ck_assert_str_eq(w->b_dial_fail_reason, "CONNECTION_FAILED");
  ck_assert_int_eq(w->b_connected, 0);
  p2p_relay_server_stats st;
  p2p_relay_server_get_stats(w->srv, &st);
  ck_assert_uint_eq(st.circuits_refused, 1);
  ck_assert_uint_eq(st.circuits, 0);
  world_free(w);
}

START_TEST(test_relay_target_refusal_is_connection_failed) {
  circuit_to_unanswering_target(1, 1 * SEC, 0);
}
END_TEST

START_TEST(test_relay_silent_target_times_out_as_connection_failed) {
  circuit_to_unanswering_target(0, 10 * SEC, 25 * SEC);
}
END_TEST

START_TEST(test_relay_malformed_hop_message_fails_only_that_stream) {
  world *w = world_new(NULL, 3);
  connect_b_to_a(w);
  /* A length-prefixed body that is not a HopMessage. */
  static const uint8_t junk[] = {0x03, 0xff, 0xff, 0xff};
  raw_hop(w, junk, sizeof junk);
  ck_assert_int_eq(w->raw_status, P2P_RELAY_STATUS_MALFORMED_MESSAGE);
  ck_assert_int_eq(w->raw_fin, 1);
  ck_assert_int_eq(w->raw_closed, 1);
  /* A STATUS sent to the hop service is unexpected. */
  uint8_t msg[64];
  p2p_relay_hop_msg st = {.type = P2P_RELAY_HOP_STATUS,
                          .has_status = 1,
                          .status = P2P_RELAY_STATUS_OK};
  ssize_t n = p2p_relay_hop_encode(&st, msg, sizeof msg);
  ck_assert_int_gt(n, 0);
  raw_hop(w, msg, (size_t)n);
  ck_assert_int_eq(w->raw_status, P2P_RELAY_STATUS_UNEXPECTED_MESSAGE);
  ck_assert_int_eq(w->raw_closed, 1);
  /* The circuit carries on. */
  ck_assert_ptr_nonnull(w->b_conn);
  ck_assert_int_eq(
      p2p_host_ping(memnet_host(w->m, B), w->b_conn, memnet_now(w->m)), 0);
  run_for(w, 1 * SEC);
  ck_assert_int_eq(w->b_pings, 1);
  echo(w, (const uint8_t *)"still", 5);
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(w->got_len, 5);
  world_free(w);
}
END_TEST

START_TEST(test_relay_reservation_over_relayed_conn_is_denied) {
  /* B reserves on A through its relayed connection to A: A (a relay too)
   * must refuse with PERMISSION_DENIED. */
  world *w = world_new(NULL, 3);
  p2p_relay_server *srv_a = NULL;
  ck_assert_int_eq(p2p_relay_server_new(memnet_host(w->m, A), NULL, &srv_a), 0);
  connect_b_to_a(w);
  char s[512], id[P2P_PEERID_STR_MAX];
  ck_assert_int_gt(p2p_peerid_to_string(p2p_host_peer_id(memnet_host(w->m, A)),
                                        id, sizeof id),
                   0);
  snprintf(s, sizeof s, "/p2p/%s", id);
  p2p_multiaddr a_only;
  ck_assert_int_eq(p2p_multiaddr_parse(s, &a_only), 0);
  /* The client wants a direct connection: with only /p2p/A it cannot dial,
   * so the reservation fails without touching the relayed one. */
  ck_assert_int_eq(p2p_relay_client_listen(w->cl[B], &a_only, memnet_now(w->m)),
                   0);
  p2p_multiaddr_free(&a_only);
  run_for(w, 1 * SEC);
  ck_assert_uint_eq(p2p_relay_client_reservations(w->cl[B]), 0);
  /* A raw RESERVE over the relayed connection is denied. */
  uint8_t msg[16];
  p2p_relay_hop_msg rq = {.type = P2P_RELAY_HOP_RESERVE};
  ssize_t n = p2p_relay_hop_encode(&rq, msg, sizeof msg);
  ck_assert_int_gt(n, 0);
  w->raw_req = msg;
  w->raw_req_len = (size_t)n;
  p2p_relay_reader_init(&w->raw_rd);
  const char *protos[] = {P2P_RELAY_HOP_PROTOCOL};
  p2p_stream *st = NULL;
  ck_assert_int_eq(p2p_host_stream_open(memnet_host(w->m, B), w->b_conn, protos,
                                        1, &raw_handler, w, memnet_now(w->m),
                                        &st),
                   0);
  run_for(w, 1 * SEC);
  ck_assert_int_eq(w->raw_status, P2P_RELAY_STATUS_PERMISSION_DENIED);
  p2p_relay_server_stats ss;
  p2p_relay_server_get_stats(srv_a, &ss);
  ck_assert_uint_eq(ss.reservations_refused, 1);
  ck_assert_uint_eq(ss.reservations, 0);
  p2p_relay_server_del(srv_a);
  world_free(w);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("relay");
  TCase *ok = tcase_create("circuits");
  TCase *lim = tcase_create("limits");
  TCase *bad = tcase_create("failures");
  tcase_add_test(ok, test_relay_reservation_advertises_circuit_addr);
  tcase_add_test(ok, test_relay_dial_through_relay_connects_pings_and_echoes);
  tcase_add_test(ok, test_relay_bulk_transfer_arrives_intact);
  tcase_add_test(ok,
                 test_relay_closing_relayed_conn_ends_circuit_on_both_sides);
  tcase_add_test(ok, test_relay_refresh_keeps_reservation_past_expiry);
  tcase_add_test(ok, test_relay_connection_loss_withdraws_and_rereserves);
  tcase_add_test(lim, test_relay_data_limit_resets_circuit);
  tcase_add_test(lim, test_relay_duration_limit_resets_circuit);
  tcase_add_test(lim, test_relay_reservation_total_limit_refuses);
  tcase_add_test(lim, test_relay_circuit_limit_refuses);
  tcase_add_test(lim, test_relay_reservation_per_ip_limit_refuses);
  tcase_add_test(bad, test_relay_target_refusal_is_connection_failed);
  tcase_add_test(bad, test_relay_silent_target_times_out_as_connection_failed);
  tcase_add_test(bad, test_relay_connect_without_reservation_is_refused);
  tcase_add_test(bad, test_relay_malformed_hop_message_fails_only_that_stream);
  tcase_add_test(bad, test_relay_reservation_over_relayed_conn_is_denied);
  suite_add_tcase(s, ok);
  suite_add_tcase(s, lim);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
