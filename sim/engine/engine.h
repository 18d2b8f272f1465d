/*
 * sim/engine/engine.h - the discrete-event engine.
 *
 * A virtual clock in nanoseconds and a queue of pending events ordered by
 * (time, insertion sequence): two events at the same instant run in the order
 * they were scheduled, so a run is deterministic. The engine never sleeps; it
 * jumps the clock to the next event.
 *
 * The queue is a 4-ary min-heap of 16-byte entries (time, sequence|slot), so
 * the four children of a node share one cache line, with event records in a
 * slab addressed by slot. The sequence|slot word is also the event's handle.
 * Cancellation is lazy: the record is freed at once, and its heap entry stays
 * as a tombstone until it reaches the top or until tombstones outnumber live
 * events (plus a small slack), when the heap is compacted in O(n).
 *
 * Limits: at most 2^24 (16.7 million) events pending at once and 2^40 events
 * scheduled over the life of an engine; past them scheduling fails with
 * P2P_ERR_LIMIT.
 */
#ifndef SIM_ENGINE_H
#define SIM_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"

#define SIM_TIME_NEVER UINT64_MAX

/* Time conversions: the engine counts nanoseconds. */
#define SIM_US(x) ((uint64_t)(x)*1000ull)
#define SIM_MS(x) ((uint64_t)(x)*1000000ull)
#define SIM_S(x) ((uint64_t)(x)*1000000000ull)

typedef struct sim_engine sim_engine;

/* An event callback: runs when the clock reaches the event's time. `now` is
 * that time. The callback may schedule and cancel events, including itself. */
typedef void (*sim_event_fn)(void *ctx, uint64_t now);

/* A handle to a scheduled event, for cancellation. 0 is never valid. A
 * handle carries the event's sequence number, unique over the engine's life,
 * so a stale handle (the event already ran or was cancelled) is recognised
 * and never cancels a newer event that reuses its record. */
typedef uint64_t sim_timer;

/* Creates an engine with the clock at 0. Returns 0 or P2P_ERR_NOMEM. */
P2P_WUR int sim_engine_new(sim_engine **out);

/* Frees the engine and every pending event record (callbacks are not run). */
void sim_engine_del(sim_engine *e);

/* The current virtual time in nanoseconds. */
uint64_t sim_engine_now(const sim_engine *e);

/* Schedules fn(ctx, at_ns) at virtual time at_ns, which must not be before
 * now. `out`, when not NULL, receives a handle for sim_engine_cancel. Returns
 * 0, P2P_ERR_INVALID (at_ns < now or fn NULL), P2P_ERR_NOMEM or P2P_ERR_LIMIT.
 */
P2P_WUR int sim_engine_schedule(sim_engine *e, uint64_t at_ns, sim_event_fn fn,
                                void *ctx, sim_timer *out);

/* Cancels a pending event. Returns 0, or P2P_ERR_NOTFOUND when the handle is
 * 0, stale, or its event already ran or was cancelled. */
int sim_engine_cancel(sim_engine *e, sim_timer t);

/* Runs events in (time, sequence) order while the earliest is at or before
 * until_ns, then sets the clock to until_ns (when it is later than now).
 * Events that callbacks schedule within the bound run in the same call, those
 * at `now` after the events already queued for `now`. until_ns before now
 * runs nothing and leaves the clock. until_ns == SIM_TIME_NEVER runs until
 * the queue is empty and leaves the clock at the last event's time, so the
 * engine stays usable. Returns the number of events run (>= 0). When
 * sim_engine_stop is called from a callback, returns after that callback
 * with the clock at that event's time. */
int64_t sim_engine_run_until(sim_engine *e, uint64_t until_ns);

/* Runs the single earliest pending event, if any. Returns 1 when an event ran,
 * 0 when none was pending. */
int sim_engine_run_next(sim_engine *e);

/* Asks a running sim_engine_run_until to return after the current event. */
void sim_engine_stop(sim_engine *e);

/* The time of the earliest pending event, or SIM_TIME_NEVER. */
uint64_t sim_engine_next_time(sim_engine *e);

/* The number of pending (scheduled, not cancelled, not yet run) events. */
size_t sim_engine_pending(const sim_engine *e);

/* The number of events run since creation. */
uint64_t sim_engine_events_run(const sim_engine *e);

#endif /* SIM_ENGINE_H */
