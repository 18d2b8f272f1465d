/*
 * tests/fuzz/fuzz_noise.c - the libp2p Noise channel (core/src/noise.c).
 *
 * Byte 0 picks the mode (bits 0-1) and the chunk size the input is fed in
 * (bits 2-7: 1..64 bytes):
 *   0: the bytes are what an initiator sends to a responder;
 *   1: the bytes are what a responder sends to an initiator that has
 *      written its first message;
 *   2: the bytes are the (decrypted) payload of message 2, sent by a
 *      hand-driven XX responder, so the protobuf and signature checks of
 *      the initiator see arbitrary input behind a valid AEAD;
 *   3: likewise for the payload of message 3 against a responder.
 * Keys come from a fixed stream so a crash replays. Besides the
 * sanitizers the target checks the contract: recv never claims more than
 * it was given, a failure is sticky with a reason, an established channel
 * knows its peer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void counter_fill(void *ctx, uint8_t *buf, size_t len) {
  uint32_t *c = ctx;
  for (size_t i = 0; i < len; i++)
    buf[i] = (uint8_t)((*c)++ * 167u + 13u);
}

static void check(p2p_noise *n) {
  uint8_t out[512];
  ssize_t r;
  int st = p2p_noise_state(n);
  if (st == P2P_NOISE_FAILED &&
      (p2p_noise_error(n) >= 0 || p2p_noise_reason(n)[0] == '\0'))
    abort();
  if (st == P2P_NOISE_ESTABLISHED && !p2p_noise_remote_peer(n))
    abort();
  do {
    r = p2p_noise_send(n, out, sizeof(out));
    if (r < 0 || (size_t)r > sizeof(out))
      abort();
  } while (r > 0);
  do {
    r = p2p_noise_read(n, out, sizeof(out));
    if (r < 0 || (size_t)r > sizeof(out))
      abort();
  } while (r > 0);
}

static void feed(p2p_noise *n, const uint8_t *d, size_t size, size_t chunk) {
  size_t off = 0;
  while (off < size) {
    size_t c = size - off < chunk ? size - off : chunk;
    ssize_t r = p2p_noise_recv(n, d + off, c);
    if (r < 0) {
      if (p2p_noise_state(n) != P2P_NOISE_FAILED ||
          p2p_noise_recv(n, d + off, c) != r)
        abort();
      break;
    }
    if ((size_t)r > c)
      abort();
    off += (size_t)r;
    check(n);
  }
  check(n);
}

/* Modes 2 and 3: a raw XX peer carrying `payload` in its message 2 or 3. */
static void forged(p2p_noise *n, int initiator_side, const p2p_rand *rnd,
                   const uint8_t *payload, size_t plen) {
  static uint8_t msg[P2P_NOISE_MAX_MSG_LEN + 2], pt[P2P_NOISE_MAX_MSG_LEN];
  uint8_t s[32];
  p2p_noise_xx *x;
  ssize_t m;
  memset(s, 0x5a, sizeof(s));
  if (p2p_noise_xx_new(!initiator_side, NULL, 0, s, rnd, &x) != 0)
    abort();
  if (initiator_side) { /* n is the initiator: read its e, answer */
    m = p2p_noise_send(n, msg, sizeof(msg));
    if (m != 34 || p2p_noise_xx_read_message(x, msg + 2, 32, pt, 1) != 0)
      abort();
  } else { /* n is the responder: send e, read its answer */
    m = p2p_noise_xx_write_message(x, NULL, 0, msg + 2, 64);
    if (m != 32)
      abort();
    msg[0] = 0, msg[1] = 32;
    if (p2p_noise_recv(n, msg, 34) != 34)
      abort();
    m = p2p_noise_send(n, msg, sizeof(msg));
    if (m < 2 || p2p_noise_xx_read_message(x, msg + 2, (size_t)m - 2, pt,
                                           sizeof(pt)) < 0)
      abort();
  }
  m = p2p_noise_xx_write_message(x, payload, plen, msg + 2,
                                 P2P_NOISE_MAX_MSG_LEN);
  if (m > 0) {
    msg[0] = (uint8_t)(m >> 8);
    msg[1] = (uint8_t)m;
    feed(n, msg, (size_t)m + 2, sizeof(msg));
  }
  p2p_noise_xx_del(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const muxers[] = {"/yamux/1.0.0"};
  uint32_t ctr = 1;
  p2p_rand rnd = {counter_fill, &ctr};
  uint8_t seed[32], first[64];
  p2p_privkey key;
  p2p_noise *n;
  int mode;
  size_t chunk;
  if (size < 1)
    return 0;
  mode = data[0] & 3;
  chunk = (size_t)(data[0] >> 2) + 1;
  data++, size--;
  memset(seed, 7, sizeof(seed));
  if (p2p_key_from_seed(seed, &key) != 0)
    abort();
  p2p_noise_role role =
      (mode == 1 || mode == 2) ? P2P_NOISE_INITIATOR : P2P_NOISE_RESPONDER;
  if (p2p_noise_new(role, &key, NULL, muxers, 1, &rnd, &n) != 0)
    abort();
  switch (mode) {
  case 0: feed(n, data, size, chunk); break;
  case 1:
    if (p2p_noise_send(n, first, sizeof(first)) != 34)
      abort();
    feed(n, data, size, chunk);
    break;
  default: forged(n, mode == 2, &rnd, data, size); break;
  }
  p2p_noise_del(n);
  return 0;
}
