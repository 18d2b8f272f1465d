/*
 * test_host.c - the libp2p host (core/src/host.c): hosts wired through an
 * in-memory transport in virtual time. conn_write appends to the other
 * end's inbox; pump() delivers inboxes until everything is quiet (whole
 * buffers, or one byte at a time).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "p2p/crypto.h"
#include "p2p/host.h"
#include "p2p/identify.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"

#define ECHO_PROTO "/test/echo/1.0.0"
#define MS 1000000ull
#define MAX_NODES 3
#define MAX_ENDS 8

typedef struct node node;

typedef struct end {
  node *n;
  p2p_conn *c;
  struct end *peer;
  uint8_t *inbox;
  size_t len, cap;
  int closed;    /* conn_close was called for c */
  int eof_given; /* the peer's close was delivered as EOF */
  int mute;      /* inbound bytes are dropped */
} end;

struct node {
  p2p_host *h;
  p2p_privkey key;
  uint64_t rng;
  p2p_rand rnd;
  int gate_refuse;
  int ping_on_connect; /* on_event calls p2p_host_ping */
  int free_on_close;   /* conn_close calls p2p_host_conn_free */
  /* What the events told. */
  int n_connected, n_identify, n_ping, n_ping_failed, n_closed;
  p2p_peerid connected_peer;
  char id_agent[64];
  int id_has_echo;
  size_t id_n_addrs;
  char id_addr0[128];
  char id_observed[128];
  int id_record_ok;
  uint64_t rtt;
  char ping_fail_reason[128];
  char close_reason[128];
  int close_err;
  char log[256];
  /* Echo stream bookkeeping. */
  char echo_got[64];
  size_t echo_len;
  int echo_open, echo_fin, echo_close, server_close;
};

typedef struct world {
  node nodes[MAX_NODES];
  end ends[MAX_ENDS];
  size_t n_ends;
} world;

static void xs_fill(void *ctx, uint8_t *buf, size_t len) {
  uint64_t *s = ctx;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (uint8_t)*s;
  }
}

static int t_write(void *ctx, p2p_conn *c, const uint8_t *buf, size_t len) {
  (void)ctx;
  end *e = p2p_host_conn_user(c);
  ck_assert(!e->closed); /* never after conn_close */
  end *p = e->peer;
  if (p->mute)
    return 0;
  if (p->len + len > p->cap) {
    p->cap = (p->len + len) * 2;
    p->inbox = realloc(p->inbox, p->cap);
    ck_assert_ptr_nonnull(p->inbox);
  }
  memcpy(p->inbox + p->len, buf, len);
  p->len += len;
  return 0;
}

static void t_close(void *ctx, p2p_conn *c, int err) {
  (void)ctx;
  (void)err;
  end *e = p2p_host_conn_user(c);
  ck_assert(!e->closed);
  e->closed = 1;
  if (e->n->free_on_close) {
    p2p_host_conn_free(e->n->h, c); /* deferred by the host */
    e->c = NULL;
  }
}

static void copy_str(char *dst, size_t cap, const char *src) {
  snprintf(dst, cap, "%s", src ? src : "");
}

static void t_event(void *ctx, const p2p_host_event *ev) {
  node *n = ctx;
  switch (ev->type) {
  case P2P_HOST_EV_CONNECTED:
    n->n_connected++;
    ck_assert_ptr_nonnull(ev->peer);
    n->connected_peer = *ev->peer;
    if (n->ping_on_connect)
      ck_assert_int_eq(p2p_host_ping(n->h, ev->conn, 0), 0);
    break;
  case P2P_HOST_EV_IDENTIFY: {
    const p2p_identify_msg *m = ev->identify;
    n->n_identify++;
    copy_str(n->id_agent, sizeof n->id_agent, m->agent_version);
    n->id_has_echo = 0;
    for (size_t i = 0; i < m->n_protocols; i++)
      n->id_has_echo |= strcmp(m->protocols[i], ECHO_PROTO) == 0;
    n->id_n_addrs = m->n_listen_addrs;
    if (m->n_listen_addrs)
      ck_assert_int_gt(p2p_multiaddr_to_string(&m->listen_addrs[0], n->id_addr0,
                                               sizeof n->id_addr0),
                       0);
    if (m->has_observed_addr)
      ck_assert_int_gt(p2p_multiaddr_to_string(&m->observed_addr,
                                               n->id_observed,
                                               sizeof n->id_observed),
                       0);
    n->id_record_ok = m->has_peer_record &&
                      p2p_peerid_equal(&m->peer_record.peer_id, ev->peer) &&
                      m->peer_record.seq >= 1 &&
                      m->peer_record.naddrs == m->n_listen_addrs;
    break;
  }
  case P2P_HOST_EV_PING:
    n->n_ping++;
    n->rtt = ev->rtt_ns;
    break;
  case P2P_HOST_EV_PING_FAILED:
    n->n_ping_failed++;
    copy_str(n->ping_fail_reason, sizeof n->ping_fail_reason, ev->reason);
    break;
  case P2P_HOST_EV_CONN_CLOSED:
    n->n_closed++;
    n->close_err = ev->err;
    copy_str(n->close_reason, sizeof n->close_reason, ev->reason);
    break;
  }
}

static int t_gate(void *ctx, const p2p_peerid *peer,
                  const p2p_multiaddr *remote) {
  node *n = ctx;
  (void)peer;
  (void)remote;
  return n->gate_refuse;
}

static void t_log(void *ctx, const char *msg) {
  node *n = ctx;
  copy_str(n->log, sizeof n->log, msg);
}

/* The echo service: sends back what it gets, half-closes after the peer. */
static void echo_data(void *user, p2p_stream *s, const uint8_t *buf, size_t len,
                      uint64_t now) {
  (void)user;
  ck_assert_int_eq(p2p_host_stream_write(s, buf, len, now), (ssize_t)len);
}

static void echo_fin(void *user, p2p_stream *s, uint64_t now) {
  (void)user;
  ck_assert_int_eq(p2p_host_stream_close(s, now), 0);
}

static void echo_close(void *user, p2p_stream *s, int err, uint64_t now) {
  node *n = user;
  (void)s;
  (void)now;
  ck_assert_int_eq(err, 0);
  n->server_close++;
}

static const p2p_stream_handler echo_server = {
    .on_data = echo_data, .on_fin = echo_fin, .on_close = echo_close};

/* The echo client: writes "hello" and half-closes on open. */
static void cl_open(void *user, p2p_stream *s, const char *proto,
                    uint64_t now) {
  node *n = user;
  ck_assert_str_eq(proto, ECHO_PROTO);
  n->echo_open++;
  ck_assert_int_eq(p2p_host_stream_write(s, (const uint8_t *)"hello", 5, now),
                   5);
  ck_assert_int_eq(p2p_host_stream_close(s, now), 0);
}

static void cl_data(void *user, p2p_stream *s, const uint8_t *buf, size_t len,
                    uint64_t now) {
  node *n = user;
  (void)s;
  (void)now;
  ck_assert_uint_le(n->echo_len + len, sizeof n->echo_got - 1);
  memcpy(n->echo_got + n->echo_len, buf, len);
  n->echo_len += len;
}

static void cl_fin(void *user, p2p_stream *s, uint64_t now) {
  node *n = user;
  (void)s;
  (void)now;
  n->echo_fin++;
}

static void cl_close(void *user, p2p_stream *s, int err, uint64_t now) {
  node *n = user;
  (void)s;
  (void)now;
  ck_assert_int_eq(err, 0);
  n->echo_close++;
}

static const p2p_stream_handler echo_client = {.on_open = cl_open,
                                               .on_data = cl_data,
                                               .on_fin = cl_fin,
                                               .on_close = cl_close};

static void node_init(node *n, int idx, const char *listen) {
  memset(n, 0, sizeof *n);
  n->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(idx + 1);
  n->rnd = (p2p_rand){.fill = xs_fill, .ctx = &n->rng};
  ck_assert_int_eq(p2p_key_generate(&n->rnd, &n->key), 0);
  p2p_multiaddr la;
  ck_assert_int_eq(p2p_multiaddr_parse(listen, &la), 0);
  char agent[32];
  snprintf(agent, sizeof agent, "test-node-%d", idx);
  p2p_host_config cfg = {.key = &n->key,
                         .rnd = &n->rnd,
                         .agent_version = agent,
                         .listen_addrs = &la,
                         .n_listen_addrs = 1,
                         .ctx = n,
                         .conn_write = t_write,
                         .conn_close = t_close,
                         .on_event = t_event,
                         .gate = t_gate,
                         .log = t_log};
  ck_assert_int_eq(p2p_host_new(&cfg, &n->h), 0);
  p2p_multiaddr_free(&la);
  ck_assert_int_eq(p2p_host_handle(n->h, ECHO_PROTO, &echo_server, n), 0);
}

static void world_init(world *w) {
  memset(w, 0, sizeof *w);
  node_init(&w->nodes[0], 0, "/ip4/10.0.0.1/tcp/4001");
  node_init(&w->nodes[1], 1, "/ip4/10.0.0.2/tcp/4001");
  node_init(&w->nodes[2], 2, "/ip4/10.0.0.3/tcp/4001");
}

static void world_free(world *w) {
  for (size_t i = 0; i < w->n_ends; i++) {
    p2p_host_conn_free(w->ends[i].n->h, w->ends[i].c);
    free(w->ends[i].inbox);
  }
  for (int i = 0; i < MAX_NODES; i++)
    p2p_host_del(w->nodes[i].h);
}

/* Dials from a to b (b's ID expected unless `expect` is given); returns
 * the dialer's end (its peer is the listener's). */
static end *dial(world *w, node *a, node *b, const p2p_peerid *expect,
                 uint64_t now) {
  ck_assert_uint_le(w->n_ends + 2, MAX_ENDS);
  end *ea = &w->ends[w->n_ends++], *eb = &w->ends[w->n_ends++];
  ea->n = a;
  eb->n = b;
  ea->peer = eb;
  eb->peer = ea;
  p2p_multiaddr ra, rb;
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/10.0.0.2/tcp/4001", &ra), 0);
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/10.0.0.1/tcp/50000", &rb), 0);
  ck_assert_int_eq(p2p_host_conn_new(b->h, 0, NULL, &rb, eb, now, &eb->c), 0);
  ck_assert_int_eq(p2p_host_conn_new(a->h, 1,
                                     expect ? expect : p2p_host_peer_id(b->h),
                                     &ra, ea, now, &ea->c),
                   0);
  p2p_multiaddr_free(&ra);
  p2p_multiaddr_free(&rb);
  return ea;
}

/* Delivers what waits for end e; returns 1 when something happened. */
static int deliver(end *e, uint64_t now, int bytewise) {
  if (e->closed)
    return 0;
  if (e->len == 0) {
    if (e->peer->closed && !e->eof_given) {
      e->eof_given = 1;
      p2p_host_conn_eof(e->n->h, e->c, 0, now);
      return 1;
    }
    return 0;
  }
  size_t n = bytewise ? 1 : e->len;
  uint8_t *tmp = malloc(n);
  ck_assert_ptr_nonnull(tmp);
  memcpy(tmp, e->inbox, n);
  memmove(e->inbox, e->inbox + n, e->len - n);
  e->len -= n;
  if (e->mute) {
    free(tmp);
    return 1;
  }
  p2p_host_conn_recv(e->n->h, e->c, tmp, n, now);
  free(tmp);
  return 1;
}

static void pump(world *w, uint64_t now, int bytewise) {
  for (int busy = 1, rounds = 0; busy; rounds++) {
    ck_assert_int_lt(rounds, 1000000);
    busy = 0;
    for (size_t i = 0; i < w->n_ends; i++)
      busy |= deliver(&w->ends[i], now, bytewise);
  }
}

static void check_connected(node *a, node *b) {
  ck_assert_int_eq(a->n_connected, 1);
  ck_assert_int_eq(b->n_connected, 1);
  ck_assert(p2p_peerid_equal(&a->connected_peer, p2p_host_peer_id(b->h)));
  ck_assert(p2p_peerid_equal(&b->connected_peer, p2p_host_peer_id(a->h)));
}

/* Connect, identify, ping and echo both ways between nodes 0 and 1. */
static void full_session(int bytewise) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1];
  uint64_t now = 1000 * MS;
  end *ea = dial(&w, a, b, NULL, now);
  pump(&w, now, bytewise);
  check_connected(a, b);
  ck_assert(
      p2p_peerid_equal(p2p_host_conn_peer(ea->c), p2p_host_peer_id(b->h)));

  /* Identify both ways. */
  ck_assert_int_eq(a->n_identify, 1);
  ck_assert_int_eq(b->n_identify, 1);
  ck_assert_str_eq(a->id_agent, "test-node-1");
  ck_assert_str_eq(b->id_agent, "test-node-0");
  ck_assert(a->id_has_echo && b->id_has_echo);
  ck_assert_uint_eq(a->id_n_addrs, 1);
  ck_assert_str_eq(a->id_addr0, "/ip4/10.0.0.2/tcp/4001");
  ck_assert_str_eq(b->id_addr0, "/ip4/10.0.0.1/tcp/4001");
  ck_assert_str_eq(a->id_observed, "/ip4/10.0.0.1/tcp/50000");
  ck_assert_str_eq(b->id_observed, "/ip4/10.0.0.2/tcp/4001");
  ck_assert(a->id_record_ok && b->id_record_ok);
  const p2p_identify_msg *info =
      p2p_host_peer_info(a->h, p2p_host_peer_id(b->h));
  ck_assert_ptr_nonnull(info);
  ck_assert_str_eq(info->agent_version, "test-node-1");
  ck_assert(info->has_public_key && info->has_peer_record);
  ck_assert_ptr_null(p2p_host_peer_info(a->h, p2p_host_peer_id(w.nodes[2].h)));

  /* Ping: the first one sets up the stream, the second measures a delay
   * of exactly 7 ms that we inject on the way back. */
  ck_assert_int_eq(p2p_host_ping(a->h, ea->c, now), 0);
  ck_assert_int_eq(p2p_host_ping(a->h, ea->c, now), P2P_ERR_STATE);
  pump(&w, now, bytewise);
  ck_assert_int_eq(a->n_ping, 1);
  now += 100 * MS;
  ck_assert_int_eq(p2p_host_ping(a->h, ea->c, now), 0);
  while (deliver(ea->peer, now, bytewise)) /* a -> b at now */
    ;
  pump(&w, now + 7 * MS, bytewise); /* b -> a 7 ms later */
  ck_assert_int_eq(a->n_ping, 2);
  ck_assert_uint_eq(a->rtt, 7 * MS);
  ck_assert_uint_eq(p2p_host_expiry(a->h), UINT64_MAX);
  now += 7 * MS;

  /* Echo both ways. */
  const char *protos[] = {"/nope/1.0.0", ECHO_PROTO};
  p2p_stream *s;
  ck_assert_int_eq(
      p2p_host_stream_open(a->h, ea->c, protos, 2, &echo_client, a, now, &s),
      0);
  ck_assert_int_eq(p2p_host_stream_open(b->h, ea->peer->c, protos + 1, 1,
                                        &echo_client, b, now, &s),
                   0);
  pump(&w, now, bytewise);
  for (int i = 0; i < 2; i++) {
    node *n = &w.nodes[i];
    ck_assert_int_eq(n->echo_open, 1);
    ck_assert_uint_eq(n->echo_len, 5);
    ck_assert_str_eq(n->echo_got, "hello");
    ck_assert_int_eq(n->echo_fin, 1);
    ck_assert_int_eq(n->echo_close, 1);
    ck_assert_int_eq(n->server_close, 1);
  }
  ck_assert_int_eq(a->n_closed + b->n_closed, 0);
  world_free(&w);
}

START_TEST(test_host_session_connects_identifies_pings_and_echoes) {
  full_session(0);
}
END_TEST

START_TEST(test_host_session_byte_at_a_time) {
  full_session(1);
}
END_TEST

START_TEST(test_host_wrong_expected_peer_closes_on_dialer) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1];
  end *ea = dial(&w, a, b, p2p_host_peer_id(w.nodes[2].h), 0);
  pump(&w, 0, 0);
  ck_assert_int_eq(a->n_connected, 0);
  ck_assert_int_eq(a->n_closed, 1);
  ck_assert_ptr_nonnull(strstr(a->close_reason, "does not match"));
  ck_assert_ptr_nonnull(strstr(a->log, "connection unauthenticated: "));
  ck_assert(ea->closed);
  ck_assert_int_eq(b->n_closed, 1); /* it saw the transport close */
  world_free(&w);
}
END_TEST

START_TEST(test_host_gater_refusal_closes_connection) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1];
  b->gate_refuse = 1;
  end *ea = dial(&w, a, b, NULL, 0);
  pump(&w, 0, 0);
  ck_assert_int_eq(b->n_connected, 0);
  ck_assert_int_eq(b->n_closed, 1);
  ck_assert_int_eq(b->close_err, P2P_ERR_REFUSED);
  ck_assert_ptr_nonnull(strstr(b->close_reason, "gater"));
  ck_assert(ea->peer->closed);
  ck_assert_int_eq(a->n_closed, 1);
  world_free(&w);
}
END_TEST

START_TEST(test_host_garbage_closes_only_that_connection) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1], *c = &w.nodes[2];
  end *eab = dial(&w, a, b, NULL, 0);
  end *eac = dial(&w, a, c, NULL, 0);
  pump(&w, 0, 0);
  ck_assert_int_eq(a->n_connected, 2);
  ck_assert_int_eq(a->n_identify, 2);
  /* A Noise frame that does not decrypt. */
  uint8_t junk[2 + 40];
  junk[0] = 0;
  junk[1] = 40;
  memset(junk + 2, 0x41, 40);
  p2p_host_conn_recv(a->h, eab->c, junk, sizeof junk, 10 * MS);
  ck_assert(eab->closed);
  ck_assert_int_eq(a->n_closed, 1);
  ck_assert_int_lt(a->close_err, 0);
  ck_assert_ptr_nonnull(strstr(a->log, "connection 12D3KooW"));
  pump(&w, 10 * MS, 0);
  ck_assert_int_eq(b->n_closed, 1);
  ck_assert_int_eq(c->n_closed, 0);
  ck_assert_int_eq(p2p_host_ping(a->h, eab->c, 20 * MS), P2P_ERR_STATE);
  ck_assert_int_eq(p2p_host_ping(a->h, eac->c, 20 * MS), 0);
  pump(&w, 20 * MS, 0);
  ck_assert_int_eq(a->n_ping, 1);
  ck_assert_int_eq(a->n_closed, 1);
  world_free(&w);
}
END_TEST

START_TEST(test_host_handshake_timeout_closes) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1];
  end *ea = dial(&w, a, b, NULL, 5 * MS);
  ea->peer->mute = 1; /* b never hears a */
  pump(&w, 5 * MS, 0);
  ck_assert_uint_eq(p2p_host_expiry(a->h), 5 * MS + 10000 * MS);
  p2p_host_on_expiry(a->h, 5 * MS + 9999 * MS);
  ck_assert_int_eq(a->n_closed, 0);
  p2p_host_on_expiry(a->h, 5 * MS + 10000 * MS);
  ck_assert_int_eq(a->n_closed, 1);
  ck_assert_int_eq(a->close_err, P2P_ERR_TIMEOUT);
  ck_assert_str_eq(a->close_reason, "handshake timed out");
  ck_assert(ea->closed);
  ck_assert_uint_eq(p2p_host_expiry(a->h), UINT64_MAX);
  world_free(&w);
}
END_TEST

START_TEST(test_host_ping_timeout_reports_failure) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1];
  end *ea = dial(&w, a, b, NULL, 0);
  pump(&w, 0, 0);
  check_connected(a, b);
  ea->peer->mute = 1; /* b stops hearing a */
  ck_assert_int_eq(p2p_host_ping(a->h, ea->c, 50 * MS), 0);
  pump(&w, 50 * MS, 0);
  ck_assert_uint_eq(p2p_host_expiry(a->h), 50 * MS + 10000 * MS);
  p2p_host_on_expiry(a->h, 50 * MS + 10000 * MS);
  ck_assert_int_eq(a->n_ping_failed, 1);
  ck_assert_str_eq(a->ping_fail_reason, "ping timed out");
  ck_assert_int_eq(a->n_closed, 0);
  ck_assert_uint_eq(p2p_host_expiry(a->h), UINT64_MAX);
  world_free(&w);
}
END_TEST

START_TEST(test_host_config_validation_and_tcp_target) {
  p2p_host *h = NULL;
  p2p_host_config cfg = {0};
  ck_assert_int_eq(p2p_host_new(&cfg, &h), P2P_ERR_INVALID);
  ck_assert_ptr_null(h);
  ck_assert_int_eq(p2p_host_new(NULL, &h), P2P_ERR_INVALID);

  world w;
  world_init(&w);
  ck_assert_int_eq(
      p2p_host_handle(w.nodes[0].h, ECHO_PROTO, &echo_server, NULL),
      P2P_ERR_EXISTS);
  ck_assert_int_eq(
      p2p_host_handle(w.nodes[0].h, "/ipfs/ping/1.0.0", &echo_server, NULL),
      P2P_ERR_EXISTS);
  char str[200];
  char id[P2P_PEERID_STR_MAX];
  ck_assert_int_gt(
      p2p_peerid_to_string(p2p_host_peer_id(w.nodes[1].h), id, sizeof id), 0);
  snprintf(str, sizeof str, "/ip4/192.168.1.2/tcp/4001/p2p/%s", id);
  p2p_multiaddr ma;
  ck_assert_int_eq(p2p_multiaddr_parse(str, &ma), 0);
  uint32_t ip = 0;
  uint16_t port = 0;
  p2p_peerid peer;
  int has = 0;
  ck_assert_int_eq(p2p_host_tcp_target(&ma, &ip, &port, &peer, &has), 0);
  ck_assert_uint_eq(ip, 0xc0a80102u);
  ck_assert_uint_eq(port, 4001);
  ck_assert_int_eq(has, 1);
  ck_assert(p2p_peerid_equal(&peer, p2p_host_peer_id(w.nodes[1].h)));
  p2p_multiaddr_free(&ma);
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/1.2.3.4/tcp/80", &ma), 0);
  ck_assert_int_eq(p2p_host_tcp_target(&ma, &ip, &port, &peer, &has), 0);
  ck_assert_int_eq(has, 0);
  p2p_multiaddr_free(&ma);
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/1.2.3.4/udp/80", &ma), 0);
  ck_assert_int_eq(p2p_host_tcp_target(&ma, &ip, &port, &peer, &has),
                   P2P_ERR_INVALID);
  p2p_multiaddr_free(&ma);
  world_free(&w);
}
END_TEST

/* A push sender: writes one identify message carrying only an agent and
 * half-closes. */
static void push_open(void *user, p2p_stream *s, const char *proto,
                      uint64_t now) {
  (void)user;
  ck_assert_str_eq(proto, P2P_IDENTIFY_PUSH_PROTOCOL_ID);
  p2p_identify_info info = {.agent_version = "pushed-agent/2"};
  uint8_t msg[256];
  ssize_t n = p2p_identify_build(&info, msg, sizeof msg);
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_host_stream_write(s, msg, (size_t)n, now), n);
  ck_assert_int_eq(p2p_host_stream_close(s, now), 0);
}

static void push_close(void *user, p2p_stream *s, int err, uint64_t now) {
  node *n = user;
  (void)s;
  (void)now;
  ck_assert_int_eq(err, 0);
  n->echo_close++;
}

START_TEST(test_host_identify_push_updates_peer_store) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1];
  end *ea = dial(&w, a, b, NULL, 0);
  pump(&w, 0, 0);
  ck_assert_int_eq(b->n_identify, 1);
  const char *protos[] = {P2P_IDENTIFY_PUSH_PROTOCOL_ID};
  const p2p_stream_handler ph = {.on_open = push_open, .on_close = push_close};
  p2p_stream *s;
  ck_assert_int_eq(p2p_host_stream_open(a->h, ea->c, protos, 1, &ph, a, 0, &s),
                   0);
  pump(&w, 0, 0);
  ck_assert_int_eq(a->echo_close, 1);
  ck_assert_int_eq(b->n_identify, 2);
  ck_assert_str_eq(b->id_agent, "pushed-agent/2");
  const p2p_identify_msg *m = p2p_host_peer_info(b->h, p2p_host_peer_id(a->h));
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m->agent_version, "pushed-agent/2");
  /* What the push left out is kept from the first identify. */
  ck_assert_uint_eq(m->n_listen_addrs, 1);
  ck_assert(m->has_peer_record && m->has_public_key);
  ck_assert_int_eq(a->n_closed + b->n_closed, 0);
  world_free(&w);
}
END_TEST

START_TEST(test_host_callbacks_may_reenter) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1];
  a->ping_on_connect = 1; /* ping from inside the CONNECTED event */
  a->free_on_close = 1;
  b->free_on_close = 1;
  end *ea = dial(&w, a, b, NULL, 0);
  pump(&w, 0, 0);
  check_connected(a, b);
  ck_assert_int_eq(a->n_ping, 1);
  /* A connection freed from inside conn_close, mid-recv. */
  uint8_t junk[4] = {0, 2, 1, 2};
  p2p_host_conn_recv(a->h, ea->c, junk, sizeof junk, 0);
  ck_assert(ea->closed);
  ck_assert_ptr_null(ea->c);
  pump(&w, 0, 0);
  ck_assert_int_eq(b->n_closed, 1);
  ck_assert_ptr_null(ea->peer->c);
  world_free(&w);
}
END_TEST

static void nf_close(void *user, p2p_stream *s, int err, uint64_t now) {
  node *n = user;
  (void)s;
  (void)now;
  n->close_err = err;
  n->echo_close++;
}

START_TEST(test_host_unsupported_protocol_fails_only_the_stream) {
  world w;
  world_init(&w);
  node *a = &w.nodes[0], *b = &w.nodes[1];
  end *ea = dial(&w, a, b, NULL, 0);
  pump(&w, 0, 0);
  const char *protos[] = {"/nope/1.0.0"};
  const p2p_stream_handler h = {.on_open = cl_open, .on_close = nf_close};
  p2p_stream *s;
  ck_assert_int_eq(p2p_host_stream_open(a->h, ea->c, protos, 1, &h, a, 0, &s),
                   0);
  ck_assert_int_eq(p2p_host_stream_write(s, (const uint8_t *)"x", 1, 0),
                   P2P_ERR_STATE);
  pump(&w, 0, 0);
  ck_assert_int_eq(a->echo_open, 0);
  ck_assert_int_eq(a->echo_close, 1);
  ck_assert_int_eq(a->close_err, P2P_ERR_NOTFOUND);
  ck_assert_int_eq(a->n_closed + b->n_closed, 0);
  ck_assert_int_eq(p2p_host_ping(a->h, ea->c, 0), 0);
  pump(&w, 0, 0);
  ck_assert_int_eq(a->n_ping, 1);
  world_free(&w);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("host");
  TCase *ok = tcase_create("session");
  TCase *bad = tcase_create("failures");
  tcase_add_test(ok, test_host_session_connects_identifies_pings_and_echoes);
  tcase_add_test(ok, test_host_session_byte_at_a_time);
  tcase_add_test(ok, test_host_config_validation_and_tcp_target);
  tcase_add_test(ok, test_host_identify_push_updates_peer_store);
  tcase_add_test(ok, test_host_callbacks_may_reenter);
  tcase_add_test(bad, test_host_wrong_expected_peer_closes_on_dialer);
  tcase_add_test(bad, test_host_gater_refusal_closes_connection);
  tcase_add_test(bad, test_host_unsupported_protocol_fails_only_the_stream);
  tcase_add_test(bad, test_host_garbage_closes_only_that_connection);
  tcase_add_test(bad, test_host_handshake_timeout_closes);
  tcase_add_test(bad, test_host_ping_timeout_reports_failure);
  suite_add_tcase(s, ok);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
