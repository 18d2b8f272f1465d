/*
 * p2p/rand.h - the random source the core is handed.
 *
 * The core never draws randomness of its own: every key, nonce and choice
 * comes from this source, which the embedder supplies. In simulation it is a
 * seeded stream (so a run replays to the byte); on a real node it is the
 * operating system's generator.
 */
#ifndef P2P_RAND_H
#define P2P_RAND_H

#include <stddef.h>
#include <stdint.h>

typedef struct p2p_rand {
  /* Fills buf with len random bytes. Never fails. */
  void (*fill)(void *ctx, uint8_t *buf, size_t len);
  void *ctx;
} p2p_rand;

static inline void p2p_rand_fill(const p2p_rand *r, void *buf, size_t len) {
  r->fill(r->ctx, (uint8_t *)buf, len);
}

#endif /* P2P_RAND_H */
