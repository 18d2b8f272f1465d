/*
 * tests/fuzz/fuzz_mss.c - multistream-select parser (core/src/mss.c).
 *
 * Byte 0 picks the role (bit 0: dialer), whether the listener also has an
 * accept callback (bit 1) and the chunk size the rest is fed in (bits 2-7,
 * 1..64 bytes). The remaining bytes are what the peer sends. Besides the
 * sanitizers, the target checks the documented contract: recv never claims
 * more than it was given, only stalls when output is pending, a failure is
 * sticky and reported consistently, and a finished negotiation has a name.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/mss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int accept_x(const char *proto, size_t len, void *user) {
  (void)user;
  if (strlen(proto) != len)
    abort();
  return len >= 2 && proto[1] == 'x';
}

static void drain(p2p_mss *m) {
  uint8_t out[256];
  ssize_t n;
  do {
    n = p2p_mss_send(m, out, sizeof(out));
    if (n < 0 || (size_t)n > sizeof(out))
      abort();
  } while (n > 0);
  if (p2p_mss_pending(m) != 0)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const protos[] = {"/a", "/ipfs/ping/1.0.0", "/noise"};
  p2p_mss *m = NULL;
  uint8_t mode;
  size_t chunk, off = 0;
  int r;
  if (size < 1)
    return 0;
  mode = data[0];
  data++, size--;
  chunk = (size_t)(mode >> 2) + 1;
  if (mode & 1)
    r = p2p_mss_dialer_new(&m, protos, 3);
  else
    r = p2p_mss_listener_new(&m, protos, 3, (mode & 2) ? accept_x : NULL, NULL);
  if (r != 0)
    abort();
  drain(m);
  while (off < size) {
    size_t len = size - off < chunk ? size - off : chunk;
    ssize_t c = p2p_mss_recv(m, data + off, len);
    if (c < 0) {
      if (p2p_mss_state(m) != P2P_MSS_FAILED || p2p_mss_error(m) != c)
        abort();
      if (c != P2P_ERR_PROTO && c != P2P_ERR_NOTFOUND)
        abort();
      if (p2p_mss_recv(m, data + off, len) != c)
        abort();
      break;
    }
    if ((size_t)c > len)
      abort();
    if (p2p_mss_state(m) == P2P_MSS_DONE) {
      if (p2p_mss_selected(m) == NULL || p2p_mss_recv(m, data, size) != 0)
        abort();
      break;
    }
    /* The output was drained before this call, so input cannot stall. */
    if ((size_t)c < len)
      abort();
    off += (size_t)c;
    drain(m);
  }
  drain(m);
  r = p2p_mss_recv_eof(m);
  if (r > 0 || (p2p_mss_state(m) == P2P_MSS_DONE) != (r == 0))
    abort();
  p2p_mss_del(m);
  return 0;
}
