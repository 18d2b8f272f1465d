/* Tests for core/src/{varint,multibase,multihash,multiaddr}.c. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "p2p/multiaddr.h"
#include "p2p/multibase.h"
#include "p2p/multihash.h"
#include "p2p/peerid.h"
#include "p2p/varint.h"

#define PEER_A "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
#define PEER_A_CID                                                             \
  "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6"
#define PEER_B "12D3KooW9uj2o1xzMpBkFSR5qGEqLxc9WnPP18U8rRpeotzEWNWq"
#define PEER_QM "QmRXLuienZBmjxtcrXTNgWoUpUT8A8MCww5Q8NwC9KDDwP"
#define CERT_1 "uEiAmOwzSTWC5nsy_hIEPte1cxbEtLN2kEKtQ9k3uiOAjxg"
#define CERT_1_B32 "bciqcmoym2jgwbom6zs7yjaipwxwvzrnrfuwn3jaqvnipmtpordqchrq"
#define CERT_2 "uEiCUScfzqTzwxVpnXd8cg3Mth9ViVecLFQ2ebzz4Y7t_wQ"

/* --- varint ------------------------------------------------------------- */

START_TEST(test_varint_known_encodings) {
  static const struct {
    uint64_t v;
    uint8_t enc[9];
    size_t len;
  } cases[] = {
      {0, {0x00}, 1},
      {1, {0x01}, 1},
      {127, {0x7f}, 1},
      {128, {0x80, 0x01}, 2},
      {255, {0xff, 0x01}, 2},
      {300, {0xac, 0x02}, 2},
      {16384, {0x80, 0x80, 0x01}, 3},
      {P2P_VARINT_MAX,
       {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
       9},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[P2P_VARINT_MAX_LEN];
    uint64_t v = 0;
    ck_assert_uint_eq(p2p_varint_len(cases[i].v), cases[i].len);
    ck_assert_int_eq(p2p_varint_encode(cases[i].v, buf, sizeof buf),
                     (int)cases[i].len);
    ck_assert_mem_eq(buf, cases[i].enc, cases[i].len);
    ck_assert_int_eq(p2p_varint_decode(cases[i].enc, cases[i].len, &v),
                     (int)cases[i].len);
    ck_assert_uint_eq(v, cases[i].v);
  }
}
END_TEST

START_TEST(test_varint_encode_refuses_values_above_2_pow_63) {
  uint8_t buf[16];
  ck_assert_int_eq(p2p_varint_encode(UINT64_C(1) << 63, buf, sizeof buf),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_varint_encode(UINT64_MAX, buf, sizeof buf),
                   P2P_ERR_INVALID);
}
END_TEST

START_TEST(test_varint_encode_reports_short_buffer) {
  uint8_t buf[2];
  ck_assert_int_eq(p2p_varint_encode(16384, buf, sizeof buf), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_varint_encode(16383, buf, sizeof buf), 2);
}
END_TEST

START_TEST(test_varint_decode_needs_more_input_inside_varint) {
  static const uint8_t b[] = {0x80, 0x80};
  uint64_t v;
  ck_assert_int_eq(p2p_varint_decode(b, 0, &v), 0);
  ck_assert_int_eq(p2p_varint_decode(b, 1, &v), 0);
  ck_assert_int_eq(p2p_varint_decode(b, 2, &v), 0);
}
END_TEST

START_TEST(test_varint_decode_rejects_non_minimal) {
  static const uint8_t a[] = {0x80, 0x00};
  static const uint8_t b[] = {0x81, 0x80, 0x00};
  static const uint8_t c[] = {0xff, 0x80, 0x80, 0x80, 0x80,
                              0x80, 0x80, 0x80, 0x00};
  uint64_t v;
  ck_assert_int_eq(p2p_varint_decode(a, sizeof a, &v), P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_varint_decode(b, sizeof b, &v), P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_varint_decode(c, sizeof c, &v), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_varint_decode_rejects_more_than_nine_bytes) {
  static const uint8_t b[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                              0xff, 0xff, 0xff, 0xff, 0x01};
  uint64_t v;
  ck_assert_int_eq(p2p_varint_decode(b, sizeof b, &v), P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_varint_decode(b, 9, &v), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_varint_decode_stops_at_first_complete_varint) {
  static const uint8_t b[] = {0xac, 0x02, 0xff};
  uint64_t v;
  ck_assert_int_eq(p2p_varint_decode(b, sizeof b, &v), 2);
  ck_assert_uint_eq(v, 300);
}
END_TEST

/* --- multibase ---------------------------------------------------------- */

static const char *const rfc4648_in[] = {"",     "f",     "fo",    "foo",
                                         "foob", "fooba", "foobar"};

START_TEST(test_base32_matches_rfc4648_vectors) {
  static const char *const out[] = {"",        "my",       "mzxq",      "mzxw6",
                                    "mzxw6yq", "mzxw6ytb", "mzxw6ytboi"};
  for (size_t i = 0; i < 7; i++) {
    char enc[32];
    uint8_t dec[32];
    size_t n = strlen(rfc4648_in[i]);
    ck_assert_int_eq(
        p2p_base32_encode((const uint8_t *)rfc4648_in[i], n, enc, sizeof enc),
        (ssize_t)strlen(out[i]));
    ck_assert_str_eq(enc, out[i]);
    ck_assert_int_eq(p2p_base32_decode(out[i], strlen(out[i]), dec, sizeof dec),
                     (ssize_t)n);
    ck_assert_mem_eq(dec, rfc4648_in[i], n);
  }
}
END_TEST

START_TEST(test_base64url_matches_rfc4648_vectors) {
  static const char *const out[] = {"",       "Zg",      "Zm8",     "Zm9v",
                                    "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  for (size_t i = 0; i < 7; i++) {
    char enc[32];
    uint8_t dec[32];
    size_t n = strlen(rfc4648_in[i]);
    ck_assert_int_eq(p2p_base64url_encode((const uint8_t *)rfc4648_in[i], n,
                                          enc, sizeof enc),
                     (ssize_t)strlen(out[i]));
    ck_assert_str_eq(enc, out[i]);
    ck_assert_int_eq(
        p2p_base64url_decode(out[i], strlen(out[i]), dec, sizeof dec),
        (ssize_t)n);
    ck_assert_mem_eq(dec, rfc4648_in[i], n);
  }
}
END_TEST

START_TEST(test_base64url_uses_url_alphabet) {
  static const uint8_t in[] = {0xfb, 0xff, 0xbf};
  char enc[8];
  uint8_t dec[8];
  ck_assert_int_eq(p2p_base64url_encode(in, 3, enc, sizeof enc), 4);
  ck_assert_str_eq(enc, "-_-_");
  ck_assert_int_eq(p2p_base64url_decode("-_-_", 4, dec, sizeof dec), 3);
  ck_assert_mem_eq(dec, in, 3);
}
END_TEST

START_TEST(test_base64url_rejects_std_alphabet_padding_and_loose_bits) {
  uint8_t dec[16];
  ck_assert_int_eq(p2p_base64url_decode("+/+/", 4, dec, sizeof dec),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_base64url_decode("Zg==", 4, dec, sizeof dec),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_base64url_decode("Zh", 2, dec, sizeof dec),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_base64url_decode("Z", 1, dec, sizeof dec),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_base64url_decode("Zm9 v", 5, dec, sizeof dec),
                   P2P_ERR_INVALID);
}
END_TEST

START_TEST(test_base32_rejects_upper_case_padding_and_loose_bits) {
  uint8_t dec[16];
  ck_assert_int_eq(p2p_base32_decode("MY", 2, dec, sizeof dec),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_base32_decode("my======", 8, dec, sizeof dec),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_base32_decode("mz", 2, dec, sizeof dec),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_base32_decode("mzx", 3, dec, sizeof dec),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_base32_decode("m1", 2, dec, sizeof dec),
                   P2P_ERR_INVALID);
}
END_TEST

START_TEST(test_base58btc_known_vectors) {
  static const struct {
    const char *hex_in;
    size_t len;
    const char *out;
  } cases[] = {
      {"Hello World!", 12, "2NEpo7TZRRrLZSi2U"},
      {"\x00\x00\x01\x02", 4, "115T"},
      {"\x00\x00\x28\x7f\xb4\xcd", 6, "11233QC4"},
      {"\x00", 1, "1"},
      {"", 0, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char enc[64];
    uint8_t dec[64];
    ck_assert_int_eq(p2p_base58btc_encode((const uint8_t *)cases[i].hex_in,
                                          cases[i].len, enc, sizeof enc),
                     (ssize_t)strlen(cases[i].out));
    ck_assert_str_eq(enc, cases[i].out);
    ck_assert_int_eq(p2p_base58btc_decode(cases[i].out, strlen(cases[i].out),
                                          dec, sizeof dec),
                     (ssize_t)cases[i].len);
    ck_assert_mem_eq(dec, cases[i].hex_in, cases[i].len);
  }
}
END_TEST

START_TEST(test_base58btc_rejects_chars_outside_alphabet) {
  uint8_t dec[16];
  static const char *const bad[] = {"0", "O", "I", "l", "2N+", "2N 2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_int_eq(p2p_base58btc_decode(bad[i], strlen(bad[i]), dec, 16),
                     P2P_ERR_INVALID);
}
END_TEST

START_TEST(test_encoders_report_limit_when_output_does_not_fit) {
  static const uint8_t in[] = "foobar";
  char enc[8];
  uint8_t dec[2];
  /* base32 of "foobar" is 10 characters plus the NUL. */
  ck_assert_int_eq(p2p_base32_encode(in, 6, enc, sizeof enc), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_base64url_encode(in, 6, enc, 8), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_base58btc_encode((const uint8_t *)"Hello World!", 12,
                                        enc, sizeof enc),
                   P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_base58btc_decode("2NEpo7TZRRrLZSi2U", 17, dec, 2),
                   P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_base32_decode("mzxw6", 5, dec, 2), P2P_ERR_LIMIT);
}
END_TEST

START_TEST(test_multibase_prefixes_and_decodes_each_base) {
  static const uint8_t in[] = "foo";
  char enc[32];
  uint8_t dec[32];
  p2p_multibase base;
  ck_assert_int_eq(p2p_multibase_encode(P2P_BASE32, in, 3, enc, sizeof enc), 6);
  ck_assert_str_eq(enc, "bmzxw6");
  ck_assert_int_eq(p2p_multibase_encode(P2P_BASE64URL, in, 3, enc, sizeof enc),
                   5);
  ck_assert_str_eq(enc, "uZm9v");
  ck_assert_int_eq(p2p_multibase_encode(P2P_BASE58BTC, in, 3, enc, sizeof enc),
                   5);
  ck_assert_str_eq(enc, "zbQbp");
  ck_assert_int_eq(p2p_multibase_decode("zbQbp", 5, dec, sizeof dec, &base), 3);
  ck_assert_int_eq(base, P2P_BASE58BTC);
  ck_assert_int_eq(p2p_multibase_decode("bmzxw6", 6, dec, sizeof dec, &base),
                   3);
  ck_assert_int_eq(base, P2P_BASE32);
  ck_assert_int_eq(p2p_multibase_decode("uZm9v", 5, dec, sizeof dec, &base), 3);
  ck_assert_int_eq(base, P2P_BASE64URL);
  ck_assert_mem_eq(dec, "foo", 3);
}
END_TEST

START_TEST(test_multibase_rejects_unknown_prefix_and_empty) {
  uint8_t dec[16];
  p2p_multibase base;
  ck_assert_int_eq(p2p_multibase_decode("mZm9v", 5, dec, 16, &base),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multibase_decode("Bmzxw6", 6, dec, 16, &base),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multibase_decode("", 0, dec, 16, &base),
                   P2P_ERR_INVALID);
  char enc[16];
  ck_assert_int_eq(
      p2p_multibase_encode((p2p_multibase)'f', dec, 1, enc, sizeof enc),
      P2P_ERR_INVALID);
}
END_TEST

/* --- multihash ---------------------------------------------------------- */

START_TEST(test_multihash_sha256_of_abc_matches_fips_vector) {
  static const uint8_t want[34] = {
      0x12, 0x20, 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41,
      0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
      0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  uint8_t out[40];
  p2p_multihash_view v;
  ck_assert_int_eq(p2p_multihash_sha256((const uint8_t *)"abc", 3, out, 40),
                   34);
  ck_assert_mem_eq(out, want, 34);
  ck_assert_int_eq(p2p_multihash_decode(out, 34, &v), 0);
  ck_assert_uint_eq(v.code, P2P_MH_SHA2_256);
  ck_assert_uint_eq(v.len, 32);
  ck_assert_ptr_eq(v.digest, out + 2);
  ck_assert_int_eq(p2p_multihash_sha256((const uint8_t *)"abc", 3, out, 33),
                   P2P_ERR_LIMIT);
}
END_TEST

START_TEST(test_multihash_identity_round_trips) {
  static const uint8_t key[5] = {1, 2, 3, 4, 5};
  uint8_t out[16];
  p2p_multihash_view v;
  ck_assert_int_eq(p2p_multihash_encode(P2P_MH_IDENTITY, key, 5, out, 16), 7);
  ck_assert_uint_eq(out[0], 0x00);
  ck_assert_uint_eq(out[1], 5);
  ck_assert_int_eq(p2p_multihash_decode(out, 7, &v), 0);
  ck_assert_uint_eq(v.code, P2P_MH_IDENTITY);
  ck_assert_mem_eq(v.digest, key, 5);
}
END_TEST

START_TEST(test_multihash_rejects_unknown_code_and_bad_lengths) {
  uint8_t d[200] = {0};
  uint8_t out[300];
  ck_assert_int_eq(p2p_multihash_encode(0x13, d, 64, out, sizeof out),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multihash_encode(P2P_MH_SHA2_256, d, 31, out, 300),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multihash_encode(P2P_MH_IDENTITY, d, 129, out, 300),
                   P2P_ERR_INVALID);
  /* Decoding demands exactly one multihash filling the buffer. */
  static const uint8_t short_digest[] = {0x12, 0x20, 1, 2, 3};
  static const uint8_t trailing[] = {0x00, 0x01, 0xaa, 0xbb};
  static const uint8_t unknown[] = {0x13, 0x01, 0xaa};
  static const uint8_t nonminimal_len[] = {0x00, 0x81, 0x00};
  static const uint8_t only_code[] = {0x12};
  p2p_multihash_view v;
  ck_assert_int_eq(p2p_multihash_decode(short_digest, 5, &v), P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multihash_decode(trailing, 4, &v), P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multihash_decode(unknown, 3, &v), P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multihash_decode(nonminimal_len, 3, &v),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multihash_decode(only_code, 1, &v), P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_multihash_decode(only_code, 0, &v), P2P_ERR_INVALID);
}
END_TEST

/* --- multiaddr ---------------------------------------------------------- */

/* Parses s, prints it back and checks it is unchanged; also checks that
 * the bytes survive from_bytes. */
static void assert_round_trip(const char *s) {
  p2p_multiaddr ma, ma2;
  char out[1024];
  ck_assert_msg(p2p_multiaddr_parse(s, &ma) == 0, "parse failed: %s", s);
  ck_assert_int_eq(p2p_multiaddr_to_string(&ma, out, sizeof out),
                   (ssize_t)strlen(s));
  ck_assert_str_eq(out, s);
  ck_assert_int_eq(p2p_multiaddr_from_bytes(ma.bytes, ma.len, &ma2), 0);
  ck_assert_uint_eq(ma2.len, ma.len);
  ck_assert_mem_eq(ma2.bytes, ma.bytes, ma.len);
  p2p_multiaddr_free(&ma);
  p2p_multiaddr_free(&ma2);
}

START_TEST(test_multiaddr_guide_addresses_round_trip) {
  static const char *const addrs[] = {
      "/ip4/127.0.0.1/tcp/9001/ws/p2p/" PEER_A,
      "/ip4/127.0.0.1/tcp/9001/ws/p2p/" PEER_A
      "/p2p-circuit/webrtc/p2p/" PEER_B,
      "/ip6/::1/udp/4001/quic-v1/webtransport/certhash/" CERT_1
      "/certhash/" CERT_2,
      "/dns4/example.com/tcp/443/wss",
      "/ip4/1.2.3.4/udp/1234/webrtc-direct/certhash/" CERT_1,
      "/ip4/0.0.0.0/tcp/0",
      "/ip4/255.255.255.255/udp/65535/quic-v1",
      "/ip4/192.0.2.1/udp/4001/quic-v1/p2p/" PEER_A,
      "/dnsaddr/bootstrap.libp2p.io/p2p/" PEER_QM,
      "/dns/example.com/tcp/443/tls/sni/example.com/ws",
      "/dns6/ipv6.example.org/udp/443/quic-v1/webtransport",
      "/ip4/147.75.83.83/tcp/4001/p2p/" PEER_A "/p2p-circuit/p2p/" PEER_B,
      "/p2p/" PEER_A,
      "/p2p-circuit",
      "/ip6/2001:db8::1/tcp/4001/ws",
      "/ip6/::/tcp/1",
      "/ip6/::ffff:1.2.3.4/tcp/80",
      "/ip6/fe80::1:2:3:4/udp/9/webrtc-direct",
      "/dns4/b\xc3\xbc\x63her.example/tcp/80",
  };
  for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
    assert_round_trip(addrs[i]);
}
END_TEST

START_TEST(test_multiaddr_ip4_tcp_has_known_binary_form) {
  static const uint8_t want[] = {0x04, 0x7f, 0x00, 0x00,
                                 0x01, 0x06, 0x0f, 0xa1};
  p2p_multiaddr ma;
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/127.0.0.1/tcp/4001", &ma), 0);
  ck_assert_uint_eq(ma.len, sizeof want);
  ck_assert_mem_eq(ma.bytes, want, sizeof want);
  p2p_multiaddr_free(&ma);
}
END_TEST

START_TEST(test_multiaddr_quic_v1_and_dns_have_known_binary_form) {
  /* udp 273 = 0x91 0x02, quic-v1 461 = 0xcd 0x03, dns4 54 with length. */
  static const uint8_t want[] = {0x36, 0x0b, 'e',  'x',  'a',  'm',  'p',
                                 'l',  'e',  '.',  'c',  'o',  'm',  0x91,
                                 0x02, 0x01, 0xbb, 0xcd, 0x03, 0xdd, 0x03};
  p2p_multiaddr ma;
  ck_assert_int_eq(
      p2p_multiaddr_parse("/dns4/example.com/udp/443/quic-v1/ws", &ma), 0);
  ck_assert_uint_eq(ma.len, sizeof want);
  ck_assert_mem_eq(ma.bytes, want, sizeof want);
  p2p_multiaddr_free(&ma);
}
END_TEST

START_TEST(test_multiaddr_peer_cid_parses_to_same_bytes_as_base58) {
  p2p_multiaddr a, b;
  char out[256];
  ck_assert_int_eq(p2p_multiaddr_parse("/p2p/" PEER_A, &a), 0);
  ck_assert_int_eq(p2p_multiaddr_parse("/p2p/" PEER_A_CID, &b), 0);
  ck_assert_uint_eq(a.len, b.len);
  ck_assert_mem_eq(a.bytes, b.bytes, a.len);
  /* p2p 421 = 0xa5 0x03, then length 38 and the identity multihash. */
  ck_assert_uint_eq(a.len, 2 + 1 + 38);
  ck_assert_uint_eq(a.bytes[0], 0xa5);
  ck_assert_uint_eq(a.bytes[1], 0x03);
  ck_assert_uint_eq(a.bytes[2], 38);
  ck_assert_int_eq(p2p_multiaddr_to_string(&b, out, sizeof out),
                   (ssize_t)strlen("/p2p/" PEER_A));
  ck_assert_str_eq(out, "/p2p/" PEER_A);
  p2p_multiaddr_free(&a);
  p2p_multiaddr_free(&b);
}
END_TEST

START_TEST(test_multiaddr_certhash_prints_as_base64url) {
  p2p_multiaddr a, b;
  char out[256];
  ck_assert_int_eq(p2p_multiaddr_parse("/certhash/" CERT_1_B32, &a), 0);
  ck_assert_int_eq(p2p_multiaddr_parse("/certhash/" CERT_1, &b), 0);
  ck_assert_uint_eq(a.len, b.len);
  ck_assert_mem_eq(a.bytes, b.bytes, a.len);
  ck_assert_int_eq(p2p_multiaddr_to_string(&a, out, sizeof out),
                   (ssize_t)strlen("/certhash/" CERT_1));
  ck_assert_str_eq(out, "/certhash/" CERT_1);
  p2p_multiaddr_free(&a);
  p2p_multiaddr_free(&b);
}
END_TEST

START_TEST(test_multiaddr_ip6_prints_rfc5952_canonical) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"/ip6/0:0:0:0:0:0:0:1", "/ip6/::1"},
      {"/ip6/0:0:0:0:0:0:0:0", "/ip6/::"},
      {"/ip6/2001:DB8:0:0:0:0:0:1", "/ip6/2001:db8::1"},
      {"/ip6/2001:0db8:0000:0000:0001:0000:0000:0001",
       "/ip6/2001:db8::1:0:0:1"},
      {"/ip6/2001:db8:0:1:1:1:1:1", "/ip6/2001:db8:0:1:1:1:1:1"},
      {"/ip6/1:0:0:2:0:0:0:3", "/ip6/1:0:0:2::3"},
      {"/ip6/1::", "/ip6/1::"},
      {"/ip6/::2:3:4:5:6:7:8", "/ip6/0:2:3:4:5:6:7:8"},
      {"/ip6/0:0:0:0:0:ffff:102:304", "/ip6/::ffff:1.2.3.4"},
      {"/ip6/::1.2.3.4", "/ip6/::102:304"},
      {"/ip6/1:2:3:4:5:6:1.2.3.4", "/ip6/1:2:3:4:5:6:102:304"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    p2p_multiaddr ma;
    char out[128];
    ck_assert_msg(p2p_multiaddr_parse(cases[i].in, &ma) == 0, "%s",
                  cases[i].in);
    ck_assert_int_ge(p2p_multiaddr_to_string(&ma, out, sizeof out), 0);
    ck_assert_str_eq(out, cases[i].out);
    p2p_multiaddr_free(&ma);
  }
}
END_TEST

START_TEST(test_multiaddr_rejects_malformed_strings) {
  static const char *const bad[] = {
      "",
      "/",
      "ip4/1.2.3.4",
      "/ip4/256.0.0.1",
      "/ip4/1.2.3",
      "/ip4/1.2.3.4.5",
      "/ip4/01.2.3.4",
      "/ip4/1.2.3.-4",
      "/ip4/1..3.4",
      "/ip4/1.2.3.4/",
      "/ip4",
      "/ip4/",
      "/tcp",
      "/tcp/65536",
      "/tcp/99999999999",
      "/tcp/80a",
      "/tcp/-1",
      "/tcp/080",
      "/udp/",
      "/ip4/1.2.3.4/tcp/80/bogus",
      "/ip4/1.2.3.4//tcp/80",
      "/quic",
      "/QUIC-V1",
      "/ip6/1:2:3:4:5:6:7:8:9",
      "/ip6/1::2::3",
      "/ip6/:::",
      "/ip6/12345::",
      "/ip6/1:2:3:4:5:6:7:8::",
      "/ip6/1:2:3:4:5:6:7",
      "/ip6/::g",
      "/ip6/1:",
      "/ip6/:1",
      "/ip6/::1.2.3",
      "/ip6/::1.2.3.4:5",
      "/ip6/1:2:3:4:5:6:7:1.2.3.4",
      "/ip6/fe80::1%eth0",
      "/dns4/",
      "/dns/a\x01"
      "b",
      "/sni/\xff\xfe",
      "/dns4/\xc0\xaf",
      "/p2p/" PEER_A "x",
      "/p2p/0" PEER_A,
      "/p2p/QmNotAPeer",
      "/p2p/bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt",
      "/p2p/bafyaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6",
      "/certhash/",
      "/certhash/EiAmOwzSTWC5nsy_hIEPte1cxbEtLN2kEKtQ9k3uiOAjxg",
      "/certhash/uEiAmOwzSTWC5nsy_hIEPte1cxbEtLN2kEKtQ9k3uiOAj",
      "/certhash/uZm9v",
      "/ws/extra",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p2p_multiaddr ma = {(uint8_t *)1, 1};
    ck_assert_msg(p2p_multiaddr_parse(bad[i], &ma) == P2P_ERR_INVALID,
                  "accepted: %s", bad[i]);
    ck_assert_ptr_null(ma.bytes);
    ck_assert_uint_eq(ma.len, 0);
  }
}
END_TEST

START_TEST(test_multiaddr_rejects_malformed_binaries) {
  static const struct {
    uint8_t b[48];
    size_t len;
  } bad[] = {
      {{0}, 0},                                        /* empty */
      {{0x04, 0x7f, 0x00, 0x00}, 4},                   /* ip4 truncated */
      {{0x06, 0x0f}, 2},                               /* tcp truncated */
      {{0x29, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 11},      /* ip6 truncated */
      {{0x63}, 1},                                     /* unknown code 99 */
      {{0xcc, 0x03}, 2},                               /* quic (460) unknown */
      {{0x80, 0x00}, 2},                               /* non-minimal code */
      {{0x91}, 1},                                     /* code varint cut */
      {{0x36, 0x05, 'a', 'b'}, 4},                     /* length past end */
      {{0x36, 0x00}, 2},                               /* empty dns name */
      {{0x36, 0x03, 'a', '/', 'b'}, 5},                /* '/' in name */
      {{0x36, 0x02, 'a', 0x00}, 4},                    /* NUL in name */
      {{0x36}, 1},                                     /* length missing */
      {{0xa5, 0x03, 0x03, 0x12, 0x01, 0xaa}, 6},       /* p2p bad multihash */
      {{0xa5, 0x03, 0x02, 0x13, 0x00}, 5},             /* p2p unknown hash */
      {{0xd2, 0x03, 0x02, 0x12, 0x00}, 5},             /* certhash sha 0 len */
      {{0xd2, 0x03, 0x81, 0x00}, 4},                   /* non-minimal length */
      {{0x04, 1, 2, 3, 4, 0x06, 0x00, 0x50, 0x00}, 9}, /* trailing byte */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p2p_multiaddr ma;
    ck_assert_msg(p2p_multiaddr_from_bytes(bad[i].b, bad[i].len, &ma) ==
                      P2P_ERR_INVALID,
                  "accepted binary %zu", i);
    ck_assert_ptr_null(ma.bytes);
    /* The same bytes handed straight to to_string are refused too. */
    p2p_multiaddr raw = {(uint8_t *)(uintptr_t)bad[i].b, bad[i].len};
    char out[128];
    if (bad[i].len > 0)
      ck_assert_int_eq(p2p_multiaddr_to_string(&raw, out, sizeof out),
                       P2P_ERR_INVALID);
  }
}
END_TEST

START_TEST(test_multiaddr_to_string_reports_limit) {
  p2p_multiaddr ma;
  char out[24];
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/127.0.0.1/tcp/4001", &ma), 0);
  ck_assert_int_eq(p2p_multiaddr_to_string(&ma, out, 23), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_multiaddr_to_string(&ma, out, 24), 23);
  ck_assert_str_eq(out, "/ip4/127.0.0.1/tcp/4001");
  p2p_multiaddr_free(&ma);
}
END_TEST

START_TEST(test_multiaddr_encapsulate_and_decapsulate) {
  p2p_multiaddr a, b, ab, back, none;
  char out[256];
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/1.2.3.4/tcp/80", &a), 0);
  ck_assert_int_eq(p2p_multiaddr_parse("/ws/p2p/" PEER_A, &b), 0);
  ck_assert_int_eq(p2p_multiaddr_encapsulate(&a, &b, &ab), 0);
  ck_assert_int_ge(p2p_multiaddr_to_string(&ab, out, sizeof out), 0);
  ck_assert_str_eq(out, "/ip4/1.2.3.4/tcp/80/ws/p2p/" PEER_A);
  ck_assert_int_eq(p2p_multiaddr_decapsulate_code(&ab, P2P_MA_WS, &back), 0);
  ck_assert_uint_eq(back.len, a.len);
  ck_assert_mem_eq(back.bytes, a.bytes, a.len);
  p2p_multiaddr_free(&back);
  ck_assert_int_eq(p2p_multiaddr_decapsulate_code(&ab, P2P_MA_IP4, &back), 0);
  ck_assert_uint_eq(back.len, 0);
  ck_assert_int_ge(p2p_multiaddr_to_string(&back, out, sizeof out), 0);
  ck_assert_str_eq(out, "");
  p2p_multiaddr_free(&back);
  ck_assert_int_eq(p2p_multiaddr_decapsulate_code(&ab, P2P_MA_UDP, &none),
                   P2P_ERR_NOTFOUND);
  p2p_multiaddr_free(&a);
  p2p_multiaddr_free(&b);
  p2p_multiaddr_free(&ab);
}
END_TEST

START_TEST(test_multiaddr_decapsulate_cuts_at_last_occurrence) {
  p2p_multiaddr a, back;
  char out[256];
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/1.2.3.4/tcp/1/p2p/" PEER_A
                                       "/p2p-circuit/p2p/" PEER_B,
                                       &a),
                   0);
  ck_assert_int_eq(p2p_multiaddr_decapsulate_code(&a, P2P_MA_P2P, &back), 0);
  ck_assert_int_ge(p2p_multiaddr_to_string(&back, out, sizeof out), 0);
  ck_assert_str_eq(out, "/ip4/1.2.3.4/tcp/1/p2p/" PEER_A "/p2p-circuit");
  p2p_multiaddr_free(&back);
  p2p_multiaddr_free(&a);
}
END_TEST

START_TEST(test_multiaddr_next_iterates_components) {
  p2p_multiaddr ma;
  p2p_ma_component c;
  size_t pos = 0;
  ck_assert_int_eq(
      p2p_multiaddr_parse("/ip4/10.0.0.1/udp/53/quic-v1/p2p/" PEER_A, &ma), 0);
  ck_assert_int_eq(p2p_multiaddr_next(&ma, &pos, &c), 1);
  ck_assert_uint_eq(c.code, P2P_MA_IP4);
  ck_assert_str_eq(c.name, "ip4");
  ck_assert_uint_eq(c.value_len, 4);
  ck_assert_uint_eq(c.value[0], 10);
  ck_assert_int_eq(p2p_multiaddr_next(&ma, &pos, &c), 1);
  ck_assert_uint_eq(c.code, P2P_MA_UDP);
  ck_assert_uint_eq(c.value[1], 53);
  ck_assert_int_eq(p2p_multiaddr_next(&ma, &pos, &c), 1);
  ck_assert_uint_eq(c.code, P2P_MA_QUIC_V1);
  ck_assert_ptr_null(c.value);
  ck_assert_int_eq(p2p_multiaddr_next(&ma, &pos, &c), 1);
  ck_assert_uint_eq(c.code, P2P_MA_P2P);
  ck_assert_uint_eq(c.value_len, 38);
  ck_assert_int_eq(p2p_multiaddr_next(&ma, &pos, &c), 0);
  pos = ma.len + 1;
  ck_assert_int_eq(p2p_multiaddr_next(&ma, &pos, &c), P2P_ERR_INVALID);
  p2p_multiaddr_free(&ma);
}
END_TEST

START_TEST(test_multiaddr_copy_is_deep) {
  p2p_multiaddr a, b;
  ck_assert_int_eq(p2p_multiaddr_parse("/dns/example.com/tcp/1", &a), 0);
  ck_assert_int_eq(p2p_multiaddr_copy(&a, &b), 0);
  ck_assert_ptr_ne(a.bytes, b.bytes);
  ck_assert_uint_eq(a.len, b.len);
  ck_assert_mem_eq(a.bytes, b.bytes, a.len);
  p2p_multiaddr_free(&a);
  ck_assert_ptr_null(a.bytes);
  ck_assert_uint_eq(b.bytes[0], P2P_MA_DNS);
  p2p_multiaddr_free(&b);
}
END_TEST

START_TEST(test_multiaddr_proto_code_knows_every_protocol) {
  static const struct {
    const char *name;
    uint32_t code;
  } t[] = {{"ip4", 4},
           {"tcp", 6},
           {"udp", 273},
           {"ip6", 41},
           {"dns", 53},
           {"dns4", 54},
           {"dns6", 55},
           {"dnsaddr", 56},
           {"p2p", 421},
           {"tls", 448},
           {"sni", 449},
           {"quic-v1", 461},
           {"webtransport", 465},
           {"certhash", 466},
           {"ws", 477},
           {"wss", 478},
           {"webrtc-direct", 280},
           {"webrtc", 281},
           {"p2p-circuit", 290}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    uint32_t code = 0;
    ck_assert_int_eq(p2p_multiaddr_proto_code(t[i].name, &code), 0);
    ck_assert_uint_eq(code, t[i].code);
  }
  uint32_t code;
  ck_assert_int_eq(p2p_multiaddr_proto_code("quic", &code), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(p2p_multiaddr_proto_code("", &code), P2P_ERR_NOTFOUND);
}
END_TEST

START_TEST(test_multiaddr_has_and_last_peer_find_circuit_and_target) {
  const char *relay = "12D3KooWRSsBBQngABbBemegT2qZ821WH4FdwZPP172ZPbEEvTMf";
  const char *target = "12D3KooWNg2nfJ6nfc8AD5c6dk65MwRXv6PQi6zb4hxLkD9K27Q9";
  char s[512];
  snprintf(s, sizeof s, "/ip4/10.0.0.1/tcp/9001/ws/p2p/%s/p2p-circuit/p2p/%s",
           relay, target);
  p2p_multiaddr circ = {0}, plain = {0};
  ck_assert_int_eq(p2p_multiaddr_parse(s, &circ), 0);
  ck_assert_int_eq(p2p_multiaddr_parse("/ip4/10.0.0.1/tcp/9002", &plain), 0);
  ck_assert(p2p_multiaddr_has(&circ, P2P_MA_P2P_CIRCUIT));
  ck_assert(p2p_multiaddr_has(&circ, P2P_MA_WS));
  ck_assert(!p2p_multiaddr_has(&plain, P2P_MA_P2P_CIRCUIT));
  ck_assert(!p2p_multiaddr_has(&plain, P2P_MA_WS));
  ck_assert(!p2p_multiaddr_has(NULL, P2P_MA_WS));
  p2p_peerid got, want;
  ck_assert_int_eq(p2p_peerid_parse(target, strlen(target), &want), 0);
  ck_assert_int_eq(p2p_multiaddr_last_peer(&circ, &got), 1);
  ck_assert(p2p_peerid_equal(&got, &want)); /* the target, not the relay */
  ck_assert_int_eq(p2p_multiaddr_last_peer(&plain, &got), 0);
  p2p_multiaddr_free(&circ);
  p2p_multiaddr_free(&plain);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("multiformats");
  TCase *tv = tcase_create("varint");
  tcase_add_test(tv, test_varint_known_encodings);
  tcase_add_test(tv, test_varint_encode_refuses_values_above_2_pow_63);
  tcase_add_test(tv, test_varint_encode_reports_short_buffer);
  tcase_add_test(tv, test_varint_decode_needs_more_input_inside_varint);
  tcase_add_test(tv, test_varint_decode_rejects_non_minimal);
  tcase_add_test(tv, test_varint_decode_rejects_more_than_nine_bytes);
  tcase_add_test(tv, test_varint_decode_stops_at_first_complete_varint);
  suite_add_tcase(s, tv);
  TCase *tb = tcase_create("multibase");
  tcase_add_test(tb, test_base32_matches_rfc4648_vectors);
  tcase_add_test(tb, test_base64url_matches_rfc4648_vectors);
  tcase_add_test(tb, test_base64url_uses_url_alphabet);
  tcase_add_test(tb,
                 test_base64url_rejects_std_alphabet_padding_and_loose_bits);
  tcase_add_test(tb, test_base32_rejects_upper_case_padding_and_loose_bits);
  tcase_add_test(tb, test_base58btc_known_vectors);
  tcase_add_test(tb, test_base58btc_rejects_chars_outside_alphabet);
  tcase_add_test(tb, test_encoders_report_limit_when_output_does_not_fit);
  tcase_add_test(tb, test_multibase_prefixes_and_decodes_each_base);
  tcase_add_test(tb, test_multibase_rejects_unknown_prefix_and_empty);
  suite_add_tcase(s, tb);
  TCase *th = tcase_create("multihash");
  tcase_add_test(th, test_multihash_sha256_of_abc_matches_fips_vector);
  tcase_add_test(th, test_multihash_identity_round_trips);
  tcase_add_test(th, test_multihash_rejects_unknown_code_and_bad_lengths);
  suite_add_tcase(s, th);
  TCase *ta = tcase_create("multiaddr");
  tcase_add_test(ta, test_multiaddr_guide_addresses_round_trip);
  tcase_add_test(ta, test_multiaddr_ip4_tcp_has_known_binary_form);
  tcase_add_test(ta, test_multiaddr_quic_v1_and_dns_have_known_binary_form);
  tcase_add_test(ta, test_multiaddr_peer_cid_parses_to_same_bytes_as_base58);
  tcase_add_test(ta, test_multiaddr_certhash_prints_as_base64url);
  tcase_add_test(ta, test_multiaddr_ip6_prints_rfc5952_canonical);
  tcase_add_test(ta, test_multiaddr_rejects_malformed_strings);
  tcase_add_test(ta, test_multiaddr_rejects_malformed_binaries);
  tcase_add_test(ta, test_multiaddr_to_string_reports_limit);
  tcase_add_test(ta, test_multiaddr_encapsulate_and_decapsulate);
  tcase_add_test(ta, test_multiaddr_decapsulate_cuts_at_last_occurrence);
  tcase_add_test(ta, test_multiaddr_next_iterates_components);
  tcase_add_test(ta, test_multiaddr_copy_is_deep);
  tcase_add_test(ta, test_multiaddr_proto_code_knows_every_protocol);
  tcase_add_test(ta, test_multiaddr_has_and_last_peer_find_circuit_and_target);
  suite_add_tcase(s, ta);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
