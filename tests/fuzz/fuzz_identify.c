/*
 * fuzz_identify.c - libFuzzer target for the identify reader and the ping
 * client and server. The first input byte picks chunk sizes; the rest is
 * the peer's stream. Nothing may crash or leak, an accepted identify message
 * must rebuild and parse again to the same fields, and the ping server must
 * echo exactly the full blocks it was given.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/identify.h"
#include "p2p/ping.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Rebuilds an accepted message and checks that it reads back the same. */
static void check_rebuild(const p2p_identify_msg *m) {
  static uint8_t buf[P2P_IDENTIFY_MAX_MSG_LEN + 16];
  uint8_t pub[P2P_PUBKEY_PB_ED25519_LEN];
  p2p_identify_info info;
  p2p_identify_msg back;
  ssize_t n;
  size_t i;
  memset(&info, 0, sizeof(info));
  if (m->has_public_key) {
    if (p2p_pubkey_marshal(&m->public_key, pub, sizeof(pub)) !=
        (ssize_t)sizeof(pub))
      abort();
    info.public_key = pub;
    info.public_key_len = sizeof(pub);
  }
  info.listen_addrs = m->listen_addrs;
  info.n_listen_addrs = m->n_listen_addrs;
  info.protocols = (const char *const *)m->protocols;
  info.n_protocols = m->n_protocols;
  info.observed_addr = m->has_observed_addr ? &m->observed_addr : NULL;
  info.protocol_version = m->protocol_version;
  info.agent_version = m->agent_version;
  info.signed_peer_record = m->signed_peer_record;
  info.signed_peer_record_len = m->signed_peer_record_len;
  n = p2p_identify_build(&info, buf, sizeof(buf));
  if (n < 0)
    abort(); /* never larger than what was accepted */
  {
    p2p_identify_reader r;
    p2p_identify_reader_init(&r);
    if (p2p_identify_reader_recv(&r, buf, (size_t)n) != n ||
        p2p_identify_reader_take(&r, &back) != 0)
      abort();
    p2p_identify_reader_free(&r);
  }
  if (back.has_public_key != m->has_public_key ||
      back.n_listen_addrs != m->n_listen_addrs ||
      back.n_protocols != m->n_protocols ||
      back.has_observed_addr != m->has_observed_addr ||
      back.has_peer_record != m->has_peer_record || back.n_skipped_addrs != 0)
    abort();
  for (i = 0; i < m->n_protocols; i++)
    if (strcmp(back.protocols[i], m->protocols[i]) != 0)
      abort();
  p2p_identify_msg_free(&back);
}

static void fuzz_reader(const uint8_t *data, size_t size, size_t step) {
  p2p_identify_reader r;
  p2p_identify_msg m;
  size_t off = 0;
  p2p_identify_reader_init(&r);
  while (off < size) {
    size_t len = size - off < step ? size - off : step;
    ssize_t used = p2p_identify_reader_recv(&r, data + off, len);
    if (used < 0 || (size_t)used > len)
      break;
    off += (size_t)used;
    if ((size_t)used < len)
      break;
  }
  if (p2p_identify_reader_recv_eof(&r) == 0) {
    if (p2p_identify_reader_take(&r, &m) != 0)
      abort();
    check_rebuild(&m);
    p2p_identify_msg_free(&m);
  }
  p2p_identify_reader_free(&r);
}

/* Random bytes for the ping client, drawn from the input. */
typedef struct input_rand {
  const uint8_t *data;
  size_t size, pos;
} input_rand;

static void input_fill(void *ctx, uint8_t *buf, size_t len) {
  input_rand *ir = ctx;
  size_t i;
  for (i = 0; i < len; i++)
    buf[i] = ir->size ? ir->data[ir->pos++ % ir->size] : 0;
}

static void fuzz_ping(const uint8_t *data, size_t size, size_t step) {
  input_rand ir = {data, size, 0};
  p2p_rand rnd = {input_fill, &ir};
  p2p_ping_server s;
  p2p_ping_client c;
  uint8_t out[96], req[P2P_PING_PAYLOAD_LEN];
  size_t off = 0, echoed = 0, used;
  uint64_t rtt, now = 0;
  p2p_ping_server_init(&s);
  while (off < size) {
    size_t len = size - off < step ? size - off : step;
    ssize_t n = p2p_ping_server_recv(&s, data + off, len, out,
                                     step % sizeof(out), &used);
    if (n < 0 || n % P2P_PING_PAYLOAD_LEN != 0 || used > len)
      abort();
    if (memcmp(out, data + echoed, (size_t)n) != 0)
      abort();
    echoed += (size_t)n;
    off += used;
    if (used == 0 && step % sizeof(out) < P2P_PING_PAYLOAD_LEN)
      break; /* no room for an echo: the server cannot progress */
  }
  p2p_ping_client_init(&c);
  off = 0;
  while (off < size) {
    int rv;
    if (!p2p_ping_client_outstanding(&c) &&
        p2p_ping_client_start(&c, &rnd, now, req, sizeof(req)) !=
            P2P_PING_PAYLOAD_LEN)
      abort();
    rv = p2p_ping_client_recv(&c, data + off,
                              size - off < step ? size - off : step, ++now,
                              &used, &rtt);
    if (rv < 0)
      break;
    if (rv == 1 && rtt > now)
      abort();
    off += used;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t step;
  if (size == 0)
    return 0;
  step = (size_t)(data[0] & 0x3f) + 1;
  if (data[0] & 0x40)
    step = size; /* one chunk */
  if (data[0] & 0x80)
    fuzz_ping(data + 1, size - 1, step);
  else
    fuzz_reader(data + 1, size - 1, step);
  return 0;
}
