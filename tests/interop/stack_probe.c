/* stack_probe: p2plab's libp2p core against a real js-libp2p peer.
 *
 *   stack_probe PORT PEER_ID [PINGS]
 *   stack_probe listen        (prints a "listening" line, accepts one
 *                              connection as the Noise responder)
 *
 * Dials 127.0.0.1:PORT over TCP and runs the whole connection stack the way
 * js-libp2p and go-libp2p do: multistream-select "/noise", the Noise XX
 * handshake (the remote must prove PEER_ID), yamux (chosen in the Noise
 * handshake's muxer extension, or with multistream-select inside Noise
 * when the peer lists no muxers), then yamux streams, each negotiated with
 * multistream-select: it asks the peer for identify ("/ipfs/id/1.0.0"),
 * answers the peer's own identify request, and pings ("/ipfs/ping/1.0.0")
 * PINGS times (default 3). Prints one JSON line per milestone, the same as
 * `p2plab node`:
 *   {"event":"connected","peer":...}
 *   {"event":"identify","peer":...,"agent":...,"protocols":[...],...}
 *   {"event":"ping","rtt_ms":...}
 *   {"event":"error","reason":...}
 * and exits 0 when identify and every ping succeeded. A test program over
 * plain blocking sockets: the host/upgrader of issue 4 will carry the same
 * layering into the sans-IO core. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "p2p/crypto.h"
#include "p2p/identify.h"
#include "p2p/mss.h"
#include "p2p/noise.h"
#include "p2p/peerid.h"
#include "p2p/ping.h"
#include "p2p/yamux.h"

#define ID_PROTO "/ipfs/id/1.0.0"
#define PING_PROTO "/ipfs/ping/1.0.0"
#define MAX_STREAMS 16

enum { S_FREE = 0, S_ID_OUT, S_PING_OUT, S_IN };

typedef struct stream {
  int kind;
  uint32_t id;
  p2p_mss *mss;
  p2p_identify_reader idr;
  p2p_ping_client pc;
  p2p_ping_server ps;
  int served; /* inbound identify answered */
} stream;

typedef struct probe {
  int fd;
  p2p_rand rnd;
  p2p_privkey key;
  p2p_peerid expect;
  p2p_mss *mss1, *mss2;
  p2p_noise *noise;
  p2p_yamux *yamux;
  stream st[MAX_STREAMS];
  int pings_wanted, pings_done, identified, failed, connected;
  int listener; /* 1: we accepted the connection (Noise responder) */
} probe;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fail(probe *p, const char *what) {
  if (!p->failed)
    printf("{\"event\":\"error\",\"reason\":\"%s\"}\n", what);
  p->failed = 1;
}

/* The random source: the OS's, since this is a real node. */
static void os_random(void *ctx, uint8_t *buf, size_t len) {
  (void)ctx;
  FILE *f = fopen("/dev/urandom", "rb");
  if (f == NULL || fread(buf, 1, len, f) != len)
    abort();
  fclose(f);
}

static stream *find(probe *p, uint32_t id) {
  for (int i = 0; i < MAX_STREAMS; i++)
    if (p->st[i].kind != S_FREE && p->st[i].id == id)
      return &p->st[i];
  return NULL;
}

/* Moves a stream's multistream-select output into the stream. */
static void stream_flush_mss(probe *p, stream *s) {
  uint8_t buf[2048];
  ssize_t n;
  while ((n = p2p_mss_send(s->mss, buf, sizeof buf)) > 0)
    if (p2p_yamux_stream_write(p->yamux, s->id, buf, (size_t)n) != n)
      fail(p, "stream write");
}

static stream *stream_new(probe *p, uint32_t id, int kind) {
  for (int i = 0; i < MAX_STREAMS; i++) {
    stream *s = &p->st[i];
    if (s->kind != S_FREE)
      continue;
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->id = id;
    p2p_identify_reader_init(&s->idr);
    p2p_ping_client_init(&s->pc);
    p2p_ping_server_init(&s->ps);
    int rc;
    if (kind == S_IN) {
      const char *protos[] = {ID_PROTO, PING_PROTO};
      rc = p2p_mss_listener_new(&s->mss, protos, 2, NULL, NULL);
    } else {
      const char *protos[] = {kind == S_ID_OUT ? ID_PROTO : PING_PROTO};
      rc = p2p_mss_dialer_new(&s->mss, protos, 1);
    }
    if (rc < 0) {
      fail(p, "stream negotiation setup");
      return NULL;
    }
    stream_flush_mss(p, s);
    return s;
  }
  fail(p, "too many streams");
  return NULL;
}

static void start_ping(probe *p, stream *s) {
  uint8_t buf[P2P_PING_PAYLOAD_LEN];
  if (p2p_ping_client_start(&s->pc, &p->rnd, now_ns(), buf, sizeof buf) !=
          P2P_PING_PAYLOAD_LEN ||
      p2p_yamux_stream_write(p->yamux, s->id, buf, sizeof buf) !=
          P2P_PING_PAYLOAD_LEN)
    fail(p, "ping start");
}

static void print_identify(probe *p, const p2p_identify_msg *m) {
  char peer[128] = "";
  p2p_peerid pid;
  if (m->has_public_key && p2p_peerid_from_pubkey(&m->public_key, &pid) == 0 &&
      p2p_peerid_to_string(&pid, peer, sizeof peer) < 0)
    peer[0] = '\0';
  printf("{\"event\":\"identify\",\"peer\":\"%s\",\"agent\":\"%s\","
         "\"protocols\":[",
         peer, m->agent_version ? m->agent_version : "");
  for (size_t i = 0; i < m->n_protocols; i++)
    printf("%s\"%s\"", i ? "," : "", m->protocols[i]);
  printf("],\"listen_addrs\":[");
  for (size_t i = 0; i < m->n_listen_addrs; i++) {
    char ma[512];
    if (p2p_multiaddr_to_string(&m->listen_addrs[i], ma, sizeof ma) > 0)
      printf("%s\"%s\"", i ? "," : "", ma);
  }
  printf("],\"signed_peer_record\":%s}\n",
         m->has_peer_record ? "true" : "false");
  fflush(stdout);
  /* The identify answer must come from the peer Noise authenticated. */
  if (!m->has_public_key ||
      !p2p_peerid_equal(&pid, p2p_noise_remote_peer(p->noise)))
    fail(p, "identify public key is not the authenticated peer's");
}

/* Answers the peer's identify request on an inbound stream. */
static void serve_identify(probe *p, stream *s) {
  uint8_t pub[64], msg[1024];
  ssize_t pl = p2p_pubkey_marshal(&p->key.pub, pub, sizeof pub);
  const char *protos[] = {ID_PROTO, PING_PROTO};
  p2p_identify_info info = {.public_key = pub,
                            .public_key_len = pl > 0 ? (size_t)pl : 0,
                            .protocols = protos,
                            .n_protocols = 2,
                            .protocol_version = P2P_IDENTIFY_PROTOCOL_VERSION,
                            .agent_version = "p2plab/stack_probe"};
  ssize_t n = p2p_identify_build(&info, msg, sizeof msg);
  /* Our half-close waits for the peer's (on_fin): js-libp2p's
   * multistream-select hands bytes it read ahead back to the stream after
   * selecting, which fails when our FIN came in the same read. */
  if (pl < 0 || n < 0 ||
      p2p_yamux_stream_write(p->yamux, s->id, msg, (size_t)n) != n)
    fail(p, "identify answer");
  s->served = 1;
}

/* The peer half-closed an inbound stream: we are done with it too. */
static void on_fin(p2p_yamux *y, uint32_t id, void *user) {
  stream *s = find(user, id);
  if (s != NULL && s->kind == S_IN && p2p_yamux_stream_close(y, id) < 0)
    fail(user, "stream close");
}

/* Application bytes on a stream, after its negotiation. */
static void stream_app(probe *p, stream *s, const uint8_t *d, size_t len) {
  const char *sel = p2p_mss_selected(s->mss);
  while (len > 0 && !p->failed) {
    if (s->kind == S_ID_OUT) {
      ssize_t used = p2p_identify_reader_recv(&s->idr, d, len);
      if (used < 0) {
        fail(p, "bad identify message");
        return;
      }
      if (p2p_identify_reader_done(&s->idr) && !p->identified) {
        p2p_identify_msg m;
        if (p2p_identify_reader_take(&s->idr, &m) == 0) {
          print_identify(p, &m);
          p2p_identify_msg_free(&m);
          p->identified = 1;
        }
      }
      return; /* anything after the message is the peer's excess */
    } else if (s->kind == S_PING_OUT) {
      size_t used = 0;
      uint64_t rtt = 0;
      int r = p2p_ping_client_recv(&s->pc, d, len, now_ns(), &used, &rtt);
      if (r < 0) {
        fail(p, "ping echo mismatch");
        return;
      }
      d += used;
      len -= used;
      if (r == 1) {
        printf("{\"event\":\"ping\",\"rtt_ms\":%.3f}\n", (double)rtt / 1e6);
        fflush(stdout);
        if (++p->pings_done < p->pings_wanted)
          start_ping(p, s);
        else if (p2p_yamux_stream_close(p->yamux, s->id) < 0)
          fail(p, "ping close");
      }
      if (used == 0)
        return;
    } else if (sel && strcmp(sel, PING_PROTO) == 0) {
      uint8_t out[256];
      size_t used = 0;
      ssize_t n = p2p_ping_server_recv(&s->ps, d, len, out, sizeof out, &used);
      if (n < 0 || (n > 0 && p2p_yamux_stream_write(p->yamux, s->id, out,
                                                    (size_t)n) != n))
        fail(p, "ping serve");
      d += used;
      len -= used;
      if (used == 0)
        return;
    } else {
      return; /* the peer's identify stream sends nothing after proposing */
    }
  }
}

static void on_data(p2p_yamux *y, uint32_t id, const uint8_t *d, size_t len,
                    void *user) {
  probe *p = user;
  stream *s = find(p, id);
  if (p2p_yamux_stream_consume(y, id, len) < 0 || s == NULL)
    return;
  if (p2p_mss_state(s->mss) == P2P_MSS_NEGOTIATING) {
    ssize_t used = p2p_mss_recv(s->mss, d, len);
    stream_flush_mss(p, s);
    if (used < 0) {
      fail(p, "stream negotiation failed");
      return;
    }
    if (p2p_mss_state(s->mss) != P2P_MSS_DONE)
      return;
    d += used;
    len -= (size_t)used;
    if (s->kind == S_IN && strcmp(p2p_mss_selected(s->mss), ID_PROTO) == 0)
      serve_identify(p, s);
    if (s->kind == S_PING_OUT)
      start_ping(p, s);
  }
  if (len)
    stream_app(p, s, d, len);
}

static void on_open(p2p_yamux *y, uint32_t id, void *user) {
  (void)y;
  stream_new(user, id, S_IN);
}

static void on_closed(p2p_yamux *y, uint32_t id, void *user) {
  (void)y;
  stream *s = find(user, id);
  if (s) {
    p2p_mss_del(s->mss);
    p2p_identify_reader_free(&s->idr);
    s->kind = S_FREE;
  }
}

/* Pushes every layer's output down to the socket. */
static int flush(probe *p) {
  uint8_t buf[70000];
  ssize_t n;
  while ((n = p2p_mss_send(p->mss1, buf, sizeof buf)) > 0)
    if (write(p->fd, buf, (size_t)n) != n)
      return -1;
  if (p->noise == NULL)
    return 0;
  if (p2p_noise_state(p->noise) == P2P_NOISE_ESTABLISHED) {
    if (p->mss2)
      while ((n = p2p_mss_send(p->mss2, buf, sizeof buf)) > 0)
        if (p2p_noise_write(p->noise, buf, (size_t)n) != n)
          return -1;
    if (p->yamux)
      while ((n = p2p_yamux_send(p->yamux, buf, 60000, now_ns())) > 0)
        if (p2p_noise_write(p->noise, buf, (size_t)n) != n)
          return -1;
  }
  while ((n = p2p_noise_send(p->noise, buf, sizeof buf)) > 0)
    if (write(p->fd, buf, (size_t)n) != n)
      return -1;
  return 0;
}

static void start_yamux(probe *p) {
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, !p->listener);
  p2p_yamux_callbacks cb = {.on_stream_open = on_open,
                            .on_data = on_data,
                            .on_stream_fin = on_fin,
                            .on_stream_closed = on_closed};
  uint32_t id;
  /* We identify the peer either way; only a dialer pings. */
  if (p2p_yamux_new(&cfg, &cb, p, &p->yamux) < 0 ||
      p2p_yamux_stream_open(p->yamux, &id) < 0 || !stream_new(p, id, S_ID_OUT))
    fail(p, "yamux setup");
  else if (p->pings_wanted > 0 && (p2p_yamux_stream_open(p->yamux, &id) < 0 ||
                                   !stream_new(p, id, S_PING_OUT)))
    fail(p, "yamux setup");
}

/* Plaintext from Noise: multistream-select for the muxer, then yamux. */
static void on_plain(probe *p, const uint8_t *d, size_t len) {
  if (p->mss2 && p2p_mss_state(p->mss2) == P2P_MSS_NEGOTIATING) {
    ssize_t used = p2p_mss_recv(p->mss2, d, len);
    if (used < 0) {
      fail(p, "muxer negotiation failed");
      return;
    }
    if (p2p_mss_state(p->mss2) != P2P_MSS_DONE)
      return;
    start_yamux(p);
    d += used;
    len -= (size_t)used;
  }
  if (len && p->yamux && p2p_yamux_recv(p->yamux, d, len, now_ns()) < 0)
    fail(p, p2p_yamux_error_reason(p->yamux));
}

static void on_bytes(probe *p, const uint8_t *d, size_t len) {
  if (p2p_mss_state(p->mss1) == P2P_MSS_NEGOTIATING) {
    ssize_t used = p2p_mss_recv(p->mss1, d, len);
    if (used < 0) {
      fail(p, "security negotiation failed");
      return;
    }
    if (p2p_mss_state(p->mss1) != P2P_MSS_DONE)
      return;
    const char *mux[] = {"/yamux/1.0.0"};
    if (p2p_noise_new(p->listener ? P2P_NOISE_RESPONDER : P2P_NOISE_INITIATOR,
                      &p->key, p->listener ? NULL : &p->expect, mux, 1, &p->rnd,
                      &p->noise) < 0) {
      fail(p, "noise setup");
      return;
    }
    d += used;
    len -= (size_t)used;
  }
  while (len > 0 && !p->failed) {
    int was = p2p_noise_state(p->noise);
    ssize_t used = p2p_noise_recv(p->noise, d, len);
    if (used < 0) {
      fail(p, p2p_noise_reason(p->noise));
      return;
    }
    d += used;
    len -= (size_t)used;
    if (was != P2P_NOISE_ESTABLISHED &&
        p2p_noise_state(p->noise) == P2P_NOISE_ESTABLISHED) {
      char peer[128];
      if (p2p_peerid_to_string(p2p_noise_remote_peer(p->noise), peer,
                               sizeof peer) > 0)
        printf("{\"event\":\"connected\",\"peer\":\"%s\"}\n", peer);
      fflush(stdout);
      p->connected = 1;
      /* Early muxer negotiation (libp2p noise spec): when both sides list
       * stream muxers in the handshake's extensions, the muxer is the
       * first of the initiator's (ours: yamux) that the responder also
       * lists, and no multistream-select round follows. Otherwise the
       * muxer is negotiated with multistream-select inside Noise. */
      size_t nm = 0;
      const char *const *rm = p2p_noise_remote_muxers(p->noise, &nm);
      int early = 0;
      for (size_t i = 0; i < nm; i++)
        early |= strcmp(rm[i], "/yamux/1.0.0") == 0;
      if (early) {
        start_yamux(p);
      } else {
        const char *protos[] = {"/yamux/1.0.0"};
        if ((p->listener ? p2p_mss_listener_new(&p->mss2, protos, 1, NULL, NULL)
                         : p2p_mss_dialer_new(&p->mss2, protos, 1)) < 0)
          fail(p, "muxer negotiation setup");
      }
    }
    uint8_t plain[65536];
    ssize_t n;
    while (!p->failed &&
           (n = p2p_noise_read(p->noise, plain, sizeof plain)) > 0)
      on_plain(p, plain, (size_t)n);
    if (used == 0)
      break;
  }
}

int main(int argc, char **argv) {
  static probe p;
  p.rnd = (p2p_rand){.fill = os_random};
  int listen_mode = argc >= 2 && strcmp(argv[1], "listen") == 0;
  if (!listen_mode && argc < 3) {
    fprintf(stderr, "usage: stack_probe PORT PEER_ID [PINGS]\n"
                    "       stack_probe listen\n");
    return 2;
  }
  if (p2p_key_generate(&p.rnd, &p.key) < 0)
    return 3;
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  p.fd = socket(AF_INET, SOCK_STREAM, 0);
  if (p.fd < 0)
    return 3;
  const char *sec[] = {P2P_NOISE_PROTOCOL_ID};
  if (listen_mode) {
    /* Accept one connection; serve identify and ping; identify the dialer;
     * stop when it closes the connection. */
    p.listener = 1;
    p2p_peerid me;
    char id[128];
    socklen_t slen = sizeof sa;
    if (p2p_peerid_from_pubkey(&p.key.pub, &me) < 0 ||
        p2p_peerid_to_string(&me, id, sizeof id) < 0 ||
        bind(p.fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(p.fd, 1) != 0 ||
        getsockname(p.fd, (struct sockaddr *)&sa, &slen) != 0)
      return 3;
    printf("{\"event\":\"listening\",\"peer\":\"%s\",\"addrs\":"
           "[\"/ip4/127.0.0.1/tcp/%u/p2p/%s\"]}\n",
           id, (unsigned)ntohs(sa.sin_port), id);
    fflush(stdout);
    struct pollfd lp = {.fd = p.fd, .events = POLLIN};
    if (poll(&lp, 1, 15000) <= 0) {
      fail(&p, "nobody dialled");
      return 1;
    }
    int c = accept(p.fd, NULL, NULL);
    close(p.fd);
    p.fd = c;
    if (c < 0 || p2p_mss_listener_new(&p.mss1, sec, 1, NULL, NULL) < 0)
      return 3;
  } else {
    p.pings_wanted = argc > 3 ? atoi(argv[3]) : 3;
    if (p2p_peerid_parse(argv[2], strlen(argv[2]), &p.expect) < 0) {
      fail(&p, "bad peer id argument");
      return 2;
    }
    if (p2p_mss_dialer_new(&p.mss1, sec, 1) < 0)
      return 3;
    sa.sin_port = htons((uint16_t)atoi(argv[1]));
    if (connect(p.fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      fail(&p, "connect failed");
      return 1;
    }
  }
  uint64_t deadline = now_ns() + 15000000000ull;
  while (!p.failed &&
         (p.listener || !(p.identified && p.pings_done >= p.pings_wanted))) {
    if (flush(&p) < 0) {
      fail(&p, "socket write failed");
      break;
    }
    struct pollfd pfd = {.fd = p.fd, .events = POLLIN};
    int64_t left = (int64_t)(deadline - now_ns()) / 1000000;
    if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
      fail(&p, "timed out");
      break;
    }
    uint8_t buf[65536];
    ssize_t n = read(p.fd, buf, sizeof buf);
    if (n <= 0) {
      /* For a listener the dialer hanging up is the normal end. */
      if (!p.listener || !p.identified)
        fail(&p, "connection closed by the peer");
      break;
    }
    on_bytes(&p, buf, (size_t)n);
  }
  /* Keep serving a moment: the peer's own identify of us and our last
   * stream closes still have to go through. */
  uint64_t linger = now_ns() + 1000000000ull;
  while (!p.failed && now_ns() < linger) {
    if (flush(&p) < 0)
      break;
    struct pollfd pfd = {.fd = p.fd, .events = POLLIN};
    if (poll(&pfd, 1, 100) <= 0)
      continue;
    uint8_t buf[65536];
    ssize_t n = read(p.fd, buf, sizeof buf);
    if (n <= 0)
      break;
    on_bytes(&p, buf, (size_t)n);
  }
  for (int i = 0; i < MAX_STREAMS; i++)
    if (p.st[i].kind != S_FREE) {
      p2p_mss_del(p.st[i].mss);
      p2p_identify_reader_free(&p.st[i].idr);
    }
  p2p_yamux_del(p.yamux);
  p2p_noise_del(p.noise);
  p2p_mss_del(p.mss1);
  p2p_mss_del(p.mss2);
  close(p.fd);
  return p.failed ? 1 : 0;
}
