/* bench_conn_mem: memory held by idle libp2p connections.
 *
 * Two figures, each for N connections (default 1000, or argv[1]):
 *
 * - host: one relay host and N browser hosts (core/src/host.c), each
 *   browser with one Noise + yamux connection to the relay over an
 *   in-memory byte pump, run until quiet (handshake, multistream, identify
 *   both ways), then idle. Prints heap bytes per browser (its host, its
 *   end and the relay's end of the connection).
 * - raw: N pairs of p2p_noise + p2p_yamux objects (both ends), handshake
 *   done, one stream opened, 4 KiB echoed each way, then idle. Prints heap
 *   bytes per connection end.
 * - tcp: the netsim backend with one server and N client hosts (each
 *   behind a home NAT), one simulated TCP connection per client, 4 KiB
 *   echoed, then idle. Prints heap bytes per connection (both ends, the
 *   backend's sockets and NAT mappings), not counting the hosts.
 *
 * Heap bytes come from mallinfo2() (in-use bytes before and after, with the
 * bench's own bookkeeping freed or subtracted); the peak RSS from
 * getrusage(). A program that prints figures, not a test. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "p2p/crypto.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"
#include "p2p/noise.h"
#include "p2p/yamux.h"
#include "plugins/loader.h"

#define MS 1000000ull

static size_t heap_used(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

static long peak_rss_kib(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0)
    return -1;
  return ru.ru_maxrss;
}

static void die(const char *what) {
  fprintf(stderr, "bench_conn_mem: %s\n", what);
  exit(1);
}

static void xs_fill(void *ctx, uint8_t *buf, size_t len) {
  uint64_t *s = ctx;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (uint8_t)*s;
  }
}

/* ------------------------------------------------------------------------
 * Host level.
 * ---------------------------------------------------------------------- */

typedef struct end {
  p2p_host *h;
  p2p_conn *c;
  struct end *peer;
  uint8_t *inbox;
  size_t len, cap;
} end;

typedef struct browser {
  p2p_host *h;
  uint64_t rng;
  p2p_rand rnd;
  p2p_privkey key;
  end ends[2]; /* [0] the browser's, [1] the relay's */
} browser;

static int t_write(void *ctx, p2p_conn *c, const uint8_t *buf, size_t len) {
  (void)ctx;
  end *e = p2p_host_conn_user(c);
  end *p = e->peer;
  if (p->len + len > p->cap) {
    p->cap = (p->len + len) * 2;
    p->inbox = realloc(p->inbox, p->cap);
    if (!p->inbox)
      die("out of memory");
  }
  memcpy(p->inbox + p->len, buf, len);
  p->len += len;
  return 0;
}

static void t_close(void *ctx, p2p_conn *c, int err) {
  (void)ctx;
  (void)c;
  (void)err;
}

static int connected;

static void t_event(void *ctx, const p2p_host_event *ev) {
  (void)ctx;
  if (ev->type == P2P_HOST_EV_CONNECTED)
    connected++;
}

static void host_make(p2p_host **h, p2p_privkey *key, p2p_rand *rnd,
                      const char *listen) {
  p2p_multiaddr la;
  if (p2p_key_generate(rnd, key) < 0)
    die("key");
  if (p2p_multiaddr_parse(listen, &la) < 0)
    die("multiaddr");
  p2p_host_config cfg = {.key = key,
                         .rnd = rnd,
                         .agent_version = "bench",
                         .listen_addrs = &la,
                         .n_listen_addrs = 1,
                         .conn_write = t_write,
                         .conn_close = t_close,
                         .on_event = t_event};
  if (p2p_host_new(&cfg, h) < 0)
    die("host");
  p2p_multiaddr_free(&la);
}

static int deliver(end *e, uint64_t now) {
  uint8_t tmp[16384];
  size_t n;
  if (e->len == 0)
    return 0;
  n = e->len < sizeof tmp ? e->len : sizeof tmp;
  memcpy(tmp, e->inbox, n);
  memmove(e->inbox, e->inbox + n, e->len - n);
  e->len -= n;
  p2p_host_conn_recv(e->h, e->c, tmp, n, now);
  return 1;
}

static void host_bench(size_t n) {
  uint64_t relay_rng = 0x9e3779b97f4a7c15ull;
  p2p_rand relay_rnd = {.fill = xs_fill, .ctx = &relay_rng};
  p2p_privkey relay_key;
  p2p_host *relay;
  browser *br = calloc(n, sizeof *br);
  p2p_multiaddr ra, rb;
  size_t base, after;
  long rss0 = peak_rss_kib();

  if (!br)
    die("out of memory");
  host_make(&relay, &relay_key, &relay_rnd, "/ip4/11.0.0.1/tcp/4001");
  if (p2p_multiaddr_parse("/ip4/11.0.0.1/tcp/4001", &ra) < 0 ||
      p2p_multiaddr_parse("/ip4/11.0.0.2/tcp/50000", &rb) < 0)
    die("multiaddr");
  base = heap_used();
  for (size_t i = 0; i < n; i++) {
    browser *b = &br[i];
    b->rng = 0x2545f4914f6cdd1dull * (uint64_t)(i + 2);
    b->rnd = (p2p_rand){.fill = xs_fill, .ctx = &b->rng};
    host_make(&b->h, &b->key, &b->rnd, "/ip4/10.0.0.1/tcp/4001");
    b->ends[0] = (end){.h = b->h, .peer = &b->ends[1]};
    b->ends[1] = (end){.h = relay, .peer = &b->ends[0]};
    if (p2p_host_conn_new(relay, 0, NULL, &rb, &b->ends[1], 0, &b->ends[1].c) <
            0 ||
        p2p_host_conn_new(b->h, 1, p2p_host_peer_id(relay), &ra, &b->ends[0], 0,
                          &b->ends[0].c) < 0)
      die("conn_new");
  }
  for (int busy = 1; busy;) {
    busy = 0;
    for (size_t i = 0; i < n; i++)
      for (int k = 0; k < 2; k++)
        busy |= deliver(&br[i].ends[k], 1 * MS);
  }
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < 2; k++) {
      free(br[i].ends[k].inbox);
      br[i].ends[k].inbox = NULL;
      br[i].ends[k].cap = 0;
    }
  malloc_trim(0);
  after = heap_used();
  printf("host: N=%zu connected=%d heap/browser (host + both conn ends) = "
         "%zu B, total %.1f MiB, peak RSS %ld KiB (+%ld KiB)\n",
         n, connected, (after - base) / n,
         (double)(after - base) / (1024.0 * 1024.0), peak_rss_kib(),
         peak_rss_kib() - rss0);
  for (size_t i = 0; i < n; i++) {
    p2p_host_conn_free(relay, br[i].ends[1].c);
    p2p_host_conn_free(br[i].h, br[i].ends[0].c);
    p2p_host_del(br[i].h);
  }
  p2p_host_del(relay);
  p2p_multiaddr_free(&ra);
  p2p_multiaddr_free(&rb);
  free(br);
}

/* ------------------------------------------------------------------------
 * Raw Noise + yamux pairs.
 * ---------------------------------------------------------------------- */

typedef struct side {
  p2p_noise *nz;
  p2p_yamux *ym;
  size_t got; /* stream bytes received */
} side;

typedef struct pair {
  side s[2]; /* [0] initiator / yamux client */
} pair;

static void on_data(p2p_yamux *y, uint32_t id, const uint8_t *data, size_t len,
                    void *user) {
  side *s = user;
  (void)data;
  s->got += len;
  if (p2p_yamux_stream_consume(y, id, len) < 0)
    die("consume");
}

static const p2p_yamux_callbacks ycb = {.on_data = on_data};

/* Moves bytes between the two sides until nothing moves. */
static void pair_pump(pair *p) {
  uint8_t buf[8192], pt[8192];
  for (int busy = 1; busy;) {
    busy = 0;
    for (int k = 0; k < 2; k++) {
      side *a = &p->s[k], *b = &p->s[1 - k];
      ssize_t r;
      if (p2p_noise_state(a->nz) == P2P_NOISE_ESTABLISHED && a->ym) {
        while ((r = p2p_yamux_send(a->ym, buf, sizeof buf, 0)) > 0)
          if (p2p_noise_write(a->nz, buf, (size_t)r) < 0)
            die("noise write");
      }
      while ((r = p2p_noise_send(a->nz, buf, sizeof buf)) > 0) {
        busy = 1;
        if (p2p_noise_recv(b->nz, buf, (size_t)r) != r)
          die("noise recv");
      }
      if (b->ym)
        while ((r = p2p_noise_read(b->nz, pt, sizeof pt)) > 0)
          if (p2p_yamux_recv(b->ym, pt, (size_t)r, 0) < 0)
            die("yamux recv");
    }
  }
}

static void raw_bench(size_t n) {
  static const char *muxers[] = {"/yamux/1.0.0"};
  uint64_t rng = 0x853c49e6748fea9bull;
  p2p_rand rnd = {.fill = xs_fill, .ctx = &rng};
  p2p_privkey ka, kb;
  pair *ps = calloc(n, sizeof *ps);
  uint8_t data[4096];
  size_t base, after;
  long rss0 = peak_rss_kib();

  if (!ps)
    die("out of memory");
  memset(data, 0x5a, sizeof data);
  if (p2p_key_generate(&rnd, &ka) < 0 || p2p_key_generate(&rnd, &kb) < 0)
    die("key");
  base = heap_used();
  for (size_t i = 0; i < n; i++) {
    pair *p = &ps[i];
    p2p_yamux_config cfg;
    uint32_t id;
    if (p2p_noise_new(P2P_NOISE_INITIATOR, &ka, NULL, muxers, 1, &rnd,
                      &p->s[0].nz) < 0 ||
        p2p_noise_new(P2P_NOISE_RESPONDER, &kb, NULL, muxers, 1, &rnd,
                      &p->s[1].nz) < 0)
      die("noise new");
    pair_pump(p);
    for (int k = 0; k < 2; k++) {
      p2p_yamux_config_default(&cfg, k == 0);
      if (p2p_yamux_new(&cfg, &ycb, &p->s[k], &p->s[k].ym) < 0)
        die("yamux new");
    }
    if (p2p_yamux_stream_open(p->s[0].ym, &id) < 0 ||
        p2p_yamux_stream_write(p->s[0].ym, id, data, sizeof data) !=
            (ssize_t)sizeof data)
      die("stream");
    pair_pump(p);
    if (p2p_yamux_stream_write(p->s[1].ym, id, data, sizeof data) !=
        (ssize_t)sizeof data)
      die("stream");
    pair_pump(p);
    if (p->s[0].got != sizeof data || p->s[1].got != sizeof data)
      die("echo incomplete");
  }
  malloc_trim(0);
  after = heap_used();
  printf("raw:  N=%zu pairs, heap/connection end (noise + yamux + 1 idle "
         "stream) = %zu B, total %.1f MiB, peak RSS %ld KiB (+%ld KiB)\n",
         n, (after - base) / (2 * n),
         (double)(after - base) / (1024.0 * 1024.0), peak_rss_kib(),
         peak_rss_kib() - rss0);
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < 2; k++) {
      p2p_yamux_del(ps[i].s[k].ym);
      p2p_noise_del(ps[i].s[k].nz);
    }
  free(ps);
}

/* ------------------------------------------------------------------------
 * Simulated TCP connections in the netsim backend.
 * ---------------------------------------------------------------------- */

static const p2plab_backend_api *api;
static size_t tcp_echoed, tcp_connected;

static void srv_data(void *ctx, p2plab_tcp *c, const uint8_t *buf, size_t len,
                     uint64_t now) {
  (void)ctx;
  (void)now;
  if (api->tcp_send(c, buf, len) < 0)
    die("tcp send");
}

static void noop_eof(void *ctx, p2plab_tcp *c, uint64_t now) {
  (void)ctx;
  (void)c;
  (void)now;
}

static void noop_close(void *ctx, p2plab_tcp *c, int err, uint64_t now) {
  (void)ctx;
  (void)c;
  (void)err;
  (void)now;
}

static const p2plab_tcp_callbacks srv_cbs = {
    .on_data = srv_data, .on_eof = noop_eof, .on_close = noop_close};

static void srv_accept(void *ctx, p2plab_tcp_listener *l, p2plab_tcp *conn,
                       const p2plab_addr *remote,
                       const p2plab_tcp_callbacks **cbs, void **cb_ctx,
                       uint64_t now) {
  (void)ctx;
  (void)l;
  (void)conn;
  (void)remote;
  (void)now;
  *cbs = &srv_cbs;
  *cb_ctx = NULL;
}

static void cl_connect(void *ctx, p2plab_tcp *c, uint64_t now) {
  static const uint8_t msg[4096];
  (void)ctx;
  (void)now;
  tcp_connected++;
  if (api->tcp_send(c, msg, sizeof msg) < 0)
    die("tcp send");
}

static void cl_data(void *ctx, p2plab_tcp *c, const uint8_t *buf, size_t len,
                    uint64_t now) {
  (void)ctx;
  (void)c;
  (void)buf;
  (void)now;
  tcp_echoed += len;
}

static const p2plab_tcp_callbacks cl_cbs = {.on_connect = cl_connect,
                                            .on_data = cl_data,
                                            .on_eof = noop_eof,
                                            .on_close = noop_close};

static void tcp_bench(size_t n) {
  char err[512];
  p2plab_plugin *plug;
  p2plab_backend *b;
  p2plab_backend_config bc = {.seed = 1, .core_latency_ns = 20 * MS};
  p2plab_link_config link = {.latency_ns = 5 * MS, .rate_bps = 100000000};
  p2plab_host_config sc = {
      .name = "server", .up = link, .down = link, .behind_nat = P2PLAB_NO_NAT};
  p2plab_host_id srv;
  p2plab_tcp_listener *l;
  p2plab_addr to;
  sim_nat_config nat;
  p2plab_host_id *hs = calloc(n, sizeof *hs);
  size_t base, mid = 0, after;

  if (!hs)
    die("out of memory");
  if (p2plab_plugin_load("netsim", &plug, err, sizeof err) < 0) {
    fprintf(stderr, "bench_conn_mem: %s (tcp part skipped)\n", err);
    free(hs);
    return;
  }
  api = p2plab_plugin_api(plug);
  if (api->create(&bc, &b) < 0 ||
      sim_nat_preset("port-restricted-cone", &nat) < 0 ||
      api->host_add(b, &sc, &srv) < 0 ||
      api->tcp_listen(b, srv, 4001, srv_accept, NULL, &l) < 0 ||
      api->host_public_addr(b, srv, &to) < 0)
    die("netsim setup");
  to.port = 4001;
  for (size_t i = 0; i < n; i++) {
    p2plab_host_config hc = {.name = "c",
                             .up = link,
                             .down = link,
                             .home_nat = &nat,
                             .behind_nat = P2PLAB_NO_NAT};
    if (api->host_add(b, &hc, &hs[i]) < 0)
      die("host add");
  }
  if (api->run_until(b, 1 * MS) < 0)
    die("run");
  /* Two equal rounds: the first also warms the backend's packet pool (the
   * packets at its peak in flight stay cached), the second shows what one
   * more idle connection costs. */
  malloc_trim(0);
  base = heap_used();
  for (size_t round = 0; round < 2; round++) {
    for (size_t i = round * n / 2; i < (round + 1) * n / 2; i++) {
      p2plab_tcp *c;
      if (api->tcp_connect(b, hs[i], 0, &to, &cl_cbs, NULL, &c) < 0)
        die("tcp connect");
    }
    if (api->run_until(b, (round + 1) * 5000 * MS) < 0)
      die("run");
    malloc_trim(0);
    if (round == 0)
      mid = heap_used();
  }
  after = heap_used();
  if (tcp_connected != n / 2 * 2 || tcp_echoed != n / 2 * 2 * 4096)
    die("tcp echo incomplete");
  printf("tcp:  N=%zu netsim TCP connections idle after a 4 KiB echo: "
         "heap/connection (both ends) = %zu B counting the packet pool, %zu B "
         "without it; total %.1f MiB, peak RSS %ld KiB\n",
         n / 2 * 2, (after - base) / (n / 2 * 2), (after - mid) / (n / 2),
         (double)(after - base) / (1024.0 * 1024.0), peak_rss_kib());
  api->destroy(b);
  p2plab_plugin_unload(plug);
  free(hs);
}

int main(int argc, char **argv) {
  size_t n = 1000;
  if (argc > 1)
    n = (size_t)strtoul(argv[1], NULL, 10);
  if (n == 0)
    die("usage: bench_conn_mem [N]");
  raw_bench(n);
  host_bench(n);
  tcp_bench(n);
  return 0;
}
