/*
 * tests/core/test_websocket.c - WebSocket codec (core/src/websocket.c).
 */
#include "fixture.h"
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/websocket.h"

/* A random source that first replays `script`, then counts upwards. */
typedef struct test_rand {
  const uint8_t *script;
  size_t len, pos;
  uint8_t ctr;
} test_rand;

static void test_fill(void *ctx, uint8_t *buf, size_t len) {
  test_rand *t = ctx;
  for (size_t i = 0; i < len; i++)
    buf[i] = t->pos < t->len ? t->script[t->pos++] : t->ctr++;
}

static test_rand trand_state;
static p2p_rand trand = {test_fill, &trand_state};

static void set_script(const uint8_t *s, size_t n) {
  trand_state.script = s;
  trand_state.len = n;
  trand_state.pos = 0;
  trand_state.ctr = 7;
}

/* The RFC 6455 section 1.3 sample nonce as raw bytes, so the client's key
 * is "dGhlIHNhbXBsZSBub25jZQ==". */
static const uint8_t sample_nonce[16] = "the sample nonce";

static p2p_ws *client_new(void) {
  p2p_ws_config cfg = {0};
  p2p_ws *c = NULL;
  cfg.host = "example.com";
  cfg.path = "/chat";
  ck_assert_int_eq(p2p_ws_new(&c, P2P_WS_CLIENT, &cfg, &trand), 0);
  return c;
}

static p2p_ws *server_new(void) {
  p2p_ws *s = NULL;
  ck_assert_int_eq(p2p_ws_new(&s, P2P_WS_SERVER, NULL, &trand), 0);
  return s;
}

/* Moves a's output into b, `chunk` bytes at a time, reading what b
 * delivers into sink (if any, advancing *sink_len) whenever b pauses.
 * Returns whether anything moved. */
static int xfer(p2p_ws *a, p2p_ws *b, size_t chunk, uint8_t *sink,
                size_t *sink_len) {
  static uint8_t buf[65536];
  int moved = 0;
  if (chunk > sizeof(buf))
    chunk = sizeof(buf);
  for (;;) {
    ssize_t n = p2p_ws_send(a, buf, chunk);
    ck_assert_int_ge(n, 0);
    if (n == 0)
      break;
    moved = 1;
    ssize_t off = 0;
    while (off < n) {
      ssize_t r = p2p_ws_recv(b, buf + off, (size_t)(n - off));
      if (r < 0)
        return moved;
      off += r;
      if (sink != NULL) {
        ssize_t g = p2p_ws_read(b, sink + *sink_len, 1u << 22);
        ck_assert_int_ge(g, 0);
        *sink_len += (size_t)g;
      } else if (r == 0) {
        uint8_t tmp[4096];
        while (p2p_ws_read(b, tmp, sizeof(tmp)) > 0) {
        }
      }
    }
  }
  return moved;
}

static void pump(p2p_ws *c, p2p_ws *s, size_t chunk) {
  int moved;
  do {
    moved = xfer(c, s, chunk, NULL, NULL);
    moved |= xfer(s, c, chunk, NULL, NULL);
  } while (moved);
}

static void open_pair(p2p_ws **c, p2p_ws **s, size_t chunk) {
  *c = client_new();
  *s = server_new();
  pump(*c, *s, chunk);
  ck_assert_int_eq(p2p_ws_state(*c), P2P_WS_OPEN);
  ck_assert_int_eq(p2p_ws_state(*s), P2P_WS_OPEN);
}

static size_t drain_all(p2p_ws *w, uint8_t *out, size_t cap) {
  ssize_t n = p2p_ws_send(w, out, cap);
  ck_assert_int_ge(n, 0);
  ck_assert_int_eq(p2p_ws_pending(w), 0);
  return (size_t)n;
}

START_TEST(test_ws_accept_matches_rfc6455_section_1_3_example) {
  char acc[P2P_WS_ACCEPT_LEN + 1];
  p2p_ws_accept_for_key("dGhlIHNhbXBsZSBub25jZQ==", 24, acc);
  ck_assert_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(test_ws_client_request_carries_key_from_rand) {
  set_script(sample_nonce, 16);
  p2p_ws *c = client_new();
  uint8_t out[1024];
  size_t n = drain_all(c, out, sizeof(out));
  static const char want[] = "GET /chat HTTP/1.1\r\n"
                             "Host: example.com\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n";
  ck_assert_uint_eq(n, sizeof(want) - 1);
  ck_assert(memcmp(out, want, n) == 0);
  ck_assert_int_eq(p2p_ws_state(c), P2P_WS_HANDSHAKE);
  ck_assert_int_eq(p2p_ws_write(c, (const uint8_t *)"x", 1), P2P_ERR_STATE);
  p2p_ws_del(c);
}
END_TEST

START_TEST(test_ws_server_answers_rfc_request_with_rfc_accept) {
  static const char req[] = "GET /chat HTTP/1.1\r\n"
                            "Host: server.example.com\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: keep-alive, Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            "Origin: http://example.com\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n";
  p2p_ws *s = server_new();
  ck_assert_int_eq(p2p_ws_recv(s, (const uint8_t *)req, sizeof(req) - 1),
                   (ssize_t)(sizeof(req) - 1));
  ck_assert_int_eq(p2p_ws_state(s), P2P_WS_OPEN);
  ck_assert_str_eq(p2p_ws_path(s), "/chat");
  uint8_t out[1024];
  size_t n = drain_all(s, out, sizeof(out));
  static const char want[] =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  ck_assert_uint_eq(n, sizeof(want) - 1);
  ck_assert(memcmp(out, want, n) == 0);
  p2p_ws_del(s);
}
END_TEST

START_TEST(test_ws_client_frame_is_masked_like_rfc_5_7_example) {
  static const uint8_t script[20] = {'t', 'h', 'e',  ' ',  's',  'a', 'm',
                                     'p', 'l', 'e',  ' ',  'n',  'o', 'n',
                                     'c', 'e', 0x37, 0xfa, 0x21, 0x3d};
  set_script(script, sizeof(script));
  p2p_ws *c, *s;
  open_pair(&c, &s, 4096);
  ck_assert_int_eq(p2p_ws_write(c, (const uint8_t *)"Hello", 5), 0);
  uint8_t out[64];
  size_t n = drain_all(c, out, sizeof(out));
  /* RFC 6455 section 5.7 masked "Hello", with the binary opcode. */
  static const uint8_t want[] = {0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  ck_assert_uint_eq(n, sizeof(want));
  ck_assert(memcmp(out, want, n) == 0);
  ck_assert_int_eq(p2p_ws_recv(s, out, n), (ssize_t)n);
  uint8_t got[8];
  ck_assert_int_eq(p2p_ws_read(s, got, sizeof(got)), 5);
  ck_assert(memcmp(got, "Hello", 5) == 0);
  p2p_ws_del(c);
  p2p_ws_del(s);
}
END_TEST

START_TEST(test_ws_server_frame_is_unmasked_binary_hello) {
  set_script(NULL, 0);
  p2p_ws *c, *s;
  open_pair(&c, &s, 4096);
  ck_assert_int_eq(p2p_ws_write(s, (const uint8_t *)"Hello", 5), 0);
  uint8_t out[64];
  size_t n = drain_all(s, out, sizeof(out));
  static const uint8_t want[] = {0x82, 0x05, 'H', 'e', 'l', 'l', 'o'};
  ck_assert_uint_eq(n, sizeof(want));
  ck_assert(memcmp(out, want, n) == 0);
  p2p_ws_del(c);
  p2p_ws_del(s);
}
END_TEST

/* Sends 1 MB each way through the pipe in `chunk`-byte pieces. */
static void megabyte_both_ways(size_t chunk) {
  const size_t total = 1000000;
  uint8_t *a = malloc(total), *b = malloc(total);
  uint8_t *ra = malloc(total), *rb = malloc(total);
  size_t ra_len = 0, rb_len = 0;
  ck_assert(a && b && ra && rb);
  for (size_t i = 0; i < total; i++) {
    a[i] = (uint8_t)(i * 7 + 1);
    b[i] = (uint8_t)(i * 13 + (i >> 9));
  }
  set_script(NULL, 0);
  p2p_ws *c, *s;
  open_pair(&c, &s, chunk);
  ck_assert_int_eq(p2p_ws_write(c, a, total), 0);
  ck_assert_int_eq(p2p_ws_write(s, b, total), 0);
  int moved;
  do {
    moved = xfer(c, s, chunk, ra, &ra_len);
    moved |= xfer(s, c, chunk, rb, &rb_len);
  } while (moved);
  ck_assert_uint_eq(ra_len, total);
  ck_assert_uint_eq(rb_len, total);
  ck_assert(memcmp(ra, a, total) == 0);
  ck_assert(memcmp(rb, b, total) == 0);
  ck_assert_int_eq(p2p_ws_state(c), P2P_WS_OPEN);
  ck_assert_int_eq(p2p_ws_state(s), P2P_WS_OPEN);
  p2p_ws_del(c);
  p2p_ws_del(s);
  free(a), free(b), free(ra), free(rb);
}

START_TEST(test_ws_megabyte_both_ways_is_byte_exact) {
  megabyte_both_ways(65536);
}
END_TEST

START_TEST(test_ws_megabyte_in_odd_pieces_is_byte_exact) {
  megabyte_both_ways(777);
}
END_TEST

START_TEST(test_ws_byte_at_a_time_handshake_and_data) {
  set_script(NULL, 0);
  p2p_ws *c, *s;
  open_pair(&c, &s, 1);
  uint8_t data[300], got[300];
  size_t got_len = 0;
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)i;
  ck_assert_int_eq(p2p_ws_write(c, data, sizeof(data)), 0);
  ck_assert_int_eq(p2p_ws_write(c, data, 0), 0);
  xfer(c, s, 1, got, &got_len);
  ck_assert_uint_eq(got_len, sizeof(data));
  ck_assert(memcmp(got, data, sizeof(data)) == 0);
  p2p_ws_del(c);
  p2p_ws_del(s);
}
END_TEST

START_TEST(test_ws_large_write_is_cut_into_max_size_frames) {
  p2p_ws_config cfg = {0};
  p2p_ws *s = NULL;
  cfg.max_frame_len = 100;
  ck_assert_int_eq(p2p_ws_new(&s, P2P_WS_SERVER, &cfg, &trand), 0);
  static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n"
                            "Upgrade: WebSocket\r\nConnection: upgrade\r\n"
                            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n";
  ck_assert_int_eq(p2p_ws_recv(s, (const uint8_t *)req, sizeof(req) - 1),
                   (ssize_t)(sizeof(req) - 1));
  uint8_t out[1024];
  (void)drain_all(s, out, sizeof(out));
  uint8_t data[250];
  memset(data, 'z', sizeof(data));
  ck_assert_int_eq(p2p_ws_write(s, data, sizeof(data)), 0);
  size_t n = drain_all(s, out, sizeof(out));
  ck_assert_uint_eq(n, 3 * 2 + 250);
  ck_assert_uint_eq(out[0], 0x82);
  ck_assert_uint_eq(out[1], 100);
  ck_assert_uint_eq(out[102], 0x82);
  ck_assert_uint_eq(out[103], 100);
  ck_assert_uint_eq(out[204], 0x82);
  ck_assert_uint_eq(out[205], 50);
  p2p_ws_del(s);
}
END_TEST

/* Builds a server-to-client frame (unmasked). */
static size_t frame(uint8_t *o, uint8_t b0, const void *p, size_t n) {
  o[0] = b0;
  o[1] = (uint8_t)n;
  memcpy(o + 2, p, n);
  return n + 2;
}

START_TEST(test_ws_fragmented_message_with_ping_between_is_reassembled) {
  set_script(NULL, 0);
  p2p_ws *c, *s;
  open_pair(&c, &s, 4096);
  uint8_t in[64], out[64], got[16];
  size_t n = 0;
  n += frame(in + n, 0x02, "Hel", 3); /* binary, no FIN */
  n += frame(in + n, 0x89, "pi", 2);  /* ping in between */
  n += frame(in + n, 0x00, "l", 1);   /* continuation */
  n += frame(in + n, 0x8a, "x", 1);   /* unsolicited pong: ignored */
  n += frame(in + n, 0x80, "o", 1);   /* final continuation */
  for (size_t i = 0; i < n; i++)
    ck_assert_int_eq(p2p_ws_recv(c, in + i, 1), 1);
  ck_assert_int_eq(p2p_ws_read(c, got, sizeof(got)), 5);
  ck_assert(memcmp(got, "Hello", 5) == 0);
  /* The pong echoes the ping's payload, masked by the client. */
  size_t m = drain_all(c, out, sizeof(out));
  ck_assert_uint_eq(m, 2 + 4 + 2);
  ck_assert_uint_eq(out[0], 0x8a);
  ck_assert_uint_eq(out[1], 0x82);
  ck_assert_uint_eq(out[6] ^ out[2], 'p');
  ck_assert_uint_eq(out[7] ^ out[3], 'i');
  ck_assert_int_eq(p2p_ws_recv(s, out, m), (ssize_t)m);
  ck_assert_int_eq(p2p_ws_state(s), P2P_WS_OPEN);
  p2p_ws_del(c);
  p2p_ws_del(s);
}
END_TEST

START_TEST(test_ws_close_handshake_reports_eof_on_both_sides) {
  set_script(NULL, 0);
  p2p_ws *c, *s;
  open_pair(&c, &s, 4096);
  ck_assert_int_eq(p2p_ws_write(c, (const uint8_t *)"bye", 3), 0);
  ck_assert_int_eq(p2p_ws_close(c, P2P_WS_CLOSE_NORMAL), 0);
  ck_assert_int_eq(p2p_ws_state(c), P2P_WS_CLOSING);
  ck_assert_int_eq(p2p_ws_write(c, (const uint8_t *)"x", 1), P2P_ERR_STATE);
  ck_assert_int_eq(p2p_ws_close(c, P2P_WS_CLOSE_NORMAL), P2P_ERR_STATE);
  uint8_t got[8];
  size_t got_len = 0;
  xfer(c, s, 4096, got, &got_len);
  ck_assert_uint_eq(got_len, 3);
  ck_assert(memcmp(got, "bye", 3) == 0);
  ck_assert(p2p_ws_eof(s));
  ck_assert_uint_eq(p2p_ws_peer_close_code(s), 1000);
  ck_assert_int_eq(p2p_ws_state(s), P2P_WS_CLOSED);
  ck_assert_int_eq(p2p_ws_write(s, (const uint8_t *)"x", 1), P2P_ERR_STATE);
  /* The server echoed the close; the client completes its handshake. */
  uint8_t out[16];
  size_t n = drain_all(s, out, sizeof(out));
  static const uint8_t echo[] = {0x88, 0x02, 0x03, 0xe8};
  ck_assert_uint_eq(n, sizeof(echo));
  ck_assert(memcmp(out, echo, n) == 0);
  ck_assert_int_eq(p2p_ws_recv(c, out, n), (ssize_t)n);
  ck_assert_int_eq(p2p_ws_state(c), P2P_WS_CLOSED);
  ck_assert(p2p_ws_eof(c));
  ck_assert_int_eq(p2p_ws_error(c), 0);
  ck_assert_ptr_null(p2p_ws_reason(c));
  p2p_ws_del(c);
  p2p_ws_del(s);
}
END_TEST

START_TEST(test_ws_ping_flood_pauses_until_pongs_are_drained) {
  set_script(NULL, 0);
  p2p_ws *c, *s;
  open_pair(&c, &s, 4096);
  static uint8_t in[2000 * 127];
  uint8_t pay[125];
  memset(pay, 'p', sizeof(pay));
  size_t n = 0;
  for (int i = 0; i < 2000; i++) {
    in[n] = 0x89;
    in[n + 1] = 125;
    memcpy(in + n + 2, pay, 125);
    n += 127;
  }
  ssize_t r = p2p_ws_recv(c, in, n);
  ck_assert_int_gt(r, 0);
  ck_assert_int_lt(r, (ssize_t)n);
  ck_assert_int_eq(p2p_ws_recv(c, in + r, n - (size_t)r), 0);
  static uint8_t out[2000 * 131];
  size_t m = drain_all(c, out, sizeof(out));
  ck_assert_uint_gt(m, 0);
  ck_assert_int_gt(p2p_ws_recv(c, in + r, n - (size_t)r), 0);
  p2p_ws_del(c);
  p2p_ws_del(s);
}
END_TEST

START_TEST(test_ws_full_read_buffer_pauses_input) {
  p2p_ws_config cfg = {0};
  p2p_ws *c = NULL, *s = NULL;
  set_script(NULL, 0);
  cfg.host = "h";
  cfg.path = "/";
  cfg.max_read_buffer = 10;
  ck_assert_int_eq(p2p_ws_new(&c, P2P_WS_CLIENT, &cfg, &trand), 0);
  s = server_new();
  pump(c, s, 4096);
  ck_assert_int_eq(p2p_ws_state(c), P2P_WS_OPEN);
  uint8_t data[25], out[64], got[32];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t)('a' + i);
  ck_assert_int_eq(p2p_ws_write(s, data, sizeof(data)), 0);
  size_t n = drain_all(s, out, sizeof(out));
  ck_assert_int_eq(p2p_ws_recv(c, out, n), 12);
  ck_assert_int_eq(p2p_ws_recv(c, out + 12, n - 12), 0);
  ck_assert_uint_eq(p2p_ws_readable(c), 10);
  ck_assert_int_eq(p2p_ws_read(c, got, 10), 10);
  ck_assert_int_eq(p2p_ws_recv(c, out + 12, n - 12), 10);
  ck_assert_int_eq(p2p_ws_read(c, got + 10, 10), 10);
  ck_assert_int_eq(p2p_ws_recv(c, out + 22, n - 22), 5);
  ck_assert_int_eq(p2p_ws_read(c, got + 20, 10), 5);
  ck_assert(memcmp(got, data, sizeof(data)) == 0);
  p2p_ws_del(c);
  p2p_ws_del(s);
}
END_TEST

START_TEST(test_ws_new_rejects_bad_arguments) {
  p2p_ws *w = NULL;
  p2p_ws_config cfg = {0};
  ck_assert_int_eq(p2p_ws_new(&w, P2P_WS_CLIENT, NULL, &trand),
                   P2P_ERR_INVALID);
  cfg.host = "h";
  cfg.path = "no-slash";
  ck_assert_int_eq(p2p_ws_new(&w, P2P_WS_CLIENT, &cfg, &trand),
                   P2P_ERR_INVALID);
  cfg.path = "/a b";
  ck_assert_int_eq(p2p_ws_new(&w, P2P_WS_CLIENT, &cfg, &trand),
                   P2P_ERR_INVALID);
  cfg.path = "/";
  cfg.host = "h\r\nX: y";
  ck_assert_int_eq(p2p_ws_new(&w, P2P_WS_CLIENT, &cfg, &trand),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_ws_new(&w, 7, NULL, &trand), P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_ws_new(&w, P2P_WS_SERVER, NULL, NULL), P2P_ERR_INVALID);
  ck_assert_ptr_null(w);
}
END_TEST

/* ---- malformed input ---- */

#define GOOD_REQ_HEAD "GET / HTTP/1.1\r\nHost: h\r\n"
#define GOOD_UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define GOOD_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define GOOD_VER "Sec-WebSocket-Version: 13\r\n"
#define GOOD_ACC "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

typedef struct bad_case {
  int role;       /* who receives the input */
  const char *in; /* after the handshake when `open` */
  size_t len;     /* 0: strlen(in) */
  int open;       /* complete the handshake first */
  int err;
  unsigned close_code; /* close frame expected in the output, or 0 */
  const char *answer;  /* server's HTTP answer prefix, or NULL */
} bad_case;

static const bad_case bad_cases[] = {
    /* 0: client: status is not 101 */
    {P2P_WS_CLIENT, "HTTP/1.1 200 OK\r\n" GOOD_UPG GOOD_ACC "\r\n", 0, 0,
     P2P_ERR_PROTO, 0, NULL},
    /* 1: client: wrong accept */
    {P2P_WS_CLIENT,
     "HTTP/1.1 101 Switching Protocols\r\n" GOOD_UPG
     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n\r\n",
     0, 0, P2P_ERR_PROTO, 0, NULL},
    /* 2: client: missing Upgrade */
    {P2P_WS_CLIENT,
     "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" GOOD_ACC
     "\r\n",
     0, 0, P2P_ERR_PROTO, 0, NULL},
    /* 3: client: missing Connection */
    {P2P_WS_CLIENT,
     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" GOOD_ACC
     "\r\n",
     0, 0, P2P_ERR_PROTO, 0, NULL},
    /* 4: client: HTTP/1.0 status */
    {P2P_WS_CLIENT, "HTTP/1.0 101 X\r\n" GOOD_UPG GOOD_ACC "\r\n", 0, 0,
     P2P_ERR_PROTO, 0, NULL},
    /* 5: client: unrequested extension */
    {P2P_WS_CLIENT,
     "HTTP/1.1 101 S\r\n" GOOD_UPG GOOD_ACC
     "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
     0, 0, P2P_ERR_PROTO, 0, NULL},
    /* 6: server: bad version */
    {P2P_WS_SERVER,
     GOOD_REQ_HEAD GOOD_UPG GOOD_KEY "Sec-WebSocket-Version: 8\r\n\r\n", 0, 0,
     P2P_ERR_PROTO, 0, "HTTP/1.1 426 "},
    /* 7: server: POST */
    {P2P_WS_SERVER,
     "POST / HTTP/1.1\r\nHost: h\r\n" GOOD_UPG GOOD_KEY GOOD_VER "\r\n", 0, 0,
     P2P_ERR_PROTO, 0, "HTTP/1.1 400 "},
    /* 8: server: missing Upgrade */
    {P2P_WS_SERVER,
     GOOD_REQ_HEAD "Connection: Upgrade\r\n" GOOD_KEY GOOD_VER "\r\n", 0, 0,
     P2P_ERR_PROTO, 0, "HTTP/1.1 400 "},
    /* 9: server: key of the wrong length */
    {P2P_WS_SERVER,
     GOOD_REQ_HEAD GOOD_UPG "Sec-WebSocket-Key: abc=\r\n" GOOD_VER "\r\n", 0, 0,
     P2P_ERR_PROTO, 0, "HTTP/1.1 400 "},
    /* 10: server: missing Host */
    {P2P_WS_SERVER, "GET / HTTP/1.1\r\n" GOOD_UPG GOOD_KEY GOOD_VER "\r\n", 0,
     0, P2P_ERR_PROTO, 0, "HTTP/1.1 400 "},
    /* 11: server: HTTP/1.0 */
    {P2P_WS_SERVER,
     "GET / HTTP/1.0\r\nHost: h\r\n" GOOD_UPG GOOD_KEY GOOD_VER "\r\n", 0, 0,
     P2P_ERR_PROTO, 0, "HTTP/1.1 400 "},
    /* 12: client: RSV1 set */
    {P2P_WS_CLIENT, "\xc2\x01x", 3, 1, P2P_ERR_PROTO, 1002, NULL},
    /* 13: client: text frame */
    {P2P_WS_CLIENT, "\x81\x05Hello", 7, 1, P2P_ERR_PROTO, 1003, NULL},
    /* 14: client: ping of 126 bytes */
    {P2P_WS_CLIENT, "\x89\x7e\x00\x7e", 4, 1, P2P_ERR_PROTO, 1002, NULL},
    /* 15: client: fragmented ping */
    {P2P_WS_CLIENT, "\x09\x00", 2, 1, P2P_ERR_PROTO, 1002, NULL},
    /* 16: server: unmasked client frame */
    {P2P_WS_SERVER, "\x82\x01x", 3, 1, P2P_ERR_PROTO, 1002, NULL},
    /* 17: client: masked server frame */
    {P2P_WS_CLIENT, "\x82\x81\x01\x02\x03\x04x", 7, 1, P2P_ERR_PROTO, 1002,
     NULL},
    /* 18: client: 64-bit length with the top bit set */
    {P2P_WS_CLIENT, "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10, 1,
     P2P_ERR_PROTO, 1002, NULL},
    /* 19: client: frame above the message limit */
    {P2P_WS_CLIENT, "\x82\x7f\x00\x00\x00\x00\x01\x00\x00\x00", 10, 1,
     P2P_ERR_LIMIT, 1009, NULL},
    /* 20: client: unknown opcode 3 */
    {P2P_WS_CLIENT, "\x83\x00", 2, 1, P2P_ERR_PROTO, 1002, NULL},
    /* 21: client: continuation outside a message */
    {P2P_WS_CLIENT, "\x80\x01x", 3, 1, P2P_ERR_PROTO, 1002, NULL},
    /* 22: client: new binary frame inside a fragmented message */
    {P2P_WS_CLIENT, "\x02\x01x\x82\x01y", 6, 1, P2P_ERR_PROTO, 1002, NULL},
    /* 23: client: close with a 1-byte payload */
    {P2P_WS_CLIENT, "\x88\x01\x03", 3, 1, P2P_ERR_PROTO, 1002, NULL},
    /* 24: client: close with reserved code 1005 */
    {P2P_WS_CLIENT, "\x88\x02\x03\xed", 4, 1, P2P_ERR_PROTO, 1002, NULL},
};

static const char good_resp[] =
    "HTTP/1.1 101 Switching Protocols\r\n" GOOD_UPG GOOD_ACC "\r\n";
static const char good_req[] = GOOD_REQ_HEAD GOOD_UPG GOOD_KEY GOOD_VER "\r\n";

START_TEST(test_ws_malformed_input_fails_with_reason) {
  const bad_case *bc = &bad_cases[_i];
  set_script(sample_nonce, 16);
  p2p_ws *w = bc->role == P2P_WS_CLIENT ? client_new() : server_new();
  uint8_t out[1024];
  (void)drain_all(w, out, sizeof(out));
  if (bc->open) {
    const char *h = bc->role == P2P_WS_CLIENT ? good_resp : good_req;
    ck_assert_int_eq(p2p_ws_recv(w, (const uint8_t *)h, strlen(h)),
                     (ssize_t)strlen(h));
    ck_assert_int_eq(p2p_ws_state(w), P2P_WS_OPEN);
    (void)drain_all(w, out, sizeof(out));
  }
  size_t len = bc->len ? bc->len : strlen(bc->in);
  /* Byte at a time: the error surfaces at some byte, then sticks. */
  ssize_t r = 0;
  for (size_t i = 0; i < len && r >= 0; i++)
    r = p2p_ws_recv(w, (const uint8_t *)bc->in + i, 1);
  ck_assert_int_eq(r, bc->err);
  ck_assert_int_eq(p2p_ws_state(w), P2P_WS_FAILED);
  ck_assert_int_eq(p2p_ws_error(w), bc->err);
  ck_assert_ptr_nonnull(p2p_ws_reason(w));
  ck_assert_int_eq(p2p_ws_recv(w, (const uint8_t *)"x", 1), bc->err);
  ck_assert_int_eq(p2p_ws_write(w, (const uint8_t *)"x", 1), P2P_ERR_STATE);
  size_t n = drain_all(w, out, sizeof(out));
  if (bc->close_code) {
    size_t h = bc->role == P2P_WS_CLIENT ? 6 : 2;
    ck_assert_uint_eq(n, h + 2);
    ck_assert_uint_eq(out[0], 0x88);
    uint8_t c0 = out[h], c1 = out[h + 1];
    if (bc->role == P2P_WS_CLIENT)
      c0 ^= out[2], c1 ^= out[3];
    ck_assert_uint_eq((unsigned)c0 << 8 | c1, bc->close_code);
  } else if (bc->answer) {
    ck_assert_uint_ge(n, strlen(bc->answer));
    ck_assert(memcmp(out, bc->answer, strlen(bc->answer)) == 0);
  } else {
    ck_assert_uint_eq(n, 0);
  }
  p2p_ws_del(w);
}
END_TEST

START_TEST(test_ws_oversized_header_block_fails) {
  p2p_ws *s = server_new();
  static uint8_t junk[P2P_WS_MAX_HEADER_LEN + 10];
  memset(junk, 'a', sizeof(junk));
  ck_assert_int_eq(p2p_ws_recv(s, junk, sizeof(junk)), P2P_ERR_LIMIT);
  ck_assert_int_eq(p2p_ws_state(s), P2P_WS_FAILED);
  ck_assert_ptr_nonnull(p2p_ws_reason(s));
  uint8_t out[256];
  size_t n = drain_all(s, out, sizeof(out));
  ck_assert_uint_gt(n, 12);
  ck_assert(memcmp(out, "HTTP/1.1 400 ", 13) == 0);
  p2p_ws_del(s);
}
END_TEST

START_TEST(test_ws_fragmented_message_above_limit_fails_with_1009) {
  p2p_ws_config cfg = {0};
  p2p_ws *c = NULL, *s;
  set_script(NULL, 0);
  cfg.host = "h";
  cfg.path = "/";
  cfg.max_message_len = 8;
  ck_assert_int_eq(p2p_ws_new(&c, P2P_WS_CLIENT, &cfg, &trand), 0);
  s = server_new();
  pump(c, s, 4096);
  uint8_t in[32];
  size_t n = 0;
  n += frame(in + n, 0x02, "12345", 5);
  n += frame(in + n, 0x80, "6789", 4);
  ck_assert_int_eq(p2p_ws_recv(c, in, n), P2P_ERR_LIMIT);
  ck_assert_uint_eq(p2p_ws_readable(c), 5);
  p2p_ws_del(c);
  p2p_ws_del(s);
}
END_TEST

static Suite *websocket_suite(void) {
  Suite *s = suite_create("websocket");
  TCase *tc = tcase_create("websocket");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_ws_accept_matches_rfc6455_section_1_3_example);
  tcase_add_test(tc, test_ws_client_request_carries_key_from_rand);
  tcase_add_test(tc, test_ws_server_answers_rfc_request_with_rfc_accept);
  tcase_add_test(tc, test_ws_client_frame_is_masked_like_rfc_5_7_example);
  tcase_add_test(tc, test_ws_server_frame_is_unmasked_binary_hello);
  tcase_add_test(tc, test_ws_megabyte_both_ways_is_byte_exact);
  tcase_add_test(tc, test_ws_megabyte_in_odd_pieces_is_byte_exact);
  tcase_add_test(tc, test_ws_byte_at_a_time_handshake_and_data);
  tcase_add_test(tc, test_ws_large_write_is_cut_into_max_size_frames);
  tcase_add_test(tc,
                 test_ws_fragmented_message_with_ping_between_is_reassembled);
  tcase_add_test(tc, test_ws_close_handshake_reports_eof_on_both_sides);
  tcase_add_test(tc, test_ws_ping_flood_pauses_until_pongs_are_drained);
  tcase_add_test(tc, test_ws_full_read_buffer_pauses_input);
  tcase_add_test(tc, test_ws_new_rejects_bad_arguments);
  tcase_add_loop_test(tc, test_ws_malformed_input_fails_with_reason, 0,
                      (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
  tcase_add_test(tc, test_ws_oversized_header_block_fails);
  tcase_add_test(tc, test_ws_fragmented_message_above_limit_fails_with_1009);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(websocket_suite());
}
