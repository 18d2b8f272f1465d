/*
 * p2p/multibase.h - base58btc, base32 (RFC 4648, lower case, no padding)
 * and base64url (RFC 4648 section 5, no padding), bare and as multibase
 * strings (one prefix character: 'z', 'b', 'u').
 *
 * Encoders write a NUL-terminated string and return its length without the
 * NUL; decoders return the number of bytes written. Both return
 * P2P_ERR_LIMIT when the output does not fit and P2P_ERR_INVALID for a
 * character outside the alphabet, bad padding bits or a bad prefix.
 */
#ifndef P2P_MULTIBASE_H
#define P2P_MULTIBASE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/error.h"

typedef enum p2p_multibase {
  P2P_BASE58BTC = 'z',
  P2P_BASE32 = 'b',
  P2P_BASE64URL = 'u'
} p2p_multibase;

P2P_WUR ssize_t p2p_base58btc_encode(const uint8_t *in, size_t len, char *out,
                                     size_t cap);
P2P_WUR ssize_t p2p_base58btc_decode(const char *in, size_t len, uint8_t *out,
                                     size_t cap);
P2P_WUR ssize_t p2p_base32_encode(const uint8_t *in, size_t len, char *out,
                                  size_t cap);
P2P_WUR ssize_t p2p_base32_decode(const char *in, size_t len, uint8_t *out,
                                  size_t cap);
P2P_WUR ssize_t p2p_base64url_encode(const uint8_t *in, size_t len, char *out,
                                     size_t cap);
P2P_WUR ssize_t p2p_base64url_decode(const char *in, size_t len, uint8_t *out,
                                     size_t cap);

/* With the multibase prefix character. decode tells the base it found. */
P2P_WUR ssize_t p2p_multibase_encode(p2p_multibase base, const uint8_t *in,
                                     size_t len, char *out, size_t cap);
P2P_WUR ssize_t p2p_multibase_decode(const char *in, size_t len, uint8_t *out,
                                     size_t cap, p2p_multibase *base);

#endif /* P2P_MULTIBASE_H */
