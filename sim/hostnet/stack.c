/*
 * A whole libp2p node of the guides on a backend host (see stack.h).
 */
#include "sim/hostnet/stack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/util/errbuf.h"

struct sim_stack {
  sim_stack_config cfg;
  sim_hostnet *hn;
  p2p_gossipsub *gs;
  p2p_relay_server *rs;
  p2p_relay_client *rc;
  p2p_discovery *disc;
};

static uint64_t now_of(sim_stack *st) {
  return st->cfg.api->now(st->cfg.b);
}

static void trace(sim_stack *st, const char *name, const char *fields,
                  uint64_t now) {
  if (st->cfg.on_trace)
    st->cfg.on_trace(st->cfg.ctx, st, name, fields, now);
}

static void id_str(const p2p_peerid *p, char *out, size_t cap) {
  if (p == NULL || p2p_peerid_to_string(p, out, cap) < 0)
    snprintf(out, cap, "?");
}

static void hn_event(void *ctx, const p2p_host_event *ev, int dialled) {
  sim_stack *st = ctx;
  if (st->cfg.on_event)
    st->cfg.on_event(st->cfg.ctx, st, ev, dialled);
}

static void hn_log(void *ctx, const char *msg) {
  sim_stack *st = ctx;
  if (st->cfg.log)
    st->cfg.log(st->cfg.ctx, msg);
}

static void gs_message(void *ctx, const p2p_gossip_msg *m, uint64_t now) {
  sim_stack *st = ctx;
  if (st->disc && p2p_discovery_on_message(st->disc, m, now))
    return;
  if (st->cfg.on_message)
    st->cfg.on_message(st->cfg.ctx, st, m, now);
}

static void gs_subscription(void *ctx, const p2p_peerid *peer,
                            const char *topic, int subscribed, uint64_t now) {
  sim_stack *st = ctx;
  if (st->cfg.on_subscription)
    st->cfg.on_subscription(st->cfg.ctx, st, peer, topic, subscribed, now);
}

static void rs_event(void *ctx, const char *what, const p2p_peerid *a,
                     const p2p_peerid *b, int status, uint64_t now) {
  sim_stack *st = ctx;
  char ia[P2P_PEERID_STR_MAX], ib[P2P_PEERID_STR_MAX], f[320];
  id_str(a, ia, sizeof ia);
  id_str(b, ib, sizeof ib);
  if (b)
    snprintf(f, sizeof f, "what=%s src=%s dst=%s status=%d", what, ia, ib,
             status);
  else
    snprintf(f, sizeof f, "what=%s peer=%s status=%d", what, ia, status);
  trace(st, "relay.server", f, now);
}

static void rc_reservation(void *ctx, const p2p_peerid *relay, int status,
                           uint64_t expire, uint64_t now) {
  sim_stack *st = ctx;
  char id[P2P_PEERID_STR_MAX], f[200];
  id_str(relay, id, sizeof id);
  snprintf(f, sizeof f, "relay=%s status=%d expire=%llu", id, status,
           (unsigned long long)expire);
  trace(st,
        status == P2P_RELAY_STATUS_OK ? "relay.reserved"
                                      : "relay.reservation_failed",
        f, now);
}

static void disc_found(void *ctx, const p2p_peerid *peer,
                       const p2p_multiaddr *addrs, size_t n, uint64_t now) {
  sim_stack *st = ctx;
  char id[P2P_PEERID_STR_MAX], f[160];
  id_str(peer, id, sizeof id);
  snprintf(f, sizeof f, "peer=%s addrs=%zu", id, n);
  trace(st, "discovery.peer", f, now);
  if (st->cfg.on_discovery)
    st->cfg.on_discovery(st->cfg.ctx, st, peer, addrs, n, now);
}

int sim_stack_new(const sim_stack_config *cfg, sim_stack **out, char *err,
                  size_t errlen) {
  *out = NULL;
  sim_stack *st = calloc(1, sizeof *st);
  if (st == NULL)
    return P2P_ERR_NOMEM;
  st->cfg = *cfg;
  st->cfg.bootstrap = NULL;
  st->cfg.topics = NULL;
  uint64_t now = now_of(st);
  sim_hostnet_config hc = {.api = cfg->api,
                           .b = cfg->b,
                           .hid = cfg->hid,
                           .key = cfg->key,
                           .rnd = cfg->rnd,
                           .agent_version = cfg->agent_version,
                           .listen_ports = cfg->tcp_ports,
                           .n_listen = cfg->n_tcp,
                           .ws_ports = cfg->ws_ports,
                           .n_ws = cfg->n_ws,
                           .browser = cfg->browser,
                           .unix_offset_ns = cfg->unix_offset_ns,
                           .on_event = hn_event,
                           .log = hn_log,
                           .ctx = st};
  int rc = sim_hostnet_new(&hc, &st->hn, err, errlen);
  if (rc < 0) {
    free(st);
    return rc;
  }
  p2p_host *h = sim_hostnet_host(st->hn);
  if (cfg->pubsub || cfg->n_topics || cfg->discovery_topic) {
    p2p_gossipsub_config gc = cfg->gossip;
    gc.on_message = gs_message;
    gc.on_subscription = gs_subscription;
    gc.log = hn_log;
    gc.ctx = st;
    rc = p2p_gossipsub_new(h, &gc, &st->gs);
    if (rc < 0) {
      sim_errf(err, errlen, "gossipsub: %s", p2p_strerror(rc));
      goto fail;
    }
  }
  for (size_t i = 0; i < cfg->n_topics; i++)
    if ((rc = p2p_gossipsub_subscribe(st->gs, cfg->topics[i], now)) < 0) {
      sim_errf(err, errlen, "gossipsub subscribe: %s", p2p_strerror(rc));
      goto fail;
    }
  if (cfg->relay_server) {
    p2p_relay_server_config rsc = cfg->relay;
    rsc.on_event = rs_event;
    rsc.log = hn_log;
    rsc.ctx = st;
    if ((rc = p2p_relay_server_new(h, &rsc, &st->rs)) < 0) {
      sim_errf(err, errlen, "relay server: %s", p2p_strerror(rc));
      goto fail;
    }
  }
  /* Every node can dial through relays; circuit listeners also accept. */
  p2p_relay_client_config rcc = {.accept_stop = cfg->circuit_listen,
                                 .on_reservation = rc_reservation,
                                 .log = hn_log,
                                 .ctx = st};
  if ((rc = p2p_relay_client_new(h, &rcc, &st->rc)) < 0) {
    sim_errf(err, errlen, "relay client: %s", p2p_strerror(rc));
    goto fail;
  }
  /* Relays we reserve on are kept by the relay client; the others are
   * plain bootstrap peers. */
  if (cfg->n_bootstrap || cfg->discovery_topic) {
    const char *topic = cfg->discovery_topic;
    p2p_discovery_config dc = {
        .bootstrap = cfg->circuit_listen ? NULL : cfg->bootstrap,
        .n_bootstrap = cfg->circuit_listen ? 0 : cfg->n_bootstrap,
        .pubsub = topic ? st->gs : NULL,
        .topics = topic ? &topic : NULL,
        .n_topics = topic ? 1 : 0,
        .interval_ns = cfg->discovery_interval_ns,
        .dial_discovered = 1,
        .max_conns = cfg->max_conns,
        .on_discovery = disc_found,
        .log = hn_log,
        .ctx = st};
    if ((rc = p2p_discovery_new(h, &dc, now, &st->disc)) < 0) {
      sim_errf(err, errlen, "discovery: %s", p2p_strerror(rc));
      goto fail;
    }
  }
  if (cfg->circuit_listen)
    for (size_t i = 0; i < cfg->n_bootstrap; i++)
      if ((rc = p2p_relay_client_listen(st->rc, &cfg->bootstrap[i], now)) < 0) {
        sim_errf(err, errlen, "relay client listen: %s", p2p_strerror(rc));
        goto fail;
      }
  *out = st;
  return 0;
fail:
  sim_stack_del(st);
  return rc;
}

void sim_stack_del(sim_stack *st) {
  if (st == NULL)
    return;
  /* Users of streams first: the relay client frees the relayed
   * connections (without callbacks) that GossipSub's streams run on. */
  p2p_discovery_del(st->disc);
  p2p_gossipsub_del(st->gs);
  p2p_relay_client_del(st->rc);
  p2p_relay_server_del(st->rs);
  sim_hostnet_del(st->hn);
  free(st);
}

p2p_host *sim_stack_host(sim_stack *st) {
  return sim_hostnet_host(st->hn);
}

sim_hostnet *sim_stack_hostnet(sim_stack *st) {
  return st->hn;
}

p2p_gossipsub *sim_stack_gossipsub(sim_stack *st) {
  return st->gs;
}

p2p_relay_server *sim_stack_relay_server(sim_stack *st) {
  return st->rs;
}

p2p_relay_client *sim_stack_relay_client(sim_stack *st) {
  return st->rc;
}

p2p_discovery *sim_stack_discovery(sim_stack *st) {
  return st->disc;
}
