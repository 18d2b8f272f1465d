/* summary_diff REFERENCE ACTUAL: compares two summary.json files field by
 * field. Every field must be equal exactly (same JSON type, same number,
 * same string), except those that measure the machine rather than the
 * simulation: wall_time_s is ignored. Prints each difference as
 * "PATH: reference X, actual Y" and exits 1 when there is any, 2 when a
 * file cannot be read or parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/metrics/json.h"

static const char *const ignored[] = {"wall_time_s", NULL};

static sim_json *load(const char *path) {
  sim_json *j = NULL;
  char err[512];
  if (sim_json_read_file(path, &j, err, sizeof err) < 0)
    fprintf(stderr, "summary_diff: %s\n", err);
  return j;
}

static void show(const sim_json *v, char *buf, size_t len) {
  switch (sim_json_type_of(v)) {
  case SIM_JSON_NUMBER: snprintf(buf, len, "%.17g", sim_json_num(v)); break;
  case SIM_JSON_STRING: snprintf(buf, len, "\"%s\"", sim_json_str(v)); break;
  case SIM_JSON_BOOL:
    snprintf(buf, len, "%s", sim_json_boolean(v) ? "true" : "false");
    break;
  case SIM_JSON_NULL: snprintf(buf, len, "null"); break;
  case SIM_JSON_ARRAY:
    snprintf(buf, len, "[%zu items]", sim_json_len(v));
    break;
  case SIM_JSON_OBJECT:
    snprintf(buf, len, "{%zu keys}", sim_json_len(v));
    break;
  }
}

static int diff(const char *path, const sim_json *a, const sim_json *b) {
  char sa[128], sb[128];
  if (a == NULL || b == NULL || sim_json_type_of(a) != sim_json_type_of(b)) {
    snprintf(sa, sizeof sa, "(absent)");
    snprintf(sb, sizeof sb, "(absent)");
    if (a)
      show(a, sa, sizeof sa);
    if (b)
      show(b, sb, sizeof sb);
    printf("%s: reference %s, actual %s\n", path, sa, sb);
    return 1;
  }
  int n = 0;
  char sub[512];
  switch (sim_json_type_of(a)) {
  case SIM_JSON_OBJECT:
    for (size_t i = 0; i < sim_json_len(a); i++) {
      const char *k = sim_json_key_at(a, i);
      int skip = 0;
      for (size_t j = 0; ignored[j]; j++)
        skip |= path[0] == '\0' && strcmp(k, ignored[j]) == 0;
      if (skip)
        continue;
      snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", k);
      n += diff(sub, sim_json_value_at(a, i), sim_json_get(b, k));
    }
    for (size_t i = 0; i < sim_json_len(b); i++) {
      const char *k = sim_json_key_at(b, i);
      if (sim_json_get(a, k) == NULL) {
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", k);
        n += diff(sub, NULL, sim_json_value_at(b, i));
      }
    }
    return n;
  case SIM_JSON_ARRAY:
    if (sim_json_len(a) != sim_json_len(b)) {
      printf("%s: reference has %zu items, actual %zu\n", path, sim_json_len(a),
             sim_json_len(b));
      return 1;
    }
    for (size_t i = 0; i < sim_json_len(a); i++) {
      snprintf(sub, sizeof sub, "%s[%zu]", path, i);
      n += diff(sub, sim_json_at(a, i), sim_json_at(b, i));
    }
    return n;
  case SIM_JSON_NUMBER:
    if (sim_json_num(a) == sim_json_num(b))
      return 0;
    break;
  case SIM_JSON_STRING:
    if (strcmp(sim_json_str(a), sim_json_str(b)) == 0)
      return 0;
    break;
  case SIM_JSON_BOOL:
    if (sim_json_boolean(a) == sim_json_boolean(b))
      return 0;
    break;
  case SIM_JSON_NULL: return 0;
  }
  show(a, sa, sizeof sa);
  show(b, sb, sizeof sb);
  printf("%s: reference %s, actual %s\n", path, sa, sb);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: summary_diff REFERENCE ACTUAL\n");
    return 2;
  }
  sim_json *a = load(argv[1]), *b = load(argv[2]);
  if (a == NULL || b == NULL) {
    sim_json_free(a);
    sim_json_free(b);
    return 2;
  }
  int n = diff("", a, b);
  sim_json_free(a);
  sim_json_free(b);
  if (n)
    printf("%d difference%s from %s\n", n, n == 1 ? "" : "s", argv[1]);
  return n ? 1 : 0;
}
