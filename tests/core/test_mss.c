/*
 * tests/core/test_mss.c - multistream-select 1.0 (core/src/mss.c).
 */
#include "fixture.h"
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/mss.h"

#define HDR "\x13/multistream/1.0.0\n"
#define HDR_LEN 20

/* Moves everything `a` has queued into `b`, `chunk` bytes per send/recv.
 * Bytes `b` hands back as application data are appended to app (if any).
 * Returns whether anything moved. */
static int xfer(p2p_mss *a, p2p_mss *b, size_t chunk, uint8_t *app,
                size_t *app_len) {
  uint8_t buf[4096];
  int moved = 0;
  for (;;) {
    ssize_t n = p2p_mss_send(a, buf, chunk);
    ck_assert_int_ge(n, 0);
    if (n == 0)
      break;
    moved = 1;
    ssize_t off = 0;
    while (off < n && p2p_mss_state(b) == P2P_MSS_NEGOTIATING) {
      ssize_t r = p2p_mss_recv(b, buf + off, (size_t)(n - off));
      if (r < 0)
        break;
      ck_assert_msg(r > 0 || p2p_mss_state(b) != P2P_MSS_NEGOTIATING,
                    "recv made no progress");
      off += r;
    }
    if (off < n && app != NULL && p2p_mss_state(b) == P2P_MSS_DONE) {
      memcpy(app + *app_len, buf + off, (size_t)(n - off));
      *app_len += (size_t)(n - off);
    }
  }
  return moved;
}

static void run_pair(p2p_mss *d, p2p_mss *l, size_t chunk) {
  int moved;
  do {
    moved = xfer(d, l, chunk, NULL, NULL);
    moved |= xfer(l, d, chunk, NULL, NULL);
  } while (moved);
}

static size_t drain(p2p_mss *m, uint8_t *out, size_t cap) {
  ssize_t n = p2p_mss_send(m, out, cap);
  ck_assert_int_ge(n, 0);
  ck_assert_int_eq(p2p_mss_pending(m), 0);
  return (size_t)n;
}

static p2p_mss *dialer(const char *const *p, size_t n) {
  p2p_mss *m = NULL;
  ck_assert_int_eq(p2p_mss_dialer_new(&m, p, n), 0);
  return m;
}

static p2p_mss *listener(const char *const *p, size_t n) {
  p2p_mss *m = NULL;
  ck_assert_int_eq(p2p_mss_listener_new(&m, p, n, NULL, NULL), 0);
  return m;
}

START_TEST(test_mss_dialer_first_flight_is_header_then_proposal) {
  const char *p[] = {"/ipfs/ping/1.0.0"};
  static const uint8_t want[] = HDR "\x11/ipfs/ping/1.0.0\n";
  uint8_t out[256];
  p2p_mss *d = dialer(p, 1);
  ck_assert_int_eq(p2p_mss_pending(d), sizeof(want) - 1);
  size_t n = drain(d, out, sizeof(out));
  ck_assert_uint_eq(n, sizeof(want) - 1);
  ck_assert_mem_eq(out, want, n);
  ck_assert_int_eq(p2p_mss_state(d), P2P_MSS_NEGOTIATING);
  ck_assert_ptr_null(p2p_mss_selected(d));
  p2p_mss_del(d);
}
END_TEST

START_TEST(test_mss_listener_sends_header_before_any_input) {
  const char *p[] = {"/x"};
  uint8_t out[64];
  p2p_mss *l = listener(p, 1);
  ck_assert_uint_eq(drain(l, out, sizeof(out)), HDR_LEN);
  ck_assert_mem_eq(out, HDR, HDR_LEN);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_first_choice_accepted) {
  const char *dp[] = {"/noise", "/tls/1.0.0"};
  const char *lp[] = {"/tls/1.0.0", "/noise"};
  p2p_mss *d = dialer(dp, 2), *l = listener(lp, 2);
  run_pair(d, l, 4096);
  ck_assert_int_eq(p2p_mss_state(d), P2P_MSS_DONE);
  ck_assert_int_eq(p2p_mss_state(l), P2P_MSS_DONE);
  ck_assert_str_eq(p2p_mss_selected(d), "/noise");
  ck_assert_str_eq(p2p_mss_selected(l), "/noise");
  ck_assert_int_eq(p2p_mss_error(d), 0);
  p2p_mss_del(d);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_refused_with_na_then_second_accepted) {
  const char *dp[] = {"/yamux/1.0.0", "/mplex/6.7.0"};
  const char *lp[] = {"/mplex/6.7.0"};
  static const uint8_t want_l[] = HDR "\x03na\n\x0d/mplex/6.7.0\n";
  static const uint8_t want_d2[] = "\x0d/mplex/6.7.0\n";
  uint8_t buf[256], out[256];
  p2p_mss *d = dialer(dp, 2), *l = listener(lp, 1);
  size_t n = drain(d, buf, sizeof(buf));
  ck_assert_int_eq(p2p_mss_recv(l, buf, n), (ssize_t)n);
  ck_assert_int_eq(p2p_mss_state(l), P2P_MSS_NEGOTIATING);
  n = drain(l, out, sizeof(out));
  ck_assert_uint_eq(n, HDR_LEN + 4);
  ck_assert_mem_eq(out, want_l, n);
  ck_assert_int_eq(p2p_mss_recv(d, out, n), (ssize_t)n);
  /* The refusal makes the dialer propose its next choice, alone. */
  n = drain(d, buf, sizeof(buf));
  ck_assert_uint_eq(n, sizeof(want_d2) - 1);
  ck_assert_mem_eq(buf, want_d2, n);
  ck_assert_int_eq(p2p_mss_recv(l, buf, n), (ssize_t)n);
  ck_assert_int_eq(p2p_mss_state(l), P2P_MSS_DONE);
  n = drain(l, out, sizeof(out));
  ck_assert_mem_eq(out, want_l + HDR_LEN + 4, n);
  ck_assert_int_eq(p2p_mss_recv(d, out, n), (ssize_t)n);
  ck_assert_int_eq(p2p_mss_state(d), P2P_MSS_DONE);
  ck_assert_str_eq(p2p_mss_selected(d), "/mplex/6.7.0");
  ck_assert_str_eq(p2p_mss_selected(l), "/mplex/6.7.0");
  p2p_mss_del(d);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_no_protocol_in_common_fails_both_sides) {
  const char *dp[] = {"/a/1", "/b/1", "/c/1"};
  const char *lp[] = {"/d/1"};
  p2p_mss *d = dialer(dp, 3), *l = listener(lp, 1);
  run_pair(d, l, 4096);
  ck_assert_int_eq(p2p_mss_state(d), P2P_MSS_FAILED);
  ck_assert_int_eq(p2p_mss_error(d), P2P_ERR_NOTFOUND);
  ck_assert_ptr_null(p2p_mss_selected(d));
  /* The listener learns it when the dialer gives up and closes. */
  ck_assert_int_eq(p2p_mss_state(l), P2P_MSS_NEGOTIATING);
  ck_assert_int_eq(p2p_mss_recv_eof(l), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(p2p_mss_state(l), P2P_MSS_FAILED);
  ck_assert_int_eq(p2p_mss_error(l), P2P_ERR_NOTFOUND);
  uint8_t x = 1;
  ck_assert_int_eq(p2p_mss_recv(d, &x, 1), P2P_ERR_NOTFOUND);
  p2p_mss_del(d);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_byte_at_a_time_delivery_negotiates) {
  const char *dp[] = {"/a/1", "/b/1", "/c/1"};
  const char *lp[] = {"/c/1", "/z"};
  p2p_mss *d = dialer(dp, 3), *l = listener(lp, 2);
  run_pair(d, l, 1);
  ck_assert_int_eq(p2p_mss_state(d), P2P_MSS_DONE);
  ck_assert_int_eq(p2p_mss_state(l), P2P_MSS_DONE);
  ck_assert_str_eq(p2p_mss_selected(d), "/c/1");
  ck_assert_str_eq(p2p_mss_selected(l), "/c/1");
  p2p_mss_del(d);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_app_data_after_listener_echo_is_handed_back) {
  const char *p[] = {"/echo/1"};
  static const uint8_t in[] = HDR "\x08/echo/1\nhello";
  uint8_t buf[128];
  p2p_mss *d = dialer(p, 1);
  (void)drain(d, buf, sizeof(buf));
  size_t len = sizeof(in) - 1;
  ssize_t r = p2p_mss_recv(d, in, len);
  ck_assert_int_eq(r, (ssize_t)(len - 5));
  ck_assert_mem_eq(in + r, "hello", 5);
  ck_assert_int_eq(p2p_mss_state(d), P2P_MSS_DONE);
  /* Once done, nothing more is taken. */
  ck_assert_int_eq(p2p_mss_recv(d, in + r, 5), 0);
  p2p_mss_del(d);
}
END_TEST

START_TEST(test_mss_pipelined_dialer_data_is_left_for_listener_app) {
  /* Header, proposal and the first application bytes in one read, as an
   * optimistic dialer sends them. */
  const char *p[] = {"/echo/1"};
  static const uint8_t in[] = HDR "\x08/echo/1\nPING";
  static const uint8_t want[] = HDR "\x08/echo/1\n";
  uint8_t out[128];
  p2p_mss *l = listener(p, 1);
  size_t len = sizeof(in) - 1;
  ssize_t r = p2p_mss_recv(l, in, len);
  ck_assert_int_eq(r, (ssize_t)(len - 4));
  ck_assert_int_eq(p2p_mss_state(l), P2P_MSS_DONE);
  size_t n = drain(l, out, sizeof(out));
  ck_assert_uint_eq(n, sizeof(want) - 1);
  ck_assert_mem_eq(out, want, n);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_app_data_after_echo_survives_byte_at_a_time_input) {
  const char *p[] = {"/x/1"};
  static const uint8_t in[] = HDR "\x05/x/1\nhello";
  uint8_t app[16], buf[64];
  size_t app_len = 0;
  p2p_mss *d = dialer(p, 1);
  (void)drain(d, buf, sizeof(buf));
  for (size_t i = 0; i < sizeof(in) - 1; i++) {
    ssize_t r = p2p_mss_recv(d, in + i, 1);
    ck_assert_int_ge(r, 0);
    if (r == 0)
      app[app_len++] = in[i];
  }
  ck_assert_int_eq(p2p_mss_state(d), P2P_MSS_DONE);
  ck_assert_uint_eq(app_len, 5);
  ck_assert_mem_eq(app, "hello", 5);
  p2p_mss_del(d);
}
END_TEST

struct bad_case {
  int dialer; /* feed to a dialer (proposing "/a") instead of a listener */
  const char *bytes;
  size_t len;
  const char *what;
};

#define BAD(dl, s, what)                                                       \
  { dl, s, sizeof(s) - 1, what }

static const struct bad_case bad_cases[] = {
    BAD(0, "\x13/multistream/1.0.0X", "header without newline"),
    BAD(0, "\x00", "zero length"),
    BAD(0, "\x81\x08", "length 1025, above the limit"),
    BAD(0, "\x80\x80\x01", "three-byte length"),
    BAD(0, "\x93\x00/multistream/1.0.0\n", "non-minimal varint"),
    BAD(0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "garbage varint"),
    BAD(0, "\x13/multistream/2.0.0\n", "wrong header version"),
    BAD(0, "\x13/multistream/1.0.1\n", "wrong header"),
    BAD(0, "\x01\n", "empty message"),
    BAD(0, "\x13/multistream\n1.0.0\n", "embedded newline in header"),
    BAD(0, "\x10GET / HTTP/1.1\r\n", "HTTP instead of a header"),
    BAD(0, HDR "\x03/ab", "proposal without newline"),
    BAD(0, HDR "\x06/a\n/b\n", "two lines in one message"),
    BAD(0,
        HDR "\x04/\x00"
            "a\n",
        "NUL in a proposal"),
    BAD(0, HDR "\x04/\xc0\xaf\n", "overlong UTF-8"),
    BAD(0, HDR "\x05/\xed\xa0\x80\n", "surrogate UTF-8"),
    BAD(0, HDR "\x03/\xff\n", "invalid UTF-8"),
    BAD(0, HDR "\x01\n", "empty proposal"),
    BAD(1, "\x03/a\n", "answer before the header"),
    BAD(1, HDR "\x07/other\n", "answer that is neither echo nor na"),
    BAD(1, HDR "\x03NA\n", "na in the wrong case"),
    BAD(1, HDR HDR, "second header instead of an answer"),
};

START_TEST(test_mss_malformed_input_is_proto_error) {
  const struct bad_case *c = &bad_cases[_i];
  const char *p[] = {"/a"};
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    p2p_mss *m = c->dialer ? dialer(p, 1) : listener(p, 1);
    ssize_t r = 0;
    if (bytewise) {
      for (size_t i = 0; i < c->len && r >= 0; i++)
        r = p2p_mss_recv(m, (const uint8_t *)c->bytes + i, 1);
    } else {
      r = p2p_mss_recv(m, (const uint8_t *)c->bytes, c->len);
    }
    ck_assert_msg(r == P2P_ERR_PROTO, "%s (bytewise %d): got %d", c->what,
                  bytewise, (int)r);
    ck_assert_int_eq(p2p_mss_state(m), P2P_MSS_FAILED);
    ck_assert_int_eq(p2p_mss_error(m), P2P_ERR_PROTO);
    /* The failure sticks. */
    ck_assert_int_eq(p2p_mss_recv(m, (const uint8_t *)HDR, HDR_LEN),
                     P2P_ERR_PROTO);
    p2p_mss_del(m);
  }
}
END_TEST

START_TEST(test_mss_ls_answers_with_protocol_list) {
  const char *lp[] = {"/a/1.0.0", "/bb"};
  static const uint8_t in[] = HDR "\x03ls\n";
  /* varint(body) then per protocol varint(len + 1) id '\n', then '\n'. */
  static const uint8_t want[] = HDR "\x10"
                                    "\x09/a/1.0.0\n"
                                    "\x04/bb\n"
                                    "\n";
  uint8_t out[128];
  p2p_mss *l = listener(lp, 2);
  ck_assert_int_eq(p2p_mss_recv(l, in, sizeof(in) - 1),
                   (ssize_t)sizeof(in) - 1);
  size_t n = drain(l, out, sizeof(out));
  ck_assert_uint_eq(n, sizeof(want) - 1);
  ck_assert_mem_eq(out, want, n);
  /* Listing does not end the negotiation: a proposal still works. */
  ck_assert_int_eq(p2p_mss_state(l), P2P_MSS_NEGOTIATING);
  ck_assert_int_eq(p2p_mss_recv(l, (const uint8_t *)"\x04/bb\n", 5), 5);
  ck_assert_str_eq(p2p_mss_selected(l), "/bb");
  p2p_mss_del(l);
}
END_TEST

static int accept_ipfs(const char *proto, size_t len, void *user) {
  ++*(int *)user;
  ck_assert_uint_eq(strlen(proto), len);
  return strncmp(proto, "/ipfs/", 6) == 0;
}

START_TEST(test_mss_listener_callback_decides_unlisted_protocols) {
  const char *dp[] = {"/kad/1", "/ipfs/kad/1.0.0"};
  int calls = 0;
  p2p_mss *l = NULL, *d = dialer(dp, 2);
  ck_assert_int_eq(p2p_mss_listener_new(&l, NULL, 0, accept_ipfs, &calls), 0);
  run_pair(d, l, 7);
  ck_assert_int_eq(calls, 2);
  ck_assert_str_eq(p2p_mss_selected(d), "/ipfs/kad/1.0.0");
  ck_assert_str_eq(p2p_mss_selected(l), "/ipfs/kad/1.0.0");
  p2p_mss_del(d);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_new_rejects_invalid_protocol_ids) {
  static char big[P2P_MSS_MAX_PROTO_LEN + 2];
  p2p_mss *m = NULL;
  const char *bad[] = {"",      "na", "ls", "/a\nb", "/multistream/1.0.0",
                       "/\xff", big,  NULL};
  memset(big, 'x', sizeof(big) - 1);
  big[0] = '/';
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_int_eq(p2p_mss_dialer_new(&m, &bad[i], 1), P2P_ERR_INVALID);
    ck_assert_int_eq(p2p_mss_listener_new(&m, &bad[i], 1, NULL, NULL),
                     P2P_ERR_INVALID);
    ck_assert_ptr_null(m);
  }
  ck_assert_int_eq(p2p_mss_dialer_new(&m, bad, 0), P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_mss_listener_new(&m, NULL, 0, NULL, NULL),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2p_mss_dialer_new(NULL, bad, 1), P2P_ERR_INVALID);
}
END_TEST

START_TEST(test_mss_longest_protocol_id_negotiates) {
  static char id[P2P_MSS_MAX_PROTO_LEN + 1];
  const char *p[] = {id};
  uint8_t buf[2048];
  memset(id, 'p', P2P_MSS_MAX_PROTO_LEN);
  id[0] = '/';
  p2p_mss *d = dialer(p, 1), *l = listener(p, 1);
  size_t n = drain(d, buf, sizeof(buf));
  /* 1024 = 0x80 0x08 as a varint. */
  ck_assert_uint_eq(n, HDR_LEN + 2 + P2P_MSS_MAX_MSG_LEN);
  ck_assert_uint_eq(buf[HDR_LEN], 0x80);
  ck_assert_uint_eq(buf[HDR_LEN + 1], 0x08);
  ck_assert_int_eq(p2p_mss_recv(l, buf, n), (ssize_t)n);
  run_pair(d, l, 100);
  ck_assert_int_eq(p2p_mss_state(d), P2P_MSS_DONE);
  ck_assert_str_eq(p2p_mss_selected(l), id);
  p2p_mss_del(d);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_full_output_queue_pauses_input) {
  enum { N = 400 };
  const char *lp[] = {"/a"};
  static uint8_t in[HDR_LEN + 4 * N];
  static uint8_t out[HDR_LEN + 4 * N];
  memcpy(in, HDR, HDR_LEN);
  for (int i = 0; i < N; i++)
    memcpy(in + HDR_LEN + 4 * i, "\x03/q\n", 4);
  p2p_mss *l = listener(lp, 1);
  size_t off = 0, got = 0;
  int pauses = 0;
  while (off < sizeof(in)) {
    ssize_t r = p2p_mss_recv(l, in + off, sizeof(in) - off);
    ck_assert_int_ge(r, 0);
    if ((size_t)r < sizeof(in) - off)
      pauses++;
    off += (size_t)r;
    ssize_t s = p2p_mss_send(l, out + got, sizeof(out) - got);
    ck_assert_int_ge(s, 0);
    got += (size_t)s;
    ck_assert_int_le(pauses, N);
  }
  ck_assert_int_gt(pauses, 0);
  /* Every proposal got its "na", in order, nothing lost. */
  ck_assert_uint_eq(got, sizeof(out));
  for (int i = 0; i < N; i++)
    ck_assert_mem_eq(out + HDR_LEN + 4 * i, "\x03na\n", 4);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_eof_mid_message_is_proto_error) {
  const char *p[] = {"/a"};
  p2p_mss *l = listener(p, 1);
  ck_assert_int_eq(p2p_mss_recv(l, (const uint8_t *)HDR, 5), 5);
  ck_assert_int_eq(p2p_mss_recv_eof(l), P2P_ERR_PROTO);
  p2p_mss_del(l);
  l = listener(p, 1);
  ck_assert_int_eq(p2p_mss_recv_eof(l), P2P_ERR_RESET);
  p2p_mss_del(l);
}
END_TEST

START_TEST(test_mss_send_in_small_pieces_keeps_order) {
  const char *p[] = {"/ipfs/ping/1.0.0"};
  static const uint8_t want[] = HDR "\x11/ipfs/ping/1.0.0\n";
  uint8_t out[64];
  size_t got = 0;
  p2p_mss *d = dialer(p, 1);
  ck_assert_int_eq(p2p_mss_send(d, out, 0), 0);
  for (;;) {
    ssize_t n = p2p_mss_send(d, out + got, 3);
    ck_assert_int_ge(n, 0);
    if (n == 0)
      break;
    got += (size_t)n;
  }
  ck_assert_uint_eq(got, sizeof(want) - 1);
  ck_assert_mem_eq(out, want, got);
  p2p_mss_del(d);
}
END_TEST

static Suite *mss_suite(void) {
  Suite *s = suite_create("mss");
  TCase *tc = tcase_create("mss");
  tcase_add_test(tc, test_mss_dialer_first_flight_is_header_then_proposal);
  tcase_add_test(tc, test_mss_listener_sends_header_before_any_input);
  tcase_add_test(tc, test_mss_first_choice_accepted);
  tcase_add_test(tc, test_mss_refused_with_na_then_second_accepted);
  tcase_add_test(tc, test_mss_no_protocol_in_common_fails_both_sides);
  tcase_add_test(tc, test_mss_byte_at_a_time_delivery_negotiates);
  tcase_add_test(tc, test_mss_app_data_after_listener_echo_is_handed_back);
  tcase_add_test(tc, test_mss_pipelined_dialer_data_is_left_for_listener_app);
  tcase_add_test(tc,
                 test_mss_app_data_after_echo_survives_byte_at_a_time_input);
  tcase_add_loop_test(tc, test_mss_malformed_input_is_proto_error, 0,
                      (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
  tcase_add_test(tc, test_mss_ls_answers_with_protocol_list);
  tcase_add_test(tc, test_mss_listener_callback_decides_unlisted_protocols);
  tcase_add_test(tc, test_mss_new_rejects_invalid_protocol_ids);
  tcase_add_test(tc, test_mss_longest_protocol_id_negotiates);
  tcase_add_test(tc, test_mss_full_output_queue_pauses_input);
  tcase_add_test(tc, test_mss_eof_mid_message_is_proto_error);
  tcase_add_test(tc, test_mss_send_in_small_pieces_keeps_order);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(mss_suite());
}
