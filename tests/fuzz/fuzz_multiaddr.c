/* libFuzzer target for core/src/multiaddr.c (and the multibase and
 * multihash code under it): binary input that is accepted must print and
 * parse back to the same bytes, and the same input read as a string must
 * never crash the parser, and must round-trip when accepted. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/multiaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text[1 << 16];

static void check_binary(const uint8_t *data, size_t size) {
  p2p_multiaddr ma, again;
  if (p2p_multiaddr_from_bytes(data, size, &ma) != 0)
    return;
  if (ma.len != size || memcmp(ma.bytes, data, size) != 0)
    abort();
  /* The splitters of peer addresses: a TCP/WebSocket target has no
   * circuit, and a peer found must be one of the address's /p2p/. */
  uint32_t ip;
  uint16_t port;
  int is_ws = 0, has_peer = 0;
  p2p_peerid peer;
  if (p2p_multiaddr_tcp_target(&ma, &ip, &port, &is_ws, &peer, &has_peer) ==
          0 &&
      (p2p_multiaddr_has(&ma, P2P_MA_P2P_CIRCUIT) ||
       is_ws != p2p_multiaddr_has(&ma, P2P_MA_WS)))
    abort();
  if (p2p_multiaddr_last_peer(&ma, &peer) &&
      !p2p_multiaddr_has(&ma, P2P_MA_P2P))
    abort();
  ssize_t n = p2p_multiaddr_to_string(&ma, text, sizeof text);
  if (n < 0 && n != P2P_ERR_LIMIT)
    abort();
  if (n >= 0) {
    if (p2p_multiaddr_parse(text, &again) != 0)
      abort();
    if (again.len != ma.len || memcmp(again.bytes, ma.bytes, ma.len) != 0)
      abort();
    p2p_multiaddr_free(&again);
  }
  p2p_ma_component c;
  size_t pos = 0;
  int rc;
  while ((rc = p2p_multiaddr_next(&ma, &pos, &c)) == 1) {
  }
  if (rc != 0 || pos != ma.len)
    abort();
  p2p_multiaddr_free(&ma);
}

static void check_string(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  p2p_multiaddr ma, again;
  if (s == NULL)
    return;
  memcpy(s, data, size);
  s[size] = '\0';
  if (p2p_multiaddr_parse(s, &ma) == 0) {
    if (p2p_multiaddr_from_bytes(ma.bytes, ma.len, &again) != 0)
      abort();
    p2p_multiaddr_free(&again);
    if (p2p_multiaddr_to_string(&ma, text, sizeof text) < 0)
      abort();
    if (p2p_multiaddr_parse(text, &again) != 0 || again.len != ma.len ||
        memcmp(again.bytes, ma.bytes, ma.len) != 0)
      abort();
    p2p_multiaddr_free(&again);
    p2p_multiaddr_free(&ma);
  } else if (ma.bytes != NULL || ma.len != 0) {
    abort();
  }
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check_binary(data, size);
  check_string(data, size);
  return 0;
}
