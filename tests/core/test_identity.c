/*
 * test_identity.c - Ed25519 keys, their protobuf encodings, peer IDs,
 * signed envelopes and peer records (core/src/crypto.c, peerid.c,
 * envelope.c).
 *
 * Test vectors come from libp2p/specs peer-ids/peer-ids.md: the "Test
 * vectors" table (Ed25519, secp256k1 and ECDSA keys as hex protobuf) and
 * the peer ID examples of "String representation". The spec's CID example
 * (bafzbeie...) and its Qm... example are the same sha2-256 peer ID, which
 * was checked by hand with an independent base58/base32 decoder. The text
 * forms of the spec key's peer ID were computed the same way, outside this
 * code.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "p2p/crypto.h"
#include "p2p/envelope.h"
#include "p2p/peerid.h"

/* peer-ids.md, "Test vectors": ED25519 private key / public key. */
static const char *SPEC_ED25519_PRIV =
    "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d"
    "1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
static const char *SPEC_ED25519_PUB =
    "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
/* peer-ids.md, "Test vectors": secp256k1 and ECDSA public keys. */
static const char *SPEC_SECP256K1_PUB =
    "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca"
    "99";
static const char *SPEC_ECDSA_PUB =
    "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa3"
    "6ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d"
    "6851510c098e5c47c646a597fb4dcec034e9f77c409e62";
/* peer-ids.md, "String representation" examples. */
static const char *SPEC_ID_ED25519 =
    "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
static const char *SPEC_ID_SHA256 =
    "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
static const char *SPEC_ID_CID =
    "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";
/* The spec public key's peer ID, computed independently. */
static const char *SPEC_KEY_ID =
    "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
static const char *SPEC_KEY_CID =
    "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6";

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = strlen(hex) / 2, i;
  ck_assert_uint_le(n, cap);
  for (i = 0; i < n; i++) {
    unsigned v;
    ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

/* A deterministic source: byte i of the stream is seed * 31 + i. */
typedef struct counter_rand {
  uint8_t seed;
  uint32_t pos;
} counter_rand;

static void counter_fill(void *ctx, uint8_t *buf, size_t len) {
  counter_rand *c = ctx;
  size_t i;
  for (i = 0; i < len; i++)
    buf[i] = (uint8_t)(c->seed * 31u + c->pos++);
}

static void key_from_seed_byte(uint8_t seed, p2p_privkey *key) {
  counter_rand c = {seed, 0};
  p2p_rand r = {counter_fill, &c};
  ck_assert_int_eq(p2p_key_generate(&r, key), 0);
}

/* ---- keys ------------------------------------------------------------ */

START_TEST(test_crypto_spec_private_key_gives_spec_public_key) {
  uint8_t buf[128], pub[64], out[128];
  size_t n = unhex(SPEC_ED25519_PRIV, buf, sizeof(buf));
  size_t pn = unhex(SPEC_ED25519_PUB, pub, sizeof(pub));
  p2p_privkey sk;
  p2p_pubkey pk, pk2;
  ssize_t m;
  ck_assert_int_eq(p2p_privkey_unmarshal(buf, n, &sk), 0);
  m = p2p_pubkey_marshal(&sk.pub, out, sizeof(out));
  ck_assert_int_eq(m, (ssize_t)pn);
  ck_assert_mem_eq(out, pub, pn);
  m = p2p_privkey_marshal(&sk, out, sizeof(out));
  ck_assert_int_eq(m, (ssize_t)n);
  ck_assert_mem_eq(out, buf, n);
  ck_assert_int_eq(p2p_pubkey_unmarshal(pub, pn, &pk), 0);
  p2p_privkey_get_public(&sk, &pk2);
  ck_assert(p2p_pubkey_equal(&pk, &pk2));
}
END_TEST

START_TEST(test_crypto_pubkey_marshals_to_08011220_prefix) {
  p2p_privkey sk;
  uint8_t out[64];
  key_from_seed_byte(1, &sk);
  ck_assert_int_eq(p2p_pubkey_marshal(&sk.pub, out, sizeof(out)),
                   P2P_PUBKEY_PB_ED25519_LEN);
  ck_assert_mem_eq(out, "\x08\x01\x12\x20", 4);
  ck_assert_mem_eq(out + 4, sk.pub.data, 32);
  ck_assert_int_eq(p2p_pubkey_marshal(&sk.pub, out, 35), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_privkey_marshal(&sk, out, sizeof(out)), P2P_ERR_LIMIT);
}
END_TEST

START_TEST(test_crypto_same_seed_same_key_other_seed_other_key) {
  p2p_privkey a, b, c;
  key_from_seed_byte(7, &a);
  key_from_seed_byte(7, &b);
  key_from_seed_byte(8, &c);
  ck_assert_mem_eq(a.sk, b.sk, sizeof(a.sk));
  ck_assert(p2p_pubkey_equal(&a.pub, &b.pub));
  ck_assert(!p2p_pubkey_equal(&a.pub, &c.pub));
  ck_assert_int_ne(memcmp(a.sk, c.sk, sizeof(a.sk)), 0);
  /* The seed is the first 32 bytes drawn, as RFC 8032 private key. */
  {
    uint8_t seed[32];
    counter_rand cr = {7, 0};
    p2p_privkey d;
    counter_fill(&cr, seed, sizeof(seed));
    ck_assert_int_eq(p2p_key_from_seed(seed, &d), 0);
    ck_assert_mem_eq(d.sk, a.sk, sizeof(d.sk));
  }
}
END_TEST

START_TEST(test_crypto_sign_verify_and_flipped_bits_fail) {
  uint8_t buf[128], sig[P2P_ED25519_SIG_LEN], msg[] = "libp2p identity";
  size_t n = unhex(SPEC_ED25519_PRIV, buf, sizeof(buf));
  uint8_t pubb[64];
  size_t pn = unhex(SPEC_ED25519_PUB, pubb, sizeof(pubb));
  p2p_privkey sk;
  p2p_pubkey pk;
  ck_assert_int_eq(p2p_privkey_unmarshal(buf, n, &sk), 0);
  ck_assert_int_eq(p2p_pubkey_unmarshal(pubb, pn, &pk), 0);
  ck_assert_int_eq(p2p_privkey_sign(&sk, msg, sizeof(msg), sig), 0);
  ck_assert_int_eq(p2p_pubkey_verify(&pk, msg, sizeof(msg), sig, sizeof(sig)),
                   0);
  sig[10] ^= 0x04;
  ck_assert_int_eq(p2p_pubkey_verify(&pk, msg, sizeof(msg), sig, sizeof(sig)),
                   P2P_ERR_PROTO);
  sig[10] ^= 0x04;
  msg[0] ^= 0x01;
  ck_assert_int_eq(p2p_pubkey_verify(&pk, msg, sizeof(msg), sig, sizeof(sig)),
                   P2P_ERR_PROTO);
  msg[0] ^= 0x01;
  ck_assert_int_eq(p2p_pubkey_verify(&pk, msg, sizeof(msg), sig, 63),
                   P2P_ERR_PROTO);
  /* Another key does not verify it. */
  {
    p2p_privkey other;
    key_from_seed_byte(3, &other);
    ck_assert_int_eq(
        p2p_pubkey_verify(&other.pub, msg, sizeof(msg), sig, sizeof(sig)),
        P2P_ERR_PROTO);
  }
  /* Ed25519 is deterministic. */
  {
    uint8_t sig2[P2P_ED25519_SIG_LEN];
    ck_assert_int_eq(p2p_privkey_sign(&sk, msg, sizeof(msg), sig2), 0);
    ck_assert_mem_eq(sig, sig2, sizeof(sig));
  }
  p2p_privkey_clear(&sk);
  ck_assert_int_eq(p2p_privkey_sign(&sk, msg, sizeof(msg), sig),
                   P2P_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_crypto_other_key_types_unsupported) {
  uint8_t buf[256];
  size_t n;
  p2p_pubkey pk;
  n = unhex(SPEC_SECP256K1_PUB, buf, sizeof(buf));
  ck_assert_int_eq(p2p_pubkey_unmarshal(buf, n, &pk), P2P_ERR_UNSUPPORTED);
  n = unhex(SPEC_ECDSA_PUB, buf, sizeof(buf));
  ck_assert_int_eq(p2p_pubkey_unmarshal(buf, n, &pk), P2P_ERR_UNSUPPORTED);
  /* An RSA type and an unknown type 7 with well-formed data. */
  n = unhex(SPEC_ED25519_PUB, buf, sizeof(buf));
  buf[1] = 0x00;
  ck_assert_int_eq(p2p_pubkey_unmarshal(buf, n, &pk), P2P_ERR_UNSUPPORTED);
  buf[1] = 0x07;
  ck_assert_int_eq(p2p_pubkey_unmarshal(buf, n, &pk), P2P_ERR_UNSUPPORTED);
  pk.type = P2P_KEY_SECP256K1;
  ck_assert_int_eq(p2p_pubkey_marshal(&pk, buf, sizeof(buf)),
                   P2P_ERR_UNSUPPORTED);
}
END_TEST

/* Each malformed encoding is built by editing the spec public key. */
START_TEST(test_crypto_pubkey_unmarshal_is_strict) {
  uint8_t good[64], b[96];
  size_t n = unhex(SPEC_ED25519_PUB, good, sizeof(good));
  p2p_pubkey pk;
  int cases = 0;
#define BAD(len, expect)                                                       \
  do {                                                                         \
    ck_assert_int_eq(p2p_pubkey_unmarshal(b, (len), &pk), (expect));           \
    cases++;                                                                   \
  } while (0)
  /* 1. empty */
  BAD(0, P2P_ERR_INVALID);
  /* 2. truncated data */
  memcpy(b, good, n);
  BAD(n - 1, P2P_ERR_INVALID);
  /* 3. trailing junk */
  b[n] = 0x00;
  BAD(n + 1, P2P_ERR_INVALID);
  /* 4. 31-byte key */
  b[3] = 0x1f;
  BAD(n - 1, P2P_ERR_INVALID);
  /* 5. 33-byte key */
  b[3] = 0x21;
  b[n] = 0xaa;
  BAD(n + 1, P2P_ERR_INVALID);
  /* 6. non-minimal varint for the type */
  b[0] = 0x08, b[1] = 0x81, b[2] = 0x00, b[3] = 0x12, b[4] = 0x20;
  memcpy(b + 5, good + 4, 32);
  BAD(37, P2P_ERR_INVALID);
  /* 7. non-minimal varint for the data length */
  b[0] = 0x08, b[1] = 0x01, b[2] = 0x12, b[3] = 0xa0, b[4] = 0x00;
  BAD(37, P2P_ERR_INVALID);
  /* 8. fields out of order */
  b[0] = 0x12, b[1] = 0x20;
  memcpy(b + 2, good + 4, 32);
  b[34] = 0x08, b[35] = 0x01;
  BAD(36, P2P_ERR_INVALID);
  /* 9. missing Type (a required field) */
  BAD(34, P2P_ERR_INVALID);
  /* 10. missing Data */
  b[0] = 0x08, b[1] = 0x01;
  BAD(2, P2P_ERR_INVALID);
  /* 11. an unknown field after the key */
  memcpy(b, good, n);
  b[n] = 0x18, b[n + 1] = 0x00;
  BAD(n + 2, P2P_ERR_INVALID);
  /* 12. the Type field repeated */
  b[0] = 0x08, b[1] = 0x01;
  memcpy(b + 2, good, n);
  BAD(n + 2, P2P_ERR_INVALID);
  /* 13. Type with the wrong wire type (length-delimited) */
  memcpy(b, good, n);
  b[0] = 0x0a;
  BAD(n, P2P_ERR_INVALID);
  /* 14. data length beyond the buffer */
  memcpy(b, good, n);
  b[3] = 0x40;
  BAD(n, P2P_ERR_INVALID);
  /* 15. a private key where a public key is expected */
  {
    uint8_t priv[128];
    size_t pn = unhex(SPEC_ED25519_PRIV, priv, sizeof(priv));
    ck_assert_int_eq(p2p_pubkey_unmarshal(priv, pn, &pk), P2P_ERR_INVALID);
    cases++;
  }
#undef BAD
  ck_assert_int_ge(cases, 10);
  /* After all that, the good encoding still parses. */
  ck_assert_int_eq(p2p_pubkey_unmarshal(good, n, &pk), 0);
}
END_TEST

START_TEST(test_crypto_privkey_unmarshal_checks_public_half) {
  uint8_t good[128], b[160];
  size_t n = unhex(SPEC_ED25519_PRIV, good, sizeof(good));
  p2p_privkey sk, ref;
  ck_assert_int_eq(p2p_privkey_unmarshal(good, n, &ref), 0);
  /* Public half not matching the seed. */
  memcpy(b, good, n);
  b[n - 1] ^= 0x01;
  ck_assert_int_eq(p2p_privkey_unmarshal(b, n, &sk), P2P_ERR_INVALID);
  /* Legacy 96-byte form: accepted with two equal public keys... */
  memcpy(b, good, n);
  b[3] = 0x60;
  memcpy(b + n, good + 4 + 32, 32);
  ck_assert_int_eq(p2p_privkey_unmarshal(b, n + 32, &sk), 0);
  ck_assert_mem_eq(sk.sk, ref.sk, sizeof(sk.sk));
  /* ...and refused when they differ. */
  b[n + 5] ^= 0x80;
  ck_assert_int_eq(p2p_privkey_unmarshal(b, n + 32, &sk), P2P_ERR_INVALID);
  /* 63 bytes, trailing byte, type 2. */
  memcpy(b, good, n);
  b[3] = 0x3f;
  ck_assert_int_eq(p2p_privkey_unmarshal(b, n - 1, &sk), P2P_ERR_INVALID);
  memcpy(b, good, n);
  b[n] = 0;
  ck_assert_int_eq(p2p_privkey_unmarshal(b, n + 1, &sk), P2P_ERR_INVALID);
  b[1] = 0x02;
  ck_assert_int_eq(p2p_privkey_unmarshal(b, n, &sk), P2P_ERR_UNSUPPORTED);
}
END_TEST

/* ---- peer IDs -------------------------------------------------------- */

START_TEST(test_peerid_of_spec_key_is_identity_12D3KooW) {
  uint8_t pubb[64];
  size_t pn = unhex(SPEC_ED25519_PUB, pubb, sizeof(pubb));
  char s[P2P_PEERID_STR_MAX];
  p2p_pubkey pk, back;
  p2p_peerid id, parsed;
  ck_assert_int_eq(p2p_pubkey_unmarshal(pubb, pn, &pk), 0);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&pk, &id), 0);
  ck_assert_uint_eq(id.len, 38);
  ck_assert_mem_eq(id.bytes, "\x00\x24", 2);
  ck_assert_mem_eq(id.bytes + 2, pubb, pn);
  ck_assert_int_eq(p2p_peerid_to_string(&id, s, sizeof(s)),
                   (ssize_t)strlen(SPEC_KEY_ID));
  ck_assert_str_eq(s, SPEC_KEY_ID);
  ck_assert_int_eq(p2p_peerid_to_cid_string(&id, s, sizeof(s)),
                   (ssize_t)strlen(SPEC_KEY_CID));
  ck_assert_str_eq(s, SPEC_KEY_CID);
  ck_assert_int_eq(
      p2p_peerid_parse(SPEC_KEY_CID, strlen(SPEC_KEY_CID), &parsed), 0);
  ck_assert(p2p_peerid_equal(&id, &parsed));
  ck_assert_int_eq(p2p_peerid_to_pubkey(&parsed, &back), 0);
  ck_assert(p2p_pubkey_equal(&pk, &back));
  ck_assert(p2p_peerid_matches_pubkey(&id, &pk));
  ck_assert_int_eq(p2p_peerid_to_string(&id, s, 10), P2P_ERR_LIMIT);
}
END_TEST

START_TEST(test_peerid_spec_examples_round_trip) {
  char s[P2P_PEERID_STR_MAX];
  p2p_peerid a, b, c;
  p2p_pubkey pk;
  uint8_t pb[64];
  /* The Ed25519 example: identity multihash, key inside. */
  ck_assert_int_eq(
      p2p_peerid_parse(SPEC_ID_ED25519, strlen(SPEC_ID_ED25519), &a), 0);
  ck_assert_int_ge(p2p_peerid_to_string(&a, s, sizeof(s)), 0);
  ck_assert_str_eq(s, SPEC_ID_ED25519);
  ck_assert_int_eq(p2p_peerid_to_pubkey(&a, &pk), 0);
  ck_assert_int_eq(p2p_pubkey_marshal(&pk, pb, sizeof(pb)), 36);
  ck_assert_mem_eq(pb, a.bytes + 2, 36);
  ck_assert(p2p_peerid_matches_pubkey(&a, &pk));
  /* The sha2-256 examples: Qm... and its CID form bafz... are one peer. */
  ck_assert_int_eq(p2p_peerid_parse(SPEC_ID_SHA256, strlen(SPEC_ID_SHA256), &b),
                   0);
  ck_assert_uint_eq(b.len, 34);
  ck_assert_int_eq(p2p_peerid_parse(SPEC_ID_CID, strlen(SPEC_ID_CID), &c), 0);
  ck_assert(p2p_peerid_equal(&b, &c));
  ck_assert(!p2p_peerid_equal(&a, &b));
  ck_assert_int_ge(p2p_peerid_to_string(&c, s, sizeof(s)), 0);
  ck_assert_str_eq(s, SPEC_ID_SHA256);
  ck_assert_int_ge(p2p_peerid_to_cid_string(&b, s, sizeof(s)), 0);
  ck_assert_str_eq(s, SPEC_ID_CID);
  ck_assert_int_eq(p2p_peerid_to_pubkey(&b, &pk), P2P_ERR_NOTFOUND);
}
END_TEST

START_TEST(test_peerid_generated_keys_round_trip_both_forms) {
  int i;
  for (i = 0; i < 16; i++) {
    p2p_privkey sk;
    p2p_peerid id, back;
    char s[P2P_PEERID_STR_MAX];
    ssize_t n;
    key_from_seed_byte((uint8_t)i, &sk);
    ck_assert_int_eq(p2p_peerid_from_pubkey(&sk.pub, &id), 0);
    n = p2p_peerid_to_string(&id, s, sizeof(s));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(strncmp(s, "12D3KooW", 8), 0);
    ck_assert_int_eq(p2p_peerid_parse(s, (size_t)n, &back), 0);
    ck_assert(p2p_peerid_equal(&id, &back));
    n = p2p_peerid_to_cid_string(&id, s, sizeof(s));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(strncmp(s, "bafzaa", 6), 0);
    ck_assert_int_eq(p2p_peerid_parse(s, (size_t)n, &back), 0);
    ck_assert(p2p_peerid_equal(&id, &back));
  }
}
END_TEST

START_TEST(test_peerid_parse_rejects_bad_strings) {
  static const char *bad[] = {
      "", "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5S0", /* '0' */
      "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5S",      /* short */
      "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5",            /* short */
      "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5NN",          /* long */
      "xyz",
      /* CID with the dag-pb codec (0x70) instead of libp2p-key */
      "bafybeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe",
      "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqx", "b",
      "BAFZBEIE5745RPV2M6TJYUUGYWY4D5EWRQGQQHFNF445HE3OMZPJBX5XQXE"};
  size_t i;
  p2p_peerid id;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(p2p_peerid_parse(bad[i], strlen(bad[i]), &id) ==
                      P2P_ERR_INVALID,
                  "accepted %s", bad[i]);
  /* Binary: unknown hash code, wrong sha2-256 length, over-long identity. */
  {
    uint8_t b[64] = {0x11, 0x02, 1, 2};
    ck_assert_int_eq(p2p_peerid_from_bytes(b, 4, &id), P2P_ERR_INVALID);
    b[0] = 0x12, b[1] = 0x02;
    ck_assert_int_eq(p2p_peerid_from_bytes(b, 4, &id), P2P_ERR_INVALID);
    b[0] = 0x00, b[1] = 43;
    ck_assert_int_eq(p2p_peerid_from_bytes(b, 45, &id), P2P_ERR_INVALID);
  }
}
END_TEST

/* ---- envelopes ------------------------------------------------------- */

static const char *DOMAIN = "p2plab-test-domain";

START_TEST(test_envelope_seal_open_round_trip) {
  p2p_privkey sk;
  uint8_t out[256], out2[256];
  const uint8_t type[] = {0x2f, 0x74};
  const uint8_t payload[] = "hello envelope";
  p2p_envelope env;
  ssize_t n;
  key_from_seed_byte(9, &sk);
  n = p2p_envelope_seal(&sk, DOMAIN, type, sizeof(type), payload,
                        sizeof(payload), out, sizeof(out));
  ck_assert_int_gt(n, 0);
  /* Deterministic: Ed25519 signatures depend only on key and input. */
  ck_assert_int_eq(p2p_envelope_seal(&sk, DOMAIN, type, sizeof(type), payload,
                                     sizeof(payload), out2, sizeof(out2)),
                   n);
  ck_assert_mem_eq(out, out2, (size_t)n);
  /* Field 1 is the embedded PublicKey. */
  ck_assert_mem_eq(out, "\x0a\x24\x08\x01\x12\x20", 6);
  ck_assert_int_eq(p2p_envelope_open(out, (size_t)n, DOMAIN, &env), 0);
  ck_assert(p2p_pubkey_equal(&env.key, &sk.pub));
  ck_assert_uint_eq(env.payload_type_len, sizeof(type));
  ck_assert_mem_eq(env.payload_type, type, sizeof(type));
  ck_assert_uint_eq(env.payload_len, sizeof(payload));
  ck_assert_mem_eq(env.payload, payload, sizeof(payload));
  p2p_envelope_free(&env);
  /* Empty type and payload are allowed. */
  n = p2p_envelope_seal(&sk, DOMAIN, NULL, 0, NULL, 0, out, sizeof(out));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_envelope_open(out, (size_t)n, DOMAIN, &env), 0);
  ck_assert_uint_eq(env.payload_len, 0);
  p2p_envelope_free(&env);
  ck_assert_int_eq(p2p_envelope_seal(&sk, DOMAIN, NULL, 0, NULL, 0, out, 20),
                   P2P_ERR_LIMIT);
}
END_TEST

START_TEST(test_envelope_rejects_tampering_domain_and_key_type) {
  p2p_privkey sk;
  uint8_t out[256], b[256];
  const uint8_t payload[] = "payload-bytes";
  p2p_envelope env;
  ssize_t n;
  size_t i, at = 0;
  key_from_seed_byte(10, &sk);
  n = p2p_envelope_seal(&sk, DOMAIN, (const uint8_t *)"\x01", 1, payload,
                        sizeof(payload), out, sizeof(out));
  ck_assert_int_gt(n, 0);
  /* Wrong domain: the signature no longer verifies. */
  ck_assert_int_eq(p2p_envelope_open(out, (size_t)n, "other-domain", &env),
                   P2P_ERR_PROTO);
  ck_assert_ptr_null(env.payload);
  /* A flipped bit in the payload. */
  for (i = 0; i + sizeof(payload) <= (size_t)n; i++)
    if (memcmp(out + i, payload, sizeof(payload)) == 0)
      at = i;
  ck_assert_uint_gt(at, 0);
  memcpy(b, out, (size_t)n);
  b[at + 3] ^= 0x01;
  ck_assert_int_eq(p2p_envelope_open(b, (size_t)n, DOMAIN, &env),
                   P2P_ERR_PROTO);
  /* A flipped bit in the signature (the last bytes). */
  memcpy(b, out, (size_t)n);
  b[n - 1] ^= 0x80;
  ck_assert_int_eq(p2p_envelope_open(b, (size_t)n, DOMAIN, &env),
                   P2P_ERR_PROTO);
  /* Another signer's key put in place of ours. */
  {
    p2p_privkey other;
    key_from_seed_byte(11, &other);
    memcpy(b, out, (size_t)n);
    memcpy(b + 6, other.pub.data, 32);
    ck_assert_int_eq(p2p_envelope_open(b, (size_t)n, DOMAIN, &env),
                     P2P_ERR_PROTO);
  }
  /* The key type changed to secp256k1. */
  memcpy(b, out, (size_t)n);
  b[3] = 0x02;
  ck_assert_int_eq(p2p_envelope_open(b, (size_t)n, DOMAIN, &env),
                   P2P_ERR_UNSUPPORTED);
  /* No public key at all, garbage, truncation. */
  ck_assert_int_eq(
      p2p_envelope_open((const uint8_t *)"\x1a\x01\x00", 3, DOMAIN, &env),
      P2P_ERR_INVALID);
  ck_assert_int_eq(
      p2p_envelope_open((const uint8_t *)"\xff\xff\xff", 3, DOMAIN, &env),
      P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_envelope_open(out, (size_t)n - 1, DOMAIN, &env),
                   P2P_ERR_INVALID);
  /* Still fine untouched. */
  ck_assert_int_eq(p2p_envelope_open(out, (size_t)n, DOMAIN, &env), 0);
  p2p_envelope_free(&env);
}
END_TEST

/* ---- peer records ---------------------------------------------------- */

/* /ip4/1.2.3.4/tcp/4001 and /ip4/10.0.0.1/udp/4001/quic-v1, binary. */
static const uint8_t MA1[] = {0x04, 1, 2, 3, 4, 0x06, 0x0f, 0xa1};
static const uint8_t MA2[] = {0x04, 10,   0,    0,    1,   0x91,
                              0x02, 0x0f, 0xa1, 0xcd, 0x03};

static void make_record(const p2p_privkey *sk, p2p_peer_record *rec) {
  memset(rec, 0, sizeof(*rec));
  ck_assert_int_eq(p2p_peerid_from_pubkey(&sk->pub, &rec->peer_id), 0);
  rec->seq = 1700000000123ull;
  rec->addrs = calloc(2, sizeof(*rec->addrs));
  ck_assert_ptr_nonnull(rec->addrs);
  ck_assert_int_eq(p2p_multiaddr_from_bytes(MA1, sizeof(MA1), &rec->addrs[0]),
                   0);
  rec->naddrs = 1;
  ck_assert_int_eq(p2p_multiaddr_from_bytes(MA2, sizeof(MA2), &rec->addrs[1]),
                   0);
  rec->naddrs = 2;
}

START_TEST(test_peer_record_seal_open_round_trip) {
  p2p_privkey sk;
  p2p_peer_record rec, got;
  p2p_pubkey signer;
  p2p_envelope env;
  uint8_t out[512];
  ssize_t n;
  key_from_seed_byte(12, &sk);
  make_record(&sk, &rec);
  n = p2p_peer_record_seal(&sk, &rec, out, sizeof(out));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_peer_record_open(out, (size_t)n, &got, &signer), 0);
  ck_assert(p2p_pubkey_equal(&signer, &sk.pub));
  ck_assert(p2p_peerid_equal(&got.peer_id, &rec.peer_id));
  ck_assert(got.seq == rec.seq);
  ck_assert_uint_eq(got.naddrs, 2);
  ck_assert_uint_eq(got.addrs[0].len, sizeof(MA1));
  ck_assert_mem_eq(got.addrs[0].bytes, MA1, sizeof(MA1));
  ck_assert_uint_eq(got.addrs[1].len, sizeof(MA2));
  ck_assert_mem_eq(got.addrs[1].bytes, MA2, sizeof(MA2));
  p2p_peer_record_free(&got);
  /* The envelope carries domain-separated type 0x0301. */
  ck_assert_int_eq(
      p2p_envelope_open(out, (size_t)n, P2P_PEER_RECORD_DOMAIN, &env), 0);
  ck_assert_uint_eq(env.payload_type_len, 2);
  ck_assert_mem_eq(env.payload_type, "\x03\x01", 2);
  ck_assert_int_eq(
      p2p_peer_record_unmarshal(env.payload, env.payload_len, &got), 0);
  ck_assert_uint_eq(got.naddrs, 2);
  p2p_peer_record_free(&got);
  p2p_envelope_free(&env);
  p2p_peer_record_free(&rec);
}
END_TEST

START_TEST(test_peer_record_rejects_wrong_signer_type_and_domain) {
  p2p_privkey sk, other;
  p2p_peer_record rec, got;
  uint8_t out[512], payload[256];
  ssize_t n, pn;
  key_from_seed_byte(13, &sk);
  key_from_seed_byte(14, &other);
  make_record(&sk, &rec);
  /* Sealing someone else's record is refused. */
  ck_assert_int_eq(p2p_peer_record_seal(&other, &rec, out, sizeof(out)),
                   P2P_ERR_INVALID);
  pn = p2p_peer_record_marshal(&rec, payload, sizeof(payload));
  ck_assert_int_gt(pn, 0);
  /* Signed by another key with the right domain and type. */
  n = p2p_envelope_seal(&other, P2P_PEER_RECORD_DOMAIN,
                        (const uint8_t *)"\x03\x01", 2, payload, (size_t)pn,
                        out, sizeof(out));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_peer_record_open(out, (size_t)n, &got, NULL),
                   P2P_ERR_PROTO);
  /* Right signer, wrong payload type. */
  n = p2p_envelope_seal(&sk, P2P_PEER_RECORD_DOMAIN,
                        (const uint8_t *)"\x03\x02", 2, payload, (size_t)pn,
                        out, sizeof(out));
  ck_assert_int_eq(p2p_peer_record_open(out, (size_t)n, &got, NULL),
                   P2P_ERR_PROTO);
  /* Right signer and type, other domain. */
  n = p2p_envelope_seal(&sk, "libp2p-routing-record",
                        (const uint8_t *)"\x03\x01", 2, payload, (size_t)pn,
                        out, sizeof(out));
  ck_assert_int_eq(p2p_peer_record_open(out, (size_t)n, &got, NULL),
                   P2P_ERR_PROTO);
  /* A record whose address is not a multiaddr, or with a bad peer ID. */
  ck_assert_int_eq(
      p2p_peer_record_unmarshal((const uint8_t *)"\x0a\x02\x11\x00", 4, &got),
      P2P_ERR_INVALID);
  payload[(size_t)pn - 1] ^= 0xff; /* last byte of the last multiaddr */
  ck_assert_int_eq(p2p_peer_record_unmarshal(payload, (size_t)pn, &got),
                   P2P_ERR_INVALID);
  ck_assert_uint_eq(got.naddrs, 0);
  p2p_peer_record_free(&rec);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("identity");
  TCase *k = tcase_create("keys");
  TCase *p = tcase_create("peerid");
  TCase *e = tcase_create("envelope");
  tcase_add_test(k, test_crypto_spec_private_key_gives_spec_public_key);
  tcase_add_test(k, test_crypto_pubkey_marshals_to_08011220_prefix);
  tcase_add_test(k, test_crypto_same_seed_same_key_other_seed_other_key);
  tcase_add_test(k, test_crypto_sign_verify_and_flipped_bits_fail);
  tcase_add_test(k, test_crypto_other_key_types_unsupported);
  tcase_add_test(k, test_crypto_pubkey_unmarshal_is_strict);
  tcase_add_test(k, test_crypto_privkey_unmarshal_checks_public_half);
  tcase_add_test(p, test_peerid_of_spec_key_is_identity_12D3KooW);
  tcase_add_test(p, test_peerid_spec_examples_round_trip);
  tcase_add_test(p, test_peerid_generated_keys_round_trip_both_forms);
  tcase_add_test(p, test_peerid_parse_rejects_bad_strings);
  tcase_add_test(e, test_envelope_seal_open_round_trip);
  tcase_add_test(e, test_envelope_rejects_tampering_domain_and_key_type);
  tcase_add_test(e, test_peer_record_seal_open_round_trip);
  tcase_add_test(e, test_peer_record_rejects_wrong_signer_type_and_domain);
  suite_add_tcase(s, k);
  suite_add_tcase(s, p);
  suite_add_tcase(s, e);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
