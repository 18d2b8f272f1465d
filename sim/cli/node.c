/*
 * p2plab node: one real libp2p node on the posix backend (real TCP sockets
 * on 127.0.0.1, the wall clock), running the core's host.
 *
 *   p2plab node [--listen MULTIADDR]... [--dial MULTIADDR] [--ping N]
 *               [--identify] [--seed N] [--timeout SECONDS]
 *
 * Prints one JSON object per line:
 *   {"event":"listening","peer":ID,"addrs":[...]}
 *   {"event":"connected","peer":ID}
 *   {"event":"identify","peer":ID,"agent":...,"protocols":[...],
 *    "listen_addrs":[...]}
 *   {"event":"ping","rtt_ms":N}
 *   {"event":"error","reason":...}
 * A dialler exits 0 once everything asked (identify, N pings) succeeded, 1
 * on an error or the timeout (default 30 s). A node that only listens runs
 * until SIGINT/SIGTERM or --timeout, then exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/host.h"
#include "plugins/loader.h"
#include "sim/cli/cli.h"
#include "sim/engine/rng.h"
#include "sim/hostnet/hostnet.h"

#define MAX_LISTEN 8

typedef struct node {
  const p2plab_backend_api *api;
  p2plab_backend *b;
  sim_hostnet *hn;
  p2p_privkey key;
  p2p_rand rnd;
  int want_identify, pings_wanted; /* what was asked */
  int identified, pings_done, failed, done;
} node;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  (void)sig;
  stop_signal = 1;
}

static void node_help(FILE *f) {
  fprintf(f,
          "usage: p2plab node [--listen MULTIADDR]... [--dial MULTIADDR] "
          "[--ping N]\n"
          "                   [--identify] [--seed N] [--timeout SECONDS]\n"
          "\n"
          "Runs one real libp2p node (TCP on 127.0.0.1, Noise, yamux,\n"
          "identify, ping) and prints one JSON object per line. --seed gives\n"
          "a deterministic identity key. A dialler exits 0 once identify\n"
          "(--identify) and N pings succeeded; a listener runs until\n"
          "SIGINT/SIGTERM or --timeout.\n");
}

static void json_str(const char *s) {
  putchar('"');
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", (unsigned)(unsigned char)*s);
    else
      putchar(*s);
  }
  putchar('"');
}

static void emit_error(node *n, const char *reason) {
  printf("{\"event\":\"error\",\"reason\":");
  json_str(reason);
  printf("}\n");
  fflush(stdout);
  n->failed = 1;
}

static void os_random(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  FILE *f = fopen("/dev/urandom", "rb");
  if (f == NULL || fread(buf, 1, len, f) != len)
    abort(); /* no randomness: nothing safe to do */
  fclose(f);
}

static int peer_str(const p2p_peerid *id, char *buf, size_t len) {
  return id && p2p_peerid_to_string(id, buf, len) > 0 ? 0 : -1;
}

static void print_identify(const p2p_host_event *ev) {
  const p2p_identify_msg *m = ev->identify;
  char peer[128] = "";
  if (peer_str(ev->peer, peer, sizeof peer) < 0)
    peer[0] = '\0';
  printf("{\"event\":\"identify\",\"peer\":\"%s\",\"agent\":", peer);
  json_str(m->agent_version ? m->agent_version : "");
  printf(",\"protocols\":[");
  for (size_t i = 0; i < m->n_protocols; i++) {
    printf("%s", i ? "," : "");
    json_str(m->protocols[i]);
  }
  printf("],\"listen_addrs\":[");
  for (size_t i = 0, k = 0; i < m->n_listen_addrs; i++) {
    char ma[512];
    if (p2p_multiaddr_to_string(&m->listen_addrs[i], ma, sizeof ma) > 0) {
      printf("%s", k++ ? "," : "");
      json_str(ma);
    }
  }
  printf("]}\n");
  fflush(stdout);
}

/* The dialled connection's next step: identify first, then the pings. */
static void next_step(node *n, p2p_conn *c) {
  if (n->want_identify && !n->identified)
    return;
  if (n->pings_done < n->pings_wanted) {
    if (p2p_host_ping(sim_hostnet_host(n->hn), c, n->api->now(n->b)) < 0)
      emit_error(n, "cannot start a ping");
    return;
  }
  n->done = 1;
}

static void on_event(void *ctx, const p2p_host_event *ev, int dialled) {
  node *n = ctx;
  char peer[128] = "";
  switch (ev->type) {
  case P2P_HOST_EV_CONNECTED:
    if (peer_str(ev->peer, peer, sizeof peer) == 0)
      printf("{\"event\":\"connected\",\"peer\":\"%s\"}\n", peer);
    fflush(stdout);
    if (dialled)
      next_step(n, ev->conn);
    break;
  case P2P_HOST_EV_IDENTIFY:
    print_identify(ev);
    if (dialled && !n->identified) {
      n->identified = 1;
      next_step(n, ev->conn);
    }
    break;
  case P2P_HOST_EV_PING:
    printf("{\"event\":\"ping\",\"rtt_ms\":%.3f}\n", (double)ev->rtt_ns / 1e6);
    fflush(stdout);
    if (dialled) {
      n->pings_done++;
      next_step(n, ev->conn);
    }
    break;
  case P2P_HOST_EV_PING_FAILED:
    emit_error(n, ev->reason ? ev->reason : "ping failed");
    break;
  case P2P_HOST_EV_CONN_CLOSED:
    if (dialled && !n->done)
      emit_error(n, ev->reason ? ev->reason : "connection closed");
    break;
  }
}

static void on_log(void *ctx, const char *msg) {
  (void)ctx;
  fprintf(stderr, "p2plab node: %s\n", msg);
}

/* --- main ---------------------------------------------------------------- */

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int cli_node(int argc, char **argv) {
  const char *listen[MAX_LISTEN];
  int n_listen = 0;
  const char *dial = NULL;
  long pings = 0, timeout_s = -1, seed = -1;
  int want_identify = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0) {
      node_help(stdout);
      return CLI_OK;
    } else if (strcmp(a, "--identify") == 0) {
      want_identify = 1;
    } else if (v == NULL && a[0] == '-') {
      fprintf(stderr, "p2plab node: %s needs a value\n", a);
      return CLI_BAD_INPUT;
    } else if (strcmp(a, "--listen") == 0 && n_listen < MAX_LISTEN) {
      listen[n_listen++] = v;
      i++;
    } else if (strcmp(a, "--dial") == 0) {
      dial = v;
      i++;
    } else if (strcmp(a, "--ping") == 0 && parse_int(v, 0, 1000, &pings) == 0) {
      i++;
    } else if (strcmp(a, "--timeout") == 0 &&
               parse_int(v, 1, 86400, &timeout_s) == 0) {
      i++;
    } else if (strcmp(a, "--seed") == 0 &&
               parse_int(v, 0, 0x7fffffff, &seed) == 0) {
      i++;
    } else {
      fprintf(stderr, "p2plab node: bad option or value '%s'\n", a);
      node_help(stderr);
      return CLI_BAD_INPUT;
    }
  }
  if (dial == NULL && n_listen == 0) {
    fprintf(stderr, "p2plab node: nothing to do: give --listen or --dial\n");
    return CLI_BAD_INPUT;
  }

  static node n;
  memset(&n, 0, sizeof n);
  n.rnd = (p2p_rand){.fill = os_random};
  n.want_identify = want_identify;
  n.pings_wanted = (int)pings;
  int rc;
  if (seed >= 0) {
    /* A deterministic identity from the seed; nonces stay random. */
    sim_rng r;
    uint8_t s32[32];
    sim_rng_init(&r, (uint64_t)seed, SIM_RNG_STREAM(SIM_RNG_KIND_HOST, 0));
    sim_rng_fill(&r, s32, sizeof s32);
    rc = p2p_key_from_seed(s32, &n.key);
  } else {
    rc = p2p_key_generate(&n.rnd, &n.key);
  }
  if (rc < 0) {
    fprintf(stderr, "p2plab node: cannot make a key: %s\n", p2p_strerror(rc));
    return CLI_INTERNAL;
  }

  char err[1024];
  p2plab_plugin *plugin = NULL;
  if (p2plab_plugin_load("posix", &plugin, err, sizeof err) < 0) {
    fprintf(stderr, "p2plab node: %s\n", err);
    return CLI_INTERNAL;
  }
  n.api = p2plab_plugin_api(plugin);
  p2plab_backend_config bc = {.seed = 1};
  p2plab_host_config hc = {.name = "node", .behind_nat = P2PLAB_NO_NAT};
  p2plab_host_id hid;
  int status = CLI_OK;
  uint16_t ports[MAX_LISTEN];
  p2p_multiaddr dial_ma = {0};
  if (n.api->create(&bc, &n.b) < 0 || n.api->host_add(n.b, &hc, &hid) < 0) {
    fprintf(stderr, "p2plab node: cannot start the posix backend\n");
    status = CLI_INTERNAL;
    goto out;
  }
  for (int i = 0; i < n_listen; i++) {
    p2p_multiaddr ma;
    uint32_t ip;
    p2p_peerid unused;
    int has_peer = 0;
    int ok =
        p2p_multiaddr_parse(listen[i], &ma) == 0 &&
        p2p_host_tcp_target(&ma, &ip, &ports[i], &unused, &has_peer) == 0 &&
        ip == 0x7f000001u && !has_peer;
    p2p_multiaddr_free(&ma);
    if (!ok) {
      fprintf(stderr,
              "p2plab node: --listen %s: expected /ip4/127.0.0.1/tcp/PORT\n",
              listen[i]);
      status = CLI_BAD_INPUT;
      goto out;
    }
  }
  sim_hostnet_config cfg = {.api = n.api,
                            .b = n.b,
                            .hid = hid,
                            .key = &n.key,
                            .rnd = &n.rnd,
                            .listen_ports = ports,
                            .n_listen = (size_t)n_listen,
                            .on_event = on_event,
                            .log = on_log,
                            .ctx = &n};
  if (sim_hostnet_new(&cfg, &n.hn, err, sizeof err) < 0) {
    fprintf(stderr, "p2plab node: %s\n", err);
    status = CLI_BAD_INPUT;
    goto out;
  }
  char me[128];
  if (peer_str(p2p_host_peer_id(sim_hostnet_host(n.hn)), me, sizeof me) < 0) {
    status = CLI_INTERNAL;
    goto out;
  }
  if (n_listen > 0) {
    printf("{\"event\":\"listening\",\"peer\":\"%s\",\"addrs\":[", me);
    for (int i = 0; i < n_listen; i++) {
      char s[128];
      if (p2p_multiaddr_to_string(sim_hostnet_listen_addr(n.hn, (size_t)i), s,
                                  sizeof s) > 0)
        printf("%s\"%s/p2p/%s\"", i ? "," : "", s, me);
    }
    printf("]}\n");
    fflush(stdout);
  }
  if (dial != NULL) {
    if (p2p_multiaddr_parse(dial, &dial_ma) < 0) {
      fprintf(stderr, "p2plab node: --dial %s: not a valid multiaddr\n", dial);
      status = CLI_BAD_INPUT;
      goto out;
    }
    int rc2 = sim_hostnet_dial(n.hn, &dial_ma);
    if (rc2 == P2P_ERR_INVALID) {
      fprintf(stderr,
              "p2plab node: --dial %s: expected /ip4/A/tcp/PORT[/p2p/ID]\n",
              dial);
      status = CLI_BAD_INPUT;
      goto out;
    }
    if (rc2 < 0)
      emit_error(&n, p2p_strerror(rc2));
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  uint64_t limit = timeout_s > 0 ? (uint64_t)timeout_s * 1000000000ull
                   : dial        ? 30000000000ull
                                 : UINT64_MAX;
  uint64_t start = n.api->now(n.b);
  while (!n.failed && !stop_signal && !(dial && n.done)) {
    uint64_t now = n.api->now(n.b);
    if (limit != UINT64_MAX && now - start >= limit) {
      if (dial)
        emit_error(&n, "timed out");
      break;
    }
    if (n.api->run_until(n.b, now + 200000000ull) < 0) {
      emit_error(&n, "event loop failed");
      break;
    }
  }
  if (dial && !n.done)
    status = CLI_EXPECT_FAILED;
  if (n.failed)
    status = CLI_EXPECT_FAILED;
out:
  sim_hostnet_del(n.hn);
  p2p_multiaddr_free(&dial_ma);
  if (n.b)
    n.api->destroy(n.b);
  p2plab_plugin_unload(plugin);
  p2p_privkey_clear(&n.key);
  return status;
}
