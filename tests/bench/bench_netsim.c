/* bench_netsim: figures for the netsim backend's packet path.
 *
 * N hosts, each behind its own port-restricted-cone home NAT, with
 * 5 ms / 20 Mbit/s access links; one public echo server with a fast link.
 * Every host sends one 100-byte UDP datagram per 100 ms of virtual time to
 * the server, which echoes it. Prints, per N, the wall time, simulated
 * seconds per wall second, packets and events per wall second, and the
 * resident memory per host. A program that prints figures, not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugins/loader.h"

#define MS(x) ((uint64_t)(x)*1000000ull)

static const p2plab_backend_api *api;
static uint64_t delivered;

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0)
      kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

typedef struct client {
  p2plab_backend *b;
  p2plab_udp *sock;
  p2plab_addr server;
} client;

static void echo(void *ctx, p2plab_udp *s, const p2plab_addr *from,
                 const uint8_t *buf, size_t len, uint64_t now) {
  (void)ctx;
  (void)now;
  delivered++;
  if (api->udp_send(s, from, buf, len) < 0)
    abort();
}

static void client_rx(void *ctx, p2plab_udp *s, const p2plab_addr *from,
                      const uint8_t *buf, size_t len, uint64_t now) {
  (void)ctx;
  (void)s;
  (void)from;
  (void)buf;
  (void)len;
  (void)now;
  delivered++;
}

static void tick(void *ctx, uint64_t now) {
  client *c = ctx;
  static const uint8_t msg[100];
  if (api->udp_send(c->sock, &c->server, msg, sizeof msg) < 0 ||
      api->timer_start(c->b, now + MS(100), tick, c, NULL) < 0)
    abort();
}

static void run(size_t n, uint64_t sim_ns) {
  long rss0 = rss_kib();
  p2plab_backend_config bc = {.seed = 1, .core_latency_ns = MS(20)};
  p2plab_backend *b;
  if (api->create(&bc, &b) < 0)
    abort();
  sim_nat_config nat;
  if (sim_nat_preset("port-restricted-cone", &nat) < 0)
    abort();
  p2plab_link_config fast = {.latency_ns = MS(1), .rate_bps = 10000000000ull};
  p2plab_link_config access = {
      .latency_ns = MS(5), .rate_bps = 20000000, .queue_bytes = 65536};
  p2plab_host_config sc = {
      .name = "server", .up = fast, .down = fast, .behind_nat = P2PLAB_NO_NAT};
  p2plab_host_id srv;
  p2plab_udp *ss;
  if (api->host_add(b, &sc, &srv) < 0 ||
      api->udp_bind(b, srv, 7, echo, NULL, &ss) < 0)
    abort();
  client *cl = calloc(n, sizeof *cl);
  if (cl == NULL)
    abort();
  for (size_t i = 0; i < n; i++) {
    p2plab_host_config hc = {.name = "c",
                             .up = access,
                             .down = access,
                             .home_nat = &nat,
                             .behind_nat = P2PLAB_NO_NAT};
    p2plab_host_id h;
    cl[i].b = b;
    if (api->host_add(b, &hc, &h) < 0 ||
        api->udp_bind(b, h, 4001, client_rx, &cl[i], &cl[i].sock) < 0 ||
        api->host_public_addr(b, srv, &cl[i].server) < 0 ||
        api->timer_start(b, (uint64_t)i * MS(100) / n, tick, &cl[i], NULL) < 0)
      abort();
    cl[i].server.port = 7;
  }
  long rss1 = rss_kib();
  delivered = 0;
  uint64_t ev0 = api->events_processed(b);
  double t0 = wall();
  if (api->run_until(b, sim_ns) < 0)
    abort();
  double dt = wall() - t0;
  uint64_t ev = api->events_processed(b) - ev0;
  printf("hosts=%zu sim_s=%.0f wall_s=%.3f speed=%.1fx packets_per_s=%.0f "
         "events_per_s=%.0f mem_per_host_bytes=%.0f\n",
         n, (double)sim_ns / 1e9, dt, (double)sim_ns / 1e9 / dt,
         (double)delivered / dt, (double)ev / dt,
         (double)(rss1 - rss0) * 1024.0 / (double)n);
  api->destroy(b);
  free(cl);
}

int main(void) {
  char err[512];
  p2plab_plugin *p;
  if (p2plab_plugin_load("netsim", &p, err, sizeof err) < 0) {
    fprintf(stderr, "bench_netsim: %s\n", err);
    return 3;
  }
  api = p2plab_plugin_api(p);
  run(1000, MS(60000));
  run(10000, MS(10000));
  p2plab_plugin_unload(p);
  return 0;
}
