/*
 * core/src/websocket.c - WebSocket (RFC 6455) transport codec, sans-IO.
 */
#include "p2p/websocket.h"

#include <nettle/sha1.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes (RFC 6455 section 5.2). */
enum {
  OP_CONT = 0,
  OP_TEXT = 1,
  OP_BIN = 2,
  OP_CLOSE = 8,
  OP_PING = 9,
  OP_PONG = 10
};

/* Frame parser states. */
enum { FR_HDR = 0, FR_PAYLOAD = 1, FR_DISCARD = 2 };

/* Automatic replies (pongs) queued since the output queue was last empty,
 * above which recv pauses so a ping flood cannot grow the queue forever. */
#define AUTO_REPLY_LIMIT 65536

/* A byte queue: live bytes are p[head..head+len). */
typedef struct bytebuf {
  uint8_t *p;
  size_t head, len, cap;
} bytebuf;

struct p2p_ws {
  int role, state, err;
  const char *reason;
  const p2p_rand *rand;
  size_t max_frame_len, max_message_len, max_read_buffer;
  bytebuf out, rx;
  size_t auto_bytes;
  int close_sent, close_rcvd;
  unsigned peer_code;
  char key[P2P_WS_KEY_LEN + 1];
  char path[P2P_WS_MAX_TARGET_LEN + 1];
  char host[P2P_WS_MAX_TARGET_LEN + 1];
  /* Handshake: the header block as it arrives. */
  size_t hs_len;
  uint8_t hs[P2P_WS_MAX_HEADER_LEN];
  /* Frame parser. */
  int fr_state;
  uint8_t hdr[14];
  size_t hdr_len, hdr_need;
  int fin, opcode, masked;
  uint8_t mask[4];
  uint64_t remaining, pay_off;
  int in_msg;
  uint64_t msg_len;
  uint8_t ctl[P2P_WS_MAX_CONTROL_LEN];
  size_t ctl_len;
};

/* ---- byte queue ---- */

static int buf_reserve(bytebuf *b, size_t n) {
  if (b->cap - b->head - b->len >= n)
    return 0;
  if (b->head > 0) {
    memmove(b->p, b->p + b->head, b->len);
    b->head = 0;
    if (b->cap - b->len >= n)
      return 0;
  }
  if (n > SIZE_MAX / 2 - b->len)
    return P2P_ERR_NOMEM;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < n)
    cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (p == NULL)
    return P2P_ERR_NOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

static uint8_t *buf_tail(bytebuf *b) {
  return b->p + b->head + b->len;
}

static int buf_put(bytebuf *b, const void *data, size_t n) {
  int r = buf_reserve(b, n);
  if (r != 0)
    return r;
  if (n > 0)
    memcpy(buf_tail(b), data, n);
  b->len += n;
  return 0;
}

static size_t buf_take(bytebuf *b, uint8_t *out, size_t cap) {
  size_t n = b->len < cap ? b->len : cap;
  if (n > 0)
    memcpy(out, b->p + b->head, n);
  b->head += n;
  b->len -= n;
  if (b->len == 0)
    b->head = 0;
  return n;
}

/* ---- base64 (standard alphabet, padded) and the accept value ---- */

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes n bytes into out (4 * ceil(n / 3) characters, then a NUL). */
static void b64_encode(const uint8_t *in, size_t n, char *out) {
  size_t i, o = 0;
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64_alpha[v >> 18];
    out[o++] = b64_alpha[(v >> 12) & 63];
    out[o++] = b64_alpha[(v >> 6) & 63];
    out[o++] = b64_alpha[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n)
      v |= (uint32_t)in[i + 1] << 8;
    out[o++] = b64_alpha[v >> 18];
    out[o++] = b64_alpha[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64_alpha[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
}

static int is_b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '/';
}

void p2p_ws_accept_for_key(const char *key, size_t key_len,
                           char out[P2P_WS_ACCEPT_LEN + 1]) {
  struct sha1_ctx ctx;
  uint8_t digest[SHA1_DIGEST_SIZE];
  sha1_init(&ctx);
  sha1_update(&ctx, key_len, (const uint8_t *)key);
  sha1_update(&ctx, sizeof(P2P_WS_GUID) - 1, (const uint8_t *)P2P_WS_GUID);
  sha1_digest(&ctx, sizeof(digest), digest);
  b64_encode(digest, sizeof(digest), out);
}

/* ---- failure ---- */

static int is_control(int op) {
  return op >= 8;
}

/* Queues a frame of opcode `op` with payload p[0..n). Client frames get a
 * fresh mask key. */
static int queue_frame(p2p_ws *ws, int op, const uint8_t *p, size_t n) {
  uint8_t hdr[14];
  size_t h = 0;
  int masked = ws->role == P2P_WS_CLIENT;
  hdr[h++] = (uint8_t)(0x80 | op);
  if (n < 126) {
    hdr[h++] = (uint8_t)((masked ? 0x80 : 0) | n);
  } else if (n <= 0xffff) {
    hdr[h++] = (uint8_t)((masked ? 0x80 : 0) | 126);
    hdr[h++] = (uint8_t)(n >> 8);
    hdr[h++] = (uint8_t)n;
  } else {
    uint64_t v = n;
    hdr[h++] = (uint8_t)((masked ? 0x80 : 0) | 127);
    for (int i = 7; i >= 0; i--)
      hdr[h++] = (uint8_t)(v >> (8 * i));
  }
  uint8_t *mk = NULL;
  if (masked) {
    mk = hdr + h;
    p2p_rand_fill(ws->rand, mk, 4);
    h += 4;
  }
  int r = buf_reserve(&ws->out, h + n);
  if (r != 0)
    return r;
  uint8_t *t = buf_tail(&ws->out);
  memcpy(t, hdr, h);
  if (masked) {
    for (size_t i = 0; i < n; i++)
      t[h + i] = p[i] ^ mk[i & 3];
  } else if (n > 0) {
    memcpy(t + h, p, n);
  }
  ws->out.len += h + n;
  return 0;
}

static int queue_close(p2p_ws *ws, unsigned code) {
  uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
  ws->close_sent = 1;
  return queue_frame(ws, OP_CLOSE, p, code ? 2 : 0);
}

/* Fails the object. Once the connection is open, a close frame with
 * `code` is queued (best effort: an allocation failure only loses it). */
static ssize_t fail(p2p_ws *ws, int err, unsigned code, const char *reason) {
  if ((ws->state == P2P_WS_OPEN || ws->state == P2P_WS_CLOSING) &&
      !ws->close_sent && !ws->close_rcvd && code != 0)
    (void)queue_close(ws, code);
  ws->state = P2P_WS_FAILED;
  ws->err = err;
  ws->reason = reason;
  return err;
}

/* ---- HTTP handshake ---- */

static int lower(int c) {
  return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ieq(const char *a, size_t alen, const char *b) {
  size_t blen = strlen(b);
  if (alen != blen)
    return 0;
  for (size_t i = 0; i < alen; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
      return 0;
  return 1;
}

/* Whether the comma-separated list v[0..n) holds `token`, compared
 * case-insensitively with optional whitespace around each element. */
static int has_token(const char *v, size_t n, const char *token) {
  size_t i = 0;
  while (i <= n) {
    size_t s = i, e;
    while (i < n && v[i] != ',')
      i++;
    e = i;
    while (s < e && (v[s] == ' ' || v[s] == '\t'))
      s++;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (ieq(v + s, e - s, token))
      return 1;
    i++;
  }
  return 0;
}

/* The parts of a header block this module looks at. */
typedef struct hs_fields {
  const char *line;
  size_t line_len;
  int host, upgrade, connection, ext, proto;
  const char *key, *accept, *version;
  size_t key_len, accept_len, version_len;
  int dup;
} hs_fields;

/* Splits the header block hs[0..n) (ending in CRLF CRLF) into its start
 * line and the fields above. Returns a reason string on malformed syntax,
 * else NULL. */
static const char *parse_headers(const char *hs, size_t n, hs_fields *f) {
  size_t i = 0;
  memset(f, 0, sizeof(*f));
  n -= 2; /* the final CRLF */
  while (i < n) {
    size_t s = i;
    while (i + 1 < n && !(hs[i] == '\r' && hs[i + 1] == '\n'))
      i++;
    if (i + 1 >= n)
      return "header line without CRLF";
    size_t e = i;
    i += 2;
    for (size_t k = s; k < e; k++)
      if (hs[k] == '\r' || hs[k] == '\n' || hs[k] == '\0')
        return "stray control character in header";
    if (f->line == NULL) {
      f->line = hs + s;
      f->line_len = e - s;
      continue;
    }
    if (hs[s] == ' ' || hs[s] == '\t')
      return "folded header line";
    size_t c = s;
    while (c < e && hs[c] != ':') {
      if (hs[c] == ' ' || hs[c] == '\t')
        return "whitespace in header name";
      c++;
    }
    if (c == e || c == s)
      return "malformed header line";
    const char *name = hs + s;
    size_t nlen = c - s;
    size_t vs = c + 1, ve = e;
    while (vs < ve && (hs[vs] == ' ' || hs[vs] == '\t'))
      vs++;
    while (ve > vs && (hs[ve - 1] == ' ' || hs[ve - 1] == '\t'))
      ve--;
    const char *v = hs + vs;
    size_t vlen = ve - vs;
    if (ieq(name, nlen, "host")) {
      f->dup |= f->host;
      f->host = vlen > 0;
    } else if (ieq(name, nlen, "upgrade")) {
      f->upgrade |= has_token(v, vlen, "websocket");
    } else if (ieq(name, nlen, "connection")) {
      f->connection |= has_token(v, vlen, "upgrade");
    } else if (ieq(name, nlen, "sec-websocket-key")) {
      f->dup |= f->key != NULL;
      f->key = v, f->key_len = vlen;
    } else if (ieq(name, nlen, "sec-websocket-accept")) {
      f->dup |= f->accept != NULL;
      f->accept = v, f->accept_len = vlen;
    } else if (ieq(name, nlen, "sec-websocket-version")) {
      f->dup |= f->version != NULL;
      f->version = v, f->version_len = vlen;
    } else if (ieq(name, nlen, "sec-websocket-extensions")) {
      f->ext = 1;
    } else if (ieq(name, nlen, "sec-websocket-protocol")) {
      f->proto = 1;
    }
  }
  if (f->line == NULL || f->line_len == 0)
    return "empty start line";
  return NULL;
}

static int valid_key(const char *k, size_t n) {
  if (n != P2P_WS_KEY_LEN || k[22] != '=' || k[23] != '=')
    return 0;
  for (size_t i = 0; i < 22; i++)
    if (!is_b64_char(k[i]))
      return 0;
  return 1;
}

static ssize_t server_reject(p2p_ws *ws, int version, const char *reason) {
  static const char bad[] = "HTTP/1.1 400 Bad Request\r\n"
                            "Connection: close\r\n"
                            "Content-Length: 0\r\n\r\n";
  static const char upg[] = "HTTP/1.1 426 Upgrade Required\r\n"
                            "Sec-WebSocket-Version: 13\r\n"
                            "Connection: close\r\n"
                            "Content-Length: 0\r\n\r\n";
  if (version)
    (void)buf_put(&ws->out, upg, sizeof(upg) - 1);
  else
    (void)buf_put(&ws->out, bad, sizeof(bad) - 1);
  return fail(ws, P2P_ERR_PROTO, 0, reason);
}

static int put_str(bytebuf *b, const char *s) {
  return buf_put(b, s, strlen(s));
}

static ssize_t server_handshake(p2p_ws *ws, const char *hs, size_t n) {
  hs_fields f;
  const char *why = parse_headers(hs, n, &f);
  if (why != NULL)
    return server_reject(ws, 0, why);
  /* Request line: GET SP target SP HTTP/1.1 */
  const char *l = f.line;
  size_t ll = f.line_len;
  if (ll < 4 || memcmp(l, "GET ", 4) != 0)
    return server_reject(ws, 0, "request method is not GET");
  const char *t = l + 4;
  const char *sp = memchr(t, ' ', ll - 4);
  if (sp == NULL || sp == t)
    return server_reject(ws, 0, "malformed request line");
  size_t tlen = (size_t)(sp - t);
  size_t rest = ll - 4 - tlen - 1;
  if (rest != 8 || memcmp(sp + 1, "HTTP/1.1", 8) != 0)
    return server_reject(ws, 0, "request is not HTTP/1.1");
  if (tlen > P2P_WS_MAX_TARGET_LEN || t[0] != '/')
    return server_reject(ws, 0, "bad request target");
  if (f.dup)
    return server_reject(ws, 0, "duplicate handshake header");
  if (!f.host)
    return server_reject(ws, 0, "missing Host header");
  if (!f.upgrade)
    return server_reject(ws, 0, "missing Upgrade: websocket");
  if (!f.connection)
    return server_reject(ws, 0, "missing Connection: Upgrade");
  if (f.version == NULL || f.version_len != 2 ||
      memcmp(f.version, "13", 2) != 0)
    return server_reject(ws, 1, "unsupported Sec-WebSocket-Version");
  if (f.key == NULL || !valid_key(f.key, f.key_len))
    return server_reject(ws, 0, "bad Sec-WebSocket-Key");
  memcpy(ws->path, t, tlen);
  ws->path[tlen] = '\0';
  char acc[P2P_WS_ACCEPT_LEN + 1];
  p2p_ws_accept_for_key(f.key, f.key_len, acc);
  int r = put_str(&ws->out, "HTTP/1.1 101 Switching Protocols\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: ");
  if (r == 0)
    r = put_str(&ws->out, acc);
  if (r == 0)
    r = put_str(&ws->out, "\r\n\r\n");
  if (r != 0)
    return fail(ws, r, 0, "out of memory");
  ws->state = P2P_WS_OPEN;
  return 0;
}

static ssize_t client_handshake(p2p_ws *ws, const char *hs, size_t n) {
  hs_fields f;
  const char *why = parse_headers(hs, n, &f);
  if (why != NULL)
    return fail(ws, P2P_ERR_PROTO, 0, why);
  /* Status line: HTTP/1.1 SP 101 [SP reason] */
  if (f.line_len < 12 || memcmp(f.line, "HTTP/1.1 101", 12) != 0 ||
      (f.line_len > 12 && f.line[12] != ' '))
    return fail(ws, P2P_ERR_PROTO, 0, "status is not HTTP/1.1 101");
  if (f.dup)
    return fail(ws, P2P_ERR_PROTO, 0, "duplicate handshake header");
  if (!f.upgrade)
    return fail(ws, P2P_ERR_PROTO, 0, "missing Upgrade: websocket");
  if (!f.connection)
    return fail(ws, P2P_ERR_PROTO, 0, "missing Connection: Upgrade");
  char acc[P2P_WS_ACCEPT_LEN + 1];
  p2p_ws_accept_for_key(ws->key, P2P_WS_KEY_LEN, acc);
  if (f.accept == NULL || f.accept_len != P2P_WS_ACCEPT_LEN ||
      memcmp(f.accept, acc, P2P_WS_ACCEPT_LEN) != 0)
    return fail(ws, P2P_ERR_PROTO, 0, "wrong Sec-WebSocket-Accept");
  if (f.ext)
    return fail(ws, P2P_ERR_PROTO, 0, "unrequested extension");
  if (f.proto)
    return fail(ws, P2P_ERR_PROTO, 0, "unrequested subprotocol");
  ws->state = P2P_WS_OPEN;
  return 0;
}

/* Collects header bytes up to the blank line. Returns bytes consumed
 * (the handshake is done when the state changed) or an error. */
static ssize_t recv_handshake(p2p_ws *ws, const uint8_t *buf, size_t len) {
  size_t i = 0;
  while (i < len) {
    if (ws->hs_len == sizeof(ws->hs)) {
      if (ws->role == P2P_WS_SERVER)
        (void)server_reject(ws, 0, "header block too large");
      return fail(ws, P2P_ERR_LIMIT, 0, "header block too large");
    }
    ws->hs[ws->hs_len++] = buf[i++];
    if (ws->hs_len >= 4 &&
        memcmp(ws->hs + ws->hs_len - 4, "\r\n\r\n", 4) == 0) {
      ssize_t r = ws->role == P2P_WS_SERVER
                      ? server_handshake(ws, (const char *)ws->hs, ws->hs_len)
                      : client_handshake(ws, (const char *)ws->hs, ws->hs_len);
      if (r < 0)
        return r;
      break;
    }
  }
  return (ssize_t)i;
}

/* ---- frames ---- */

static ssize_t on_control(p2p_ws *ws) {
  switch (ws->opcode) {
  case OP_PING:
    if (!ws->close_sent) {
      if (queue_frame(ws, OP_PONG, ws->ctl, ws->ctl_len) != 0)
        return fail(ws, P2P_ERR_NOMEM, 0, "out of memory");
      ws->auto_bytes += ws->ctl_len + 6;
    }
    return 0;
  case OP_PONG: return 0;
  default: /* OP_CLOSE */ break;
  }
  unsigned code = 1005;
  if (ws->ctl_len == 1)
    return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                "close frame with a 1-byte payload");
  if (ws->ctl_len >= 2) {
    code = (unsigned)ws->ctl[0] << 8 | ws->ctl[1];
    if (code < 1000 || code >= 5000 || code == 1004 || code == 1005 ||
        code == 1006 || code == 1015 || (code > 1014 && code < 3000))
      return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                  "invalid close status code");
  }
  ws->close_rcvd = 1;
  ws->peer_code = code;
  if (!ws->close_sent) {
    /* Echo the status code, as RFC 6455 section 5.5.1 suggests. */
    if (queue_close(ws, code == 1005 ? 0 : code) != 0)
      return fail(ws, P2P_ERR_NOMEM, 0, "out of memory");
  }
  ws->state = P2P_WS_CLOSED;
  return 0;
}

/* Validates a frame header as soon as its first two bytes are in, then
 * sets hdr_need to the full header length. */
static ssize_t check_hdr2(p2p_ws *ws) {
  uint8_t b0 = ws->hdr[0], b1 = ws->hdr[1];
  ws->fin = (b0 & 0x80) != 0;
  ws->opcode = b0 & 0x0f;
  ws->masked = (b1 & 0x80) != 0;
  unsigned l7 = b1 & 0x7f;
  if (b0 & 0x70)
    return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL, "RSV bits set");
  switch (ws->opcode) {
  case OP_CONT:
    if (!ws->in_msg)
      return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                  "continuation frame outside a message");
    break;
  case OP_BIN:
    if (ws->in_msg)
      return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                  "new message inside a fragmented one");
    break;
  case OP_TEXT:
    return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_UNSUPPORTED,
                "text frame (libp2p uses binary frames)");
  case OP_CLOSE:
  case OP_PING:
  case OP_PONG:
    if (!ws->fin)
      return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                  "fragmented control frame");
    if (l7 > P2P_WS_MAX_CONTROL_LEN)
      return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                  "control frame longer than 125 bytes");
    break;
  default:
    return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL, "unknown opcode");
  }
  if (ws->role == P2P_WS_SERVER && !ws->masked)
    return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                "unmasked frame from client");
  if (ws->role == P2P_WS_CLIENT && ws->masked)
    return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                "masked frame from server");
  ws->hdr_need = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + (ws->masked ? 4 : 0);
  return 0;
}

/* Completes a frame header: length, limits, mask key. */
static ssize_t finish_hdr(p2p_ws *ws) {
  unsigned l7 = ws->hdr[1] & 0x7f;
  size_t p = 2;
  uint64_t n = l7;
  if (l7 == 126) {
    n = (uint64_t)ws->hdr[2] << 8 | ws->hdr[3];
    p = 4;
  } else if (l7 == 127) {
    n = 0;
    for (int i = 0; i < 8; i++)
      n = n << 8 | ws->hdr[2 + i];
    p = 10;
    if (n >> 63)
      return fail(ws, P2P_ERR_PROTO, P2P_WS_CLOSE_PROTOCOL,
                  "64-bit length with the top bit set");
  }
  if (ws->masked)
    memcpy(ws->mask, ws->hdr + p, 4);
  if (!is_control(ws->opcode)) {
    if (n > ws->max_message_len || ws->msg_len + n > ws->max_message_len)
      return fail(ws, P2P_ERR_LIMIT, P2P_WS_CLOSE_TOO_BIG,
                  "frame or message too large");
    ws->msg_len += n;
    ws->in_msg = !ws->fin;
  }
  ws->remaining = n;
  ws->pay_off = 0;
  ws->ctl_len = 0;
  ws->fr_state = FR_PAYLOAD;
  return 0;
}

static ssize_t end_frame(p2p_ws *ws) {
  ws->fr_state = FR_HDR;
  ws->hdr_len = 0;
  if (is_control(ws->opcode))
    return on_control(ws);
  if (ws->fin)
    ws->msg_len = 0;
  return 0;
}

static void unmask(p2p_ws *ws, uint8_t *dst, const uint8_t *src, size_t n) {
  if (!ws->masked) {
    memcpy(dst, src, n);
    return;
  }
  for (size_t i = 0; i < n; i++)
    dst[i] = src[i] ^ ws->mask[(ws->pay_off + i) & 3];
}

static ssize_t recv_frames(p2p_ws *ws, const uint8_t *buf, size_t len) {
  size_t i = 0;
  while (i < len && ws->state != P2P_WS_CLOSED) {
    if (ws->fr_state == FR_HDR) {
      if (ws->hdr_len == 0 && ws->auto_bytes > AUTO_REPLY_LIMIT)
        break;
      if (ws->hdr_len < 2) {
        ws->hdr[ws->hdr_len++] = buf[i++];
        if (ws->hdr_len == 2) {
          ssize_t r = check_hdr2(ws);
          if (r < 0)
            return r;
        } else {
          continue;
        }
      } else {
        size_t take = ws->hdr_need - ws->hdr_len;
        if (take > len - i)
          take = len - i;
        memcpy(ws->hdr + ws->hdr_len, buf + i, take);
        ws->hdr_len += take;
        i += take;
      }
      if (ws->hdr_len == ws->hdr_need) {
        ssize_t r = finish_hdr(ws);
        if (r == 0 && ws->remaining == 0)
          r = end_frame(ws);
        if (r < 0)
          return r;
      }
      continue;
    }
    /* FR_PAYLOAD */
    size_t take = len - i;
    if ((uint64_t)take > ws->remaining)
      take = (size_t)ws->remaining;
    if (is_control(ws->opcode)) {
      unmask(ws, ws->ctl + ws->ctl_len, buf + i, take);
      ws->ctl_len += take;
    } else {
      size_t room = ws->rx.len < ws->max_read_buffer
                        ? ws->max_read_buffer - ws->rx.len
                        : 0;
      if (take > room)
        take = room;
      if (take == 0)
        break;
      if (buf_reserve(&ws->rx, take) != 0)
        return fail(ws, P2P_ERR_NOMEM, 0, "out of memory");
      unmask(ws, buf_tail(&ws->rx), buf + i, take);
      ws->rx.len += take;
    }
    i += take;
    ws->pay_off += take;
    ws->remaining -= take;
    if (ws->remaining == 0) {
      ssize_t r = end_frame(ws);
      if (r < 0)
        return r;
    }
  }
  if (ws->state == P2P_WS_CLOSED)
    return (ssize_t)len; /* nothing follows a close frame */
  return (ssize_t)i;
}

/* ---- public API ---- */

static int valid_target(const char *s) {
  size_t n;
  if (s == NULL)
    return 0;
  n = strlen(s);
  if (n == 0 || n > P2P_WS_MAX_TARGET_LEN)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
      return 0;
  return 1;
}

int p2p_ws_new(p2p_ws **out, int role, const p2p_ws_config *cfg,
               const p2p_rand *rand) {
  if (out == NULL)
    return P2P_ERR_INVALID;
  *out = NULL;
  if ((role != P2P_WS_CLIENT && role != P2P_WS_SERVER) || rand == NULL ||
      rand->fill == NULL)
    return P2P_ERR_INVALID;
  if (role == P2P_WS_CLIENT &&
      (cfg == NULL || !valid_target(cfg->host) || !valid_target(cfg->path) ||
       cfg->path[0] != '/'))
    return P2P_ERR_INVALID;
  p2p_ws *ws = calloc(1, sizeof(*ws));
  if (ws == NULL)
    return P2P_ERR_NOMEM;
  ws->role = role;
  ws->rand = rand;
  ws->max_frame_len = P2P_WS_DEFAULT_MAX_FRAME_LEN;
  ws->max_message_len = P2P_WS_DEFAULT_MAX_MESSAGE_LEN;
  ws->max_read_buffer = P2P_WS_DEFAULT_MAX_READ_BUFFER;
  if (cfg != NULL) {
    if (cfg->max_frame_len)
      ws->max_frame_len = cfg->max_frame_len;
    if (cfg->max_message_len)
      ws->max_message_len = cfg->max_message_len;
    if (cfg->max_read_buffer)
      ws->max_read_buffer = cfg->max_read_buffer;
  }
  if (role == P2P_WS_CLIENT) {
    uint8_t nonce[16];
    p2p_rand_fill(rand, nonce, sizeof(nonce));
    b64_encode(nonce, sizeof(nonce), ws->key);
    strcpy(ws->host, cfg->host);
    strcpy(ws->path, cfg->path);
    int r = put_str(&ws->out, "GET ");
    if (r == 0)
      r = put_str(&ws->out, ws->path);
    if (r == 0)
      r = put_str(&ws->out, " HTTP/1.1\r\nHost: ");
    if (r == 0)
      r = put_str(&ws->out, ws->host);
    if (r == 0)
      r = put_str(&ws->out, "\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Key: ");
    if (r == 0)
      r = put_str(&ws->out, ws->key);
    if (r == 0)
      r = put_str(&ws->out, "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    if (r != 0) {
      p2p_ws_del(ws);
      return P2P_ERR_NOMEM;
    }
  }
  *out = ws;
  return 0;
}

void p2p_ws_del(p2p_ws *ws) {
  if (ws == NULL)
    return;
  free(ws->out.p);
  free(ws->rx.p);
  free(ws);
}

ssize_t p2p_ws_recv(p2p_ws *ws, const uint8_t *buf, size_t len) {
  if (ws == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  if (ws->state == P2P_WS_FAILED)
    return ws->err;
  if (ws->state == P2P_WS_CLOSED)
    return (ssize_t)len;
  size_t used = 0;
  if (ws->state == P2P_WS_HANDSHAKE) {
    ssize_t r = recv_handshake(ws, buf, len);
    if (r < 0)
      return r;
    used = (size_t)r;
    if (ws->state == P2P_WS_HANDSHAKE)
      return r;
  }
  ssize_t r = recv_frames(ws, buf + used, len - used);
  if (r < 0)
    return r;
  return (ssize_t)used + r;
}

ssize_t p2p_ws_send(p2p_ws *ws, uint8_t *out, size_t cap) {
  if (ws == NULL || (out == NULL && cap > 0))
    return P2P_ERR_INVALID;
  size_t n = buf_take(&ws->out, out, cap);
  if (ws->out.len == 0)
    ws->auto_bytes = 0;
  return (ssize_t)n;
}

size_t p2p_ws_pending(const p2p_ws *ws) {
  return ws ? ws->out.len : 0;
}

int p2p_ws_write(p2p_ws *ws, const uint8_t *buf, size_t len) {
  if (ws == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  if (ws->state != P2P_WS_OPEN)
    return P2P_ERR_STATE;
  size_t frames = len / ws->max_frame_len + 1;
  /* Reserve everything first so a failure queues nothing. */
  if (frames > (SIZE_MAX - len) / 14)
    return P2P_ERR_NOMEM;
  int r = buf_reserve(&ws->out, len + frames * 14);
  if (r != 0)
    return r;
  size_t off = 0;
  while (off < len) {
    size_t n = len - off;
    if (n > ws->max_frame_len)
      n = ws->max_frame_len;
    r = queue_frame(ws, OP_BIN, buf + off, n);
    if (r != 0)
      return r; /* not reached: the space is reserved */
    off += n;
  }
  return 0;
}

ssize_t p2p_ws_read(p2p_ws *ws, uint8_t *out, size_t cap) {
  if (ws == NULL || (out == NULL && cap > 0))
    return P2P_ERR_INVALID;
  return (ssize_t)buf_take(&ws->rx, out, cap);
}

size_t p2p_ws_readable(const p2p_ws *ws) {
  return ws ? ws->rx.len : 0;
}

int p2p_ws_close(p2p_ws *ws, uint16_t code) {
  if (ws == NULL)
    return P2P_ERR_INVALID;
  if (code != 0 &&
      (code < 1000 || code >= 5000 || code == 1004 || code == 1005 ||
       code == 1006 || code == 1015 || (code > 1014 && code < 3000)))
    return P2P_ERR_INVALID;
  if (ws->state == P2P_WS_CLOSED && ws->close_rcvd)
    return 0;
  if (ws->state != P2P_WS_OPEN)
    return P2P_ERR_STATE;
  int r = queue_close(ws, code);
  if (r != 0) {
    ws->close_sent = 0;
    return r;
  }
  ws->state = P2P_WS_CLOSING;
  return 0;
}

int p2p_ws_eof(const p2p_ws *ws) {
  return ws ? ws->close_rcvd : 0;
}

unsigned p2p_ws_peer_close_code(const p2p_ws *ws) {
  return ws ? ws->peer_code : 0;
}

int p2p_ws_state(const p2p_ws *ws) {
  return ws ? ws->state : P2P_WS_FAILED;
}

int p2p_ws_error(const p2p_ws *ws) {
  return ws ? ws->err : P2P_ERR_INVALID;
}

const char *p2p_ws_reason(const p2p_ws *ws) {
  return ws ? ws->reason : NULL;
}

const char *p2p_ws_path(const p2p_ws *ws) {
  return ws && ws->path[0] ? ws->path : NULL;
}
