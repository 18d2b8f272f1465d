/*
 * tests/core/test_noise.c - Noise XX and the libp2p Noise channel
 * (core/src/noise.c).
 *
 * Known answers: the cacophony test vector for
 * Noise_XX_25519_ChaChaPoly_SHA256 (haskell-cryptography/cacophony,
 * vectors/cacophony.txt: prologue "John Galt", three handshake messages
 * with payloads, the handshake hash and three transport messages) is run
 * through the bare XX layer byte for byte; it pins the protocol-name
 * initialisation, MixHash, MixKey/HKDF, the nonce layout, Split and the
 * token order of all three messages. The libp2p layer's first message is
 * checked against the same vector's initiator ephemeral public key.
 */
#include "fixture.h"
#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noise.pb-c.h"
#include "p2p/noise.h"

/* ---- helpers ---------------------------------------------------------- */

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
  size_t n = strlen(s) / 2;
  ck_assert_uint_le(n, cap);
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    ck_assert_int_eq(sscanf(s + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
  return n;
}

/* A random source that first hands out `fixed` bytes, then a counter
 * stream keyed by `seed`. */
typedef struct det_rand {
  uint8_t fixed[128];
  size_t fixed_len, fixed_off;
  uint8_t seed;
  uint64_t ctr;
} det_rand;

static void det_fill(void *ctx, uint8_t *buf, size_t len) {
  det_rand *d = ctx;
  for (size_t i = 0; i < len; i++) {
    if (d->fixed_off < d->fixed_len) {
      buf[i] = d->fixed[d->fixed_off++];
    } else {
      buf[i] = (uint8_t)(d->seed * 131u + d->ctr * 7u + (d->ctr >> 8));
      d->ctr++;
    }
  }
}

static p2p_rand make_rand(det_rand *d, uint8_t seed) {
  memset(d, 0, sizeof(*d));
  d->seed = seed;
  p2p_rand r = {det_fill, d};
  return r;
}

static void key_from_byte(uint8_t b, p2p_privkey *k) {
  uint8_t seed[32];
  memset(seed, b, sizeof(seed));
  ck_assert_int_eq(p2p_key_from_seed(seed, k), 0);
}

static const char *const muxers_a[] = {"/yamux/1.0.0", "/mplex/6.7.0"};
static const char *const muxers_b[] = {"/yamux/1.0.0"};

/* A pair of endpoints with deterministic keys. */
typedef struct pair {
  det_rand dri, drr;
  p2p_rand ri, rr;
  p2p_privkey ki, kr;
  p2p_noise *i, *r;
} pair;

static void pair_new(pair *p, const p2p_peerid *expected) {
  p->ri = make_rand(&p->dri, 1);
  p->rr = make_rand(&p->drr, 2);
  key_from_byte(0x11, &p->ki);
  key_from_byte(0x22, &p->kr);
  ck_assert_int_eq(p2p_noise_new(P2P_NOISE_INITIATOR, &p->ki, expected,
                                 muxers_a, 2, &p->ri, &p->i),
                   0);
  ck_assert_int_eq(p2p_noise_new(P2P_NOISE_RESPONDER, &p->kr, NULL, muxers_b, 1,
                                 &p->rr, &p->r),
                   0);
}

static void pair_del(pair *p) {
  p2p_noise_del(p->i);
  p2p_noise_del(p->r);
}

/* Moves a's output into b, `chunk` bytes per call; stops feeding once b
 * fails. Returns the bytes moved. */
static size_t xfer(p2p_noise *a, p2p_noise *b, size_t chunk) {
  uint8_t buf[8192];
  size_t moved = 0;
  if (chunk > sizeof(buf))
    chunk = sizeof(buf);
  for (;;) {
    ssize_t n = p2p_noise_send(a, buf, chunk);
    ck_assert_int_ge(n, 0);
    if (n == 0)
      break;
    moved += (size_t)n;
    ssize_t off = 0;
    while (off < n && p2p_noise_state(b) != P2P_NOISE_FAILED) {
      ssize_t r = p2p_noise_recv(b, buf + off, (size_t)(n - off));
      if (r < 0)
        break;
      ck_assert_int_gt(r, 0);
      off += r;
    }
  }
  return moved;
}

static void pump(p2p_noise *a, p2p_noise *b, size_t chunk) {
  for (int round = 0; round < 10; round++) {
    size_t m = xfer(a, b, chunk) + xfer(b, a, chunk);
    if (m == 0)
      break;
  }
}

/* Takes one queued frame-aligned blob out of a (everything queued). */
static size_t take_all(p2p_noise *a, uint8_t *buf, size_t cap) {
  ssize_t n = p2p_noise_send(a, buf, cap);
  ck_assert_int_ge(n, 0);
  ck_assert_uint_eq(p2p_noise_pending(a), 0);
  return (size_t)n;
}

/* ---- the bare XX layer against cacophony -------------------------------- */

static const struct {
  const char *payload, *ciphertext;
} caco_msgs[] = {
    {"4c756477696720766f6e204d69736573",
     "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c7564"
     "77696720766f6e204d69736573"},
    {"4d757272617920526f746862617264",
     "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad"
     "1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4"
     "f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23dbd"
     "8d162c9326ad"},
    {"462e20412e20486179656b",
     "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475"
     "b9df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d9594"
     "1d49b25030"},
    {"4361726c204d656e676572",
     "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"},
    {"4a65616e2d426170746973746520536179",
     "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"},
    {"457567656e2042f6686d20766f6e2042617765726b",
     "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502"
     "ae3f"},
};
#define CACO_PROLOGUE "4a6f686e2047616c74"
#define CACO_INIT_STATIC                                                       \
  "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"
#define CACO_INIT_EPH                                                          \
  "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"
#define CACO_RESP_STATIC                                                       \
  "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"
#define CACO_RESP_EPH                                                          \
  "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"
#define CACO_HASH                                                              \
  "c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e"

START_TEST(test_noise_xx_matches_cacophony_vector) {
  uint8_t pro[16], is[32], rs[32], hash[32], want[256], got[256], pt[256];
  uint8_t h1[32], h2[32], pl[64], k[32], kpub[32];
  size_t plen = unhex(CACO_PROLOGUE, pro, sizeof(pro));
  det_rand di, dr;
  p2p_rand ri = make_rand(&di, 0), rr = make_rand(&dr, 0);
  p2p_noise_xx *xi, *xr;
  unhex(CACO_INIT_STATIC, is, 32);
  unhex(CACO_RESP_STATIC, rs, 32);
  di.fixed_len = unhex(CACO_INIT_EPH, di.fixed, sizeof(di.fixed));
  dr.fixed_len = unhex(CACO_RESP_EPH, dr.fixed, sizeof(dr.fixed));
  ck_assert_int_eq(p2p_noise_xx_new(1, pro, plen, is, &ri, &xi), 0);
  ck_assert_int_eq(p2p_noise_xx_new(0, pro, plen, rs, &rr, &xr), 0);
  for (size_t m = 0; m < 6; m++) {
    p2p_noise_xx *from = m % 2 == 0 ? xi : xr, *to = m % 2 == 0 ? xr : xi;
    size_t pn = unhex(caco_msgs[m].payload, pl, sizeof(pl));
    size_t wn = unhex(caco_msgs[m].ciphertext, want, sizeof(want));
    ssize_t n, r;
    if (m < 3)
      n = p2p_noise_xx_write_message(from, pl, pn, got, sizeof(got));
    else
      n = p2p_noise_xx_encrypt(from, pl, pn, got, sizeof(got));
    ck_assert_int_eq(n, (ssize_t)wn);
    ck_assert_msg(memcmp(got, want, wn) == 0, "message %zu differs", m);
    if (m < 3)
      r = p2p_noise_xx_read_message(to, got, wn, pt, sizeof(pt));
    else
      r = p2p_noise_xx_decrypt(to, got, wn, pt, sizeof(pt));
    ck_assert_int_eq(r, (ssize_t)pn);
    ck_assert_mem_eq(pt, pl, pn);
    if (m == 2) {
      ck_assert(p2p_noise_xx_done(xi) && p2p_noise_xx_done(xr));
      unhex(CACO_HASH, hash, 32);
      ck_assert_int_eq(p2p_noise_xx_handshake_hash(xi, h1), 0);
      ck_assert_int_eq(p2p_noise_xx_handshake_hash(xr, h2), 0);
      ck_assert_mem_eq(h1, hash, 32);
      ck_assert_mem_eq(h2, hash, 32);
      ck_assert_int_eq(p2p_noise_xx_remote_static(xr, k), 0);
      crypto_scalarmult_base(kpub, is);
      ck_assert_mem_eq(k, kpub, 32);
    }
  }
  /* Out of turn and before/after the handshake. */
  ck_assert_int_eq(p2p_noise_xx_write_message(xi, NULL, 0, got, sizeof(got)),
                   P2P_ERR_STATE);
  p2p_noise_xx_del(xi);
  p2p_noise_xx_del(xr);
}
END_TEST

START_TEST(test_noise_xx_tampered_message_fails_and_keeps_failing) {
  uint8_t s1[32], s2[32], m1[128], m2[256], pt[256];
  det_rand di, dr;
  p2p_rand ri = make_rand(&di, 3), rr = make_rand(&dr, 4);
  p2p_noise_xx *xi, *xr;
  memset(s1, 1, 32);
  memset(s2, 2, 32);
  ck_assert_int_eq(p2p_noise_xx_new(1, NULL, 0, s1, &ri, &xi), 0);
  ck_assert_int_eq(p2p_noise_xx_new(0, NULL, 0, s2, &rr, &xr), 0);
  ssize_t n1 = p2p_noise_xx_write_message(xi, NULL, 0, m1, sizeof(m1));
  ck_assert_int_eq(n1, 32);
  ck_assert_int_eq(p2p_noise_xx_read_message(xr, m1, 31, pt, sizeof(pt)),
                   P2P_ERR_PROTO); /* too short: fails for good */
  ck_assert_int_eq(p2p_noise_xx_read_message(xr, m1, 32, pt, sizeof(pt)),
                   P2P_ERR_STATE);
  p2p_noise_xx_del(xr);
  ck_assert_int_eq(p2p_noise_xx_new(0, NULL, 0, s2, &rr, &xr), 0);
  ck_assert_int_eq(p2p_noise_xx_read_message(xr, m1, 32, pt, sizeof(pt)), 0);
  ssize_t n2 =
      p2p_noise_xx_write_message(xr, (const uint8_t *)"x", 1, m2, sizeof(m2));
  ck_assert_int_eq(n2, 32 + 48 + 1 + 16);
  m2[40] ^= 0x01;
  ck_assert_int_eq(p2p_noise_xx_read_message(xi, m2, (size_t)n2, pt, 256),
                   P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_noise_xx_remote_static(xi, s1), P2P_ERR_STATE);
  ck_assert_int_eq(p2p_noise_xx_encrypt(xi, pt, 1, m2, sizeof(m2)),
                   P2P_ERR_STATE);
  p2p_noise_xx_del(xi);
  p2p_noise_xx_del(xr);
}
END_TEST

/* ---- the libp2p channel ------------------------------------------------- */

START_TEST(test_noise_first_message_is_framed_ephemeral_key) {
  det_rand d;
  p2p_rand r = make_rand(&d, 0);
  p2p_privkey k;
  p2p_noise *n;
  uint8_t out[128], want[32];
  /* Static key first, then the ephemeral: the cacophony initiator's. */
  memset(d.fixed, 0x42, 32);
  unhex(CACO_INIT_EPH, d.fixed + 32, 32);
  d.fixed_len = 64;
  key_from_byte(0x11, &k);
  ck_assert_int_eq(
      p2p_noise_new(P2P_NOISE_INITIATOR, &k, NULL, NULL, 0, &r, &n), 0);
  ck_assert_int_eq(p2p_noise_write(n, out, 1), P2P_ERR_STATE);
  ck_assert_int_eq(p2p_noise_send(n, out, sizeof(out)), 34);
  ck_assert_int_eq(out[0], 0);
  ck_assert_int_eq(out[1], 32);
  unhex("ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944",
        want, 32);
  ck_assert_mem_eq(out + 2, want, 32);
  ck_assert_int_eq(p2p_noise_set_prologue(n, out, 1), P2P_ERR_STATE);
  ck_assert_int_eq(p2p_noise_state(n), P2P_NOISE_HANDSHAKING);
  p2p_noise_del(n);
}
END_TEST

static void check_established(pair *p) {
  p2p_peerid idi, idr;
  size_t cnt;
  const char *const *mx;
  uint8_t hi[32], hr[32];
  ck_assert_msg(p2p_noise_state(p->i) == P2P_NOISE_ESTABLISHED, "i: %s",
                p2p_noise_reason(p->i));
  ck_assert_msg(p2p_noise_state(p->r) == P2P_NOISE_ESTABLISHED, "r: %s",
                p2p_noise_reason(p->r));
  ck_assert_int_eq(p2p_peerid_from_pubkey(&p->ki.pub, &idi), 0);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&p->kr.pub, &idr), 0);
  ck_assert(p2p_peerid_equal(p2p_noise_remote_peer(p->i), &idr));
  ck_assert(p2p_peerid_equal(p2p_noise_remote_peer(p->r), &idi));
  mx = p2p_noise_remote_muxers(p->i, &cnt);
  ck_assert_uint_eq(cnt, 1);
  ck_assert_str_eq(mx[0], "/yamux/1.0.0");
  mx = p2p_noise_remote_muxers(p->r, &cnt);
  ck_assert_uint_eq(cnt, 2);
  ck_assert_str_eq(mx[0], "/yamux/1.0.0");
  ck_assert_str_eq(mx[1], "/mplex/6.7.0");
  ck_assert_int_eq(p2p_noise_handshake_hash(p->i, hi), 0);
  ck_assert_int_eq(p2p_noise_handshake_hash(p->r, hr), 0);
  ck_assert_mem_eq(hi, hr, 32);
}

START_TEST(test_noise_handshake_learns_peer_and_muxers) {
  pair p;
  pair_new(&p, NULL);
  ck_assert_ptr_null(p2p_noise_remote_peer(p.i));
  pump(p.i, p.r, 4096);
  check_established(&p);
  pair_del(&p);
}
END_TEST

START_TEST(test_noise_handshake_byte_at_a_time) {
  pair p;
  pair_new(&p, NULL);
  pump(p.i, p.r, 1);
  check_established(&p);
  uint8_t b[3] = {1, 2, 3}, o[8];
  ck_assert_int_eq(p2p_noise_write(p.r, b, 3), 3);
  xfer(p.r, p.i, 1);
  ck_assert_int_eq(p2p_noise_read(p.i, o, sizeof(o)), 3);
  ck_assert_mem_eq(o, b, 3);
  pair_del(&p);
}
END_TEST

START_TEST(test_noise_handshake_is_deterministic) {
  pair p, q;
  uint8_t a[512], b[512];
  pair_new(&p, NULL);
  pair_new(&q, NULL);
  size_t na = take_all(p.i, a, sizeof(a));
  size_t nb = take_all(q.i, b, sizeof(b));
  ck_assert_uint_eq(na, nb);
  ck_assert_mem_eq(a, b, na);
  ck_assert_int_eq(p2p_noise_recv(p.r, a, na), (ssize_t)na);
  ck_assert_int_eq(p2p_noise_recv(q.r, b, nb), (ssize_t)nb);
  na = take_all(p.r, a, sizeof(a));
  nb = take_all(q.r, b, sizeof(b));
  ck_assert_uint_eq(na, nb);
  ck_assert_mem_eq(a, b, na);
  pair_del(&p);
  pair_del(&q);
}
END_TEST

/* Sends `total` bytes from a to b in writes of varying size, moving them
 * `chunk` bytes per recv, and checks they arrive byte-exact. */
static void stream(p2p_noise *a, p2p_noise *b, size_t total, size_t chunk) {
  uint8_t *src = malloc(total), *dst = malloc(total);
  size_t sent = 0, got = 0, step = 1;
  ck_assert_ptr_nonnull(src);
  ck_assert_ptr_nonnull(dst);
  for (size_t i = 0; i < total; i++)
    src[i] = (uint8_t)(i * 31 + (i >> 11));
  while (got < total) {
    if (sent < total) {
      size_t w = step;
      if (w > total - sent)
        w = total - sent;
      ck_assert_int_eq(p2p_noise_write(a, src + sent, w), (ssize_t)w);
      sent += w;
      step = step * 3 + 7;
      if (step > 200000)
        step = 1;
    }
    xfer(a, b, chunk);
    ssize_t r = p2p_noise_read(b, dst + got, total - got);
    ck_assert_int_ge(r, 0);
    got += (size_t)r;
    ck_assert_msg(sent == total || r >= 0, "stalled");
  }
  ck_assert_mem_eq(src, dst, total);
  free(src);
  free(dst);
}

START_TEST(test_noise_one_megabyte_each_way) {
  pair p;
  pair_new(&p, NULL);
  pump(p.i, p.r, 4096);
  check_established(&p);
  stream(p.i, p.r, 1 << 20, 8192);
  stream(p.r, p.i, 1 << 20, 3000);
  pair_del(&p);
}
END_TEST

/* Buffers are allocated per burst and given back between bursts: frames
 * that arrive whole, split across many calls, or straddling call
 * boundaries, after idle gaps, all arrive byte-exact. */
START_TEST(test_noise_bursts_after_idle_gaps_arrive_byte_exact) {
  pair p;
  pair_new(&p, NULL);
  pump(p.i, p.r, 4096);
  check_established(&p);
  stream(p.i, p.r, 200000, 1460);
  stream(p.r, p.i, 10, 1);
  stream(p.i, p.r, 100, 100000);
  stream(p.i, p.r, 140000, 65537);
  stream(p.r, p.i, 70000, 65535 + 2 + 1);
  stream(p.i, p.r, 3, 3);
  ck_assert_uint_eq(p2p_noise_pending(p.i), 0);
  ck_assert_uint_eq(p2p_noise_readable(p.r), 0);
  pair_del(&p);
}
END_TEST

START_TEST(test_noise_large_write_splits_into_max_frames) {
  pair p;
  static uint8_t big[200000], out[70000];
  pair_new(&p, NULL);
  pump(p.i, p.r, 4096);
  memset(big, 0xab, sizeof(big));
  ck_assert_int_eq(p2p_noise_write(p.i, big, sizeof(big)),
                   (ssize_t)sizeof(big));
  /* 200000 = 3 * 65519 + 3443: three full frames, then the rest. */
  ck_assert_uint_eq(p2p_noise_pending(p.i), 4 * 18 + sizeof(big));
  ck_assert_int_eq(p2p_noise_send(p.i, out, 2), 2);
  ck_assert_int_eq(out[0], 0xff);
  ck_assert_int_eq(out[1], 0xff);
  pair_del(&p);
}
END_TEST

START_TEST(test_noise_expected_peer_mismatch_fails_initiator) {
  pair p;
  p2p_privkey other;
  p2p_peerid want;
  key_from_byte(0x33, &other);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&other.pub, &want), 0);
  pair_new(&p, &want);
  pump(p.i, p.r, 4096);
  ck_assert_int_eq(p2p_noise_state(p.i), P2P_NOISE_FAILED);
  ck_assert_int_eq(p2p_noise_error(p.i), P2P_ERR_PROTO);
  ck_assert_str_eq(p2p_noise_reason(p.i),
                   "remote peer id does not match the expected one");
  ck_assert_ptr_null(p2p_noise_remote_peer(p.i));
  ck_assert_int_ne(p2p_noise_state(p.r), P2P_NOISE_ESTABLISHED);
  uint8_t b[1] = {0};
  ck_assert_int_eq(p2p_noise_recv(p.i, b, 1), P2P_ERR_PROTO);
  ck_assert_int_eq(p2p_noise_write(p.i, b, 1), P2P_ERR_STATE);
  pair_del(&p);
}
END_TEST

START_TEST(test_noise_expected_peer_match_succeeds) {
  pair p;
  p2p_privkey rk;
  p2p_peerid want;
  key_from_byte(0x22, &rk);
  ck_assert_int_eq(p2p_peerid_from_pubkey(&rk.pub, &want), 0);
  pair_new(&p, &want);
  pump(p.i, p.r, 4096);
  check_established(&p);
  pair_del(&p);
}
END_TEST

/* Runs the handshake, flipping bit (pos % 8) of byte `pos` of the body of
 * handshake message `msg` (0, 1, 2). Returns 1 if someone failed. */
static int handshake_with_flip(int msg, size_t pos, size_t *body_len) {
  pair p;
  uint8_t buf[1024];
  int failed;
  pair_new(&p, NULL);
  for (int m = 0; m < 3; m++) {
    p2p_noise *from = m % 2 == 0 ? p.i : p.r, *to = m % 2 == 0 ? p.r : p.i;
    size_t n = take_all(from, buf, sizeof(buf));
    ck_assert_uint_ge(n, 2);
    if (m == msg) {
      *body_len = n - 2;
      if (pos < n - 2)
        buf[2 + pos] ^= (uint8_t)(1u << (pos % 8));
    }
    if (p2p_noise_recv(to, buf, n) < 0)
      break;
  }
  failed = p2p_noise_state(p.i) == P2P_NOISE_FAILED ||
           p2p_noise_state(p.r) == P2P_NOISE_FAILED;
  /* Never both established after tampering. */
  ck_assert(!(p2p_noise_state(p.i) == P2P_NOISE_ESTABLISHED &&
              p2p_noise_state(p.r) == P2P_NOISE_ESTABLISHED));
  pair_del(&p);
  return failed;
}

START_TEST(test_noise_flipped_bit_in_any_handshake_message_fails) {
  for (int msg = 0; msg < 3; msg++) {
    size_t len = 0;
    ck_assert(handshake_with_flip(msg, 0, &len));
    for (size_t pos = 1; pos < len; pos++)
      ck_assert_msg(handshake_with_flip(msg, pos, &len), "message %d byte %zu",
                    msg, pos);
  }
}
END_TEST

START_TEST(test_noise_flipped_bit_in_transport_frame_fails) {
  uint8_t buf[64], o[64];
  for (size_t pos = 0; pos < 2 + 5 + 16; pos++) {
    pair p;
    pair_new(&p, NULL);
    pump(p.i, p.r, 4096);
    ck_assert_int_eq(p2p_noise_write(p.i, (const uint8_t *)"hello", 5), 5);
    size_t n = take_all(p.i, buf, sizeof(buf));
    ck_assert_uint_eq(n, 2 + 5 + 16);
    if (pos < 2) { /* shorten the length: the frame is cut short */
      buf[1] = 4;
      ck_assert_int_eq(p2p_noise_recv(p.r, buf, n), P2P_ERR_PROTO);
      ck_assert_str_eq(p2p_noise_reason(p.r),
                       "transport frame shorter than its tag");
    } else {
      buf[pos] ^= (uint8_t)(1u << (pos % 8));
      ck_assert_int_eq(p2p_noise_recv(p.r, buf, n), P2P_ERR_PROTO);
      ck_assert_str_eq(p2p_noise_reason(p.r),
                       "transport frame failed to decrypt");
    }
    ck_assert_int_eq(p2p_noise_read(p.r, o, sizeof(o)), 0);
    pair_del(&p);
  }
}
END_TEST

START_TEST(test_noise_mismatched_prologue_fails) {
  pair p;
  pair_new(&p, NULL);
  ck_assert_int_eq(p2p_noise_set_prologue(p.i, (const uint8_t *)"a", 1), 0);
  ck_assert_int_eq(p2p_noise_set_prologue(p.r, (const uint8_t *)"b", 1), 0);
  pump(p.i, p.r, 4096);
  ck_assert_int_eq(p2p_noise_state(p.i), P2P_NOISE_FAILED);
  ck_assert_str_eq(p2p_noise_reason(p.i),
                   "handshake message failed to decrypt");
  pair_del(&p);
  pair_new(&p, NULL);
  ck_assert_int_eq(p2p_noise_set_prologue(p.i, (const uint8_t *)"ab", 2), 0);
  ck_assert_int_eq(p2p_noise_set_prologue(p.r, (const uint8_t *)"ab", 2), 0);
  pump(p.i, p.r, 4096);
  check_established(&p);
  pair_del(&p);
}
END_TEST

/* A hand-made responder: the raw XX layer with a crafted payload. Returns
 * the initiator after it processed message 2. */
typedef enum forge {
  FORGE_BAD_SIG,
  FORGE_WRONG_KEY_TYPE,
  FORGE_GARBAGE,
  FORGE_NO_SIG,
  FORGE_OK
} forge;

static p2p_noise *initiator_vs_forged(forge how, p2p_noise_xx **xr_out,
                                      det_rand *dri, det_rand *drr,
                                      p2p_rand *ri, p2p_rand *rr) {
  p2p_privkey ki, kr;
  p2p_noise *i;
  p2p_noise_xx *xr;
  uint8_t s[32], spub[32], buf[1024], msg[1024], pl[512], keypb[64];
  uint8_t signed_msg[24 + 32], sig[64];
  Noise__Pb__NoiseHandshakePayload p = NOISE__PB__NOISE_HANDSHAKE_PAYLOAD__INIT;
  size_t plen;
  *ri = make_rand(dri, 5);
  *rr = make_rand(drr, 6);
  key_from_byte(0x11, &ki);
  key_from_byte(0x22, &kr);
  ck_assert_int_eq(
      p2p_noise_new(P2P_NOISE_INITIATOR, &ki, NULL, NULL, 0, ri, &i), 0);
  memset(s, 0x5a, 32);
  crypto_scalarmult_base(spub, s);
  ck_assert_int_eq(p2p_noise_xx_new(0, NULL, 0, s, rr, &xr), 0);
  size_t n = take_all(i, buf, sizeof(buf));
  ck_assert_int_eq(p2p_noise_xx_read_message(xr, buf + 2, n - 2, msg, 1024), 0);
  ssize_t klen = p2p_pubkey_marshal(&kr.pub, keypb, sizeof(keypb));
  ck_assert_int_eq(klen, 36);
  memcpy(signed_msg, "noise-libp2p-static-key:", 24);
  memcpy(signed_msg + 24, spub, 32);
  ck_assert_int_eq(p2p_privkey_sign(&kr, signed_msg, 56, sig), 0);
  if (how == FORGE_BAD_SIG)
    sig[10] ^= 0x40;
  if (how == FORGE_WRONG_KEY_TYPE) {
    /* A Secp256k1 PublicKey: type 2, 33 bytes of compressed point. */
    keypb[0] = 0x08, keypb[1] = 0x02, keypb[2] = 0x12, keypb[3] = 0x21;
    keypb[4] = 0x02;
    memset(keypb + 5, 0x77, 32);
    klen = 37;
  }
  p.has_identity_key = 1;
  p.identity_key.data = keypb;
  p.identity_key.len = (size_t)klen;
  p.has_identity_sig = how != FORGE_NO_SIG;
  p.identity_sig.data = sig;
  p.identity_sig.len = sizeof(sig);
  if (how == FORGE_GARBAGE) {
    memset(pl, 0xff, 20);
    plen = 20;
  } else {
    plen = noise__pb__noise_handshake_payload__pack(&p, pl);
  }
  ssize_t m = p2p_noise_xx_write_message(xr, pl, plen, msg + 2, 1000);
  ck_assert_int_gt(m, 0);
  msg[0] = (uint8_t)(m >> 8);
  msg[1] = (uint8_t)m;
  ssize_t rr_ = p2p_noise_recv(i, msg, (size_t)m + 2);
  ck_assert(rr_ < 0 || (size_t)rr_ == (size_t)m + 2);
  *xr_out = xr;
  return i;
}

START_TEST(test_noise_forged_payloads_fail_with_reason) {
  static const struct {
    forge how;
    int err;
    const char *reason;
  } cases[] = {
      {FORGE_BAD_SIG, P2P_ERR_PROTO,
       "bad identity signature over the static key"},
      {FORGE_WRONG_KEY_TYPE, P2P_ERR_UNSUPPORTED,
       "unsupported identity key type"},
      {FORGE_GARBAGE, P2P_ERR_PROTO, "malformed handshake payload protobuf"},
      {FORGE_NO_SIG, P2P_ERR_PROTO,
       "handshake payload lacks identity key or sig"},
  };
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    det_rand dri, drr;
    p2p_rand ri, rr;
    p2p_noise_xx *xr;
    p2p_noise *i = initiator_vs_forged(cases[c].how, &xr, &dri, &drr, &ri, &rr);
    ck_assert_int_eq(p2p_noise_state(i), P2P_NOISE_FAILED);
    ck_assert_int_eq(p2p_noise_error(i), cases[c].err);
    ck_assert_str_eq(p2p_noise_reason(i), cases[c].reason);
    ck_assert_ptr_null(p2p_noise_remote_peer(i));
    /* A failed initiator does not send its static key. */
    ck_assert_uint_eq(p2p_noise_pending(i), 0);
    p2p_noise_del(i);
    p2p_noise_xx_del(xr);
  }
  /* The control: the same forge, done right, passes. */
  {
    det_rand dri, drr;
    p2p_rand ri, rr;
    p2p_noise_xx *xr;
    p2p_noise *i = initiator_vs_forged(FORGE_OK, &xr, &dri, &drr, &ri, &rr);
    ck_assert_msg(p2p_noise_state(i) == P2P_NOISE_ESTABLISHED, "%s",
                  p2p_noise_reason(i));
    size_t cnt = 9;
    ck_assert_ptr_null(p2p_noise_remote_muxers(i, &cnt));
    ck_assert_uint_eq(cnt, 0);
    p2p_noise_del(i);
    p2p_noise_xx_del(xr);
  }
}
END_TEST

START_TEST(test_noise_bad_lengths_fail) {
  pair p;
  uint8_t buf[70000];
  /* An empty handshake message. */
  pair_new(&p, NULL);
  buf[0] = buf[1] = 0;
  ck_assert_int_eq(p2p_noise_recv(p.r, buf, 2), P2P_ERR_PROTO);
  ck_assert_str_eq(p2p_noise_reason(p.r), "empty handshake message");
  pair_del(&p);
  /* A first message shorter than a key. */
  pair_new(&p, NULL);
  buf[0] = 0, buf[1] = 31;
  memset(buf + 2, 9, 31);
  ck_assert_int_eq(p2p_noise_recv(p.r, buf, 33), P2P_ERR_PROTO);
  ck_assert_str_eq(p2p_noise_reason(p.r), "bad first handshake message");
  pair_del(&p);
  /* A maximal 65535-byte message 2 of garbage: decrypt fails, no crash. */
  pair_new(&p, NULL);
  size_t n = take_all(p.i, buf, sizeof(buf));
  ck_assert_uint_eq(n, 34);
  buf[0] = 0xff, buf[1] = 0xff;
  memset(buf + 2, 0x41, 65535);
  ck_assert_int_eq(p2p_noise_recv(p.i, buf, 65537), P2P_ERR_PROTO);
  pair_del(&p);
  /* The raw layer refuses messages over the Noise maximum. */
  {
    uint8_t s[32] = {1};
    det_rand d;
    p2p_rand r = make_rand(&d, 1);
    p2p_noise_xx *x;
    ck_assert_int_eq(p2p_noise_xx_new(0, NULL, 0, s, &r, &x), 0);
    ck_assert_int_eq(p2p_noise_xx_read_message(x, buf, 65536, buf, 65536),
                     P2P_ERR_PROTO);
    p2p_noise_xx_del(x);
  }
}
END_TEST

START_TEST(test_noise_new_rejects_bad_arguments) {
  det_rand d;
  p2p_rand r = make_rand(&d, 1);
  p2p_privkey k;
  p2p_noise *n = NULL;
  const char *empty[] = {""};
  key_from_byte(1, &k);
  ck_assert_int_eq(
      p2p_noise_new(P2P_NOISE_INITIATOR, NULL, NULL, NULL, 0, &r, &n),
      P2P_ERR_INVALID);
  ck_assert_int_eq(
      p2p_noise_new(P2P_NOISE_INITIATOR, &k, NULL, empty, 1, &r, &n),
      P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_noise_new((p2p_noise_role)7, &k, NULL, NULL, 0, &r, &n),
                   P2P_ERR_INVALID);
  k.type = P2P_KEY_SECP256K1;
  ck_assert_int_eq(
      p2p_noise_new(P2P_NOISE_INITIATOR, &k, NULL, NULL, 0, &r, &n),
      P2P_ERR_UNSUPPORTED);
  ck_assert_ptr_null(n);
  p2p_noise_del(NULL);
  p2p_noise_xx_del(NULL);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("noise");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_noise_xx_matches_cacophony_vector);
  tcase_add_test(tc, test_noise_xx_tampered_message_fails_and_keeps_failing);
  tcase_add_test(tc, test_noise_first_message_is_framed_ephemeral_key);
  tcase_add_test(tc, test_noise_handshake_learns_peer_and_muxers);
  tcase_add_test(tc, test_noise_handshake_byte_at_a_time);
  tcase_add_test(tc, test_noise_handshake_is_deterministic);
  tcase_add_test(tc, test_noise_one_megabyte_each_way);
  tcase_add_test(tc, test_noise_large_write_splits_into_max_frames);
  tcase_add_test(tc, test_noise_expected_peer_mismatch_fails_initiator);
  tcase_add_test(tc, test_noise_expected_peer_match_succeeds);
  tcase_add_test(tc, test_noise_flipped_bit_in_any_handshake_message_fails);
  tcase_add_test(tc, test_noise_flipped_bit_in_transport_frame_fails);
  tcase_add_test(tc, test_noise_mismatched_prologue_fails);
  tcase_add_test(tc, test_noise_forged_payloads_fail_with_reason);
  tcase_add_test(tc, test_noise_bad_lengths_fail);
  tcase_add_test(tc, test_noise_bursts_after_idle_gaps_arrive_byte_exact);
  tcase_add_test(tc, test_noise_new_rejects_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
