/*
 * tests/fuzz/fuzz_json.c - libFuzzer target for the JSON parser and writer.
 *
 * Arbitrary bytes go to sim_json_parse. Whatever it accepts is written with
 * sim_json_write and parsed again: the second tree must equal the first
 * (same types, numbers, strings, and keys in the same order), and writing
 * it again must give the same bytes. Path lookups of every key must find
 * the member they name. Rejections must carry a "line L, column C: "
 * message.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/metrics/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
  if (!ok)
    abort();
}

static int equal(const sim_json *a, const sim_json *b) {
  sim_json_type t = sim_json_type_of(a);
  if (t != sim_json_type_of(b))
    return 0;
  switch (t) {
  case SIM_JSON_NULL: return 1;
  case SIM_JSON_BOOL: return sim_json_boolean(a) == sim_json_boolean(b);
  case SIM_JSON_NUMBER: return sim_json_num(a) == sim_json_num(b);
  case SIM_JSON_STRING: return strcmp(sim_json_str(a), sim_json_str(b)) == 0;
  case SIM_JSON_ARRAY:
    if (sim_json_len(a) != sim_json_len(b))
      return 0;
    for (size_t i = 0; i < sim_json_len(a); i++)
      if (!equal(sim_json_at(a, i), sim_json_at(b, i)))
        return 0;
    return 1;
  case SIM_JSON_OBJECT:
    if (sim_json_len(a) != sim_json_len(b))
      return 0;
    for (size_t i = 0; i < sim_json_len(a); i++) {
      if (strcmp(sim_json_key_at(a, i), sim_json_key_at(b, i)) != 0 ||
          !equal(sim_json_value_at(a, i), sim_json_value_at(b, i)))
        return 0;
      /* Keys are unique, so a lookup finds this very member. */
      if (sim_json_get(a, sim_json_key_at(a, i)) != sim_json_value_at(a, i))
        return 0;
    }
    return 1;
  }
  return 0;
}

/* Writes v into a malloc'd buffer. */
static char *write_text(const sim_json *v, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  check(f != NULL);
  check(sim_json_write(v, f) == 0);
  check(fclose(f) == 0);
  return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sim_json *v = NULL;
  char err[160];
  int rc = sim_json_parse((const char *)data, size, &v, err, sizeof err);
  if (rc != 0) {
    check(v == NULL);
    check(rc == P2P_ERR_INVALID || rc == P2P_ERR_NOMEM);
    unsigned long line, col;
    if (rc == P2P_ERR_INVALID)
      check(sscanf(err, "line %lu, column %lu: ", &line, &col) == 2 &&
            line >= 1 && col >= 1);
    return 0;
  }
  size_t len;
  char *text = write_text(v, &len);
  sim_json *w = NULL;
  rc = sim_json_parse(text, len, &w, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "written JSON does not parse: %s\n%s", err, text);
    abort();
  }
  check(equal(v, w));
  size_t len2;
  char *text2 = write_text(w, &len2);
  check(len == len2 && memcmp(text, text2, len) == 0);
  free(text);
  free(text2);
  sim_json_free(v);
  sim_json_free(w);
  return 0;
}
