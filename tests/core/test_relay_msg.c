/*
 * test_relay_msg.c - Circuit Relay v2 message codecs, framing and
 * reservation vouchers (core/src/relay_msg.c).
 *
 * The exact-bytes and malformed vectors were written out by hand from the
 * protobuf encoding rules (tag = field << 3 | wire type) and the message
 * definitions in libp2p/specs relay/circuit-v2.md, not produced by this
 * code.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "p2p/crypto.h"
#include "p2p/envelope.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"
#include "p2p/relay_msg.h"

static void key_of(uint8_t seed_byte, p2p_privkey *key) {
  uint8_t seed[P2P_ED25519_SEED_LEN];
  memset(seed, seed_byte, sizeof(seed));
  ck_assert_int_eq(p2p_key_from_seed(seed, key), 0);
}

static void id_of(uint8_t seed_byte, p2p_peerid *id) {
  p2p_privkey key;
  key_of(seed_byte, &key);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&key.pub, id), 0);
}

static void ma(const char *s, p2p_multiaddr *out) {
  ck_assert_int_eq(p2p_multiaddr_parse(s, out), 0);
}

/* Feeds buf to a fresh reader in chunks of `step` bytes, then takes a
 * HopMessage. Returns the first error or 0 with *msg filled. */
static int read_hop(const uint8_t *buf, size_t len, size_t step,
                    p2p_relay_hop_msg *msg) {
  p2p_relay_reader r;
  size_t off = 0;
  p2p_relay_reader_init(&r);
  while (off < len) {
    size_t n = len - off < step ? len - off : step;
    ssize_t used = p2p_relay_reader_recv(&r, buf + off, n);
    if (used < 0)
      return (int)used;
    off += (size_t)used;
    if ((size_t)used < n)
      break;
  }
  if (!p2p_relay_reader_done(&r)) {
    int rv = p2p_relay_reader_recv_eof(&r);
    return rv < 0 ? rv : P2P_ERR_STATE;
  }
  return p2p_relay_reader_take_hop(&r, msg);
}

/* The length of the varint prefix at the start of a framed message. */
static size_t prefix_len(const uint8_t *framed) {
  return (framed[0] & 0x80) ? 2 : 1;
}

/* Decodes a HopMessage body; frees the result on success. */
static int hop_body(const uint8_t *buf, size_t len) {
  p2p_relay_hop_msg m;
  int rv = p2p_relay_hop_decode(buf, len, &m);
  p2p_relay_hop_msg_free(&m);
  return rv;
}

/* Decodes a StopMessage body; frees the result on success. */
static int stop_body(const uint8_t *buf, size_t len) {
  p2p_relay_stop_msg m;
  int rv = p2p_relay_stop_decode(buf, len, &m);
  p2p_relay_stop_msg_free(&m);
  return rv;
}

START_TEST(test_relay_reserve_encodes_to_exact_bytes_and_back) {
  static const uint8_t want[] = {0x02, 0x08, 0x00};
  p2p_relay_hop_msg m, back;
  uint8_t out[16];
  memset(&m, 0, sizeof(m));
  m.type = P2P_RELAY_HOP_RESERVE;
  ck_assert_int_eq(p2p_relay_hop_encode(&m, NULL, 0), 3);
  ck_assert_int_eq(p2p_relay_hop_encode(&m, out, sizeof(out)), 3);
  ck_assert_mem_eq(out, want, sizeof(want));
  ck_assert_int_eq(p2p_relay_hop_encode(&m, out, 2), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_relay_hop_decode(out + 1, 2, &back), 0);
  ck_assert_int_eq(back.type, P2P_RELAY_HOP_RESERVE);
  ck_assert(!back.has_peer && !back.has_reservation && !back.has_limit &&
            !back.has_status);
  p2p_relay_hop_msg_free(&back);
}
END_TEST

START_TEST(test_relay_status_messages_encode_to_exact_bytes) {
  /* HopMessage{STATUS, status NO_RESERVATION=204}: 204 = cc 01. */
  static const uint8_t hop_want[] = {0x05, 0x08, 0x02, 0x28, 0xcc, 0x01};
  /* StopMessage{STATUS, status OK=100}: status is field 4 there. */
  static const uint8_t stop_want[] = {0x04, 0x08, 0x01, 0x20, 0x64};
  p2p_relay_hop_msg h;
  p2p_relay_stop_msg s;
  uint8_t out[16];
  memset(&h, 0, sizeof(h));
  memset(&s, 0, sizeof(s));
  h.type = P2P_RELAY_HOP_STATUS;
  h.has_status = 1;
  h.status = P2P_RELAY_STATUS_NO_RESERVATION;
  ck_assert_int_eq(p2p_relay_hop_encode(&h, out, sizeof(out)),
                   sizeof(hop_want));
  ck_assert_mem_eq(out, hop_want, sizeof(hop_want));
  s.type = P2P_RELAY_STOP_STATUS;
  s.has_status = 1;
  s.status = P2P_RELAY_STATUS_OK;
  ck_assert_int_eq(p2p_relay_stop_encode(&s, out, sizeof(out)),
                   sizeof(stop_want));
  ck_assert_mem_eq(out, stop_want, sizeof(stop_want));
}
END_TEST

START_TEST(test_relay_status_with_reservation_round_trips) {
  p2p_relay_hop_msg m, back;
  p2p_multiaddr addrs[2];
  uint8_t voucher[] = {1, 2, 3, 4, 5};
  uint8_t out[512];
  ssize_t n;
  memset(&m, 0, sizeof(m));
  ma("/ip4/1.2.3.4/tcp/4001", &addrs[0]);
  ma("/ip6/::1/udp/4001/quic-v1", &addrs[1]);
  m.type = P2P_RELAY_HOP_STATUS;
  m.has_status = 1;
  m.status = P2P_RELAY_STATUS_OK;
  m.has_reservation = 1;
  m.reservation.has_expire = 1;
  m.reservation.expire_unix_s = UINT64_C(1700000000);
  m.reservation.addrs = addrs;
  m.reservation.naddrs = 2;
  m.reservation.has_voucher = 1;
  m.reservation.voucher = voucher;
  m.reservation.voucher_len = sizeof(voucher);
  m.has_limit = 1;
  m.limit.has_duration = 1;
  m.limit.duration_s = 120;
  m.limit.has_data = 1;
  m.limit.data_bytes = UINT64_C(1) << 17;
  n = p2p_relay_hop_encode(&m, out, sizeof(out));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(read_hop(out, (size_t)n, (size_t)n, &back), 0);
  ck_assert_int_eq(back.type, P2P_RELAY_HOP_STATUS);
  ck_assert(back.has_status && back.status == P2P_RELAY_STATUS_OK);
  ck_assert(back.has_reservation && back.reservation.has_expire);
  ck_assert_uint_eq(back.reservation.expire_unix_s, UINT64_C(1700000000));
  ck_assert_uint_eq(back.reservation.naddrs, 2);
  ck_assert_uint_eq(back.reservation.nskipped_addrs, 0);
  ck_assert_uint_eq(back.reservation.addrs[1].len, addrs[1].len);
  ck_assert_mem_eq(back.reservation.addrs[1].bytes, addrs[1].bytes,
                   addrs[1].len);
  ck_assert(back.reservation.has_voucher);
  ck_assert_uint_eq(back.reservation.voucher_len, sizeof(voucher));
  ck_assert_mem_eq(back.reservation.voucher, voucher, sizeof(voucher));
  ck_assert(back.has_limit && back.limit.has_duration && back.limit.has_data);
  ck_assert_uint_eq(back.limit.duration_s, 120);
  ck_assert_uint_eq(back.limit.data_bytes, UINT64_C(1) << 17);
  ck_assert(!back.has_peer);
  p2p_relay_hop_msg_free(&back);
  p2p_multiaddr_free(&addrs[0]);
  p2p_multiaddr_free(&addrs[1]);
}
END_TEST

START_TEST(test_relay_connect_with_peer_round_trips_hop_and_stop) {
  p2p_relay_hop_msg h, hb;
  p2p_relay_stop_msg s, sb;
  p2p_multiaddr addr;
  uint8_t out[512];
  ssize_t n;
  memset(&h, 0, sizeof(h));
  memset(&s, 0, sizeof(s));
  ma("/dns4/relay.example/tcp/443/wss", &addr);
  h.type = P2P_RELAY_HOP_CONNECT;
  h.has_peer = 1;
  id_of(7, &h.peer.id);
  h.peer.addrs = &addr;
  h.peer.naddrs = 1;
  n = p2p_relay_hop_encode(&h, out, sizeof(out));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_relay_hop_decode(out + 1, (size_t)n - 1, &hb), 0);
  ck_assert_int_eq(hb.type, P2P_RELAY_HOP_CONNECT);
  ck_assert(hb.has_peer && p2p_peerid_equal(&hb.peer.id, &h.peer.id));
  ck_assert_uint_eq(hb.peer.naddrs, 1);
  ck_assert_mem_eq(hb.peer.addrs[0].bytes, addr.bytes, addr.len);
  p2p_relay_hop_msg_free(&hb);

  s.type = P2P_RELAY_STOP_CONNECT;
  s.has_peer = 1;
  id_of(9, &s.peer.id);
  s.has_limit = 1;
  s.limit.has_data = 1;
  s.limit.data_bytes = 4096;
  n = p2p_relay_stop_encode(&s, out, sizeof(out));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_relay_stop_decode(out + 1, (size_t)n - 1, &sb), 0);
  ck_assert_int_eq(sb.type, P2P_RELAY_STOP_CONNECT);
  ck_assert(sb.has_peer && p2p_peerid_equal(&sb.peer.id, &s.peer.id));
  ck_assert_uint_eq(sb.peer.naddrs, 0);
  ck_assert(sb.has_limit && !sb.limit.has_duration && sb.limit.has_data);
  ck_assert_uint_eq(sb.limit.data_bytes, 4096);
  ck_assert(!sb.has_status);
  p2p_relay_stop_msg_free(&sb);
  p2p_multiaddr_free(&addr);
}
END_TEST

START_TEST(test_relay_reader_accepts_every_split_and_leaves_excess) {
  p2p_relay_hop_msg m, back;
  p2p_relay_reader r;
  uint8_t out[512];
  size_t step, cut;
  ssize_t n;
  memset(&m, 0, sizeof(m));
  m.type = P2P_RELAY_HOP_CONNECT;
  m.has_peer = 1;
  id_of(3, &m.peer.id);
  m.has_limit = 1;
  m.limit.has_duration = 1;
  m.limit.duration_s = 7;
  n = p2p_relay_hop_encode(&m, out, sizeof(out) - 4);
  ck_assert_int_gt(n, 0);
  for (step = 1; step <= (size_t)n; step++) {
    ck_assert_int_eq(read_hop(out, (size_t)n, step, &back), 0);
    ck_assert(p2p_peerid_equal(&back.peer.id, &m.peer.id));
    ck_assert_uint_eq(back.limit.duration_s, 7);
    p2p_relay_hop_msg_free(&back);
  }
  /* Two pieces cut at every byte, with relayed bytes after the message. */
  memcpy(out + n, "DATA", 4);
  for (cut = 0; cut <= (size_t)n; cut++) {
    ssize_t a, b;
    p2p_relay_reader_init(&r);
    a = p2p_relay_reader_recv(&r, out, cut);
    ck_assert_int_eq(a, (ssize_t)cut);
    b = p2p_relay_reader_recv(&r, out + cut, (size_t)n + 4 - cut);
    ck_assert_int_eq(b, n - (ssize_t)cut);
    ck_assert(p2p_relay_reader_done(&r));
    ck_assert_int_eq(p2p_relay_reader_recv(&r, out + n, 4), 0);
    ck_assert_int_eq(p2p_relay_reader_take_hop(&r, &back), 0);
    ck_assert_int_eq(back.type, P2P_RELAY_HOP_CONNECT);
    p2p_relay_hop_msg_free(&back);
    ck_assert(!p2p_relay_reader_done(&r));
    ck_assert_int_eq(p2p_relay_reader_recv_eof(&r), 0);
  }
}
END_TEST

START_TEST(test_relay_reader_rejects_oversized_and_bad_prefixes) {
  static const uint8_t over[] = {0x81, 0x20};        /* 4097 */
  static const uint8_t three[] = {0x80, 0x80, 0x01}; /* needs 3 bytes */
  static const uint8_t nonmin[] = {0x80, 0x00};      /* 0, not minimal */
  static const uint8_t max[] = {0x80, 0x20};         /* 4096: allowed */
  p2p_relay_reader r;
  p2p_relay_hop_msg m;
  ck_assert_int_eq(read_hop(over, sizeof(over), 1, &m), P2P_ERR_PROTO);
  ck_assert_int_eq(read_hop(three, sizeof(three), 3, &m), P2P_ERR_PROTO);
  ck_assert_int_eq(read_hop(nonmin, sizeof(nonmin), 2, &m), P2P_ERR_PROTO);
  p2p_relay_reader_init(&r);
  ck_assert_int_eq(p2p_relay_reader_recv(&r, max, 2), 2);
  ck_assert_int_eq(r.body_len, P2P_RELAY_MAX_MSG_LEN);
  /* After an error the reader keeps failing. */
  p2p_relay_reader_init(&r);
  ck_assert_int_eq(p2p_relay_reader_recv(&r, over, 2), P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_relay_reader_recv(&r, max, 2), P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_relay_reader_take_hop(&r, &m), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_relay_reader_fails_on_eof_inside_a_message) {
  static const uint8_t part[] = {0x05, 0x08, 0x02};
  p2p_relay_reader r;
  p2p_relay_hop_msg m;
  p2p_relay_reader_init(&r);
  ck_assert_int_eq(p2p_relay_reader_take_hop(&r, &m), P2P_ERR_STATE);
  ck_assert_int_eq(p2p_relay_reader_recv(&r, part, sizeof(part)), 3);
  ck_assert(!p2p_relay_reader_done(&r));
  ck_assert_int_eq(p2p_relay_reader_recv_eof(&r), P2P_ERR_PROTO);
  /* EOF after half a prefix is also inside a message. */
  p2p_relay_reader_init(&r);
  ck_assert_int_eq(p2p_relay_reader_recv(&r, (const uint8_t *)"\x81", 1), 1);
  ck_assert_int_eq(p2p_relay_reader_recv_eof(&r), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_relay_decode_rejects_missing_required_fields) {
  static const uint8_t empty[1] = {0};
  static const uint8_t status_only[] = {0x28, 0x64};
  /* Peer{} with no id: 12 00. */
  static const uint8_t peer_no_id[] = {0x08, 0x01, 0x12, 0x00};
  /* StopMessage with only a limit. */
  static const uint8_t stop_no_type[] = {0x1a, 0x02, 0x08, 0x05};
  ck_assert_int_eq(hop_body(empty, 0), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(status_only, sizeof(status_only)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(peer_no_id, sizeof(peer_no_id)), P2P_ERR_PROTO);
  ck_assert_int_eq(stop_body(stop_no_type, sizeof(stop_no_type)),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(stop_body(empty, 0), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_relay_decode_rejects_truncated_and_wrong_wire_types) {
  static const uint8_t tag_only[] = {0x08};
  static const uint8_t short_len[] = {0x08, 0x01, 0x12, 0x05, 0x0a};
  static const uint8_t cut_varint[] = {0x08, 0x02, 0x28, 0xcc};
  /* type (field 1) as length-delimited. */
  static const uint8_t type_ld[] = {0x0a, 0x01, 0x00};
  /* peer (field 2) as a varint. */
  static const uint8_t peer_varint[] = {0x08, 0x01, 0x10, 0x01};
  /* Limit.duration (field 1 of Limit) as length-delimited. */
  static const uint8_t dur_ld[] = {0x08, 0x02, 0x22, 0x03, 0x0a, 0x01, 0x05};
  /* Wire type 7 does not exist. */
  static const uint8_t wt7[] = {0x08, 0x00, 0x0f};
  ck_assert_int_eq(hop_body(tag_only, sizeof(tag_only)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(short_len, sizeof(short_len)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(cut_varint, sizeof(cut_varint)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(type_ld, sizeof(type_ld)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(peer_varint, sizeof(peer_varint)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(dur_ld, sizeof(dur_ld)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(wt7, sizeof(wt7)), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_relay_decode_rejects_unknown_enum_values) {
  static const uint8_t hop_type3[] = {0x08, 0x03};
  static const uint8_t stop_type2[] = {0x08, 0x02};
  static const uint8_t status101[] = {0x08, 0x02, 0x28, 0x65};
  static const uint8_t status0[] = {0x08, 0x02, 0x28, 0x00};
  static const uint8_t stop_status205[] = {0x08, 0x01, 0x20, 0xcd, 0x01};
  static const uint8_t hop_type_neg[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0xff, 0xff, 0x01};
  ck_assert_int_eq(hop_body(hop_type3, sizeof(hop_type3)), P2P_ERR_PROTO);
  ck_assert_int_eq(stop_body(stop_type2, sizeof(stop_type2)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(status101, sizeof(status101)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(status0, sizeof(status0)), P2P_ERR_PROTO);
  ck_assert_int_eq(stop_body(stop_status205, sizeof(stop_status205)),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(hop_type_neg, sizeof(hop_type_neg)), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_relay_decode_rejects_bad_peer_ids) {
  /* identity multihash announcing 1 byte but holding none. */
  static const uint8_t short_id[] = {0x08, 0x01, 0x12, 0x04,
                                     0x0a, 0x02, 0x00, 0x01};
  static const uint8_t empty_id[] = {0x08, 0x01, 0x12, 0x02, 0x0a, 0x00};
  /* sha2-256 code with a 3-byte digest. */
  static const uint8_t bad_hash[] = {0x08, 0x00, 0x12, 0x07, 0x0a, 0x05,
                                     0x12, 0x03, 0x01, 0x02, 0x03};
  ck_assert_int_eq(hop_body(short_id, sizeof(short_id)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(empty_id, sizeof(empty_id)), P2P_ERR_PROTO);
  ck_assert_int_eq(stop_body(bad_hash, sizeof(bad_hash)), P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_relay_decode_skips_and_counts_bad_multiaddrs) {
  p2p_relay_hop_msg m, back;
  p2p_multiaddr addrs[3];
  uint8_t bad_code[] = {0xff, 0x7f};      /* unknown protocol */
  uint8_t cut_ip4[] = {0x04, 0x01, 0x02}; /* ip4 with 2 of 4 bytes */
  uint8_t out[512];
  ssize_t n;
  memset(&m, 0, sizeof(m));
  ma("/ip4/10.0.0.1/tcp/1", &addrs[0]);
  addrs[1].bytes = bad_code;
  addrs[1].len = sizeof(bad_code);
  addrs[2].bytes = cut_ip4;
  addrs[2].len = sizeof(cut_ip4);
  m.type = P2P_RELAY_HOP_CONNECT;
  m.has_peer = 1;
  id_of(1, &m.peer.id);
  m.peer.addrs = addrs;
  m.peer.naddrs = 3;
  m.has_reservation = 1;
  m.reservation.addrs = addrs + 1;
  m.reservation.naddrs = 2;
  n = p2p_relay_hop_encode(&m, out, sizeof(out));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_relay_hop_decode(out + prefix_len(out),
                                        (size_t)n - prefix_len(out), &back),
                   0);
  ck_assert_uint_eq(back.peer.naddrs, 1);
  ck_assert_uint_eq(back.peer.nskipped_addrs, 2);
  ck_assert_mem_eq(back.peer.addrs[0].bytes, addrs[0].bytes, addrs[0].len);
  ck_assert_uint_eq(back.reservation.naddrs, 0);
  ck_assert_uint_eq(back.reservation.nskipped_addrs, 2);
  ck_assert(!back.reservation.has_expire && !back.reservation.has_voucher);
  p2p_relay_hop_msg_free(&back);
  p2p_multiaddr_free(&addrs[0]);
}
END_TEST

START_TEST(test_relay_encode_refuses_invalid_and_oversized_messages) {
  p2p_relay_hop_msg m;
  p2p_relay_stop_msg s;
  static uint8_t big[P2P_RELAY_MAX_MSG_LEN + 1];
  uint8_t out[64];
  memset(&m, 0, sizeof(m));
  memset(&s, 0, sizeof(s));
  m.type = (p2p_relay_hop_type)3;
  ck_assert_int_eq(p2p_relay_hop_encode(&m, out, sizeof(out)), P2P_ERR_INVALID);
  m.type = P2P_RELAY_HOP_STATUS;
  m.has_status = 1;
  m.status = P2P_RELAY_STATUS_UNUSED;
  ck_assert_int_eq(p2p_relay_hop_encode(&m, out, sizeof(out)), P2P_ERR_INVALID);
  m.has_status = 0;
  m.has_peer = 1; /* zeroed: no peer ID */
  ck_assert_int_eq(p2p_relay_hop_encode(&m, out, sizeof(out)), P2P_ERR_INVALID);
  m.has_peer = 0;
  m.has_reservation = 1;
  m.reservation.has_voucher = 1;
  m.reservation.voucher = big;
  /* 2 (type) + 3 (reservation tag, length) + 3 (voucher tag, length) +
   * 4088 is exactly the 4096-byte limit: allowed, with a 2-byte prefix. */
  m.reservation.voucher_len = P2P_RELAY_MAX_MSG_LEN - 8;
  ck_assert_int_eq(p2p_relay_hop_encode(&m, NULL, 0),
                   P2P_RELAY_MAX_MSG_LEN + 2);
  m.reservation.voucher_len++;
  ck_assert_int_eq(p2p_relay_hop_encode(&m, NULL, 0), P2P_ERR_LIMIT);
  s.type = (p2p_relay_stop_type)2;
  ck_assert_int_eq(p2p_relay_stop_encode(&s, out, sizeof(out)),
                   P2P_ERR_INVALID);
  /* A body over the limit is refused by decode too, before parsing: a
   * valid HopMessage padded with a long unknown field. */
  big[0] = 0x08;
  big[1] = 0x00;
  big[2] = 0x32; /* field 6, length-delimited */
  big[3] = 0x8f;
  big[4] = 0x20; /* 4111 >= the 4092 bytes left */
  ck_assert_int_eq(hop_body(big, sizeof(big)), P2P_ERR_PROTO);
  big[3] = 0xfc;
  big[4] = 0x1f; /* 4092: the body is exactly 4097 bytes with the field */
  ck_assert_int_eq(hop_body(big, sizeof(big)), P2P_ERR_PROTO);
  ck_assert_int_eq(hop_body(big, sizeof(big) - 1), P2P_ERR_PROTO);
  big[3] = 0xfb; /* 4091: fits in 4096 and parses (unknown fields skip) */
  ck_assert_int_eq(hop_body(big, sizeof(big) - 1), 0);
}
END_TEST

START_TEST(test_relay_voucher_seal_open_round_trip) {
  p2p_privkey relay;
  p2p_peerid relay_id, peer;
  p2p_relay_voucher v;
  uint8_t env[P2P_RELAY_VOUCHER_MAX_LEN];
  ssize_t n;
  key_of(0x11, &relay);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&relay.pub, &relay_id), 0);
  id_of(0x22, &peer);
  n = p2p_relay_voucher_seal(&relay, &peer, UINT64_C(1893456000), env,
                             sizeof(env));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_relay_voucher_seal(&relay, &peer, 1, env, 10),
                   P2P_ERR_LIMIT);
  n = p2p_relay_voucher_seal(&relay, &peer, UINT64_C(1893456000), env,
                             sizeof(env));
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, &relay_id, &v), 0);
  ck_assert(p2p_peerid_equal(&v.relay, &relay_id));
  ck_assert(p2p_peerid_equal(&v.peer, &peer));
  ck_assert_uint_eq(v.expiration_unix_s, UINT64_C(1893456000));
  /* Without an expected relay only the signer check applies. */
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, NULL, &v), 0);
}
END_TEST

START_TEST(test_relay_voucher_open_rejects_tampered_and_wrong_relay) {
  p2p_privkey relay;
  p2p_peerid relay_id, peer, other;
  p2p_relay_voucher v;
  uint8_t env[P2P_RELAY_VOUCHER_MAX_LEN];
  ssize_t n, i;
  key_of(0x11, &relay);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&relay.pub, &relay_id), 0);
  id_of(0x22, &peer);
  id_of(0x33, &other);
  n = p2p_relay_voucher_seal(&relay, &peer, 77, env, sizeof(env));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, &other, &v),
                   P2P_ERR_PROTO);
  ck_assert_uint_eq(v.expiration_unix_s, 0);
  /* Every single-byte change is caught. */
  for (i = 0; i < n; i++) {
    env[i] ^= 0x01;
    ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, &relay_id, &v),
                     P2P_ERR_PROTO);
    env[i] ^= 0x01;
  }
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n - 1, &relay_id, &v),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_relay_voucher_open((const uint8_t *)"xyz", 3, NULL, &v),
                   P2P_ERR_PROTO);
}
END_TEST

/* Seals a voucher payload by hand, as a confused or hostile relay might. */
static ssize_t seal_raw(const p2p_privkey *key, const char *domain,
                        const char *ptype, const p2p_peerid *relay,
                        const p2p_peerid *peer, uint8_t *out, size_t cap) {
  uint8_t pl[128];
  size_t n = 0;
  pl[n++] = 0x0a;
  pl[n++] = (uint8_t)relay->len;
  memcpy(pl + n, relay->bytes, relay->len);
  n += relay->len;
  pl[n++] = 0x12;
  pl[n++] = (uint8_t)peer->len;
  memcpy(pl + n, peer->bytes, peer->len);
  n += peer->len;
  pl[n++] = 0x18;
  pl[n++] = 0x05;
  return p2p_envelope_seal(key, domain, (const uint8_t *)ptype, 2, pl, n, out,
                           cap);
}

START_TEST(test_relay_voucher_open_rejects_wrong_domain_type_and_signer) {
  p2p_privkey relay, imposter;
  p2p_peerid relay_id, peer;
  p2p_relay_voucher v;
  uint8_t env[P2P_RELAY_VOUCHER_MAX_LEN];
  ssize_t n;
  key_of(0x11, &relay);
  key_of(0x44, &imposter);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&relay.pub, &relay_id), 0);
  id_of(0x22, &peer);
  /* The hand-built payload is accepted when everything is right. */
  n = seal_raw(&relay, "libp2p-relay-rsvp", "\x03\x02", &relay_id, &peer, env,
               sizeof(env));
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, &relay_id, &v), 0);
  ck_assert_uint_eq(v.expiration_unix_s, 5);
  n = seal_raw(&relay, "libp2p-peer-record", "\x03\x02", &relay_id, &peer, env,
               sizeof(env));
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, &relay_id, &v),
                   P2P_ERR_PROTO);
  n = seal_raw(&relay, "libp2p-relay-rsvp", "\x03\x01", &relay_id, &peer, env,
               sizeof(env));
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, &relay_id, &v),
                   P2P_ERR_PROTO);
  /* The varint form of 0x0302 (82 06) is not what implementations send. */
  n = seal_raw(&relay, "libp2p-relay-rsvp", "\x82\x06", &relay_id, &peer, env,
               sizeof(env));
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, &relay_id, &v),
                   P2P_ERR_PROTO);
  /* Signed by a key that is not the relay it names. */
  n = seal_raw(&imposter, "libp2p-relay-rsvp", "\x03\x02", &relay_id, &peer,
               env, sizeof(env));
  ck_assert_int_eq(p2p_relay_voucher_open(env, (size_t)n, NULL, &v),
                   P2P_ERR_PROTO);
}
END_TEST

START_TEST(test_relay_status_names_match_the_spec) {
  ck_assert_str_eq(p2p_relay_status_name(P2P_RELAY_STATUS_OK), "OK");
  ck_assert_str_eq(p2p_relay_status_name(200), "RESERVATION_REFUSED");
  ck_assert_str_eq(p2p_relay_status_name(201), "RESOURCE_LIMIT_EXCEEDED");
  ck_assert_str_eq(p2p_relay_status_name(202), "PERMISSION_DENIED");
  ck_assert_str_eq(p2p_relay_status_name(203), "CONNECTION_FAILED");
  ck_assert_str_eq(p2p_relay_status_name(204), "NO_RESERVATION");
  ck_assert_str_eq(p2p_relay_status_name(400), "MALFORMED_MESSAGE");
  ck_assert_str_eq(p2p_relay_status_name(401), "UNEXPECTED_MESSAGE");
  ck_assert_str_eq(p2p_relay_status_name(0), "UNUSED");
  ck_assert_str_eq(p2p_relay_status_name(101), "UNKNOWN");
  ck_assert_str_eq(p2p_relay_status_name(-1), "UNKNOWN");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("relay_msg");
  TCase *codec = tcase_create("codec");
  TCase *bad = tcase_create("malformed");
  TCase *voucher = tcase_create("voucher");
  tcase_add_test(codec, test_relay_reserve_encodes_to_exact_bytes_and_back);
  tcase_add_test(codec, test_relay_status_messages_encode_to_exact_bytes);
  tcase_add_test(codec, test_relay_status_with_reservation_round_trips);
  tcase_add_test(codec, test_relay_connect_with_peer_round_trips_hop_and_stop);
  tcase_add_test(codec,
                 test_relay_reader_accepts_every_split_and_leaves_excess);
  tcase_add_test(codec, test_relay_status_names_match_the_spec);
  tcase_add_test(bad, test_relay_reader_rejects_oversized_and_bad_prefixes);
  tcase_add_test(bad, test_relay_reader_fails_on_eof_inside_a_message);
  tcase_add_test(bad, test_relay_decode_rejects_missing_required_fields);
  tcase_add_test(bad, test_relay_decode_rejects_truncated_and_wrong_wire_types);
  tcase_add_test(bad, test_relay_decode_rejects_unknown_enum_values);
  tcase_add_test(bad, test_relay_decode_rejects_bad_peer_ids);
  tcase_add_test(bad, test_relay_decode_skips_and_counts_bad_multiaddrs);
  tcase_add_test(bad, test_relay_encode_refuses_invalid_and_oversized_messages);
  tcase_add_test(voucher, test_relay_voucher_seal_open_round_trip);
  tcase_add_test(voucher,
                 test_relay_voucher_open_rejects_tampered_and_wrong_relay);
  tcase_add_test(voucher,
                 test_relay_voucher_open_rejects_wrong_domain_type_and_signer);
  suite_add_tcase(s, codec);
  suite_add_tcase(s, bad);
  suite_add_tcase(s, voucher);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
