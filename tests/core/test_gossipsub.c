/*
 * test_gossipsub.c - GossipSub v1.1 (core/src/gossipsub.c) on hosts wired
 * in memory (tests/support/memnet) in virtual time. Some tests add a "raw"
 * host without a router that speaks /meshsub/1.1.0 by hand: it writes RPCs
 * built here (bad signatures, garbage, GRAFT during backoff) and records
 * what the router sends it.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "memnet.h"
#include "p2p/gossipsub.h"
#include "p2p/varint.h"
#include "rpc.pb-c.h"

#define MS 1000000ull
#define S 1000000000ull
#define MAX_NODES 24
#define MAX_DELIV 4096
#define TOPIC "blocks"

typedef struct world world;

typedef struct gnode {
  world *w;
  size_t i;
  p2p_gossipsub *g;
  size_t delivered;
  char last[64];
  size_t n_logs;
  char last_log[256];
} gnode;

typedef struct delivery {
  size_t host;
  uint64_t seqno;
  uint64_t at;
  char data[16];
} delivery;

struct world {
  memnet *m;
  gnode n[MAX_NODES];
  size_t count;
  delivery deliv[MAX_DELIV];
  size_t n_deliv;
};

/* A host without a router, speaking pubsub by hand. */
typedef struct raw {
  world *w;
  size_t i;
  p2p_stream *out;
  int out_open;
  uint8_t in[65536];
  size_t in_len;
  int in_reset;
} raw;

static void on_msg(void *ctx, const p2p_gossip_msg *m, uint64_t now) {
  gnode *n = ctx;
  world *w = n->w;
  n->delivered++;
  size_t l = m->data_len < sizeof(n->last) - 1 ? m->data_len : 0;
  memcpy(n->last, m->data, l);
  n->last[l] = '\0';
  if (w->n_deliv < MAX_DELIV) {
    delivery *d = &w->deliv[w->n_deliv++];
    d->host = n->i;
    d->seqno = m->seqno;
    d->at = now;
    size_t k = l < sizeof(d->data) - 1 ? l : sizeof(d->data) - 1;
    memcpy(d->data, n->last, k);
  }
}

static void on_log(void *ctx, const char *msg) {
  gnode *n = ctx;
  n->n_logs++;
  snprintf(n->last_log, sizeof(n->last_log), "%s", msg);
}

static p2p_gossipsub_config base_cfg(void) {
  p2p_gossipsub_config c;
  memset(&c, 0, sizeof(c));
  c.on_message = on_msg;
  c.log = on_log;
  return c;
}

/* n routers with cfg (NULL: defaults), except router `odd` (when < n)
 * which takes odd_cfg. */
static world *world_new2(size_t n, uint64_t seed,
                         const p2p_gossipsub_config *cfg, size_t odd,
                         const p2p_gossipsub_config *odd_cfg) {
  world *w = calloc(1, sizeof(*w));
  ck_assert_ptr_nonnull(w);
  w->m = memnet_new(5 * MS);
  ck_assert_ptr_nonnull(w->m);
  for (size_t i = 0; i < n; i++) {
    p2p_host *h = memnet_add(w->m, seed * 1000 + i);
    ck_assert_ptr_nonnull(h);
    gnode *g = &w->n[i];
    g->w = w;
    g->i = i;
    p2p_gossipsub_config c = cfg ? *cfg : base_cfg();
    if (i == odd)
      c = *odd_cfg;
    c.ctx = g;
    ck_assert_int_eq(p2p_gossipsub_new(h, &c, &g->g), 0);
  }
  w->count = n;
  return w;
}

static world *world_new(size_t n, uint64_t seed,
                        const p2p_gossipsub_config *cfg) {
  return world_new2(n, seed, cfg, SIZE_MAX, NULL);
}

static void world_del(world *w) {
  for (size_t i = 0; i < w->count; i++)
    p2p_gossipsub_del(w->n[i].g);
  memnet_del(w->m);
  free(w);
}

static void run_ms(world *w, uint64_t ms) {
  memnet_run(w->m, memnet_now(w->m) + ms * MS);
}

static uint64_t now_of(world *w) {
  return memnet_now(w->m);
}

static void dial(world *w, size_t i, size_t j) {
  ck_assert_int_eq(memnet_dial(w->m, i, j), 0);
}

static void sub_all(world *w, size_t n) {
  for (size_t i = 0; i < n; i++)
    ck_assert_int_eq(p2p_gossipsub_subscribe(w->n[i].g, TOPIC, now_of(w)), 0);
}

static void publish(world *w, size_t i, const char *data) {
  ck_assert_int_eq(p2p_gossipsub_publish(w->n[i].g, TOPIC,
                                         (const uint8_t *)data, strlen(data),
                                         now_of(w), NULL, NULL, 0),
                   0);
}

static p2p_gossipsub_stats stats(world *w, size_t i) {
  p2p_gossipsub_stats st;
  p2p_gossipsub_get_stats(w->n[i].g, &st);
  return st;
}

/* ------------------------------------------------------------------ */
/* The raw peer. */

static void raw_in_open(void *user, p2p_stream *s, const char *proto,
                        uint64_t now) {
  (void)user, (void)s, (void)proto, (void)now;
}

static void raw_in_data(void *user, p2p_stream *s, const uint8_t *buf,
                        size_t len, uint64_t now) {
  raw *r = user;
  (void)s, (void)now;
  if (r->in_len + len <= sizeof(r->in)) {
    memcpy(r->in + r->in_len, buf, len);
    r->in_len += len;
  }
}

static void raw_in_fin(void *user, p2p_stream *s, uint64_t now) {
  (void)user, (void)s, (void)now;
}

static void raw_in_close(void *user, p2p_stream *s, int err, uint64_t now) {
  (void)user, (void)s, (void)err, (void)now;
}

static const p2p_stream_handler raw_in_handler = {raw_in_open, raw_in_data,
                                                  raw_in_fin, raw_in_close};

static void raw_out_open(void *user, p2p_stream *s, const char *proto,
                         uint64_t now) {
  raw *r = user;
  (void)s, (void)proto, (void)now;
  r->out_open = 1;
}

static void raw_out_close(void *user, p2p_stream *s, int err, uint64_t now) {
  raw *r = user;
  (void)s, (void)now;
  if (err == P2P_ERR_RESET)
    r->in_reset = 1;
  r->out_open = 0;
  r->out = NULL;
}

static const p2p_stream_handler raw_out_handler = {raw_out_open, raw_in_data,
                                                   raw_in_fin, raw_out_close};

/* Adds host index w->count as a raw peer connected to router `to`, with
 * its /meshsub/1.1.0 stream to it open. */
static raw *raw_new_proto(world *w, size_t to, uint64_t seed,
                          const char *proto) {
  raw *r = calloc(1, sizeof(*r));
  ck_assert_ptr_nonnull(r);
  r->w = w;
  r->i = memnet_count(w->m);
  p2p_host *h = memnet_add(w->m, seed);
  ck_assert_ptr_nonnull(h);
  ck_assert_int_eq(p2p_host_handle(h, proto, &raw_in_handler, r), 0);
  dial(w, r->i, to);
  run_ms(w, 100);
  p2p_conn *c = p2p_host_find_conn(h, p2p_host_peer_id(memnet_host(w->m, to)));
  ck_assert_ptr_nonnull(c);
  const char *protos[] = {proto};
  ck_assert_int_eq(p2p_host_stream_open(h, c, protos, 1, &raw_out_handler, r,
                                        now_of(w), &r->out),
                   0);
  run_ms(w, 50);
  ck_assert(r->out_open);
  return r;
}

static raw *raw_new(world *w, size_t to, uint64_t seed) {
  return raw_new_proto(w, to, seed, P2P_GOSSIPSUB_ID_V11);
}

static void raw_write(raw *r, const uint8_t *buf, size_t len) {
  ck_assert_ptr_nonnull(r->out);
  ck_assert_int_eq(p2p_host_stream_write(r->out, buf, len, now_of(r->w)),
                   (ssize_t)len);
}

static void raw_send(raw *r, const Pubsub__Pb__RPC *rpc) {
  uint8_t buf[4096];
  size_t body = pubsub__pb__rpc__get_packed_size(rpc);
  ck_assert_uint_lt(body + 10, sizeof(buf));
  int hdr = p2p_varint_encode(body, buf, sizeof(buf));
  ck_assert_int_gt(hdr, 0);
  ck_assert_uint_eq(pubsub__pb__rpc__pack(rpc, buf + hdr), body);
  raw_write(r, buf, (size_t)hdr + body);
}

static void raw_send_sub(raw *r, const char *topic) {
  Pubsub__Pb__RPC rpc = PUBSUB__PB__RPC__INIT;
  Pubsub__Pb__RPC__SubOpts so = PUBSUB__PB__RPC__SUB_OPTS__INIT;
  Pubsub__Pb__RPC__SubOpts *sp[1] = {&so};
  so.has_subscribe = 1;
  so.subscribe = 1;
  so.topicid = (char *)(uintptr_t)topic;
  rpc.n_subscriptions = 1;
  rpc.subscriptions = sp;
  raw_send(r, &rpc);
}

static void raw_send_ctl(raw *r, int graft, uint64_t backoff_s) {
  Pubsub__Pb__RPC rpc = PUBSUB__PB__RPC__INIT;
  Pubsub__Pb__ControlMessage ctl = PUBSUB__PB__CONTROL_MESSAGE__INIT;
  Pubsub__Pb__ControlGraft gr = PUBSUB__PB__CONTROL_GRAFT__INIT;
  Pubsub__Pb__ControlGraft *grs[1] = {&gr};
  Pubsub__Pb__ControlPrune pr = PUBSUB__PB__CONTROL_PRUNE__INIT;
  Pubsub__Pb__ControlPrune *prs[1] = {&pr};
  gr.topicid = (char *)TOPIC;
  pr.topicid = (char *)TOPIC;
  pr.has_backoff = 1;
  pr.backoff = backoff_s;
  if (graft) {
    ctl.n_graft = 1;
    ctl.graft = grs;
  } else {
    ctl.n_prune = 1;
    ctl.prune = prs;
  }
  rpc.control = &ctl;
  raw_send(r, &rpc);
}

/* Sends a message from the raw peer, signed with its key (StrictSign);
 * corrupt flips a bit of the signature. */
static void raw_send_msg(raw *r, const char *data, uint64_t seqno,
                         int corrupt) {
  p2p_host *h = memnet_host(r->w->m, r->i);
  const p2p_peerid *self = p2p_host_peer_id(h);
  uint8_t seq[8], sig[P2P_ED25519_SIG_LEN], in[512];
  for (int i = 0; i < 8; i++)
    seq[i] = (uint8_t)(seqno >> (56 - 8 * i));
  Pubsub__Pb__Message m = PUBSUB__PB__MESSAGE__INIT;
  m.has_from = 1;
  m.from.data = (uint8_t *)(uintptr_t)self->bytes;
  m.from.len = self->len;
  m.has_data = 1;
  m.data.data = (uint8_t *)(uintptr_t)data;
  m.data.len = strlen(data);
  m.has_seqno = 1;
  m.seqno.data = seq;
  m.seqno.len = 8;
  m.topic = (char *)TOPIC;
  memcpy(in, "libp2p-pubsub:", 14);
  size_t body = pubsub__pb__message__get_packed_size(&m);
  ck_assert_uint_lt(body + 14, sizeof(in));
  ck_assert_uint_eq(pubsub__pb__message__pack(&m, in + 14), body);
  ck_assert_int_eq(p2p_privkey_sign(p2p_host_key(h), in, body + 14, sig), 0);
  if (corrupt)
    sig[3] ^= 0x10;
  m.has_signature = 1;
  m.signature.data = sig;
  m.signature.len = sizeof(sig);
  Pubsub__Pb__RPC rpc = PUBSUB__PB__RPC__INIT;
  Pubsub__Pb__Message *pm[1] = {&m};
  rpc.n_publish = 1;
  rpc.publish = pm;
  raw_send(r, &rpc);
}

/* Counts PRUNEs for TOPIC among the RPCs the raw peer received, and the
 * backoff of the last one; also GRAFTs and messages with their data. */
static size_t raw_scan(const raw *r, uint64_t *backoff, size_t *grafts,
                       size_t *msgs, char *last, size_t cap) {
  size_t off = 0, n = 0;
  while (off < r->in_len) {
    uint64_t body;
    int hdr = p2p_varint_decode(r->in + off, r->in_len - off, &body);
    ck_assert_int_gt(hdr, 0);
    ck_assert_uint_le(off + (size_t)hdr + body, r->in_len);
    Pubsub__Pb__RPC *rpc =
        pubsub__pb__rpc__unpack(NULL, body, r->in + off + hdr);
    ck_assert_ptr_nonnull(rpc);
    if (rpc->control && grafts)
      *grafts += rpc->control->n_graft;
    for (size_t i = 0; msgs && i < rpc->n_publish; i++) {
      Pubsub__Pb__Message *m = rpc->publish[i];
      (*msgs)++;
      size_t k = m->data.len < cap - 1 ? m->data.len : cap - 1;
      memcpy(last, m->data.data, k);
      last[k] = '\0';
    }
    if (rpc->control)
      for (size_t i = 0; i < rpc->control->n_prune; i++)
        if (strcmp(rpc->control->prune[i]->topicid, TOPIC) == 0) {
          n++;
          if (backoff)
            *backoff = rpc->control->prune[i]->backoff;
        }
    pubsub__pb__rpc__free_unpacked(rpc, NULL);
    off += (size_t)hdr + body;
  }
  return n;
}

static size_t raw_prunes(const raw *r, uint64_t *backoff) {
  return raw_scan(r, backoff, NULL, NULL, NULL, 0);
}

/* ------------------------------------------------------------------ */

START_TEST(test_gossipsub_two_hosts_deliver_published_message) {
  world *w = world_new(2, 1, NULL);
  dial(w, 0, 1);
  sub_all(w, 2);
  run_ms(w, 1500);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[0].g, TOPIC), 1);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[1].g, TOPIC), 1);
  uint8_t id[128];
  size_t id_len = 0;
  ck_assert_int_eq(p2p_gossipsub_publish(w->n[0].g, TOPIC,
                                         (const uint8_t *)"hello", 5, now_of(w),
                                         id, &id_len, sizeof(id)),
                   0);
  /* Default ID: from (38 bytes for Ed25519) || seqno. */
  ck_assert_uint_eq(id_len, 38 + 8);
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[1].delivered, 1);
  ck_assert_str_eq(w->n[1].last, "hello");
  ck_assert_uint_eq(w->n[0].delivered, 0); /* not back to the publisher */
  publish(w, 1, "world");
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[0].delivered, 1);
  ck_assert_str_eq(w->n[0].last, "world");
  p2p_gossipsub_stats st = stats(w, 0);
  ck_assert_uint_eq(st.published, 1);
  ck_assert_uint_eq(st.delivered, 1);
  ck_assert_uint_eq(st.peers, 1);
  ck_assert_uint_eq(st.bad_sig, 0);
  world_del(w);
}
END_TEST

START_TEST(test_gossipsub_ring_of_ten_delivers_to_all_once) {
  world *w = world_new(10, 2, NULL);
  for (size_t i = 0; i < 10; i++)
    dial(w, i, (i + 1) % 10);
  sub_all(w, 10);
  run_ms(w, 2500);
  for (size_t i = 0; i < 10; i++)
    ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[i].g, TOPIC), 2);
  publish(w, 0, "m1");
  publish(w, 5, "m2");
  run_ms(w, 500);
  uint64_t dups = 0;
  for (size_t i = 0; i < 10; i++) {
    ck_assert_uint_eq(w->n[i].delivered, i == 0 || i == 5 ? 1 : 2);
    dups += stats(w, i).duplicates;
  }
  /* A ring delivers each message around both ways: duplicates meet. */
  ck_assert_uint_gt(dups, 0);
  world_del(w);
}
END_TEST

START_TEST(test_gossipsub_mesh_sizes_stay_within_bounds_fully_connected) {
  world *w = world_new(20, 3, NULL);
  for (size_t i = 0; i < 20; i++)
    for (size_t j = i + 1; j < 20; j++)
      dial(w, i, j);
  sub_all(w, 20);
  /* Between heartbeats GRAFTs of outbound peers may push a mesh above
   * D_hi for a moment; after a few heartbeats the meshes have settled. */
  run_ms(w, 3000);
  for (int round = 0; round < 5; round++) {
    run_ms(w, 1000);
    for (size_t i = 0; i < 20; i++) {
      unsigned m = p2p_gossipsub_mesh_size(w->n[i].g, TOPIC);
      ck_assert_uint_ge(m, 4);
      ck_assert_uint_le(m, 12);
    }
  }
  publish(w, 7, "x");
  run_ms(w, 200);
  for (size_t i = 0; i < 20; i++)
    ck_assert_uint_eq(w->n[i].delivered, i == 7 ? 0 : 1);
  world_del(w);
}
END_TEST

START_TEST(test_gossipsub_unsubscribe_prunes_mesh) {
  world *w = world_new(3, 4, NULL);
  dial(w, 0, 1);
  dial(w, 0, 2);
  dial(w, 1, 2);
  sub_all(w, 3);
  run_ms(w, 1500);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[1].g, TOPIC), 2);
  ck_assert_int_eq(p2p_gossipsub_unsubscribe(w->n[0].g, TOPIC, now_of(w)), 0);
  ck_assert_int_eq(p2p_gossipsub_unsubscribe(w->n[0].g, TOPIC, now_of(w)),
                   P2P_ERR_NOTFOUND);
  run_ms(w, 100);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[0].g, TOPIC), 0);
  ck_assert_uint_eq(stats(w, 0).prune_out, 2);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[1].g, TOPIC), 1);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[2].g, TOPIC), 1);
  /* Heartbeats do not graft 0 back: it left the topic. */
  run_ms(w, 3000);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[1].g, TOPIC), 1);
  publish(w, 1, "after");
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[2].delivered, 1);
  ck_assert_uint_eq(w->n[0].delivered, 0);
  world_del(w);
}
END_TEST

START_TEST(test_gossipsub_graft_during_backoff_refused_with_prune) {
  world *w = world_new(1, 5, NULL);
  sub_all(w, 1);
  raw *r = raw_new(w, 0, 555);
  raw_send_sub(r, TOPIC);
  run_ms(w, 50);
  /* Without a backoff a GRAFT is taken. */
  raw_send_ctl(r, 1, 0);
  run_ms(w, 50);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[0].g, TOPIC), 1);
  ck_assert_uint_eq(raw_prunes(r, NULL), 0);
  /* Our PRUNE (backoff 60 s) takes it out of the mesh... */
  raw_send_ctl(r, 0, 60);
  run_ms(w, 50);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[0].g, TOPIC), 0);
  /* ...and a GRAFT within the backoff is answered with PRUNE. */
  raw_send_ctl(r, 1, 0);
  run_ms(w, 50);
  uint64_t bo = 0;
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[0].g, TOPIC), 0);
  ck_assert_uint_eq(raw_prunes(r, &bo), 1);
  ck_assert_uint_eq(bo, 60);
  ck_assert_ptr_nonnull(strstr(w->n[0].last_log, "during backoff"));
  /* Nor do heartbeats graft the peer while backed off. */
  run_ms(w, 3000);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[0].g, TOPIC), 0);
  world_del(w);
  free(r);
}
END_TEST

START_TEST(test_gossipsub_ihave_iwant_recovers_message_outside_mesh) {
  /* Host 1 keeps a mesh of one (D = D_lo = D_hi = 1): host 0. Host 2
   * dials 1 later; its GRAFT is refused (mesh full, inbound peer), so it
   * only learns of 0's message through 1's IHAVE and asks with IWANT. */
  p2p_gossipsub_config c = base_cfg();
  c.d = c.d_lo = c.d_hi = 1; /* D_out defaults to 0 then */
  c.d_lazy = 1;
  world *w = world_new2(3, 6, NULL, 1, &c);
  dial(w, 0, 1);
  sub_all(w, 2);
  run_ms(w, 1500);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[1].g, TOPIC), 1);
  dial(w, 2, 1);
  run_ms(w, 100);
  ck_assert_int_eq(p2p_gossipsub_subscribe(w->n[2].g, TOPIC, now_of(w)), 0);
  run_ms(w, 1500);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[2].g, TOPIC), 0);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[1].g, TOPIC), 1);
  publish(w, 0, "gossiped");
  run_ms(w, 50);
  ck_assert_uint_eq(w->n[1].delivered, 1);
  ck_assert_uint_eq(w->n[2].delivered, 0);
  run_ms(w, 2000);
  ck_assert_uint_eq(w->n[2].delivered, 1);
  ck_assert_str_eq(w->n[2].last, "gossiped");
  ck_assert_uint_gt(stats(w, 1).ihave_out, 0);
  ck_assert_uint_eq(stats(w, 2).iwant_out, 1);
  world_del(w);
}
END_TEST

START_TEST(test_gossipsub_bad_signature_dropped_and_counted) {
  world *w = world_new(2, 7, NULL);
  dial(w, 0, 1);
  sub_all(w, 2);
  run_ms(w, 1500);
  raw *r = raw_new(w, 0, 777);
  raw_send_sub(r, TOPIC);
  raw_send_msg(r, "forged", 1, 1);
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[0].delivered, 0);
  ck_assert_uint_eq(w->n[1].delivered, 0);
  ck_assert_uint_eq(stats(w, 0).bad_sig, 1);
  ck_assert_ptr_nonnull(strstr(w->n[0].last_log, "bad signature"));
  /* The same message correctly signed (same ID) is still taken. */
  raw_send_msg(r, "forged", 1, 0);
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[0].delivered, 1);
  ck_assert_str_eq(w->n[0].last, "forged");
  ck_assert_uint_eq(w->n[1].delivered, 1); /* relayed */
  ck_assert_uint_eq(stats(w, 0).bad_sig, 1);
  world_del(w);
  free(r);
}
END_TEST

START_TEST(test_gossipsub_garbage_resets_only_that_stream) {
  world *w = world_new(2, 8, NULL);
  dial(w, 0, 1);
  sub_all(w, 2);
  run_ms(w, 1500);
  raw *r = raw_new(w, 0, 888);
  static const uint8_t garbage[] = {0x05, 0xff, 0xff, 0xff, 0xff, 0xff};
  raw_write(r, garbage, sizeof(garbage));
  run_ms(w, 100);
  ck_assert(r->in_reset);
  ck_assert_uint_eq(stats(w, 0).bad_rpc, 1);
  ck_assert_ptr_nonnull(strstr(w->n[0].last_log, "malformed RPC"));
  ck_assert_ptr_nonnull(strstr(w->n[0].last_log, "stream reset"));
  publish(w, 0, "still");
  publish(w, 1, "here");
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[1].delivered, 1);
  ck_assert_uint_eq(w->n[0].delivered, 1);
  world_del(w);
  free(r);
}
END_TEST

START_TEST(test_gossipsub_oversized_rpc_refused) {
  p2p_gossipsub_config c = base_cfg();
  c.max_message_size = 1024;
  world *w = world_new(1, 9, &c);
  sub_all(w, 1);
  uint8_t big[2048];
  memset(big, 'a', sizeof(big));
  ck_assert_int_eq(p2p_gossipsub_publish(w->n[0].g, TOPIC, big, sizeof(big),
                                         now_of(w), NULL, NULL, 0),
                   P2P_ERR_LIMIT);
  raw *r = raw_new(w, 0, 999);
  uint8_t hdr[P2P_VARINT_MAX_LEN];
  int n = p2p_varint_encode(4096, hdr, sizeof(hdr));
  ck_assert_int_gt(n, 0);
  raw_write(r, hdr, (size_t)n); /* the length alone is enough to refuse */
  run_ms(w, 100);
  ck_assert(r->in_reset);
  ck_assert_uint_eq(stats(w, 0).bad_rpc, 1);
  ck_assert_ptr_nonnull(strstr(w->n[0].last_log, "oversized RPC"));
  world_del(w);
  free(r);
}
END_TEST

START_TEST(test_gossipsub_duplicates_not_delivered_twice) {
  world *w = world_new(4, 10, NULL);
  for (size_t i = 0; i < 4; i++)
    for (size_t j = i + 1; j < 4; j++)
      dial(w, i, j);
  sub_all(w, 4);
  run_ms(w, 1500);
  publish(w, 0, "once");
  run_ms(w, 300);
  for (size_t i = 1; i < 4; i++)
    ck_assert_uint_eq(w->n[i].delivered, 1);
  uint64_t dups = 0;
  for (size_t i = 0; i < 4; i++)
    dups += stats(w, i).duplicates;
  ck_assert_uint_gt(dups, 0);
  /* The same bytes fed again are a duplicate, not a delivery. */
  raw *r = raw_new(w, 1, 1010);
  raw_send_sub(r, TOPIC);
  raw_send_msg(r, "rawmsg", 42, 0);
  raw_send_msg(r, "rawmsg", 42, 0);
  run_ms(w, 300);
  ck_assert_uint_eq(w->n[1].delivered, 2);
  for (size_t i = 0; i < 4; i++)
    ck_assert_uint_eq(w->n[i].delivered, i == 0 ? 1 : 2);
  world_del(w);
  free(r);
}
END_TEST

/* Sends messages "m1".."mN" with seqnos 1..N from r, then settles. */
static void send_batch(world *w, raw *r, uint64_t n) {
  char data[16];
  for (uint64_t i = 1; i <= n; i++) {
    snprintf(data, sizeof(data), "m%u", (unsigned)i);
    raw_send_msg(r, data, i, 0);
    if (i % 50 == 0)
      run_ms(w, 20);
  }
  run_ms(w, 200);
}

/* The seen cache grows past its initial size without forgetting: recent
 * messages stay duplicates, and once seen_ttl_ns has passed an old message
 * sent again is delivered again (as go-libp2p's TimeCache does). */
START_TEST(test_gossipsub_seen_cache_grows_and_forgets_after_ttl) {
  enum { N_MSGS = 600 };
  p2p_gossipsub_config cfg = base_cfg();
  cfg.seen_ttl_ns = 20 * S;
  world *w = world_new(1, 31, &cfg);
  sub_all(w, 1);
  raw *r = raw_new(w, 0, 3131);
  raw_send_sub(r, TOPIC);
  run_ms(w, 1500);
  send_batch(w, r, N_MSGS);
  ck_assert_uint_eq(w->n[0].delivered, N_MSGS);
  ck_assert_uint_eq(stats(w, 0).duplicates, 0);
  /* Within the TTL every one of them is still a duplicate. */
  send_batch(w, r, N_MSGS);
  ck_assert_uint_eq(w->n[0].delivered, N_MSGS);
  ck_assert_uint_eq(stats(w, 0).duplicates, N_MSGS);
  /* A new message in between is not mistaken for an old one. */
  raw_send_msg(r, "fresh", N_MSGS + 1, 0);
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[0].delivered, N_MSGS + 1);
  ck_assert_str_eq(w->n[0].last, "fresh");
  /* Past the TTL the first and the last of the batch are forgotten. */
  run_ms(w, cfg.seen_ttl_ns / MS + 2000);
  raw_send_msg(r, "m1", 1, 0);
  raw_send_msg(r, "m600", N_MSGS, 0);
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[0].delivered, N_MSGS + 3);
  ck_assert_str_eq(w->n[0].last, "m600");
  /* Delivered again means seen again. */
  raw_send_msg(r, "m1", 1, 0);
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[0].delivered, N_MSGS + 3);
  ck_assert_uint_eq(stats(w, 0).duplicates, N_MSGS + 1);
  world_del(w);
  free(r);
}
END_TEST

static size_t content_id(void *ctx, const p2p_gossip_msg *m, uint8_t *out,
                         size_t cap) {
  (void)ctx;
  size_t n = m->data_len < cap ? m->data_len : cap;
  memcpy(out, m->data, n);
  return n;
}

/* With content-based IDs a message published twice stays seen until the
 * TTL of the second publish, not the first. */
START_TEST(test_gossipsub_republished_id_seen_until_latest_ttl) {
  p2p_gossipsub_config cfg = base_cfg();
  cfg.seen_ttl_ns = 20 * S;
  cfg.msg_id = content_id;
  world *w = world_new(1, 32, &cfg);
  sub_all(w, 1);
  raw *r = raw_new(w, 0, 3232);
  raw_send_sub(r, TOPIC);
  run_ms(w, 1500);
  publish(w, 0, "same");
  run_ms(w, 10000);
  publish(w, 0, "same");
  run_ms(w, 15000); /* the first publish has expired, the second not */
  raw_send_msg(r, "same", 7, 0);
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[0].delivered, 0);
  ck_assert_uint_eq(stats(w, 0).duplicates, 1);
  run_ms(w, 7000); /* now both have */
  raw_send_msg(r, "same", 8, 0);
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[0].delivered, 1);
  ck_assert_str_eq(w->n[0].last, "same");
  world_del(w);
  free(r);
}
END_TEST

START_TEST(test_gossipsub_survives_losing_one_of_two_connections) {
  world *w = world_new(2, 13, NULL);
  dial(w, 0, 1);
  dial(w, 1, 0);
  sub_all(w, 2);
  run_ms(w, 1500);
  publish(w, 0, "a");
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[1].delivered, 1);
  ck_assert_uint_eq(stats(w, 0).peers, 1); /* one peer, two connections */
  /* Close the connection each side found first; the router keeps going
   * on the other one, with a new stream where its stream was lost. */
  p2p_host *h0 = memnet_host(w->m, 0), *h1 = memnet_host(w->m, 1);
  p2p_conn *c = p2p_host_find_conn(h0, p2p_host_peer_id(h1));
  ck_assert_ptr_nonnull(c);
  p2p_host_conn_close(h0, c, "test", now_of(w));
  run_ms(w, 100);
  ck_assert_ptr_nonnull(p2p_host_find_conn(h0, p2p_host_peer_id(h1)));
  run_ms(w, 2000);
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[0].g, TOPIC), 1);
  publish(w, 0, "b");
  publish(w, 1, "c");
  run_ms(w, 100);
  ck_assert_uint_eq(w->n[1].delivered, 2);
  ck_assert_str_eq(w->n[1].last, "b");
  ck_assert_uint_eq(w->n[0].delivered, 1);
  ck_assert_str_eq(w->n[0].last, "c");
  world_del(w);
}
END_TEST

/* Runs the ring scenario with a seed and returns its delivery log. */
static size_t ring_run(uint64_t seed, delivery *out) {
  world *w = world_new(10, seed, NULL);
  for (size_t i = 0; i < 10; i++) {
    dial(w, i, (i + 1) % 10);
    dial(w, i, (i + 3) % 10);
  }
  sub_all(w, 10);
  run_ms(w, 2500);
  for (int k = 0; k < 5; k++) {
    char d[16];
    snprintf(d, sizeof(d), "m%d", k);
    publish(w, (size_t)(k * 3) % 10, d);
    run_ms(w, 7);
  }
  run_ms(w, 3000);
  size_t n = w->n_deliv;
  memcpy(out, w->deliv, n * sizeof(*out));
  world_del(w);
  return n;
}

START_TEST(test_gossipsub_floodsub_peer_gets_messages_without_mesh) {
  world *w = world_new(2, 12, NULL);
  dial(w, 0, 1);
  sub_all(w, 2);
  run_ms(w, 1500);
  raw *f = raw_new_proto(w, 1, 1212, P2P_FLOODSUB_ID);
  raw_send_sub(f, TOPIC);
  run_ms(w, 2500); /* heartbeats: a floodsub peer is never grafted */
  ck_assert_uint_eq(p2p_gossipsub_mesh_size(w->n[1].g, TOPIC), 1);
  publish(w, 0, "flooded");
  run_ms(w, 100);
  size_t grafts = 0, msgs = 0;
  char last[32] = "";
  ck_assert_uint_eq(raw_scan(f, NULL, &grafts, &msgs, last, sizeof(last)), 0);
  ck_assert_uint_eq(grafts, 0);
  ck_assert_uint_eq(msgs, 1); /* forwarded by 1, which is not its source */
  ck_assert_str_eq(last, "flooded");
  /* Its own messages reach the gossipsub side too. */
  raw_send_msg(f, "from-flood", 7, 0);
  run_ms(w, 100);
  ck_assert_str_eq(w->n[0].last, "from-flood");
  world_del(w);
  free(f);
}
END_TEST

START_TEST(test_gossipsub_same_seed_same_delivery_order) {
  static delivery a[MAX_DELIV], b[MAX_DELIV];
  size_t na = ring_run(11, a), nb = ring_run(11, b);
  ck_assert_uint_eq(na, 45); /* 5 messages to 9 hosts each */
  ck_assert_uint_eq(na, nb);
  ck_assert_int_eq(memcmp(a, b, na * sizeof(*a)), 0);
}
END_TEST

START_TEST(test_gossipsub_config_validation) {
  memnet *m = memnet_new(MS);
  p2p_host *h = memnet_add(m, 1);
  p2p_gossipsub *g = NULL;
  p2p_gossipsub_config c = base_cfg();
  c.d = 3;
  c.d_lo = 4; /* D_lo > D */
  ck_assert_int_eq(p2p_gossipsub_new(h, &c, &g), P2P_ERR_INVALID);
  c = base_cfg();
  c.d_out = 4; /* D_out >= D_lo */
  ck_assert_int_eq(p2p_gossipsub_new(h, &c, &g), P2P_ERR_INVALID);
  c = base_cfg();
  ck_assert_int_eq(p2p_gossipsub_new(h, &c, &g), 0);
  ck_assert_int_eq(p2p_gossipsub_subscribe(g, "", 0), P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_gossipsub_unsubscribe(g, "none", 0), P2P_ERR_NOTFOUND);
  /* Publishing with nobody around succeeds. */
  ck_assert_int_eq(
      p2p_gossipsub_publish(g, "t", (const uint8_t *)"x", 1, 0, NULL, NULL, 0),
      0);
  p2p_gossipsub_del(g);
  memnet_del(m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("gossipsub");
  TCase *tc = tcase_create("router");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_gossipsub_two_hosts_deliver_published_message);
  tcase_add_test(tc, test_gossipsub_ring_of_ten_delivers_to_all_once);
  tcase_add_test(tc,
                 test_gossipsub_mesh_sizes_stay_within_bounds_fully_connected);
  tcase_add_test(tc, test_gossipsub_unsubscribe_prunes_mesh);
  tcase_add_test(tc, test_gossipsub_graft_during_backoff_refused_with_prune);
  tcase_add_test(tc, test_gossipsub_ihave_iwant_recovers_message_outside_mesh);
  tcase_add_test(tc, test_gossipsub_bad_signature_dropped_and_counted);
  tcase_add_test(tc, test_gossipsub_garbage_resets_only_that_stream);
  tcase_add_test(tc, test_gossipsub_oversized_rpc_refused);
  tcase_add_test(tc, test_gossipsub_duplicates_not_delivered_twice);
  tcase_add_test(tc, test_gossipsub_seen_cache_grows_and_forgets_after_ttl);
  tcase_add_test(tc, test_gossipsub_republished_id_seen_until_latest_ttl);
  tcase_add_test(tc, test_gossipsub_floodsub_peer_gets_messages_without_mesh);
  tcase_add_test(tc, test_gossipsub_survives_losing_one_of_two_connections);
  tcase_add_test(tc, test_gossipsub_same_seed_same_delivery_order);
  tcase_add_test(tc, test_gossipsub_config_validation);
  suite_add_tcase(s, tc);
  return fx_run_suite(s);
}
