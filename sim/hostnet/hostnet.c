/*
 * The glue between a core host and a backend (see hostnet.h).
 *
 * Each TCP connection has a record that lives until both the transport and
 * the host are done with it: the host says so with conn_close, the
 * transport with on_close (or we abort it). A record without a host
 * connection (a dial in progress, a WebSocket upgrade under way) counts as
 * done on the host side. Records are freed only between calls (sweep),
 * never inside a callback of either side.
 *
 * A WebSocket connection puts a p2p_ws between TCP and the host: TCP bytes
 * go to p2p_ws_recv, p2p_ws_read output to p2p_host_conn_recv, the host's
 * writes to p2p_ws_write, and p2p_ws_send output to tcp_send. The bytes
 * move through stack buffers, so steady-state frames allocate nothing here
 * (p2p_ws keeps its own buffers).
 */
#include "sim/hostnet/hostnet.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/websocket.h"
#include "sim/util/errbuf.h"

#define MAX_LISTEN SIM_HOSTNET_MAX_LISTEN
/* Bytes moved per step between p2p_ws and TCP or the host. */
#define IO_CHUNK 16384

typedef struct hn_listener {
  sim_hostnet *hn;
  p2plab_tcp_listener *l;
  int ws; /* accepted connections speak WebSocket */
} hn_listener;

typedef struct hn_conn {
  sim_hostnet *hn;
  p2plab_tcp *tcp;
  p2p_conn *pc;
  p2p_ws *ws;            /* WebSocket connections only */
  p2p_multiaddr dial_ma; /* dialled: the address */
  p2p_peerid peer;       /* dialled: the expected peer when has_peer */
  int has_peer;
  int dialled;
  int dial_pending;   /* dialled; neither the host conn nor a failure yet */
  int tcp_up;         /* TCP connected (accepted, or on_connect) */
  int tcp_gone;       /* the transport is closed (on_close or our abort) */
  int host_closed;    /* the host called conn_close, or has no connection */
  int shut;           /* we sent FIN */
  int eof_sent;       /* p2p_host_conn_eof was called */
  p2plab_timer timer; /* WebSocket upgrade timeout, then close linger */
  uint64_t timer_at;  /* 0: not armed */
  struct hn_conn *next;
} hn_conn;

struct sim_hostnet {
  sim_hostnet_config cfg;
  p2p_host *host;
  hn_listener lst[2 * MAX_LISTEN];
  p2p_multiaddr addrs[2 * MAX_LISTEN];
  size_t n_listen; /* listeners bound (TCP then WebSocket) */
  hn_conn *conns;
  p2plab_timer timer;
  uint64_t timer_at; /* 0: no timer armed */
  int depth;         /* calls into the host in progress */
  int reporting;     /* a dial failure of ours is being reported */
  int sweep_due;     /* a connection may be finished: sweep walks */
};

static void on_timer(void *ctx, uint64_t now);
static void on_conn_timer(void *ctx, uint64_t now);

__attribute__((format(printf, 2, 3))) static void
hn_logf(sim_hostnet *hn, const char *fmt, ...) {
  if (hn->cfg.log == NULL)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  hn->cfg.log(hn->cfg.ctx, msg);
}

static void conn_timer_cancel(hn_conn *hc) {
  if (hc->timer_at) {
    (void)hc->hn->cfg.api->timer_cancel(hc->hn->cfg.b, hc->timer);
    hc->timer_at = 0;
  }
}

static void conn_timer_arm(hn_conn *hc, uint64_t delay_ns) {
  const p2plab_backend_api *api = hc->hn->cfg.api;
  conn_timer_cancel(hc);
  uint64_t at = api->now(hc->hn->cfg.b) + delay_ns;
  if (api->timer_start(hc->hn->cfg.b, at, on_conn_timer, hc, &hc->timer) == 0)
    hc->timer_at = at;
  else
    hn_logf(hc->hn, "cannot start a WebSocket timer: no timeout applies");
}

static void conn_free(sim_hostnet *hn, hn_conn *c) {
  conn_timer_cancel(c);
  if (c->pc)
    p2p_host_conn_free(hn->host, c->pc);
  p2p_ws_del(c->ws);
  p2p_multiaddr_free(&c->dial_ma);
  free(c);
}

static void sweep(sim_hostnet *hn) {
  if (!hn->sweep_due)
    return; /* nothing finished: no walk over every connection */
  hn->sweep_due = 0;
  for (hn_conn **pp = &hn->conns; *pp;) {
    hn_conn *c = *pp;
    if (c->tcp_gone && c->host_closed) {
      *pp = c->next;
      conn_free(hn, c);
    } else {
      pp = &c->next;
    }
  }
}

/* After every call into the host: arm the backend timer for the host's
 * next deadline, and free finished connections. */
static void after(sim_hostnet *hn) {
  if (hn->depth > 0)
    return;
  uint64_t exp = p2p_host_expiry(hn->host);
  if (exp != hn->timer_at) {
    if (hn->timer_at)
      (void)hn->cfg.api->timer_cancel(hn->cfg.b, hn->timer);
    hn->timer_at = 0;
    if (exp != UINT64_MAX) {
      uint64_t now = hn->cfg.api->now(hn->cfg.b);
      if (exp < now)
        exp = now;
      if (hn->cfg.api->timer_start(hn->cfg.b, exp, on_timer, hn, &hn->timer) ==
          0)
        hn->timer_at = exp;
    }
  }
  sweep(hn);
}

static void on_timer(void *ctx, uint64_t now) {
  sim_hostnet *hn = ctx;
  hn->timer_at = 0;
  hn->depth++;
  p2p_host_on_expiry(hn->host, now);
  hn->depth--;
  after(hn);
}

/* --- transport helpers --------------------------------------------------- */

static void tcp_abort(hn_conn *hc) {
  if (hc->tcp_gone)
    return;
  hc->hn->cfg.api->tcp_abort(hc->tcp); /* no on_close follows an abort */
  hc->tcp_gone = 1;
  hc->hn->sweep_due = 1;
  conn_timer_cancel(hc);
}

/* Hands the WebSocket's queued output to TCP. */
static int ws_flush(hn_conn *hc) {
  uint8_t buf[IO_CHUNK];
  for (;;) {
    if (hc->tcp_gone)
      return p2p_ws_pending(hc->ws) ? P2P_ERR_STATE : 0;
    ssize_t n = p2p_ws_send(hc->ws, buf, sizeof buf);
    if (n <= 0)
      return (int)n;
    int rc = hc->hn->cfg.api->tcp_send(hc->tcp, buf, (size_t)n);
    if (rc < 0)
      return rc;
  }
}

/* Sends what is queued, then FIN; a WebSocket connection whose peer does
 * not close within the linger time is reset. */
static void close_gracefully(hn_conn *hc) {
  if (hc->tcp_gone || hc->shut)
    return;
  if ((hc->ws && ws_flush(hc) < 0) ||
      hc->hn->cfg.api->tcp_shutdown(hc->tcp) < 0) {
    tcp_abort(hc);
    return;
  }
  hc->shut = 1;
  if (hc->ws)
    conn_timer_arm(hc, SIM_HOSTNET_WS_LINGER_NS);
}

/* Reports the failure of a dial still in progress (once). */
static void report_dial_failure(hn_conn *hc, int err, const char *reason,
                                uint64_t now) {
  sim_hostnet *hn = hc->hn;
  if (!hc->dial_pending)
    return;
  hc->dial_pending = 0;
  /* The host tells its services and calls on_event, where `reporting`
   * marks the event as the outcome of our dial. */
  hn->reporting++;
  hn->depth++;
  p2p_host_report_dial_failure(hn->host, &hc->dial_ma, err, reason, now);
  hn->depth--;
  hn->reporting--;
}

/* "A.B.C.D:P" of the connection's peer, for logs. */
static void remote_str(hn_conn *hc, char *buf, size_t len) {
  p2plab_addr a;
  if (hc->tcp_gone || hc->hn->cfg.api->tcp_remote_addr(hc->tcp, &a) < 0) {
    snprintf(buf, len, "?");
    return;
  }
  uint32_t ip = a.ip.v4;
  snprintf(buf, len, "%u.%u.%u.%u:%u", ip >> 24, (ip >> 16) & 0xff,
           (ip >> 8) & 0xff, ip & 0xff, (unsigned)a.port);
}

/* --- host callbacks ------------------------------------------------------ */

static int conn_write(void *ctx, p2p_conn *c, const uint8_t *buf, size_t len) {
  sim_hostnet *hn = ctx;
  hn_conn *hc = p2p_host_conn_user(c);
  if (hc->tcp_gone)
    return P2P_ERR_STATE;
  if (hc->ws == NULL)
    return hn->cfg.api->tcp_send(hc->tcp, buf, len);
  int rc = p2p_ws_write(hc->ws, buf, len);
  if (rc < 0)
    return rc;
  return ws_flush(hc);
}

static void conn_close(void *ctx, p2p_conn *c, int err) {
  sim_hostnet *hn = ctx;
  hn_conn *hc = p2p_host_conn_user(c);
  hc->host_closed = 1;
  hc->hn->sweep_due = 1;
  if (hc->tcp_gone)
    return;
  if (hc->ws == NULL) {
    if (err < 0 || hn->cfg.api->tcp_shutdown(hc->tcp) < 0)
      tcp_abort(hc);
    else
      hc->shut = 1;
    return;
  }
  /* A failed WebSocket has queued its close frame: send it. Other errors
   * reset the connection, as for plain TCP. */
  int st = p2p_ws_state(hc->ws);
  if (err < 0 && st != P2P_WS_FAILED) {
    tcp_abort(hc);
    return;
  }
  if (st == P2P_WS_OPEN && p2p_ws_close(hc->ws, P2P_WS_CLOSE_NORMAL) < 0)
    hn_logf(hn, "cannot start the WebSocket close handshake");
  close_gracefully(hc);
}

static void on_event(void *ctx, const p2p_host_event *ev) {
  sim_hostnet *hn = ctx;
  /* Connections the host made itself (relayed) are not ours. */
  hn_conn *hc = ev->conn && !p2p_host_conn_limited(ev->conn)
                    ? p2p_host_conn_user(ev->conn)
                    : NULL;
  int dialled = hc ? hc->dialled : ev->conn == NULL && hn->reporting > 0;
  if (hn->cfg.on_event)
    hn->cfg.on_event(hn->cfg.ctx, ev, dialled);
}

static void on_log(void *ctx, const char *msg) {
  sim_hostnet *hn = ctx;
  if (hn->cfg.log)
    hn->cfg.log(hn->cfg.ctx, msg);
}

static int dial_addr(sim_hostnet *hn, const p2p_multiaddr *ma);

static int host_dial(void *ctx, const p2p_multiaddr *ma) {
  return dial_addr(ctx, ma);
}

/* --- connections --------------------------------------------------------- */

/* The multiaddr /ip4/A/tcp/P[/ws] of a backend address. */
static int tcp_multiaddr(const p2plab_addr *a, int ws, p2p_multiaddr *out) {
  char s[64];
  uint32_t ip = a->ip.v4;
  snprintf(s, sizeof s, "/ip4/%u.%u.%u.%u/tcp/%u%s", ip >> 24,
           (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff, (unsigned)a->port,
           ws ? "/ws" : "");
  return p2p_multiaddr_parse(s, out);
}

/* Hands the transport connection to the host. */
static int start_conn(sim_hostnet *hn, hn_conn *hc, uint64_t now) {
  p2plab_addr ra;
  p2p_multiaddr remote = {0};
  if (hn->cfg.api->tcp_remote_addr(hc->tcp, &ra) == 0 &&
      tcp_multiaddr(&ra, hc->ws != NULL, &remote) < 0)
    remote = (p2p_multiaddr){0};
  hc->host_closed = 0;
  hn->depth++;
  int rc =
      p2p_host_conn_new(hn->host, hc->dialled, hc->has_peer ? &hc->peer : NULL,
                        remote.len ? &remote : NULL, hc, now, &hc->pc);
  hn->depth--;
  p2p_multiaddr_free(&remote);
  if (rc < 0) {
    hc->pc = NULL;
    hc->host_closed = 1;
    hc->hn->sweep_due = 1;
    tcp_abort(hc);
    report_dial_failure(hc, rc, "the host refused the new connection", now);
    return rc;
  }
  hc->dial_pending = 0;
  return 0;
}

/* The WebSocket failed (malformed input, a refused upgrade): send what it
 * queued (a 400 answer, a close frame), close, and tell the host. */
static void ws_failed(hn_conn *hc, uint64_t now) {
  sim_hostnet *hn = hc->hn;
  int err = p2p_ws_error(hc->ws);
  const char *why = p2p_ws_reason(hc->ws);
  char peer[32];
  remote_str(hc, peer, sizeof peer);
  hn_logf(hn, "WebSocket connection with %s failed: %s", peer,
          why ? why : "unknown reason");
  if (err >= 0)
    err = P2P_ERR_PROTO;
  if (hc->pc && !hc->host_closed && !hc->eof_sent) {
    hc->eof_sent = 1;
    p2p_host_conn_eof(hn->host, hc->pc, err, now); /* conn_close follows */
  } else {
    report_dial_failure(hc, err, "the WebSocket handshake failed", now);
  }
  close_gracefully(hc);
}

/* TCP bytes of a WebSocket connection. p2p_ws_recv takes fewer bytes when
 * its receive buffer is full: the loop reads it out and feeds the rest. */
static void ws_input(hn_conn *hc, const uint8_t *buf, size_t len,
                     uint64_t now) {
  sim_hostnet *hn = hc->hn;
  uint8_t chunk[IO_CHUNK];
  size_t off = 0;
  while (!hc->tcp_gone) {
    ssize_t n = 0;
    if (off < len) {
      n = p2p_ws_recv(hc->ws, buf + off, len - off);
      if (n < 0) {
        ws_failed(hc, now);
        return;
      }
      off += (size_t)n;
    }
    /* The 101 answer, pongs, a close echo. */
    if (ws_flush(hc) < 0) {
      tcp_abort(hc);
      if (hc->pc && !hc->host_closed && !hc->eof_sent) {
        hc->eof_sent = 1;
        p2p_host_conn_eof(hn->host, hc->pc, P2P_ERR_IO, now);
      }
      report_dial_failure(hc, P2P_ERR_IO, "cannot send on TCP", now);
      return;
    }
    int moved = 0;
    if (hc->pc == NULL) {
      /* A server also waits for the client's first bytes (in libp2p the
       * dialer speaks first): a js-libp2p client (the `ws` package) can
       * lose a message that arrives together with the 101 answer. */
      int ready =
          p2p_ws_state(hc->ws) != P2P_WS_HANDSHAKE &&
          (hc->dialled || p2p_ws_readable(hc->ws) > 0 || p2p_ws_eof(hc->ws));
      if (!ready) {
        if (off < len && n > 0)
          continue;
        if (off >= len)
          return; /* the upgrade needs more bytes */
      } else {
        conn_timer_cancel(hc); /* the upgrade is done */
        if (start_conn(hn, hc, now) < 0)
          return;
        moved = 1;
      }
    }
    ssize_t r;
    while (!hc->tcp_gone && hc->pc &&
           (r = p2p_ws_read(hc->ws, chunk, sizeof chunk)) > 0) {
      moved = 1;
      if (!hc->host_closed)
        p2p_host_conn_recv(hn->host, hc->pc, chunk, (size_t)r, now);
    }
    if (off >= len)
      break;
    if (n == 0 && !moved) {
      /* Nothing taken and nothing to take: the codec is stuck. */
      hn_logf(hn, "WebSocket connection stalled: input not accepted");
      tcp_abort(hc);
      if (hc->pc && !hc->host_closed && !hc->eof_sent) {
        hc->eof_sent = 1;
        p2p_host_conn_eof(hn->host, hc->pc, P2P_ERR_INTERNAL, now);
      }
      report_dial_failure(hc, P2P_ERR_INTERNAL, "WebSocket stalled", now);
      return;
    }
  }
  if (!hc->tcp_gone && hc->pc && p2p_ws_eof(hc->ws) && !hc->host_closed &&
      !hc->eof_sent) {
    hc->eof_sent = 1; /* the peer's close frame: an orderly end */
    p2p_host_conn_eof(hn->host, hc->pc, 0, now);
  }
}

/* The WebSocket upgrade timed out, or a closing connection lingered. */
static void on_conn_timer(void *ctx, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  hc->timer_at = 0;
  hn->depth++;
  if (!hc->tcp_gone) {
    char peer[32];
    remote_str(hc, peer, sizeof peer);
    if (hc->pc == NULL && !hc->shut) {
      hn_logf(hn, "WebSocket handshake with %s timed out", peer);
      report_dial_failure(hc, P2P_ERR_TIMEOUT,
                          "the WebSocket handshake timed out", now);
    } else {
      hn_logf(hn, "WebSocket close with %s timed out: reset", peer);
    }
    tcp_abort(hc);
    if (hc->pc && !hc->host_closed && !hc->eof_sent) {
      hc->eof_sent = 1;
      p2p_host_conn_eof(hn->host, hc->pc, P2P_ERR_TIMEOUT, now);
    }
  }
  hn->depth--;
  after(hn);
}

/* --- transport callbacks ------------------------------------------------- */

static void tcp_on_data(void *ctx, p2plab_tcp *t, const uint8_t *buf,
                        size_t len, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  (void)t;
  hn->depth++;
  if (hc->ws)
    ws_input(hc, buf, len, now);
  else if (hc->pc && !hc->host_closed)
    p2p_host_conn_recv(hn->host, hc->pc, buf, len, now);
  hn->depth--;
  after(hn);
}

static void tcp_on_eof(void *ctx, p2plab_tcp *t, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  (void)t;
  hn->depth++;
  if (hc->pc && !hc->host_closed && !hc->eof_sent) {
    hc->eof_sent = 1;
    p2p_host_conn_eof(hn->host, hc->pc, 0, now);
  } else if (hc->pc == NULL && hc->ws) {
    /* The peer gave up during the upgrade. */
    report_dial_failure(hc, P2P_ERR_PROTO,
                        "the connection closed during the WebSocket handshake",
                        now);
    close_gracefully(hc);
  }
  hn->depth--;
  after(hn);
}

static void tcp_on_close(void *ctx, p2plab_tcp *t, int err, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  (void)t;
  hc->tcp_gone = 1;
  hc->hn->sweep_due = 1;
  conn_timer_cancel(hc);
  hn->depth++;
  if (hc->pc == NULL) {
    report_dial_failure(
        hc, err ? err : P2P_ERR_REFUSED,
        hc->tcp_up ? "the connection closed during the WebSocket handshake"
                   : "the TCP connection could not be made",
        now);
  } else if (!hc->host_closed && !hc->eof_sent) {
    hc->eof_sent = 1;
    p2p_host_conn_eof(hn->host, hc->pc, err, now);
  }
  hn->depth--;
  after(hn);
}

static void tcp_on_connect(void *ctx, p2plab_tcp *t, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  (void)t;
  hc->tcp_up = 1;
  hn->depth++;
  if (hc->ws == NULL) {
    (void)start_conn(hn, hc, now);
  } else {
    /* Send the upgrade request; the answer comes through ws_input. */
    conn_timer_arm(hc, SIM_HOSTNET_WS_HANDSHAKE_TIMEOUT_NS);
    if (ws_flush(hc) < 0) {
      tcp_abort(hc);
      report_dial_failure(hc, P2P_ERR_IO, "cannot send on TCP", now);
    }
  }
  hn->depth--;
  after(hn);
}

static const p2plab_tcp_callbacks tcp_cbs = {
    .on_connect = tcp_on_connect,
    .on_data = tcp_on_data,
    .on_eof = tcp_on_eof,
    .on_close = tcp_on_close,
};

static void on_accept(void *ctx, p2plab_tcp_listener *l, p2plab_tcp *t,
                      const p2plab_addr *remote,
                      const p2plab_tcp_callbacks **cbs, void **cb_ctx,
                      uint64_t now) {
  hn_listener *hl = ctx;
  sim_hostnet *hn = hl->hn;
  (void)l;
  (void)remote;
  hn_conn *hc = calloc(1, sizeof *hc);
  if (hc == NULL)
    return; /* no callbacks set: the backend closes the connection */
  if (hl->ws && p2p_ws_new(&hc->ws, P2P_WS_SERVER, NULL, hn->cfg.rnd) < 0) {
    free(hc);
    return;
  }
  hc->hn = hn;
  hc->tcp = t;
  hc->tcp_up = 1;
  hc->host_closed = 1;
  hc->hn->sweep_due = 1; /* no host connection yet */
  hc->next = hn->conns;
  hn->conns = hc;
  *cbs = &tcp_cbs;
  *cb_ctx = hc;
  if (hc->ws)
    conn_timer_arm(hc, SIM_HOSTNET_WS_HANDSHAKE_TIMEOUT_NS);
  else
    (void)start_conn(hn, hc, now);
  after(hn);
}

static int dial_addr(sim_hostnet *hn, const p2p_multiaddr *ma) {
  uint32_t ip;
  uint16_t port;
  int is_ws = 0, has_peer = 0;
  p2p_peerid peer;
  if (p2p_multiaddr_tcp_target(ma, &ip, &port, &is_ws, &peer, &has_peer) < 0)
    return P2P_ERR_INVALID;
  if (hn->cfg.browser && !is_ws)
    return P2P_ERR_INVALID; /* a browser cannot open plain TCP */
  hn_conn *hc = calloc(1, sizeof *hc);
  if (hc == NULL)
    return P2P_ERR_NOMEM;
  hc->hn = hn;
  hc->dialled = 1;
  hc->dial_pending = 1;
  hc->host_closed = 1;
  hc->hn->sweep_due = 1; /* no host connection yet */
  hc->has_peer = has_peer;
  if (has_peer)
    hc->peer = peer;
  int rc = p2p_multiaddr_copy(ma, &hc->dial_ma);
  if (rc == 0 && is_ws) {
    char target[32];
    snprintf(target, sizeof target, "%u.%u.%u.%u:%u", ip >> 24,
             (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff, (unsigned)port);
    p2p_ws_config wc = {.host = target, .path = "/"};
    rc = p2p_ws_new(&hc->ws, P2P_WS_CLIENT, &wc, hn->cfg.rnd);
  }
  p2plab_addr to = {.family = P2PLAB_AF_INET, .port = port};
  to.ip.v4 = ip;
  if (rc == 0)
    rc = hn->cfg.api->tcp_connect(hn->cfg.b, hn->cfg.hid, 0, &to, &tcp_cbs, hc,
                                  &hc->tcp);
  if (rc < 0) {
    p2p_ws_del(hc->ws);
    p2p_multiaddr_free(&hc->dial_ma);
    free(hc);
    return rc;
  }
  hc->next = hn->conns;
  hn->conns = hc;
  return 0;
}

/* --- public -------------------------------------------------------------- */

/* Binds one listener (TCP or WebSocket) into the next slot. */
static int listen_one(sim_hostnet *hn, uint16_t port, int ws, char *err,
                      size_t errlen) {
  const sim_hostnet_config *cfg = &hn->cfg;
  size_t i = hn->n_listen;
  hn_listener *hl = &hn->lst[i];
  p2plab_addr at;
  hl->hn = hn;
  hl->ws = ws;
  int rc = cfg->api->tcp_listen(cfg->b, cfg->hid, port, on_accept, hl, &hl->l);
  if (rc == 0)
    rc = cfg->api->tcp_listener_addr(hl->l, &at);
  if (rc < 0) {
    sim_errf(err, errlen, "cannot listen on %s port %u: %s",
             ws ? "WebSocket" : "TCP", (unsigned)port, p2p_strerror(rc));
    return rc;
  }
  hn->n_listen = i + 1;
  rc = tcp_multiaddr(&at, ws, &hn->addrs[i]);
  if (rc < 0)
    sim_errf(err, errlen, "cannot make a listen address: %s", p2p_strerror(rc));
  return rc;
}

int sim_hostnet_new(const sim_hostnet_config *cfg, sim_hostnet **out, char *err,
                    size_t errlen) {
  *out = NULL;
  if (cfg == NULL || cfg->api == NULL || cfg->b == NULL || cfg->key == NULL ||
      cfg->rnd == NULL || cfg->n_listen > MAX_LISTEN ||
      (cfg->n_listen && cfg->listen_ports == NULL) || cfg->n_ws > MAX_LISTEN ||
      (cfg->n_ws && cfg->ws_ports == NULL)) {
    sim_errf(err, errlen, "invalid hostnet configuration");
    return P2P_ERR_INVALID;
  }
  if (cfg->browser && (cfg->n_listen || cfg->n_ws)) {
    sim_errf(err, errlen, "a browser node cannot listen");
    return P2P_ERR_INVALID;
  }
  sim_hostnet *hn = calloc(1, sizeof *hn);
  if (hn == NULL)
    return P2P_ERR_NOMEM;
  hn->cfg = *cfg;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < cfg->n_listen; i++)
    rc = listen_one(hn, cfg->listen_ports[i], 0, err, errlen);
  for (size_t i = 0; rc == 0 && i < cfg->n_ws; i++)
    rc = listen_one(hn, cfg->ws_ports[i], 1, err, errlen);
  if (rc == 0) {
    p2p_host_config hc = {.key = cfg->key,
                          .rnd = cfg->rnd,
                          .agent_version = cfg->agent_version,
                          .listen_addrs = hn->addrs,
                          .n_listen_addrs = hn->n_listen,
                          .ctx = hn,
                          .conn_write = conn_write,
                          .conn_close = conn_close,
                          .on_event = on_event,
                          .log = on_log,
                          .dial = host_dial,
                          .unix_offset_ns = cfg->unix_offset_ns};
    rc = p2p_host_new(&hc, &hn->host);
    if (rc < 0)
      sim_errf(err, errlen, "cannot create the host: %s", p2p_strerror(rc));
  }
  if (rc < 0) {
    sim_hostnet_del(hn);
    return rc;
  }
  *out = hn;
  return 0;
}

void sim_hostnet_del(sim_hostnet *hn) {
  if (hn == NULL)
    return;
  if (hn->timer_at)
    (void)hn->cfg.api->timer_cancel(hn->cfg.b, hn->timer);
  while (hn->conns) {
    hn_conn *c = hn->conns;
    hn->conns = c->next;
    tcp_abort(c);
    conn_free(hn, c);
  }
  p2p_host_del(hn->host);
  for (size_t i = 0; i < 2 * MAX_LISTEN; i++) {
    if (hn->lst[i].l)
      hn->cfg.api->tcp_listener_close(hn->lst[i].l);
    p2p_multiaddr_free(&hn->addrs[i]);
  }
  free(hn);
}

p2p_host *sim_hostnet_host(sim_hostnet *hn) {
  return hn->host;
}

const p2p_multiaddr *sim_hostnet_listen_addr(const sim_hostnet *hn, size_t i) {
  return i < hn->n_listen ? &hn->addrs[i] : NULL;
}

int sim_hostnet_dial(sim_hostnet *hn, const p2p_multiaddr *ma) {
  int rc = dial_addr(hn, ma);
  after(hn);
  return rc;
}
