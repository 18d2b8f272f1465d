/* Tests for the posix backend (plugins/posix/posix.c), driven through the
 * backend ABI over 127.0.0.1. Real time passes here: every run is bounded by
 * a deadline a few seconds ahead, and no test asserts how late something
 * happened (only that it did not happen early, and within a generous 5 s). */
#include "fixture.h"
#include "tcp_end.h"
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "plugins/loader.h"

#define MS(x) ((uint64_t)(x)*1000000ull)
#define SAFETY MS(5000) /* no test runs its loop longer than this */
#define LOOPBACK 0x7f000001u

static const p2plab_backend_api *api;
static p2plab_plugin *plugin;

static void setup(void) {
  char err[512];
  ck_assert_msg(p2plab_plugin_load("posix", &plugin, err, sizeof err) == 0,
                "%s", err);
  api = p2plab_plugin_api(plugin);
  tcp_end_use(api);
}

static void teardown(void) {
  p2plab_plugin_unload(plugin);
  plugin = NULL;
  api = NULL;
}

static p2plab_backend *world(p2plab_host_id *h) {
  p2plab_backend_config bc = {.seed = 1};
  p2plab_backend *b = NULL;
  ck_assert_int_eq(api->create(&bc, &b), 0);
  p2plab_host_config hc = {.name = "local", .behind_nat = P2PLAB_NO_NAT};
  ck_assert_int_eq(api->host_add(b, &hc, h), 0);
  return b;
}

/* Runs the loop in short slices until *flag becomes nonzero or the safety
 * deadline passes; fails the test on the deadline. */
static void run_until_flag(p2plab_backend *b, const int *flag) {
  uint64_t deadline = api->now(b) + SAFETY;
  while (!*flag) {
    uint64_t now = api->now(b);
    ck_assert_msg(now < deadline, "nothing happened within 5 s");
    uint64_t step = now + MS(20);
    ck_assert_int_ge(api->run_until(b, step < deadline ? step : deadline), 0);
  }
}

/* A TCP port on 127.0.0.1 with nothing bound to it right now, for tests
 * that need the port before listening (or nothing listening at all). */
static uint16_t free_tcp_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  socklen_t len = sizeof sa;
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd);
  return ntohs(sa.sin_port);
}

static p2plab_addr local(uint16_t port) {
  p2plab_addr a;
  memset(&a, 0, sizeof a);
  a.family = P2PLAB_AF_INET;
  a.ip.v4 = LOOPBACK;
  a.port = port;
  return a;
}

/* --- topology ------------------------------------------------------------ */

START_TEST(test_posix_one_local_host_at_loopback_and_no_topology) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  ck_assert_uint_eq(h, 0);
  p2plab_host_config hc = {.name = "second", .behind_nat = P2PLAB_NO_NAT};
  p2plab_host_id h2;
  ck_assert_int_eq(api->host_add(b, &hc, &h2), P2P_ERR_UNSUPPORTED);
  p2plab_addr a, p;
  ck_assert_int_eq(api->host_addr(b, h, &a), 0);
  ck_assert_int_eq(api->host_public_addr(b, h, &p), 0);
  ck_assert_uint_eq(a.family, P2PLAB_AF_INET);
  ck_assert_uint_eq(a.ip.v4, LOOPBACK);
  ck_assert_uint_eq(p.ip.v4, LOOPBACK);
  ck_assert_int_eq(api->host_addr(b, 1, &a), P2P_ERR_NOTFOUND);
  sim_nat_config nc;
  memset(&nc, 0, sizeof nc);
  int32_t nat;
  ck_assert_int_eq(api->nat_add(b, &nc, P2PLAB_NO_NAT, &nat),
                   P2P_ERR_UNSUPPORTED);
  ck_assert_int_eq(api->core_latency_set(b, h, h, MS(1)), P2P_ERR_UNSUPPORTED);
  ck_assert_str_eq(api->name, "posix");
  api->destroy(b);
}
END_TEST

/* --- timers -------------------------------------------------------------- */

typedef struct tfire {
  p2plab_backend *b;
  int n;
  int tag[8];
  uint64_t at[8];    /* the `now` each callback saw */
  uint64_t clock[8]; /* now() read inside it */
  int stop_on;       /* tag that calls stop, or 0 */
} tfire;
typedef struct tctx {
  tfire *f;
  int tag;
} tctx;

static void on_timer(void *ctx, uint64_t now) {
  tctx *t = ctx;
  tfire *f = t->f;
  ck_assert_int_lt(f->n, 8);
  f->tag[f->n] = t->tag;
  f->at[f->n] = now;
  f->clock[f->n] = api->now(f->b);
  f->n++;
  if (f->stop_on == t->tag)
    api->stop(f->b);
}

START_TEST(test_posix_timers_fire_in_order_never_early_and_cancel) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static tfire f;
  memset(&f, 0, sizeof f);
  f.b = b;
  static tctx c[4];
  for (int i = 0; i < 4; i++)
    c[i] = (tctx){.f = &f, .tag = i + 1};
  uint64_t t0 = api->now(b);
  uint64_t due[4] = {t0 + MS(60), t0 + MS(20), t0 + MS(40), t0 + MS(30)};
  p2plab_timer id[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(api->timer_start(b, due[i], on_timer, &c[i], &id[i]), 0);
  ck_assert_int_eq(api->timer_cancel(b, id[3]), 0);
  ck_assert_int_eq(api->timer_cancel(b, id[3]), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(api->timer_cancel(b, 0), P2P_ERR_NOTFOUND);
  int64_t ran = api->run_until(b, t0 + MS(200));
  ck_assert_int_eq(ran, 3);
  ck_assert_uint_ge(api->now(b), t0 + MS(200)); /* ran to its bound */
  ck_assert_uint_lt(api->now(b), t0 + SAFETY);
  ck_assert_int_eq(f.n, 3);
  int order[3] = {2, 3, 1};
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(f.tag[i], order[i]);
    ck_assert_uint_ge(f.at[i], due[order[i] - 1]); /* never early */
    ck_assert_uint_ge(f.clock[i], f.at[i]);
    if (i > 0)
      ck_assert_uint_ge(f.at[i], f.at[i - 1]);
  }
  ck_assert_uint_ge(api->events_processed(b), 3);
  /* A deadline already passed fires on the next pass. */
  ck_assert_int_eq(api->timer_start(b, t0, on_timer, &c[3], NULL), 0);
  ck_assert_int_eq(api->run_until(b, api->now(b)), 1);
  ck_assert_int_eq(f.tag[3], 4);
  api->destroy(b);
}
END_TEST

START_TEST(test_posix_stop_from_a_callback_returns_run_until) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static tfire f;
  memset(&f, 0, sizeof f);
  f.b = b;
  f.stop_on = 1;
  static tctx c1, c2;
  c1 = (tctx){.f = &f, .tag = 1};
  c2 = (tctx){.f = &f, .tag = 2};
  uint64_t t0 = api->now(b);
  ck_assert_int_eq(api->timer_start(b, t0 + MS(10), on_timer, &c1, NULL), 0);
  ck_assert_int_eq(api->timer_start(b, t0 + MS(4000), on_timer, &c2, NULL), 0);
  int64_t ran = api->run_until(b, t0 + SAFETY);
  ck_assert_int_eq(ran, 1);
  ck_assert_int_eq(f.n, 1);
  ck_assert_uint_lt(api->now(b), t0 + MS(4000)); /* returned at the stop */
  api->destroy(b);
}
END_TEST

/* --- UDP ----------------------------------------------------------------- */

typedef struct udp_end {
  p2plab_udp *sock;
  int n;
  int echo;           /* send every datagram back */
  int close_on_first; /* close the socket from the first callback */
  uint8_t last[64];
  size_t last_len;
  p2plab_addr from;
} udp_end;

static void on_udp(void *ctx, p2plab_udp *s, const p2plab_addr *from,
                   const uint8_t *buf, size_t len, uint64_t now) {
  udp_end *e = ctx;
  (void)now;
  e->n++;
  e->from = *from;
  e->last_len = len < sizeof e->last ? len : sizeof e->last;
  memcpy(e->last, buf, e->last_len);
  if (e->echo)
    ck_assert_int_eq(api->udp_send(s, from, buf, len), 0);
  if (e->close_on_first)
    api->udp_close(s);
}

START_TEST(test_posix_udp_echo_over_loopback) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static udp_end srv, cli;
  memset(&srv, 0, sizeof srv);
  memset(&cli, 0, sizeof cli);
  srv.echo = 1;
  ck_assert_int_eq(api->udp_bind(b, h, 0, on_udp, &srv, &srv.sock), 0);
  ck_assert_int_eq(api->udp_bind(b, h, 0, on_udp, &cli, &cli.sock), 0);
  p2plab_addr sa, ca;
  ck_assert_int_eq(api->udp_local_addr(srv.sock, &sa), 0);
  ck_assert_int_eq(api->udp_local_addr(cli.sock, &ca), 0);
  ck_assert_uint_eq(sa.ip.v4, LOOPBACK);
  ck_assert_uint_ne(sa.port, 0);
  ck_assert_uint_ne(sa.port, ca.port);
  ck_assert_int_eq(api->udp_send(cli.sock, &sa, (const uint8_t *)"ping", 4), 0);
  run_until_flag(b, &cli.n);
  ck_assert_int_eq(srv.n, 1);
  ck_assert_uint_eq(srv.from.ip.v4, LOOPBACK);
  ck_assert_uint_eq(srv.from.port, ca.port);
  ck_assert_uint_eq(cli.last_len, 4);
  ck_assert(memcmp(cli.last, "ping", 4) == 0);
  ck_assert_uint_eq(cli.from.port, sa.port);
  /* The same port twice is refused. */
  p2plab_udp *dup;
  ck_assert_int_eq(api->udp_bind(b, h, sa.port, on_udp, &srv, &dup),
                   P2P_ERR_ADDRINUSE);
  api->udp_close(cli.sock);
  api->udp_close(srv.sock);
  api->destroy(b);
}
END_TEST

START_TEST(test_posix_udp_close_from_its_own_callback) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static udp_end srv, cli;
  memset(&srv, 0, sizeof srv);
  memset(&cli, 0, sizeof cli);
  srv.close_on_first = 1;
  ck_assert_int_eq(api->udp_bind(b, h, 0, on_udp, &srv, &srv.sock), 0);
  ck_assert_int_eq(api->udp_bind(b, h, 0, on_udp, &cli, &cli.sock), 0);
  p2plab_addr sa;
  ck_assert_int_eq(api->udp_local_addr(srv.sock, &sa), 0);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(api->udp_send(cli.sock, &sa, (const uint8_t *)"x", 1), 0);
  run_until_flag(b, &srv.n);
  ck_assert_int_ge(api->run_until(b, api->now(b) + MS(50)), 0);
  ck_assert_int_eq(srv.n, 1); /* closed after the first of three */
  api->destroy(b);            /* cli is still open: destroy frees it */
}
END_TEST

/* --- TCP ----------------------------------------------------------------- */

static int both_closed(const tcp_end *a, const tcp_end *c) {
  return a->closed != 0 && c->closed != 0;
}

/* Runs until both ends have closed (or 5 s pass). */
static void run_until_closed(p2plab_backend *b, tcp_end *x, tcp_end *y) {
  uint64_t deadline = api->now(b) + SAFETY;
  while (!both_closed(x, y)) {
    uint64_t now = api->now(b);
    ck_assert_msg(now < deadline, "connections did not close within 5 s");
    ck_assert_int_ge(api->run_until(b, now + MS(20)), 0);
  }
}

START_TEST(test_posix_tcp_echoes_one_megabyte_both_ways_and_closes) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  const size_t n = 1u << 20;
  static tcp_end client, server;
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  uint8_t *up = tcp_end_pattern(n, 1), *down = tcp_end_pattern(n, 2);
  client.tx = up;
  client.tx_len = n;
  server.tx = down;
  server.tx_len = n;
  uint16_t port = free_tcp_port();
  p2plab_tcp_listener *lst;
  ck_assert_int_eq(api->tcp_listen(b, h, port, tcp_end_accept, &server, &lst),
                   0);
  p2plab_addr to = local(port);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, h, 0, &to, &tcp_end_cbs, &client, &c),
                   0);
  run_until_closed(b, &client, &server);
  ck_assert_int_eq(client.connected, 1);
  ck_assert_int_eq(server.connected, 1);
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
  ck_assert_uint_eq(server.remote.ip.v4, LOOPBACK);
  api->tcp_listener_close(lst);
  api->destroy(b);
  free(up);
  free(down);
  free(client.rx);
  free(server.rx);
}
END_TEST

START_TEST(test_posix_tcp_half_close_then_reply_then_close_both_sides) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static tcp_end client, server;
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  client.tx = (const uint8_t *)"question";
  client.tx_len = 8;
  server.shut_on_eof = 1; /* answers after the client's FIN */
  server.reply = "answer";
  uint16_t port = free_tcp_port();
  p2plab_tcp_listener *lst;
  ck_assert_int_eq(api->tcp_listen(b, h, port, tcp_end_accept, &server, &lst),
                   0);
  p2plab_addr to = local(port);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, h, 0, &to, &tcp_end_cbs, &client, &c),
                   0);
  /* Before the loop runs nothing has been reported. */
  ck_assert_int_eq(client.connected, 0);
  p2plab_addr ra;
  ck_assert_int_eq(api->tcp_remote_addr(c, &ra), 0);
  ck_assert_uint_eq(ra.port, port);
  run_until_closed(b, &client, &server);
  ck_assert_uint_eq(server.rx_len, 8);
  ck_assert(memcmp(server.rx, "question", 8) == 0);
  ck_assert_uint_eq(client.rx_len, 6); /* received after its own FIN */
  ck_assert(memcmp(client.rx, "answer", 6) == 0);
  ck_assert_int_eq(client.eof, 1);
  ck_assert_int_eq(server.eof, 1);
  ck_assert_int_eq(client.closed, 1);
  ck_assert_int_eq(server.closed, 1);
  ck_assert_int_eq(client.close_err, 0);
  ck_assert_int_eq(server.close_err, 0);
  api->tcp_listener_close(lst);
  api->destroy(b);
  free(client.rx);
  free(server.rx);
}
END_TEST

START_TEST(test_posix_listener_on_port_zero_reports_its_port) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static tcp_end client, server;
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  p2plab_tcp_listener *lst;
  ck_assert_int_eq(api->tcp_listen(b, h, 0, tcp_end_accept, &server, &lst), 0);
  p2plab_addr at;
  ck_assert_int_eq(api->tcp_listener_addr(lst, &at), 0);
  ck_assert_uint_eq(at.ip.v4, LOOPBACK);
  ck_assert_uint_ne(at.port, 0);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, h, 0, &at, &tcp_end_cbs, &client, &c),
                   0);
  run_until_flag(b, &server.connected);
  ck_assert_int_eq(server.connected, 1);
  api->tcp_listener_close(lst);
  api->destroy(b);
}
END_TEST

START_TEST(test_posix_tcp_connect_to_closed_port_is_refused) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static tcp_end client;
  memset(&client, 0, sizeof client);
  p2plab_addr to = local(free_tcp_port());
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, h, 0, &to, &tcp_end_cbs, &client, &c),
                   0);
  ck_assert_int_eq(client.closed, 0); /* reported from the loop only */
  run_until_flag(b, &client.closed);
  ck_assert_int_eq(client.connected, 0);
  ck_assert_int_eq(client.closed, 1);
  ck_assert_int_eq(client.close_err, P2P_ERR_REFUSED);
  api->destroy(b);
}
END_TEST

START_TEST(test_posix_tcp_abort_inside_on_data_resets_the_peer) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static tcp_end client, server;
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  server.greet = 1;
  client.abort_on_data = 1; /* aborts on the greeting, from the callback */
  uint16_t port = free_tcp_port();
  p2plab_tcp_listener *lst;
  ck_assert_int_eq(api->tcp_listen(b, h, port, tcp_end_accept, &server, &lst),
                   0);
  p2plab_addr to = local(port);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, h, 0, &to, &tcp_end_cbs, &client, &c),
                   0);
  run_until_closed(b, &client, &server);
  ck_assert_int_eq(client.closed, -1); /* no on_close after abort */
  ck_assert_int_eq(server.closed, 1);
  ck_assert_int_eq(server.close_err, P2P_ERR_RESET);
  api->tcp_listener_close(lst);
  api->destroy(b);
  free(client.rx);
}
END_TEST

/* Closes its listener from inside the accept callback, and takes nothing:
 * the backend closes the connection it was offered. */
typedef struct closing_listener {
  p2plab_tcp_listener *l;
  int accepted;
} closing_listener;

static void on_accept_close(void *ctx, p2plab_tcp_listener *l, p2plab_tcp *c,
                            const p2plab_addr *remote,
                            const p2plab_tcp_callbacks **cbs, void **cb_ctx,
                            uint64_t now) {
  closing_listener *cl = ctx;
  (void)c;
  (void)remote;
  (void)cbs;
  (void)cb_ctx;
  (void)now;
  cl->accepted++;
  api->tcp_listener_close(l);
}

START_TEST(test_posix_listener_close_inside_accept_and_unclaimed_conn) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static closing_listener cl;
  static tcp_end client;
  memset(&cl, 0, sizeof cl);
  memset(&client, 0, sizeof client);
  uint16_t port = free_tcp_port();
  ck_assert_int_eq(api->tcp_listen(b, h, port, on_accept_close, &cl, &cl.l), 0);
  p2plab_addr to = local(port);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, h, 0, &to, &tcp_end_cbs, &client, &c),
                   0);
  run_until_flag(b, &client.eof);
  ck_assert_int_eq(cl.accepted, 1);
  ck_assert_int_eq(client.connected, 1);
  ck_assert_int_eq(client.eof, 1);    /* the unclaimed side closed */
  ck_assert_int_eq(client.closed, 0); /* we have not shut down yet */
  ck_assert_int_eq(api->tcp_shutdown(client.conn), 0);
  ck_assert_int_eq(client.closed, 0); /* reported from the loop only */
  run_until_flag(b, &client.closed);
  ck_assert_int_eq(client.close_err, 0);
  api->destroy(b);
}
END_TEST

START_TEST(test_posix_tcp_connect_from_a_fixed_port_shared_with_listener) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static tcp_end client, server, other;
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  memset(&other, 0, sizeof other);
  uint16_t port = free_tcp_port(), mine;
  do
    mine = free_tcp_port();
  while (mine == port);
  p2plab_tcp_listener *lst, *mine_l;
  ck_assert_int_eq(api->tcp_listen(b, h, port, tcp_end_accept, &server, &lst),
                   0);
  /* A listener and an outgoing connection on the same local port. */
  ck_assert_int_eq(api->tcp_listen(b, h, mine, tcp_end_accept, &other, &mine_l),
                   0);
  p2plab_addr to = local(port);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, h, mine, &to, &tcp_end_cbs, &client, &c),
                   0);
  run_until_flag(b, &server.connected);
  run_until_flag(b, &client.connected);
  ck_assert_uint_eq(server.remote.port, mine);
  p2plab_addr la;
  ck_assert_int_eq(api->tcp_local_addr(c, &la), 0);
  ck_assert_uint_eq(la.port, mine);
  api->destroy(b); /* everything still open is closed and freed */
}
END_TEST

START_TEST(test_posix_destroy_frees_open_objects_and_queued_bytes) {
  p2plab_host_id h;
  p2plab_backend *b = world(&h);
  static tcp_end client, server;
  static udp_end u;
  memset(&client, 0, sizeof client);
  memset(&server, 0, sizeof server);
  memset(&u, 0, sizeof u);
  ck_assert_int_eq(api->udp_bind(b, h, 0, on_udp, &u, &u.sock), 0);
  uint16_t port = free_tcp_port();
  p2plab_tcp_listener *lst;
  ck_assert_int_eq(api->tcp_listen(b, h, port, tcp_end_accept, &server, &lst),
                   0);
  p2plab_addr to = local(port);
  p2plab_tcp *c;
  ck_assert_int_eq(api->tcp_connect(b, h, 0, &to, &tcp_end_cbs, &client, &c),
                   0);
  /* Queued before the handshake completes; never sent. */
  uint8_t *big = tcp_end_pattern(4u << 20, 9);
  ck_assert_int_eq(api->tcp_send(c, big, 4u << 20), 0);
  p2plab_timer t;
  static tfire f;
  static tctx tc;
  tc = (tctx){.f = &f, .tag = 1};
  ck_assert_int_eq(
      api->timer_start(b, api->now(b) + MS(1000), on_timer, &tc, &t), 0);
  api->destroy(b);
  free(big);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("posix");
  TCase *tc = tcase_create("posix");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_posix_one_local_host_at_loopback_and_no_topology);
  tcase_add_test(tc, test_posix_timers_fire_in_order_never_early_and_cancel);
  tcase_add_test(tc, test_posix_stop_from_a_callback_returns_run_until);
  tcase_add_test(tc, test_posix_udp_echo_over_loopback);
  tcase_add_test(tc, test_posix_udp_close_from_its_own_callback);
  tcase_add_test(tc, test_posix_tcp_echoes_one_megabyte_both_ways_and_closes);
  tcase_add_test(tc,
                 test_posix_tcp_half_close_then_reply_then_close_both_sides);
  tcase_add_test(tc, test_posix_tcp_connect_to_closed_port_is_refused);
  tcase_add_test(tc, test_posix_listener_on_port_zero_reports_its_port);
  tcase_add_test(tc, test_posix_tcp_abort_inside_on_data_resets_the_peer);
  tcase_add_test(tc,
                 test_posix_listener_close_inside_accept_and_unclaimed_conn);
  tcase_add_test(tc,
                 test_posix_tcp_connect_from_a_fixed_port_shared_with_listener);
  tcase_add_test(tc, test_posix_destroy_frees_open_objects_and_queued_bytes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
