/*
 * crypto.c - Ed25519 identity keys and their libp2p protobuf encodings.
 *
 * Signing and key derivation go through libsodium. The protobuf messages
 * are protobuf-c's (generated from core/proto/keys.proto); protobuf-c is a
 * lenient parser, so after parsing we encode the parsed message again and
 * demand the very bytes we were given. That one check rejects everything
 * the spec's deterministic encoding forbids: non-minimal varints, fields out
 * of order or repeated, unknown fields and trailing bytes.
 */
#include "p2p/crypto.h"

#include <string.h>

#include <sodium.h>

#include "keys.pb-c.h"

/* A protobuf-c output buffer that compares what is appended against the
 * expected bytes instead of storing it. */
typedef struct cmp_buffer {
  ProtobufCBuffer base;
  const uint8_t *want;
  size_t len;
  size_t off;
  int mismatch;
} cmp_buffer;

static void cmp_append(ProtobufCBuffer *b, size_t len, const uint8_t *data) {
  cmp_buffer *c = (cmp_buffer *)b;
  if (c->mismatch || len == 0)
    return;
  if (len > c->len - c->off || memcmp(c->want + c->off, data, len) != 0) {
    c->mismatch = 1;
    return;
  }
  c->off += len;
}

/* 1 when `msg` encodes to exactly buf[0..len). */
static int encodes_to(const ProtobufCMessage *msg, const uint8_t *buf,
                      size_t len) {
  cmp_buffer c = {{cmp_append}, buf, len, 0, 0};
  /* protobuf-c keeps unknown fields and would encode them back. */
  if (msg->n_unknown_fields != 0)
    return 0;
  protobuf_c_message_pack_to_buffer(msg, &c.base);
  return !c.mismatch && c.off == len;
}

int p2p_key_from_seed(const uint8_t seed[P2P_ED25519_SEED_LEN],
                      p2p_privkey *out) {
  if (seed == NULL || out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (sodium_init() < 0)
    return P2P_ERR_INTERNAL;
  if (crypto_sign_ed25519_seed_keypair(out->pub.data, out->sk, seed) != 0)
    return P2P_ERR_INTERNAL;
  out->type = P2P_KEY_ED25519;
  out->pub.type = P2P_KEY_ED25519;
  return 0;
}

int p2p_key_generate(const p2p_rand *rnd, p2p_privkey *out) {
  uint8_t seed[P2P_ED25519_SEED_LEN];
  int rv;
  if (rnd == NULL || rnd->fill == NULL || out == NULL)
    return P2P_ERR_INVALID;
  p2p_rand_fill(rnd, seed, sizeof(seed));
  rv = p2p_key_from_seed(seed, out);
  sodium_memzero(seed, sizeof(seed));
  return rv;
}

void p2p_privkey_get_public(const p2p_privkey *key, p2p_pubkey *out) {
  *out = key->pub;
}

void p2p_privkey_clear(p2p_privkey *key) {
  if (key != NULL)
    sodium_memzero(key, sizeof(*key));
}

int p2p_privkey_sign(const p2p_privkey *key, const uint8_t *msg, size_t len,
                     uint8_t sig[P2P_ED25519_SIG_LEN]) {
  if (key == NULL || sig == NULL || (msg == NULL && len > 0))
    return P2P_ERR_INVALID;
  if (key->type != P2P_KEY_ED25519)
    return P2P_ERR_UNSUPPORTED;
  if (crypto_sign_ed25519_detached(sig, NULL, msg, len, key->sk) != 0)
    return P2P_ERR_INTERNAL;
  return 0;
}

int p2p_pubkey_verify(const p2p_pubkey *key, const uint8_t *msg, size_t len,
                      const uint8_t *sig, size_t sig_len) {
  if (key == NULL || (sig == NULL && sig_len > 0) || (msg == NULL && len > 0))
    return P2P_ERR_INVALID;
  if (key->type != P2P_KEY_ED25519)
    return P2P_ERR_UNSUPPORTED;
  if (sig_len != P2P_ED25519_SIG_LEN)
    return P2P_ERR_PROTO;
  if (sodium_init() < 0)
    return P2P_ERR_INTERNAL;
  if (crypto_sign_ed25519_verify_detached(sig, msg, len, key->data) != 0)
    return P2P_ERR_PROTO;
  return 0;
}

int p2p_pubkey_equal(const p2p_pubkey *a, const p2p_pubkey *b) {
  return a->type == b->type && memcmp(a->data, b->data, sizeof(a->data)) == 0;
}

/* Packs a PublicKey/PrivateKey message into out after checking the size. */
static ssize_t pack_checked(const ProtobufCMessage *msg, uint8_t *out,
                            size_t cap) {
  size_t need = protobuf_c_message_get_packed_size(msg);
  if (out == NULL || need > cap)
    return P2P_ERR_LIMIT;
  return (ssize_t)protobuf_c_message_pack(msg, out);
}

ssize_t p2p_pubkey_marshal(const p2p_pubkey *key, uint8_t *out, size_t cap) {
  Crypto__Pb__PublicKey pb = CRYPTO__PB__PUBLIC_KEY__INIT;
  if (key == NULL)
    return P2P_ERR_INVALID;
  if (key->type != P2P_KEY_ED25519)
    return P2P_ERR_UNSUPPORTED;
  pb.type = CRYPTO__PB__KEY_TYPE__Ed25519;
  pb.data.data = (uint8_t *)key->data;
  pb.data.len = sizeof(key->data);
  return pack_checked(&pb.base, out, cap);
}

int p2p_pubkey_unmarshal(const uint8_t *buf, size_t len, p2p_pubkey *out) {
  Crypto__Pb__PublicKey *pb;
  int rv = 0;
  if (out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (buf == NULL)
    return P2P_ERR_INVALID;
  pb = crypto__pb__public_key__unpack(NULL, len, buf);
  if (pb == NULL)
    return P2P_ERR_INVALID;
  if (!encodes_to(&pb->base, buf, len))
    rv = P2P_ERR_INVALID;
  else if (pb->type != CRYPTO__PB__KEY_TYPE__Ed25519)
    rv = P2P_ERR_UNSUPPORTED;
  else if (pb->data.len != P2P_ED25519_PUBKEY_LEN)
    rv = P2P_ERR_INVALID;
  if (rv == 0) {
    out->type = P2P_KEY_ED25519;
    memcpy(out->data, pb->data.data, P2P_ED25519_PUBKEY_LEN);
  }
  crypto__pb__public_key__free_unpacked(pb, NULL);
  return rv;
}

ssize_t p2p_privkey_marshal(const p2p_privkey *key, uint8_t *out, size_t cap) {
  Crypto__Pb__PrivateKey pb = CRYPTO__PB__PRIVATE_KEY__INIT;
  if (key == NULL)
    return P2P_ERR_INVALID;
  if (key->type != P2P_KEY_ED25519)
    return P2P_ERR_UNSUPPORTED;
  pb.type = CRYPTO__PB__KEY_TYPE__Ed25519;
  pb.data.data = (uint8_t *)key->sk;
  pb.data.len = sizeof(key->sk);
  return pack_checked(&pb.base, out, cap);
}

/* Checks an Ed25519 private key's Data (64 or 96 bytes) against the key
 * derived from its seed, and fills out. */
static int privkey_from_data(const uint8_t *data, size_t len,
                             p2p_privkey *out) {
  int rv;
  if (len != P2P_ED25519_PRIVKEY_LEN && len != P2P_ED25519_PRIVKEY_LEGACY_LEN)
    return P2P_ERR_INVALID;
  rv = p2p_key_from_seed(data, out);
  if (rv != 0)
    return rv;
  if (sodium_memcmp(data + P2P_ED25519_SEED_LEN, out->pub.data,
                    P2P_ED25519_PUBKEY_LEN) != 0)
    return P2P_ERR_INVALID;
  if (len == P2P_ED25519_PRIVKEY_LEGACY_LEN &&
      sodium_memcmp(data + P2P_ED25519_PRIVKEY_LEN, out->pub.data,
                    P2P_ED25519_PUBKEY_LEN) != 0)
    return P2P_ERR_INVALID;
  return 0;
}

int p2p_privkey_unmarshal(const uint8_t *buf, size_t len, p2p_privkey *out) {
  Crypto__Pb__PrivateKey *pb;
  int rv = 0;
  if (out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (buf == NULL)
    return P2P_ERR_INVALID;
  pb = crypto__pb__private_key__unpack(NULL, len, buf);
  if (pb == NULL)
    return P2P_ERR_INVALID;
  if (!encodes_to(&pb->base, buf, len))
    rv = P2P_ERR_INVALID;
  else if (pb->type != CRYPTO__PB__KEY_TYPE__Ed25519)
    rv = P2P_ERR_UNSUPPORTED;
  else
    rv = privkey_from_data(pb->data.data, pb->data.len, out);
  if (pb->data.data != NULL)
    sodium_memzero(pb->data.data, pb->data.len);
  crypto__pb__private_key__free_unpacked(pb, NULL);
  if (rv != 0)
    p2p_privkey_clear(out);
  return rv;
}
