/*
 * multihash.c - multihash encoding and decoding for the two hash functions
 * libp2p uses: identity (inlined keys) and sha2-256.
 */
#include "p2p/multihash.h"

#include <sodium.h>
#include <string.h>

#include "p2p/varint.h"

/* Whether (code, len) is a digest this module accepts. */
static int digest_ok(uint64_t code, size_t len) {
  if (code == P2P_MH_SHA2_256)
    return len == P2P_MH_SHA2_256_LEN;
  if (code == P2P_MH_IDENTITY)
    return len <= P2P_MH_MAX_IDENTITY;
  return 0;
}

ssize_t p2p_multihash_encode(uint64_t code, const uint8_t *digest, size_t len,
                             uint8_t *out, size_t cap) {
  if (!digest_ok(code, len) || (digest == NULL && len > 0))
    return P2P_ERR_INVALID;
  size_t need = p2p_varint_len(code) + p2p_varint_len(len) + len;
  if (out == NULL || cap < need)
    return P2P_ERR_LIMIT;
  int n = p2p_varint_encode(code, out, cap);
  if (n < 0)
    return n;
  size_t pos = (size_t)n;
  n = p2p_varint_encode(len, out + pos, cap - pos);
  if (n < 0)
    return n;
  pos += (size_t)n;
  if (len > 0)
    memcpy(out + pos, digest, len);
  return (ssize_t)(pos + len);
}

ssize_t p2p_multihash_sha256(const uint8_t *data, size_t len, uint8_t *out,
                             size_t cap) {
  uint8_t digest[crypto_hash_sha256_BYTES];
  if (data == NULL && len > 0)
    return P2P_ERR_INVALID;
  if (sodium_init() < 0)
    return P2P_ERR_INTERNAL;
  crypto_hash_sha256(digest, data, len);
  return p2p_multihash_encode(P2P_MH_SHA2_256, digest, sizeof digest, out, cap);
}

int p2p_multihash_decode(const uint8_t *buf, size_t len,
                         p2p_multihash_view *out) {
  uint64_t code, dlen;
  if (buf == NULL)
    return P2P_ERR_INVALID;
  int n = p2p_varint_decode(buf, len, &code);
  if (n <= 0)
    return P2P_ERR_INVALID;
  size_t pos = (size_t)n;
  n = p2p_varint_decode(buf + pos, len - pos, &dlen);
  if (n <= 0)
    return P2P_ERR_INVALID;
  pos += (size_t)n;
  if (dlen != len - pos || !digest_ok(code, (size_t)dlen))
    return P2P_ERR_INVALID;
  if (out != NULL) {
    out->code = code;
    out->digest = buf + pos;
    out->len = (size_t)dlen;
  }
  return 0;
}
