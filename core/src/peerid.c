/*
 * peerid.c - peer IDs from public keys, and their two text forms.
 */
#include "p2p/peerid.h"

#include <string.h>

#include "p2p/multibase.h"
#include "p2p/multihash.h"
#include "p2p/varint.h"

/* Multibase-decoded CIDs are at most version + codec + the multihash. */
#define CID_MAX_LEN (2 * P2P_VARINT_MAX_LEN + P2P_PEERID_MAX_LEN)
#define CID_VERSION_1 1

int p2p_peerid_from_pubkey(const p2p_pubkey *key, p2p_peerid *out) {
  /* Room for any key we can marshal; only Ed25519 (36 bytes) today. */
  uint8_t pb[128];
  ssize_t n, m;
  if (key == NULL || out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  n = p2p_pubkey_marshal(key, pb, sizeof(pb));
  if (n < 0)
    return (int)n;
  if ((size_t)n <= P2P_PEERID_MAX_INLINE_KEY)
    m = p2p_multihash_encode(P2P_MH_IDENTITY, pb, (size_t)n, out->bytes,
                             sizeof(out->bytes));
  else
    m = p2p_multihash_sha256(pb, (size_t)n, out->bytes, sizeof(out->bytes));
  if (m < 0)
    return (int)m;
  out->len = (size_t)m;
  return 0;
}

int p2p_peerid_from_bytes(const uint8_t *buf, size_t len, p2p_peerid *out) {
  p2p_multihash_view mh;
  if (out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (buf == NULL || len == 0 || len > sizeof(out->bytes))
    return P2P_ERR_INVALID;
  if (p2p_multihash_decode(buf, len, &mh) != 0)
    return P2P_ERR_INVALID;
  if (mh.code == P2P_MH_IDENTITY) {
    if (mh.len == 0 || mh.len > P2P_PEERID_MAX_INLINE_KEY)
      return P2P_ERR_INVALID;
  } else if (mh.code != P2P_MH_SHA2_256 || mh.len != P2P_MH_SHA2_256_LEN) {
    return P2P_ERR_INVALID;
  }
  memcpy(out->bytes, buf, len);
  out->len = len;
  return 0;
}

/* The CID form: varint version 1, varint libp2p-key, multihash. */
static int peerid_from_cid(const uint8_t *buf, size_t len, p2p_peerid *out) {
  uint64_t version, codec;
  int a, b;
  a = p2p_varint_decode(buf, len, &version);
  if (a <= 0 || version != CID_VERSION_1)
    return P2P_ERR_INVALID;
  b = p2p_varint_decode(buf + a, len - (size_t)a, &codec);
  if (b <= 0 || codec != P2P_CODEC_LIBP2P_KEY)
    return P2P_ERR_INVALID;
  return p2p_peerid_from_bytes(buf + a + b, len - (size_t)a - (size_t)b, out);
}

int p2p_peerid_parse(const char *str, size_t len, p2p_peerid *out) {
  uint8_t buf[CID_MAX_LEN];
  ssize_t n;
  p2p_multibase base;
  if (out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (str == NULL || len == 0 || len >= P2P_PEERID_STR_MAX)
    return P2P_ERR_INVALID;
  if (str[0] == '1' || str[0] == 'Q') {
    n = p2p_base58btc_decode(str, len, buf, sizeof(buf));
    if (n <= 0)
      return P2P_ERR_INVALID;
    return p2p_peerid_from_bytes(buf, (size_t)n, out);
  }
  n = p2p_multibase_decode(str, len, buf, sizeof(buf), &base);
  if (n <= 0)
    return P2P_ERR_INVALID;
  return peerid_from_cid(buf, (size_t)n, out);
}

ssize_t p2p_peerid_to_string(const p2p_peerid *id, char *out, size_t cap) {
  if (id == NULL || id->len == 0 || id->len > sizeof(id->bytes))
    return P2P_ERR_INVALID;
  if (out == NULL)
    return P2P_ERR_LIMIT;
  return p2p_base58btc_encode(id->bytes, id->len, out, cap);
}

ssize_t p2p_peerid_to_cid_string(const p2p_peerid *id, char *out, size_t cap) {
  uint8_t cid[CID_MAX_LEN];
  size_t off = 0;
  int n;
  if (id == NULL || id->len == 0 || id->len > sizeof(id->bytes))
    return P2P_ERR_INVALID;
  if (out == NULL)
    return P2P_ERR_LIMIT;
  n = p2p_varint_encode(CID_VERSION_1, cid, sizeof(cid));
  if (n < 0)
    return n;
  off += (size_t)n;
  n = p2p_varint_encode(P2P_CODEC_LIBP2P_KEY, cid + off, sizeof(cid) - off);
  if (n < 0)
    return n;
  off += (size_t)n;
  memcpy(cid + off, id->bytes, id->len);
  off += id->len;
  return p2p_multibase_encode(P2P_BASE32, cid, off, out, cap);
}

int p2p_peerid_to_pubkey(const p2p_peerid *id, p2p_pubkey *out) {
  p2p_multihash_view mh;
  if (id == NULL || out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (id->len == 0 || id->len > sizeof(id->bytes) ||
      p2p_multihash_decode(id->bytes, id->len, &mh) != 0)
    return P2P_ERR_INVALID;
  if (mh.code != P2P_MH_IDENTITY)
    return P2P_ERR_NOTFOUND;
  return p2p_pubkey_unmarshal(mh.digest, mh.len, out);
}

int p2p_peerid_matches_pubkey(const p2p_peerid *id, const p2p_pubkey *key) {
  p2p_peerid derived;
  if (id == NULL || key == NULL || p2p_peerid_from_pubkey(key, &derived) != 0)
    return 0;
  return p2p_peerid_equal(id, &derived);
}

int p2p_peerid_equal(const p2p_peerid *a, const p2p_peerid *b) {
  return a->len == b->len && a->len <= sizeof(a->bytes) &&
         memcmp(a->bytes, b->bytes, a->len) == 0;
}
