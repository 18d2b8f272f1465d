/*
 * fuzz_gossipsub.c - libFuzzer target for the GossipSub router's input
 * path: length-prefixed RPC framing, protobuf decoding and the handling of
 * subscriptions, messages (StrictSign checks), IHAVE, IWANT, GRAFT and
 * PRUNE. A fresh host and router per input, subscribed to "t" and
 * "blocks"; the bytes arrive as one peer's inbound stream through
 * p2p_gossipsub_inject. The first input byte picks options: bit 0 publishes
 * a message first (so IWANT finds something in the message cache), bit 1
 * feeds the rest in two halves from two different peers, bit 2 runs two
 * heartbeats afterwards. Nothing may crash or leak, and the result must
 * be 0 or the documented reset errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/gossipsub.h"
#include "p2p/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fill_fixed(void *ctx, uint8_t *buf, size_t len) {
  uint64_t *s = ctx;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (uint8_t)*s;
  }
}

static int no_write(void *ctx, p2p_conn *c, const uint8_t *buf, size_t len) {
  (void)ctx, (void)c, (void)buf, (void)len;
  return 0;
}

static void no_close(void *ctx, p2p_conn *c, int err) {
  (void)ctx, (void)c, (void)err;
}

static void count_msg(void *ctx, const p2p_gossip_msg *m, uint64_t now) {
  size_t *n = ctx;
  (void)now;
  if (m->topic == NULL || m->from == NULL || (m->data == NULL && m->data_len))
    abort();
  (*n)++;
}

/* A peer ID made from a fixed key seed. */
static void peer_of(uint8_t seed, p2p_peerid *out) {
  uint8_t ks[P2P_ED25519_SEED_LEN];
  p2p_privkey k;
  memset(ks, seed, sizeof(ks));
  if (p2p_key_from_seed(ks, &k) != 0 || p2p_peerid_from_pubkey(&k.pub, out))
    abort();
}

static void check_rv(int rv) {
  if (rv != 0 && rv != P2P_ERR_PROTO && rv != P2P_ERR_LIMIT &&
      rv != P2P_ERR_NOMEM)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static p2p_peerid peer_a, peer_b;
  static int init;
  uint8_t ks[P2P_ED25519_SEED_LEN];
  uint64_t state = 0x9e3779b97f4a7c15ull;
  p2p_rand rnd = {fill_fixed, &state};
  p2p_privkey key;
  p2p_host *h = NULL;
  p2p_gossipsub *g = NULL;
  size_t delivered = 0;
  uint64_t now = 1000000000ull;
  if (size == 0)
    return 0;
  if (!init) {
    peer_of(1, &peer_a);
    peer_of(2, &peer_b);
    init = 1;
  }
  memset(ks, 7, sizeof(ks));
  if (p2p_key_from_seed(ks, &key) != 0)
    abort();
  p2p_host_config hc;
  memset(&hc, 0, sizeof(hc));
  hc.key = &key;
  hc.rnd = &rnd;
  hc.conn_write = no_write;
  hc.conn_close = no_close;
  if (p2p_host_new(&hc, &h) != 0)
    abort();
  p2p_gossipsub_config gc;
  memset(&gc, 0, sizeof(gc));
  gc.max_message_size = 64 * 1024;
  gc.on_message = count_msg;
  gc.ctx = &delivered;
  if (p2p_gossipsub_new(h, &gc, &g) != 0 ||
      p2p_gossipsub_subscribe(g, "t", now) != 0 ||
      p2p_gossipsub_subscribe(g, "blocks", now) != 0)
    abort();
  uint8_t opt = data[0];
  data++;
  size--;
  if ((opt & 1) && p2p_gossipsub_publish(g, "t", (const uint8_t *)"x", 1, now,
                                         NULL, NULL, 0) != 0)
    abort();
  if (opt & 2) {
    size_t half = size / 2;
    check_rv(p2p_gossipsub_inject(g, &peer_a, data, half, now));
    check_rv(p2p_gossipsub_inject(g, &peer_b, data + half, size - half, now));
  } else {
    check_rv(p2p_gossipsub_inject(g, &peer_a, data, size, now));
  }
  if (opt & 4) {
    p2p_host_on_expiry(h, now + 200000000ull);
    p2p_host_on_expiry(h, now + 1200000000ull);
  }
  p2p_gossipsub_stats st;
  p2p_gossipsub_get_stats(g, &st);
  if (st.delivered != delivered)
    abort();
  p2p_gossipsub_del(g);
  p2p_host_del(h);
  return 0;
}
