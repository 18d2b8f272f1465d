/*
 * multiaddr.c - multiaddr string and binary forms, for the protocols the
 * libp2p guides use.
 *
 * Both directions are strict, so that whatever is accepted prints back to a
 * string that parses to the same bytes: IPv4 octets and ports without
 * leading zeros, names without '/' or control characters, peer IDs and
 * certificate hashes that are valid multihashes.
 */
#include "p2p/multiaddr.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/multibase.h"
#include "p2p/multihash.h"
#include "p2p/varint.h"

/* How a protocol's value looks in both forms. */
enum value_kind {
  V_NONE,     /* no value */
  V_IP4,      /* 4 bytes */
  V_IP6,      /* 16 bytes */
  V_PORT,     /* 2 bytes, big-endian */
  V_NAME,     /* length-prefixed UTF-8 text (dns*, sni) */
  V_PEER,     /* length-prefixed multihash, text is a peer ID */
  V_CERTHASH, /* length-prefixed multihash, text is multibase */
};

struct proto {
  uint32_t code;
  const char *name;
  enum value_kind kind;
};

static const struct proto protos[] = {
    {P2P_MA_IP4, "ip4", V_IP4},
    {P2P_MA_TCP, "tcp", V_PORT},
    {P2P_MA_DNS, "dns", V_NAME},
    {P2P_MA_DNS4, "dns4", V_NAME},
    {P2P_MA_DNS6, "dns6", V_NAME},
    {P2P_MA_DNSADDR, "dnsaddr", V_NAME},
    {P2P_MA_IP6, "ip6", V_IP6},
    {P2P_MA_UDP, "udp", V_PORT},
    {P2P_MA_WEBRTC_DIRECT, "webrtc-direct", V_NONE},
    {P2P_MA_WEBRTC, "webrtc", V_NONE},
    {P2P_MA_P2P_CIRCUIT, "p2p-circuit", V_NONE},
    {P2P_MA_P2P, "p2p", V_PEER},
    {P2P_MA_TLS, "tls", V_NONE},
    {P2P_MA_SNI, "sni", V_NAME},
    {P2P_MA_QUIC_V1, "quic-v1", V_NONE},
    {P2P_MA_WEBTRANSPORT, "webtransport", V_NONE},
    {P2P_MA_CERTHASH, "certhash", V_CERTHASH},
    {P2P_MA_WS, "ws", V_NONE},
    {P2P_MA_WSS, "wss", V_NONE},
};

#define NPROTOS (sizeof protos / sizeof protos[0])

/* DNS names are at most 253 characters; SNI uses the same names. */
#define MAX_NAME_LEN 255
/* Room for the largest accepted multihash (an identity hash of
 * P2P_MH_MAX_IDENTITY bytes) and a CID header around it. */
#define MAX_HASH_BYTES 256
/* The p2p CIDv1 prefix: version 1, codec libp2p-key. */
#define CID_VERSION 1
#define CID_LIBP2P_KEY 0x72

static const struct proto *find_code(uint64_t code) {
  for (size_t i = 0; i < NPROTOS; i++) {
    if (protos[i].code == code)
      return &protos[i];
  }
  return NULL;
}

static const struct proto *find_name(const char *name, size_t len) {
  for (size_t i = 0; i < NPROTOS; i++) {
    if (strlen(protos[i].name) == len && memcmp(protos[i].name, name, len) == 0)
      return &protos[i];
  }
  return NULL;
}

static size_t fixed_size(enum value_kind kind) {
  switch (kind) {
  case V_IP4: return 4;
  case V_IP6: return 16;
  case V_PORT: return 2;
  default: return 0;
  }
}

static int is_length_prefixed(enum value_kind kind) {
  return kind == V_NAME || kind == V_PEER || kind == V_CERTHASH;
}

/* A host name or SNI: non-empty, well-formed UTF-8 without '/' (which would
 * split the string form) and without control characters. */
static int name_ok(const uint8_t *s, size_t len) {
  if (len == 0 || len > MAX_NAME_LEN)
    return 0;
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f || c == '/')
        return 0;
      i++;
      continue;
    }
    size_t n;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (len - i < n)
      return 0;
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += n;
  }
  return 1;
}

static int value_ok(enum value_kind kind, const uint8_t *v, size_t len) {
  switch (kind) {
  case V_NAME: return name_ok(v, len);
  case V_PEER:
  case V_CERTHASH: return p2p_multihash_decode(v, len, NULL) == 0;
  default: return len == fixed_size(kind);
  }
}

/* Reads and validates the component at *pos and moves *pos past it. */
static int read_component(const uint8_t *buf, size_t len, size_t *pos,
                          p2p_ma_component *c) {
  uint64_t code, vlen;
  size_t off = *pos;
  int n = p2p_varint_decode(buf + off, len - off, &code);
  if (n <= 0)
    return P2P_ERR_INVALID;
  off += (size_t)n;
  const struct proto *p = find_code(code);
  if (p == NULL)
    return P2P_ERR_INVALID;
  if (is_length_prefixed(p->kind)) {
    n = p2p_varint_decode(buf + off, len - off, &vlen);
    if (n <= 0)
      return P2P_ERR_INVALID;
    off += (size_t)n;
  } else {
    vlen = fixed_size(p->kind);
  }
  if (vlen > len - off || !value_ok(p->kind, buf + off, (size_t)vlen))
    return P2P_ERR_INVALID;
  c->code = p->code;
  c->name = p->name;
  c->value = p->kind == V_NONE ? NULL : buf + off;
  c->value_len = (size_t)vlen;
  *pos = off + (size_t)vlen;
  return 1;
}

/* --- text values -------------------------------------------------------- */

/* A decimal number without sign or leading zeros, at most max. */
static int parse_decimal(const char *s, size_t n, uint32_t max, uint32_t *out) {
  uint32_t v = 0;
  if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
    return P2P_ERR_INVALID;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return P2P_ERR_INVALID;
    v = v * 10 + (uint32_t)(s[i] - '0');
  }
  if (v > max)
    return P2P_ERR_INVALID;
  *out = v;
  return 0;
}

static int parse_ip4(const char *s, size_t n, uint8_t out[4]) {
  size_t i = 0;
  for (int k = 0; k < 4; k++) {
    size_t j = i;
    while (j < n && s[j] != '.')
      j++;
    uint32_t v;
    if (parse_decimal(s + i, j - i, 255, &v) < 0)
      return P2P_ERR_INVALID;
    out[k] = (uint8_t)v;
    if (k < 3) {
      if (j >= n)
        return P2P_ERR_INVALID;
      i = j + 1;
    } else if (j != n) {
      return P2P_ERR_INVALID;
    }
  }
  return 0;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* The RFC 4291 text forms: eight groups, one "::" for a run of zero
 * groups, and an optional dotted quad in place of the last two groups. */
static int parse_ip6(const char *s, size_t n, uint8_t out[16]) {
  uint16_t groups[8];
  size_t ng = 0, i = 0;
  int gap = -1;
  if (n < 2)
    return P2P_ERR_INVALID;
  if (s[0] == ':') {
    if (s[1] != ':')
      return P2P_ERR_INVALID;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    size_t j = i;
    int dotted = 0;
    while (j < n && s[j] != ':') {
      if (s[j] == '.')
        dotted = 1;
      j++;
    }
    if (dotted) {
      uint8_t q[4];
      if (j != n || ng > 6 || parse_ip4(s + i, j - i, q) < 0)
        return P2P_ERR_INVALID;
      groups[ng++] = (uint16_t)(q[0] << 8 | q[1]);
      groups[ng++] = (uint16_t)(q[2] << 8 | q[3]);
      break;
    }
    if (j == i || j - i > 4 || ng == 8)
      return P2P_ERR_INVALID;
    uint16_t g = 0;
    for (size_t k = i; k < j; k++) {
      int h = hex_value(s[k]);
      if (h < 0)
        return P2P_ERR_INVALID;
      g = (uint16_t)(g << 4 | h);
    }
    groups[ng++] = g;
    if (j == n)
      break;
    if (j + 1 < n && s[j + 1] == ':') {
      if (gap >= 0)
        return P2P_ERR_INVALID;
      gap = (int)ng;
      i = j + 2;
    } else {
      i = j + 1;
      if (i == n)
        return P2P_ERR_INVALID; /* a trailing single ':' */
    }
  }
  /* "::" stands for at least one zero group. */
  if ((gap < 0 && ng != 8) || (gap >= 0 && ng > 7))
    return P2P_ERR_INVALID;
  size_t zeros = 8 - ng, o = 0;
  for (size_t k = 0; k < ng; k++) {
    if (gap >= 0 && k == (size_t)gap) {
      for (size_t z = 0; z < zeros; z++, o++)
        out[2 * o] = out[2 * o + 1] = 0;
    }
    out[2 * o] = (uint8_t)(groups[k] >> 8);
    out[2 * o + 1] = (uint8_t)groups[k];
    o++;
  }
  while (o < 8) { /* the gap was at the end */
    out[2 * o] = out[2 * o + 1] = 0;
    o++;
  }
  return 0;
}

/* A peer ID: a base58btc multihash ("Qm...", "12D3KooW..."), or a CIDv1
 * with the libp2p-key codec in multibase base32 ("bafz..."). Writes the
 * multihash. */
static ssize_t parse_peer(const char *s, size_t n, uint8_t *out, size_t cap) {
  uint8_t raw[MAX_HASH_BYTES];
  ssize_t len;
  if (n > 0 && s[0] == 'b') {
    uint64_t version, codec;
    len = p2p_base32_decode(s + 1, n - 1, raw, sizeof raw);
    if (len < 0)
      return P2P_ERR_INVALID;
    size_t pos = 0;
    int k = p2p_varint_decode(raw, (size_t)len, &version);
    if (k <= 0 || version != CID_VERSION)
      return P2P_ERR_INVALID;
    pos += (size_t)k;
    k = p2p_varint_decode(raw + pos, (size_t)len - pos, &codec);
    if (k <= 0 || codec != CID_LIBP2P_KEY)
      return P2P_ERR_INVALID;
    pos += (size_t)k;
    len -= (ssize_t)pos;
    memmove(raw, raw + pos, (size_t)len);
  } else {
    len = p2p_base58btc_decode(s, n, raw, sizeof raw);
    if (len < 0)
      return P2P_ERR_INVALID;
  }
  if (p2p_multihash_decode(raw, (size_t)len, NULL) < 0 || (size_t)len > cap)
    return P2P_ERR_INVALID;
  memcpy(out, raw, (size_t)len);
  return len;
}

static ssize_t parse_certhash(const char *s, size_t n, uint8_t *out,
                              size_t cap) {
  ssize_t len = p2p_multibase_decode(s, n, out, cap, NULL);
  if (len < 0 || p2p_multihash_decode(out, (size_t)len, NULL) < 0)
    return P2P_ERR_INVALID;
  return len;
}

/* Converts one text value into its binary value (without length prefix). */
static ssize_t parse_value(enum value_kind kind, const char *s, size_t n,
                           uint8_t *out, size_t cap) {
  uint32_t port;
  switch (kind) {
  case V_IP4: return parse_ip4(s, n, out) < 0 ? P2P_ERR_INVALID : 4;
  case V_IP6: return parse_ip6(s, n, out) < 0 ? P2P_ERR_INVALID : 16;
  case V_PORT:
    if (parse_decimal(s, n, 65535, &port) < 0)
      return P2P_ERR_INVALID;
    out[0] = (uint8_t)(port >> 8);
    out[1] = (uint8_t)port;
    return 2;
  case V_NAME:
    if (n > cap || !name_ok((const uint8_t *)s, n))
      return P2P_ERR_INVALID;
    memcpy(out, s, n);
    return (ssize_t)n;
  case V_PEER: return parse_peer(s, n, out, cap);
  case V_CERTHASH: return parse_certhash(s, n, out, cap);
  default: return P2P_ERR_INVALID;
  }
}

/* --- growing output buffer for parse ------------------------------------ */

struct growbuf {
  uint8_t *p;
  size_t len, cap;
};

static int growbuf_put(struct growbuf *b, const void *data, size_t n) {
  if (n > SIZE_MAX - b->len)
    return P2P_ERR_NOMEM;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 32;
    while (cap < b->len + n)
      cap = cap > SIZE_MAX / 2 ? b->len + n : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
      return P2P_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}

static int growbuf_put_varint(struct growbuf *b, uint64_t v) {
  uint8_t tmp[P2P_VARINT_MAX_LEN];
  int n = p2p_varint_encode(v, tmp, sizeof tmp);
  if (n < 0)
    return P2P_ERR_INVALID;
  return growbuf_put(b, tmp, (size_t)n);
}

static int parse_into(const char *str, struct growbuf *b) {
  size_t i = 0, n = strlen(str);
  /* "" and "/" are refused: a multiaddr string names at least one
   * protocol, and every component starts with '/'. */
  if (n == 0 || str[0] != '/')
    return P2P_ERR_INVALID;
  while (i < n) {
    /* str[i] is the '/' before a protocol name. */
    size_t start = ++i;
    while (i < n && str[i] != '/')
      i++;
    const struct proto *p = find_name(str + start, i - start);
    if (p == NULL)
      return P2P_ERR_INVALID;
    int rc = growbuf_put_varint(b, p->code);
    if (rc < 0)
      return rc;
    if (p->kind == V_NONE)
      continue;
    if (i >= n)
      return P2P_ERR_INVALID; /* the value is missing */
    start = ++i;
    while (i < n && str[i] != '/')
      i++;
    uint8_t value[MAX_HASH_BYTES];
    ssize_t vlen =
        parse_value(p->kind, str + start, i - start, value, sizeof value);
    if (vlen < 0)
      return P2P_ERR_INVALID;
    if (is_length_prefixed(p->kind)) {
      rc = growbuf_put_varint(b, (uint64_t)vlen);
      if (rc < 0)
        return rc;
    }
    rc = growbuf_put(b, value, (size_t)vlen);
    if (rc < 0)
      return rc;
  }
  return 0;
}

int p2p_multiaddr_parse(const char *str, p2p_multiaddr *out) {
  struct growbuf b = {NULL, 0, 0};
  if (out == NULL)
    return P2P_ERR_INVALID;
  out->bytes = NULL;
  out->len = 0;
  if (str == NULL)
    return P2P_ERR_INVALID;
  int rc = parse_into(str, &b);
  if (rc < 0) {
    free(b.p);
    return rc;
  }
  out->bytes = b.p;
  out->len = b.len;
  return 0;
}

/* --- binary to text ----------------------------------------------------- */

/* Writes into a caller buffer, remembering whether anything was cut off. */
struct writer {
  char *out;
  size_t cap, len;
  int full;
};

static void put_chars(struct writer *w, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (w->len + 1 < w->cap) /* keep a byte for the NUL */
      w->out[w->len] = s[i];
    else
      w->full = 1;
    w->len++;
  }
}

static void put_str(struct writer *w, const char *s) {
  put_chars(w, s, strlen(s));
}

static void put_uint(struct writer *w, uint32_t v) {
  char tmp[10];
  size_t n = 0;
  do {
    tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  put_chars(w, tmp + sizeof tmp - n, n);
}

static void put_ip4(struct writer *w, const uint8_t *v) {
  for (int k = 0; k < 4; k++) {
    if (k > 0)
      put_chars(w, ".", 1);
    put_uint(w, v[k]);
  }
}

static void put_hex16(struct writer *w, uint16_t g) {
  static const char hex[] = "0123456789abcdef";
  char tmp[4];
  size_t n = 0;
  int shift = 12;
  while (shift > 0 && ((g >> shift) & 0xf) == 0)
    shift -= 4;
  for (; shift >= 0; shift -= 4)
    tmp[n++] = hex[(g >> shift) & 0xf];
  put_chars(w, tmp, n);
}

/* RFC 5952: lower case, no leading zeros, the longest run of two or more
 * zero groups (the first on ties) as "::", IPv4-mapped addresses in mixed
 * notation. */
static void put_ip6(struct writer *w, const uint8_t *v) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(v, mapped, sizeof mapped) == 0) {
    put_str(w, "::ffff:");
    put_ip4(w, v + 12);
    return;
  }
  uint16_t g[8];
  for (int k = 0; k < 8; k++)
    g[k] = (uint16_t)(v[2 * k] << 8 | v[2 * k + 1]);
  int best = -1, best_len = 1;
  for (int k = 0; k < 8;) {
    if (g[k] != 0) {
      k++;
      continue;
    }
    int e = k;
    while (e < 8 && g[e] == 0)
      e++;
    if (e - k > best_len) {
      best = k;
      best_len = e - k;
    }
    k = e;
  }
  for (int k = 0; k < 8; k++) {
    if (k == best) {
      put_chars(w, "::", 2);
      k += best_len - 1;
      continue;
    }
    if (k > 0 && k != best + best_len)
      put_chars(w, ":", 1);
    put_hex16(w, g[k]);
  }
}

static int put_value(struct writer *w, uint32_t code, const uint8_t *v,
                     size_t len) {
  /* Large enough for base58 or base64url of MAX_HASH_BYTES bytes. */
  char tmp[2 * MAX_HASH_BYTES];
  ssize_t n;
  const struct proto *p = find_code(code);
  switch (p->kind) {
  case V_IP4: put_ip4(w, v); break;
  case V_IP6: put_ip6(w, v); break;
  case V_PORT: put_uint(w, (uint32_t)v[0] << 8 | v[1]); break;
  case V_NAME: put_chars(w, (const char *)v, len); break;
  case V_PEER:
    n = p2p_base58btc_encode(v, len, tmp, sizeof tmp);
    if (n < 0)
      return P2P_ERR_INVALID;
    put_chars(w, tmp, (size_t)n);
    break;
  case V_CERTHASH:
    n = p2p_multibase_encode(P2P_BASE64URL, v, len, tmp, sizeof tmp);
    if (n < 0)
      return P2P_ERR_INVALID;
    put_chars(w, tmp, (size_t)n);
    break;
  default: break;
  }
  return 0;
}

ssize_t p2p_multiaddr_to_string(const p2p_multiaddr *ma, char *out,
                                size_t cap) {
  struct writer w = {out, cap, 0, 0};
  p2p_ma_component c;
  size_t pos = 0;
  int rc;
  if (ma == NULL || (ma->bytes == NULL && ma->len > 0))
    return P2P_ERR_INVALID;
  if (out == NULL || cap == 0)
    return P2P_ERR_LIMIT;
  while ((rc = p2p_multiaddr_next(ma, &pos, &c)) == 1) {
    put_chars(&w, "/", 1);
    put_str(&w, c.name);
    if (c.value != NULL) {
      put_chars(&w, "/", 1);
      if (put_value(&w, c.code, c.value, c.value_len) < 0)
        return P2P_ERR_INVALID;
    }
  }
  if (rc < 0)
    return rc;
  if (w.full) {
    out[0] = '\0';
    return P2P_ERR_LIMIT;
  }
  out[w.len] = '\0';
  return (ssize_t)w.len;
}

/* --- binary operations -------------------------------------------------- */

/* out takes a malloc'd copy of the concatenation of two byte ranges. */
static int set_bytes(p2p_multiaddr *out, const uint8_t *a, size_t alen,
                     const uint8_t *b, size_t blen) {
  uint8_t *p = NULL;
  if (alen > SIZE_MAX - blen)
    return P2P_ERR_NOMEM;
  if (alen + blen > 0) {
    p = malloc(alen + blen);
    if (p == NULL)
      return P2P_ERR_NOMEM;
    if (alen > 0)
      memcpy(p, a, alen);
    if (blen > 0)
      memcpy(p + alen, b, blen);
  }
  out->bytes = p;
  out->len = alen + blen;
  return 0;
}

static int ma_ok(const p2p_multiaddr *ma) {
  return ma != NULL && (ma->bytes != NULL || ma->len == 0);
}

int p2p_multiaddr_from_bytes(const uint8_t *buf, size_t len,
                             p2p_multiaddr *out) {
  p2p_ma_component c;
  size_t pos = 0;
  if (out == NULL)
    return P2P_ERR_INVALID;
  out->bytes = NULL;
  out->len = 0;
  /* Like the string form, a multiaddr on the wire names a protocol. */
  if (buf == NULL || len == 0)
    return P2P_ERR_INVALID;
  while (pos < len) {
    if (read_component(buf, len, &pos, &c) < 0)
      return P2P_ERR_INVALID;
  }
  return set_bytes(out, buf, len, NULL, 0);
}

void p2p_multiaddr_free(p2p_multiaddr *ma) {
  if (ma == NULL)
    return;
  free(ma->bytes);
  ma->bytes = NULL;
  ma->len = 0;
}

int p2p_multiaddr_copy(const p2p_multiaddr *ma, p2p_multiaddr *out) {
  if (out == NULL || !ma_ok(ma))
    return P2P_ERR_INVALID;
  p2p_multiaddr tmp;
  int rc = set_bytes(&tmp, ma->bytes, ma->len, NULL, 0);
  if (rc < 0)
    return rc;
  *out = tmp;
  return 0;
}

int p2p_multiaddr_encapsulate(const p2p_multiaddr *a, const p2p_multiaddr *b,
                              p2p_multiaddr *out) {
  if (out == NULL || !ma_ok(a) || !ma_ok(b))
    return P2P_ERR_INVALID;
  p2p_multiaddr tmp;
  int rc = set_bytes(&tmp, a->bytes, a->len, b->bytes, b->len);
  if (rc < 0)
    return rc;
  *out = tmp;
  return 0;
}

int p2p_multiaddr_decapsulate_code(const p2p_multiaddr *a, uint32_t code,
                                   p2p_multiaddr *out) {
  p2p_ma_component c;
  size_t pos = 0, start = 0, last = SIZE_MAX;
  int rc;
  if (out == NULL || !ma_ok(a))
    return P2P_ERR_INVALID;
  while ((rc = p2p_multiaddr_next(a, &pos, &c)) == 1) {
    if (c.code == code)
      last = start;
    start = pos;
  }
  if (rc < 0)
    return rc;
  if (last == SIZE_MAX)
    return P2P_ERR_NOTFOUND;
  p2p_multiaddr tmp;
  rc = set_bytes(&tmp, a->bytes, last, NULL, 0);
  if (rc < 0)
    return rc;
  *out = tmp;
  return 0;
}

int p2p_multiaddr_next(const p2p_multiaddr *ma, size_t *pos,
                       p2p_ma_component *c) {
  if (!ma_ok(ma) || pos == NULL || c == NULL || *pos > ma->len)
    return P2P_ERR_INVALID;
  if (*pos == ma->len)
    return 0;
  return read_component(ma->bytes, ma->len, pos, c);
}

int p2p_multiaddr_proto_code(const char *name, uint32_t *code) {
  if (name == NULL)
    return P2P_ERR_NOTFOUND;
  const struct proto *p = find_name(name, strlen(name));
  if (p == NULL)
    return P2P_ERR_NOTFOUND;
  if (code != NULL)
    *code = p->code;
  return 0;
}

int p2p_multiaddr_has(const p2p_multiaddr *ma, uint32_t code) {
  size_t pos = 0;
  p2p_ma_component c;
  while (ma && p2p_multiaddr_next(ma, &pos, &c) == 1)
    if (c.code == code)
      return 1;
  return 0;
}

int p2p_multiaddr_last_peer(const p2p_multiaddr *ma, p2p_peerid *peer) {
  size_t pos = 0;
  p2p_ma_component c;
  p2p_peerid id;
  int got = 0;
  while (ma && p2p_multiaddr_next(ma, &pos, &c) == 1)
    if (c.code == P2P_MA_P2P &&
        p2p_peerid_from_bytes(c.value, c.value_len, &id) == 0) {
      *peer = id;
      got = 1;
    }
  return got;
}

int p2p_multiaddr_tcp_target(const p2p_multiaddr *ma, uint32_t *ip,
                             uint16_t *port, int *is_ws, p2p_peerid *peer,
                             int *has_peer) {
  if (!ma_ok(ma) || ip == NULL || port == NULL)
    return P2P_ERR_INVALID;
  /* Expected components in order: ip4, tcp, optional ws, optional p2p. */
  size_t pos = 0;
  p2p_ma_component c;
  uint32_t a = 0;
  uint16_t p = 0;
  int i = 0, ws = 0, got_peer = 0, rc;
  p2p_peerid pid;
  while ((rc = p2p_multiaddr_next(ma, &pos, &c)) == 1) {
    if (i == 0 && c.code == P2P_MA_IP4 && c.value_len == 4) {
      a = (uint32_t)c.value[0] << 24 | (uint32_t)c.value[1] << 16 |
          (uint32_t)c.value[2] << 8 | c.value[3];
    } else if (i == 1 && c.code == P2P_MA_TCP && c.value_len == 2) {
      p = (uint16_t)(c.value[0] << 8 | c.value[1]);
    } else if (i >= 2 && !ws && !got_peer && c.code == P2P_MA_WS) {
      ws = 1;
    } else if (i >= 2 && !got_peer && c.code == P2P_MA_P2P) {
      if (p2p_peerid_from_bytes(c.value, c.value_len, &pid) < 0)
        return P2P_ERR_INVALID;
      got_peer = 1;
    } else {
      return P2P_ERR_INVALID;
    }
    i++;
  }
  if (rc < 0 || i < 2)
    return P2P_ERR_INVALID;
  *ip = a;
  *port = p;
  if (is_ws)
    *is_ws = ws;
  if (peer && got_peer)
    *peer = pid;
  if (has_peer)
    *has_peer = got_peer;
  return 0;
}
