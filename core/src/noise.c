/*
 * core/src/noise.c - Noise_XX_25519_ChaChaPoly_SHA256 and the libp2p Noise
 * secure channel. See p2p/noise.h for the wire format.
 *
 * The bare XX layer follows the Noise specification's CipherState,
 * SymmetricState and HandshakeState objects (sections 5.1-5.3), with the
 * XX pattern's tokens spelled out per message. The libp2p layer wraps it
 * with the length framing and the signed identity payload.
 */
#include "p2p/noise.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "noise.pb-c.h"

#define KEY_LEN P2P_NOISE_KEY_LEN
#define HASH_LEN P2P_NOISE_HASH_LEN
#define TAG_LEN P2P_NOISE_TAG_LEN
/* Nonce 2^64-1 is reserved by the spec; reaching it ends the session. */
#define NONCE_MAX UINT64_MAX

/* A CipherState: key k (valid when has_k) and nonce n. */
typedef struct cipher {
  uint8_t k[KEY_LEN];
  uint64_t n;
  int has_k;
} cipher;

struct p2p_noise_xx {
  int initiator;
  int step; /* the next message: 0, 1, 2; 3 when done */
  int failed;
  const p2p_rand *rnd;
  /* SymmetricState. */
  uint8_t ck[HASH_LEN];
  uint8_t h[HASH_LEN];
  cipher c;
  /* HandshakeState keys. */
  uint8_t s_priv[KEY_LEN], s_pub[KEY_LEN];
  uint8_t e_priv[KEY_LEN], e_pub[KEY_LEN];
  uint8_t re[KEY_LEN], rs[KEY_LEN];
  int has_rs;
  /* Transport ciphers after Split. */
  cipher tx, rx;
};

/* ------------------------------------------------------------------------
 * Primitives.
 * ---------------------------------------------------------------------- */

static void hmac(const uint8_t key[HASH_LEN], const uint8_t *a, size_t alen,
                 const uint8_t *b, size_t blen, uint8_t out[HASH_LEN]) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key, HASH_LEN);
  if (alen)
    crypto_auth_hmacsha256_update(&st, a, alen);
  if (blen)
    crypto_auth_hmacsha256_update(&st, b, blen);
  crypto_auth_hmacsha256_final(&st, out);
  sodium_memzero(&st, sizeof(st));
}

/* HKDF(chaining_key, input_key_material, 2 or 3) of the spec, section 4.3:
 * o3 may be NULL for two outputs. */
static void hkdf(const uint8_t ck[HASH_LEN], const uint8_t *ikm, size_t ikm_len,
                 uint8_t o1[HASH_LEN], uint8_t o2[HASH_LEN], uint8_t *o3) {
  static const uint8_t b1 = 1, b2 = 2, b3 = 3;
  uint8_t tk[HASH_LEN], t1[HASH_LEN], t2[HASH_LEN];
  hmac(ck, ikm, ikm_len, NULL, 0, tk);
  hmac(tk, &b1, 1, NULL, 0, t1);
  hmac(tk, t1, HASH_LEN, &b2, 1, t2);
  if (o3)
    hmac(tk, t2, HASH_LEN, &b3, 1, o3);
  memcpy(o1, t1, HASH_LEN);
  memcpy(o2, t2, HASH_LEN);
  sodium_memzero(tk, sizeof(tk));
  sodium_memzero(t1, sizeof(t1));
  sodium_memzero(t2, sizeof(t2));
}

static void make_nonce(uint64_t n, uint8_t out[12]) {
  memset(out, 0, 4);
  for (int i = 0; i < 8; i++)
    out[4 + i] = (uint8_t)(n >> (8 * i));
}

/* EncryptWithAd: out gets len + TAG_LEN bytes. */
static int cipher_encrypt(cipher *c, const uint8_t *ad, size_t ad_len,
                          const uint8_t *pt, size_t len, uint8_t *out) {
  uint8_t nonce[12];
  unsigned long long clen = 0;
  if (c->n == NONCE_MAX)
    return P2P_ERR_STATE;
  make_nonce(c->n, nonce);
  if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, pt, len, ad, ad_len,
                                                NULL, nonce, c->k) != 0)
    return P2P_ERR_INTERNAL;
  c->n++;
  return 0;
}

/* DecryptWithAd: out gets len - TAG_LEN bytes; n only moves on success. */
static int cipher_decrypt(cipher *c, const uint8_t *ad, size_t ad_len,
                          const uint8_t *ct, size_t len, uint8_t *out) {
  uint8_t nonce[12];
  unsigned long long plen = 0;
  if (c->n == NONCE_MAX)
    return P2P_ERR_STATE;
  if (len < TAG_LEN)
    return P2P_ERR_PROTO;
  make_nonce(c->n, nonce);
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, ct, len, ad,
                                                ad_len, nonce, c->k) != 0)
    return P2P_ERR_PROTO;
  c->n++;
  return 0;
}

static void mix_hash(p2p_noise_xx *x, const uint8_t *data, size_t len) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, x->h, HASH_LEN);
  if (len)
    crypto_hash_sha256_update(&st, data, len);
  crypto_hash_sha256_final(&st, x->h);
}

static void mix_key(p2p_noise_xx *x, const uint8_t *ikm, size_t len) {
  hkdf(x->ck, ikm, len, x->ck, x->c.k, NULL);
  x->c.has_k = 1;
  x->c.n = 0;
}

/* MixKey(DH(priv, pub)). Fails on an all-zero result (low-order point). */
static int mix_dh(p2p_noise_xx *x, const uint8_t priv[KEY_LEN],
                  const uint8_t pub[KEY_LEN]) {
  uint8_t shared[KEY_LEN];
  if (crypto_scalarmult(shared, priv, pub) != 0) {
    sodium_memzero(shared, sizeof(shared));
    return P2P_ERR_PROTO;
  }
  mix_key(x, shared, sizeof(shared));
  sodium_memzero(shared, sizeof(shared));
  return 0;
}

/* EncryptAndHash: out gets len (+ TAG_LEN once keyed) bytes. */
static int encrypt_and_hash(p2p_noise_xx *x, const uint8_t *pt, size_t len,
                            uint8_t *out, size_t *out_len) {
  if (x->c.has_k) {
    int r = cipher_encrypt(&x->c, x->h, HASH_LEN, pt, len, out);
    if (r < 0)
      return r;
    *out_len = len + TAG_LEN;
  } else {
    if (len)
      memmove(out, pt, len);
    *out_len = len;
  }
  mix_hash(x, out, *out_len);
  return 0;
}

static int decrypt_and_hash(p2p_noise_xx *x, const uint8_t *ct, size_t len,
                            uint8_t *out, size_t *out_len) {
  if (x->c.has_k) {
    int r = cipher_decrypt(&x->c, x->h, HASH_LEN, ct, len, out);
    if (r < 0)
      return r;
    *out_len = len - TAG_LEN;
  } else {
    if (len)
      memmove(out, ct, len);
    *out_len = len;
  }
  mix_hash(x, ct, len);
  return 0;
}

static void gen_keypair(const p2p_rand *rnd, uint8_t priv[KEY_LEN],
                        uint8_t pub[KEY_LEN]) {
  p2p_rand_fill(rnd, priv, KEY_LEN);
  crypto_scalarmult_base(pub, priv);
}

static void split(p2p_noise_xx *x) {
  uint8_t k1[HASH_LEN], k2[HASH_LEN];
  hkdf(x->ck, NULL, 0, k1, k2, NULL);
  memcpy(x->initiator ? x->tx.k : x->rx.k, k1, KEY_LEN);
  memcpy(x->initiator ? x->rx.k : x->tx.k, k2, KEY_LEN);
  x->tx.has_k = x->rx.has_k = 1;
  x->tx.n = x->rx.n = 0;
  sodium_memzero(k1, sizeof(k1));
  sodium_memzero(k2, sizeof(k2));
  sodium_memzero(&x->c, sizeof(x->c));
  sodium_memzero(x->e_priv, sizeof(x->e_priv));
}

/* ------------------------------------------------------------------------
 * The bare XX handshake.
 * ---------------------------------------------------------------------- */

static void xx_init(p2p_noise_xx *x, int initiator, const uint8_t *prologue,
                    size_t prologue_len, const uint8_t s_priv[KEY_LEN],
                    const p2p_rand *rnd) {
  memset(x, 0, sizeof(*x));
  x->initiator = initiator != 0;
  x->rnd = rnd;
  /* The name is exactly HASH_LEN bytes: h is the name itself. */
  memcpy(x->h, P2P_NOISE_PROTOCOL_NAME, HASH_LEN);
  memcpy(x->ck, x->h, HASH_LEN);
  mix_hash(x, prologue, prologue_len);
  memcpy(x->s_priv, s_priv, KEY_LEN);
  crypto_scalarmult_base(x->s_pub, x->s_priv);
}

int p2p_noise_xx_new(int initiator, const uint8_t *prologue,
                     size_t prologue_len,
                     const uint8_t static_priv[P2P_NOISE_KEY_LEN],
                     const p2p_rand *rnd, p2p_noise_xx **out) {
  p2p_noise_xx *x;
  if (!out || !static_priv || !rnd || !rnd->fill ||
      (prologue_len && !prologue) || prologue_len > P2P_NOISE_MAX_PROLOGUE)
    return P2P_ERR_INVALID;
  *out = NULL;
  if (sodium_init() < 0)
    return P2P_ERR_INTERNAL;
  x = malloc(sizeof(*x));
  if (!x)
    return P2P_ERR_NOMEM;
  xx_init(x, initiator, prologue, prologue_len, static_priv, rnd);
  *out = x;
  return 0;
}

void p2p_noise_xx_del(p2p_noise_xx *x) {
  if (!x)
    return;
  sodium_memzero(x, sizeof(*x));
  free(x);
}

/* 1 when this side writes message `step`. */
static int my_turn(const p2p_noise_xx *x) {
  return (x->step % 2 == 0) == (x->initiator != 0);
}

ssize_t p2p_noise_xx_write_message(p2p_noise_xx *x, const uint8_t *payload,
                                   size_t len, uint8_t *out, size_t cap) {
  size_t need, off = 0, n;
  int r;
  if (!x || !out || (len && !payload))
    return P2P_ERR_INVALID;
  if (x->failed || x->step > 2 || !my_turn(x))
    return P2P_ERR_STATE;
  switch (x->step) {
  case 0: need = KEY_LEN + len; break;
  case 1: need = KEY_LEN + KEY_LEN + TAG_LEN + len + TAG_LEN; break;
  default: need = KEY_LEN + TAG_LEN + len + TAG_LEN; break;
  }
  if (need > P2P_NOISE_MAX_MSG_LEN || need > cap)
    return P2P_ERR_LIMIT;
  switch (x->step) {
  case 0: /* -> e */
    gen_keypair(x->rnd, x->e_priv, x->e_pub);
    memcpy(out, x->e_pub, KEY_LEN);
    mix_hash(x, x->e_pub, KEY_LEN);
    off = KEY_LEN;
    break;
  case 1: /* <- e, ee, s, es */
    gen_keypair(x->rnd, x->e_priv, x->e_pub);
    memcpy(out, x->e_pub, KEY_LEN);
    mix_hash(x, x->e_pub, KEY_LEN);
    off = KEY_LEN;
    if ((r = mix_dh(x, x->e_priv, x->re)) < 0)
      goto fail;
    if ((r = encrypt_and_hash(x, x->s_pub, KEY_LEN, out + off, &n)) < 0)
      goto fail;
    off += n;
    if ((r = mix_dh(x, x->s_priv, x->re)) < 0)
      goto fail;
    break;
  default: /* -> s, se */
    if ((r = encrypt_and_hash(x, x->s_pub, KEY_LEN, out, &n)) < 0)
      goto fail;
    off = n;
    if ((r = mix_dh(x, x->s_priv, x->re)) < 0)
      goto fail;
    break;
  }
  if ((r = encrypt_and_hash(x, payload, len, out + off, &n)) < 0)
    goto fail;
  off += n;
  if (++x->step == 3)
    split(x);
  return (ssize_t)off;
fail:
  x->failed = 1;
  return r;
}

ssize_t p2p_noise_xx_read_message(p2p_noise_xx *x, const uint8_t *msg,
                                  size_t len, uint8_t *out, size_t cap) {
  size_t off = 0, n, min;
  uint8_t spub[KEY_LEN + TAG_LEN];
  int r;
  if (!x || (len && !msg) || (cap && !out))
    return P2P_ERR_INVALID;
  if (x->failed || x->step > 2 || my_turn(x))
    return P2P_ERR_STATE;
  min = x->step == 0   ? KEY_LEN
        : x->step == 1 ? KEY_LEN + KEY_LEN + TAG_LEN + TAG_LEN
                       : KEY_LEN + TAG_LEN + TAG_LEN;
  r = P2P_ERR_PROTO;
  if (len < min || len > P2P_NOISE_MAX_MSG_LEN)
    goto fail;
  if (len - min > cap) {
    /* The payload does not fit: not the peer's fault, nothing consumed. */
    return P2P_ERR_LIMIT;
  }
  switch (x->step) {
  case 0: /* -> e */
    memcpy(x->re, msg, KEY_LEN);
    mix_hash(x, x->re, KEY_LEN);
    off = KEY_LEN;
    break;
  case 1: /* <- e, ee, s, es */
    memcpy(x->re, msg, KEY_LEN);
    mix_hash(x, x->re, KEY_LEN);
    off = KEY_LEN;
    if ((r = mix_dh(x, x->e_priv, x->re)) < 0)
      goto fail;
    if ((r = decrypt_and_hash(x, msg + off, KEY_LEN + TAG_LEN, spub, &n)) < 0)
      goto fail;
    off += KEY_LEN + TAG_LEN;
    memcpy(x->rs, spub, KEY_LEN);
    x->has_rs = 1;
    if ((r = mix_dh(x, x->e_priv, x->rs)) < 0)
      goto fail;
    break;
  default: /* -> s, se */
    if ((r = decrypt_and_hash(x, msg, KEY_LEN + TAG_LEN, spub, &n)) < 0)
      goto fail;
    off = KEY_LEN + TAG_LEN;
    memcpy(x->rs, spub, KEY_LEN);
    x->has_rs = 1;
    if ((r = mix_dh(x, x->e_priv, x->rs)) < 0)
      goto fail;
    break;
  }
  if ((r = decrypt_and_hash(x, msg + off, len - off, out, &n)) < 0)
    goto fail;
  if (++x->step == 3)
    split(x);
  return (ssize_t)n;
fail:
  x->failed = 1;
  x->has_rs = 0;
  return r == P2P_ERR_STATE ? P2P_ERR_PROTO : r;
}

int p2p_noise_xx_done(const p2p_noise_xx *x) {
  return x && x->step == 3;
}

int p2p_noise_xx_handshake_hash(const p2p_noise_xx *x,
                                uint8_t out[P2P_NOISE_HASH_LEN]) {
  if (!x || !out)
    return P2P_ERR_INVALID;
  if (x->step != 3)
    return P2P_ERR_STATE;
  memcpy(out, x->h, HASH_LEN);
  return 0;
}

int p2p_noise_xx_remote_static(const p2p_noise_xx *x,
                               uint8_t out[P2P_NOISE_KEY_LEN]) {
  if (!x || !out)
    return P2P_ERR_INVALID;
  if (!x->has_rs)
    return P2P_ERR_STATE;
  memcpy(out, x->rs, KEY_LEN);
  return 0;
}

ssize_t p2p_noise_xx_encrypt(p2p_noise_xx *x, const uint8_t *pt, size_t len,
                             uint8_t *out, size_t cap) {
  int r;
  if (!x || !out || (len && !pt))
    return P2P_ERR_INVALID;
  if (x->step != 3)
    return P2P_ERR_STATE;
  if (len > P2P_NOISE_MAX_PLAINTEXT || cap < len + TAG_LEN)
    return P2P_ERR_LIMIT;
  if ((r = cipher_encrypt(&x->tx, NULL, 0, pt, len, out)) < 0)
    return r;
  return (ssize_t)(len + TAG_LEN);
}

ssize_t p2p_noise_xx_decrypt(p2p_noise_xx *x, const uint8_t *ct, size_t len,
                             uint8_t *out, size_t cap) {
  int r;
  if (!x || (len && !ct) || (cap && !out))
    return P2P_ERR_INVALID;
  if (x->step != 3)
    return P2P_ERR_STATE;
  if (len < TAG_LEN || len > P2P_NOISE_MAX_MSG_LEN)
    return P2P_ERR_PROTO;
  if (cap < len - TAG_LEN)
    return P2P_ERR_LIMIT;
  if ((r = cipher_decrypt(&x->rx, NULL, 0, ct, len, out)) < 0)
    return r;
  return (ssize_t)(len - TAG_LEN);
}

/* ------------------------------------------------------------------------
 * The libp2p channel.
 * ---------------------------------------------------------------------- */

/* Buffers are allocated when first needed and sized to what they hold, so
 * an idle connection costs little: a queue whose capacity is at most
 * BUF_KEEP bytes is kept when it drains (small messages such as pings then
 * need no allocation), a bigger one is freed when it drains completely
 * (the end of a burst). BUF_MIN is the smallest allocation. */
#define BUF_MIN 256u
#define BUF_KEEP 256u
/* The longest handshake message we write: e, encrypted s and a payload
 * of at most HS_PAYLOAD_MAX bytes, each encrypted field with its tag. */
#define HS_PAYLOAD_MAX 512u
#define HS_MSG_MAX (KEY_LEN + KEY_LEN + TAG_LEN + HS_PAYLOAD_MAX + TAG_LEN)

/* A growable byte queue: data lives in buf[off..len). */
typedef struct bytes {
  uint8_t *buf;
  size_t off, len, cap;
} bytes;

struct p2p_noise {
  p2p_noise_role role;
  const p2p_rand *rnd;
  p2p_privkey identity;
  p2p_peerid expected;
  int has_expected;
  char **muxers;
  size_t n_muxers;
  uint8_t *prologue; /* only until the handshake starts */
  size_t prologue_len;
  uint8_t static_priv[KEY_LEN];
  int started;
  p2p_noise_xx xx;
  int state;
  int error;
  const char *reason;
  /* Remote identity. */
  p2p_peerid remote;
  int has_remote;
  char **remote_muxers;
  size_t n_remote_muxers;
  /* Input framing: the 2-byte header, then the body. A frame that arrives
   * whole in one p2p_noise_recv call is processed where it lies; only a
   * frame split across calls is gathered in body (body_cap bytes, freed
   * once no frame is in progress at the end of a call). */
  uint8_t hdr[2];
  size_t hdr_have;
  size_t body_len, body_have;
  uint8_t *body;
  size_t body_cap;
  bytes out, rx;
};

static int bytes_reserve(bytes *b, size_t more) {
  size_t need, ncap;
  uint8_t *nb;
  if (b->off && b->off == b->len)
    b->off = b->len = 0;
  if (b->cap - b->len >= more)
    return 0;
  if (b->off) { /* compact first */
    memmove(b->buf, b->buf + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
    if (b->cap - b->len >= more)
      return 0;
  }
  need = b->len + more;
  if (b->cap == 0) {
    ncap = need > BUF_MIN ? need : BUF_MIN; /* the first: sized to need */
  } else {
    ncap = b->cap * 2;
    while (ncap < need)
      ncap *= 2;
  }
  nb = realloc(b->buf, ncap);
  if (!nb)
    return P2P_ERR_NOMEM;
  b->buf = nb;
  b->cap = ncap;
  return 0;
}

static void bytes_free(bytes *b) {
  if (b->buf) {
    sodium_memzero(b->buf, b->cap);
    free(b->buf);
  }
  memset(b, 0, sizeof(*b));
}

static size_t bytes_take(bytes *b, uint8_t *out, size_t cap) {
  size_t n = b->len - b->off;
  if (n > cap)
    n = cap;
  if (n)
    memcpy(out, b->buf + b->off, n);
  b->off += n;
  if (b->off == b->len) {
    b->off = b->len = 0;
    if (b->cap > BUF_KEEP)
      bytes_free(b); /* the burst is over */
  }
  return n;
}

static void body_free(p2p_noise *n) {
  if (n->body) {
    sodium_memzero(n->body, n->body_cap);
    free(n->body);
  }
  n->body = NULL;
  n->body_cap = 0;
}

static void free_strings(char **v, size_t n) {
  if (!v)
    return;
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static int fail(p2p_noise *n, int err, const char *reason) {
  if (n->state != P2P_NOISE_FAILED) {
    n->state = P2P_NOISE_FAILED;
    n->error = err;
    n->reason = reason;
    sodium_memzero(&n->xx, sizeof(n->xx));
  }
  return n->error;
}

int p2p_noise_new(p2p_noise_role role, const p2p_privkey *identity,
                  const p2p_peerid *expected_remote, const char *const *muxers,
                  size_t n_muxers, const p2p_rand *rnd, p2p_noise **out) {
  p2p_noise *n;
  if (!out)
    return P2P_ERR_INVALID;
  *out = NULL;
  if ((role != P2P_NOISE_INITIATOR && role != P2P_NOISE_RESPONDER) ||
      !identity || !rnd || !rnd->fill || (n_muxers && !muxers) ||
      n_muxers > P2P_NOISE_MAX_MUXERS)
    return P2P_ERR_INVALID;
  if (identity->type != P2P_KEY_ED25519)
    return P2P_ERR_UNSUPPORTED;
  if (expected_remote &&
      (expected_remote->len == 0 || expected_remote->len > P2P_PEERID_MAX_LEN))
    return P2P_ERR_INVALID;
  for (size_t i = 0; i < n_muxers; i++) {
    size_t l;
    if (!muxers[i])
      return P2P_ERR_INVALID;
    l = strlen(muxers[i]);
    if (l == 0 || l > P2P_NOISE_MAX_MUXER_LEN)
      return P2P_ERR_INVALID;
  }
  if (sodium_init() < 0)
    return P2P_ERR_INTERNAL;
  n = calloc(1, sizeof(*n));
  if (!n)
    return P2P_ERR_NOMEM;
  n->role = role;
  n->rnd = rnd;
  n->identity = *identity;
  if (expected_remote && role == P2P_NOISE_INITIATOR) {
    n->expected = *expected_remote;
    n->has_expected = 1;
  }
  if (n_muxers) {
    n->muxers = calloc(n_muxers, sizeof(char *));
    if (!n->muxers)
      goto nomem;
    for (size_t i = 0; i < n_muxers; i++) {
      size_t l = strlen(muxers[i]);
      n->muxers[i] = malloc(l + 1);
      if (!n->muxers[i])
        goto nomem;
      memcpy(n->muxers[i], muxers[i], l + 1);
      n->n_muxers = i + 1;
    }
  }
  p2p_rand_fill(rnd, n->static_priv, KEY_LEN);
  n->state = P2P_NOISE_HANDSHAKING;
  *out = n;
  return 0;
nomem:
  p2p_noise_del(n);
  return P2P_ERR_NOMEM;
}

void p2p_noise_del(p2p_noise *n) {
  if (!n)
    return;
  free_strings(n->muxers, n->n_muxers);
  free_strings(n->remote_muxers, n->n_remote_muxers);
  bytes_free(&n->out);
  bytes_free(&n->rx);
  body_free(n);
  free(n->prologue);
  sodium_memzero(n, sizeof(*n));
  free(n);
}

int p2p_noise_set_prologue(p2p_noise *n, const uint8_t *prologue, size_t len) {
  if (!n || (len && !prologue) || len > P2P_NOISE_MAX_PROLOGUE)
    return P2P_ERR_INVALID;
  if (n->started)
    return P2P_ERR_STATE;
  free(n->prologue);
  n->prologue = NULL;
  n->prologue_len = 0;
  if (len) {
    n->prologue = malloc(len);
    if (!n->prologue)
      return P2P_ERR_NOMEM;
    memcpy(n->prologue, prologue, len);
  }
  n->prologue_len = len;
  return 0;
}

/* Queues one handshake or transport message with its length prefix. */
static int queue_frame(p2p_noise *n, const uint8_t *msg, size_t len) {
  int r = bytes_reserve(&n->out, len + 2);
  if (r < 0)
    return r;
  n->out.buf[n->out.len] = (uint8_t)(len >> 8);
  n->out.buf[n->out.len + 1] = (uint8_t)len;
  memcpy(n->out.buf + n->out.len + 2, msg, len);
  n->out.len += len + 2;
  return 0;
}

/* Builds our signed NoiseHandshakePayload into buf. */
static ssize_t build_payload(p2p_noise *n, uint8_t *buf, size_t cap) {
  uint8_t key_pb[P2P_PUBKEY_PB_ED25519_LEN];
  uint8_t msg[sizeof(P2P_NOISE_SIG_PREFIX) - 1 + KEY_LEN];
  uint8_t sig[P2P_ED25519_SIG_LEN];
  Noise__Pb__NoiseHandshakePayload pl =
      NOISE__PB__NOISE_HANDSHAKE_PAYLOAD__INIT;
  Noise__Pb__NoiseExtensions ext = NOISE__PB__NOISE_EXTENSIONS__INIT;
  ssize_t klen = p2p_pubkey_marshal(&n->identity.pub, key_pb, sizeof(key_pb));
  size_t size;
  int r;
  if (klen < 0)
    return klen;
  memcpy(msg, P2P_NOISE_SIG_PREFIX, sizeof(P2P_NOISE_SIG_PREFIX) - 1);
  memcpy(msg + sizeof(P2P_NOISE_SIG_PREFIX) - 1, n->xx.s_pub, KEY_LEN);
  if ((r = p2p_privkey_sign(&n->identity, msg, sizeof(msg), sig)) < 0)
    return r;
  pl.has_identity_key = 1;
  pl.identity_key.data = key_pb;
  pl.identity_key.len = (size_t)klen;
  pl.has_identity_sig = 1;
  pl.identity_sig.data = sig;
  pl.identity_sig.len = sizeof(sig);
  if (n->n_muxers) {
    ext.n_stream_muxers = n->n_muxers;
    ext.stream_muxers = n->muxers;
    pl.extensions = &ext;
  }
  size = noise__pb__noise_handshake_payload__get_packed_size(&pl);
  if (size > cap)
    return P2P_ERR_LIMIT;
  return (ssize_t)noise__pb__noise_handshake_payload__pack(&pl, buf);
}

/* Checks the peer's payload: its identity key, its signature over our
 * view of its static key, the expected peer ID; keeps its muxers. */
static int check_payload(p2p_noise *n, const uint8_t *buf, size_t len) {
  Noise__Pb__NoiseHandshakePayload *pl;
  p2p_pubkey key;
  uint8_t msg[sizeof(P2P_NOISE_SIG_PREFIX) - 1 + KEY_LEN];
  p2p_peerid id;
  int r;
  pl = noise__pb__noise_handshake_payload__unpack(NULL, len, buf);
  if (!pl)
    return fail(n, P2P_ERR_PROTO, "malformed handshake payload protobuf");
  if (!pl->has_identity_key || !pl->has_identity_sig) {
    r = fail(n, P2P_ERR_PROTO, "handshake payload lacks identity key or sig");
    goto out;
  }
  r = p2p_pubkey_unmarshal(pl->identity_key.data, pl->identity_key.len, &key);
  if (r == P2P_ERR_UNSUPPORTED) {
    r = fail(n, P2P_ERR_UNSUPPORTED, "unsupported identity key type");
    goto out;
  }
  if (r < 0) {
    r = fail(n, P2P_ERR_PROTO, "malformed identity key");
    goto out;
  }
  memcpy(msg, P2P_NOISE_SIG_PREFIX, sizeof(P2P_NOISE_SIG_PREFIX) - 1);
  memcpy(msg + sizeof(P2P_NOISE_SIG_PREFIX) - 1, n->xx.rs, KEY_LEN);
  if (p2p_pubkey_verify(&key, msg, sizeof(msg), pl->identity_sig.data,
                        pl->identity_sig.len) != 0) {
    r = fail(n, P2P_ERR_PROTO, "bad identity signature over the static key");
    goto out;
  }
  if (p2p_peerid_from_pubkey(&key, &id) < 0) {
    r = fail(n, P2P_ERR_PROTO, "cannot derive the remote peer id");
    goto out;
  }
  if (n->has_expected && !p2p_peerid_equal(&id, &n->expected)) {
    r = fail(n, P2P_ERR_PROTO,
             "remote peer id does not match the expected one");
    goto out;
  }
  if (pl->extensions && pl->extensions->n_stream_muxers) {
    size_t cnt = pl->extensions->n_stream_muxers;
    if (cnt > P2P_NOISE_MAX_MUXERS)
      cnt = P2P_NOISE_MAX_MUXERS;
    n->remote_muxers = calloc(cnt, sizeof(char *));
    if (!n->remote_muxers) {
      r = fail(n, P2P_ERR_NOMEM, "out of memory");
      goto out;
    }
    for (size_t i = 0; i < cnt; i++) {
      const char *s = pl->extensions->stream_muxers[i];
      size_t l = strlen(s);
      if (l > P2P_NOISE_MAX_MUXER_LEN) {
        r = fail(n, P2P_ERR_PROTO, "stream muxer name too long");
        goto out;
      }
      n->remote_muxers[i] = malloc(l + 1);
      if (!n->remote_muxers[i]) {
        r = fail(n, P2P_ERR_NOMEM, "out of memory");
        goto out;
      }
      memcpy(n->remote_muxers[i], s, l + 1);
      n->n_remote_muxers = i + 1;
    }
  }
  n->remote = id;
  n->has_remote = 1;
  r = 0;
out:
  noise__pb__noise_handshake_payload__free_unpacked(pl, NULL);
  return r;
}

/* Writes our next handshake message, with a payload from step 1 on. */
static int write_hs(p2p_noise *n) {
  uint8_t payload[HS_PAYLOAD_MAX];
  uint8_t msg[HS_MSG_MAX];
  ssize_t plen = 0, mlen;
  if (n->xx.step > 0) {
    plen = build_payload(n, payload, sizeof(payload));
    if (plen < 0)
      return fail(n, (int)plen, "cannot build the handshake payload");
  }
  mlen = p2p_noise_xx_write_message(&n->xx, payload, (size_t)plen, msg,
                                    sizeof(msg));
  sodium_memzero(payload, sizeof(payload));
  if (mlen < 0)
    return fail(n, (int)mlen, "cannot write the handshake message");
  if (queue_frame(n, msg, (size_t)mlen) < 0)
    return fail(n, P2P_ERR_NOMEM, "out of memory");
  if (p2p_noise_xx_done(&n->xx))
    n->state = P2P_NOISE_ESTABLISHED;
  return 0;
}

static int start(p2p_noise *n) {
  if (n->started)
    return 0;
  n->started = 1;
  xx_init(&n->xx, n->role == P2P_NOISE_INITIATOR, n->prologue, n->prologue_len,
          n->static_priv, n->rnd);
  free(n->prologue); /* mixed into the handshake hash: no longer needed */
  n->prologue = NULL;
  if (n->role == P2P_NOISE_INITIATOR)
    return write_hs(n);
  return 0;
}

/* Handles one complete frame: body (len bytes), in n->body or in the
 * caller's input. */
static int on_frame(p2p_noise *n, const uint8_t *body, size_t len) {
  ssize_t r;
  uint8_t *pt;
  if (n->state == P2P_NOISE_ESTABLISHED) {
    if (len < TAG_LEN)
      return fail(n, P2P_ERR_PROTO, "transport frame shorter than its tag");
    if (bytes_reserve(&n->rx, len - TAG_LEN) < 0)
      return fail(n, P2P_ERR_NOMEM, "out of memory");
    r = p2p_noise_xx_decrypt(&n->xx, body, len, n->rx.buf + n->rx.len,
                             n->rx.cap - n->rx.len);
    if (r < 0)
      return fail(n, (int)r, "transport frame failed to decrypt");
    n->rx.len += (size_t)r;
    return 0;
  }
  /* A handshake message: its payload is never longer than the message.
   * Three per connection, so a short-lived buffer costs nothing. */
  pt = malloc(len);
  if (!pt)
    return fail(n, P2P_ERR_NOMEM, "out of memory");
  r = p2p_noise_xx_read_message(&n->xx, body, len, pt, len);
  if (r < 0) {
    free(pt);
    return fail(n, (int)r,
                n->xx.step == 0 ? "bad first handshake message"
                                : "handshake message failed to decrypt");
  }
  if (n->xx.step >= 2) { /* messages 2 and 3 carry the identity payload */
    int e = check_payload(n, pt, (size_t)r);
    if (e < 0) {
      free(pt);
      return e;
    }
  }
  free(pt);
  if (p2p_noise_xx_done(&n->xx)) {
    n->state = P2P_NOISE_ESTABLISHED;
    return 0;
  }
  return write_hs(n);
}

static ssize_t recv_frames(p2p_noise *n, const uint8_t *buf, size_t len);

ssize_t p2p_noise_recv(p2p_noise *n, const uint8_t *buf, size_t len) {
  ssize_t r;
  if (!n || (len && !buf))
    return P2P_ERR_INVALID;
  if (n->state == P2P_NOISE_FAILED)
    return n->error;
  if ((r = start(n)) < 0)
    return r;
  r = recv_frames(n, buf, len);
  if (n->hdr_have < 2 || n->body_have == 0 || r < 0)
    body_free(n); /* no frame in progress: give the gathering buffer back */
  return r;
}

static ssize_t recv_frames(p2p_noise *n, const uint8_t *buf, size_t len) {
  size_t off = 0;
  int r;
  while (off < len) {
    size_t take;
    if (n->hdr_have < 2) {
      if (n->rx.len - n->rx.off >= P2P_NOISE_RX_LIMIT)
        break; /* backpressure at a frame boundary */
      n->hdr[n->hdr_have++] = buf[off++];
      if (n->hdr_have < 2)
        continue;
      n->body_len = ((size_t)n->hdr[0] << 8) | n->hdr[1];
      n->body_have = 0;
      if (n->body_len == 0 && n->state != P2P_NOISE_ESTABLISHED)
        return fail(n, P2P_ERR_PROTO, "empty handshake message");
    }
    if (n->body_have == 0 && len - off >= n->body_len) {
      /* The whole frame is here: no copy. */
      n->hdr_have = 0;
      off += n->body_len;
      if ((r = on_frame(n, buf + off - n->body_len, n->body_len)) < 0)
        return r;
      continue;
    }
    if (n->body_cap < n->body_len) {
      uint8_t *nb = malloc(n->body_len);
      if (!nb)
        return fail(n, P2P_ERR_NOMEM, "out of memory");
      if (n->body_have)
        memcpy(nb, n->body, n->body_have);
      body_free(n);
      n->body = nb;
      n->body_cap = n->body_len;
    }
    take = n->body_len - n->body_have;
    if (take > len - off)
      take = len - off;
    memcpy(n->body + n->body_have, buf + off, take);
    n->body_have += take;
    off += take;
    if (n->body_have == n->body_len) {
      n->hdr_have = 0;
      if ((r = on_frame(n, n->body, n->body_len)) < 0)
        return r;
    }
  }
  return (ssize_t)off;
}

ssize_t p2p_noise_send(p2p_noise *n, uint8_t *out, size_t cap) {
  int r;
  if (!n || (cap && !out))
    return P2P_ERR_INVALID;
  if (n->state != P2P_NOISE_FAILED && (r = start(n)) < 0)
    return r;
  return (ssize_t)bytes_take(&n->out, out, cap);
}

size_t p2p_noise_pending(const p2p_noise *n) {
  return n ? n->out.len - n->out.off : 0;
}

ssize_t p2p_noise_write(p2p_noise *n, const uint8_t *buf, size_t len) {
  size_t off = 0;
  if (!n || (len && !buf))
    return P2P_ERR_INVALID;
  if (n->state != P2P_NOISE_ESTABLISHED)
    return P2P_ERR_STATE;
  while (off < len) {
    size_t chunk = len - off;
    ssize_t c;
    if (chunk > P2P_NOISE_MAX_PLAINTEXT)
      chunk = P2P_NOISE_MAX_PLAINTEXT;
    if (bytes_reserve(&n->out, chunk + TAG_LEN + 2) < 0)
      return P2P_ERR_NOMEM;
    c = p2p_noise_xx_encrypt(&n->xx, buf + off, chunk,
                             n->out.buf + n->out.len + 2,
                             n->out.cap - n->out.len - 2);
    if (c < 0)
      return fail(n, (int)c, "cannot encrypt: nonces exhausted");
    n->out.buf[n->out.len] = (uint8_t)((size_t)c >> 8);
    n->out.buf[n->out.len + 1] = (uint8_t)c;
    n->out.len += (size_t)c + 2;
    off += chunk;
  }
  return (ssize_t)len;
}

ssize_t p2p_noise_read(p2p_noise *n, uint8_t *buf, size_t cap) {
  if (!n || (cap && !buf))
    return P2P_ERR_INVALID;
  return (ssize_t)bytes_take(&n->rx, buf, cap);
}

size_t p2p_noise_readable(const p2p_noise *n) {
  return n ? n->rx.len - n->rx.off : 0;
}

int p2p_noise_state(const p2p_noise *n) {
  return n ? n->state : P2P_NOISE_FAILED;
}

int p2p_noise_error(const p2p_noise *n) {
  return n ? n->error : 0;
}

const char *p2p_noise_reason(const p2p_noise *n) {
  return n && n->reason ? n->reason : "";
}

const p2p_peerid *p2p_noise_remote_peer(const p2p_noise *n) {
  return n && n->has_remote ? &n->remote : NULL;
}

const char *const *p2p_noise_remote_muxers(const p2p_noise *n, size_t *count) {
  if (count)
    *count = 0;
  if (!n || !n->has_remote || !n->n_remote_muxers)
    return NULL;
  if (count)
    *count = n->n_remote_muxers;
  return (const char *const *)n->remote_muxers;
}

int p2p_noise_handshake_hash(const p2p_noise *n,
                             uint8_t out[P2P_NOISE_HASH_LEN]) {
  if (!n || !out)
    return P2P_ERR_INVALID;
  if (n->state != P2P_NOISE_ESTABLISHED)
    return P2P_ERR_STATE;
  return p2p_noise_xx_handshake_hash(&n->xx, out);
}
