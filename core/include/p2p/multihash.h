/*
 * p2p/multihash.h - multihash: varint code, varint digest length, digest.
 * The codes libp2p uses: identity (0x00) and sha2-256 (0x12).
 */
#ifndef P2P_MULTIHASH_H
#define P2P_MULTIHASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/error.h"

#define P2P_MH_IDENTITY 0x00
#define P2P_MH_SHA2_256 0x12
#define P2P_MH_SHA2_256_LEN 32
/* Peer IDs inline keys of at most 42 bytes with the identity hash. */
#define P2P_MH_MAX_IDENTITY 128

typedef struct p2p_multihash_view {
  uint64_t code;
  const uint8_t *digest; /* points into the decoded buffer */
  size_t len;
} p2p_multihash_view;

/* Encodes (code, digest). Returns bytes written, P2P_ERR_LIMIT or
 * P2P_ERR_INVALID (unknown code, or a sha2-256 digest not 32 bytes long). */
P2P_WUR ssize_t p2p_multihash_encode(uint64_t code, const uint8_t *digest,
                                     size_t len, uint8_t *out, size_t cap);

/* SHA-256 of data, as a multihash (34 bytes). */
P2P_WUR ssize_t p2p_multihash_sha256(const uint8_t *data, size_t len,
                                     uint8_t *out, size_t cap);

/* Decodes a buffer that must hold exactly one multihash of a known code
 * with a consistent length. Returns 0 or P2P_ERR_INVALID. */
P2P_WUR int p2p_multihash_decode(const uint8_t *buf, size_t len,
                                 p2p_multihash_view *out);

#endif /* P2P_MULTIHASH_H */
