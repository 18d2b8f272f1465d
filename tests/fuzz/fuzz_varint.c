/* libFuzzer target for core/src/varint.c: every accepted varint re-encodes
 * to the same bytes (so encodings are minimal and unique), and every value
 * encodes to something that decodes back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t v;
  int n = p2p_varint_decode(data, size, &v);
  if (n > 0) {
    uint8_t buf[P2P_VARINT_MAX_LEN];
    if ((size_t)n > size || v > P2P_VARINT_MAX ||
        p2p_varint_len(v) != (size_t)n ||
        p2p_varint_encode(v, buf, sizeof buf) != n ||
        memcmp(buf, data, (size_t)n) != 0)
      abort();
  } else if (n == 0) {
    /* "Need more input" only while every byte so far continues. */
    if (size >= P2P_VARINT_MAX_LEN)
      abort();
    for (size_t i = 0; i < size; i++) {
      if ((data[i] & 0x80) == 0)
        abort();
    }
  } else if (n != P2P_ERR_PROTO) {
    abort();
  }

  /* The other direction: the first 8 bytes as a value. */
  if (size >= 8) {
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
      x = x << 8 | data[i];
    uint8_t buf[P2P_VARINT_MAX_LEN];
    int e = p2p_varint_encode(x, buf, sizeof buf);
    if (x > P2P_VARINT_MAX) {
      if (e != P2P_ERR_INVALID)
        abort();
    } else {
      uint64_t y;
      if (e <= 0 || p2p_varint_decode(buf, (size_t)e, &y) != e || y != x)
        abort();
      /* One byte short is "need more input". */
      if (p2p_varint_decode(buf, (size_t)e - 1, &y) != 0)
        abort();
    }
  }
  return 0;
}
