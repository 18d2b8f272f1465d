/* Tests for sim/metrics: the event log, the JSON tree, the summary and the
 * plots. */
#include "fixture.h"
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/metrics/evlog.h"
#include "sim/metrics/json.h"
#include "sim/metrics/summary.h"

#define MS 1000000ull

/* --- helpers -------------------------------------------------------------- */

/* A fresh temporary folder, malloc'd; removed by rm_tree. */
static char *make_tmpdir(void) {
  char *d = strdup("/tmp/p2plab-test-metrics-XXXXXX");
  ck_assert_ptr_nonnull(d);
  ck_assert_ptr_nonnull(mkdtemp(d));
  return d;
}

/* Removes dir and the files in it (the tests make no subfolders). */
static void rm_tree(char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    char *p = malloc(strlen(dir) + strlen(e->d_name) + 2);
    ck_assert_ptr_nonnull(p);
    sprintf(p, "%s/%s", dir, e->d_name);
    ck_assert_int_eq(unlink(p), 0);
    free(p);
  }
  closedir(d);
  ck_assert_int_eq(rmdir(dir), 0);
  free(dir);
}

static char *path_in(const char *dir, const char *name) {
  size_t len = strlen(dir) + strlen(name) + 2;
  char *p = malloc(len);
  ck_assert_ptr_nonnull(p);
  snprintf(p, len, "%s/%s", dir, name);
  return p;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
  ck_assert_int_eq(fclose(f), 0);
}

/* The whole file, malloc'd and NUL-terminated; *len gets its size. */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  ck_assert_int_ge(n, 0);
  rewind(f);
  char *buf = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(buf);
  ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  if (len != NULL)
    *len = (size_t)n;
  return buf;
}

/* Writes v with sim_json_write into a malloc'd string. */
static char *json_text(const sim_json *v) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(sim_json_write(v, f), 0);
  ck_assert_int_eq(fclose(f), 0);
  return buf;
}

static sim_json *parse_ok(const char *text) {
  sim_json *v = NULL;
  char err[160] = "";
  int rc = sim_json_parse(text, strlen(text), &v, err, sizeof err);
  if (rc != 0)
    ck_abort_msg("parse of <%s> failed: %s", text, err);
  return v;
}

static char *number_text(double d) {
  sim_json *v = sim_json_number(d);
  ck_assert_ptr_nonnull(v);
  char *s = json_text(v);
  sim_json_free(v);
  return s;
}

static void add_ok(sim_evlog *l, uint64_t t, const char *host, const char *name,
                   const char *fields) {
  ck_assert_int_eq(sim_evlog_add(l, t, host, name, fields), 0);
}

/* --- event log ------------------------------------------------------------ */

START_TEST(test_evlog_add_keeps_order_and_copies_strings) {
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  ck_assert_uint_eq(sim_evlog_count(l), 0);
  ck_assert_ptr_null(sim_evlog_get(l, 0));
  char host[] = "peer-a";
  add_ok(l, 5, host, "holepunch.start", "id=1 peer=peer-b");
  host[0] = 'X'; /* the log kept its own copy */
  add_ok(l, 7, "peer-a", "ping", NULL);
  add_ok(l, 9, "", "run.end", "");
  ck_assert_uint_eq(sim_evlog_count(l), 3);
  const sim_event *e = sim_evlog_get(l, 0);
  ck_assert_uint_eq(e->t_ns, 5);
  ck_assert_str_eq(e->host, "peer-a");
  ck_assert_str_eq(e->name, "holepunch.start");
  ck_assert_str_eq(e->fields, "id=1 peer=peer-b");
  const char *h0 = e->host;
  e = sim_evlog_get(l, 1);
  ck_assert_str_eq(e->fields, "");
  ck_assert_ptr_eq(e->host, h0); /* interned */
  ck_assert_str_eq(sim_evlog_get(l, 2)->host, "");
  ck_assert_ptr_null(sim_evlog_get(l, 3));
  sim_evlog_del(l);
  sim_evlog_del(NULL);
}
END_TEST

START_TEST(test_evlog_add_rejects_characters_the_csv_cannot_carry) {
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  static const char *bad_host[] = {"a b", "a,b", "a\"b", "a\nb", "a\rb"};
  for (size_t i = 0; i < sizeof bad_host / sizeof bad_host[0]; i++) {
    ck_assert_int_eq(sim_evlog_add(l, 1, bad_host[i], "x", ""),
                     P2P_ERR_INVALID);
    ck_assert_int_eq(sim_evlog_add(l, 1, "h", bad_host[i], ""),
                     P2P_ERR_INVALID);
  }
  static const char *bad_fields[] = {"a=1,b=2", "a=\"x\"", "a=1\n", "a=\r"};
  for (size_t i = 0; i < sizeof bad_fields / sizeof bad_fields[0]; i++)
    ck_assert_int_eq(sim_evlog_add(l, 1, "h", "x", bad_fields[i]),
                     P2P_ERR_INVALID);
  ck_assert_int_eq(sim_evlog_add(l, 1, "h", "", ""), P2P_ERR_INVALID);
  ck_assert_int_eq(sim_evlog_add(l, 1, NULL, "x", ""), P2P_ERR_INVALID);
  ck_assert_uint_eq(sim_evlog_count(l), 0);
  /* Spaces separate fields. */
  add_ok(l, 1, "h", "x", "a=1 b=2");
  ck_assert_uint_eq(sim_evlog_count(l), 1);
  sim_evlog_del(l);
}
END_TEST

START_TEST(test_evlog_field_finds_whole_keys_only) {
  sim_event e = {0, "h", "holepunch.start",
                 "id=17 peer=b nat_pair=full-cone|symmetric idx= x"};
  char buf[32];
  ck_assert_str_eq(sim_event_field(&e, "id", buf, sizeof buf), "17");
  ck_assert_str_eq(sim_event_field(&e, "peer", buf, sizeof buf), "b");
  ck_assert_str_eq(sim_event_field(&e, "nat_pair", buf, sizeof buf),
                   "full-cone|symmetric");
  ck_assert_str_eq(sim_event_field(&e, "idx", buf, sizeof buf), "");
  ck_assert_ptr_null(sim_event_field(&e, "i", buf, sizeof buf));
  ck_assert_ptr_null(sim_event_field(&e, "nat", buf, sizeof buf));
  ck_assert_ptr_null(sim_event_field(&e, "x", buf, sizeof buf));
  ck_assert_ptr_null(sim_event_field(&e, "reason", buf, sizeof buf));
  /* "17" needs 3 bytes. */
  ck_assert_ptr_null(sim_event_field(&e, "id", buf, 2));
  ck_assert_str_eq(sim_event_field(&e, "id", buf, 3), "17");
  sim_event none = {0, "h", "x", ""};
  ck_assert_ptr_null(sim_event_field(&none, "id", buf, sizeof buf));
}
END_TEST

START_TEST(test_evlog_addf_formats_fields_of_any_length) {
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  ck_assert_int_eq(sim_evlog_addf(l, 3, "a", "holepunch.direct",
                                  "id=%d time_to_direct_ns=%llu", 4,
                                  (unsigned long long)(12 * MS)),
                   0);
  ck_assert_str_eq(sim_evlog_get(l, 0)->fields,
                   "id=4 time_to_direct_ns=12000000");
  char big[3000];
  memset(big, 'v', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ck_assert_int_eq(sim_evlog_addf(l, 4, "a", "big", "k=%s", big), 0);
  ck_assert_uint_eq(strlen(sim_evlog_get(l, 1)->fields), 2 + strlen(big));
  ck_assert_int_eq(sim_evlog_addf(l, 4, "a", "bad", "k=%s", "a,b"),
                   P2P_ERR_INVALID);
  sim_evlog_del(l);
}
END_TEST

START_TEST(test_evlog_holds_many_events_and_long_strings) {
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  enum { N = 200000 };
  size_t big_len = 100000; /* bigger than an arena chunk */
  char *big = malloc(big_len + 1);
  ck_assert_ptr_nonnull(big);
  memset(big, 'z', big_len);
  big[big_len] = '\0';
  for (int i = 0; i < N; i++) {
    char host[16];
    snprintf(host, sizeof host, "h%d", i % 1000);
    /* Plain checks in the loops: a Check assertion costs a write. */
    if (sim_evlog_addf(l, (uint64_t)i, host, "tick", "i=%d", i) != 0)
      ck_abort_msg("add %d failed", i);
    if (i % 50000 == 0)
      add_ok(l, (uint64_t)i, host, "big", big);
  }
  ck_assert_uint_eq(sim_evlog_count(l), N + 4);
  char buf[16];
  size_t k = 0;
  for (int i = 0; i < N; i++, k++) {
    const sim_event *e = sim_evlog_get(l, k);
    if (strcmp(e->name, "big") == 0) {
      ck_assert_str_eq(e->fields, big);
      e = sim_evlog_get(l, ++k);
    }
    const char *v = sim_event_field(e, "i", buf, sizeof buf);
    if (v == NULL || atoi(v) != i)
      ck_abort_msg("event %zu: i=%s, want %d", k, v ? v : "(none)", i);
  }
  free(big);
  sim_evlog_del(l);
}
END_TEST

static sim_evlog *sample_log(void) {
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  add_ok(l, 0, "relay", "start", "");
  add_ok(l, 1500, "a", "holepunch.start",
         "id=1 peer=b transport=udp nat_pair=full-cone|symmetric");
  add_ok(l, 18446744073709551615ull, "b", "holepunch.failed",
         "id=1 reason=timeout");
  return l;
}

static void write_csv(const sim_evlog *l, const char *path, uint8_t sha[32]) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(sim_evlog_write_csv(l, f, sha), 0);
  ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_evlog_csv_round_trip_is_identical) {
  char *dir = make_tmpdir();
  char *p1 = path_in(dir, "events.csv"), *p2 = path_in(dir, "again.csv");
  sim_evlog *l = sample_log();
  uint8_t sha[32], sha2[32];
  write_csv(l, p1, sha);
  char *text = read_file(p1, NULL);
  ck_assert_str_eq(text, "time_ns,host,event,fields\n"
                         "0,relay,start,\n"
                         "1500,a,holepunch.start,id=1 peer=b transport=udp "
                         "nat_pair=full-cone|symmetric\n"
                         "18446744073709551615,b,holepunch.failed,id=1 "
                         "reason=timeout\n");
  sim_evlog *r = NULL;
  char err[256] = "";
  ck_assert_int_eq(sim_evlog_read_csv(p1, &r, err, sizeof err), 0);
  ck_assert_uint_eq(sim_evlog_count(r), sim_evlog_count(l));
  for (size_t i = 0; i < sim_evlog_count(l); i++) {
    const sim_event *a = sim_evlog_get(l, i), *b = sim_evlog_get(r, i);
    ck_assert_uint_eq(a->t_ns, b->t_ns);
    ck_assert_str_eq(a->host, b->host);
    ck_assert_str_eq(a->name, b->name);
    ck_assert_str_eq(a->fields, b->fields);
  }
  write_csv(r, p2, sha2);
  char *text2 = read_file(p2, NULL);
  ck_assert_str_eq(text, text2);
  ck_assert_mem_eq(sha, sha2, 32);
  free(text);
  free(text2);
  sim_evlog_del(l);
  sim_evlog_del(r);
  free(p1);
  free(p2);
  rm_tree(dir);
}
END_TEST

START_TEST(test_evlog_csv_sha256_is_the_hash_of_the_file) {
  ck_assert_int_ge(sodium_init(), 0);
  char *dir = make_tmpdir();
  char *p = path_in(dir, "events.csv");
  sim_evlog *l = sample_log();
  /* Enough events to cross the writer's buffer several times. */
  for (int i = 0; i < 20000; i++)
    if (sim_evlog_addf(l, (uint64_t)i * 1000, "host-with-a-long-name",
                       "gossip.deliver", "msg=%d from=peer-%d", i, i % 97) != 0)
      ck_abort_msg("add failed");
  uint8_t sha[32], want[32];
  write_csv(l, p, sha);
  size_t len;
  char *bytes = read_file(p, &len);
  ck_assert_uint_gt(len, 200000);
  crypto_hash_sha256(want, (const unsigned char *)bytes, len);
  ck_assert_mem_eq(sha, want, 32);
  free(bytes);

  /* One event more or one field changed: another hash. */
  sim_evlog *m = sample_log();
  for (int i = 0; i < 20000; i++)
    if (sim_evlog_addf(m, (uint64_t)i * 1000, "host-with-a-long-name",
                       "gossip.deliver", "msg=%d from=peer-%d", i,
                       i == 12345 ? 0 : i % 97) != 0)
      ck_abort_msg("add failed");
  uint8_t sha2[32];
  write_csv(m, p, sha2);
  ck_assert_mem_ne(sha, sha2, 32);
  sim_evlog_del(l);
  sim_evlog_del(m);
  free(p);
  rm_tree(dir);
}
END_TEST

START_TEST(test_evlog_csv_reader_rejects_malformed_files_with_line) {
  static const struct {
    const char *text;
    unsigned line;
    const char *what;
  } cases[] = {
      {"", 1, "empty file"},
      {"time,host,event,fields\n", 1, "expected header"},
      {"time_ns,host,event,fields", 1, "does not end"},
      {"time_ns,host,event,fields\n1,a,b\n", 2, "expected 4 columns"},
      {"time_ns,host,event,fields\n1,a,b,c,d\n", 2, "more than 4"},
      {"time_ns,host,event,fields\n1,a,b,c\nx,a,b,c\n", 3, "time_ns"},
      {"time_ns,host,event,fields\n01,a,b,c\n", 2, "time_ns"},
      {"time_ns,host,event,fields\n-1,a,b,c\n", 2, "time_ns"},
      {"time_ns,host,event,fields\n18446744073709551616,a,b,c\n", 2, "time_ns"},
      {"time_ns,host,event,fields\n,a,b,c\n", 2, "time_ns"},
      {"time_ns,host,event,fields\n1,a b,b,c\n", 2, "host"},
      {"time_ns,host,event,fields\n1,a,b c,c\n", 2, "event name"},
      {"time_ns,host,event,fields\n1,a,,c\n", 2, "empty event name"},
      {"time_ns,host,event,fields\n1,a,b,\"c\"\n", 2, "fields"},
      {"time_ns,host,event,fields\r\n", 1, "expected header"},
      {"time_ns,host,event,fields\n1,a,b,c\r\n", 2, "fields"},
      {"time_ns,host,event,fields\n1,a,b,c\n2,a,b,c", 3, "does not end"},
  };
  char *dir = make_tmpdir();
  char *p = path_in(dir, "events.csv");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_file(p, cases[i].text);
    sim_evlog *l = NULL;
    char err[256] = "", want[256];
    int rc = sim_evlog_read_csv(p, &l, err, sizeof err);
    if (rc != P2P_ERR_INVALID)
      ck_abort_msg("case %zu: rc %d", i, rc);
    ck_assert_ptr_null(l);
    snprintf(want, sizeof want, "%s:%u: ", p, cases[i].line);
    if (strncmp(err, want, strlen(want)) != 0 ||
        strstr(err, cases[i].what) == NULL)
      ck_abort_msg("case %zu: error '%s', want '%s...%s'", i, err, want,
                   cases[i].what);
  }
  /* A file with a NUL byte in a line. */
  FILE *f = fopen(p, "wb");
  ck_assert_ptr_nonnull(f);
  fwrite("time_ns,host,event,fields\n1,a\0,b,c\n", 1, 36, f);
  fclose(f);
  sim_evlog *l = NULL;
  char err[256];
  ck_assert_int_eq(sim_evlog_read_csv(p, &l, err, sizeof err), P2P_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err, ":2: NUL"));
  /* A header-only file is an empty log. */
  write_file(p, "time_ns,host,event,fields\n");
  ck_assert_int_eq(sim_evlog_read_csv(p, &l, err, sizeof err), 0);
  ck_assert_uint_eq(sim_evlog_count(l), 0);
  sim_evlog_del(l);
  free(p);
  p = path_in(dir, "missing.csv");
  ck_assert_int_eq(sim_evlog_read_csv(p, &l, err, sizeof err), P2P_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "missing.csv: "));
  free(p);
  rm_tree(dir);
}
END_TEST

/* --- JSON ------------------------------------------------------------------
 */

START_TEST(test_json_write_indents_two_spaces_in_insertion_order) {
  sim_json *o = sim_json_object();
  ck_assert_int_eq(sim_json_set(o, "zeta", sim_json_number(1)), 0);
  ck_assert_int_eq(sim_json_set(o, "alpha", sim_json_string("x")), 0);
  sim_json *a = sim_json_array();
  ck_assert_int_eq(sim_json_push(a, sim_json_bool(true)), 0);
  ck_assert_int_eq(sim_json_push(a, sim_json_null()), 0);
  sim_json *inner = sim_json_object();
  ck_assert_int_eq(sim_json_set(inner, "k", sim_json_number(0.5)), 0);
  ck_assert_int_eq(sim_json_push(a, inner), 0);
  ck_assert_int_eq(sim_json_push(a, sim_json_array()), 0);
  ck_assert_int_eq(sim_json_set(o, "list", a), 0);
  ck_assert_int_eq(sim_json_set(o, "empty", sim_json_object()), 0);
  ck_assert_int_eq(sim_json_set(o, "no", sim_json_bool(false)), 0);
  /* Replacing keeps the key's place. */
  ck_assert_int_eq(sim_json_set(o, "zeta", sim_json_number(2)), 0);
  char *s = json_text(o);
  ck_assert_str_eq(s, "{\n"
                      "  \"zeta\": 2,\n"
                      "  \"alpha\": \"x\",\n"
                      "  \"list\": [\n"
                      "    true,\n"
                      "    null,\n"
                      "    {\n"
                      "      \"k\": 0.5\n"
                      "    },\n"
                      "    []\n"
                      "  ],\n"
                      "  \"empty\": {},\n"
                      "  \"no\": false\n"
                      "}\n");
  free(s);
  ck_assert_uint_eq(sim_json_len(o), 5);
  ck_assert_str_eq(sim_json_key_at(o, 2), "list");
  ck_assert_ptr_eq(sim_json_value_at(o, 2), a);
  ck_assert_ptr_null(sim_json_key_at(o, 5));
  ck_assert_int_eq(sim_json_type_of(sim_json_at(a, 0)), SIM_JSON_BOOL);
  ck_assert(sim_json_boolean(sim_json_at(a, 0)));
  ck_assert_ptr_null(sim_json_at(a, 4));
  ck_assert_ptr_null(sim_json_str(sim_json_at(a, 0)));
  ck_assert_double_eq(sim_json_num(sim_json_get(o, "alpha")), 0);
  /* Wrong containers and NULL values are refused (and freed). */
  ck_assert_int_eq(sim_json_set(a, "k", sim_json_number(1)), P2P_ERR_INVALID);
  ck_assert_int_eq(sim_json_push(o, sim_json_number(1)), P2P_ERR_INVALID);
  ck_assert_int_eq(sim_json_set(o, "k", NULL), P2P_ERR_INVALID);
  sim_json_free(o);

  sim_json *top = sim_json_string("only");
  s = json_text(top);
  ck_assert_str_eq(s, "\"only\"\n");
  free(s);
  sim_json_free(top);
}
END_TEST

START_TEST(test_json_write_escapes_keys_and_strings) {
  sim_json *o = sim_json_object();
  ck_assert_int_eq(sim_json_set(o, "q\"k\\",
                                sim_json_string("a\"b\\c/\n\r\t\b\f\x01\x1f"
                                                "\x7f"
                                                "\xc3\xa9")),
                   0);
  char *s = json_text(o);
  ck_assert_str_eq(s, "{\n  \"q\\\"k\\\\\": "
                      "\"a\\\"b\\\\c/\\n\\r\\t\\b\\f\\u0001\\u001f\x7f"
                      "\xc3\xa9\"\n}\n");
  sim_json *back = parse_ok(s);
  ck_assert_str_eq(sim_json_str(sim_json_get(back, "q\"k\\")),
                   "a\"b\\c/\n\r\t\b\f\x01\x1f\x7f\xc3\xa9");
  sim_json_free(back);
  free(s);
  sim_json_free(o);
}
END_TEST

START_TEST(test_json_numbers_are_shortest_round_trip) {
  static const struct {
    double v;
    const char *text;
  } cases[] = {
      {1, "1"},
      {0.5, "0.5"},
      {1e-7, "1e-7"},
      {123456789012.0, "123456789012"},
      {-0.0, "0"},
      {-42, "-42"},
      {0.1, "0.1"},
      {1.0 / 3.0, "0.3333333333333333"},
      {0.1 + 0.2, "0.30000000000000004"},
      {9007199254740991.0, "9007199254740991"},
      {9007199254740992.0, "9007199254740992"},
      {1e20, "1e20"},
      {1.5e300, "1.5e300"},
      {-2.5e-300, "-2.5e-300"},
      {12.345, "12.345"},
      {NAN, "null"},
      {INFINITY, "null"},
      {-INFINITY, "null"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *s = number_text(cases[i].v);
    char want[64];
    snprintf(want, sizeof want, "%s\n", cases[i].text);
    if (strcmp(s, want) != 0)
      ck_abort_msg("case %zu: wrote '%s', want '%s'", i, s, cases[i].text);
    if (isfinite(cases[i].v)) {
      sim_json *back = parse_ok(s);
      ck_assert(sim_json_num(back) == cases[i].v);
      sim_json_free(back);
    }
    free(s);
  }
}
END_TEST

START_TEST(test_json_parse_then_write_round_trips) {
  const char *text = "{\n"
                     "  \"scenario\": \"demo\",\n"
                     "  \"seed\": 7,\n"
                     "  \"holepunch\": {\n"
                     "    \"success_rate\": 0.75,\n"
                     "    \"by_nat_pair\": {\n"
                     "      \"full-cone|symmetric\": {\n"
                     "        \"attempts\": 4\n"
                     "      }\n"
                     "    },\n"
                     "    \"list\": [\n"
                     "      1,\n"
                     "      -2.5,\n"
                     "      \"\\u00e9\\ud83d\\ude00\",\n"
                     "      [],\n"
                     "      {},\n"
                     "      null,\n"
                     "      true,\n"
                     "      false\n"
                     "    ]\n"
                     "  }\n"
                     "}\n";
  sim_json *v = parse_ok(text);
  char *out = json_text(v);
  /* \u escapes come back as UTF-8. */
  const char *want_utf8 = "\"\xc3\xa9\xf0\x9f\x98\x80\"";
  ck_assert_ptr_nonnull(strstr(out, want_utf8));
  sim_json *again = parse_ok(out);
  char *out2 = json_text(again);
  ck_assert_str_eq(out, out2);
  free(out);
  free(out2);
  sim_json_free(again);
  sim_json_free(v);

  /* Compact input, all the whitespace kinds, numbers in every form. */
  v = parse_ok(" \t\r\n[0,-0,1E2,1e+2,1.25e-1,-12.5E-1,\"\\/\"] \n");
  ck_assert_uint_eq(sim_json_len(v), 7);
  ck_assert_double_eq(sim_json_num(sim_json_at(v, 2)), 100);
  ck_assert_double_eq(sim_json_num(sim_json_at(v, 3)), 100);
  ck_assert_double_eq(sim_json_num(sim_json_at(v, 4)), 0.125);
  ck_assert_double_eq(sim_json_num(sim_json_at(v, 5)), -1.25);
  ck_assert_str_eq(sim_json_str(sim_json_at(v, 6)), "/");
  sim_json_free(v);

  /* The text need not be NUL-terminated. */
  sim_json *n = NULL;
  char err[128];
  ck_assert_int_eq(sim_json_parse("12345", 2, &n, err, sizeof err), 0);
  ck_assert_double_eq(sim_json_num(n), 12);
  sim_json_free(n);
}
END_TEST

START_TEST(test_json_parse_rejects_malformed_with_line_and_column) {
  static const struct {
    const char *text;
    const char *err; /* prefix of the message */
  } cases[] = {
      {"", "line 1, column 1: expected a value, found end of input"},
      {"   ", "line 1, column 4: expected a value"},
      {"[1,]", "line 1, column 4: expected a value, found ']'"},
      {"{\"a\":1,}", "line 1, column 8: expected a string key, found '}'"},
      {"{\"a\" 1}", "line 1, column 6: expected ':' after object key"},
      {"{a:1}", "line 1, column 2: expected a string key, found 'a'"},
      {"[1 2]", "line 1, column 4: expected ',' or ']' in array"},
      {"{\"a\":1 \"b\":2}", "line 1, column 8: expected ',' or '}' in object"},
      {"[1]\n// c", "line 2, column 1: expected end of input after the value"},
      {"/* c */ 1", "line 1, column 1: expected a value, found '/'"},
      {"\"abc", "line 1, column 5: unterminated string"},
      {"[\n  \"a\tb\"]", "line 2, column 5: control character in string"},
      {"\"\\x\"", "line 1, column 2: invalid escape sequence"},
      {"\"\\u12g4\"", "line 1, column 2: \\u must be followed by 4 hex"},
      {"\"\\ud800\"", "line 1, column 2: unpaired high surrogate"},
      {"\"\\ud800\\u0041\"", "line 1, column 2: unpaired high surrogate"},
      {"\"\\udc00\"", "line 1, column 2: unpaired low surrogate"},
      {"\"\\u0000\"", "line 1, column 2: \\u0000 is not supported"},
      {"\"\xff\"", "line 1, column 2: invalid UTF-8"},
      {"\"\xc0\xaf\"", "line 1, column 2: invalid UTF-8"},
      {"\"\xed\xa0\x80\"", "line 1, column 2: invalid UTF-8"},
      {"01", "line 1, column 1: invalid number: leading zero"},
      {"-", "line 1, column 2: invalid number: expected a digit"},
      {"1.", "line 1, column 3: invalid number: expected a digit after '.'"},
      {".5", "line 1, column 1: expected a value, found '.'"},
      {"1e", "line 1, column 3: invalid number: expected a digit in the exp"},
      {"+1", "line 1, column 1: expected a value, found '+'"},
      {"1e400", "line 1, column 1: number out of range"},
      {"NaN", "line 1, column 1: expected a value, found 'N'"},
      {"tru", "line 1, column 1: invalid literal"},
      {"nul", "line 1, column 1: invalid literal"},
      {"{\"a\":1,\n\"a\":2}", "line 2, column 1: duplicate key"},
      {"{\"a\":1}}", "line 1, column 8: expected end of input"},
      {"[1]\r\n\r\n x", "line 3, column 2: expected end of input"},
      {"\x01", "line 1, column 1: expected a value, found byte 0x01"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sim_json *v = NULL;
    char err[160] = "";
    int rc = sim_json_parse(cases[i].text, strlen(cases[i].text), &v, err,
                            sizeof err);
    if (rc != P2P_ERR_INVALID || v != NULL)
      ck_abort_msg("case %zu <%s>: rc %d", i, cases[i].text, rc);
    if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
      ck_abort_msg("case %zu <%s>: '%s', want '%s'", i, cases[i].text, err,
                   cases[i].err);
  }
}
END_TEST

START_TEST(test_json_parse_limits_nesting_to_64) {
  char deep[200];
  for (int d = 63; d <= 66; d++) {
    memset(deep, '[', (size_t)d);
    memset(deep + d, ']', (size_t)d);
    sim_json *v = NULL;
    char err[128] = "";
    int rc = sim_json_parse(deep, 2 * (size_t)d, &v, err, sizeof err);
    if (d <= 64) {
      ck_assert_int_eq(rc, 0);
      sim_json_free(v);
    } else {
      ck_assert_int_eq(rc, P2P_ERR_INVALID);
      ck_assert_str_eq(err, "line 1, column 65: nesting deeper than 64 "
                            "levels");
    }
  }
}
END_TEST

START_TEST(test_json_path_matches_keys_with_dots_and_bars) {
  sim_json *v = parse_ok("{\"holepunch\": {\"time_to_direct_ms\": {\"p50\": "
                         "12.5}, \"by_nat_pair\": {\"full-cone|symmetric\": "
                         "{\"attempts\": 3}, \"a.b|c.d\": {\"attempts\": 4}}},"
                         " \"x.y\": 1, \"x\": {\"y\": 2, \"z\": 3},"
                         " \"rows\": [{\"n\": 10}, {\"n\": 11}]}");
  ck_assert_double_eq(
      sim_json_num(sim_json_path(v, "holepunch.time_to_direct_ms.p50")), 12.5);
  ck_assert_double_eq(
      sim_json_num(sim_json_path(
          v, "holepunch.by_nat_pair.full-cone|symmetric.attempts")),
      3);
  ck_assert_double_eq(
      sim_json_num(sim_json_path(v, "holepunch.by_nat_pair.a.b|c.d.attempts")),
      4);
  /* The whole key wins; a dead end falls back to shorter segments. */
  ck_assert_double_eq(sim_json_num(sim_json_path(v, "x.y")), 1);
  ck_assert_double_eq(sim_json_num(sim_json_path(v, "x.z")), 3);
  ck_assert_double_eq(sim_json_num(sim_json_path(v, "rows.1.n")), 11);
  ck_assert_ptr_null(sim_json_path(v, "rows.2.n"));
  ck_assert_ptr_null(sim_json_path(v, "rows.01.n"));
  ck_assert_ptr_null(sim_json_path(v, "holepunch.nope"));
  ck_assert_ptr_null(sim_json_path(v, "holepunch.time_to_direct_ms.p50.x"));
  ck_assert_ptr_null(sim_json_path(v, ""));
  ck_assert_ptr_null(sim_json_path(v, "holepunch."));
  ck_assert_int_eq(sim_json_type_of(sim_json_path(v, "holepunch")),
                   SIM_JSON_OBJECT);
  sim_json_free(v);
}
END_TEST

START_TEST(test_json_big_objects_and_arrays_stay_fast_and_ordered) {
  enum { N = 100000 };
  sim_json *o = sim_json_object(), *a = sim_json_array();
  char key[32];
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "k%d", (i * 7919) % N);
    /* Plain checks in the loops: a Check assertion costs a write. */
    if (sim_json_set(o, key, sim_json_number(i)) != 0 ||
        sim_json_push(a, sim_json_number(i)) != 0)
      ck_abort_msg("set/push %d failed", i);
  }
  for (int i = 0; i < N; i += 2) {
    snprintf(key, sizeof key, "k%d", (i * 7919) % N);
    if (sim_json_set(o, key, sim_json_number(-i)) != 0)
      ck_abort_msg("replace %d failed", i);
  }
  ck_assert_uint_eq(sim_json_len(o), N);
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof key, "k%d", (i * 7919) % N);
    if (strcmp(sim_json_key_at(o, (size_t)i), key) != 0 ||
        sim_json_num(sim_json_get(o, key)) != (i % 2 ? i : -i) ||
        sim_json_num(sim_json_at(a, (size_t)i)) != i)
      ck_abort_msg("member %d wrong", i);
  }
  sim_json_free(o);
  sim_json_free(a);
}
END_TEST

/* --- summary ------------------------------------------------------------- */

static sim_evlog *holepunch_log(void) {
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  add_ok(l, 0, "a1", "holepunch.start",
         "id=1 peer=b1 transport=udp nat_pair=full-cone|full-cone");
  add_ok(l, 0, "a2", "holepunch.start",
         "id=2 peer=b2 transport=udp nat_pair=symmetric|symmetric");
  add_ok(l, 1 * MS, "a3", "holepunch.start",
         "id=3 peer=b3 transport=udp nat_pair=full-cone|full-cone");
  add_ok(l, 2 * MS, "a4", "holepunch.start",
         "id=4 peer=b4 transport=udp nat_pair=full-cone|symmetric");
  add_ok(l, 31 * MS, "a3", "holepunch.direct",
         "id=3 time_to_direct_ns=30000000");
  add_ok(l, 10 * MS, "a1", "holepunch.direct",
         "id=1 time_to_direct_ns=10000000");
  add_ok(l, 5000 * MS, "a2", "holepunch.failed", "id=2 reason=timeout");
  /* Noise: a second end, an unknown attempt, another event. */
  add_ok(l, 5001 * MS, "a2", "holepunch.direct", "id=2 time_to_direct_ns=1");
  add_ok(l, 5002 * MS, "a9", "holepunch.failed", "id=9 reason=other");
  add_ok(l, 5003 * MS, "a1", "ping", "id=1");
  return l;
}

static const char *const roles[] = {"relay", "browser", "browser", "server",
                                    "browser"};

static sim_run_info holepunch_info(const uint8_t *sha) {
  sim_run_info info = {"demo", 42,    "netsim", 6500 * MS, 0.25,
                       123456, roles, 5,        sha};
  return info;
}

START_TEST(test_summary_counts_attempts_from_events) {
  sim_evlog *l = holepunch_log();
  uint8_t sha[32];
  for (int i = 0; i < 32; i++)
    sha[i] = (uint8_t)(i * 8 + 1);
  sim_run_info info = holepunch_info(sha);
  sim_json *s = NULL;
  ck_assert_int_eq(sim_summary_compute(l, &info, &s), 0);
  char *text = json_text(s);
  ck_assert_str_eq(
      text,
      "{\n"
      "  \"scenario\": \"demo\",\n"
      "  \"seed\": 42,\n"
      "  \"backend\": \"netsim\",\n"
      "  \"sim_time_s\": 6.5,\n"
      "  \"wall_time_s\": 0.25,\n"
      "  \"events_processed\": 123456,\n"
      "  \"hosts\": {\n"
      "    \"relay\": 1,\n"
      "    \"browser\": 3,\n"
      "    \"server\": 1\n"
      "  },\n"
      "  \"holepunch\": {\n"
      "    \"attempts\": 4,\n"
      "    \"successes\": 2,\n"
      "    \"success_rate\": 0.5,\n"
      "    \"time_to_direct_ms\": {\n"
      "      \"p50\": 10,\n"
      "      \"p90\": 30,\n"
      "      \"p99\": 30\n"
      "    },\n"
      "    \"by_nat_pair\": {\n"
      "      \"full-cone|full-cone\": {\n"
      "        \"attempts\": 2,\n"
      "        \"successes\": 2\n"
      "      },\n"
      "      \"symmetric|symmetric\": {\n"
      "        \"attempts\": 1,\n"
      "        \"successes\": 0\n"
      "      },\n"
      "      \"full-cone|symmetric\": {\n"
      "        \"attempts\": 1,\n"
      "        \"successes\": 0\n"
      "      }\n"
      "    },\n"
      "    \"failures\": {\n"
      "      \"timeout\": 1,\n"
      "      \"unfinished\": 1\n"
      "    }\n"
      "  },\n"
      "  \"gossip\": {\n"
      "    \"published\": 0,\n"
      "    \"expected_deliveries\": 0,\n"
      "    \"delivered\": 0,\n"
      "    \"delivery_ratio\": 0,\n"
      "    \"duplicates\": 0,\n"
      "    \"latency_ms\": {\n"
      "      \"p50\": 0,\n"
      "      \"p90\": 0,\n"
      "      \"p99\": 0,\n"
      "      \"max\": 0\n"
      "    }\n"
      "  },\n"
      "  \"connections\": {\n"
      "    \"direct\": 2,\n"
      "    \"relayed\": 0\n"
      "  },\n"
      "  \"trace_sha256\": "
      "\"0109111921293139414951596169717981899199a1a9b1b9c1c9d1d9e1e9f1f9\"\n"
      "}\n");
  free(text);
  sim_json_free(s);
  sim_evlog_del(l);
}
END_TEST

START_TEST(test_summary_percentiles_use_nearest_rank) {
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  /* 1..100 ms in a shuffled order; one more at 1000 ms for p99/max. */
  for (int i = 0; i < 101; i++) {
    int ms = i == 100 ? 1000 : (i * 37) % 100 + 1;
    ck_assert_int_eq(
        sim_evlog_addf(l, 0, "a", "holepunch.start", "id=%d nat_pair=x|y", i),
        0);
    ck_assert_int_eq(sim_evlog_addf(l, (uint64_t)ms * MS, "a",
                                    "holepunch.direct", "id=%d", i),
                     0);
  }
  sim_run_info info = {0};
  sim_json *s = NULL;
  ck_assert_int_eq(sim_summary_compute(l, &info, &s), 0);
  /* n = 101: ranks ceil(50.5) = 51, ceil(90.9) = 91, ceil(99.99) = 100. */
  ck_assert_double_eq(
      sim_json_num(sim_json_path(s, "holepunch.time_to_direct_ms.p50")), 51);
  ck_assert_double_eq(
      sim_json_num(sim_json_path(s, "holepunch.time_to_direct_ms.p90")), 91);
  ck_assert_double_eq(
      sim_json_num(sim_json_path(s, "holepunch.time_to_direct_ms.p99")), 100);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "holepunch.success_rate")),
                      1);
  ck_assert_str_eq(sim_json_str(sim_json_get(s, "trace_sha256")), "");
  ck_assert_uint_eq(sim_json_len(sim_json_get(s, "hosts")), 0);
  ck_assert_uint_eq(sim_json_len(sim_json_path(s, "holepunch.failures")), 0);
  sim_json_free(s);

  double *ms = NULL;
  size_t n = 0;
  ck_assert_int_eq(sim_summary_time_to_direct(l, &ms, &n), 0);
  ck_assert_uint_eq(n, 101);
  for (size_t i = 0; i < 100; i++)
    ck_assert_double_eq(ms[i], (double)(i + 1));
  ck_assert_double_eq(ms[100], 1000);
  free(ms);
  sim_evlog_del(l);

  /* No attempts at all: zeros. */
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  ck_assert_int_eq(sim_summary_compute(l, &info, &s), 0);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "holepunch.attempts")), 0);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "holepunch.success_rate")),
                      0);
  ck_assert_double_eq(
      sim_json_num(sim_json_path(s, "holepunch.time_to_direct_ms.p99")), 0);
  sim_json_free(s);
  ck_assert_int_eq(sim_summary_time_to_direct(l, &ms, &n), 0);
  ck_assert_uint_eq(n, 0);
  ck_assert_ptr_null(ms);
  sim_evlog_del(l);
}
END_TEST

static sim_json *holepunch_summary(void) {
  sim_evlog *l = holepunch_log();
  uint8_t sha[32] = {0};
  sim_run_info info = holepunch_info(sha);
  sim_json *s = NULL;
  ck_assert_int_eq(sim_summary_compute(l, &info, &s), 0);
  sim_evlog_del(l);
  return s;
}

START_TEST(test_summary_expect_evaluates_every_operator) {
  sim_json *s = holepunch_summary();
  sim_scn_expect x[] = {
      {"holepunch.success_rate", ">= 0.5", SIM_SCN_OP_GE, 0.5},
      {"holepunch.time_to_direct_ms.p50", "<= 10ms", SIM_SCN_OP_LE, 10},
      {"holepunch.attempts", "== 4", SIM_SCN_OP_EQ, 4},
      {"holepunch.time_to_direct_ms.p90", "< 31ms", SIM_SCN_OP_LT, 31},
      {"holepunch.by_nat_pair.full-cone|full-cone.successes", "> 1",
       SIM_SCN_OP_GT, 1},
      {"holepunch.success_rate", ">= 99%", SIM_SCN_OP_GE, 0.99},
      {"holepunch.attempts", "== 4.000001", SIM_SCN_OP_EQ, 4.000001},
      {"holepunch.failures.timeout", "> 1", SIM_SCN_OP_GT, 1},
      {"holepunch.time_to_direct_ms.p90", "< 30ms", SIM_SCN_OP_LT, 30},
      {"holepunch.time_to_direct_ms.p50", "<= 9.99ms", SIM_SCN_OP_LE, 9.99},
  };
  const size_t n = sizeof x / sizeof x[0];
  int all_ok = -1;
  char err[128] = "";
  /* The passing ones alone. */
  ck_assert_int_eq(sim_summary_expect(s, x, 5, &all_ok, err, sizeof err), 0);
  ck_assert_int_eq(all_ok, 1);
  ck_assert(sim_json_boolean(sim_json_get(s, "ok")));
  ck_assert_uint_eq(sim_json_len(sim_json_get(s, "expect")), 5);
  /* All of them: the last five fail. Expect and ok are replaced. */
  ck_assert_int_eq(sim_summary_expect(s, x, n, &all_ok, err, sizeof err), 0);
  ck_assert_int_eq(all_ok, 0);
  sim_json *ex = sim_json_get(s, "expect");
  ck_assert_uint_eq(sim_json_len(ex), n);
  for (size_t i = 0; i < n; i++) {
    sim_json *c = sim_json_at(ex, i);
    char want[128];
    snprintf(want, sizeof want, "%s %s", x[i].field, x[i].text);
    ck_assert_str_eq(sim_json_str(sim_json_get(c, "clause")), want);
    ck_assert_double_eq(sim_json_num(sim_json_get(c, "value")),
                        sim_json_num(sim_json_path(s, x[i].field)));
    ck_assert_int_eq(sim_json_type_of(sim_json_get(c, "ok")), SIM_JSON_BOOL);
    ck_assert_int_eq(sim_json_boolean(sim_json_get(c, "ok")), i < 5);
  }
  ck_assert(!sim_json_boolean(sim_json_get(s, "ok")));
  ck_assert_uint_eq(sim_json_len(s), 13);
  ck_assert_str_eq(sim_json_key_at(s, 11), "expect");
  ck_assert_str_eq(sim_json_key_at(s, 12), "ok");
  char *text = json_text(sim_json_at(ex, 0));
  ck_assert_str_eq(text, "{\n"
                         "  \"clause\": \"holepunch.success_rate >= 0.5\",\n"
                         "  \"value\": 0.5,\n"
                         "  \"ok\": true\n"
                         "}\n");
  free(text);
  /* No clauses: an empty list, ok. */
  ck_assert_int_eq(sim_summary_expect(s, NULL, 0, &all_ok, err, sizeof err), 0);
  ck_assert_int_eq(all_ok, 1);
  ck_assert_uint_eq(sim_json_len(sim_json_get(s, "expect")), 0);
  sim_json_free(s);
}
END_TEST

START_TEST(test_summary_expect_rejects_unknown_or_non_numeric_fields) {
  sim_json *s = holepunch_summary();
  sim_scn_expect x[] = {
      {"holepunch.success_rate", ">= 0.5", SIM_SCN_OP_GE, 0.5},
      {"holepunch.sucess_rate", ">= 0.5", SIM_SCN_OP_GE, 0.5},
  };
  int all_ok = -1;
  char err[128] = "";
  ck_assert_int_eq(sim_summary_expect(s, x, 2, &all_ok, err, sizeof err),
                   P2P_ERR_INVALID);
  ck_assert_str_eq(err, "expect: the summary has no field "
                        "'holepunch.sucess_rate'");
  ck_assert_int_eq(all_ok, -1);
  ck_assert_ptr_null(sim_json_get(s, "expect"));
  ck_assert_ptr_null(sim_json_get(s, "ok"));
  sim_scn_expect y = {"holepunch.failures", "> 0", SIM_SCN_OP_GT, 0};
  ck_assert_int_eq(sim_summary_expect(s, &y, 1, &all_ok, err, sizeof err),
                   P2P_ERR_INVALID);
  ck_assert_str_eq(err, "expect: summary field 'holepunch.failures' is not a "
                        "number");
  sim_scn_expect z = {"scenario", "> 0", SIM_SCN_OP_GT, 0};
  ck_assert_int_eq(sim_summary_expect(s, &z, 1, &all_ok, err, sizeof err),
                   P2P_ERR_INVALID);
  sim_json_free(s);
}
END_TEST

/* --- plots ---------------------------------------------------------------- */

START_TEST(test_plot_draws_the_time_to_direct_cdf) {
  char *dir = make_tmpdir();
  sim_evlog *l = holepunch_log();
  char err[512] = "";
  int n = sim_plot_run(l, dir, err, sizeof err);
  if (n != 1)
    ck_abort_msg("sim_plot_run: %d (%s)", n, err);
  char *png = path_in(dir, "time_to_direct_cdf.png");
  size_t len;
  char *bytes = read_file(png, &len);
  ck_assert_uint_gt(len, 8);
  ck_assert_mem_eq(bytes, "\x89PNG\r\n\x1a\n", 8);
  free(bytes);
  free(png);
  char *dat = path_in(dir, "time_to_direct.dat");
  char *text = read_file(dat, NULL);
  /* The CDF starts at the origin, then one step per sorted value. */
  ck_assert_ptr_nonnull(strstr(text, "\n0\t0\n10\t0.5\n30\t1\n"));
  free(text);
  free(dat);
  char *gp = path_in(dir, "time_to_direct_cdf.gp");
  text = read_file(gp, NULL);
  ck_assert_ptr_nonnull(strstr(text, "set terminal pngcairo size 800,500"));
  ck_assert_ptr_nonnull(
      strstr(text, "set xlabel \"time to direct connection (ms)\""));
  ck_assert_ptr_nonnull(strstr(text, "set xrange [0:*]"));
  ck_assert_ptr_nonnull(strstr(text, "set yrange [0:1.05]"));
  free(text);
  free(gp);
  sim_evlog_del(l);
  rm_tree(dir);
}
END_TEST

START_TEST(test_plot_draws_nothing_without_successes) {
  char *dir = make_tmpdir();
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  add_ok(l, 0, "a", "holepunch.start", "id=1 nat_pair=symmetric|symmetric");
  add_ok(l, 5, "a", "holepunch.failed", "id=1 reason=timeout");
  char err[256] = "";
  ck_assert_int_eq(sim_plot_run(l, dir, err, sizeof err), 0);
  char *png = path_in(dir, "time_to_direct_cdf.png");
  ck_assert_int_ne(access(png, F_OK), 0);
  free(png);
  sim_evlog_del(l);
  rm_tree(dir);
}
END_TEST

START_TEST(test_plot_reports_missing_gnuplot_and_keeps_the_script) {
  char *dir = make_tmpdir();
  sim_evlog *l = holepunch_log();
  /* This test runs in its own process: the environment change stays
   * here. */
  ck_assert_int_eq(setenv("PATH", dir, 1), 0);
  char err[512] = "";
  ck_assert_int_eq(sim_plot_run(l, dir, err, sizeof err), P2P_ERR_NOTFOUND);
  ck_assert_ptr_nonnull(strstr(err, "gnuplot not found"));
  char *gp = path_in(dir, "time_to_direct_cdf.gp");
  ck_assert_int_eq(access(gp, F_OK), 0);
  free(gp);
  /* A gnuplot that fails: its stderr ends up in the message. */
  char *fake = path_in(dir, "gnuplot");
  write_file(fake, "#!/bin/sh\necho 'line 1: no such terminal' >&2\nexit 3\n");
  ck_assert_int_eq(chmod(fake, 0755), 0);
  ck_assert_int_eq(sim_plot_run(l, dir, err, sizeof err), P2P_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "exited with status 3"));
  ck_assert_ptr_nonnull(strstr(err, "line 1: no such terminal"));
  free(fake);
  /* A folder that does not exist. */
  char *nodir = path_in(dir, "nope");
  ck_assert_int_eq(sim_plot_run(l, nodir, err, sizeof err), P2P_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "cannot write"));
  free(nodir);
  sim_evlog_del(l);
  rm_tree(dir);
}
END_TEST

START_TEST(test_json_read_file_round_trips_and_names_bad_files) {
  char *dir = make_tmpdir();
  char *good = path_in(dir, "good.json");
  sim_json *o = sim_json_object(), *back = NULL;
  ck_assert_int_eq(sim_json_set(o, "k|x", sim_json_number(1.5)), 0);
  FILE *f = fopen(good, "w");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(sim_json_write(o, f), 0);
  fclose(f);
  char err[512] = "";
  ck_assert_int_eq(sim_json_read_file(good, &back, err, sizeof err), 0);
  ck_assert(sim_json_num(sim_json_get(back, "k|x")) == 1.5);
  sim_json_free(back);
  sim_json_free(o);

  char *missing = path_in(dir, "missing.json");
  ck_assert_int_eq(sim_json_read_file(missing, &back, err, sizeof err),
                   P2P_ERR_IO);
  ck_assert_ptr_null(back);
  ck_assert_ptr_nonnull(strstr(err, "cannot read"));
  ck_assert_ptr_nonnull(strstr(err, "missing.json"));

  char *bad = path_in(dir, "bad.json");
  write_file(bad, "{\"a\": 1,\n}");
  ck_assert_int_eq(sim_json_read_file(bad, &back, err, sizeof err),
                   P2P_ERR_INVALID);
  ck_assert_ptr_null(back);
  ck_assert_ptr_nonnull(strstr(err, "bad.json: line 2, column 1"));
  free(good);
  free(missing);
  free(bad);
  rm_tree(dir);
}
END_TEST

/* gossip: expected deliveries come from the publish events, a message's
 * deliveries count up to its expected number, latencies from every
 * delivery; connections by kind from conn.open. */
START_TEST(test_summary_gossip_and_connections_from_events) {
  sim_evlog *l;
  ck_assert_int_eq(sim_evlog_new(&l), 0);
  add_ok(l, 1, "b-1", "conn.open", "kind=direct peer=R");
  add_ok(l, 2, "b-1", "conn.open", "kind=relayed peer=X");
  add_ok(l, 2, "b-2", "conn.open", "kind=relayed peer=Y");
  add_ok(l, 10, "b-1", "gossip.publish",
         "id=1.1 topic=chat expected=2 size=128 ok=1");
  add_ok(l, 20, "b-1", "gossip.publish",
         "id=1.2 topic=chat expected=2 size=128 ok=1");
  add_ok(l, 30, "b-2", "gossip.deliver",
         "id=1.1 topic=chat latency_ns=20000000");
  add_ok(l, 40, "b-3", "gossip.deliver",
         "id=1.1 topic=chat latency_ns=30000000");
  /* One more than expected (a host that joined meanwhile) does not make up
   * for the copy of 1.2 that never arrived. */
  add_ok(l, 50, "b-4", "gossip.deliver",
         "id=1.1 topic=chat latency_ns=40000000");
  add_ok(l, 60, "b-2", "gossip.deliver",
         "id=1.2 topic=chat latency_ns=10000000");
  add_ok(l, 70, "b-9", "gossip.deliver", "id=9.9 topic=chat latency_ns=1");
  add_ok(l, 80, "", "gossip.totals", "duplicates=7 rejected=0");
  sim_run_info info = {0};
  sim_json *s = NULL;
  ck_assert_int_eq(sim_summary_compute(l, &info, &s), 0);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "gossip.published")), 2);
  ck_assert_double_eq(
      sim_json_num(sim_json_path(s, "gossip.expected_deliveries")), 4);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "gossip.delivered")), 3);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "gossip.delivery_ratio")),
                      0.75);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "gossip.duplicates")), 7);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "gossip.latency_ms.max")),
                      40);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "connections.direct")), 1);
  ck_assert_double_eq(sim_json_num(sim_json_path(s, "connections.relayed")), 2);
  double *v = NULL;
  size_t n = 0;
  ck_assert_int_eq(sim_summary_gossip_latency(l, &v, &n), 0);
  ck_assert_uint_eq(n, 5);
  ck_assert_double_eq(v[1], 10);
  free(v);
  sim_json_free(s);
  sim_evlog_del(l);
}
END_TEST

static Suite *metrics_suite(void) {
  Suite *s = suite_create("metrics");
  TCase *tc = tcase_create("evlog");
  tcase_add_test(tc, test_evlog_add_keeps_order_and_copies_strings);
  tcase_add_test(tc, test_evlog_add_rejects_characters_the_csv_cannot_carry);
  tcase_add_test(tc, test_evlog_field_finds_whole_keys_only);
  tcase_add_test(tc, test_evlog_addf_formats_fields_of_any_length);
  tcase_add_test(tc, test_evlog_holds_many_events_and_long_strings);
  tcase_add_test(tc, test_evlog_csv_round_trip_is_identical);
  tcase_add_test(tc, test_evlog_csv_sha256_is_the_hash_of_the_file);
  tcase_add_test(tc, test_evlog_csv_reader_rejects_malformed_files_with_line);
  suite_add_tcase(s, tc);
  tc = tcase_create("json");
  tcase_add_test(tc, test_json_write_indents_two_spaces_in_insertion_order);
  tcase_add_test(tc, test_json_write_escapes_keys_and_strings);
  tcase_add_test(tc, test_json_numbers_are_shortest_round_trip);
  tcase_add_test(tc, test_json_parse_then_write_round_trips);
  tcase_add_test(tc, test_json_parse_rejects_malformed_with_line_and_column);
  tcase_add_test(tc, test_json_parse_limits_nesting_to_64);
  tcase_add_test(tc, test_json_path_matches_keys_with_dots_and_bars);
  tcase_add_test(tc, test_json_big_objects_and_arrays_stay_fast_and_ordered);
  tcase_add_test(tc, test_json_read_file_round_trips_and_names_bad_files);
  suite_add_tcase(s, tc);
  tc = tcase_create("summary");
  tcase_add_test(tc, test_summary_counts_attempts_from_events);
  tcase_add_test(tc, test_summary_percentiles_use_nearest_rank);
  tcase_add_test(tc, test_summary_gossip_and_connections_from_events);
  tcase_add_test(tc, test_summary_expect_evaluates_every_operator);
  tcase_add_test(tc, test_summary_expect_rejects_unknown_or_non_numeric_fields);
  suite_add_tcase(s, tc);
  tc = tcase_create("plot");
  tcase_add_test(tc, test_plot_draws_the_time_to_direct_cdf);
  tcase_add_test(tc, test_plot_draws_nothing_without_successes);
  tcase_add_test(tc, test_plot_reports_missing_gnuplot_and_keeps_the_script);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(metrics_suite());
}
