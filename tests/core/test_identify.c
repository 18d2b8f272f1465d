/*
 * test_identify.c - the identify message codec and reader, and the ping
 * client and server (core/src/identify.c, core/src/ping.c).
 *
 * The exact-bytes vector was written out by hand from the protobuf encoding
 * rules (tags 0x12, 0x1a, 0x22, 0x2a, 0x32 for fields 2..6, length
 * delimited) and the multiaddr binary form, not produced by this code.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "p2p/crypto.h"
#include "p2p/envelope.h"
#include "p2p/identify.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"
#include "p2p/ping.h"

/* A deterministic random source: byte i of the stream is seed + i. */
typedef struct counter_rand {
  uint8_t next;
} counter_rand;

static void counter_fill(void *ctx, uint8_t *buf, size_t len) {
  counter_rand *cr = ctx;
  size_t i;
  for (i = 0; i < len; i++)
    buf[i] = cr->next++;
}

static void key_of(uint8_t seed_byte, p2p_privkey *key) {
  uint8_t seed[P2P_ED25519_SEED_LEN];
  memset(seed, seed_byte, sizeof(seed));
  ck_assert_int_eq(p2p_key_from_seed(seed, key), 0);
}

static void ma(const char *s, p2p_multiaddr *out) {
  ck_assert_int_eq(p2p_multiaddr_parse(s, out), 0);
}

/* Feeds all of buf to a fresh reader in chunks of `step` bytes (0: one
 * chunk), then EOF. Returns the first error, or 0 with *msg filled. */
static int read_all(const uint8_t *buf, size_t len, size_t step,
                    p2p_identify_msg *msg) {
  p2p_identify_reader r;
  size_t off = 0;
  int rv = 0;
  p2p_identify_reader_init(&r);
  while (off < len) {
    size_t n = step == 0 || len - off < step ? len - off : step;
    ssize_t used = p2p_identify_reader_recv(&r, buf + off, n);
    if (used < 0) {
      rv = (int)used;
      break;
    }
    off += (size_t)used;
    if ((size_t)used < n)
      break; /* the message ended; the rest is excess */
  }
  if (rv == 0)
    rv = p2p_identify_reader_recv_eof(&r);
  if (rv == 0)
    ck_assert_int_eq(p2p_identify_reader_take(&r, msg), 0);
  p2p_identify_reader_free(&r);
  return rv;
}

/* A complete info for host key `key`, with a signed record of its two
 * listen addresses. Storage for the pointers is the caller's. */
typedef struct full_info {
  p2p_privkey key;
  uint8_t pub[P2P_PUBKEY_PB_ED25519_LEN];
  p2p_multiaddr addrs[2];
  p2p_multiaddr observed;
  uint8_t record[1024];
  p2p_identify_info info;
} full_info;

static const char *const PROTOS[] = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0",
                                     "/yamux/1.0.0"};

static void full_info_init(full_info *f, const p2p_privkey *record_key) {
  ssize_t n;
  memset(f, 0, sizeof(*f));
  key_of(7, &f->key);
  ck_assert_int_eq(p2p_pubkey_marshal(&f->key.pub, f->pub, sizeof(f->pub)),
                   (ssize_t)sizeof(f->pub));
  ma("/ip4/192.0.2.1/tcp/4001", &f->addrs[0]);
  ma("/ip6/2001:db8::1/udp/4001/quic-v1", &f->addrs[1]);
  ma("/ip4/198.51.100.7/tcp/55555", &f->observed);
  n = p2p_identify_seal_record(record_key ? record_key : &f->key, 42, f->addrs,
                               2, f->record, sizeof(f->record));
  ck_assert_int_gt(n, 0);
  f->info.public_key = f->pub;
  f->info.public_key_len = sizeof(f->pub);
  f->info.listen_addrs = f->addrs;
  f->info.n_listen_addrs = 2;
  f->info.protocols = PROTOS;
  f->info.n_protocols = 3;
  f->info.observed_addr = &f->observed;
  f->info.protocol_version = P2P_IDENTIFY_PROTOCOL_VERSION;
  f->info.agent_version = "p2plab/0.1";
  f->info.signed_peer_record = f->record;
  f->info.signed_peer_record_len = (size_t)n;
}

static void full_info_free(full_info *f) {
  p2p_multiaddr_free(&f->addrs[0]);
  p2p_multiaddr_free(&f->addrs[1]);
  p2p_multiaddr_free(&f->observed);
}

static int ma_equal(const p2p_multiaddr *a, const p2p_multiaddr *b) {
  return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

static void check_full(const full_info *f, const p2p_identify_msg *m) {
  p2p_peerid id;
  size_t i;
  ck_assert(m->has_public_key);
  ck_assert(p2p_pubkey_equal(&m->public_key, &f->key.pub));
  ck_assert_uint_eq(m->n_listen_addrs, 2);
  ck_assert(ma_equal(&m->listen_addrs[0], &f->addrs[0]));
  ck_assert(ma_equal(&m->listen_addrs[1], &f->addrs[1]));
  ck_assert_uint_eq(m->n_protocols, 3);
  for (i = 0; i < 3; i++)
    ck_assert_str_eq(m->protocols[i], PROTOS[i]);
  ck_assert(m->has_observed_addr);
  ck_assert(ma_equal(&m->observed_addr, &f->observed));
  ck_assert_str_eq(m->protocol_version, "ipfs/0.1.0");
  ck_assert_str_eq(m->agent_version, "p2plab/0.1");
  ck_assert(m->has_peer_record);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&f->key.pub, &id), 0);
  ck_assert(p2p_peerid_equal(&m->peer_record.peer_id, &id));
  ck_assert_uint_eq(m->peer_record.seq, 42);
  ck_assert_uint_eq(m->peer_record.naddrs, 2);
  ck_assert(ma_equal(&m->peer_record.addrs[1], &f->addrs[1]));
  ck_assert(p2p_pubkey_equal(&m->peer_record_signer, &f->key.pub));
  ck_assert_uint_eq(m->signed_peer_record_len, f->info.signed_peer_record_len);
  ck_assert_mem_eq(m->signed_peer_record, f->record, m->signed_peer_record_len);
  ck_assert_uint_eq(m->n_skipped_addrs, 0);
}

START_TEST(test_identify_build_parse_round_trip_all_fields) {
  full_info f;
  uint8_t buf[4096];
  p2p_identify_msg m;
  ssize_t n, need;
  full_info_init(&f, NULL);
  need = p2p_identify_build(&f.info, NULL, 0);
  n = p2p_identify_build(&f.info, buf, sizeof(buf));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(n, need);
  ck_assert_int_eq(read_all(buf, (size_t)n, 0, &m), 0);
  check_full(&f, &m);
  p2p_identify_msg_free(&m);
  /* The body alone parses the same way. */
  ck_assert_int_eq(p2p_identify_parse(buf + 2, (size_t)n - 2, &m), 0);
  check_full(&f, &m);
  p2p_identify_msg_free(&m);
  full_info_free(&f);
}
END_TEST

START_TEST(test_identify_build_writes_fields_in_field_number_order) {
  static const uint8_t want[] = {
      0x27, /* body length 39 */
      0x12, 0x08, 0x04, 192,  0,   2,   1,   0x06, 0x00, 80, /* listenAddrs */
      0x1a, 0x02, '/',  'x',                                 /* protocols */
      0x22, 0x08, 0x04, 5,    6,   7,   8,   0x06, 0x00, 1,  /* observedAddr */
      0x2a, 0x0a, 'i',  'p',  'f', 's', '/', '0',  '.',  '1',
      '.',  '0',  0x32, 0x01, 'a'}; /* protocolVersion, agentVersion */
  static const char *const protos[] = {"/x"};
  p2p_multiaddr listen, observed;
  p2p_identify_info info;
  uint8_t buf[64];
  memset(&info, 0, sizeof(info));
  ma("/ip4/192.0.2.1/tcp/80", &listen);
  ma("/ip4/5.6.7.8/tcp/1", &observed);
  /* Set in reverse order: the output order must not depend on it. */
  info.agent_version = "a";
  info.protocol_version = "ipfs/0.1.0";
  info.observed_addr = &observed;
  info.protocols = protos;
  info.n_protocols = 1;
  info.listen_addrs = &listen;
  info.n_listen_addrs = 1;
  ck_assert_int_eq(p2p_identify_build(&info, buf, sizeof(buf)),
                   (ssize_t)sizeof(want));
  ck_assert_mem_eq(buf, want, sizeof(want));
  /* One byte short of room is refused, not truncated. */
  ck_assert_int_eq(p2p_identify_build(&info, buf, sizeof(want) - 1),
                   P2P_ERR_LIMIT);
  p2p_multiaddr_free(&listen);
  p2p_multiaddr_free(&observed);
}
END_TEST

START_TEST(test_identify_reader_accepts_every_split) {
  full_info f;
  uint8_t buf[4096];
  p2p_identify_msg m;
  size_t split;
  ssize_t n;
  full_info_init(&f, NULL);
  n = p2p_identify_build(&f.info, buf, sizeof(buf));
  ck_assert_int_gt(n, 0);
  for (split = 0; split <= (size_t)n; split++) {
    p2p_identify_reader r;
    ssize_t a, b;
    p2p_identify_reader_init(&r);
    a = p2p_identify_reader_recv(&r, buf, split);
    ck_assert_int_eq(a, (ssize_t)split);
    ck_assert_int_eq(p2p_identify_reader_done(&r), split == (size_t)n);
    b = p2p_identify_reader_recv(&r, buf + split, (size_t)n - split);
    ck_assert_int_eq(b, n - (ssize_t)split);
    ck_assert(p2p_identify_reader_done(&r));
    ck_assert_int_eq(p2p_identify_reader_take(&r, &m), 0);
    ck_assert_int_eq(p2p_identify_reader_take(&r, &m), P2P_ERR_STATE);
    check_full(&f, &m);
    p2p_identify_msg_free(&m);
    p2p_identify_reader_free(&r);
  }
  /* One byte at a time. */
  ck_assert_int_eq(read_all(buf, (size_t)n, 1, &m), 0);
  check_full(&f, &m);
  p2p_identify_msg_free(&m);
  full_info_free(&f);
}
END_TEST

START_TEST(test_identify_reader_leaves_excess_bytes) {
  uint8_t buf[] = {0x03, 0x32, 0x01, 'z', 0xff, 0xff};
  p2p_identify_reader r;
  p2p_identify_msg m;
  p2p_identify_reader_init(&r);
  ck_assert_int_eq(p2p_identify_reader_recv(&r, buf, sizeof(buf)), 4);
  ck_assert_int_eq(p2p_identify_reader_recv(&r, buf + 4, 2), 0);
  ck_assert_int_eq(p2p_identify_reader_take(&r, &m), 0);
  ck_assert_str_eq(m.agent_version, "z");
  ck_assert_ptr_null(m.protocol_version);
  ck_assert(!m.has_public_key && !m.has_peer_record);
  p2p_identify_msg_free(&m);
  p2p_identify_reader_free(&r);
}
END_TEST

START_TEST(test_identify_empty_message_is_a_valid_push) {
  uint8_t buf[] = {0x00};
  p2p_identify_msg m;
  ck_assert_int_eq(read_all(buf, 1, 0, &m), 0);
  ck_assert(!m.has_public_key && !m.has_observed_addr && !m.has_peer_record);
  ck_assert_uint_eq(m.n_listen_addrs + m.n_protocols, 0);
  p2p_identify_msg_free(&m);
}
END_TEST

/* Wraps a body in a one-byte length prefix and reads it. */
static int read_body(const uint8_t *body, size_t len, p2p_identify_msg *m) {
  uint8_t buf[256];
  ck_assert_uint_lt(len, 128);
  buf[0] = (uint8_t)len;
  memcpy(buf + 1, body, len);
  return read_all(buf, len + 1, 0, m);
}

START_TEST(test_identify_reader_rejects_malformed_framing) {
  static const uint8_t too_long[] = {0x81, 0x40}; /* 8193 */
  static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0x01};
  static const uint8_t non_minimal[] = {0x83, 0x00}; /* 3, padded */
  static const uint8_t truncated[] = {0x0a, 0x32, 0x01};
  static const uint8_t cut_prefix[] = {0x80};
  p2p_identify_reader r;
  p2p_identify_msg m;
  ck_assert_int_eq(read_all(too_long, sizeof(too_long), 0, &m), P2P_ERR_LIMIT);
  ck_assert_int_eq(read_all(huge, sizeof(huge), 1, &m), P2P_ERR_PROTO);
  ck_assert_int_eq(read_all(non_minimal, sizeof(non_minimal), 0, &m),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(read_all(truncated, sizeof(truncated), 0, &m),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(read_all(cut_prefix, sizeof(cut_prefix), 0, &m),
                   P2P_ERR_PROTO);
  /* 8192 is the largest length taken; a failed reader stays failed. */
  p2p_identify_reader_init(&r);
  ck_assert_int_eq(p2p_identify_reader_recv(&r, (const uint8_t *)"\x80\x40", 2),
                   2);
  p2p_identify_reader_free(&r);
  p2p_identify_reader_init(&r);
  ck_assert_int_eq(p2p_identify_reader_recv(&r, too_long, 2), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_identify_reader_recv(&r, too_long, 2), P2P_ERR_STATE);
  ck_assert_int_eq(p2p_identify_reader_recv_eof(&r), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_identify_reader_take(&r, &m), P2P_ERR_STATE);
  p2p_identify_reader_free(&r);
}
END_TEST

START_TEST(test_identify_rejects_bad_protobuf) {
  /* publicKey (1) with varint wire type. */
  static const uint8_t wt_varint[] = {0x08, 0x01};
  /* listenAddrs (2) with fixed32 wire type. */
  static const uint8_t wt_fixed32[] = {0x15, 1, 2, 3, 4};
  /* Wire type 7 does not exist. */
  static const uint8_t wt_seven[] = {0x0f, 0x00};
  /* A length-delimited field running past the body. */
  static const uint8_t inner_cut[] = {0x12, 0x05, 0x04, 0x01};
  /* Field number 0 is invalid. */
  static const uint8_t field_zero[] = {0x02, 0x00};
  /* A tag whose varint never ends inside the body. */
  static const uint8_t tag_cut[] = {0x80};
  p2p_identify_msg m;
  ck_assert_int_eq(read_body(wt_varint, sizeof(wt_varint), &m), P2P_ERR_PROTO);
  ck_assert_int_eq(read_body(wt_fixed32, sizeof(wt_fixed32), &m),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(read_body(wt_seven, sizeof(wt_seven), &m), P2P_ERR_PROTO);
  ck_assert_int_eq(read_body(inner_cut, sizeof(inner_cut), &m), P2P_ERR_PROTO);
  ck_assert_int_eq(read_body(field_zero, sizeof(field_zero), &m),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(read_body(tag_cut, sizeof(tag_cut), &m), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_identify_rejects_bad_public_key) {
  /* A PublicKey cut short: type Ed25519, data field missing its bytes. */
  static const uint8_t cut[] = {0x0a, 0x03, 0x08, 0x01, 0x12};
  /* An Ed25519 key of 3 bytes. */
  static const uint8_t short_key[] = {0x0a, 0x07, 0x08, 0x01, 0x12,
                                      0x03, 1,    2,    3};
  /* A well-formed secp256k1 key: a type this core cannot use. */
  uint8_t secp[64] = {0x0a, 0x25, 0x08, 0x02, 0x12, 0x21, 0x03};
  p2p_identify_msg m;
  ck_assert_int_eq(read_body(cut, sizeof(cut), &m), P2P_ERR_INVALID);
  ck_assert_int_eq(read_body(short_key, sizeof(short_key), &m),
                   P2P_ERR_INVALID);
  memset(secp + 7, 0x77, 32);
  ck_assert_int_eq(read_body(secp, 39, &m), P2P_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_identify_skips_and_counts_bad_multiaddrs) {
  /* listenAddrs: ip4 cut short, an unknown code, an empty one, one good;
   * observedAddr: a port above 65535 cannot be, so use a truncated tcp. */
  static const uint8_t body[] = {
      0x12, 0x03, 0x04, 0x01, 0x02, /* ip4, 2 of 4 bytes */
      0x12, 0x02, 0x7f, 0x00,       /* unknown code 0x7f */
      0x12, 0x00,                   /* empty */
      0x12, 0x08, 0x04, 10,   0,    0, 1, 0x06, 0x0f, 0xa1, /* good */
      0x22, 0x06, 0x04, 10,   0,    0, 2, 0x06}; /* tcp without a port */
  p2p_identify_msg m;
  char s[64];
  ck_assert_int_eq(read_body(body, sizeof(body), &m), 0);
  ck_assert_uint_eq(m.n_listen_addrs, 1);
  ck_assert_int_gt(p2p_multiaddr_to_string(&m.listen_addrs[0], s, sizeof(s)),
                   0);
  ck_assert_str_eq(s, "/ip4/10.0.0.1/tcp/4001");
  ck_assert(!m.has_observed_addr);
  ck_assert_uint_eq(m.n_skipped_addrs, 4);
  p2p_identify_msg_free(&m);
}
END_TEST

START_TEST(test_identify_rejects_record_of_another_key) {
  full_info f;
  p2p_privkey other;
  uint8_t buf[4096];
  p2p_identify_msg m;
  ssize_t n;
  key_of(9, &other);
  full_info_init(&f, &other);
  n = p2p_identify_build(&f.info, buf, sizeof(buf));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(read_all(buf, (size_t)n, 0, &m), P2P_ERR_PROTO);
  /* Without a publicKey the record stands alone and names its signer. */
  f.info.public_key = NULL;
  f.info.public_key_len = 0;
  n = p2p_identify_build(&f.info, buf, sizeof(buf));
  ck_assert_int_eq(read_all(buf, (size_t)n, 0, &m), 0);
  ck_assert(!m.has_public_key && m.has_peer_record);
  ck_assert(p2p_pubkey_equal(&m.peer_record_signer, &other.pub));
  p2p_identify_msg_free(&m);
  full_info_free(&f);
}
END_TEST

START_TEST(test_identify_rejects_tampered_or_foreign_record) {
  full_info f;
  uint8_t buf[4096], env[512];
  p2p_identify_msg m;
  ssize_t n, e;
  full_info_init(&f, NULL);
  /* One flipped bit at the end of the envelope (in the signature). */
  f.record[f.info.signed_peer_record_len - 1] ^= 1;
  n = p2p_identify_build(&f.info, buf, sizeof(buf));
  ck_assert_int_eq(read_all(buf, (size_t)n, 0, &m), P2P_ERR_PROTO);
  /* An envelope of the right key but another domain. */
  e = p2p_envelope_seal(&f.key, "other-domain",
                        (const uint8_t *)P2P_PEER_RECORD_PAYLOAD_TYPE,
                        P2P_PEER_RECORD_PAYLOAD_TYPE_LEN, (const uint8_t *)"x",
                        1, env, sizeof(env));
  ck_assert_int_gt(e, 0);
  f.info.signed_peer_record = env;
  f.info.signed_peer_record_len = (size_t)e;
  n = p2p_identify_build(&f.info, buf, sizeof(buf));
  ck_assert_int_eq(read_all(buf, (size_t)n, 0, &m), P2P_ERR_PROTO);
  /* Bytes that are no envelope at all. */
  f.info.signed_peer_record = (const uint8_t *)"\x0a\x01";
  f.info.signed_peer_record_len = 2;
  n = p2p_identify_build(&f.info, buf, sizeof(buf));
  ck_assert_int_eq(read_all(buf, (size_t)n, 0, &m), P2P_ERR_PROTO);
  full_info_free(&f);
}
END_TEST

START_TEST(test_identify_build_refuses_oversized_and_bad_info) {
  static char big[P2P_IDENTIFY_MAX_MSG_LEN];
  p2p_identify_info info;
  uint8_t *buf = malloc(2 * P2P_IDENTIFY_MAX_MSG_LEN);
  ck_assert_ptr_nonnull(buf);
  memset(&info, 0, sizeof(info));
  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  info.agent_version = big; /* 8191 bytes + tag and length > 8192 */
  ck_assert_int_eq(p2p_identify_build(&info, buf, 2 * P2P_IDENTIFY_MAX_MSG_LEN),
                   P2P_ERR_LIMIT);
  big[sizeof(big) - 5] = '\0'; /* 8187 + 1 tag + 2 length = 8190 */
  ck_assert_int_eq(p2p_identify_build(&info, buf, 2 * P2P_IDENTIFY_MAX_MSG_LEN),
                   8192);
  info.n_protocols = 1; /* a count without its array */
  ck_assert_int_eq(p2p_identify_build(&info, buf, 64), P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_identify_build(NULL, buf, 64), P2P_ERR_INVALID);
  free(buf);
}
END_TEST

START_TEST(test_ping_round_trip_and_rtt_from_given_times) {
  counter_rand cr = {0x10};
  p2p_rand rnd = {counter_fill, &cr};
  p2p_ping_client c;
  p2p_ping_server s;
  uint8_t req[64], echo[64];
  size_t used;
  uint64_t rtt = 0;
  ssize_t n;
  int round;
  p2p_ping_client_init(&c);
  p2p_ping_server_init(&s);
  for (round = 0; round < 2; round++) {
    ck_assert_int_eq(p2p_ping_client_start(&c, &rnd, 1000, req, 31),
                     P2P_ERR_LIMIT);
    ck_assert_int_eq(
        p2p_ping_client_start(&c, &rnd, 1000 + round, req, sizeof(req)),
        P2P_PING_PAYLOAD_LEN);
    ck_assert_uint_eq(req[0], 0x10 + 32 * round);
    ck_assert(p2p_ping_client_outstanding(&c));
    ck_assert_int_eq(p2p_ping_client_start(&c, &rnd, 1000, req, sizeof(req)),
                     P2P_ERR_STATE);
    n = p2p_ping_server_recv(&s, req, 32, echo, sizeof(echo), &used);
    ck_assert_int_eq(n, 32);
    ck_assert_uint_eq(used, 32);
    ck_assert_int_eq(
        p2p_ping_client_recv(&c, echo, 32, 1000 + round + 2500000, &used, &rtt),
        1);
    ck_assert_uint_eq(used, 32);
    ck_assert_uint_eq(rtt, 2500000);
    ck_assert(!p2p_ping_client_outstanding(&c));
  }
}
END_TEST

START_TEST(test_ping_client_accepts_split_echo) {
  counter_rand cr = {0};
  p2p_rand rnd = {counter_fill, &cr};
  uint8_t req[32], echo[40];
  size_t split, used;
  uint64_t rtt;
  for (split = 0; split <= 32; split++) {
    p2p_ping_client c;
    p2p_ping_client_init(&c);
    ck_assert_int_eq(p2p_ping_client_start(&c, &rnd, 50, req, sizeof(req)), 32);
    memcpy(echo, req, 32);
    memset(echo + 32, 0xee, 8); /* bytes past the echo stay unconsumed */
    ck_assert_int_eq(p2p_ping_client_recv(&c, echo, split, 60, &used, &rtt),
                     split == 32 ? 1 : 0);
    ck_assert_uint_eq(used, split);
    if (split < 32) {
      ck_assert_int_eq(
          p2p_ping_client_recv(&c, echo + split, 40 - split, 90, &used, &rtt),
          1);
      ck_assert_uint_eq(used, 32 - split);
      ck_assert_uint_eq(rtt, 40);
    } else {
      ck_assert_uint_eq(rtt, 10);
    }
  }
}
END_TEST

START_TEST(test_ping_client_detects_mismatch_and_unsolicited_bytes) {
  counter_rand cr = {1};
  p2p_rand rnd = {counter_fill, &cr};
  p2p_ping_client c;
  uint8_t req[32];
  size_t used;
  uint64_t rtt = 77;
  p2p_ping_client_init(&c);
  /* Nothing asked for yet. */
  ck_assert_int_eq(p2p_ping_client_recv(&c, req, 1, 0, &used, &rtt),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_ping_client_start(&c, &rnd, 0, req, 32), P2P_ERR_STATE);
  p2p_ping_client_init(&c);
  ck_assert_int_eq(p2p_ping_client_start(&c, &rnd, 5, req, 32), 32);
  req[31] ^= 0x80;
  ck_assert_int_eq(p2p_ping_client_recv(&c, req, 16, 6, &used, &rtt), 0);
  ck_assert_int_eq(p2p_ping_client_recv(&c, req + 16, 16, 7, &used, &rtt),
                   P2P_ERR_PROTO);
  ck_assert_uint_eq(rtt, 77); /* untouched on failure */
  ck_assert_int_eq(p2p_ping_client_recv(&c, req, 1, 8, &used, &rtt),
                   P2P_ERR_STATE);
  /* A clock that went backwards gives 0, not a huge value. */
  p2p_ping_client_init(&c);
  ck_assert_int_eq(p2p_ping_client_start(&c, &rnd, 100, req, 32), 32);
  ck_assert_int_eq(p2p_ping_client_recv(&c, req, 32, 90, &used, &rtt), 1);
  ck_assert_uint_eq(rtt, 0);
}
END_TEST

START_TEST(test_ping_server_echoes_full_blocks_and_holds_partial) {
  p2p_ping_server s;
  uint8_t in[100], out[128];
  size_t i, used;
  for (i = 0; i < sizeof(in); i++)
    in[i] = (uint8_t)i;
  p2p_ping_server_init(&s);
  /* 20 bytes: nothing to echo yet. */
  ck_assert_int_eq(p2p_ping_server_recv(&s, in, 20, out, sizeof(out), &used),
                   0);
  ck_assert_uint_eq(used, 20);
  ck_assert_uint_eq(p2p_ping_server_pending(&s), 20);
  /* 80 more: blocks 0..31, 32..63, 64..95, and 4 held. */
  ck_assert_int_eq(
      p2p_ping_server_recv(&s, in + 20, 80, out, sizeof(out), &used), 96);
  ck_assert_uint_eq(used, 80);
  ck_assert_mem_eq(out, in, 96);
  ck_assert_uint_eq(p2p_ping_server_pending(&s), 4);
  /* Room for one echo only: the second block stays unconsumed. */
  p2p_ping_server_init(&s);
  ck_assert_int_eq(p2p_ping_server_recv(&s, in, 64, out, 40, &used), 32);
  ck_assert_uint_eq(used, 63);
  ck_assert_uint_eq(p2p_ping_server_pending(&s), 31);
  ck_assert_int_eq(p2p_ping_server_recv(&s, in + 63, 1, out, 0, &used), 0);
  ck_assert_uint_eq(used, 0);
  ck_assert_int_eq(p2p_ping_server_recv(&s, in + 63, 1, out, 32, &used), 32);
  ck_assert_uint_eq(used, 1);
  ck_assert_mem_eq(out, in + 32, 32);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("identify");
  TCase *id = tcase_create("identify");
  TCase *bad = tcase_create("malformed");
  TCase *p = tcase_create("ping");
  tcase_add_test(id, test_identify_build_parse_round_trip_all_fields);
  tcase_add_test(id, test_identify_build_writes_fields_in_field_number_order);
  tcase_add_test(id, test_identify_reader_accepts_every_split);
  tcase_add_test(id, test_identify_reader_leaves_excess_bytes);
  tcase_add_test(id, test_identify_empty_message_is_a_valid_push);
  tcase_add_test(bad, test_identify_reader_rejects_malformed_framing);
  tcase_add_test(bad, test_identify_rejects_bad_protobuf);
  tcase_add_test(bad, test_identify_rejects_bad_public_key);
  tcase_add_test(bad, test_identify_skips_and_counts_bad_multiaddrs);
  tcase_add_test(bad, test_identify_rejects_record_of_another_key);
  tcase_add_test(bad, test_identify_rejects_tampered_or_foreign_record);
  tcase_add_test(bad, test_identify_build_refuses_oversized_and_bad_info);
  tcase_add_test(p, test_ping_round_trip_and_rtt_from_given_times);
  tcase_add_test(p, test_ping_client_accepts_split_echo);
  tcase_add_test(p, test_ping_client_detects_mismatch_and_unsolicited_bytes);
  tcase_add_test(p, test_ping_server_echoes_full_blocks_and_holds_partial);
  suite_add_tcase(s, id);
  suite_add_tcase(s, bad);
  suite_add_tcase(s, p);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
