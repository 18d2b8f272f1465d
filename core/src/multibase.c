/*
 * multibase.c - base58btc, base32 (lower case, unpadded) and base64url
 * (unpadded), bare and with the multibase prefix character.
 *
 * Decoders are strict so that every accepted string is the one encoding of
 * its bytes: no padding, no characters outside the alphabet (base32 is
 * lower case only), and the unused bits of the last character must be zero.
 */
#include "p2p/multibase.h"

#include <stdint.h>

static const char b58_alphabet[] =
    "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char b32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The value of c in a 2^bits-character alphabet, or -1. */
static int alphabet_index(const char *alphabet, size_t n, char c) {
  for (size_t i = 0; i < n; i++) {
    if (alphabet[i] == c)
      return (int)i;
  }
  return -1;
}

ssize_t p2p_base58btc_encode(const uint8_t *in, size_t len, char *out,
                             size_t cap) {
  if (in == NULL && len > 0)
    return P2P_ERR_INVALID;
  size_t zeros = 0;
  while (zeros < len && in[zeros] == 0)
    zeros++;
  if (out == NULL || cap < zeros + 1)
    return P2P_ERR_LIMIT;
  /* Base-58 digits are built little-endian in out[zeros..], as values. */
  uint8_t *digits = (uint8_t *)out + zeros;
  size_t nd = 0;
  for (size_t i = zeros; i < len; i++) {
    uint32_t carry = in[i];
    for (size_t j = 0; j < nd; j++) {
      carry += (uint32_t)digits[j] << 8;
      digits[j] = (uint8_t)(carry % 58);
      carry /= 58;
    }
    while (carry > 0) {
      if (zeros + nd + 2 > cap)
        return P2P_ERR_LIMIT;
      digits[nd++] = (uint8_t)(carry % 58);
      carry /= 58;
    }
  }
  for (size_t i = 0; i < zeros; i++)
    out[i] = '1';
  for (size_t i = 0; i < nd / 2; i++) {
    uint8_t t = digits[i];
    digits[i] = digits[nd - 1 - i];
    digits[nd - 1 - i] = t;
  }
  for (size_t i = 0; i < nd; i++)
    out[zeros + i] = b58_alphabet[digits[i]];
  out[zeros + nd] = '\0';
  return (ssize_t)(zeros + nd);
}

ssize_t p2p_base58btc_decode(const char *in, size_t len, uint8_t *out,
                             size_t cap) {
  if (in == NULL && len > 0)
    return P2P_ERR_INVALID;
  size_t zeros = 0;
  while (zeros < len && in[zeros] == '1')
    zeros++;
  for (size_t i = zeros; i < len; i++) {
    if (alphabet_index(b58_alphabet, 58, in[i]) < 0)
      return P2P_ERR_INVALID;
  }
  if (cap < zeros || (out == NULL && len > 0))
    return P2P_ERR_LIMIT;
  /* The number is built little-endian in out[zeros..]. */
  uint8_t *num = out + zeros;
  size_t nb = 0;
  for (size_t i = zeros; i < len; i++) {
    uint32_t carry = (uint32_t)alphabet_index(b58_alphabet, 58, in[i]);
    for (size_t j = 0; j < nb; j++) {
      carry += (uint32_t)num[j] * 58;
      num[j] = (uint8_t)(carry & 0xff);
      carry >>= 8;
    }
    while (carry > 0) {
      if (zeros + nb + 1 > cap)
        return P2P_ERR_LIMIT;
      num[nb++] = (uint8_t)(carry & 0xff);
      carry >>= 8;
    }
  }
  for (size_t i = 0; i < zeros; i++)
    out[i] = 0;
  for (size_t i = 0; i < nb / 2; i++) {
    uint8_t t = num[i];
    num[i] = num[nb - 1 - i];
    num[nb - 1 - i] = t;
  }
  return (ssize_t)(zeros + nb);
}

/* RFC 4648 encoding with `bits` bits per character and no padding. */
static ssize_t encode_pow2(const char *alphabet, unsigned bits,
                           const uint8_t *in, size_t len, char *out,
                           size_t cap) {
  if (in == NULL && len > 0)
    return P2P_ERR_INVALID;
  if (len > (SIZE_MAX - 8) / 8)
    return P2P_ERR_LIMIT;
  size_t n = (len * 8 + bits - 1) / bits;
  if (out == NULL || cap < n + 1)
    return P2P_ERR_LIMIT;
  uint32_t acc = 0;
  unsigned have = 0;
  size_t o = 0;
  uint32_t mask = (1u << bits) - 1;
  for (size_t i = 0; i < len; i++) {
    acc = (acc << 8) | in[i];
    have += 8;
    while (have >= bits) {
      have -= bits;
      out[o++] = alphabet[(acc >> have) & mask];
    }
    acc &= (1u << have) - 1;
  }
  if (have > 0)
    out[o++] = alphabet[(acc << (bits - have)) & mask];
  out[o] = '\0';
  return (ssize_t)o;
}

static ssize_t decode_pow2(const char *alphabet, unsigned bits, const char *in,
                           size_t len, uint8_t *out, size_t cap) {
  if (in == NULL && len > 0)
    return P2P_ERR_INVALID;
  if (len > SIZE_MAX / 8)
    return P2P_ERR_LIMIT;
  /* Leftover bits of a full character would mean a truncated encoding. */
  if ((len * bits) % 8 >= bits)
    return P2P_ERR_INVALID;
  uint32_t acc = 0;
  unsigned have = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    int v = alphabet_index(alphabet, (size_t)1 << bits, in[i]);
    if (v < 0)
      return P2P_ERR_INVALID;
    acc = (acc << bits) | (uint32_t)v;
    have += bits;
    if (have >= 8) {
      have -= 8;
      if (o >= cap || out == NULL)
        return P2P_ERR_LIMIT;
      out[o++] = (uint8_t)(acc >> have);
      acc &= (1u << have) - 1;
    }
  }
  /* The unused low bits of the last character must be zero, or two
   * strings would decode to the same bytes. */
  if (acc != 0)
    return P2P_ERR_INVALID;
  return (ssize_t)o;
}

ssize_t p2p_base32_encode(const uint8_t *in, size_t len, char *out,
                          size_t cap) {
  return encode_pow2(b32_alphabet, 5, in, len, out, cap);
}

ssize_t p2p_base32_decode(const char *in, size_t len, uint8_t *out,
                          size_t cap) {
  return decode_pow2(b32_alphabet, 5, in, len, out, cap);
}

ssize_t p2p_base64url_encode(const uint8_t *in, size_t len, char *out,
                             size_t cap) {
  return encode_pow2(b64url_alphabet, 6, in, len, out, cap);
}

ssize_t p2p_base64url_decode(const char *in, size_t len, uint8_t *out,
                             size_t cap) {
  return decode_pow2(b64url_alphabet, 6, in, len, out, cap);
}

ssize_t p2p_multibase_encode(p2p_multibase base, const uint8_t *in, size_t len,
                             char *out, size_t cap) {
  ssize_t n;
  if (base != P2P_BASE58BTC && base != P2P_BASE32 && base != P2P_BASE64URL)
    return P2P_ERR_INVALID;
  if (out == NULL || cap < 2)
    return P2P_ERR_LIMIT;
  out[0] = (char)base;
  switch (base) {
  case P2P_BASE58BTC:
    n = p2p_base58btc_encode(in, len, out + 1, cap - 1);
    break;
  case P2P_BASE32: n = p2p_base32_encode(in, len, out + 1, cap - 1); break;
  default: n = p2p_base64url_encode(in, len, out + 1, cap - 1); break;
  }
  return n < 0 ? n : n + 1;
}

ssize_t p2p_multibase_decode(const char *in, size_t len, uint8_t *out,
                             size_t cap, p2p_multibase *base) {
  ssize_t n;
  if (in == NULL || len < 1)
    return P2P_ERR_INVALID;
  switch (in[0]) {
  case 'z': n = p2p_base58btc_decode(in + 1, len - 1, out, cap); break;
  case 'b': n = p2p_base32_decode(in + 1, len - 1, out, cap); break;
  case 'u': n = p2p_base64url_decode(in + 1, len - 1, out, cap); break;
  default: return P2P_ERR_INVALID;
  }
  if (n >= 0 && base != NULL)
    *base = (p2p_multibase)in[0];
  return n;
}
