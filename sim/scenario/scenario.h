/*
 * sim/scenario/scenario.h - a scenario, loaded from YAML.
 *
 * The loader (scenario.c, libyaml) is strict: an unknown key, a wrong type,
 * a bad unit, a reference to an unknown host or NAT profile, a count of zero
 * or any other invalid value is an error naming file, line and column and
 * what was expected; nothing is half-loaded. The full reference of the
 * format is scenarios/README.md.
 *
 * Sweeps and command-line settings override scalars by dotted path before
 * the document is interpreted ("nats.home.preset", "network.latency",
 * "hosts.browser.count", "seed"), so an override is checked exactly like a
 * value written in the file.
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"
#include "plugins/backend.h"
#include "sim/net/nat.h"

#define SIM_SCN_NONE (-1)

/* A named NAT profile (the `nats:` map). */
typedef struct sim_scn_nat {
  char *name;
  char *preset;       /* the preset it starts from, or NULL */
  sim_nat_config cfg; /* preset with the explicit fields applied */
} sim_scn_nat;

typedef enum sim_scn_role {
  SIM_SCN_ROLE_NODE = 0, /* a peer (today: takes part in the raw hole punch) */
  SIM_SCN_ROLE_STUN,     /* a STUN-like reflector */
  SIM_SCN_ROLE_RELAY,    /* a public libp2p relay (WebSocket + TCP) */
  SIM_SCN_ROLE_BROWSER   /* a browser: dials ws only, listens on circuits */
} sim_scn_role;

/* `relay:` of a relay group (circuit relay v2 hop server limits). */
typedef struct sim_scn_relay {
  uint32_t reservations;        /* default 128 */
  uint32_t reservations_per_ip; /* default 8 */
  uint32_t circuits;            /* open circuits in total; default 16 */
  uint64_t reservation_ttl_ns;  /* default 1 h */
  uint64_t circuit_duration_ns; /* default 2 m */
  uint64_t circuit_data;        /* bytes per direction; default 128 KiB */
} sim_scn_relay;

/* A `listen:` entry. */
typedef enum sim_scn_listen_kind {
  SIM_SCN_LISTEN_TCP = 1,  /* /ip4/0.0.0.0/tcp/P */
  SIM_SCN_LISTEN_WS,       /* /ip4/0.0.0.0/tcp/P/ws */
  SIM_SCN_LISTEN_CIRCUIT   /* /p2p-circuit: reserve on the bootstrap relays */
} sim_scn_listen_kind;

typedef struct sim_scn_listen {
  sim_scn_listen_kind kind;
  uint16_t port; /* TCP and WS */
} sim_scn_listen;

/* Transports a group may dial (`transports:`), as bits. */
#define SIM_SCN_TRANSPORT_TCP 1u
#define SIM_SCN_TRANSPORT_WS 2u
#define SIM_SCN_TRANSPORT_CIRCUIT 4u
#define SIM_SCN_TRANSPORT_WEBRTC 8u

/* A host group (one entry of `hosts:`): `count` hosts named NAME-1..NAME-n
 * (or just NAME when count is 1). */
typedef struct sim_scn_host {
  char *name;
  sim_scn_role role;
  uint32_t count;         /* >= 1 */
  int nat;                /* index into nats: each host its own NAT, or NONE */
  int cgnat;              /* index into nats: one shared NAT for the group,
                             in front of each host's own NAT, or NONE */
  p2plab_link_config up, down; /* from `access:` (both directions alike) */
  /* libp2p (relay, browser and node groups; all optional). */
  sim_scn_listen *listen;
  size_t n_listen;
  uint32_t transports;     /* SIM_SCN_TRANSPORT_* bits; default: browser
                              ws|circuit, relay and node tcp|ws|circuit */
  bool has_relay;          /* `relay:` given (relay groups always serve) */
  sim_scn_relay relay;
  char **topics;           /* pubsub.topics: subscribed GossipSub topics */
  size_t n_topics;
  int *bootstrap;          /* bootstrap: host group indices */
  size_t n_bootstrap;
  char *discovery_topic;   /* discovery.pubsub.topic, or NULL: off */
  uint64_t discovery_interval_ns; /* discovery.pubsub.interval; default 10 s */
  uint32_t max_conns;      /* discovery.max_connections; default 0: none */
} sim_scn_host;

/* A per-pair core latency override (`network.latency_overrides`). */
typedef struct sim_scn_latency {
  int a, b;               /* host group indices */
  uint64_t latency_ns;    /* one way */
} sim_scn_latency;

typedef enum sim_scn_workload_kind {
  SIM_SCN_WL_HOLEPUNCH = 1, /* the raw UDP hole punch */
  SIM_SCN_WL_GOSSIP         /* GossipSub publishing on a topic */
} sim_scn_workload_kind;

/* One workload entry. holepunch: every host of group `a` punches with every
 * host of group `b` (pairs within one group when a == b), using the
 * reflector group `stun` (its first host). */
typedef struct sim_scn_workload {
  sim_scn_workload_kind kind;
  int a, b, stun;          /* host group indices */
  uint64_t start_ns;       /* default 1 s */
  uint64_t interval_ns;    /* between consecutive pairs' starts; default 0 */
  uint64_t timeout_ns;     /* probing timeout; default 5 s */
  uint64_t probe_interval_ns; /* default 50 ms */
  uint64_t signal_delay_ns;   /* default 0 */
  /* gossip: {topic, publishers, rate, size, start, stop, messages} */
  char *topic;                /* required */
  int publishers;             /* host group index (required) */
  uint64_t msg_interval_ns;   /* from rate N/s (per publisher); default 1 s */
  uint64_t msg_size;          /* bytes; default 128 */
  uint64_t stop_ns;           /* no publishing after; default duration - 5 s */
  uint32_t messages;          /* per publisher; 0: until stop */
} sim_scn_workload;

typedef enum sim_scn_op {
  SIM_SCN_OP_GE = 1, SIM_SCN_OP_LE, SIM_SCN_OP_EQ, SIM_SCN_OP_LT, SIM_SCN_OP_GT
} sim_scn_op;

/* One `expect:` clause: summary field (dotted path) OP value. The value is
 * normalised to the field's own unit (ms for *_ms fields, a ratio for
 * rates: "99%" becomes 0.99). */
typedef struct sim_scn_expect {
  char *field;     /* e.g. "holepunch.success_rate" */
  char *text;      /* the clause as written, e.g. ">= 0.99" */
  sim_scn_op op;
  double value;
} sim_scn_expect;

/* One sweep axis: a dotted path and the values it takes (as written). */
typedef struct sim_scn_axis {
  char *path;
  char **values;
  size_t n_values;
} sim_scn_axis;

typedef struct sim_scenario {
  char *file;          /* as given to the loader */
  char *name;
  char *description;   /* may be NULL */
  uint64_t seed;       /* default 1 */
  uint64_t duration_ns;
  char *backend;       /* default "netsim" */
  /* network: defaults of the core */
  uint64_t core_latency_ns, core_jitter_ns; /* default 20 ms, 0 */
  uint32_t core_loss_ppm;
  p2plab_link_config access_default; /* network.access: default links:
                                        5 ms, 0 jitter, 0 loss, 100 Mbit/s,
                                        64 KiB queue */
  sim_scn_latency *latencies;
  size_t n_latencies;
  sim_scn_nat *nats;
  size_t n_nats;
  sim_scn_host *hosts;
  size_t n_hosts;
  sim_scn_workload *workloads;
  size_t n_workloads;
  sim_scn_expect *expects;
  size_t n_expects;
  sim_scn_axis *axes;  /* sweep axes, in file order */
  size_t n_axes;
  uint32_t sweep_seeds; /* sweep.seeds: seeds 1..n per point; default 1 */
} sim_scenario;

/* A scalar override applied before interpretation. */
typedef struct sim_scn_override {
  const char *path;  /* dotted path, e.g. "nats.home.preset" */
  const char *value; /* the scalar as it would be written in YAML */
} sim_scn_override;

/* Loads and validates `path`, applying `overrides` first. On success *out
 * is a new scenario (free it with sim_scenario_free) and 0 is returned. On
 * failure returns P2P_ERR_INVALID (bad scenario), P2P_ERR_IO (unreadable)
 * or P2P_ERR_NOMEM, sets *out to NULL, and writes one message into err
 * (cut to errlen; err may be NULL) of the form
 * "FILE:LINE:COL: error: WHAT (expected WHAT)". An override whose path does
 * not resolve gives "override PATH=VALUE: no such setting: ..."; a bad
 * value put in by an override is reported where the value it replaced (or
 * the mapping it was added to) starts, followed by "(from override PATH)".
 * Every sweep value is checked the same way and reported at the value
 * ("sweep PATH: ..."). Files larger than 1 MiB are refused. */
P2P_WUR int sim_scenario_load(const char *path,
                              const sim_scn_override *overrides,
                              size_t n_overrides, sim_scenario **out,
                              char *err, size_t errlen);

void sim_scenario_free(sim_scenario *s);

/* Parses a duration ("20ms", "1.5s", "2m", "500us", "100ns", "1h"): 0 or
 * P2P_ERR_INVALID. Sizes ("128B", "64KiB", "1MiB", "1.5GiB"), rates
 * ("100Mbit", "20Mbit/s", "1Gbit", "500Kbit", "9600bit") and percentages
 * ("0.5%") likewise; a percentage comes back in parts per million. */
P2P_WUR int sim_parse_duration(const char *s, uint64_t *ns);
P2P_WUR int sim_parse_size(const char *s, uint64_t *bytes);
P2P_WUR int sim_parse_rate(const char *s, uint64_t *bps);
P2P_WUR int sim_parse_percent(const char *s, uint32_t *ppm);

const char *sim_scn_role_name(sim_scn_role r);

#endif /* SIM_SCENARIO_H */
