/*
 * p2p/peerid.h - libp2p peer IDs (libp2p/specs peer-ids/peer-ids.md).
 *
 * A peer ID is a multihash of the marshalled PublicKey: the identity
 * multihash when the marshalled key is at most 42 bytes (Ed25519: 36), the
 * sha2-256 multihash otherwise. It is kept inline in a fixed-size struct.
 *
 * Text forms: the legacy raw base58btc multihash ("12D3KooW..." for Ed25519,
 * "Qm..." for sha2-256), which is what we print by default as the spec asks,
 * and a CIDv1 with the libp2p-key codec (0x72), in base32 by default
 * ("bafz..."). Parsing takes both.
 */
#ifndef P2P_PEERID_H
#define P2P_PEERID_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/crypto.h"
#include "p2p/error.h"

/* Keys that marshal to at most this many bytes are inlined (identity). */
#define P2P_PEERID_MAX_INLINE_KEY 42
/* The largest binary peer ID: identity code, length, 42 bytes. */
#define P2P_PEERID_MAX_LEN (2 + P2P_PEERID_MAX_INLINE_KEY)
/* Enough for either text form of any peer ID, with the NUL. */
#define P2P_PEERID_STR_MAX 96
/* The libp2p-key multicodec of CID-form peer IDs. */
#define P2P_CODEC_LIBP2P_KEY 0x72

/* A peer ID: the bytes of its multihash. A zeroed struct is no peer ID. */
typedef struct p2p_peerid {
  size_t len;
  uint8_t bytes[P2P_PEERID_MAX_LEN];
} p2p_peerid;

/* Derives the peer ID of a public key. Returns 0, or the errors of
 * p2p_pubkey_marshal (P2P_ERR_UNSUPPORTED for non-Ed25519 keys). */
P2P_WUR int p2p_peerid_from_pubkey(const p2p_pubkey *key, p2p_peerid *out);

/* Takes a binary peer ID (e.g. from a peer record or a /p2p/ multiaddr):
 * one identity multihash of at most 42 bytes or one sha2-256 multihash,
 * filling buf exactly. Returns 0 or P2P_ERR_INVALID. */
P2P_WUR int p2p_peerid_from_bytes(const uint8_t *buf, size_t len,
                                  p2p_peerid *out);

/* Parses either text form (len bytes of str, no NUL needed): a bare
 * base58btc multihash starting with '1' or 'Q', or a multibase CIDv1
 * (version 1, codec libp2p-key, then the multihash). Returns 0 or
 * P2P_ERR_INVALID (bad character, wrong CID version or codec, bad
 * multihash, trailing bytes). */
P2P_WUR int p2p_peerid_parse(const char *str, size_t len, p2p_peerid *out);

/* Writes the legacy base58btc form, NUL-terminated. Returns its length
 * without the NUL, P2P_ERR_LIMIT or P2P_ERR_INVALID for an empty ID. */
P2P_WUR ssize_t p2p_peerid_to_string(const p2p_peerid *id, char *out,
                                     size_t cap);

/* Writes the CIDv1 form in base32 ("b..."), NUL-terminated. Returns its
 * length without the NUL, P2P_ERR_LIMIT or P2P_ERR_INVALID. */
P2P_WUR ssize_t p2p_peerid_to_cid_string(const p2p_peerid *id, char *out,
                                         size_t cap);

/* Extracts the public key inlined in an identity peer ID. Returns 0,
 * P2P_ERR_NOTFOUND for a hashed (sha2-256) peer ID, or the errors of
 * p2p_pubkey_unmarshal for an inlined key we cannot read. */
P2P_WUR int p2p_peerid_to_pubkey(const p2p_peerid *id, p2p_pubkey *out);

/* 1 when `key` is the key of peer `id` (its derived peer ID is id). */
int p2p_peerid_matches_pubkey(const p2p_peerid *id, const p2p_pubkey *key);

/* 1 when a and b are the same peer ID, 0 otherwise. */
int p2p_peerid_equal(const p2p_peerid *a, const p2p_peerid *b);

#endif /* P2P_PEERID_H */
