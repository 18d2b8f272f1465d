/*
 * The glue between a core host and a backend (see hostnet.h).
 *
 * Each TCP connection has a record that lives until both the transport and
 * the host are done with it: the host says so with conn_close, the
 * transport with on_close (or we abort it). Records are freed only between
 * calls (sweep), never inside a callback of either side.
 */
#include "sim/hostnet/hostnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/util/errbuf.h"

#define MAX_LISTEN 8

typedef struct hn_conn {
  sim_hostnet *hn;
  p2plab_tcp *tcp;
  p2p_conn *pc;
  p2p_multiaddr dial_ma; /* the dialled address (dialled connections) */
  int dialled;
  int tcp_gone;    /* the transport is closed (on_close or our abort) */
  int host_closed; /* the host called conn_close, or never had it */
  struct hn_conn *next;
} hn_conn;

struct sim_hostnet {
  sim_hostnet_config cfg;
  p2p_host *host;
  p2plab_tcp_listener *lst[MAX_LISTEN];
  p2p_multiaddr addrs[MAX_LISTEN];
  size_t n_listen;
  hn_conn *conns;
  p2plab_timer timer;
  uint64_t timer_at; /* 0: no timer armed */
  int depth;         /* calls into the host in progress */
};

static void on_timer(void *ctx, uint64_t now);

static void sweep(sim_hostnet *hn) {
  for (hn_conn **pp = &hn->conns; *pp;) {
    hn_conn *c = *pp;
    if (c->tcp_gone && c->host_closed) {
      *pp = c->next;
      if (c->pc)
        p2p_host_conn_free(hn->host, c->pc);
      p2p_multiaddr_free(&c->dial_ma);
      free(c);
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

/* --- host callbacks ------------------------------------------------------ */

static int conn_write(void *ctx, p2p_conn *c, const uint8_t *buf, size_t len) {
  sim_hostnet *hn = ctx;
  hn_conn *hc = p2p_host_conn_user(c);
  if (hc->tcp_gone)
    return P2P_ERR_STATE;
  return hn->cfg.api->tcp_send(hc->tcp, buf, len);
}

static void conn_close(void *ctx, p2p_conn *c, int err) {
  sim_hostnet *hn = ctx;
  hn_conn *hc = p2p_host_conn_user(c);
  hc->host_closed = 1;
  if (hc->tcp_gone)
    return;
  if (err < 0 || hn->cfg.api->tcp_shutdown(hc->tcp) < 0) {
    hn->cfg.api->tcp_abort(hc->tcp); /* no on_close follows an abort */
    hc->tcp_gone = 1;
  }
}

static void on_event(void *ctx, const p2p_host_event *ev) {
  sim_hostnet *hn = ctx;
  hn_conn *hc = ev->conn ? p2p_host_conn_user(ev->conn) : NULL;
  if (hn->cfg.on_event)
    hn->cfg.on_event(hn->cfg.ctx, ev, hc ? hc->dialled : 0);
}

static void on_log(void *ctx, const char *msg) {
  sim_hostnet *hn = ctx;
  if (hn->cfg.log)
    hn->cfg.log(hn->cfg.ctx, msg);
}

/* --- transport callbacks ------------------------------------------------- */

static void tcp_on_data(void *ctx, p2plab_tcp *t, const uint8_t *buf,
                        size_t len, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  (void)t;
  if (hc->pc && !hc->host_closed) {
    hn->depth++;
    p2p_host_conn_recv(hn->host, hc->pc, buf, len, now);
    hn->depth--;
  }
  after(hn);
}

static void tcp_on_eof(void *ctx, p2plab_tcp *t, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  (void)t;
  if (hc->pc && !hc->host_closed) {
    hn->depth++;
    p2p_host_conn_eof(hn->host, hc->pc, 0, now);
    hn->depth--;
  }
  after(hn);
}

static void tcp_on_close(void *ctx, p2plab_tcp *t, int err, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  (void)t;
  hc->tcp_gone = 1;
  if (hc->pc == NULL) {
    /* The dial failed before the host saw the connection. */
    hc->host_closed = 1;
    p2p_host_event ev = {.type = P2P_HOST_EV_CONN_CLOSED,
                         .err = err ? err : P2P_ERR_REFUSED,
                         .reason = "the TCP connection could not be made"};
    if (hn->cfg.on_event)
      hn->cfg.on_event(hn->cfg.ctx, &ev, hc->dialled);
  } else if (!hc->host_closed) {
    hn->depth++;
    p2p_host_conn_eof(hn->host, hc->pc, err, now);
    hn->depth--;
  }
  after(hn);
}

/* The multiaddr /ip4/A/tcp/P of a backend address. */
static int tcp_multiaddr(const p2plab_addr *a, p2p_multiaddr *out) {
  char s[64];
  uint32_t ip = a->ip.v4;
  snprintf(s, sizeof s, "/ip4/%u.%u.%u.%u/tcp/%u", ip >> 24, (ip >> 16) & 0xff,
           (ip >> 8) & 0xff, ip & 0xff, (unsigned)a->port);
  return p2p_multiaddr_parse(s, out);
}

static int start_conn(sim_hostnet *hn, hn_conn *hc, int outbound,
                      const p2p_peerid *expected, uint64_t now) {
  p2plab_addr ra;
  p2p_multiaddr remote = {0};
  if (hn->cfg.api->tcp_remote_addr(hc->tcp, &ra) == 0 &&
      tcp_multiaddr(&ra, &remote) < 0)
    remote = (p2p_multiaddr){0};
  hn->depth++;
  int rc = p2p_host_conn_new(hn->host, outbound, expected,
                             remote.len ? &remote : NULL, hc, now, &hc->pc);
  hn->depth--;
  p2p_multiaddr_free(&remote);
  if (rc < 0) {
    hc->pc = NULL;
    hc->host_closed = 1;
    hn->cfg.api->tcp_abort(hc->tcp);
    hc->tcp_gone = 1;
  }
  return rc;
}

static void tcp_on_connect(void *ctx, p2plab_tcp *t, uint64_t now) {
  hn_conn *hc = ctx;
  sim_hostnet *hn = hc->hn;
  (void)t;
  uint32_t ip;
  uint16_t port;
  p2p_peerid peer;
  int has_peer = 0;
  if (p2p_host_tcp_target(&hc->dial_ma, &ip, &port, &peer, &has_peer) == 0)
    (void)start_conn(hn, hc, 1, has_peer ? &peer : NULL, now);
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
  sim_hostnet *hn = ctx;
  (void)l;
  (void)remote;
  hn_conn *hc = calloc(1, sizeof *hc);
  if (hc == NULL)
    return; /* no callbacks set: the backend closes the connection */
  hc->hn = hn;
  hc->tcp = t;
  hc->next = hn->conns;
  hn->conns = hc;
  *cbs = &tcp_cbs;
  *cb_ctx = hc;
  (void)start_conn(hn, hc, 0, NULL, now);
  after(hn);
}

/* --- public -------------------------------------------------------------- */

int sim_hostnet_new(const sim_hostnet_config *cfg, sim_hostnet **out, char *err,
                    size_t errlen) {
  *out = NULL;
  if (cfg == NULL || cfg->api == NULL || cfg->b == NULL || cfg->key == NULL ||
      cfg->rnd == NULL || cfg->n_listen > MAX_LISTEN ||
      (cfg->n_listen && cfg->listen_ports == NULL)) {
    sim_errf(err, errlen, "invalid hostnet configuration");
    return P2P_ERR_INVALID;
  }
  sim_hostnet *hn = calloc(1, sizeof *hn);
  if (hn == NULL)
    return P2P_ERR_NOMEM;
  hn->cfg = *cfg;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < cfg->n_listen; i++) {
    p2plab_addr at;
    rc = cfg->api->tcp_listen(cfg->b, cfg->hid, cfg->listen_ports[i], on_accept,
                              hn, &hn->lst[i]);
    if (rc == 0)
      rc = cfg->api->tcp_listener_addr(hn->lst[i], &at);
    if (rc < 0) {
      sim_errf(err, errlen, "cannot listen on TCP port %u: %s",
               (unsigned)cfg->listen_ports[i], p2p_strerror(rc));
      break;
    }
    hn->n_listen = i + 1;
    rc = tcp_multiaddr(&at, &hn->addrs[i]);
  }
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
                          .log = on_log};
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
    if (!c->tcp_gone)
      hn->cfg.api->tcp_abort(c->tcp);
    if (c->pc)
      p2p_host_conn_free(hn->host, c->pc);
    p2p_multiaddr_free(&c->dial_ma);
    free(c);
  }
  p2p_host_del(hn->host);
  for (size_t i = 0; i < MAX_LISTEN; i++) {
    if (hn->lst[i])
      hn->cfg.api->tcp_listener_close(hn->lst[i]);
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
  uint32_t ip;
  uint16_t port;
  p2p_peerid peer;
  int has_peer;
  if (p2p_host_tcp_target(ma, &ip, &port, &peer, &has_peer) < 0)
    return P2P_ERR_INVALID;
  hn_conn *hc = calloc(1, sizeof *hc);
  if (hc == NULL)
    return P2P_ERR_NOMEM;
  int rc = p2p_multiaddr_copy(ma, &hc->dial_ma);
  if (rc < 0) {
    free(hc);
    return rc;
  }
  hc->hn = hn;
  hc->dialled = 1;
  p2plab_addr to = {.family = P2PLAB_AF_INET, .port = port};
  to.ip.v4 = ip;
  rc = hn->cfg.api->tcp_connect(hn->cfg.b, hn->cfg.hid, 0, &to, &tcp_cbs, hc,
                                &hc->tcp);
  if (rc < 0) {
    p2p_multiaddr_free(&hc->dial_ma);
    free(hc);
    return rc;
  }
  hc->next = hn->conns;
  hn->conns = hc;
  return 0;
}
