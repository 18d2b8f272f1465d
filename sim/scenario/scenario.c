/*
 * sim/scenario/scenario.c - the scenario loader (libyaml).
 *
 * Loading goes in four steps, each of which may stop with one error:
 *  1. an event pass over the text rejects what the node tree would hide or
 *     what we do not support: syntax errors, anchors and aliases, tags,
 *     several documents, deep nesting;
 *  2. yaml_parser_load builds the node tree (with positions), and every
 *     mapping is checked for duplicate and non-scalar keys;
 *  3. the overrides replace or create scalars by dotted path;
 *  4. the tree is interpreted strictly into a sim_scenario; for a sweep,
 *     every axis value is checked by interpreting the document again with
 *     that value as an override.
 * Errors are kept in the loader context as position + text and formatted
 * once at the end, so a sweep check can re-attribute an error to the sweep
 * value that caused it.
 */
#include "sim/scenario/scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define FILE_MAX (1024 * 1024) /* bytes */
#define DEPTH_MAX 64           /* nesting of mappings and lists */
#define COUNT_MAX 1000000u     /* hosts per group */
#define SWEEP_VALUES_MAX 1000  /* values over all sweep axes */
#define MSG_MAX 1024
#define WHAT_MAX 160
#define FRAC_DIGITS_MAX 9

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define PPM_MAX 1000000u

/* ---- unit parsers ------------------------------------------------------ */

typedef struct unit {
  const char *name;
  uint64_t mult; /* base units (ns, bytes, bit/s, ppm) per unit */
} unit;

static const unit duration_units[] = {
    {"ns", 1},       {"us", 1000ull},         {"ms", NS_PER_MS},
    {"s", NS_PER_S}, {"m", 60ull * NS_PER_S}, {"h", 3600ull * NS_PER_S},
    {NULL, 0}};
static const unit size_units[] = {{"B", 1},
                                  {"KiB", 1024ull},
                                  {"MiB", 1024ull * 1024},
                                  {"GiB", 1024ull * 1024 * 1024},
                                  {NULL, 0}};
static const unit rate_units[] = {{"bit", 1},
                                  {"Kbit", 1000ull},
                                  {"Mbit", 1000000ull},
                                  {"Gbit", NS_PER_S},
                                  {"bit/s", 1},
                                  {"Kbit/s", 1000ull},
                                  {"Mbit/s", 1000000ull},
                                  {"Gbit/s", NS_PER_S},
                                  {NULL, 0}};
static const unit percent_units[] = {{"%", PPM_MAX / 100}, {NULL, 0}};

/* Parses "NUMBER[.FRACTION]UNIT" exactly (no rounding). A bare "0" needs
 * no unit. On failure *why says what is wrong. */
static int parse_quantity(const char *s, const unit *units, uint64_t *out,
                          const char **why) {
  if (!s || !*s) {
    *why = "it is empty";
    return -1;
  }
  if (*s == '-') {
    *why = "it is negative";
    return -1;
  }
  if (*s < '0' || *s > '9') {
    *why = "it does not start with a number";
    return -1;
  }
  uint64_t whole = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (whole > (UINT64_MAX - d) / 10) {
      *why = "it is too large";
      return -1;
    }
    whole = whole * 10 + d;
  }
  uint64_t frac = 0, scale = 1;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9') {
      *why = "a digit must follow the decimal point";
      return -1;
    }
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
      if (++digits > FRAC_DIGITS_MAX) {
        *why = "it has more than 9 decimals";
        return -1;
      }
      frac = frac * 10 + (uint64_t)(*p - '0');
      scale *= 10;
    }
  }
  if (!*p) {
    if (whole == 0 && frac == 0) {
      *out = 0;
      return 0;
    }
    *why = "the unit is missing";
    return -1;
  }
  const unit *u = units;
  while (u->name && strcmp(u->name, p) != 0)
    u++;
  if (!u->name) {
    *why = "the unit is unknown";
    return -1;
  }
  if (whole > UINT64_MAX / u->mult) {
    *why = "it is too large";
    return -1;
  }
  /* frac/scale * mult = frac*q + frac*r/scale with q, r = mult divmod scale;
   * frac*q < mult and frac*r < scale^2 <= 10^18, so nothing overflows. */
  uint64_t q = u->mult / scale, r = u->mult % scale;
  if ((frac * r) % scale != 0) {
    *why = "it is finer than the smallest step (1 ns, 1 byte, 1 bit/s or "
           "0.0001%)";
    return -1;
  }
  uint64_t v = whole * u->mult, f = frac * q + frac * r / scale;
  if (v > UINT64_MAX - f) {
    *why = "it is too large";
    return -1;
  }
  *out = v + f;
  return 0;
}

static int parse_percent_why(const char *s, uint32_t *ppm, const char **why) {
  uint64_t v;
  if (parse_quantity(s, percent_units, &v, why) != 0)
    return -1;
  if (v > PPM_MAX) {
    *why = "it is more than 100%";
    return -1;
  }
  *ppm = (uint32_t)v;
  return 0;
}

int sim_parse_duration(const char *s, uint64_t *ns) {
  const char *why;
  uint64_t v;
  if (!ns || parse_quantity(s, duration_units, &v, &why) != 0)
    return P2P_ERR_INVALID;
  *ns = v;
  return 0;
}

int sim_parse_size(const char *s, uint64_t *bytes) {
  const char *why;
  uint64_t v;
  if (!bytes || parse_quantity(s, size_units, &v, &why) != 0)
    return P2P_ERR_INVALID;
  *bytes = v;
  return 0;
}

int sim_parse_rate(const char *s, uint64_t *bps) {
  const char *why;
  uint64_t v;
  if (!bps || parse_quantity(s, rate_units, &v, &why) != 0)
    return P2P_ERR_INVALID;
  *bps = v;
  return 0;
}

int sim_parse_percent(const char *s, uint32_t *ppm) {
  const char *why;
  uint32_t v;
  if (!ppm || parse_percent_why(s, &v, &why) != 0)
    return P2P_ERR_INVALID;
  *ppm = v;
  return 0;
}

/* Decimal integer, no sign, no leading zeros. */
static int parse_uint(const char *s, uint64_t *out, const char **why) {
  if (!*s) {
    *why = "it is empty";
    return -1;
  }
  if (*s == '-') {
    *why = "it is negative";
    return -1;
  }
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') {
      *why = "it is not a decimal integer";
      return -1;
    }
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10) {
      *why = "it is too large";
      return -1;
    }
    v = v * 10 + d;
  }
  if (s[0] == '0' && s[1]) {
    *why = "it has a leading zero";
    return -1;
  }
  *out = v;
  return 0;
}

const char *sim_scn_role_name(sim_scn_role r) {
  switch (r) {
  case SIM_SCN_ROLE_NODE: return "node";
  case SIM_SCN_ROLE_STUN: return "stun";
  case SIM_SCN_ROLE_RELAY: return "relay";
  case SIM_SCN_ROLE_BROWSER: return "browser";
  }
  return "unknown";
}

/* ---- freeing ----------------------------------------------------------- */

void sim_scenario_free(sim_scenario *s) {
  if (!s)
    return;
  free(s->file);
  free(s->name);
  free(s->description);
  free(s->backend);
  free(s->latencies);
  for (size_t i = 0; i < s->n_nats; i++) {
    free(s->nats[i].name);
    free(s->nats[i].preset);
  }
  free(s->nats);
  for (size_t i = 0; i < s->n_hosts; i++) {
    sim_scn_host *h = &s->hosts[i];
    free(h->name);
    free(h->listen);
    for (size_t j = 0; j < h->n_topics; j++)
      free(h->topics[j]);
    free(h->topics);
    free(h->bootstrap);
    free(h->discovery_topic);
  }
  free(s->hosts);
  for (size_t i = 0; i < s->n_workloads; i++)
    free(s->workloads[i].topic);
  free(s->workloads);
  for (size_t i = 0; i < s->n_expects; i++) {
    free(s->expects[i].field);
    free(s->expects[i].text);
  }
  free(s->expects);
  for (size_t i = 0; i < s->n_axes; i++) {
    free(s->axes[i].path);
    for (size_t j = 0; j < s->axes[i].n_values; j++)
      free(s->axes[i].values[j]);
    free(s->axes[i].values);
  }
  free(s->axes);
  free(s);
}

/* ---- loader context and errors ---------------------------------------- */

/* A node put in by an override, for "(from override PATH)". */
typedef struct origin {
  int node;
  size_t ov;
} origin;

typedef struct ctx {
  const char *file;
  const char *buf;
  size_t len;
  yaml_document_t doc;
  bool have_doc;
  const sim_scn_override *ovs;
  size_t n_ovs;
  size_t axis_ov; /* the override being checked for a sweep, or SIZE_MAX */
  origin *origins;
  size_t n_origins;
  bool sweep_check; /* interpreting for a sweep value: skip `sweep:` */
  sim_scenario *s;
  /* The first error. */
  int rc;
  size_t line, col;
  bool from_axis; /* the error is at the node of override axis_ov */
  char msg[MSG_MAX];
} ctx;

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

static int node_id(const ctx *c, const yaml_node_t *n) {
  return (int)(n - c->doc.nodes.start) + 1;
}

static yaml_node_t *node_at(ctx *c, int id) {
  return yaml_document_get_node(&c->doc, id);
}

static void set_error_v(ctx *c, int rc, size_t line, size_t col,
                        const char *fmt, va_list ap) PRINTF_LIKE(5, 0);
static void set_error_v(ctx *c, int rc, size_t line, size_t col,
                        const char *fmt, va_list ap) {
  if (c->rc)
    return;
  c->rc = rc;
  c->line = line;
  c->col = col;
  vsnprintf(c->msg, sizeof c->msg, fmt, ap);
}

/* Records an error at a position (1-based). Returns P2P_ERR_INVALID. */
static int fail_at(ctx *c, size_t line, size_t col, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
static int fail_at(ctx *c, size_t line, size_t col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_error_v(c, P2P_ERR_INVALID, line, col, fmt, ap);
  va_end(ap);
  return P2P_ERR_INVALID;
}

/* Records an error at node n (1:1 when NULL), saying which override put
 * the node there. Returns P2P_ERR_INVALID. */
static int fail(ctx *c, const yaml_node_t *n, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
static int fail(ctx *c, const yaml_node_t *n, const char *fmt, ...) {
  if (c->rc)
    return c->rc;
  va_list ap;
  va_start(ap, fmt);
  size_t line = n ? n->start_mark.line + 1 : 1;
  size_t col = n ? n->start_mark.column + 1 : 1;
  set_error_v(c, P2P_ERR_INVALID, line, col, fmt, ap);
  va_end(ap);
  if (!n)
    return c->rc;
  int id = node_id(c, n);
  for (size_t i = 0; i < c->n_origins; i++) {
    if (c->origins[i].node != id)
      continue;
    if (c->origins[i].ov == c->axis_ov) {
      c->from_axis = true;
    } else {
      size_t used = strlen(c->msg);
      snprintf(c->msg + used, sizeof c->msg - used, " (from override %s)",
               c->ovs[c->origins[i].ov].path);
    }
    break;
  }
  return c->rc;
}

static int nomem(ctx *c) {
  if (!c->rc) {
    c->rc = P2P_ERR_NOMEM;
    c->line = c->col = 1;
    snprintf(c->msg, sizeof c->msg, "out of memory");
  }
  return P2P_ERR_NOMEM;
}

static char *dup_str(ctx *c, const char *s) {
  char *d = strdup(s);
  if (!d)
    nomem(c);
  return d;
}

/* Joins a NULL-terminated list: "a, b, c". */
static const char *join(char *buf, size_t cap, const char *const *names) {
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; names[i] && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
                             names[i]);
  return buf;
}

/* ---- node helpers ------------------------------------------------------ */

static const char *kind_name(const yaml_node_t *n) {
  switch (n->type) {
  case YAML_SCALAR_NODE: return "a single value";
  case YAML_SEQUENCE_NODE: return "a list";
  case YAML_MAPPING_NODE: return "a mapping";
  default: return "nothing";
  }
}

static const char *scalar_str(const yaml_node_t *n) {
  return (const char *)n->data.scalar.value;
}

static size_t map_len(const yaml_node_t *n) {
  return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static size_t seq_len(const yaml_node_t *n) {
  return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *pair_key(ctx *c, const yaml_node_t *map, size_t i) {
  return node_at(c, map->data.mapping.pairs.start[i].key);
}

static yaml_node_t *pair_value(ctx *c, const yaml_node_t *map, size_t i) {
  return node_at(c, map->data.mapping.pairs.start[i].value);
}

static yaml_node_t *seq_item(ctx *c, const yaml_node_t *seq, size_t i) {
  return node_at(c, seq->data.sequence.items.start[i]);
}

/* The value of `key` in a mapping, or NULL. Keys are unique and scalar
 * (checked when loading). */
static yaml_node_t *map_get(ctx *c, const yaml_node_t *map, const char *key) {
  for (size_t i = 0; i < map_len(map); i++)
    if (strcmp(scalar_str(pair_key(c, map, i)), key) == 0)
      return pair_value(c, map, i);
  return NULL;
}

/* what.key, for messages (cut to fit). */
static void sub(char *buf, size_t cap, const char *what, const char *key) {
  if (snprintf(buf, cap, "%s.%s", what, key) >= (int)cap && cap > 4)
    memcpy(buf + cap - 4, "...", 4);
}

static bool in_list(const char *s, const char *const *names) {
  for (size_t i = 0; names[i]; i++)
    if (strcmp(s, names[i]) == 0)
      return true;
  return false;
}

static int want_mapping(ctx *c, const yaml_node_t *n, const char *what) {
  if (n->type == YAML_MAPPING_NODE)
    return 0;
  return fail(c, n, "%s must be a mapping, not %s (expected key: value pairs)",
              what, kind_name(n));
}

/* Checks that a mapping holds only `allowed` keys. */
static int check_keys(ctx *c, const yaml_node_t *map, const char *what,
                      const char *const *allowed) {
  for (size_t i = 0; i < map_len(map); i++) {
    const yaml_node_t *k = pair_key(c, map, i);
    if (!in_list(scalar_str(k), allowed)) {
      char list[512];
      return fail(c, k, "unknown key '%.64s' in %s (expected one of: %s)",
                  scalar_str(k), what, join(list, sizeof list, allowed));
    }
  }
  return 0;
}

static int need_key(ctx *c, const yaml_node_t *map, const char *key,
                    const char *what, const char *expected, yaml_node_t **out) {
  *out = map_get(c, map, key);
  if (*out)
    return 0;
  return fail(c, map, "%s has no '%s' (expected %s)", what, key, expected);
}

static int want_scalar(ctx *c, const yaml_node_t *n, const char *what,
                       const char *expected, const char **out) {
  *out = "";
  if (n->type != YAML_SCALAR_NODE)
    return fail(c, n, "%s must be a single value, not %s (expected %s)", what,
                kind_name(n), expected);
  *out = scalar_str(n);
  return 0;
}

static bool charset_ok(const char *s, const char *extra, bool upper) {
  if (!*s)
    return false;
  for (const char *p = s; *p; p++) {
    char ch = *p;
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              (upper && ch >= 'A' && ch <= 'Z') || strchr(extra, ch) != NULL;
    if (!ok)
      return false;
  }
  return true;
}

/* A name of a host group or NAT profile: [A-Za-z0-9_-]+. */
static bool ident_ok(const char *s) {
  return charset_ok(s, "_-", true);
}

static int get_uint(ctx *c, const yaml_node_t *n, const char *what,
                    uint64_t min, uint64_t max, uint64_t *out) {
  char expected[96];
  if (max == UINT64_MAX)
    snprintf(expected, sizeof expected, "a decimal integer >= %llu",
             (unsigned long long)min);
  else
    snprintf(expected, sizeof expected, "a decimal integer from %llu to %llu",
             (unsigned long long)min, (unsigned long long)max);
  const char *s, *why;
  uint64_t v;
  if (want_scalar(c, n, what, expected, &s) != 0)
    return P2P_ERR_INVALID;
  if (parse_uint(s, &v, &why) != 0)
    return fail(c, n, "%s: '%.64s' is not valid: %s (expected %s)", what, s,
                why, expected);
  if (v < min)
    return fail(c, n, "%s must be at least %llu, not %llu (expected %s)", what,
                (unsigned long long)min, (unsigned long long)v, expected);
  if (v > max)
    return fail(c, n, "%s must be at most %llu, not %llu (expected %s)", what,
                (unsigned long long)max, (unsigned long long)v, expected);
  *out = v;
  return 0;
}

static int get_quantity(ctx *c, const yaml_node_t *n, const char *what,
                        const unit *units, const char *expected,
                        uint64_t *out) {
  const char *s, *why;
  if (want_scalar(c, n, what, expected, &s) != 0)
    return P2P_ERR_INVALID;
  if (parse_quantity(s, units, out, &why) != 0)
    return fail(c, n, "%s: '%.64s' is not valid: %s (expected %s)", what, s,
                why, expected);
  return 0;
}

#define DURATION_EXPECTED                                                      \
  "a duration: a number and a unit ns, us, ms, s, m or h, e.g. 20ms"

static int get_duration(ctx *c, const yaml_node_t *n, const char *what,
                        bool positive, uint64_t *out) {
  if (get_quantity(c, n, what, duration_units, DURATION_EXPECTED, out) != 0)
    return P2P_ERR_INVALID;
  if (positive && *out == 0)
    return fail(c, n,
                "%s must be longer than 0 (expected a duration > 0, e.g. 20ms)",
                what);
  return 0;
}

static int get_percent(ctx *c, const yaml_node_t *n, const char *what,
                       uint32_t *ppm) {
  static const char expected[] = "a percentage from 0% to 100%, e.g. 0.5%";
  const char *s, *why;
  if (want_scalar(c, n, what, expected, &s) != 0)
    return P2P_ERR_INVALID;
  if (parse_percent_why(s, ppm, &why) != 0)
    return fail(c, n, "%s: '%.64s' is not valid: %s (expected %s)", what, s,
                why, expected);
  return 0;
}

static int get_bool(ctx *c, const yaml_node_t *n, const char *what, bool *out) {
  const char *s;
  if (want_scalar(c, n, what, "true or false", &s) != 0)
    return P2P_ERR_INVALID;
  if (strcmp(s, "true") == 0)
    *out = true;
  else if (strcmp(s, "false") == 0)
    *out = false;
  else
    return fail(c, n, "%s: '%.64s' is not a boolean (expected true or false)",
                what, s);
  return 0;
}

/* ---- steps 1 and 2: reading and parsing -------------------------------- */

static int read_file(ctx *c, const char *path, char **out, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    c->rc = P2P_ERR_IO;
    c->line = c->col = 1;
    snprintf(c->msg, sizeof c->msg, "cannot open the file: %s",
             strerror(errno));
    return c->rc;
  }
  /* Grow the buffer as the file comes (it may be a pipe), to one byte
   * more than the limit, so that an oversized file is told apart. */
  size_t cap = 0, n = 0;
  char *buf = NULL;
  int bad = 0;
  while (!bad && n <= FILE_MAX) {
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16384;
      if (ncap > FILE_MAX + 1)
        ncap = FILE_MAX + 1;
      char *grown = realloc(buf, ncap);
      if (!grown) {
        free(buf);
        fclose(f);
        return nomem(c);
      }
      buf = grown;
      cap = ncap;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      bad = ferror(f);
      break;
    }
  }
  fclose(f);
  if (bad) {
    free(buf);
    c->rc = P2P_ERR_IO;
    c->line = c->col = 1;
    snprintf(c->msg, sizeof c->msg, "cannot read the file");
    return c->rc;
  }
  if (n > FILE_MAX) {
    free(buf);
    return fail_at(c, 1, 1,
                   "the file is larger than 1 MiB (expected a scenario of at "
                   "most %d bytes)",
                   FILE_MAX);
  }
  *out = buf;
  *len = n;
  return 0;
}

static int syntax_error(ctx *c, const yaml_parser_t *p) {
  if (p->error == YAML_MEMORY_ERROR)
    return nomem(c);
  size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
  if (p->error == YAML_READER_ERROR) {
    /* The reader reports a byte offset only. */
    line = col = 1;
    for (size_t i = 0; i < p->problem_offset && i < c->len; i++) {
      if (c->buf[i] == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
  }
  return fail_at(c, line, col, "invalid YAML: %s%s%s (expected valid YAML)",
                 p->problem ? p->problem : "syntax error",
                 p->context ? " " : "", p->context ? p->context : "");
}

/* Step 1: the event pass. */
static int scan_events(ctx *c) {
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p))
    return nomem(c);
  yaml_parser_set_input_string(&p, (const unsigned char *)c->buf, c->len);
  int rc = 0, docs = 0, depth = 0;
  bool done = false;
  while (!done && rc == 0) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&p, &ev)) {
      rc = syntax_error(c, &p);
      break;
    }
    size_t line = ev.start_mark.line + 1, col = ev.start_mark.column + 1;
    const yaml_char_t *anchor = NULL, *tag = NULL;
    switch (ev.type) {
    case YAML_STREAM_END_EVENT:
      done = true;
      if (docs == 0)
        rc = fail_at(c, 1, 1,
                     "the scenario is empty (expected a mapping, e.g. "
                     "name: x)");
      break;
    case YAML_DOCUMENT_START_EVENT:
      if (++docs > 1)
        rc = fail_at(c, line, col,
                     "a second document: several documents are not "
                     "supported (expected one YAML document)");
      break;
    case YAML_ALIAS_EVENT:
      rc = fail_at(c, line, col,
                   "alias '*%.64s': aliases are not supported (expected "
                   "the value written out)",
                   (const char *)ev.data.alias.anchor);
      break;
    case YAML_SCALAR_EVENT:
      anchor = ev.data.scalar.anchor;
      tag = ev.data.scalar.tag;
      break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      if (ev.type == YAML_SEQUENCE_START_EVENT) {
        anchor = ev.data.sequence_start.anchor;
        tag = ev.data.sequence_start.tag;
      } else {
        anchor = ev.data.mapping_start.anchor;
        tag = ev.data.mapping_start.tag;
      }
      if (++depth > DEPTH_MAX)
        rc = fail_at(c, line, col,
                     "nesting is too deep (expected at most %d levels)",
                     DEPTH_MAX);
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: depth--; break;
    default: break;
    }
    if (rc == 0 && anchor)
      rc = fail_at(c, line, col,
                   "anchor '&%.64s': anchors and aliases are not supported "
                   "(expected the value written out)",
                   (const char *)anchor);
    if (rc == 0 && tag)
      rc = fail_at(c, line, col,
                   "tag '%.64s': tags are not supported (expected a plain "
                   "value)",
                   (const char *)tag);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  return rc;
}

typedef struct keyref {
  const char *key;
  size_t index;
} keyref;

static int keyref_cmp(const void *a, const void *b) {
  const keyref *x = a, *y = b;
  int r = strcmp(x->key, y->key);
  if (r)
    return r;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* Step 2b: keys are scalars and unique; scalars hold no NUL. */
static int check_tree(ctx *c) {
  for (yaml_node_t *n = c->doc.nodes.start; n < c->doc.nodes.top; n++) {
    if (n->type == YAML_SCALAR_NODE) {
      if (strlen(scalar_str(n)) != n->data.scalar.length)
        return fail(c, n,
                    "a value holds a NUL character (expected plain text)");
      continue;
    }
    if (n->type != YAML_MAPPING_NODE)
      continue;
    size_t len = map_len(n);
    for (size_t i = 0; i < len; i++) {
      const yaml_node_t *k = pair_key(c, n, i);
      if (k->type != YAML_SCALAR_NODE)
        return fail(c, k, "a key is %s (expected a plain name as key)",
                    kind_name(k));
    }
    if (len < 2)
      continue;
    keyref *refs = malloc(len * sizeof *refs);
    if (!refs)
      return nomem(c);
    for (size_t i = 0; i < len; i++) {
      refs[i].key = scalar_str(pair_key(c, n, i));
      refs[i].index = i;
    }
    qsort(refs, len, sizeof *refs, keyref_cmp);
    /* Report the repeat that comes first in the file. */
    size_t first = SIZE_MAX, orig = 0;
    for (size_t i = 1; i < len; i++)
      if (strcmp(refs[i].key, refs[i - 1].key) == 0 && refs[i].index < first) {
        first = refs[i].index;
        /* refs[i-1] may itself be a repeat; find the first of the run. */
        size_t j = i - 1;
        while (j > 0 && strcmp(refs[j - 1].key, refs[i].key) == 0)
          j--;
        orig = refs[j].index;
      }
    free(refs);
    if (first != SIZE_MAX) {
      const yaml_node_t *k = pair_key(c, n, first);
      const yaml_node_t *o = pair_key(c, n, orig);
      return fail(c, k,
                  "duplicate key '%.64s', first at line %zu (expected each "
                  "key once)",
                  scalar_str(k), o->start_mark.line + 1);
    }
  }
  return 0;
}

/* ---- step 3: overrides ------------------------------------------------- */

static const char *const top_keys[] = {
    "name", "description", "seed",     "duration", "backend", "network",
    "nats", "hosts",       "workload", "expect",   "sweep",   NULL};
static const char *const network_keys[] = {
    "latency", "jitter", "loss", "access", "latency_overrides", NULL};
static const char *const link_keys[] = {"latency",   "jitter", "loss",
                                        "bandwidth", "queue",  NULL};
static const char *const nat_keys[] = {"preset",
                                       "mapping",
                                       "filtering",
                                       "port_allocation",
                                       "udp_timeout",
                                       "tcp_established_timeout",
                                       "tcp_transitory_timeout",
                                       "hairpin",
                                       "udp_blocked",
                                       "inbound_refresh",
                                       "port_range",
                                       NULL};
static const char *const host_keys[] = {
    "name",      "role",      "count",      "nat",   "cgnat",
    "access",    "listen",    "transports", "relay", "pubsub",
    "bootstrap", "discovery", "stun",       NULL};
static const char *const relay_keys[] = {
    "reservations",     "reservations_per_ip", "circuits", "reservation_ttl",
    "circuit_duration", "circuit_data",        NULL};
static const char *const pubsub_keys[] = {"topics", NULL};
static const char *const discovery_keys[] = {"pubsub", "max_connections", NULL};
static const char *const discovery_pubsub_keys[] = {"topic", "interval", NULL};
static const char *const gossip_keys[] = {
    "topic", "publishers", "rate", "size", "start", "stop", "messages", NULL};
static const char *const holepunch_keys[] = {
    "a",        "b",       "stun",           "start",
    "interval", "timeout", "probe_interval", "signal_delay",
    NULL};
static const char *const latency_override_keys[] = {"between", "latency", NULL};
static const char *const workload_kinds[] = {"holepunch", "gossip", NULL};
static const char *const sweep_keys[] = {"seeds", NULL};

/* Where a path segment lands, for what it may name and create. */
typedef enum scope {
  SC_ROOT,
  SC_NETWORK,
  SC_LINK,
  SC_NATS,
  SC_NAT,
  SC_HOSTS,
  SC_HOST,
  SC_WORKLOADS,
  SC_WORKLOAD,
  SC_HOLEPUNCH,
  SC_GOSSIP,
  SC_RELAY,
  SC_PUBSUB,
  SC_DISCOVERY,
  SC_DISCOVERY_PUBSUB,
  SC_EXPECT,
  SC_SWEEP,
  SC_OTHER
} scope;

static scope child_scope(scope sc, const char *key) {
  switch (sc) {
  case SC_ROOT:
    if (strcmp(key, "network") == 0)
      return SC_NETWORK;
    if (strcmp(key, "nats") == 0)
      return SC_NATS;
    if (strcmp(key, "hosts") == 0)
      return SC_HOSTS;
    if (strcmp(key, "workload") == 0)
      return SC_WORKLOADS;
    if (strcmp(key, "expect") == 0)
      return SC_EXPECT;
    if (strcmp(key, "sweep") == 0)
      return SC_SWEEP;
    return SC_OTHER;
  case SC_NETWORK: return strcmp(key, "access") == 0 ? SC_LINK : SC_OTHER;
  case SC_HOST:
    if (strcmp(key, "access") == 0)
      return SC_LINK;
    if (strcmp(key, "relay") == 0)
      return SC_RELAY;
    if (strcmp(key, "pubsub") == 0)
      return SC_PUBSUB;
    if (strcmp(key, "discovery") == 0)
      return SC_DISCOVERY;
    return SC_OTHER;
  case SC_DISCOVERY:
    return strcmp(key, "pubsub") == 0 ? SC_DISCOVERY_PUBSUB : SC_OTHER;
  case SC_NATS: return SC_NAT;
  case SC_HOSTS: return SC_HOST;
  case SC_WORKLOADS: return SC_WORKLOAD;
  case SC_WORKLOAD:
    if (strcmp(key, "holepunch") == 0)
      return SC_HOLEPUNCH;
    return strcmp(key, "gossip") == 0 ? SC_GOSSIP : SC_OTHER;
  default: return SC_OTHER;
  }
}

static bool field_ok(const char *s) {
  return charset_ok(s, "_.|-", false);
}

/* The keys a scope may gain through an override, or NULL for none. */
static const char *const *creatable_keys(scope sc) {
  switch (sc) {
  case SC_ROOT: return top_keys;
  case SC_NETWORK: return network_keys;
  case SC_LINK: return link_keys;
  case SC_NAT: return nat_keys;
  case SC_HOST: return host_keys;
  case SC_HOLEPUNCH: return holepunch_keys;
  case SC_GOSSIP: return gossip_keys;
  case SC_RELAY: return relay_keys;
  case SC_PUBSUB: return pubsub_keys;
  case SC_DISCOVERY: return discovery_keys;
  case SC_DISCOVERY_PUBSUB: return discovery_pubsub_keys;
  case SC_SWEEP: return sweep_keys;
  default: return NULL;
  }
}

/* A resolved setting: item `index` of node `parent`, or a key to create. */
typedef struct target {
  int parent;
  size_t index;
  const char *new_key; /* points into the path; NULL: the setting exists */
} target;

static bool seg_eq(const char *s, const char *seg, size_t len) {
  return strncmp(s, seg, len) == 0 && s[len] == 0;
}

/* Lists the names a failed segment could have been. */
static void list_choices(ctx *c, const yaml_node_t *n, scope sc, char *buf,
                         size_t cap) {
  size_t used = 0;
  buf[0] = 0;
  if (n->type == YAML_MAPPING_NODE) {
    const char *const *extra = creatable_keys(sc);
    if (extra) {
      join(buf, cap, extra);
      return;
    }
    for (size_t i = 0; i < map_len(n) && used < cap; i++)
      used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
                               scalar_str(pair_key(c, n, i)));
  } else if (n->type == YAML_SEQUENCE_NODE && sc == SC_HOSTS) {
    for (size_t i = 0; i < seq_len(n) && used < cap; i++) {
      yaml_node_t *it = seq_item(c, n, i), *nm = NULL;
      if (it->type == YAML_MAPPING_NODE)
        nm = map_get(c, it, "name");
      if (nm && nm->type == YAML_SCALAR_NODE)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s",
                                 used ? ", " : "", scalar_str(nm));
    }
  } else if (n->type == YAML_SEQUENCE_NODE) {
    if (seq_len(n) == 0)
      snprintf(buf, cap, "nothing: the list is empty");
    else
      snprintf(buf, cap, "an index from 0 to %zu", seq_len(n) - 1);
  }
}

/* Resolves a dotted path in the document. On failure returns -1, with *at
 * the node where it failed and `why` filled. */
static int resolve(ctx *c, const char *path, target *t, yaml_node_t **at,
                   char *why, size_t wl) {
  yaml_node_t *root = yaml_document_get_root_node(&c->doc);
  int cur = node_id(c, root);
  scope sc = SC_ROOT;
  const char *p = path;
  for (;;) {
    yaml_node_t *n = node_at(c, cur);
    *at = n;
    const char *dot = NULL;
    size_t len;
    if (sc == SC_EXPECT || sc == SC_SWEEP) {
      len = strlen(p); /* their keys are dotted paths themselves */
    } else {
      dot = strchr(p, '.');
      len = dot ? (size_t)(dot - p) : strlen(p);
    }
    if (len == 0) {
      snprintf(why, wl, "a part of the path is empty (expected NAME.NAME...)");
      return -1;
    }
    bool final = dot == NULL;
    char list[512];
    size_t i = 0, count = 0;
    if (n->type == YAML_MAPPING_NODE) {
      count = map_len(n);
      for (i = 0; i < count; i++)
        if (seg_eq(scalar_str(pair_key(c, n, i)), p, len))
          break;
      if (i == count) {
        const char *const *keys = creatable_keys(sc);
        if (final &&
            ((keys && in_list(p, keys)) || (sc == SC_EXPECT && field_ok(p)))) {
          t->parent = cur;
          t->new_key = p;
          return 0;
        }
        list_choices(c, n, sc, list, sizeof list);
        snprintf(why, wl, "no key '%.*s' here (expected one of: %s)",
                 (int)(len > 64 ? 64 : len), p, list);
        return -1;
      }
      if (final) {
        t->parent = cur;
        t->index = i;
        t->new_key = NULL;
        return 0;
      }
      sc = child_scope(sc, scalar_str(pair_key(c, n, i)));
      cur = n->data.mapping.pairs.start[i].value;
    } else if (n->type == YAML_SEQUENCE_NODE) {
      count = seq_len(n);
      if (sc == SC_HOSTS) {
        for (i = 0; i < count; i++) {
          yaml_node_t *it = seq_item(c, n, i), *nm = NULL;
          if (it->type == YAML_MAPPING_NODE)
            nm = map_get(c, it, "name");
          if (nm && nm->type == YAML_SCALAR_NODE &&
              seg_eq(scalar_str(nm), p, len))
            break;
        }
        if (i == count) {
          list_choices(c, n, sc, list, sizeof list);
          snprintf(why, wl, "no host group '%.*s' (expected one of: %s)",
                   (int)(len > 64 ? 64 : len), p, list);
          return -1;
        }
      } else {
        i = 0;
        bool digits = len <= 9;
        for (size_t k = 0; k < len && digits; k++) {
          digits = p[k] >= '0' && p[k] <= '9';
          i = i * 10 + (size_t)(p[k] - '0');
        }
        if (!digits || i >= count || (len > 1 && p[0] == '0')) {
          list_choices(c, n, sc, list, sizeof list);
          snprintf(why, wl, "no item '%.*s' in this list (expected %s)",
                   (int)(len > 64 ? 64 : len), p, list);
          return -1;
        }
      }
      if (final) {
        t->parent = cur;
        t->index = i;
        t->new_key = NULL;
        return 0;
      }
      sc = child_scope(sc, "");
      cur = n->data.sequence.items.start[i];
    } else {
      snprintf(why, wl,
               "'%.*s' is inside a single value (expected a mapping or a "
               "list to look in)",
               (int)(len > 64 ? 64 : len), p);
      return -1;
    }
    p = dot + 1;
  }
}

static int add_scalar(ctx *c, const char *value, yaml_mark_t mark) {
  int id =
      yaml_document_add_scalar(&c->doc, NULL, (const yaml_char_t *)value,
                               (int)strlen(value), YAML_PLAIN_SCALAR_STYLE);
  if (!id)
    return nomem(c);
  yaml_node_t *n = node_at(c, id);
  n->start_mark = n->end_mark = mark;
  return id;
}

/* Puts override `ov` into the document. */
static int apply_override(ctx *c, size_t ov) {
  const sim_scn_override *o = &c->ovs[ov];
  if (!o->path || !o->value)
    return fail_at(c, 1, 1,
                   "override: path or value missing (expected "
                   "PATH=VALUE)");
  if (strlen(o->value) > INT32_MAX / 2)
    return fail_at(c, 1, 1, "override %s: the value is too long", o->path);
  target t;
  yaml_node_t *at;
  char why[768];
  if (resolve(c, o->path, &t, &at, why, sizeof why) != 0)
    return fail(c, at, "override %.128s=%.128s: no such setting: %s", o->path,
                o->value, why);
  yaml_node_t *parent = node_at(c, t.parent);
  yaml_mark_t mark = parent->start_mark;
  int old = 0;
  if (!t.new_key) {
    old = parent->type == YAML_MAPPING_NODE
              ? parent->data.mapping.pairs.start[t.index].value
              : parent->data.sequence.items.start[t.index];
    mark = node_at(c, old)->start_mark;
  }
  origin *grown = realloc(c->origins, (c->n_origins + 1) * sizeof *c->origins);
  if (!grown)
    return nomem(c);
  c->origins = grown;
  int v = add_scalar(c, o->value, mark);
  if (v < 0)
    return v;
  c->origins[c->n_origins++] = (origin){v, ov};
  parent = node_at(c, t.parent); /* adding nodes may move them */
  if (t.new_key) {
    int k = add_scalar(c, t.new_key, mark);
    if (k < 0)
      return k;
    if (!yaml_document_append_mapping_pair(&c->doc, t.parent, k, v))
      return nomem(c);
  } else if (parent->type == YAML_MAPPING_NODE) {
    parent->data.mapping.pairs.start[t.index].value = v;
  } else {
    parent->data.sequence.items.start[t.index] = v;
  }
  return 0;
}

/* ---- step 4: interpretation -------------------------------------------- */

static int parse_link(ctx *c, const yaml_node_t *n, const char *what,
                      p2plab_link_config *link) {
  char w[WHAT_MAX];
  if (want_mapping(c, n, what) != 0 || check_keys(c, n, what, link_keys) != 0)
    return P2P_ERR_INVALID;
  yaml_node_t *v;
  if ((v = map_get(c, n, "latency"))) {
    sub(w, sizeof w, what, "latency");
    if (get_duration(c, v, w, false, &link->latency_ns) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, n, "jitter"))) {
    sub(w, sizeof w, what, "jitter");
    if (get_duration(c, v, w, false, &link->jitter_ns) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, n, "loss"))) {
    sub(w, sizeof w, what, "loss");
    if (get_percent(c, v, w, &link->loss_ppm) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, n, "bandwidth"))) {
    sub(w, sizeof w, what, "bandwidth");
    if (get_quantity(c, v, w, rate_units,
                     "a rate: a number and a unit bit, Kbit, Mbit or Gbit "
                     "(optionally /s), e.g. 100Mbit; 0 for unlimited",
                     &link->rate_bps) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, n, "queue"))) {
    static const char expected[] =
        "a size: a number and a unit B, KiB, MiB or GiB, at most 4GiB - 1B, "
        "e.g. 64KiB; 0 for unlimited";
    uint64_t q;
    sub(w, sizeof w, what, "queue");
    if (get_quantity(c, v, w, size_units, expected, &q) != 0)
      return P2P_ERR_INVALID;
    if (q > UINT32_MAX)
      return fail(c, v, "%s: '%.64s' is too large (expected %s)", w,
                  scalar_str(v), expected);
    link->queue_bytes = (uint32_t)q;
  }
  return 0;
}

static int nat_behavior(ctx *c, const yaml_node_t *prof, const char *key,
                        const char *what, sim_nat_behavior *out) {
  yaml_node_t *v = map_get(c, prof, key);
  if (!v)
    return 0;
  static const char expected[] = "endpoint-independent, address-dependent or "
                                 "address-and-port-dependent";
  char w[WHAT_MAX];
  const char *s;
  sub(w, sizeof w, what, key);
  if (want_scalar(c, v, w, expected, &s) != 0)
    return P2P_ERR_INVALID;
  if (sim_nat_behavior_parse(s, out) != 0)
    return fail(c, v, "%s: unknown behaviour '%.64s' (expected %s)", w, s,
                expected);
  return 0;
}

static int nat_timeout(ctx *c, const yaml_node_t *prof, const char *key,
                       const char *what, uint64_t *out) {
  yaml_node_t *v = map_get(c, prof, key);
  if (!v)
    return 0;
  char w[WHAT_MAX];
  sub(w, sizeof w, what, key);
  return get_duration(c, v, w, true, out);
}

static int nat_flag(ctx *c, const yaml_node_t *prof, const char *key,
                    const char *what, bool *out) {
  yaml_node_t *v = map_get(c, prof, key);
  if (!v)
    return 0;
  char w[WHAT_MAX];
  sub(w, sizeof w, what, key);
  return get_bool(c, v, w, out);
}

static int parse_port_range(ctx *c, const yaml_node_t *v, const char *what,
                            sim_nat_config *cfg) {
  static const char expected[] =
      "[MIN, MAX] with 1 <= MIN <= MAX <= 65535, e.g. [1024, 65535]";
  if (v->type != YAML_SEQUENCE_NODE || seq_len(v) != 2)
    return fail(c, v, "%s must be a list of two ports (expected %s)", what,
                expected);
  uint64_t port[2];
  for (size_t i = 0; i < 2; i++)
    if (get_uint(c, seq_item(c, v, i), what, 1, 65535, &port[i]) != 0)
      return P2P_ERR_INVALID;
  if (port[0] > port[1])
    return fail(c, v, "%s: %llu is above %llu (expected %s)", what,
                (unsigned long long)port[0], (unsigned long long)port[1],
                expected);
  cfg->port_min = (uint16_t)port[0];
  cfg->port_max = (uint16_t)port[1];
  return 0;
}

static int parse_nat(ctx *c, const yaml_node_t *key, const yaml_node_t *prof,
                     sim_scn_nat *out) {
  const char *name = scalar_str(key);
  if (!ident_ok(name))
    return fail(c, key,
                "NAT profile name '%.64s' is not valid (expected letters, "
                "digits, '_' and '-')",
                name);
  if (!(out->name = dup_str(c, name)))
    return P2P_ERR_NOMEM;
  char what[WHAT_MAX], w[WHAT_MAX];
  snprintf(what, sizeof what, "nats.%.64s", name);
  if (want_mapping(c, prof, what) != 0 ||
      check_keys(c, prof, what, nat_keys) != 0)
    return P2P_ERR_INVALID;
  yaml_node_t *v = map_get(c, prof, "preset");
  const char *preset = "full-cone";
  if (v) {
    char list[256];
    join(list, sizeof list, sim_nat_preset_names());
    sub(w, sizeof w, what, "preset");
    if (want_scalar(c, v, w, list, &preset) != 0)
      return P2P_ERR_INVALID;
    if (sim_nat_preset(preset, &out->cfg) != 0)
      return fail(c, v, "%s: unknown preset '%.64s' (expected one of: %s)", w,
                  preset, list);
    if (!(out->preset = dup_str(c, preset)))
      return P2P_ERR_NOMEM;
    if (!out->cfg.enabled && map_len(prof) > 1) {
      for (size_t i = 0; i < map_len(prof); i++) {
        const yaml_node_t *k = pair_key(c, prof, i);
        if (strcmp(scalar_str(k), "preset") != 0)
          return fail(c, k,
                      "%s: preset 'open' means no NAT and takes no '%s' "
                      "(expected only preset: open)",
                      what, scalar_str(k));
      }
    }
  } else if (sim_nat_preset(preset, &out->cfg) != 0) {
    return fail(c, prof, "internal: preset full-cone is missing");
  }
  sim_nat_config *cfg = &out->cfg;
  if (nat_behavior(c, prof, "mapping", what, &cfg->mapping) != 0 ||
      nat_behavior(c, prof, "filtering", what, &cfg->filtering) != 0)
    return P2P_ERR_INVALID;
  if ((v = map_get(c, prof, "port_allocation"))) {
    static const char expected[] = "preserve, sequential or random";
    const char *s;
    sub(w, sizeof w, what, "port_allocation");
    if (want_scalar(c, v, w, expected, &s) != 0)
      return P2P_ERR_INVALID;
    if (sim_nat_port_alloc_parse(s, &cfg->port_alloc) != 0)
      return fail(c, v, "%s: unknown port allocation '%.64s' (expected %s)", w,
                  s, expected);
  }
  if (nat_timeout(c, prof, "udp_timeout", what, &cfg->udp_timeout_ns) != 0 ||
      nat_timeout(c, prof, "tcp_established_timeout", what,
                  &cfg->tcp_established_timeout_ns) != 0 ||
      nat_timeout(c, prof, "tcp_transitory_timeout", what,
                  &cfg->tcp_transitory_timeout_ns) != 0 ||
      nat_flag(c, prof, "hairpin", what, &cfg->hairpin) != 0 ||
      nat_flag(c, prof, "udp_blocked", what, &cfg->udp_blocked) != 0 ||
      nat_flag(c, prof, "inbound_refresh", what, &cfg->inbound_refresh) != 0)
    return P2P_ERR_INVALID;
  if ((v = map_get(c, prof, "port_range"))) {
    sub(w, sizeof w, what, "port_range");
    if (parse_port_range(c, v, w, cfg) != 0)
      return P2P_ERR_INVALID;
  }
  if (cfg->enabled && sim_nat_config_check(cfg) != 0)
    return fail(c, prof,
                "%s is not a consistent NAT configuration (expected valid "
                "behaviours, timeouts > 0 and a port range)",
                what);
  return 0;
}

static int parse_nats(ctx *c, const yaml_node_t *n) {
  sim_scenario *s = c->s;
  if (want_mapping(c, n, "nats") != 0)
    return P2P_ERR_INVALID;
  size_t len = map_len(n);
  if (len == 0)
    return 0;
  if (!(s->nats = calloc(len, sizeof *s->nats)))
    return nomem(c);
  s->n_nats = len;
  for (size_t i = 0; i < len; i++)
    if (parse_nat(c, pair_key(c, n, i), pair_value(c, n, i), &s->nats[i]) != 0)
      return c->rc;
  return 0;
}

static int find_nat(const sim_scenario *s, const char *name) {
  for (size_t i = 0; i < s->n_nats; i++)
    if (strcmp(s->nats[i].name, name) == 0)
      return (int)i;
  return SIM_SCN_NONE;
}

static int find_host(const sim_scenario *s, const char *name) {
  for (size_t i = 0; i < s->n_hosts; i++)
    if (s->hosts[i].name && strcmp(s->hosts[i].name, name) == 0)
      return (int)i;
  return SIM_SCN_NONE;
}

static void nat_names(const sim_scenario *s, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = 0;
  if (s->n_nats == 0)
    snprintf(buf, cap, "a profile defined under nats: (there is none)");
  for (size_t i = 0; i < s->n_nats && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
                             s->nats[i].name);
}

static void host_names(const sim_scenario *s, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; i < s->n_hosts && used < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
                             s->hosts[i].name);
}

static int nat_ref(ctx *c, const yaml_node_t *h, const char *key,
                   const char *what, int *out) {
  yaml_node_t *v = map_get(c, h, key);
  *out = SIM_SCN_NONE;
  if (!v)
    return 0;
  char w[WHAT_MAX], list[512];
  const char *name;
  sub(w, sizeof w, what, key);
  nat_names(c->s, list, sizeof list);
  if (want_scalar(c, v, w, list, &name) != 0)
    return P2P_ERR_INVALID;
  *out = find_nat(c->s, name);
  if (*out == SIM_SCN_NONE)
    return fail(c, v, "%s: unknown NAT profile '%.64s' (expected one of: %s)",
                w, name, list);
  if (strcmp(key, "cgnat") == 0 && !c->s->nats[*out].cfg.enabled)
    return fail(c, v,
                "%s: profile '%.64s' has preset open, which is no NAT and "
                "cannot be shared (expected a profile that translates)",
                w, name);
  return 0;
}

/* ---- the libp2p part of a host group ------------------------------------ */

#define TOPIC_MAX 256            /* bytes in a GossipSub topic */
#define RELAY_LIMIT_MAX 1000000u /* reservations, circuits */
#define MAX_CONNS_MAX 1000000u
#define LISTEN_EXPECTED                                                        \
  "/ip4/0.0.0.0/tcp/PORT, /ip4/0.0.0.0/tcp/PORT/ws or /p2p-circuit"
#define BROWSER_LIMITS                                                         \
  "a browser opens no listening socket and dials only WebSocket (ws) and "     \
  "circuits; it is reachable only through /p2p-circuit (later /webrtc)"

static bool is_p2p_role(sim_scn_role r) {
  return r != SIM_SCN_ROLE_STUN;
}

/* The key node of `key` in a mapping, or NULL. */
static yaml_node_t *map_key(ctx *c, const yaml_node_t *map, const char *key) {
  for (size_t i = 0; i < map_len(map); i++)
    if (strcmp(scalar_str(pair_key(c, map, i)), key) == 0)
      return pair_key(c, map, i);
  return NULL;
}

/* The transport a listen address needs. */
static uint32_t listen_transport(sim_scn_listen_kind k) {
  switch (k) {
  case SIM_SCN_LISTEN_TCP: return SIM_SCN_TRANSPORT_TCP;
  case SIM_SCN_LISTEN_WS: return SIM_SCN_TRANSPORT_WS;
  case SIM_SCN_LISTEN_CIRCUIT: return SIM_SCN_TRANSPORT_CIRCUIT;
  }
  return 0;
}

static const char *transport_name(uint32_t bit) {
  switch (bit) {
  case SIM_SCN_TRANSPORT_TCP: return "tcp";
  case SIM_SCN_TRANSPORT_WS: return "ws";
  case SIM_SCN_TRANSPORT_CIRCUIT: return "circuit";
  case SIM_SCN_TRANSPORT_WEBRTC: return "webrtc";
  default: return "?";
  }
}

/* "tcp, ws" for a set of transport bits ("nothing" when empty). */
static const char *transport_list(uint32_t bits, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = 0;
  for (uint32_t b = 1; b <= SIM_SCN_TRANSPORT_WEBRTC && used < cap; b <<= 1)
    if (bits & b)
      used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? ", " : "",
                               transport_name(b));
  if (!buf[0])
    snprintf(buf, cap, "no transport");
  return buf;
}

/* Topics and other free text we pass on: 1..TOPIC_MAX visible ASCII
 * characters. */
static int get_topic(ctx *c, const yaml_node_t *n, const char *what,
                     const char **out) {
  static const char expected[] =
      "a topic of 1 to 256 visible ASCII characters (no spaces), e.g. chat";
  if (want_scalar(c, n, what, expected, out) != 0)
    return P2P_ERR_INVALID;
  size_t len = strlen(*out);
  bool ok = len > 0 && len <= TOPIC_MAX;
  for (const char *p = *out; ok && *p; p++)
    ok = *p > ' ' && *p <= '~';
  if (!ok)
    return fail(c, n, "%s: '%.64s' is not a valid topic (expected %s)", what,
                *out, expected);
  return 0;
}

static int parse_transports(ctx *c, const yaml_node_t *n, const char *what,
                            sim_scn_host *out) {
  static const char *const names[] = {"tcp", "ws", "circuit", "webrtc", NULL};
  static const char expected[] = "a list of transports from tcp, ws, circuit, "
                                 "e.g. [ws, circuit]";
  if (n->type != YAML_SEQUENCE_NODE)
    return fail(c, n, "%s must be a list, not %s (expected %s)", what,
                kind_name(n), expected);
  if (seq_len(n) == 0)
    return fail(c, n, "%s is empty (expected %s)", what, expected);
  uint32_t bits = 0;
  for (size_t i = 0; i < seq_len(n); i++) {
    yaml_node_t *it = seq_item(c, n, i);
    const char *t;
    if (want_scalar(c, it, what, expected, &t) != 0)
      return P2P_ERR_INVALID;
    size_t k = 0;
    while (names[k] && strcmp(names[k], t) != 0)
      k++;
    if (!names[k])
      return fail(c, it,
                  "%s: unknown transport '%.64s' (expected one of: tcp, ws, "
                  "circuit)",
                  what, t);
    uint32_t bit = 1u << k;
    if (bit == SIM_SCN_TRANSPORT_WEBRTC)
      return fail(c, it,
                  "%s: webrtc is not supported yet (issue 6) (expected tcp, "
                  "ws or circuit)",
                  what);
    if (bits & bit)
      return fail(c, it,
                  "%s: '%s' is listed twice (expected each transport "
                  "once)",
                  what, t);
    if (out->role == SIM_SCN_ROLE_BROWSER && bit == SIM_SCN_TRANSPORT_TCP)
      return fail(c, it,
                  "%s: a browser cannot use tcp: " BROWSER_LIMITS
                  " (expected ws and circuit)",
                  what);
    bits |= bit;
  }
  out->transports = bits;
  return 0;
}

/* Parses one listen multiaddr. */
static int parse_listen_addr(ctx *c, const yaml_node_t *it, const char *what,
                             sim_scn_role role, sim_scn_listen *out) {
  const char *a;
  if (want_scalar(c, it, what, LISTEN_EXPECTED, &a) != 0)
    return P2P_ERR_INVALID;
  if (strcmp(a, "/p2p-circuit") == 0) {
    out->kind = SIM_SCN_LISTEN_CIRCUIT;
    out->port = 0;
    return 0;
  }
  if (strstr(a, "/webrtc"))
    return fail(c, it,
                "%s: '%.64s': WebRTC is not supported yet (issue 6) "
                "(expected %s)",
                what, a,
                role == SIM_SCN_ROLE_BROWSER ? "/p2p-circuit"
                                             : LISTEN_EXPECTED);
  static const char ip4[] = "/ip4/", tcp[] = "/tcp/";
  if (strncmp(a, ip4, sizeof ip4 - 1) != 0)
    return fail(c, it,
                "%s: '%.64s' is not a listen address p2plab supports "
                "(expected %s)",
                what, a, LISTEN_EXPECTED);
  const char *ip = a + sizeof ip4 - 1, *slash = strchr(ip, '/');
  size_t iplen = slash ? (size_t)(slash - ip) : strlen(ip);
  if (iplen != 7 || strncmp(ip, "0.0.0.0", 7) != 0)
    return fail(c, it,
                "%s: '%.64s': the simulator assigns host addresses, so a "
                "host listens on 0.0.0.0 (expected %s)",
                what, a, LISTEN_EXPECTED);
  if (!slash || strncmp(slash, tcp, sizeof tcp - 1) != 0)
    return fail(c, it,
                "%s: '%.64s' is not a listen address p2plab supports "
                "(expected %s)",
                what, a, LISTEN_EXPECTED);
  const char *port = slash + sizeof tcp - 1, *end = strchr(port, '/');
  char digits[16];
  size_t plen = end ? (size_t)(end - port) : strlen(port);
  if (plen >= sizeof digits)
    plen = sizeof digits - 1;
  memcpy(digits, port, plen);
  digits[plen] = 0;
  uint64_t p;
  const char *why;
  if (parse_uint(digits, &p, &why) != 0)
    return fail(c, it,
                "%s: '%.64s': the port is not valid: %s (expected a port from "
                "1 to 65535)",
                what, a, why);
  if (p < 1 || p > 65535)
    return fail(c, it,
                "%s: '%.64s': port %llu is out of range (expected a port "
                "from 1 to 65535)",
                what, a, (unsigned long long)p);
  if (!end)
    out->kind = SIM_SCN_LISTEN_TCP;
  else if (strcmp(end, "/ws") == 0)
    out->kind = SIM_SCN_LISTEN_WS;
  else
    return fail(c, it,
                "%s: '%.64s' is not a listen address p2plab supports "
                "(expected %s)",
                what, a, LISTEN_EXPECTED);
  out->port = (uint16_t)p;
  if (role == SIM_SCN_ROLE_BROWSER)
    return fail(c, it,
                "%s: a browser cannot listen on '%.64s': " BROWSER_LIMITS
                " (expected /p2p-circuit)",
                what, a);
  return 0;
}

/* The listen address as written, for messages. */
static void listen_str(const sim_scn_listen *l, char *buf, size_t cap) {
  if (l->kind == SIM_SCN_LISTEN_CIRCUIT)
    snprintf(buf, cap, "/p2p-circuit");
  else
    snprintf(buf, cap, "/ip4/0.0.0.0/tcp/%u%s", (unsigned)l->port,
             l->kind == SIM_SCN_LISTEN_WS ? "/ws" : "");
}

static int parse_listen(ctx *c, const yaml_node_t *n, const char *what,
                        sim_scn_host *out) {
  static const char expected[] = "a list of listen addresses: " LISTEN_EXPECTED;
  if (n->type != YAML_SEQUENCE_NODE)
    return fail(c, n, "%s must be a list, not %s (expected %s)", what,
                kind_name(n), expected);
  size_t len = seq_len(n);
  if (len && !(out->listen = calloc(len, sizeof *out->listen)))
    return nomem(c);
  bool direct = false;
  for (size_t i = 0; i < len; i++) {
    yaml_node_t *it = seq_item(c, n, i);
    sim_scn_listen *l = &out->listen[i];
    if (parse_listen_addr(c, it, what, out->role, l) != 0)
      return P2P_ERR_INVALID;
    char mine[64], other[64], have[64];
    listen_str(l, mine, sizeof mine);
    for (size_t j = 0; j < i; j++) {
      const sim_scn_listen *o = &out->listen[j];
      bool clash =
          l->kind == SIM_SCN_LISTEN_CIRCUIT
              ? o->kind == SIM_SCN_LISTEN_CIRCUIT
              : o->kind != SIM_SCN_LISTEN_CIRCUIT && o->port == l->port;
      if (!clash)
        continue;
      listen_str(o, other, sizeof other);
      if (l->kind == SIM_SCN_LISTEN_CIRCUIT)
        return fail(c, it,
                    "%s: '/p2p-circuit' is listed twice (expected it "
                    "once)",
                    what);
      return fail(c, it,
                  "%s: '%s' uses port %u, already taken by '%s' (expected "
                  "each port once)",
                  what, mine, (unsigned)l->port, other);
    }
    uint32_t need = listen_transport(l->kind);
    if (!(out->transports & need))
      return fail(c, it,
                  "%s: '%s' needs the %s transport, but transports: has %s "
                  "(expected %s in transports, or no such listen address)",
                  what, mine, transport_name(need),
                  transport_list(out->transports, have, sizeof have),
                  transport_name(need));
    direct = direct || l->kind != SIM_SCN_LISTEN_CIRCUIT;
    out->n_listen = i + 1;
  }
  if (out->role == SIM_SCN_ROLE_RELAY && !direct)
    return fail(c, n,
                "%s: a relay must accept connections (expected at least one "
                "/ip4/0.0.0.0/tcp/PORT or /ip4/0.0.0.0/tcp/PORT/ws address)",
                what);
  return 0;
}

/* Default listen addresses: a relay's ws 9001 and tcp 9002, a browser's
 * /p2p-circuit, as far as the group's transports allow; nothing for a
 * node. */
static int default_listen(ctx *c, const yaml_node_t *h, const char *what,
                          sim_scn_host *out) {
  sim_scn_listen cand[2];
  size_t n = 0;
  if (out->role == SIM_SCN_ROLE_RELAY) {
    if (out->transports & SIM_SCN_TRANSPORT_WS)
      cand[n++] = (sim_scn_listen){SIM_SCN_LISTEN_WS, 9001};
    if (out->transports & SIM_SCN_TRANSPORT_TCP)
      cand[n++] = (sim_scn_listen){SIM_SCN_LISTEN_TCP, 9002};
    if (n == 0) {
      yaml_node_t *t = map_get(c, h, "transports");
      return fail(c, t ? t : h,
                  "%s.transports: a relay needs tcp or ws to accept "
                  "connections (expected tcp or ws among the transports)",
                  what);
    }
  } else if (out->role == SIM_SCN_ROLE_BROWSER &&
             (out->transports & SIM_SCN_TRANSPORT_CIRCUIT)) {
    cand[n++] = (sim_scn_listen){SIM_SCN_LISTEN_CIRCUIT, 0};
  }
  if (n == 0)
    return 0;
  if (!(out->listen = calloc(n, sizeof *out->listen)))
    return nomem(c);
  memcpy(out->listen, cand, n * sizeof *cand);
  out->n_listen = n;
  return 0;
}

static int parse_relay_limits(ctx *c, const yaml_node_t *n, const char *what,
                              sim_scn_relay *r) {
  if (want_mapping(c, n, what) != 0 || check_keys(c, n, what, relay_keys) != 0)
    return P2P_ERR_INVALID;
  char w[WHAT_MAX];
  yaml_node_t *v;
  static const char *const counts[] = {"reservations", "reservations_per_ip",
                                       "circuits"};
  uint32_t *cdst[] = {&r->reservations, &r->reservations_per_ip, &r->circuits};
  for (size_t i = 0; i < 3; i++) {
    uint64_t x;
    if (!(v = map_get(c, n, counts[i])))
      continue;
    sub(w, sizeof w, what, counts[i]);
    if (get_uint(c, v, w, 1, RELAY_LIMIT_MAX, &x) != 0)
      return P2P_ERR_INVALID;
    *cdst[i] = (uint32_t)x;
  }
  if ((v = map_get(c, n, "reservation_ttl"))) {
    sub(w, sizeof w, what, "reservation_ttl");
    if (get_duration(c, v, w, true, &r->reservation_ttl_ns) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, n, "circuit_duration"))) {
    sub(w, sizeof w, what, "circuit_duration");
    if (get_duration(c, v, w, true, &r->circuit_duration_ns) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, n, "circuit_data"))) {
    static const char expected[] =
        "a size > 0: a number and a unit B, KiB, MiB or GiB, e.g. 128KiB";
    sub(w, sizeof w, what, "circuit_data");
    if (get_quantity(c, v, w, size_units, expected, &r->circuit_data) != 0)
      return P2P_ERR_INVALID;
    if (r->circuit_data == 0)
      return fail(c, v, "%s must be more than 0 (expected %s)", w, expected);
  }
  return 0;
}

static int parse_pubsub(ctx *c, const yaml_node_t *n, const char *what,
                        sim_scn_host *out) {
  if (want_mapping(c, n, what) != 0 || check_keys(c, n, what, pubsub_keys) != 0)
    return P2P_ERR_INVALID;
  yaml_node_t *v = map_get(c, n, "topics");
  if (!v)
    return 0;
  char w[WHAT_MAX];
  sub(w, sizeof w, what, "topics");
  if (v->type != YAML_SEQUENCE_NODE)
    return fail(c, v,
                "%s must be a list, not %s (expected a list of topics, "
                "e.g. [chat])",
                w, kind_name(v));
  size_t len = seq_len(v);
  if (len && !(out->topics = calloc(len, sizeof *out->topics)))
    return nomem(c);
  for (size_t i = 0; i < len; i++) {
    yaml_node_t *it = seq_item(c, v, i);
    const char *t;
    if (get_topic(c, it, w, &t) != 0)
      return P2P_ERR_INVALID;
    for (size_t j = 0; j < i; j++)
      if (strcmp(out->topics[j], t) == 0)
        return fail(c, it,
                    "%s: '%.64s' is listed twice (expected each topic "
                    "once)",
                    w, t);
    if (!(out->topics[i] = dup_str(c, t)))
      return P2P_ERR_NOMEM;
    out->n_topics = i + 1;
  }
  return 0;
}

static int parse_discovery(ctx *c, const yaml_node_t *n, const char *what,
                           sim_scn_host *out) {
  if (want_mapping(c, n, what) != 0 ||
      check_keys(c, n, what, discovery_keys) != 0)
    return P2P_ERR_INVALID;
  char w[WHAT_MAX], w2[WHAT_MAX];
  yaml_node_t *v = map_get(c, n, "max_connections"), *ps, *t;
  if (v) {
    uint64_t x;
    sub(w, sizeof w, what, "max_connections");
    if (get_uint(c, v, w, 0, MAX_CONNS_MAX, &x) != 0)
      return P2P_ERR_INVALID;
    out->max_conns = (uint32_t)x;
  }
  if (!(ps = map_get(c, n, "pubsub")))
    return 0;
  sub(w, sizeof w, what, "pubsub");
  if (want_mapping(c, ps, w) != 0 ||
      check_keys(c, ps, w, discovery_pubsub_keys) != 0 ||
      need_key(c, ps, "topic", w,
               "topic: TOPIC, e.g. topic: browser-peer-discovery", &t) != 0)
    return P2P_ERR_INVALID;
  const char *topic;
  sub(w2, sizeof w2, w, "topic");
  if (get_topic(c, t, w2, &topic) != 0)
    return P2P_ERR_INVALID;
  if (!(out->discovery_topic = dup_str(c, topic)))
    return P2P_ERR_NOMEM;
  if ((v = map_get(c, ps, "interval"))) {
    sub(w2, sizeof w2, w, "interval");
    if (get_duration(c, v, w2, true, &out->discovery_interval_ns) != 0)
      return P2P_ERR_INVALID;
  }
  return 0;
}

/* The libp2p keys of a host group (all but bootstrap, which refers to
 * groups that may come later: see resolve_bootstrap). */
static int parse_host_p2p(ctx *c, const yaml_node_t *h, const char *what,
                          sim_scn_host *out) {
  static const char *const p2p_keys[] = {"listen", "transports", "relay",
                                         "pubsub", "bootstrap",  "discovery",
                                         NULL};
  char w[WHAT_MAX];
  yaml_node_t *k, *v;
  if ((k = map_key(c, h, "stun")))
    return fail(c, k,
                "%s.stun: STUN servers for libp2p hosts are not supported "
                "yet (issue 6) (expected no stun: key for now)",
                what);
  if (out->role == SIM_SCN_ROLE_RELAY) {
    out->relay = (sim_scn_relay){.reservations = 128,
                                 .reservations_per_ip = 8,
                                 .circuits = 16,
                                 .reservation_ttl_ns = 3600 * NS_PER_S,
                                 .circuit_duration_ns = 120 * NS_PER_S,
                                 .circuit_data = 128 * 1024};
  }
  out->discovery_interval_ns = 10 * NS_PER_S;
  out->max_conns = 0;
  if (!is_p2p_role(out->role)) {
    for (size_t i = 0; p2p_keys[i]; i++)
      if ((k = map_key(c, h, p2p_keys[i])))
        return fail(c, k,
                    "%s.%s: a stun group runs no libp2p host (expected %s "
                    "only on relay, browser and node groups)",
                    what, p2p_keys[i], p2p_keys[i]);
    return 0;
  }
  out->transports = out->role == SIM_SCN_ROLE_BROWSER
                        ? SIM_SCN_TRANSPORT_WS | SIM_SCN_TRANSPORT_CIRCUIT
                        : SIM_SCN_TRANSPORT_TCP | SIM_SCN_TRANSPORT_WS |
                              SIM_SCN_TRANSPORT_CIRCUIT;
  if ((v = map_get(c, h, "transports"))) {
    sub(w, sizeof w, what, "transports");
    if (parse_transports(c, v, w, out) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, h, "listen"))) {
    sub(w, sizeof w, what, "listen");
    if (parse_listen(c, v, w, out) != 0)
      return P2P_ERR_INVALID;
  } else if (default_listen(c, h, what, out) != 0) {
    return c->rc;
  }
  if ((k = map_key(c, h, "relay"))) {
    if (out->role != SIM_SCN_ROLE_RELAY)
      return fail(c, k,
                  "%s.relay: only a relay group takes relay limits, and this "
                  "group has role %s (expected role: relay, or no relay: key)",
                  what, sim_scn_role_name(out->role));
    sub(w, sizeof w, what, "relay");
    if (parse_relay_limits(c, map_get(c, h, "relay"), w, &out->relay) != 0)
      return P2P_ERR_INVALID;
    out->has_relay = true;
  }
  if ((v = map_get(c, h, "pubsub"))) {
    sub(w, sizeof w, what, "pubsub");
    if (parse_pubsub(c, v, w, out) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, h, "discovery"))) {
    sub(w, sizeof w, what, "discovery");
    if (parse_discovery(c, v, w, out) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, h, "bootstrap")) && v->type != YAML_SEQUENCE_NODE) {
    sub(w, sizeof w, what, "bootstrap");
    return fail(c, v,
                "%s must be a list, not %s (expected a list of relay or node "
                "groups, e.g. [relay])",
                w, kind_name(v));
  }
  return 0;
}

/* Whether a host of group `from` can dial a host of group `to` directly:
 * `to` listens on tcp or ws and `from` has that transport. */
static bool can_dial(const sim_scn_host *from, const sim_scn_host *to) {
  for (size_t i = 0; i < to->n_listen; i++) {
    sim_scn_listen_kind k = to->listen[i].kind;
    if (k != SIM_SCN_LISTEN_CIRCUIT && (from->transports & listen_transport(k)))
      return true;
  }
  return false;
}

/* What group `to` listens on directly ("ws, tcp", or "nothing"). */
static const char *direct_listen(const sim_scn_host *to, char *buf,
                                 size_t cap) {
  uint32_t bits = 0;
  for (size_t i = 0; i < to->n_listen; i++)
    if (to->listen[i].kind != SIM_SCN_LISTEN_CIRCUIT)
      bits |= listen_transport(to->listen[i].kind);
  return transport_list(bits, buf, cap);
}

/* Second pass over group `index` (node h), once every group is known:
 * resolves bootstrap: and checks what depends on it. */
static int resolve_bootstrap(ctx *c, const yaml_node_t *h, size_t index) {
  sim_scenario *s = c->s;
  sim_scn_host *out = &s->hosts[index];
  char what[WHAT_MAX], list[512], a[64], b[64];
  snprintf(what, sizeof what, "hosts.%.64s.bootstrap", out->name);
  yaml_node_t *v = map_get(c, h, "bootstrap");
  size_t len = v ? seq_len(v) : 0;
  if (len && !(out->bootstrap = calloc(len, sizeof *out->bootstrap)))
    return nomem(c);
  bool relay = false;
  for (size_t i = 0; i < len; i++) {
    yaml_node_t *it = seq_item(c, v, i);
    const char *name;
    host_names(s, list, sizeof list);
    if (want_scalar(c, it, what, "a relay or node group name", &name) != 0)
      return P2P_ERR_INVALID;
    int g = find_host(s, name);
    if (g == SIM_SCN_NONE)
      return fail(c, it, "%s: unknown host group '%.64s' (expected one of: %s)",
                  what, name, list);
    const sim_scn_host *t = &s->hosts[g];
    if (t->role == SIM_SCN_ROLE_BROWSER)
      return fail(c, it,
                  "%s: group '%s' has role browser and cannot be "
                  "dialed: " BROWSER_LIMITS " (expected a relay or node group)",
                  what, name);
    if (t->role == SIM_SCN_ROLE_STUN)
      return fail(c, it,
                  "%s: group '%s' has role stun, which runs no libp2p host "
                  "(expected a relay or node group)",
                  what, name);
    for (size_t j = 0; j < i; j++)
      if (out->bootstrap[j] == g)
        return fail(c, it,
                    "%s: '%s' is listed twice (expected each group "
                    "once)",
                    what, name);
    if (!can_dial(out, t))
      return fail(c, it,
                  "%s: group '%s' cannot be dialed by group '%s': it listens "
                  "on %s, and '%s' dials directly over %s (expected a group "
                  "listening on a transport both have)",
                  what, name, out->name, direct_listen(t, a, sizeof a),
                  out->name,
                  transport_list(out->transports & (SIM_SCN_TRANSPORT_TCP |
                                                    SIM_SCN_TRANSPORT_WS),
                                 b, sizeof b));
    out->bootstrap[i] = g;
    out->n_bootstrap = i + 1;
    relay = relay || t->role == SIM_SCN_ROLE_RELAY;
  }
  /* An explicit /p2p-circuit listen reserves on the bootstrap relays. */
  yaml_node_t *l = map_get(c, h, "listen");
  for (size_t i = 0; l && !relay && i < out->n_listen; i++)
    if (out->listen[i].kind == SIM_SCN_LISTEN_CIRCUIT)
      return fail(c, seq_item(c, l, i),
                  "hosts.%s.listen: '/p2p-circuit' reserves a slot on the "
                  "relays of bootstrap:, and %s (expected a relay group in "
                  "hosts.%s.bootstrap)",
                  out->name,
                  v ? "it names no relay group" : "the group has none",
                  out->name);
  return 0;
}

static int parse_host(ctx *c, const yaml_node_t *h, size_t index,
                      sim_scn_host *out) {
  sim_scenario *s = c->s;
  char what[WHAT_MAX], w[WHAT_MAX];
  snprintf(what, sizeof what, "hosts[%zu]", index);
  if (want_mapping(c, h, what) != 0)
    return P2P_ERR_INVALID;
  yaml_node_t *v = map_get(c, h, "name");
  /* Name the group in messages once it has a usable name. */
  if (v && v->type == YAML_SCALAR_NODE && ident_ok(scalar_str(v)))
    snprintf(what, sizeof what, "hosts.%.64s", scalar_str(v));
  if (check_keys(c, h, what, host_keys) != 0)
    return P2P_ERR_INVALID;
  const char *name, *role;
  static const char name_expected[] =
      "a name of letters, digits, '_' and '-', e.g. name: peer";
  if (need_key(c, h, "name", what, name_expected, &v) != 0)
    return P2P_ERR_INVALID;
  sub(w, sizeof w, what, "name");
  if (want_scalar(c, v, w, name_expected, &name) != 0)
    return P2P_ERR_INVALID;
  if (!ident_ok(name))
    return fail(c, v, "%s: '%.64s' is not a valid name (expected %s)", w, name,
                name_expected);
  if (find_host(s, name) != SIM_SCN_NONE)
    return fail(c, v,
                "duplicate host group name '%.64s' (expected each group "
                "name once)",
                name);
  if (!(out->name = dup_str(c, name)))
    return P2P_ERR_NOMEM;
  snprintf(what, sizeof what, "hosts.%.64s", name);
  static const char roles[] = "relay, browser, node or stun";
  if (need_key(c, h, "role", what, "role: relay, browser, node or stun", &v) !=
      0)
    return P2P_ERR_INVALID;
  sub(w, sizeof w, what, "role");
  if (want_scalar(c, v, w, roles, &role) != 0)
    return P2P_ERR_INVALID;
  if (strcmp(role, "node") == 0)
    out->role = SIM_SCN_ROLE_NODE;
  else if (strcmp(role, "stun") == 0)
    out->role = SIM_SCN_ROLE_STUN;
  else if (strcmp(role, "relay") == 0)
    out->role = SIM_SCN_ROLE_RELAY;
  else if (strcmp(role, "browser") == 0)
    out->role = SIM_SCN_ROLE_BROWSER;
  else
    return fail(c, v, "%s: unknown role '%.64s' (expected %s)", w, role, roles);
  out->count = 1;
  if ((v = map_get(c, h, "count"))) {
    uint64_t n;
    sub(w, sizeof w, what, "count");
    if (get_uint(c, v, w, 1, COUNT_MAX, &n) != 0)
      return P2P_ERR_INVALID;
    out->count = (uint32_t)n;
  }
  if (nat_ref(c, h, "nat", what, &out->nat) != 0 ||
      nat_ref(c, h, "cgnat", what, &out->cgnat) != 0)
    return P2P_ERR_INVALID;
  out->up = s->access_default;
  if ((v = map_get(c, h, "access"))) {
    sub(w, sizeof w, what, "access");
    if (parse_link(c, v, w, &out->up) != 0)
      return P2P_ERR_INVALID;
  }
  out->down = out->up;
  return parse_host_p2p(c, h, what, out);
}

static int parse_hosts(ctx *c, const yaml_node_t *root) {
  sim_scenario *s = c->s;
  yaml_node_t *n;
  static const char expected[] =
      "a non-empty list of host groups, e.g. - {name: peer, role: node}";
  if (need_key(c, root, "hosts", "the scenario", expected, &n) != 0)
    return P2P_ERR_INVALID;
  if (n->type != YAML_SEQUENCE_NODE)
    return fail(c, n, "hosts must be a list, not %s (expected %s)",
                kind_name(n), expected);
  size_t len = seq_len(n);
  if (len == 0)
    return fail(c, n, "hosts is empty (expected %s)", expected);
  if (!(s->hosts = calloc(len, sizeof *s->hosts)))
    return nomem(c);
  for (size_t i = 0; i < len; i++) {
    s->n_hosts = i + 1; /* find_host sees the groups parsed so far */
    if (parse_host(c, seq_item(c, n, i), i, &s->hosts[i]) != 0)
      return c->rc;
  }
  for (size_t i = 0; i < len; i++)
    if (is_p2p_role(s->hosts[i].role) &&
        resolve_bootstrap(c, seq_item(c, n, i), i) != 0)
      return c->rc;
  return 0;
}

/* A reference to a host group, optionally of a given role. */
static int group_ref(ctx *c, const yaml_node_t *v, const char *what,
                     int want_role, int *out) {
  char list[512];
  const char *name;
  host_names(c->s, list, sizeof list);
  if (want_scalar(c, v, what, "a host group name", &name) != 0)
    return P2P_ERR_INVALID;
  *out = find_host(c->s, name);
  if (*out == SIM_SCN_NONE)
    return fail(c, v, "%s: unknown host group '%.64s' (expected one of: %s)",
                what, name, list);
  sim_scn_role r = c->s->hosts[*out].role;
  if (want_role >= 0 && (int)r != want_role)
    return fail(c, v,
                "%s: group '%s' has role %s (expected a group with role %s)",
                what, name, sim_scn_role_name(r),
                sim_scn_role_name((sim_scn_role)want_role));
  return 0;
}

static int parse_latency_overrides(ctx *c, const yaml_node_t *n) {
  sim_scenario *s = c->s;
  static const char expected[] =
      "a list of {between: [GROUP, GROUP], latency: DURATION}";
  if (n->type != YAML_SEQUENCE_NODE)
    return fail(c, n,
                "network.latency_overrides must be a list, not %s "
                "(expected %s)",
                kind_name(n), expected);
  size_t len = seq_len(n);
  if (len == 0)
    return 0;
  if (!(s->latencies = calloc(len, sizeof *s->latencies)))
    return nomem(c);
  s->n_latencies = len;
  for (size_t i = 0; i < len; i++) {
    yaml_node_t *it = seq_item(c, n, i), *v;
    sim_scn_latency *l = &s->latencies[i];
    char what[WHAT_MAX], w[WHAT_MAX];
    snprintf(what, sizeof what, "network.latency_overrides.%zu", i);
    if (want_mapping(c, it, what) != 0 ||
        check_keys(c, it, what, latency_override_keys) != 0 ||
        need_key(c, it, "between", what, "between: [GROUP, GROUP]", &v) != 0)
      return P2P_ERR_INVALID;
    sub(w, sizeof w, what, "between");
    if (v->type != YAML_SEQUENCE_NODE || seq_len(v) != 2)
      return fail(c, v,
                  "%s must be a list of two host groups (expected [GROUP, "
                  "GROUP])",
                  w);
    if (group_ref(c, seq_item(c, v, 0), w, -1, &l->a) != 0 ||
        group_ref(c, seq_item(c, v, 1), w, -1, &l->b) != 0)
      return P2P_ERR_INVALID;
    if (need_key(c, it, "latency", what, "latency: DURATION", &v) != 0)
      return P2P_ERR_INVALID;
    sub(w, sizeof w, what, "latency");
    if (get_duration(c, v, w, false, &l->latency_ns) != 0)
      return P2P_ERR_INVALID;
  }
  return 0;
}

static int parse_network(ctx *c, const yaml_node_t *n) {
  sim_scenario *s = c->s;
  if (want_mapping(c, n, "network") != 0 ||
      check_keys(c, n, "network", network_keys) != 0)
    return P2P_ERR_INVALID;
  yaml_node_t *v;
  if ((v = map_get(c, n, "latency")) &&
      get_duration(c, v, "network.latency", false, &s->core_latency_ns) != 0)
    return P2P_ERR_INVALID;
  if ((v = map_get(c, n, "jitter")) &&
      get_duration(c, v, "network.jitter", false, &s->core_jitter_ns) != 0)
    return P2P_ERR_INVALID;
  if ((v = map_get(c, n, "loss")) &&
      get_percent(c, v, "network.loss", &s->core_loss_ppm) != 0)
    return P2P_ERR_INVALID;
  if ((v = map_get(c, n, "access")) &&
      parse_link(c, v, "network.access", &s->access_default) != 0)
    return P2P_ERR_INVALID;
  return 0;
}

static int parse_holepunch(ctx *c, const yaml_node_t *n, const char *what,
                           sim_scn_workload *w) {
  w->kind = SIM_SCN_WL_HOLEPUNCH;
  w->publishers = SIM_SCN_NONE;
  w->start_ns = NS_PER_S;
  w->interval_ns = 0;
  w->timeout_ns = 5 * NS_PER_S;
  w->probe_interval_ns = 50 * NS_PER_MS;
  w->signal_delay_ns = 0;
  if (want_mapping(c, n, what) != 0 ||
      check_keys(c, n, what, holepunch_keys) != 0)
    return P2P_ERR_INVALID;
  char k[WHAT_MAX];
  yaml_node_t *v;
  static const struct {
    const char *key;
    int role;
  } groups[] = {{"a", SIM_SCN_ROLE_NODE},
                {"b", SIM_SCN_ROLE_NODE},
                {"stun", SIM_SCN_ROLE_STUN}};
  int *dst[] = {&w->a, &w->b, &w->stun};
  for (size_t i = 0; i < 3; i++) {
    char expected[64];
    snprintf(expected, sizeof expected, "%s: GROUP with role %s", groups[i].key,
             sim_scn_role_name((sim_scn_role)groups[i].role));
    if (need_key(c, n, groups[i].key, what, expected, &v) != 0)
      return P2P_ERR_INVALID;
    sub(k, sizeof k, what, groups[i].key);
    if (group_ref(c, v, k, groups[i].role, dst[i]) != 0)
      return P2P_ERR_INVALID;
  }
  static const struct {
    const char *key;
    bool positive;
  } times[] = {{"start", false},
               {"interval", false},
               {"timeout", true},
               {"probe_interval", true},
               {"signal_delay", false}};
  uint64_t *tdst[] = {&w->start_ns, &w->interval_ns, &w->timeout_ns,
                      &w->probe_interval_ns, &w->signal_delay_ns};
  for (size_t i = 0; i < 5; i++) {
    if (!(v = map_get(c, n, times[i].key)))
      continue;
    sub(k, sizeof k, what, times[i].key);
    if (get_duration(c, v, k, times[i].positive, tdst[i]) != 0)
      return P2P_ERR_INVALID;
  }
  return 0;
}

/* Writes a duration with the largest unit that divides it: "55s", "1500ms". */
static const char *fmt_duration(uint64_t ns, char *buf, size_t cap) {
  const unit *best = &duration_units[0];
  for (const unit *u = duration_units; u->name; u++)
    if (ns % u->mult == 0)
      best = u;
  snprintf(buf, cap, "%llu%s", (unsigned long long)(ns / best->mult),
           ns ? best->name : "");
  return buf;
}

/* x * m / d rounded to the nearest integer, for d < 2^62 and a result
 * that fits in 64 bits, without a wider type: binary long multiplication
 * keeping quotient and remainder. */
static uint64_t mul_div_round(uint64_t x, uint64_t m, uint64_t d) {
  uint64_t q = 0, r = 0, xq = x / d, xr = x % d;
  for (int bit = 63; bit >= 0; bit--) {
    q <<= 1;
    r <<= 1;
    if (r >= d) {
      r -= d;
      q++;
    }
    if ((m >> bit) & 1) {
      q += xq;
      r += xr;
      if (r >= d) {
        r -= d;
        q++;
      }
    }
  }
  if (r >= d - r)
    q++;
  return q;
}

#define RATE_MAX_PER_S 1000000ull /* messages per second per publisher */
#define MSG_SIZE_MAX (1024ull * 1024)
#define GOSSIP_STOP_MARGIN_NS (5 * NS_PER_S)

/* A message rate "N/s", "N/m" or "N/h" (N may have decimals) as the
 * interval between messages, rounded to the nearest nanosecond. */
static int get_msg_rate(ctx *c, const yaml_node_t *n, const char *what,
                        uint64_t *interval_ns) {
  static const char expected[] =
      "messages per publisher as N/s, N/m or N/h, e.g. 1/s or 0.5/s, from "
      "1/h to 1000000/s";
  static const unit per[] = {{"/s", NS_PER_S},
                             {"/m", 60 * NS_PER_S},
                             {"/h", 3600 * NS_PER_S},
                             {NULL, 0}};
  const char *s, *why;
  if (want_scalar(c, n, what, expected, &s) != 0)
    return P2P_ERR_INVALID;
  /* N scaled by 10^9 (exact: N has at most 9 decimals). */
  const char *slash = strchr(s, '/');
  char num[48];
  size_t len = slash ? (size_t)(slash - s) : strlen(s);
  if (!slash || len + 2 > sizeof num)
    return fail(c, n, "%s: '%.64s' is not valid: %s (expected %s)", what, s,
                slash ? "it is too long" : "the unit is missing", expected);
  memcpy(num, s, len);
  memcpy(num + len, "s", 2); /* "N" + "s": a duration of N seconds */
  uint64_t nano_n, u;
  if (parse_quantity(num, duration_units, &nano_n, &why) != 0)
    return fail(c, n, "%s: '%.64s' is not valid: %s (expected %s)", what, s,
                why, expected);
  size_t k = 0;
  while (per[k].name && strcmp(per[k].name, slash) != 0)
    k++;
  if (!per[k].name)
    return fail(c, n,
                "%s: '%.64s' is not valid: the unit is unknown "
                "(expected %s)",
                what, s, expected);
  u = per[k].mult;
  /* Between 1/h and 10^6/s: with a = u / 1 s (1, 60 or 3600), N / a
   * messages per second. */
  uint64_t a = u / NS_PER_S;
  if (nano_n == 0)
    return fail(c, n,
                "%s: '%.64s' is zero (expected %s; to publish nothing, leave "
                "the workload out)",
                what, s, expected);
  if (nano_n / a > RATE_MAX_PER_S * NS_PER_S)
    return fail(c, n, "%s: '%.64s' is too fast (expected %s)", what, s,
                expected);
  if (nano_n < NS_PER_S && nano_n * 3600 < a * NS_PER_S)
    return fail(c, n, "%s: '%.64s' is too slow (expected %s)", what, s,
                expected);
  /* interval = a s / N = a * 10^9 * 10^9 / nano_n ns; nano_n < 2^62. */
  *interval_ns = mul_div_round(a * NS_PER_S, NS_PER_S, nano_n);
  return 0;
}

static int parse_gossip(ctx *c, const yaml_node_t *n, const char *what,
                        sim_scn_workload *w) {
  sim_scenario *s = c->s;
  w->kind = SIM_SCN_WL_GOSSIP;
  w->a = w->b = w->stun = SIM_SCN_NONE;
  w->publishers = SIM_SCN_NONE;
  w->start_ns = NS_PER_S;
  w->msg_interval_ns = NS_PER_S;
  w->msg_size = 128;
  w->stop_ns = s->duration_ns > GOSSIP_STOP_MARGIN_NS
                   ? s->duration_ns - GOSSIP_STOP_MARGIN_NS
                   : 0;
  w->messages = 0;
  if (want_mapping(c, n, what) != 0 || check_keys(c, n, what, gossip_keys) != 0)
    return P2P_ERR_INVALID;
  char k[WHAT_MAX], b1[32], b2[32];
  yaml_node_t *v;
  const char *topic;
  if (need_key(c, n, "topic", what, "topic: TOPIC, e.g. topic: chat", &v) != 0)
    return P2P_ERR_INVALID;
  sub(k, sizeof k, what, "topic");
  if (get_topic(c, v, k, &topic) != 0)
    return P2P_ERR_INVALID;
  if (!(w->topic = dup_str(c, topic)))
    return P2P_ERR_NOMEM;
  if (need_key(c, n, "publishers", what,
               "publishers: GROUP, a relay, browser or node group", &v) != 0)
    return P2P_ERR_INVALID;
  sub(k, sizeof k, what, "publishers");
  if (group_ref(c, v, k, -1, &w->publishers) != 0)
    return P2P_ERR_INVALID;
  if (!is_p2p_role(s->hosts[w->publishers].role))
    return fail(c, v,
                "%s: group '%s' has role stun, which runs no libp2p host "
                "(expected a relay, browser or node group)",
                k, scalar_str(v));
  if ((v = map_get(c, n, "rate"))) {
    sub(k, sizeof k, what, "rate");
    if (get_msg_rate(c, v, k, &w->msg_interval_ns) != 0)
      return P2P_ERR_INVALID;
  }
  if ((v = map_get(c, n, "size"))) {
    static const char expected[] =
        "a size from 1B to 1MiB: a number and a unit B, KiB or MiB, e.g. 128B";
    sub(k, sizeof k, what, "size");
    if (get_quantity(c, v, k, size_units, expected, &w->msg_size) != 0)
      return P2P_ERR_INVALID;
    if (w->msg_size == 0 || w->msg_size > MSG_SIZE_MAX)
      return fail(c, v, "%s: '%.64s' is out of range (expected %s)", k,
                  scalar_str(v), expected);
  }
  if ((v = map_get(c, n, "messages"))) {
    uint64_t m;
    sub(k, sizeof k, what, "messages");
    if (get_uint(c, v, k, 0, UINT32_MAX, &m) != 0)
      return P2P_ERR_INVALID;
    w->messages = (uint32_t)m;
  }
  yaml_node_t *start = map_get(c, n, "start"), *stop = map_get(c, n, "stop");
  if (start) {
    sub(k, sizeof k, what, "start");
    if (get_duration(c, start, k, false, &w->start_ns) != 0)
      return P2P_ERR_INVALID;
  }
  if (stop) {
    sub(k, sizeof k, what, "stop");
    if (get_duration(c, stop, k, false, &w->stop_ns) != 0)
      return P2P_ERR_INVALID;
    if (w->stop_ns > s->duration_ns)
      return fail(c, stop,
                  "%s: %s is after the end of the run (expected at most the "
                  "duration, %s)",
                  k, scalar_str(stop),
                  fmt_duration(s->duration_ns, b1, sizeof b1));
  }
  if (w->start_ns >= w->stop_ns)
    return fail(c, start ? start : n,
                "%s: publishing starts at %s but stops at %s%s (expected "
                "start before stop)",
                what, fmt_duration(w->start_ns, b1, sizeof b1),
                fmt_duration(w->stop_ns, b2, sizeof b2),
                stop ? "" : " (the default stop: duration - 5s)");
  return 0;
}

static int parse_workload(ctx *c, const yaml_node_t *n) {
  sim_scenario *s = c->s;
  static const char expected[] =
      "a list of {KIND: {...}}, e.g. - holepunch: {a: peers, b: peers, stun: "
      "stun} or - gossip: {topic: chat, publishers: browser}";
  if (n->type != YAML_SEQUENCE_NODE)
    return fail(c, n, "workload must be a list, not %s (expected %s)",
                kind_name(n), expected);
  size_t len = seq_len(n);
  if (len == 0)
    return 0;
  if (!(s->workloads = calloc(len, sizeof *s->workloads)))
    return nomem(c);
  s->n_workloads = len;
  for (size_t i = 0; i < len; i++) {
    yaml_node_t *it = seq_item(c, n, i);
    char what[WHAT_MAX];
    snprintf(what, sizeof what, "workload.%zu", i);
    if (want_mapping(c, it, what) != 0)
      return P2P_ERR_INVALID;
    if (map_len(it) != 1)
      return fail(c, it,
                  "%s has %zu keys (expected exactly one key, the workload "
                  "kind: holepunch or gossip)",
                  what, map_len(it));
    if (check_keys(c, it, what, workload_kinds) != 0)
      return P2P_ERR_INVALID;
    const char *kind = scalar_str(pair_key(c, it, 0));
    snprintf(what, sizeof what, "workload.%zu.%s", i, kind);
    int rc =
        strcmp(kind, "gossip") == 0
            ? parse_gossip(c, pair_value(c, it, 0), what, &s->workloads[i])
            : parse_holepunch(c, pair_value(c, it, 0), what, &s->workloads[i]);
    if (rc != 0)
      return c->rc;
  }
  return 0;
}

static bool has_ms_component(const char *field) {
  const char *p = field;
  for (;;) {
    const char *dot = strchr(p, '.');
    size_t len = dot ? (size_t)(dot - p) : strlen(p);
    if (len >= 3 && strncmp(p + len - 3, "_ms", 3) == 0)
      return true;
    if (!dot)
      return false;
    p = dot + 1;
  }
}

/* A plain decimal number: -?DIGITS(.DIGITS)? */
static bool plain_number(const char *s) {
  const char *p = s;
  if (*p == '-')
    p++;
  if (*p < '0' || *p > '9')
    return false;
  while (*p >= '0' && *p <= '9')
    p++;
  if (*p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return false;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  return *p == 0;
}

static int parse_expect_clause(ctx *c, const yaml_node_t *k,
                               const yaml_node_t *v, sim_scn_expect *e) {
  static const char expected[] =
      "\"OP VALUE\" with OP one of >=, <=, ==, <, > and VALUE a number, a "
      "percentage or (for *_ms fields) a duration, e.g. \">= 0.99\"";
  const char *field = scalar_str(k), *text;
  if (!field_ok(field) || field[0] == '.' || field[strlen(field) - 1] == '.' ||
      strstr(field, ".."))
    return fail(c, k,
                "expect: '%.64s' is not a summary field (expected a dotted "
                "path of a-z, 0-9, '_', '|', '-', e.g. "
                "holepunch.success_rate)",
                field);
  char what[WHAT_MAX];
  snprintf(what, sizeof what, "expect.%s", field);
  if (want_scalar(c, v, what, expected, &text) != 0)
    return P2P_ERR_INVALID;
  const char *p = text;
  while (*p == ' ')
    p++;
  static const struct {
    const char *s;
    sim_scn_op op;
  } ops[] = {{">=", SIM_SCN_OP_GE},
             {"<=", SIM_SCN_OP_LE},
             {"==", SIM_SCN_OP_EQ},
             {"<", SIM_SCN_OP_LT},
             {">", SIM_SCN_OP_GT}};
  size_t i = 0;
  while (i < 5 && strncmp(p, ops[i].s, strlen(ops[i].s)) != 0)
    i++;
  if (i == 5)
    return fail(c, v, "%s: '%.64s' has no comparison (expected %s)", what, text,
                expected);
  e->op = ops[i].op;
  p += strlen(ops[i].s);
  while (*p == ' ')
    p++;
  char val[64];
  size_t len = strlen(p);
  while (len > 0 && p[len - 1] == ' ')
    len--;
  if (len == 0 || len >= sizeof val)
    return fail(c, v, "%s: '%.64s' has no valid value (expected %s)", what,
                text, expected);
  memcpy(val, p, len);
  val[len] = 0;
  const char *why = NULL;
  if (val[len - 1] == '%') {
    uint32_t ppm;
    if (parse_percent_why(val, &ppm, &why) != 0)
      return fail(c, v, "%s: '%s' is not a valid percentage: %s (expected %s)",
                  what, val, why, expected);
    e->value = (double)ppm / 1e6;
  } else if (plain_number(val)) {
    e->value = strtod(val, NULL);
  } else {
    uint64_t ns;
    if (parse_quantity(val, duration_units, &ns, &why) != 0)
      return fail(c, v,
                  "%s: '%s' is not a number, percentage or duration "
                  "(expected %s)",
                  what, val, expected);
    if (!has_ms_component(field))
      return fail(c, v,
                  "%s: a duration ('%s') fits only a field in milliseconds "
                  "(expected a plain number, or a field with a part ending "
                  "in _ms)",
                  what, val);
    e->value = (double)ns / (double)NS_PER_MS;
  }
  if (!(e->field = dup_str(c, field)) || !(e->text = dup_str(c, text)))
    return P2P_ERR_NOMEM;
  return 0;
}

static int parse_expect(ctx *c, const yaml_node_t *n) {
  sim_scenario *s = c->s;
  if (want_mapping(c, n, "expect") != 0)
    return P2P_ERR_INVALID;
  size_t len = map_len(n);
  if (len == 0)
    return 0;
  if (!(s->expects = calloc(len, sizeof *s->expects)))
    return nomem(c);
  s->n_expects = len;
  for (size_t i = 0; i < len; i++)
    if (parse_expect_clause(c, pair_key(c, n, i), pair_value(c, n, i),
                            &s->expects[i]) != 0)
      return c->rc;
  return 0;
}

static int load_buffer(ctx *c, bool keep);

/* Interprets the document again with path=value as one more override; an
 * error is reported at the sweep value `vn`. */
static int check_sweep_value(ctx *c, const char *path, const yaml_node_t *vn) {
  sim_scn_override *ovs = malloc((c->n_ovs + 1) * sizeof *ovs);
  if (!ovs)
    return nomem(c);
  if (c->n_ovs)
    memcpy(ovs, c->ovs, c->n_ovs * sizeof *ovs);
  ovs[c->n_ovs].path = path;
  ovs[c->n_ovs].value = scalar_str(vn);
  ctx sub;
  memset(&sub, 0, sizeof sub);
  sub.file = c->file;
  sub.buf = c->buf;
  sub.len = c->len;
  sub.ovs = ovs;
  sub.n_ovs = c->n_ovs + 1;
  sub.axis_ov = c->n_ovs;
  sub.sweep_check = true;
  int rc = load_buffer(&sub, false);
  free(ovs);
  if (rc == 0)
    return 0;
  if (rc == P2P_ERR_NOMEM)
    return nomem(c);
  if (sub.from_axis) {
    /* The message names the setting already when it starts with it. */
    const char *msg = sub.msg;
    size_t plen = strlen(path);
    if (strncmp(msg, path, plen) == 0 && msg[plen] == ':' &&
        msg[plen + 1] == ' ')
      msg += plen + 2;
    else if (strncmp(msg, path, plen) == 0 && msg[plen] == ' ')
      msg += plen + 1;
    return fail(c, vn, "sweep %s: %s", path, msg);
  }
  return fail(c, vn, "sweep %s=%.64s: at line %zu column %zu: %s", path,
              scalar_str(vn), sub.line, sub.col, sub.msg);
}

static int parse_sweep(ctx *c, const yaml_node_t *n) {
  sim_scenario *s = c->s;
  s->sweep_seeds = 1;
  if (want_mapping(c, n, "sweep") != 0)
    return P2P_ERR_INVALID;
  size_t len = map_len(n), n_axes = 0, n_values = 0;
  yaml_node_t *v = map_get(c, n, "seeds");
  if (v) {
    uint64_t seeds;
    if (get_uint(c, v, "sweep.seeds", 1, UINT32_MAX, &seeds) != 0)
      return P2P_ERR_INVALID;
    s->sweep_seeds = (uint32_t)seeds;
  }
  if (len == 0 || (len == 1 && v))
    return 0;
  if (!(s->axes = calloc(len, sizeof *s->axes)))
    return nomem(c);
  for (size_t i = 0; i < len; i++) {
    yaml_node_t *k = pair_key(c, n, i);
    const char *path = scalar_str(k);
    if (strcmp(path, "seeds") == 0)
      continue;
    static const char expected[] =
        "a list of values, e.g. nats.home.preset: [full-cone, symmetric]";
    target t;
    yaml_node_t *at;
    char why[768];
    if (strncmp(path, "sweep", 5) == 0 && (path[5] == 0 || path[5] == '.'))
      return fail(c, k,
                  "sweep %.64s: the sweep cannot sweep itself (expected a "
                  "setting outside sweep:)",
                  path);
    if (resolve(c, path, &t, &at, why, sizeof why) != 0)
      return fail(c, k, "sweep %.128s: no such setting: %s", path, why);
    yaml_node_t *list = pair_value(c, n, i);
    if (list->type != YAML_SEQUENCE_NODE)
      return fail(c, list, "sweep %s must be a list, not %s (expected %s)",
                  path, kind_name(list), expected);
    if (seq_len(list) == 0)
      return fail(c, list, "sweep %s is an empty list (expected %s)", path,
                  expected);
    sim_scn_axis *ax = &s->axes[n_axes++];
    s->n_axes = n_axes;
    if (!(ax->path = dup_str(c, path)))
      return P2P_ERR_NOMEM;
    if (!(ax->values = calloc(seq_len(list), sizeof *ax->values)))
      return nomem(c);
    for (size_t j = 0; j < seq_len(list); j++) {
      yaml_node_t *it = seq_item(c, list, j);
      if (it->type != YAML_SCALAR_NODE)
        return fail(c, it, "sweep %s: a value is %s (expected %s)", path,
                    kind_name(it), "a single value per list item");
      if (++n_values > SWEEP_VALUES_MAX)
        return fail(c, it,
                    "sweep: too many values (expected at most %d over all "
                    "axes)",
                    SWEEP_VALUES_MAX);
      if (!(ax->values[j] = dup_str(c, scalar_str(it))))
        return P2P_ERR_NOMEM;
      ax->n_values = j + 1;
      if (check_sweep_value(c, path, it) != 0)
        return c->rc;
    }
  }
  return 0;
}

static int parse_scenario(ctx *c) {
  sim_scenario *s = c->s;
  yaml_node_t *root = yaml_document_get_root_node(&c->doc), *v;
  if (root->type != YAML_MAPPING_NODE)
    return fail(c, root,
                "the scenario is %s (expected a mapping, e.g. name: x)",
                kind_name(root));
  if (check_keys(c, root, "the scenario", top_keys) != 0)
    return P2P_ERR_INVALID;

  const char *str;
  static const char name_expected[] =
      "a name of letters, digits, '.', '_' and '-', e.g. name: two-peers";
  if (need_key(c, root, "name", "the scenario", name_expected, &v) != 0 ||
      want_scalar(c, v, "name", name_expected, &str) != 0)
    return P2P_ERR_INVALID;
  if (!charset_ok(str, "._-", true))
    return fail(c, v, "name: '%.64s' is not valid (expected %s)", str,
                name_expected);
  if (!(s->name = dup_str(c, str)))
    return P2P_ERR_NOMEM;
  if ((v = map_get(c, root, "description"))) {
    if (want_scalar(c, v, "description", "a line of text", &str) != 0)
      return P2P_ERR_INVALID;
    if (!(s->description = dup_str(c, str)))
      return P2P_ERR_NOMEM;
  }
  s->seed = 1;
  if ((v = map_get(c, root, "seed")) &&
      get_uint(c, v, "seed", 0, UINT64_MAX, &s->seed) != 0)
    return P2P_ERR_INVALID;
  if (need_key(c, root, "duration", "the scenario",
               "duration: DURATION, e.g. 60s", &v) != 0 ||
      get_duration(c, v, "duration", true, &s->duration_ns) != 0)
    return P2P_ERR_INVALID;
  str = "netsim";
  if ((v = map_get(c, root, "backend"))) {
    static const char expected[] =
        "a backend name of a-z, 0-9, '_' and '-', e.g. netsim";
    if (want_scalar(c, v, "backend", expected, &str) != 0)
      return P2P_ERR_INVALID;
    if (!charset_ok(str, "_-", false))
      return fail(c, v, "backend: '%.64s' is not valid (expected %s)", str,
                  expected);
  }
  if (!(s->backend = dup_str(c, str)))
    return P2P_ERR_NOMEM;

  /* Defaults of the network, then nats and hosts (which refer to them),
   * then what refers to hosts. */
  s->core_latency_ns = 20 * NS_PER_MS;
  s->core_jitter_ns = 0;
  s->core_loss_ppm = 0;
  s->access_default = (p2plab_link_config){.latency_ns = 5 * NS_PER_MS,
                                           .jitter_ns = 0,
                                           .loss_ppm = 0,
                                           .rate_bps = 100000000ull,
                                           .queue_bytes = 64 * 1024};
  yaml_node_t *network = map_get(c, root, "network");
  if (network && parse_network(c, network) != 0)
    return P2P_ERR_INVALID;
  if ((v = map_get(c, root, "nats")) && parse_nats(c, v) != 0)
    return c->rc;
  if (parse_hosts(c, root) != 0)
    return c->rc;
  if (network && (v = map_get(c, network, "latency_overrides")) &&
      parse_latency_overrides(c, v) != 0)
    return c->rc;
  if ((v = map_get(c, root, "workload")) && parse_workload(c, v) != 0)
    return c->rc;
  if ((v = map_get(c, root, "expect")) && parse_expect(c, v) != 0)
    return c->rc;
  s->sweep_seeds = 1;
  if (!c->sweep_check && (v = map_get(c, root, "sweep")) &&
      parse_sweep(c, v) != 0)
    return c->rc;
  return 0;
}

/* Runs steps 1-4 over c->buf. With `keep` the scenario stays in c->s. */
static int load_buffer(ctx *c, bool keep) {
  int rc = scan_events(c);
  yaml_parser_t p;
  if (rc == 0) {
    if (!yaml_parser_initialize(&p))
      return nomem(c);
    yaml_parser_set_input_string(&p, (const unsigned char *)c->buf, c->len);
    if (!yaml_parser_load(&p, &c->doc))
      rc = syntax_error(c, &p);
    else
      c->have_doc = true;
    yaml_parser_delete(&p);
  }
  if (rc == 0 && !yaml_document_get_root_node(&c->doc))
    rc = fail_at(c, 1, 1, "the scenario is empty (expected a mapping)");
  if (rc == 0)
    rc = check_tree(c);
  if (rc == 0 &&
      yaml_document_get_root_node(&c->doc)->type != YAML_MAPPING_NODE)
    rc = fail(c, yaml_document_get_root_node(&c->doc),
              "the scenario is %s (expected a mapping, e.g. name: x)",
              kind_name(yaml_document_get_root_node(&c->doc)));
  for (size_t i = 0; rc == 0 && i < c->n_ovs; i++)
    rc = apply_override(c, i);
  if (rc == 0) {
    if (!(c->s = calloc(1, sizeof *c->s)))
      rc = nomem(c);
    else
      rc = parse_scenario(c);
  }
  if (rc != 0 || !keep) {
    sim_scenario_free(c->s);
    c->s = NULL;
  }
  if (c->have_doc)
    yaml_document_delete(&c->doc);
  c->have_doc = false;
  free(c->origins);
  c->origins = NULL;
  c->n_origins = 0;
  return rc;
}

int sim_scenario_load(const char *path, const sim_scn_override *overrides,
                      size_t n_overrides, sim_scenario **out, char *err,
                      size_t errlen) {
  if (err && errlen)
    err[0] = 0;
  if (out)
    *out = NULL;
  if (!path || !out || (n_overrides && !overrides)) {
    if (err && errlen)
      snprintf(err, errlen, "%s: error: invalid arguments to the loader",
               path ? path : "(null)");
    return P2P_ERR_INVALID;
  }
  ctx c;
  memset(&c, 0, sizeof c);
  c.file = path;
  c.ovs = overrides;
  c.n_ovs = n_overrides;
  c.axis_ov = SIZE_MAX;
  char *buf = NULL;
  int rc = read_file(&c, path, &buf, &c.len);
  if (rc == 0) {
    c.buf = buf;
    rc = load_buffer(&c, true);
  }
  free(buf);
  if (rc == 0 && !(c.s->file = strdup(path))) {
    sim_scenario_free(c.s);
    c.s = NULL;
    rc = nomem(&c);
  }
  if (rc != 0) {
    if (err && errlen)
      snprintf(err, errlen, "%s:%zu:%zu: error: %s", path, c.line, c.col,
               c.msg);
    return rc;
  }
  *out = c.s;
  return 0;
}
