/*
 * fuzz_discovery.c - libFuzzer target for the pubsub peer discovery Peer
 * message decoder: arbitrary bytes from a peer's announcement. Nothing may
 * crash or leak, and an accepted message must encode again (with the
 * public key it carried) and decode to the same peer and addresses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/discovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  p2p_peerid peer, again;
  p2p_multiaddr *addrs = NULL, *addrs2 = NULL;
  size_t n = 0, n2 = 0;
  if (p2p_discovery_decode_peer(data, size, &peer, &addrs, &n) < 0)
    return 0;
  /* The peer ID of an Ed25519 key inlines the key: get it back. */
  p2p_pubkey key;
  if (p2p_peerid_to_pubkey(&peer, &key) == 0) {
    /* Re-encoding never grows the addresses: the input size bounds it. */
    size_t cap = size + 256;
    uint8_t *buf = malloc(cap);
    if (buf == NULL)
      abort();
    ssize_t len = p2p_discovery_encode_peer(&key, addrs, n, buf, cap);
    if (len < 0 ||
        p2p_discovery_decode_peer(buf, (size_t)len, &again, &addrs2, &n2) < 0 ||
        !p2p_peerid_equal(&peer, &again) || n2 != n)
      abort();
    for (size_t i = 0; i < n; i++)
      if (addrs[i].len != addrs2[i].len ||
          memcmp(addrs[i].bytes, addrs2[i].bytes, addrs[i].len) != 0)
        abort();
    free(buf);
  }
  for (size_t i = 0; i < n; i++)
    p2p_multiaddr_free(&addrs[i]);
  free(addrs);
  for (size_t i = 0; i < n2; i++)
    p2p_multiaddr_free(&addrs2[i]);
  free(addrs2);
  return 0;
}
