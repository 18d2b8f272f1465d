/*
 * p2p/varint.h - the multiformats unsigned varint.
 *
 * Little-endian base-128, at most 9 bytes (values below 2^63), and minimal:
 * a decoder refuses trailing zero groups (as go-varint does), so every value
 * has exactly one encoding.
 */
#ifndef P2P_VARINT_H
#define P2P_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"

#define P2P_VARINT_MAX_LEN 9
#define P2P_VARINT_MAX ((UINT64_C(1) << 63) - 1)

/* The encoded length of v (1..9); v must be <= P2P_VARINT_MAX. */
size_t p2p_varint_len(uint64_t v);

/* Writes v into buf. Returns the bytes written, P2P_ERR_INVALID when v is
 * above P2P_VARINT_MAX, or P2P_ERR_LIMIT when cap is too small. */
P2P_WUR int p2p_varint_encode(uint64_t v, uint8_t *buf, size_t cap);

/* Reads one varint from the start of buf. Returns the bytes consumed (> 0),
 * 0 when buf ends inside the varint (more input needed), or P2P_ERR_PROTO
 * when it is longer than 9 bytes or not minimal. */
P2P_WUR int p2p_varint_decode(const uint8_t *buf, size_t len, uint64_t *out);

#endif /* P2P_VARINT_H */
