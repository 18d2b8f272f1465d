/*
 * sim/metrics/json.h - a small JSON value tree: built by the summary,
 * written as summary.json / sweep.json, read back for regression checks,
 * and queried by dotted path for expect: clauses and sweep tables.
 *
 * Objects keep their keys in insertion order, so output is deterministic.
 * Numbers are doubles, written with the shortest "%.17g"-exact form that
 * round-trips, integers without a fraction.
 */
#ifndef SIM_JSON_H
#define SIM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "p2p/error.h"

typedef enum sim_json_type {
  SIM_JSON_NULL = 0,
  SIM_JSON_BOOL,
  SIM_JSON_NUMBER,
  SIM_JSON_STRING,
  SIM_JSON_ARRAY,
  SIM_JSON_OBJECT
} sim_json_type;

typedef struct sim_json sim_json;

/* Constructors return NULL when out of memory. */
sim_json *sim_json_object(void);
sim_json *sim_json_array(void);
sim_json *sim_json_number(double v);
sim_json *sim_json_string(const char *s); /* copied */
sim_json *sim_json_bool(bool v);
sim_json *sim_json_null(void);

/* Adds `v` under `key` (copied) to an object, taking ownership of v (freed
 * on failure too). A key already present is replaced. Returns 0,
 * P2P_ERR_INVALID or P2P_ERR_NOMEM. */
P2P_WUR int sim_json_set(sim_json *obj, const char *key, sim_json *v);
/* Appends v to an array, taking ownership. */
P2P_WUR int sim_json_push(sim_json *arr, sim_json *v);

void sim_json_free(sim_json *v);

sim_json_type sim_json_type_of(const sim_json *v);
double sim_json_num(const sim_json *v);     /* 0 unless a number */
bool sim_json_boolean(const sim_json *v);   /* false unless a bool */
const char *sim_json_str(const sim_json *v); /* NULL unless a string */
size_t sim_json_len(const sim_json *v);     /* array items or object keys */
sim_json *sim_json_at(const sim_json *v, size_t i); /* array item */
const char *sim_json_key_at(const sim_json *v, size_t i); /* object key */
sim_json *sim_json_value_at(const sim_json *v, size_t i); /* object value */
sim_json *sim_json_get(const sim_json *obj, const char *key);
/* Looks up a dotted path ("holepunch.time_to_direct_ms.p50"). A key that
 * itself contains dots or '|' (e.g. a NAT pair) is matched whole when the
 * object has it. NULL when absent. */
sim_json *sim_json_path(const sim_json *root, const char *path);

/* Writes v indented by two spaces per level, with a final newline at top
 * level. Returns 0 or P2P_ERR_IO. */
P2P_WUR int sim_json_write(const sim_json *v, FILE *f);

/* Parses a JSON text (RFC 8259; nesting depth at most 64). Returns 0 or
 * P2P_ERR_INVALID with "line L, column C: what" in err, or P2P_ERR_NOMEM. */
P2P_WUR int sim_json_parse(const char *text, size_t len, sim_json **out,
                           char *err, size_t errlen);

/* Reads and parses a whole JSON file. Returns 0, P2P_ERR_IO (unreadable;
 * "cannot read PATH: why" in err), P2P_ERR_INVALID ("PATH: line L,
 * column C: what") or P2P_ERR_NOMEM. */
P2P_WUR int sim_json_read_file(const char *path, sim_json **out, char *err,
                               size_t errlen);

#endif /* SIM_JSON_H */
