/*
 * sim/metrics/evlog.h - the event log of a run.
 *
 * Every protocol milestone of a run is one event: virtual time in ns, the
 * host's name, the event name, and fields as space-separated key=value
 * pairs (keys [a-z0-9_.-]+, values without spaces, commas, quotes or
 * newlines). Summaries are computed from these events alone, and plots can
 * be redrawn from events.csv alone, so nothing is counted on the side.
 *
 * Event names of the hole punch (any transport), one attempt each:
 *   holepunch.start   id=N peer=HOST transport=udp nat_pair=NATA|NATB
 *   holepunch.direct  id=N time_to_direct_ns=T
 *   holepunch.failed  id=N reason=REASON
 * (NATA and NATB are the NAT profiles' presets, or their names when they
 * are not presets, or "open"; ordered as the attempt's two hosts.)
 *
 * events.csv: a header line "time_ns,host,event,fields", then one line per
 * event in log order. Nothing is quoted (the characters that would need it
 * are refused by sim_evlog_add); an event without fields has an empty last
 * column. Lines end with "\n".
 */
#ifndef SIM_EVLOG_H
#define SIM_EVLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "p2p/error.h"

typedef struct sim_event {
  uint64_t t_ns;
  const char *host;   /* owned by the log */
  const char *name;   /* owned by the log */
  const char *fields; /* owned by the log; "" when none */
} sim_event;

typedef struct sim_evlog sim_evlog;

P2P_WUR int sim_evlog_new(sim_evlog **out);
void sim_evlog_del(sim_evlog *l);

/* Appends an event (strings are copied). host may be empty (a run-wide
 * event), name may not; fields may be NULL (none). Returns 0,
 * P2P_ERR_INVALID (an empty name, or a string with a character the format
 * forbids: ',', '"', '\n', '\r', or a space in host or name) or
 * P2P_ERR_NOMEM. */
P2P_WUR int sim_evlog_add(sim_evlog *l, uint64_t t_ns, const char *host,
                          const char *name, const char *fields);
/* Same with printf-style fields. */
P2P_WUR int sim_evlog_addf(sim_evlog *l, uint64_t t_ns, const char *host,
                           const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

size_t sim_evlog_count(const sim_evlog *l);
/* The i-th event in log order, or NULL past the end. The pointer is valid
 * until the next add; its strings live as long as the log. */
const sim_event *sim_evlog_get(const sim_evlog *l, size_t i);

/* Finds `key` in an event's fields; copies its value into buf and returns
 * buf, or returns NULL when absent (or longer than buflen - 1). */
const char *sim_event_field(const sim_event *e, const char *key, char *buf,
                            size_t buflen);

/* Writes events.csv to f and the SHA-256 of exactly the bytes written into
 * sha256 (32 bytes). Returns 0 or P2P_ERR_IO. */
P2P_WUR int sim_evlog_write_csv(const sim_evlog *l, FILE *f,
                                uint8_t sha256[32]);

/* Reads an events.csv written by sim_evlog_write_csv. Returns 0,
 * P2P_ERR_IO, P2P_ERR_NOMEM or P2P_ERR_INVALID with "FILE:LINE: what" in
 * err. */
P2P_WUR int sim_evlog_read_csv(const char *path, sim_evlog **out, char *err,
                               size_t errlen);

#endif /* SIM_EVLOG_H */
