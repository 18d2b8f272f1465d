/*
 * sim/net/tcp.c - the TCP segment model: one connection's state machine.
 *
 * Layout of the sequence space: the SYN takes iss, data bytes start at
 * iss + 1, the FIN takes the sequence number right after the last data byte.
 * The send buffer is a ring holding every byte from the first unacknowledged
 * one (buf_seq) to the last queued one; segments are cut from it on the fly,
 * so nothing is allocated per segment. snd_max is the highest sequence number
 * sent so far (RFC 9293's SND.NXT); snd_nxt is where the next transmission
 * starts, which a retransmission timeout pulls back to snd_una (go-back-N, as
 * BSD does without SACK).
 *
 * The receive side delivers in-order bytes straight from the segment. Bytes
 * that arrive beyond a hole go to a reassembly ring indexed by absolute
 * stream offset modulo its size, with a short sorted list of the byte ranges
 * it holds; they are delivered once the hole fills. The ring grows with the
 * span it must hold (at most rcv_wnd bytes) and is freed once it is empty.
 *
 * Memory: an idle connection holds no buffers beyond small ones. The send
 * ring and the one-segment scratch copy are allocated when data is queued,
 * sized to need, reused while data is in flight, and freed once everything
 * is acknowledged unless small (at most TCP_BUF_KEEP bytes).
 *
 * Callbacks may re-enter the connection (send, shutdown, abort, even input).
 * Every state change is committed before calling out, and after each call
 * out the code checks the connection's generation (bumped when it closes or
 * reopens) and stops if it moved.
 */
#include "sim/net/tcp.h"

#include <stdlib.h>
#include <string.h>

#define TCP_NEVER UINT64_MAX
#define TCP_DEFAULT_MSS 1460u
#define TCP_MAX_SEG_LEN 65535u     /* largest payload accepted as input */
#define TCP_MAX_WND (1u << 30)     /* keeps sequence arithmetic sane */
#define TCP_MAX_SENDBUF (1u << 30) /* queued bytes, same reason */
#define TCP_MAX_CWND (1u << 30)
#define TCP_SBUF_MIN 256u     /* smallest send ring */
#define TCP_BUF_KEEP 256u     /* larger empty buffers are freed */
#define TCP_RBUF_MIN 4096u    /* smallest reassembly ring */
#define TCP_MAX_OOO_RANGES 64 /* ranges held in the reassembly ring */
#define TCP_DUPACK_THRESH 3u

/* Sequence comparisons across the 32-bit wrap. */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) SEQ_LT(b, a)
#define SEQ_GEQ(a, b) SEQ_LEQ(b, a)

typedef struct ooo_range {
  uint64_t start, end; /* absolute stream offsets, [start, end) */
} ooo_range;

struct sim_tcp_conn {
  sim_tcp_config cfg;
  sim_tcp_ops ops;
  void *ctx;
  sim_tcp_state state;
  uint64_t gen; /* bumped when the connection opens or closes */
  bool active;  /* opened by sim_tcp_connect */
  bool fin_queued;
  bool rtt_timing;
  bool have_rtt;
  bool in_recovery;
  bool ooo_fin;

  /* Send side. */
  uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
  uint32_t buf_seq; /* sequence number of the first byte in sbuf */
  uint8_t *sbuf;
  size_t scap, shead, slen;
  uint8_t *scratch; /* up to one MSS: the payload handed to emit */
  size_t scratch_cap;
  unsigned emit_depth;

  /* Receive side. */
  uint32_t irs, rcv_nxt;
  uint64_t rcv_off; /* stream offset of rcv_nxt */
  uint8_t *rbuf;
  size_t rcap;       /* ring size: stored bytes are at offset % rcap */
  unsigned rbuf_pin; /* > 0 while rbuf bytes are being delivered */
  uint8_t *rbuf_old; /* a ring replaced while pinned, freed at unpin */
  ooo_range *ooo;    /* TCP_MAX_OOO_RANGES entries, allocated with rbuf */
  size_t n_ooo;
  uint64_t ooo_fin_off;

  /* Retransmission timer (RFC 6298). */
  uint64_t srtt, rttvar, rto, rtt_ts;
  uint32_t rtt_seq;
  uint32_t rto_count; /* consecutive timeouts without progress */
  uint64_t rtx_deadline, tw_deadline;

  /* Congestion control (RFC 5681, RFC 6582). */
  uint32_t cwnd, ssthresh, recover, dupacks;

  uint64_t retransmits;
  uint64_t n_emit;
  uint32_t last_ack_sent;
};

void sim_tcp_config_default(sim_tcp_config *cfg) {
  cfg->mss = TCP_DEFAULT_MSS;
  cfg->init_cwnd_segs = 10;
  cfg->rcv_wnd = 1u << 20;
  cfg->rto_initial_ns = 1000000000ull;
  cfg->rto_min_ns = 200000000ull;
  cfg->rto_max_ns = 60000000000ull;
  cfg->syn_retries = 6;
  cfg->data_retries = 15;
  cfg->time_wait_ns = 60000000000ull;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
  return a > TCP_NEVER - b ? TCP_NEVER : a + b;
}

static uint32_t min_u32(uint32_t a, uint32_t b) {
  return a < b ? a : b;
}

static uint32_t max_u32(uint32_t a, uint32_t b) {
  return a > b ? a : b;
}

static bool data_state(sim_tcp_state s) {
  return s == SIM_TCP_ESTABLISHED || s == SIM_TCP_FIN_WAIT_1 ||
         s == SIM_TCP_FIN_WAIT_2;
}

/* States in which queued data (and our FIN) may be transmitted. */
static bool send_state(sim_tcp_state s) {
  return s == SIM_TCP_ESTABLISHED || s == SIM_TCP_CLOSE_WAIT ||
         s == SIM_TCP_FIN_WAIT_1 || s == SIM_TCP_CLOSING ||
         s == SIM_TCP_LAST_ACK;
}

static bool fin_state(sim_tcp_state s) {
  return s == SIM_TCP_FIN_WAIT_1 || s == SIM_TCP_CLOSING ||
         s == SIM_TCP_LAST_ACK;
}

int sim_tcp_new(const sim_tcp_config *cfg, const sim_tcp_ops *ops, void *ctx,
                uint32_t iss, sim_tcp_conn **out) {
  sim_tcp_conn *c;

  if (out == NULL)
    return P2P_ERR_INVALID;
  *out = NULL;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return P2P_ERR_NOMEM;
  if (cfg != NULL)
    c->cfg = *cfg;
  else
    sim_tcp_config_default(&c->cfg);
  /* Clamp values that would stall or overflow the arithmetic. */
  if (c->cfg.mss == 0 || c->cfg.mss > TCP_MAX_SEG_LEN)
    c->cfg.mss = c->cfg.mss == 0 ? TCP_DEFAULT_MSS : TCP_MAX_SEG_LEN;
  if (c->cfg.init_cwnd_segs == 0)
    c->cfg.init_cwnd_segs = 1;
  if (c->cfg.init_cwnd_segs > TCP_MAX_CWND / c->cfg.mss)
    c->cfg.init_cwnd_segs = TCP_MAX_CWND / c->cfg.mss;
  if (c->cfg.rcv_wnd > TCP_MAX_WND)
    c->cfg.rcv_wnd = TCP_MAX_WND;
  if (c->cfg.rto_min_ns == 0)
    c->cfg.rto_min_ns = 1;
  if (c->cfg.rto_initial_ns == 0)
    c->cfg.rto_initial_ns = 1;
  if (c->cfg.rto_max_ns < c->cfg.rto_min_ns)
    c->cfg.rto_max_ns = c->cfg.rto_min_ns;
  if (ops != NULL)
    c->ops = *ops;
  c->ctx = ctx;
  c->iss = iss;
  c->state = SIM_TCP_CLOSED;
  c->rtx_deadline = TCP_NEVER;
  c->tw_deadline = TCP_NEVER;
  *out = c;
  return 0;
}

void sim_tcp_del(sim_tcp_conn *c) {
  if (c == NULL)
    return;
  free(c->sbuf);
  free(c->rbuf);
  free(c->rbuf_old);
  free(c->ooo);
  free(c->scratch);
  free(c);
}

/* Resets everything but the configuration, callbacks and buffers, so a
 * CLOSED connection can be opened (again). */
static void reset(sim_tcp_conn *c) {
  c->gen++;
  c->active = false;
  c->fin_queued = false;
  c->rtt_timing = false;
  c->have_rtt = false;
  c->in_recovery = false;
  c->ooo_fin = false;
  c->snd_una = c->iss;
  c->snd_nxt = c->iss + 1;
  c->snd_max = c->iss + 1;
  c->snd_wnd = 0;
  c->snd_wl1 = c->snd_wl2 = 0;
  c->buf_seq = c->iss + 1;
  c->shead = c->slen = 0;
  c->irs = c->rcv_nxt = 0;
  c->rcv_off = 0;
  c->n_ooo = 0;
  c->srtt = c->rttvar = 0;
  c->rto = c->cfg.rto_initial_ns;
  c->rto_count = 0;
  c->rtx_deadline = TCP_NEVER;
  c->tw_deadline = TCP_NEVER;
  c->cwnd = c->cfg.init_cwnd_segs * c->cfg.mss;
  c->ssthresh = TCP_MAX_CWND;
  c->recover = c->iss;
  c->dupacks = 0;
}

/* Ends the connection and reports it. The caller returns at once. */
static void finish(sim_tcp_conn *c, int err, uint64_t now) {
  c->state = SIM_TCP_CLOSED;
  c->gen++;
  c->rtx_deadline = TCP_NEVER;
  c->tw_deadline = TCP_NEVER;
  c->n_ooo = 0;
  if (c->ops.closed != NULL)
    c->ops.closed(c->ctx, err, now);
}

static void emit_raw(sim_tcp_conn *c, const sim_tcp_seg *s, uint64_t now) {
  c->n_emit++;
  if (s->flags & SIM_TCP_ACK)
    c->last_ack_sent = s->ack;
  c->emit_depth++;
  if (c->ops.emit != NULL)
    c->ops.emit(c->ctx, s, now);
  c->emit_depth--;
}

/* Emits a segment with the current ACK and window. Nothing leaves a CLOSED
 * connection. */
static void emit(sim_tcp_conn *c, uint32_t seq, uint8_t flags,
                 const uint8_t *data, uint32_t len, uint64_t now) {
  sim_tcp_seg s;

  if (c->state == SIM_TCP_CLOSED)
    return;
  s.seq = seq;
  s.ack = (flags & SIM_TCP_ACK) ? c->rcv_nxt : 0;
  s.wnd = c->cfg.rcv_wnd;
  s.flags = flags;
  s.len = len;
  s.data = len > 0 ? data : NULL;
  emit_raw(c, &s, now);
}

/* A pure ACK. Its sequence number is snd_max (as BSD does) so that it stays
 * acceptable to the peer while snd_nxt is pulled back for retransmission. */
static void send_ack(sim_tcp_conn *c, uint64_t now) {
  emit(c, c->snd_max, SIM_TCP_ACK, NULL, 0, now);
}

static void send_syn(sim_tcp_conn *c, uint64_t now) {
  if (c->state == SIM_TCP_SYN_SENT)
    emit(c, c->iss, SIM_TCP_SYN, NULL, 0, now);
  else
    emit(c, c->iss, SIM_TCP_SYN | SIM_TCP_ACK, NULL, 0, now);
}

static void arm_rtx(sim_tcp_conn *c, uint64_t now) {
  c->rtx_deadline = add_sat(now, c->rto);
}

/* --- send buffer ring ---------------------------------------------------- */

static int sbuf_reserve(sim_tcp_conn *c, size_t need) {
  size_t cap, first;
  uint8_t *nb;

  if (need <= c->scap)
    return 0;
  if (c->scap == 0) {
    cap = need > TCP_SBUF_MIN ? need : TCP_SBUF_MIN; /* sized to need */
  } else {
    cap = c->scap * 2;
    while (cap < need)
      cap *= 2;
  }
  nb = malloc(cap);
  if (nb == NULL)
    return P2P_ERR_NOMEM;
  if (c->slen > 0) {
    first = c->scap - c->shead;
    if (first > c->slen)
      first = c->slen;
    memcpy(nb, c->sbuf + c->shead, first);
    memcpy(nb + first, c->sbuf, c->slen - first);
  }
  free(c->sbuf);
  c->sbuf = nb;
  c->scap = cap;
  c->shead = 0;
  return 0;
}

static void sbuf_copy_out(const sim_tcp_conn *c, size_t off, size_t n,
                          uint8_t *dst) {
  size_t pos = (c->shead + off) % c->scap;
  size_t first = c->scap - pos;

  if (first > n)
    first = n;
  memcpy(dst, c->sbuf + pos, first);
  memcpy(dst + first, c->sbuf, n - first);
}

static void sbuf_consume(sim_tcp_conn *c, size_t n) {
  c->shead = (c->shead + n) % c->scap;
  c->slen -= n;
  if (c->slen > 0)
    return;
  c->shead = 0;
  /* Everything is acknowledged: the burst is over. The scratch copy may be
   * in use by an emit further up the stack. */
  if (c->scap > TCP_BUF_KEEP) {
    free(c->sbuf);
    c->sbuf = NULL;
    c->scap = 0;
  }
  if (c->scratch_cap > TCP_BUF_KEEP && c->emit_depth == 0) {
    free(c->scratch);
    c->scratch = NULL;
    c->scratch_cap = 0;
  }
}

/* --- transmission -------------------------------------------------------- */

/* Sends the segment starting at seq with n data bytes (and FIN), updating
 * snd_nxt/snd_max, the RTT probe and the timer before calling out. */
static void send_data_seg(sim_tcp_conn *c, uint32_t seq, uint32_t n, bool fin,
                          uint64_t now) {
  uint32_t end = seq + n + (fin ? 1u : 0u);
  uint8_t *buf = NULL;
  uint8_t *tmp = NULL;

  if (SEQ_LT(seq, c->snd_max)) {
    c->retransmits++;
  } else if (!c->rtt_timing) {
    c->rtt_timing = true;
    c->rtt_seq = end;
    c->rtt_ts = now;
  }
  if (SEQ_GT(end, c->snd_nxt))
    c->snd_nxt = end;
  if (SEQ_GT(end, c->snd_max))
    c->snd_max = end;
  if (c->rtx_deadline == TCP_NEVER)
    arm_rtx(c, now);
  if (n > 0) {
    /* The payload is copied out of the ring so that a callback growing the
     * ring cannot pull it from under emit. A nested emit gets its own copy. */
    if (c->emit_depth == 0) {
      if (c->scratch_cap < n) {
        /* Sized to need, up to one MSS. */
        size_t cap = c->scratch_cap ? c->scratch_cap * 2 : TCP_SBUF_MIN;
        while (cap < n)
          cap *= 2;
        if (cap > c->cfg.mss)
          cap = c->cfg.mss;
        free(c->scratch);
        c->scratch_cap = 0;
        c->scratch = malloc(cap);
        if (c->scratch == NULL)
          return; /* as if lost: the timer resends it */
        c->scratch_cap = cap;
      }
      buf = c->scratch;
    } else {
      tmp = malloc(n);
      if (tmp == NULL)
        return; /* as if lost: the timer resends it */
      buf = tmp;
    }
    sbuf_copy_out(c, seq - c->buf_seq, n, buf);
  }
  emit(c, seq, (uint8_t)(SIM_TCP_ACK | (fin ? SIM_TCP_FIN : 0)), buf, n, now);
  free(tmp);
}

/* Sends new (or, after a timeout, re-sent) data from snd_nxt as far as the
 * congestion and peer windows allow, then the FIN if one is due. */
static void output(sim_tcp_conn *c, uint64_t now) {
  for (;;) {
    sim_tcp_state st = c->state;
    uint32_t data_end, avail, flight, wnd, usable, n;
    bool fin;

    if (!send_state(st))
      return;
    data_end = c->buf_seq + (uint32_t)c->slen;
    if (SEQ_GT(c->snd_nxt, data_end))
      return; /* the FIN is out: nothing follows it */
    avail = data_end - c->snd_nxt;
    flight = c->snd_nxt - c->snd_una;
    wnd = min_u32(c->cwnd, c->snd_wnd);
    usable = wnd > flight ? wnd - flight : 0;
    n = min_u32(min_u32(avail, c->cfg.mss), usable);
    if (n == 0 && avail > 0 && c->snd_wnd == 0 && flight == 0)
      n = 1; /* zero-window probe, re-sent by the retransmission timer */
    fin = c->fin_queued && n == avail && fin_state(st);
    if (n == 0 && !fin)
      return;
    send_data_seg(c, c->snd_nxt, n, fin, now);
  }
}

/* Re-sends the first unacknowledged segment (fast retransmit, NewReno partial
 * ACK). */
static void retransmit_first(sim_tcp_conn *c, uint64_t now) {
  uint32_t data_end = c->buf_seq + (uint32_t)c->slen;
  uint32_t n = 0;
  bool fin;

  if (c->snd_una == c->snd_max || !send_state(c->state))
    return;
  if (SEQ_LT(c->snd_una, data_end))
    n = min_u32(data_end - c->snd_una, c->cfg.mss);
  fin = c->fin_queued && fin_state(c->state) && c->snd_una + n == data_end &&
        SEQ_GT(c->snd_max, data_end);
  if (n == 0 && !fin)
    return;
  c->rtt_timing = false; /* Karn */
  send_data_seg(c, c->snd_una, n, fin, now);
}

/* --- RTT estimation (RFC 6298) ------------------------------------------- */

static void rtt_sample(sim_tcp_conn *c, uint64_t r) {
  uint64_t rto;

  if (!c->have_rtt) {
    c->srtt = r;
    c->rttvar = r / 2;
    c->have_rtt = true;
  } else {
    uint64_t d = c->srtt > r ? c->srtt - r : r - c->srtt;
    c->rttvar = c->rttvar - c->rttvar / 4 + d / 4;
    c->srtt = c->srtt - c->srtt / 8 + r / 8;
  }
  rto =
      add_sat(c->srtt, c->rttvar > (TCP_NEVER / 4) ? TCP_NEVER : 4 * c->rttvar);
  if (rto < c->cfg.rto_min_ns)
    rto = c->cfg.rto_min_ns;
  if (rto > c->cfg.rto_max_ns)
    rto = c->cfg.rto_max_ns;
  c->rto = rto;
}

static void maybe_sample(sim_tcp_conn *c, uint32_t ack, uint64_t now) {
  if (c->rtt_timing && SEQ_GEQ(ack, c->rtt_seq)) {
    c->rtt_timing = false;
    rtt_sample(c, now >= c->rtt_ts ? now - c->rtt_ts : 0);
  }
}

/* --- public entry points ------------------------------------------------- */

/* Sends our SYN (or SYN-ACK) and times its round trip, for both opens. */
static void start_handshake(sim_tcp_conn *c, uint64_t now) {
  c->rtt_timing = true;
  c->rtt_seq = c->iss + 1;
  c->rtt_ts = now;
  arm_rtx(c, now);
  send_syn(c, now);
}

int sim_tcp_connect(sim_tcp_conn *c, uint64_t now) {
  if (c == NULL)
    return P2P_ERR_INVALID;
  if (c->state != SIM_TCP_CLOSED)
    return P2P_ERR_STATE;
  reset(c);
  c->active = true;
  c->state = SIM_TCP_SYN_SENT;
  start_handshake(c, now);
  return 0;
}

int sim_tcp_accept(sim_tcp_conn *c, const sim_tcp_seg *syn, uint64_t now) {
  if (c == NULL || syn == NULL)
    return P2P_ERR_INVALID;
  if (c->state != SIM_TCP_CLOSED)
    return P2P_ERR_STATE;
  if ((syn->flags & (SIM_TCP_SYN | SIM_TCP_ACK | SIM_TCP_RST)) != SIM_TCP_SYN)
    return P2P_ERR_INVALID;
  reset(c);
  /* Payload and FIN on the SYN are not taken: the peer sends them again. */
  c->irs = syn->seq;
  c->rcv_nxt = syn->seq + 1;
  c->snd_wnd = syn->wnd;
  c->snd_wl1 = syn->seq;
  c->snd_wl2 = c->iss;
  c->state = SIM_TCP_SYN_RECEIVED;
  start_handshake(c, now);
  return 0;
}

int sim_tcp_send(sim_tcp_conn *c, const uint8_t *buf, size_t len,
                 uint64_t now) {
  sim_tcp_state st;
  size_t pos, first;
  int rv;

  if (c == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  st = c->state;
  if ((st != SIM_TCP_SYN_SENT && st != SIM_TCP_SYN_RECEIVED &&
       st != SIM_TCP_ESTABLISHED && st != SIM_TCP_CLOSE_WAIT) ||
      c->fin_queued)
    return P2P_ERR_STATE;
  if (len == 0)
    return 0;
  if (len > TCP_MAX_SENDBUF || c->slen + len > TCP_MAX_SENDBUF)
    return P2P_ERR_NOMEM;
  rv = sbuf_reserve(c, c->slen + len);
  if (rv != 0)
    return rv;
  pos = (c->shead + c->slen) % c->scap;
  first = c->scap - pos;
  if (first > len)
    first = len;
  memcpy(c->sbuf + pos, buf, first);
  memcpy(c->sbuf, buf + first, len - first);
  c->slen += len;
  output(c, now);
  return 0;
}

int sim_tcp_shutdown(sim_tcp_conn *c, uint64_t now) {
  if (c == NULL)
    return P2P_ERR_INVALID;
  switch (c->state) {
  case SIM_TCP_CLOSED: return P2P_ERR_STATE;
  case SIM_TCP_SYN_SENT:
  case SIM_TCP_SYN_RECEIVED:
    /* Sent once established (RFC 9293 3.10.4). */
    c->fin_queued = true;
    return 0;
  case SIM_TCP_ESTABLISHED:
    c->fin_queued = true;
    c->state = SIM_TCP_FIN_WAIT_1;
    output(c, now);
    return 0;
  case SIM_TCP_CLOSE_WAIT:
    c->fin_queued = true;
    c->state = SIM_TCP_LAST_ACK;
    output(c, now);
    return 0;
  default: return 0; /* already shut */
  }
}

void sim_tcp_abort(sim_tcp_conn *c, uint64_t now) {
  sim_tcp_state st;
  sim_tcp_seg s;

  if (c == NULL)
    return;
  st = c->state;
  /* The state is committed first: the emit callback sees a CLOSED
   * connection, and the RST is the last thing it ever emits. */
  c->state = SIM_TCP_CLOSED;
  c->gen++;
  c->rtx_deadline = TCP_NEVER;
  c->tw_deadline = TCP_NEVER;
  c->n_ooo = 0;
  if (st == SIM_TCP_CLOSED || st == SIM_TCP_SYN_SENT || st == SIM_TCP_TIME_WAIT)
    return;
  s.seq = c->snd_max;
  s.ack = c->rcv_nxt;
  s.wnd = 0;
  s.flags = SIM_TCP_RST | SIM_TCP_ACK;
  s.len = 0;
  s.data = NULL;
  emit_raw(c, &s, now);
}

uint64_t sim_tcp_expiry(const sim_tcp_conn *c) {
  if (c == NULL || c->state == SIM_TCP_CLOSED)
    return TCP_NEVER;
  if (c->state == SIM_TCP_TIME_WAIT)
    return c->tw_deadline;
  return c->rtx_deadline;
}

static void on_rto(sim_tcp_conn *c, uint64_t now) {
  bool syn_phase =
      c->state == SIM_TCP_SYN_SENT || c->state == SIM_TCP_SYN_RECEIVED;
  uint32_t limit = syn_phase ? c->cfg.syn_retries : c->cfg.data_retries;
  uint32_t flight;

  c->rtx_deadline = TCP_NEVER;
  if (c->snd_una == c->snd_max)
    return; /* nothing outstanding */
  if (c->rto_count >= limit) {
    finish(c, P2P_ERR_TIMEOUT, now);
    return;
  }
  c->rto_count++;
  c->rto = c->rto > c->cfg.rto_max_ns / 2 ? c->cfg.rto_max_ns : 2 * c->rto;
  if (c->rto > c->cfg.rto_max_ns)
    c->rto = c->cfg.rto_max_ns;
  c->rtt_timing = false; /* Karn: no sample from a retransmitted segment */
  if (syn_phase) {
    c->retransmits++;
    arm_rtx(c, now);
    send_syn(c, now);
    return;
  }
  flight = c->snd_max - c->snd_una;
  if (c->rto_count == 1) /* RFC 5681 (4): only on the first timeout */
    c->ssthresh = max_u32(flight / 2, 2 * c->cfg.mss);
  c->cwnd = c->cfg.mss;
  c->in_recovery = false;
  c->dupacks = 0;
  c->recover = c->snd_max;
  c->snd_nxt = c->snd_una;
  output(c, now);
}

void sim_tcp_on_expiry(sim_tcp_conn *c, uint64_t now) {
  if (c == NULL || c->state == SIM_TCP_CLOSED)
    return;
  if (c->state == SIM_TCP_TIME_WAIT) {
    if (now >= c->tw_deadline)
      finish(c, 0, now);
    return;
  }
  if (c->rtx_deadline != TCP_NEVER && now >= c->rtx_deadline)
    on_rto(c, now);
}

/* --- input --------------------------------------------------------------- */

static bool in_rcv_window(const sim_tcp_conn *c, uint32_t seq) {
  return (uint32_t)(seq - c->rcv_nxt) < c->cfg.rcv_wnd;
}

/* RFC 9293 3.10.7.4, first check: is any of the segment in the window? */
static bool seq_acceptable(const sim_tcp_conn *c, uint32_t seq,
                           uint32_t seglen) {
  if (seglen == 0)
    return c->cfg.rcv_wnd == 0 ? seq == c->rcv_nxt : in_rcv_window(c, seq);
  if (c->cfg.rcv_wnd == 0)
    return false;
  return in_rcv_window(c, seq) || in_rcv_window(c, seq + seglen - 1);
}

static void enter_time_wait(sim_tcp_conn *c, uint64_t now) {
  c->state = SIM_TCP_TIME_WAIT;
  c->rtx_deadline = TCP_NEVER;
  c->tw_deadline = add_sat(now, c->cfg.time_wait_ns);
}

/* Enters ESTABLISHED (or FIN_WAIT_1 when shutdown was asked for during the
 * handshake) and reports it. Returns false if the connection moved on. */
static bool become_established(sim_tcp_conn *c, uint64_t now) {
  uint64_t gen = c->gen;

  c->state = c->fin_queued ? SIM_TCP_FIN_WAIT_1 : SIM_TCP_ESTABLISHED;
  c->rto_count = 0;
  c->rtx_deadline = TCP_NEVER;
  c->recover = c->snd_una;
  if (c->ops.connected != NULL)
    c->ops.connected(c->ctx, now);
  return c->gen == gen;
}

static void update_window(sim_tcp_conn *c, uint32_t seq, uint32_t ack,
                          uint32_t wnd) {
  if (SEQ_LT(c->snd_wl1, seq) ||
      (c->snd_wl1 == seq && SEQ_LEQ(c->snd_wl2, ack))) {
    c->snd_wnd = wnd;
    c->snd_wl1 = seq;
    c->snd_wl2 = ack;
  }
}

/* Takes ack (snd_una < ack <= snd_max): frees acknowledged bytes, updates
 * RTT, timer and congestion window. */
static void ack_new_data(sim_tcp_conn *c, uint32_t ack, uint64_t now) {
  uint32_t acked = ack - c->snd_una;
  uint32_t data_end = c->buf_seq + (uint32_t)c->slen;
  uint32_t mss = c->cfg.mss;

  if (SEQ_GT(ack, c->buf_seq)) {
    uint32_t n = SEQ_LT(ack, data_end) ? ack - c->buf_seq : (uint32_t)c->slen;
    if (n > 0)
      sbuf_consume(c, n);
    c->buf_seq += n;
  }
  maybe_sample(c, ack, now);
  c->snd_una = ack;
  if (SEQ_LT(c->snd_nxt, ack))
    c->snd_nxt = ack;
  c->rto_count = 0;
  if (c->snd_una == c->snd_max)
    c->rtx_deadline = TCP_NEVER;
  else
    arm_rtx(c, now);

  if (c->in_recovery) {
    if (SEQ_GEQ(ack, c->recover)) {
      /* Full ACK: leave fast recovery (RFC 6582 3.2 (3), option 1). */
      uint32_t flight = c->snd_max - c->snd_una;
      c->cwnd = min_u32(c->ssthresh, max_u32(flight, mss) + mss);
      c->in_recovery = false;
      c->dupacks = 0;
    } else {
      /* Partial ACK: resend the next hole, deflate the window. */
      c->cwnd = c->cwnd > acked ? c->cwnd - acked : 0;
      if (acked >= mss)
        c->cwnd += mss;
      if (c->cwnd < mss)
        c->cwnd = mss;
      retransmit_first(c, now);
    }
    return;
  }
  c->dupacks = 0;
  if (c->cwnd < c->ssthresh)
    c->cwnd += min_u32(acked, mss); /* slow start */
  else
    c->cwnd += max_u32(1, (uint32_t)((uint64_t)mss * mss / c->cwnd));
  if (c->cwnd > TCP_MAX_CWND)
    c->cwnd = TCP_MAX_CWND;
}

/* RFC 5681 duplicate ACK: counts it and runs fast retransmit / recovery. */
static void dup_ack(sim_tcp_conn *c, uint32_t ack, uint64_t now) {
  uint32_t mss = c->cfg.mss;

  c->dupacks++;
  if (c->in_recovery) {
    c->cwnd = min_u32(c->cwnd + mss, TCP_MAX_CWND);
    return;
  }
  if (c->dupacks != TCP_DUPACK_THRESH || !SEQ_GEQ(ack, c->recover))
    return;
  c->ssthresh = max_u32((c->snd_max - c->snd_una) / 2, 2 * mss);
  c->recover = c->snd_max;
  c->in_recovery = true;
  c->cwnd = min_u32(c->ssthresh + 3 * mss, TCP_MAX_CWND);
  retransmit_first(c, now);
}

static void ooo_trim(sim_tcp_conn *c) {
  size_t i = 0, j;

  while (i < c->n_ooo && c->ooo[i].end <= c->rcv_off)
    i++;
  if (i > 0) {
    for (j = i; j < c->n_ooo; j++)
      c->ooo[j - i] = c->ooo[j];
    c->n_ooo -= i;
  }
  if (c->n_ooo > 0 && c->ooo[0].start < c->rcv_off)
    c->ooo[0].start = c->rcv_off;
}

/* Copies len bytes to (ring_put) or from (ring_get) a ring of cap bytes at
 * stream offset off. */
static void ring_put(uint8_t *ring, size_t cap, uint64_t off,
                     const uint8_t *data, size_t len) {
  size_t pos = (size_t)(off % cap);
  size_t first = cap - pos;

  if (first > len)
    first = len;
  memcpy(ring + pos, data, first);
  memcpy(ring, data + first, len - first);
}

static void ring_get(const uint8_t *ring, size_t cap, uint64_t off,
                     uint8_t *dst, size_t len) {
  size_t pos = (size_t)(off % cap);
  size_t first = cap - pos;

  if (first > len)
    first = len;
  memcpy(dst, ring + pos, first);
  memcpy(dst + first, ring, len - first);
}

/* Grows the reassembly ring to hold `span` bytes from rcv_off (span <=
 * rcv_wnd), moving the stored ranges. While rbuf bytes are being delivered
 * the old ring stays alive until the delivery ends. Returns false when
 * memory is short. */
static bool rbuf_grow(sim_tcp_conn *c, uint64_t span) {
  uint64_t wnd = c->cfg.rcv_wnd;
  uint64_t cap = c->rcap ? c->rcap : TCP_RBUF_MIN;
  uint8_t *nb;
  size_t i;

  while (cap < span)
    cap *= 2;
  if (cap > wnd || c->rbuf_pin > 0)
    cap = wnd; /* while pinned, grow once and for all */
  nb = malloc((size_t)cap);
  if (nb == NULL)
    return false;
  for (i = 0; i < c->n_ooo; i++) {
    uint64_t at = c->ooo[i].start > c->rcv_off ? c->ooo[i].start : c->rcv_off;
    while (at < c->ooo[i].end) {
      uint8_t tmp[512];
      size_t n = (size_t)(c->ooo[i].end - at);
      if (n > sizeof tmp)
        n = sizeof tmp;
      ring_get(c->rbuf, c->rcap, at, tmp, n);
      ring_put(nb, (size_t)cap, at, tmp, n);
      at += n;
    }
  }
  if (c->rbuf_pin > 0 && c->rbuf_old == NULL)
    c->rbuf_old = c->rbuf;
  else
    free(c->rbuf);
  c->rbuf = nb;
  c->rcap = (size_t)cap;
  return true;
}

/* Buffers bytes that arrived beyond a hole (already trimmed to the window).
 * Dropped, as if lost, when the range table is full or memory is short. */
static void ooo_store(sim_tcp_conn *c, uint32_t seq, const uint8_t *data,
                      uint32_t len, bool fin) {
  uint64_t start = c->rcv_off + (seq - c->rcv_nxt);
  uint64_t end = start + len;
  uint64_t wnd = c->cfg.rcv_wnd;
  size_t i, j;

  if (fin) {
    c->ooo_fin = true;
    c->ooo_fin_off = end;
  }
  if (len == 0 || wnd == 0)
    return;
  if (c->ooo == NULL)
    c->ooo = malloc(TCP_MAX_OOO_RANGES * sizeof(ooo_range));
  if (c->ooo == NULL ||
      (end - c->rcv_off > c->rcap && !rbuf_grow(c, end - c->rcv_off))) {
    if (fin)
      c->ooo_fin = false;
    return; /* as if lost */
  }
  /* Find the ranges the new one touches and merge them. */
  for (i = 0; i < c->n_ooo && c->ooo[i].end < start; i++)
    ;
  for (j = i; j < c->n_ooo && c->ooo[j].start <= end; j++)
    ;
  if (i == j) {
    if (c->n_ooo == TCP_MAX_OOO_RANGES) {
      if (fin)
        c->ooo_fin = false;
      return;
    }
    memmove(&c->ooo[i + 1], &c->ooo[i], (c->n_ooo - i) * sizeof(ooo_range));
    c->ooo[i].start = start;
    c->ooo[i].end = end;
    c->n_ooo++;
  } else {
    uint64_t s = c->ooo[i].start < start ? c->ooo[i].start : start;
    uint64_t e = c->ooo[j - 1].end > end ? c->ooo[j - 1].end : end;
    c->ooo[i].start = s;
    c->ooo[i].end = e;
    memmove(&c->ooo[i + 1], &c->ooo[j], (c->n_ooo - j) * sizeof(ooo_range));
    c->n_ooo -= j - i - 1;
  }
  ring_put(c->rbuf, c->rcap, start, data, len);
}

static bool deliver(sim_tcp_conn *c, const uint8_t *buf, size_t len,
                    uint64_t now) {
  uint64_t gen = c->gen;

  if (len > 0 && c->ops.data != NULL)
    c->ops.data(c->ctx, buf, len, now);
  return c->gen == gen;
}

/* Delivers buffered bytes that the last in-order segment made contiguous. */
static bool ooo_drain(sim_tcp_conn *c, uint64_t now) {
  bool ok = true;

  c->rbuf_pin++;
  while (c->n_ooo > 0 && c->ooo[0].start <= c->rcv_off &&
         data_state(c->state)) {
    uint8_t *ring = c->rbuf;
    uint64_t from = c->rcv_off;
    uint64_t n = c->ooo[0].end - from;
    size_t pos = (size_t)(from % c->rcap);
    size_t first = c->rcap - pos;

    if (first > n)
      first = (size_t)n;
    c->rcv_off += n;
    c->rcv_nxt += (uint32_t)n;
    ooo_trim(c);
    if (!deliver(c, ring + pos, first, now) ||
        !deliver(c, ring, (size_t)n - first, now)) {
      ok = false;
      break;
    }
  }
  if (--c->rbuf_pin == 0) {
    free(c->rbuf_old);
    c->rbuf_old = NULL;
    if (c->n_ooo == 0 && c->rbuf != NULL) { /* every hole filled */
      free(c->rbuf);
      c->rbuf = NULL;
      c->rcap = 0;
      free(c->ooo);
      c->ooo = NULL;
    }
  }
  return ok;
}

/* The peer's FIN, in order. Returns false if the connection moved on. */
static bool process_fin(sim_tcp_conn *c, uint64_t now) {
  uint64_t gen = c->gen;

  c->rcv_nxt++;
  c->rcv_off++;
  c->n_ooo = 0;
  c->ooo_fin = false;
  switch (c->state) {
  case SIM_TCP_ESTABLISHED: c->state = SIM_TCP_CLOSE_WAIT; break;
  case SIM_TCP_FIN_WAIT_1: c->state = SIM_TCP_CLOSING; break;
  case SIM_TCP_FIN_WAIT_2: enter_time_wait(c, now); break;
  default: break;
  }
  if (c->ops.eof != NULL)
    c->ops.eof(c->ctx, now);
  return c->gen == gen;
}

/* Steps 7 and 8 of RFC 9293 3.10.7.4: the segment text and FIN. seq is at or
 * beyond rcv_nxt and the text is trimmed to the window. */
static bool process_text(sim_tcp_conn *c, uint32_t seq, const uint8_t *data,
                         uint32_t len, bool fin, uint64_t now, bool *ack_now) {
  uint32_t fin_seq = seq + len;

  if (len == 0 && !fin)
    return true;
  if (!data_state(c->state))
    return true; /* the peer's FIN came before: ignore the text */
  /* A callback may have moved rcv_nxt under us: keep to the window. */
  if (SEQ_LT(seq, c->rcv_nxt) ||
      (uint64_t)(uint32_t)(seq - c->rcv_nxt) + len > c->cfg.rcv_wnd)
    return true;
  *ack_now = true;
  if (seq != c->rcv_nxt) {
    ooo_store(c, seq, data, len, fin);
    return true;
  }
  if (len > 0) {
    c->rcv_nxt += len;
    c->rcv_off += len;
    ooo_trim(c);
    if (!deliver(c, data, len, now))
      return false;
    if (!ooo_drain(c, now))
      return false;
  }
  if (!data_state(c->state))
    return true;
  if (c->ooo_fin && c->ooo_fin_off == c->rcv_off)
    return process_fin(c, now);
  if (c->ooo_fin && c->ooo_fin_off < c->rcv_off)
    c->ooo_fin = false;
  if (fin && fin_seq == c->rcv_nxt)
    return process_fin(c, now);
  return true;
}

/* Sends the ACK the segment asked for, unless a segment sent meanwhile
 * already carried it. */
static void finish_input(sim_tcp_conn *c, bool ack_now, uint64_t emits0,
                         uint64_t now) {
  uint64_t gen = c->gen;

  if (c->state == SIM_TCP_CLOSED)
    return;
  output(c, now);
  if (c->gen != gen)
    return;
  if (ack_now && !(c->n_emit != emits0 && c->last_ack_sent == c->rcv_nxt))
    send_ack(c, now);
}

static void input_syn_sent(sim_tcp_conn *c, const sim_tcp_seg *seg,
                           const uint8_t *data, uint32_t len, uint64_t now) {
  uint8_t fl = seg->flags;
  bool ack_ok = false;
  bool ack_now = true;
  uint64_t emits0 = c->n_emit;
  uint64_t gen = c->gen;

  if (fl & SIM_TCP_ACK) {
    if (seg->ack != c->iss + 1) {
      if (!(fl & SIM_TCP_RST))
        emit(c, seg->ack, SIM_TCP_RST, NULL, 0, now);
      return;
    }
    ack_ok = true;
  }
  if (fl & SIM_TCP_RST) {
    if (ack_ok)
      finish(c, P2P_ERR_REFUSED, now);
    return;
  }
  if (!(fl & SIM_TCP_SYN))
    return;
  c->irs = seg->seq;
  c->rcv_nxt = seg->seq + 1;
  c->rcv_off = 0;
  if (!ack_ok) {
    /* Simultaneous open: answer with SYN-ACK; text waits for a resend. */
    c->state = SIM_TCP_SYN_RECEIVED;
    c->snd_wnd = seg->wnd;
    c->snd_wl1 = seg->seq;
    c->snd_wl2 = c->iss;
    send_syn(c, now);
    return;
  }
  c->snd_una = seg->ack;
  c->snd_wnd = seg->wnd;
  c->snd_wl1 = seg->seq;
  c->snd_wl2 = seg->ack;
  maybe_sample(c, seg->ack, now);
  if (!become_established(c, now))
    return;
  {
    bool fin = (fl & SIM_TCP_FIN) != 0;
    if (len > c->cfg.rcv_wnd) {
      len = c->cfg.rcv_wnd;
      fin = false;
    }
    if (!process_text(c, seg->seq + 1, data, len, fin, now, &ack_now))
      return;
  }
  if (c->gen != gen)
    return;
  finish_input(c, ack_now, emits0, now);
}

/* RFC 9293 3.10.7.4: SYN_RECEIVED and every later state. */
static void input_sync(sim_tcp_conn *c, const sim_tcp_seg *seg,
                       const uint8_t *data, uint32_t len, uint64_t now) {
  uint8_t fl = seg->flags;
  uint32_t seq = seg->seq;
  uint32_t ack = seg->ack;
  bool syn = fl & SIM_TCP_SYN;
  bool fin = fl & SIM_TCP_FIN;
  bool ack_now = false;
  uint64_t emits0 = c->n_emit;
  uint64_t gen = c->gen;
  uint32_t seglen;

  if (fl & SIM_TCP_RST) {
    if (!seq_acceptable(c, seq, 0))
      return;
    switch (c->state) {
    case SIM_TCP_SYN_RECEIVED:
      finish(c, c->active ? P2P_ERR_REFUSED : P2P_ERR_RESET, now);
      return;
    case SIM_TCP_TIME_WAIT: finish(c, 0, now); return;
    default: finish(c, P2P_ERR_RESET, now); return;
    }
  }
  if (syn && seq == c->irs) {
    if (c->state == SIM_TCP_SYN_RECEIVED && !(fl & SIM_TCP_ACK)) {
      /* The peer resends its SYN: our SYN-ACK was lost. */
      c->retransmits++;
      c->rtt_timing = false;
      send_syn(c, now);
      return;
    }
    /* An old SYN (the SYN-ACK of a simultaneous open, or a resent one):
     * drop the SYN and take the rest, and acknowledge. */
    syn = false;
    seq++;
    ack_now = true;
  }
  seglen = len + (syn ? 1u : 0u) + (fin ? 1u : 0u);
  if (!seq_acceptable(c, seq, seglen)) {
    if (c->state == SIM_TCP_TIME_WAIT && fin)
      c->tw_deadline = add_sat(now, c->cfg.time_wait_ns);
    send_ack(c, now);
    return;
  }
  if (syn) {
    /* A new SYN in the window: challenge ACK (RFC 5961 4.2). */
    send_ack(c, now);
    return;
  }
  if (!(fl & SIM_TCP_ACK)) {
    if (ack_now)
      send_ack(c, now);
    return;
  }

  /* Trim what was already received, then what lies beyond the window. */
  if (SEQ_LT(seq, c->rcv_nxt)) {
    uint32_t d = c->rcv_nxt - seq;
    if (d >= len) {
      if (d > len)
        fin = false;
      data = NULL;
      len = 0;
    } else {
      data += d;
      len -= d;
    }
    seq = c->rcv_nxt;
    ack_now = true;
  }
  if (len > 0 && (uint32_t)(seq - c->rcv_nxt) + len > c->cfg.rcv_wnd) {
    len = c->cfg.rcv_wnd - (uint32_t)(seq - c->rcv_nxt);
    fin = false;
    ack_now = true;
  }

  /* Step 5: the ACK field. */
  if (c->state == SIM_TCP_SYN_RECEIVED) {
    if (!(SEQ_LT(c->snd_una, ack) && SEQ_LEQ(ack, c->snd_max))) {
      emit(c, ack, SIM_TCP_RST, NULL, 0, now);
      return;
    }
    c->snd_una = ack;
    c->snd_wnd = seg->wnd;
    c->snd_wl1 = seq;
    c->snd_wl2 = ack;
    maybe_sample(c, ack, now);
    if (!become_established(c, now))
      return;
  } else {
    if (SEQ_GT(ack, c->snd_max)) {
      send_ack(c, now); /* acknowledges something never sent */
      return;
    }
    if (SEQ_GEQ(ack, c->snd_una)) {
      bool is_dup = ack == c->snd_una && seg->len == 0 &&
                    !(fl & (SIM_TCP_SYN | SIM_TCP_FIN)) &&
                    seg->wnd == c->snd_wnd && c->snd_una != c->snd_max;
      if (SEQ_GT(ack, c->snd_una))
        ack_new_data(c, ack, now);
      else if (is_dup)
        dup_ack(c, ack, now);
      update_window(c, seq, ack, seg->wnd);
      if (c->gen != gen)
        return;
    }
  }
  /* Our FIN acknowledged? */
  if (fin_state(c->state) && c->fin_queued &&
      c->snd_una == c->buf_seq + (uint32_t)c->slen + 1) {
    switch (c->state) {
    case SIM_TCP_FIN_WAIT_1: c->state = SIM_TCP_FIN_WAIT_2; break;
    case SIM_TCP_CLOSING: enter_time_wait(c, now); break;
    case SIM_TCP_LAST_ACK: finish(c, 0, now); return;
    default: break;
    }
  }
  if (c->state == SIM_TCP_TIME_WAIT) {
    if (fin || len > 0) {
      c->tw_deadline = add_sat(now, c->cfg.time_wait_ns);
      send_ack(c, now);
    }
    return;
  }
  if (!process_text(c, seq, data, len, fin, now, &ack_now))
    return;
  if (c->gen != gen)
    return;
  finish_input(c, ack_now, emits0, now);
}

void sim_tcp_input(sim_tcp_conn *c, const sim_tcp_seg *seg, uint64_t now) {
  const uint8_t *data;
  uint32_t len;

  if (c == NULL || seg == NULL)
    return;
  if (seg->len > TCP_MAX_SEG_LEN)
    return; /* no such segment on the wire */
  data = seg->data;
  len = data != NULL ? seg->len : 0;
  switch (c->state) {
  case SIM_TCP_CLOSED:
    /* The owner answers for connections that do not exist. */
    return;
  case SIM_TCP_SYN_SENT: input_syn_sent(c, seg, data, len, now); return;
  default: input_sync(c, seg, data, len, now); return;
  }
}

sim_tcp_state sim_tcp_get_state(const sim_tcp_conn *c) {
  return c != NULL ? c->state : SIM_TCP_CLOSED;
}

const char *sim_tcp_state_name(sim_tcp_state s) {
  switch (s) {
  case SIM_TCP_CLOSED: return "CLOSED";
  case SIM_TCP_SYN_SENT: return "SYN_SENT";
  case SIM_TCP_SYN_RECEIVED: return "SYN_RECEIVED";
  case SIM_TCP_ESTABLISHED: return "ESTABLISHED";
  case SIM_TCP_FIN_WAIT_1: return "FIN_WAIT_1";
  case SIM_TCP_FIN_WAIT_2: return "FIN_WAIT_2";
  case SIM_TCP_CLOSE_WAIT: return "CLOSE_WAIT";
  case SIM_TCP_CLOSING: return "CLOSING";
  case SIM_TCP_LAST_ACK: return "LAST_ACK";
  case SIM_TCP_TIME_WAIT: return "TIME_WAIT";
  }
  return "UNKNOWN";
}

size_t sim_tcp_unacked(const sim_tcp_conn *c) {
  return c != NULL ? c->slen : 0;
}

uint64_t sim_tcp_retransmits(const sim_tcp_conn *c) {
  return c != NULL ? c->retransmits : 0;
}

uint64_t sim_tcp_srtt(const sim_tcp_conn *c) {
  return c != NULL && c->have_rtt ? c->srtt : 0;
}

bool sim_tcp_make_rst(const sim_tcp_seg *in, sim_tcp_seg *out) {
  if (in == NULL || out == NULL || (in->flags & SIM_TCP_RST))
    return false;
  out->wnd = 0;
  out->len = 0;
  out->data = NULL;
  if (in->flags & SIM_TCP_ACK) {
    out->seq = in->ack;
    out->ack = 0;
    out->flags = SIM_TCP_RST;
  } else {
    out->seq = 0;
    out->ack = in->seq + in->len + ((in->flags & SIM_TCP_SYN) ? 1u : 0u) +
               ((in->flags & SIM_TCP_FIN) ? 1u : 0u);
    out->flags = SIM_TCP_RST | SIM_TCP_ACK;
  }
  return true;
}
