/*
 * varint.c - the multiformats unsigned varint (little-endian base-128, at
 * most 9 bytes, minimal encodings only).
 */
#include "p2p/varint.h"

size_t p2p_varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

int p2p_varint_encode(uint64_t v, uint8_t *buf, size_t cap) {
  if (v > P2P_VARINT_MAX)
    return P2P_ERR_INVALID;
  size_t n = p2p_varint_len(v);
  if (buf == NULL || cap < n)
    return P2P_ERR_LIMIT;
  for (size_t i = 0; i + 1 < n; i++) {
    buf[i] = (uint8_t)((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n - 1] = (uint8_t)v;
  return (int)n;
}

int p2p_varint_decode(const uint8_t *buf, size_t len, uint64_t *out) {
  uint64_t v = 0;
  for (size_t i = 0; i < P2P_VARINT_MAX_LEN; i++) {
    if (i >= len)
      return 0; /* the varint continues past the end of the input */
    uint8_t b = buf[i];
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      /* A last group of zero (after the first byte) means a shorter
       * encoding of the same value exists. */
      if (b == 0 && i > 0)
        return P2P_ERR_PROTO;
      if (out != NULL)
        *out = v;
      return (int)(i + 1);
    }
  }
  /* The ninth byte still had its continuation bit set. */
  return P2P_ERR_PROTO;
}
