/*
 * p2plab relay / p2plab node: the guides' relay and a full libp2p node, for
 * real, on the posix backend (real TCP and WebSocket sockets on 127.0.0.1,
 * the wall clock), with the same assembly (sim/hostnet/stack.h) the
 * simulator runs.
 *
 *   p2plab relay [--tcp-port P] [--ws-port Q] [--topic T]... [--seed N]
 *                [--timeout S]
 *   p2plab node  [--listen MA]... [--ws-port Q] [--dial MA] [--ping N]
 *                [--identify] [--reserve MA]... [--bootstrap MA]...
 *                [--gossip T]... [--publish N] [--publish-interval MS]
 *                [--publish-prefix S] [--expect-messages N]
 *                [--discovery T] [--linger MS] [--seed N] [--timeout S]
 *
 * One JSON object per line on stdout:
 *   {"event":"listening","peer":ID,"addrs":[...]}
 *   {"event":"connected","peer":ID,"relayed":BOOL}
 *   {"event":"identify","peer":ID,"agent":...,"protocols":[...],
 *    "listen_addrs":[...]}
 *   {"event":"ping","rtt_ms":N,"peer":ID}
 *   {"event":"reserved","relay":ID,"addrs":[...]}
 *   {"event":"message","from":ID,"topic":T,"data":TEXT}
 *   {"event":"published","topic":T,"data":TEXT}
 *   {"event":"discovered","peer":ID,"addrs":[...]}
 *   {"event":"error","reason":...}
 *   {"event":"done","messages":N}
 * A node with goals (--dial with --identify/--ping, --publish,
 * --expect-messages N: N distinct payloads seen, ours included) prints
 * "done" and exits 0 once all are met (after --linger ms, default 1000),
 * 1 on an error or the timeout (default 60 s then). Publishing (payloads
 * PREFIX-0 .. PREFIX-(N-1), PREFIX defaulting to our peer ID) starts once
 * every --bootstrap peer is connected and subscribed to the topic. Without
 * goals it runs until SIGINT/SIGTERM or --timeout and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "p2p/host.h"
#include "plugins/loader.h"
#include "sim/cli/cli.h"
#include "sim/engine/rng.h"
#include "sim/hostnet/stack.h"

#define MAX_ADDRS 8
#define MAX_TOPICS 8
#define MAX_SEEN 256
#define SEC 1000000000ull

typedef struct prog {
  const char *name; /* "relay" or "node" */
  const p2plab_backend_api *api;
  p2plab_backend *b;
  sim_stack *st;
  p2p_privkey key;
  p2p_rand rnd;
  /* goals */
  int has_dial;
  p2p_peerid dial_peer; /* the peer at the end of --dial */
  int dial_has_peer;
  p2p_conn *dial_conn;
  int want_identify, identified;
  long pings_wanted, pings_done;
  long publish_n, published;
  uint64_t publish_interval;
  const char *publish_prefix;
  const char *publish_topic;
  long expect_messages, messages;
  int failed, done;
  uint64_t next_publish;
  uint64_t ready_at;         /* when publishing could start, 0: not yet */
  p2p_peerid seen[MAX_SEEN]; /* discovered peers already reported */
  size_t n_seen;
  char **payloads; /* distinct message payloads seen (ours too) */
  size_t n_payloads;
  /* Publishing waits for every bootstrap peer to be connected and
   * subscribed to the topic. */
  p2p_peerid boot[MAX_ADDRS];
  int boot_ready[MAX_ADDRS];
  size_t n_boot;
} prog;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  (void)sig;
  stop_signal = 1;
}

static void json_str(const char *s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n && s[i]; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void json_cstr(const char *s) {
  json_str(s ? s : "", s ? strlen(s) : 0);
}

static void id_str(const p2p_peerid *id, char *buf, size_t len) {
  if (id == NULL || p2p_peerid_to_string(id, buf, len) < 0)
    snprintf(buf, len, "?");
}

static void emit_error(prog *p, const char *reason) {
  printf("{\"event\":\"error\",\"reason\":");
  json_cstr(reason);
  printf("}\n");
  fflush(stdout);
  p->failed = 1;
}

static void os_random(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  FILE *f = fopen("/dev/urandom", "rb");
  if (f == NULL || fread(buf, 1, len, f) != len)
    abort(); /* no randomness: nothing safe to do */
  fclose(f);
}

static void print_addrs(prog *p, int circuit_only) {
  char me[P2P_PEERID_STR_MAX];
  id_str(p2p_host_peer_id(sim_stack_host(p->st)), me, sizeof me);
  size_t n = 0;
  const p2p_multiaddr *a = p2p_host_addrs(sim_stack_host(p->st), &n);
  printf("[");
  for (size_t i = 0, k = 0; i < n; i++) {
    char s[512];
    if (p2p_multiaddr_to_string(&a[i], s, sizeof s) <= 0)
      continue;
    if (circuit_only && strstr(s, "/p2p-circuit") == NULL)
      continue;
    printf("%s\"%s/p2p/%s\"", k++ ? "," : "", s, me);
  }
  printf("]");
}

static void print_identify(const p2p_host_event *ev) {
  const p2p_identify_msg *m = ev->identify;
  char peer[P2P_PEERID_STR_MAX];
  id_str(ev->peer, peer, sizeof peer);
  printf("{\"event\":\"identify\",\"peer\":\"%s\",\"agent\":", peer);
  json_cstr(m->agent_version);
  printf(",\"protocols\":[");
  for (size_t i = 0; i < m->n_protocols; i++) {
    printf("%s", i ? "," : "");
    json_cstr(m->protocols[i]);
  }
  printf("],\"listen_addrs\":[");
  for (size_t i = 0, k = 0; i < m->n_listen_addrs; i++) {
    char ma[512];
    if (p2p_multiaddr_to_string(&m->listen_addrs[i], ma, sizeof ma) > 0) {
      printf("%s", k++ ? "," : "");
      json_cstr(ma);
    }
  }
  printf("]}\n");
  fflush(stdout);
}

static void check_done(prog *p) {
  if (p->has_dial &&
      (p->dial_conn == NULL || (p->want_identify && !p->identified) ||
       p->pings_done < p->pings_wanted))
    return;
  if (p->published < p->publish_n || p->messages < p->expect_messages)
    return;
  p->done = 1;
}

/* The --dial connection's next step: identify first, then the pings. */
static void dial_step(prog *p, uint64_t now) {
  if (p->dial_conn == NULL || (p->want_identify && !p->identified))
    return;
  if (p->pings_done < p->pings_wanted) {
    if (p2p_host_ping(sim_stack_host(p->st), p->dial_conn, now) < 0)
      emit_error(p, "cannot start a ping");
    return;
  }
  check_done(p);
}

static int is_dial_peer(const prog *p, const p2p_peerid *peer) {
  return p->has_dial && p->dial_has_peer && peer &&
         p2p_peerid_equal(peer, &p->dial_peer);
}

static void on_event(void *ctx, sim_stack *st, const p2p_host_event *ev,
                     int dialled) {
  prog *p = ctx;
  (void)st;
  char peer[P2P_PEERID_STR_MAX];
  id_str(ev->peer, peer, sizeof peer);
  /* Without /p2p/ in --dial, the first connection we dialled is it. */
  int mine = ev->conn && ev->conn == p->dial_conn;
  switch (ev->type) {
  case P2P_HOST_EV_CONNECTED:
    printf("{\"event\":\"connected\",\"peer\":\"%s\",\"relayed\":%s}\n", peer,
           p2p_host_conn_limited(ev->conn) ? "true" : "false");
    fflush(stdout);
    if (p->has_dial && p->dial_conn == NULL &&
        (is_dial_peer(p, ev->peer) || (!p->dial_has_peer && dialled))) {
      p->dial_conn = ev->conn;
      dial_step(p, ev->now);
    }
    break;
  case P2P_HOST_EV_IDENTIFY:
    print_identify(ev);
    if (mine && !p->identified) {
      p->identified = 1;
      dial_step(p, ev->now);
    }
    break;
  case P2P_HOST_EV_PING:
    printf("{\"event\":\"ping\",\"rtt_ms\":%.3f,\"peer\":\"%s\"}\n",
           (double)ev->rtt_ns / 1e6, peer);
    fflush(stdout);
    if (mine) {
      p->pings_done++;
      dial_step(p, ev->now);
    }
    break;
  case P2P_HOST_EV_PING_FAILED:
    if (mine)
      emit_error(p, ev->reason ? ev->reason : "ping failed");
    break;
  case P2P_HOST_EV_CONN_CLOSED:
    if (mine && !p->done) {
      emit_error(p, ev->reason ? ev->reason : "connection closed");
      p->dial_conn = NULL;
    } else if (p->has_dial && p->dial_conn == NULL && !p->done &&
               (dialled || is_dial_peer(p, ev->peer))) {
      /* The dial failed before the connection was up. */
      emit_error(p, ev->reason ? ev->reason : "dial failed");
    }
    break;
  }
}

/* Counts a payload once: the goal --expect-messages counts distinct ones,
 * our own included. */
static void count_payload(prog *p, const uint8_t *d, size_t len) {
  for (size_t i = 0; i < p->n_payloads; i++)
    if (strlen(p->payloads[i]) == len && memcmp(p->payloads[i], d, len) == 0)
      return;
  char **np = realloc(p->payloads, (p->n_payloads + 1) * sizeof *np);
  if (np == NULL)
    return;
  p->payloads = np;
  char *c = malloc(len + 1);
  if (c == NULL)
    return;
  memcpy(c, d, len);
  c[len] = '\0';
  p->payloads[p->n_payloads++] = c;
  p->messages = (long)p->n_payloads;
}

static void on_subscription(void *ctx, sim_stack *st, const p2p_peerid *peer,
                            const char *topic, int subscribed, uint64_t now) {
  prog *p = ctx;
  (void)st;
  (void)now;
  if (p->publish_topic == NULL || strcmp(topic, p->publish_topic) != 0)
    return;
  for (size_t i = 0; i < p->n_boot; i++)
    if (p2p_peerid_equal(&p->boot[i], peer))
      p->boot_ready[i] = subscribed;
}

static void on_discovery(void *ctx, sim_stack *st, const p2p_peerid *peer,
                         const p2p_multiaddr *addrs, size_t n, uint64_t now) {
  prog *p = ctx;
  (void)st;
  (void)now;
  for (size_t i = 0; i < p->n_seen; i++)
    if (p2p_peerid_equal(&p->seen[i], peer))
      return;
  if (p->n_seen < MAX_SEEN)
    p->seen[p->n_seen++] = *peer;
  char id[P2P_PEERID_STR_MAX];
  id_str(peer, id, sizeof id);
  printf("{\"event\":\"discovered\",\"peer\":\"%s\",\"addrs\":[", id);
  for (size_t i = 0, k = 0; i < n; i++) {
    char s[512];
    if (p2p_multiaddr_to_string(&addrs[i], s, sizeof s) > 0) {
      printf("%s", k++ ? "," : "");
      json_cstr(s);
    }
  }
  printf("]}\n");
  fflush(stdout);
}

static void on_message(void *ctx, sim_stack *st, const p2p_gossip_msg *m,
                       uint64_t now) {
  prog *p = ctx;
  (void)st;
  (void)now;
  char from[P2P_PEERID_STR_MAX];
  id_str(m->from, from, sizeof from);
  printf("{\"event\":\"message\",\"from\":\"%s\",\"topic\":", from);
  json_cstr(m->topic);
  printf(",\"data\":");
  json_str((const char *)m->data, m->data_len);
  printf("}\n");
  fflush(stdout);
  count_payload(p, m->data, m->data_len);
  check_done(p);
}

static void on_trace(void *ctx, sim_stack *st, const char *name,
                     const char *fields, uint64_t now) {
  prog *p = ctx;
  (void)st;
  (void)now;
  if (strcmp(name, "relay.reserved") == 0) {
    char relay[P2P_PEERID_STR_MAX] = "?";
    const char *r = strstr(fields, "relay=");
    if (r)
      sscanf(r + 6, "%59s", relay);
    printf("{\"event\":\"reserved\",\"relay\":\"%s\",\"addrs\":", relay);
    print_addrs(p, 1);
    printf("}\n");
    fflush(stdout);
  } else if (strcmp(name, "relay.reservation_failed") == 0) {
    fprintf(stderr, "p2plab %s: reservation failed: %s\n", p->name, fields);
  }
}

static void on_log(void *ctx, const char *msg) {
  prog *p = ctx;
  fprintf(stderr, "p2plab %s: %s\n", p->name, msg);
}

static void publish_next(prog *p, uint64_t now) {
  if (p->published >= p->publish_n || now < p->next_publish)
    return;
  for (size_t i = 0; i < p->n_boot; i++)
    if (!p->boot_ready[i] ||
        p2p_host_find_conn(sim_stack_host(p->st), &p->boot[i]) == NULL)
      return;
  /* One heartbeat more once they are: a peer's subscription can arrive
   * before our stream to it is open, and a message published then misses
   * it for good (flood publishing skips it; a mesh peer gets no gossip). */
  if (p->ready_at == 0) {
    p->ready_at = now;
    return;
  }
  if (now < p->ready_at + 1500000000ull)
    return;
  char data[256];
  snprintf(data, sizeof data, "%s-%ld", p->publish_prefix, p->published);
  int rc = p2p_gossipsub_publish(sim_stack_gossipsub(p->st), p->publish_topic,
                                 (const uint8_t *)data, strlen(data), now, NULL,
                                 NULL, 0);
  if (rc < 0) {
    emit_error(p, "publish failed");
    return;
  }
  printf("{\"event\":\"published\",\"topic\":");
  json_cstr(p->publish_topic);
  printf(",\"data\":");
  json_cstr(data);
  printf("}\n");
  fflush(stdout);
  count_payload(p, (const uint8_t *)data, strlen(data));
  p->published++;
  p->next_publish = now + p->publish_interval;
  check_done(p);
}

/* --- command line -------------------------------------------------------- */

static int parse_int(const char *s, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static void help(FILE *f, int relay) {
  if (relay)
    fprintf(f,
            "usage: p2plab relay [--tcp-port P] [--ws-port Q] [--topic T]...\n"
            "                    [--seed N] [--timeout SECONDS]\n"
            "\n"
            "Runs the guides' relay for real on 127.0.0.1: TCP and WebSocket\n"
            "listeners (defaults 9002 and 9001; 0 picks a free port), the\n"
            "circuit relay v2 hop server, identify, ping and GossipSub\n"
            "subscribed to each --topic. Prints its peer ID and multiaddrs,\n"
            "then one JSON object per line; runs until SIGINT/SIGTERM.\n");
  else
    fprintf(f,
            "usage: p2plab node [--listen MA]... [--ws-port Q] [--dial MA]\n"
            "                   [--ping N] [--identify] [--reserve MA]...\n"
            "                   [--bootstrap MA]... [--gossip TOPIC]...\n"
            "                   [--publish N] [--publish-interval MS]\n"
            "                   [--publish-prefix S] [--expect-messages N]\n"
            "                   [--discovery TOPIC] [--linger MS]\n"
            "                   [--seed N] [--timeout SECONDS]\n"
            "\n"
            "Runs one real libp2p node on 127.0.0.1 (TCP, WebSocket, Noise,\n"
            "yamux, identify, ping, circuit relay v2, GossipSub, pubsub peer\n"
            "discovery) and prints one JSON object per line. --listen takes\n"
            "/ip4/127.0.0.1/tcp/P[/ws]; --dial also takes /p2p-circuit\n"
            "addresses; --reserve keeps a reservation on a relay. A node with\n"
            "goals (--dial with --identify/--ping, --publish,\n"
            "--expect-messages) exits 0 once all are met, 1 on an error or\n"
            "the timeout.\n");
}

static int run(int argc, char **argv, int relay) {
  const char *listen[MAX_ADDRS], *boot[MAX_ADDRS], *topics[MAX_TOPICS];
  int n_listen = 0, n_boot = 0, n_topics = 0, n_reserve = 0;
  const char *dial = NULL, *discovery = NULL;
  long pings = 0, timeout_s = -1, seed = -1, tcp_port = relay ? 9002 : -1;
  long ws_port = relay ? 9001 : -1, publish = 0, interval_ms = 200, expect = 0,
       linger_ms = 1000;
  const char *prefix = NULL;
  int want_identify = 0;
  const char *nm = relay ? "relay" : "node";
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int ok = 1;
    if (strcmp(a, "--help") == 0) {
      help(stdout, relay);
      return CLI_OK;
    } else if (strcmp(a, "--identify") == 0 && !relay) {
      want_identify = 1;
      continue;
    } else if (v == NULL) {
      ok = 0;
    } else if (strcmp(a, "--seed") == 0) {
      ok = parse_int(v, 0, 0x7fffffff, &seed) == 0;
    } else if (strcmp(a, "--timeout") == 0) {
      ok = parse_int(v, 1, 86400, &timeout_s) == 0;
    } else if (strcmp(a, "--ws-port") == 0) {
      ok = parse_int(v, 0, 65535, &ws_port) == 0;
    } else if (relay && strcmp(a, "--tcp-port") == 0) {
      ok = parse_int(v, 0, 65535, &tcp_port) == 0;
    } else if ((strcmp(a, "--topic") == 0 || strcmp(a, "--gossip") == 0) &&
               n_topics < MAX_TOPICS) {
      topics[n_topics++] = v;
    } else if (relay) {
      ok = 0;
    } else if (strcmp(a, "--listen") == 0 && n_listen < MAX_ADDRS) {
      listen[n_listen++] = v;
    } else if (strcmp(a, "--dial") == 0) {
      dial = v;
    } else if (strcmp(a, "--ping") == 0) {
      ok = parse_int(v, 0, 1000, &pings) == 0;
    } else if ((strcmp(a, "--reserve") == 0 || strcmp(a, "--bootstrap") == 0) &&
               n_boot < MAX_ADDRS) {
      /* Reservation targets come first: they are the bootstrap list. */
      if (strcmp(a, "--reserve") == 0) {
        memmove(&boot[n_reserve + 1], &boot[n_reserve],
                (size_t)(n_boot - n_reserve) * sizeof *boot);
        boot[n_reserve++] = v;
      } else {
        boot[n_boot] = v;
      }
      n_boot++;
    } else if (strcmp(a, "--publish") == 0) {
      ok = parse_int(v, 0, 1000000, &publish) == 0;
    } else if (strcmp(a, "--publish-interval") == 0) {
      ok = parse_int(v, 1, 3600000, &interval_ms) == 0;
    } else if (strcmp(a, "--publish-prefix") == 0) {
      prefix = v;
    } else if (strcmp(a, "--expect-messages") == 0) {
      ok = parse_int(v, 0, 1000000, &expect) == 0;
    } else if (strcmp(a, "--discovery") == 0) {
      discovery = v;
    } else if (strcmp(a, "--linger") == 0) {
      ok = parse_int(v, 0, 3600000, &linger_ms) == 0;
    } else {
      ok = 0;
    }
    if (!ok) {
      fprintf(stderr, "p2plab %s: bad option or value '%s'\n", nm, a);
      help(stderr, relay);
      return CLI_BAD_INPUT;
    }
    i++;
  }
  if (!relay && publish > 0 && n_topics == 0) {
    fprintf(stderr, "p2plab node: --publish needs a --gossip topic\n");
    return CLI_BAD_INPUT;
  }
  if (n_reserve && n_boot > n_reserve) {
    fprintf(stderr, "p2plab node: --reserve and --bootstrap cannot be mixed "
                    "(every bootstrap peer of a circuit listener is a relay "
                    "it reserves on)\n");
    return CLI_BAD_INPUT;
  }

  static prog p;
  memset(&p, 0, sizeof p);
  p.name = nm;
  p.rnd = (p2p_rand){.fill = os_random};
  p.want_identify = want_identify;
  p.pings_wanted = pings;
  p.publish_n = publish;
  p.publish_interval = (uint64_t)interval_ms * 1000000ull;
  p.publish_prefix = prefix; /* NULL: our peer ID, set below */
  p.publish_topic = n_topics ? topics[0] : NULL;
  p.expect_messages = expect;
  int rc;
  if (seed >= 0) {
    /* A deterministic identity from the seed; nonces stay random. */
    sim_rng r;
    uint8_t s32[32];
    sim_rng_init(&r, (uint64_t)seed, SIM_RNG_STREAM(SIM_RNG_KIND_HOST, 0));
    sim_rng_fill(&r, s32, sizeof s32);
    rc = p2p_key_from_seed(s32, &p.key);
  } else {
    rc = p2p_key_generate(&p.rnd, &p.key);
  }
  if (rc < 0) {
    fprintf(stderr, "p2plab %s: cannot make a key: %s\n", nm, p2p_strerror(rc));
    return CLI_INTERNAL;
  }

  char err[1024];
  p2plab_plugin *plugin = NULL;
  if (p2plab_plugin_load("posix", &plugin, err, sizeof err) < 0) {
    fprintf(stderr, "p2plab %s: %s\n", nm, err);
    return CLI_INTERNAL;
  }
  p.api = p2plab_plugin_api(plugin);
  p2plab_backend_config bc = {.seed = 1};
  p2plab_host_config hc = {.name = nm, .behind_nat = P2PLAB_NO_NAT};
  p2plab_host_id hid;
  int status = CLI_OK;
  uint16_t tcp[MAX_ADDRS], ws[MAX_ADDRS];
  size_t nt = 0, nw = 0, nb = 0;
  p2p_multiaddr bma[MAX_ADDRS], dial_ma = {0};
  if (p.api->create(&bc, &p.b) < 0 || p.api->host_add(p.b, &hc, &hid) < 0) {
    fprintf(stderr, "p2plab %s: cannot start the posix backend\n", nm);
    status = CLI_INTERNAL;
    goto out;
  }
  if (tcp_port >= 0)
    tcp[nt++] = (uint16_t)tcp_port;
  if (ws_port >= 0)
    ws[nw++] = (uint16_t)ws_port;
  for (int i = 0; i < n_listen; i++) {
    p2p_multiaddr ma = {0};
    uint32_t ip = 0;
    uint16_t port = 0;
    int is_ws = 0, has_peer = 0;
    p2p_peerid unused;
    int ok = p2p_multiaddr_parse(listen[i], &ma) == 0 &&
             p2p_multiaddr_tcp_target(&ma, &ip, &port, &is_ws, &unused,
                                      &has_peer) == 0 &&
             ip == 0x7f000001u && !has_peer;
    p2p_multiaddr_free(&ma);
    if (!ok) {
      fprintf(stderr,
              "p2plab node: --listen %s: expected /ip4/127.0.0.1/tcp/PORT"
              "[/ws]\n",
              listen[i]);
      status = CLI_BAD_INPUT;
      goto out;
    }
    if (is_ws)
      ws[nw++] = port;
    else
      tcp[nt++] = port;
  }
  for (int i = 0; i < n_boot; i++) {
    if (p2p_multiaddr_parse(boot[i], &bma[nb]) < 0) {
      fprintf(stderr, "p2plab %s: %s: not a valid multiaddr\n", nm, boot[i]);
      status = CLI_BAD_INPUT;
      goto out;
    }
    size_t pos = 0;
    p2p_ma_component c;
    while (p.n_boot < MAX_ADDRS && p2p_multiaddr_next(&bma[nb], &pos, &c) == 1)
      if (c.code == P2P_MA_P2P &&
          p2p_peerid_from_bytes(c.value, c.value_len, &p.boot[p.n_boot]) == 0)
        p.n_boot++;
    nb++;
  }
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  uint64_t wall_ns = (uint64_t)wall.tv_sec * SEC + (uint64_t)wall.tv_nsec;
  sim_stack_config sc = {.api = p.api,
                         .unix_offset_ns = wall_ns - p.api->now(p.b),
                         .b = p.b,
                         .hid = hid,
                         .key = &p.key,
                         .rnd = &p.rnd,
                         .tcp_ports = tcp,
                         .n_tcp = nt,
                         .ws_ports = ws,
                         .n_ws = nw,
                         .relay_server = relay,
                         .circuit_listen = n_reserve > 0,
                         .topics = topics,
                         .n_topics = (size_t)n_topics,
                         .bootstrap = bma,
                         .n_bootstrap = nb,
                         .discovery_topic = discovery,
                         .discovery_interval_ns = 1 * SEC,
                         .pubsub = relay,
                         .on_message = on_message,
                         .on_subscription = on_subscription,
                         .on_discovery = on_discovery,
                         .on_event = on_event,
                         .on_trace = on_trace,
                         .log = on_log,
                         .ctx = &p};
  if (relay) {
    /* The guides' relay serves every browser of a demo: generous limits. */
    sc.relay.max_reservations = 1024;
    sc.relay.max_reservations_per_ip = 1024;
    sc.relay.max_circuits = 1024;
    sc.relay.max_circuits_per_peer = 64;
  }
  if (sim_stack_new(&sc, &p.st, err, sizeof err) < 0) {
    fprintf(stderr, "p2plab %s: %s\n", nm, err);
    status = CLI_BAD_INPUT;
    goto out;
  }
  char me[P2P_PEERID_STR_MAX];
  id_str(p2p_host_peer_id(sim_stack_host(p.st)), me, sizeof me);
  if (p.publish_prefix == NULL)
    p.publish_prefix = me;
  if (relay) {
    /* As the guides' relay prints it, for people. */
    fprintf(stderr, "p2plab relay: peer ID %s\n", me);
    for (size_t i = 0; sim_hostnet_listen_addr(sim_stack_hostnet(p.st), i);
         i++) {
      char s[256];
      if (p2p_multiaddr_to_string(
              sim_hostnet_listen_addr(sim_stack_hostnet(p.st), i), s,
              sizeof s) > 0)
        fprintf(stderr, "p2plab relay: listening on %s/p2p/%s\n", s, me);
    }
  }
  if (nt + nw > 0 || relay) {
    printf("{\"event\":\"listening\",\"peer\":\"%s\",\"addrs\":", me);
    print_addrs(&p, 0);
    printf("}\n");
    fflush(stdout);
  }
  if (dial != NULL) {
    p.has_dial = 1;
    if (p2p_multiaddr_parse(dial, &dial_ma) < 0) {
      fprintf(stderr, "p2plab node: --dial %s: not a valid multiaddr\n", dial);
      status = CLI_BAD_INPUT;
      goto out;
    }
    /* The peer is the last /p2p/ of the address. */
    p.dial_has_peer = p2p_multiaddr_last_peer(&dial_ma, &p.dial_peer);
    int rc2 = p2p_host_dial(sim_stack_host(p.st), &dial_ma, p.api->now(p.b));
    if (rc2 == P2P_ERR_INVALID) {
      fprintf(stderr,
              "p2plab node: --dial %s: expected /ip4/A/tcp/PORT[/ws][/p2p/ID]"
              " or a /p2p-circuit address\n",
              dial);
      status = CLI_BAD_INPUT;
      goto out;
    }
    if (rc2 < 0)
      emit_error(&p, p2p_strerror(rc2));
  }

  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  int goals = dial || publish || expect;
  uint64_t limit = timeout_s > 0 ? (uint64_t)timeout_s * SEC
                   : goals       ? 60 * SEC
                                 : UINT64_MAX;
  uint64_t start = p.api->now(p.b), done_at = 0;
  /* Publishing starts once the mesh had a moment to form. */
  p.next_publish = start + SEC;
  check_done(&p);
  while (!p.failed && !stop_signal) {
    uint64_t now = p.api->now(p.b);
    if (goals && p.done) {
      if (done_at == 0) {
        done_at = now;
        printf("{\"event\":\"done\",\"messages\":%ld}\n", p.messages);
        fflush(stdout);
      }
      /* Keep serving a moment: peers may still want our messages. */
      if (now - done_at >= (uint64_t)linger_ms * 1000000ull)
        break;
    }
    if (limit != UINT64_MAX && now - start >= limit) {
      if (goals && !p.done)
        emit_error(&p, "timed out");
      break;
    }
    if (p.publish_topic && p.published < p.publish_n)
      publish_next(&p, now);
    uint64_t step = 50000000ull;
    if (p.api->run_until(p.b, now + step) < 0) {
      emit_error(&p, "event loop failed");
      break;
    }
  }
  if (goals && !p.done)
    status = CLI_EXPECT_FAILED;
  if (p.failed)
    status = CLI_EXPECT_FAILED;
out:
  sim_stack_del(p.st);
  for (size_t i = 0; i < p.n_payloads; i++)
    free(p.payloads[i]);
  free(p.payloads);
  for (size_t i = 0; i < nb; i++)
    p2p_multiaddr_free(&bma[i]);
  p2p_multiaddr_free(&dial_ma);
  if (p.b)
    p.api->destroy(p.b);
  p2plab_plugin_unload(plugin);
  p2p_privkey_clear(&p.key);
  return status;
}

int cli_relay(int argc, char **argv) {
  return run(argc, argv, 1);
}

int cli_node(int argc, char **argv) {
  return run(argc, argv, 0);
}
