/*
 * p2p/crypto.h - libp2p identity keys: Ed25519 key pairs, signatures and the
 * PublicKey/PrivateKey protobuf encodings of libp2p/specs
 * peer-ids/peer-ids.md.
 *
 * Only Ed25519 is implemented (through libsodium). The other key types of
 * the spec (RSA, Secp256k1, ECDSA) are recognised when unmarshalling and
 * refused with P2P_ERR_UNSUPPORTED. Keys live in fixed-size structs owned by
 * the caller: nothing here allocates a key.
 *
 * Unmarshalling is strict, as the spec's deterministic encoding demands:
 * the input must be exactly the bytes our encoder would produce for the key
 * it holds (fields in tag order, minimal varints, no unknown or repeated
 * fields, no trailing bytes); anything else is P2P_ERR_INVALID.
 */
#ifndef P2P_CRYPTO_H
#define P2P_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/error.h"
#include "p2p/rand.h"

#define P2P_ED25519_SEED_LEN 32
#define P2P_ED25519_PUBKEY_LEN 32
/* The spec's private key form: seed followed by public key. */
#define P2P_ED25519_PRIVKEY_LEN 64
/* The legacy private key form: seed, public key, public key again. */
#define P2P_ED25519_PRIVKEY_LEGACY_LEN 96
#define P2P_ED25519_SIG_LEN 64
/* Marshalled sizes: 08 01 12 20 + 32 bytes, and 08 01 12 40 + 64 bytes. */
#define P2P_PUBKEY_PB_ED25519_LEN 36
#define P2P_PRIVKEY_PB_ED25519_LEN 68

/* The KeyType enum of the spec's protobuf. */
typedef enum p2p_key_type {
  P2P_KEY_RSA = 0,
  P2P_KEY_ED25519 = 1,
  P2P_KEY_SECP256K1 = 2,
  P2P_KEY_ECDSA = 3
} p2p_key_type;

/* A public key. Only type P2P_KEY_ED25519 is ever produced. */
typedef struct p2p_pubkey {
  p2p_key_type type;
  uint8_t data[P2P_ED25519_PUBKEY_LEN];
} p2p_pubkey;

/* A private key with its public half. sk is libsodium's secret key form
 * (seed followed by public key), which is also the spec's Data bytes. */
typedef struct p2p_privkey {
  p2p_key_type type;
  uint8_t sk[P2P_ED25519_PRIVKEY_LEN];
  p2p_pubkey pub;
} p2p_privkey;

/* Generates an Ed25519 key pair from a 32-byte seed drawn from `rnd`, so a
 * seeded source gives the same key every run. Returns 0, or
 * P2P_ERR_INVALID for NULL arguments. */
P2P_WUR int p2p_key_generate(const p2p_rand *rnd, p2p_privkey *out);

/* Derives the Ed25519 key pair of a 32-byte seed (RFC 8032 private key).
 * Returns 0, P2P_ERR_INVALID for NULL arguments, or P2P_ERR_INTERNAL when
 * libsodium fails. */
P2P_WUR int p2p_key_from_seed(const uint8_t seed[P2P_ED25519_SEED_LEN],
                              p2p_privkey *out);

/* Copies the public half of `key` into `out`. */
void p2p_privkey_get_public(const p2p_privkey *key, p2p_pubkey *out);

/* Overwrites the secret bytes of `key` with zeros (sodium_memzero). */
void p2p_privkey_clear(p2p_privkey *key);

/* Signs msg (len bytes) with `key`, writing a 64-byte Ed25519 signature
 * into sig. Returns 0, P2P_ERR_INVALID for bad arguments, or
 * P2P_ERR_UNSUPPORTED for a key type other than Ed25519. */
P2P_WUR int p2p_privkey_sign(const p2p_privkey *key, const uint8_t *msg,
                             size_t len, uint8_t sig[P2P_ED25519_SIG_LEN]);

/* Verifies a signature over msg. Returns 0 when it is valid, P2P_ERR_PROTO
 * when it is not (including a signature of the wrong length),
 * P2P_ERR_UNSUPPORTED for a key type other than Ed25519 and
 * P2P_ERR_INVALID for NULL arguments. */
P2P_WUR int p2p_pubkey_verify(const p2p_pubkey *key, const uint8_t *msg,
                              size_t len, const uint8_t *sig, size_t sig_len);

/* 1 when a and b are the same key, 0 otherwise. */
int p2p_pubkey_equal(const p2p_pubkey *a, const p2p_pubkey *b);

/* Writes the PublicKey protobuf of `key` (36 bytes for Ed25519) into out.
 * Returns the length, P2P_ERR_LIMIT when cap is too small, or
 * P2P_ERR_UNSUPPORTED / P2P_ERR_INVALID for a key we cannot encode. */
P2P_WUR ssize_t p2p_pubkey_marshal(const p2p_pubkey *key, uint8_t *out,
                                   size_t cap);

/* Parses a PublicKey protobuf that must fill buf exactly. Returns 0,
 * P2P_ERR_INVALID for a malformed or non-canonical encoding or an Ed25519
 * key that is not 32 bytes, or P2P_ERR_UNSUPPORTED for a well-formed key of
 * another type. On failure *out is zeroed. */
P2P_WUR int p2p_pubkey_unmarshal(const uint8_t *buf, size_t len,
                                 p2p_pubkey *out);

/* Writes the PrivateKey protobuf of `key` (68 bytes: the spec's preferred
 * 64-byte form). Returns the length, P2P_ERR_LIMIT or P2P_ERR_UNSUPPORTED.
 * The output holds the secret: the caller wipes it when done. */
P2P_WUR ssize_t p2p_privkey_marshal(const p2p_privkey *key, uint8_t *out,
                                    size_t cap);

/* Parses a PrivateKey protobuf. Both Ed25519 forms of the spec are taken:
 * 64 bytes (seed, public key) and the legacy 96 bytes (seed, public key,
 * public key); the public key(s) must match the one derived from the seed.
 * Strictness and errors as p2p_pubkey_unmarshal. */
P2P_WUR int p2p_privkey_unmarshal(const uint8_t *buf, size_t len,
                                  p2p_privkey *out);

#endif /* P2P_CRYPTO_H */
