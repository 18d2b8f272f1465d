/*
 * mss.c - multistream-select 1.0 (see p2p/mss.h for the wire format, the
 * limits and the "ls" layout).
 *
 * The input side is a two-stage parser (varint length, then body) that
 * keeps its partial state in the object, so input may be cut at any byte.
 * The output side is one buffer sized at creation for the header, one
 * proposal and the largest single answer; a new message is only started
 * when the largest answer still fits, which is the back-pressure rule
 * p2p_mss_recv documents. No allocation happens after creation.
 */
#include "p2p/mss.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/varint.h"

enum role { ROLE_DIALER, ROLE_LISTENER };

#define HEADER_LEN (sizeof(P2P_MSS_HEADER) - 1)

struct p2p_mss {
  int role;
  int state;
  int err;
  /* Protocol IDs: the dialer's proposals in order, or the listener's set. */
  const char **protos;
  size_t *lens;
  size_t nprotos;
  char *pool;
  size_t next; /* dialer: index of the proposal awaiting an answer */
  p2p_mss_accept_cb accept;
  void *user;
  int got_header;
  size_t refused; /* proposals answered with "na" (either side) */
  const char *selected;
  /* Input parser: the varint bytes so far, then the body. */
  uint8_t lenbuf[P2P_VARINT_MAX_LEN];
  size_t lenbuf_n;
  size_t msg_len; /* 0 while reading the length */
  size_t msg_n;
  uint8_t msg[P2P_MSS_MAX_MSG_LEN + 1];
  /* Output queue: bytes [out_off, out_len) of out are pending. */
  uint8_t *out;
  size_t out_cap;
  size_t out_off;
  size_t out_len;
  size_t reserve; /* room needed before starting to read a message */
  size_t ls_body; /* body length of the "ls" answer */
};

static size_t frame_len(size_t body) {
  return p2p_varint_len(body) + body;
}

static int utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    size_t k;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      k = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      k = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      k = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i - 1 < k)
      return 0;
    for (size_t j = 1; j <= k; j++) {
      if ((s[i + j] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (uint32_t)(s[i + j] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return 0;
    i += k + 1;
  }
  return 1;
}

static int text_eq(const uint8_t *t, size_t n, const char *s, size_t slen) {
  return n == slen && memcmp(t, s, n) == 0;
}

/* A protocol ID is sendable and could come back as a valid message. */
static int proto_valid(const char *p, size_t *len_out) {
  size_t len;
  if (p == NULL)
    return 0;
  len = strnlen(p, P2P_MSS_MAX_PROTO_LEN + 1);
  if (len == 0 || len > P2P_MSS_MAX_PROTO_LEN)
    return 0;
  if (memchr(p, '\n', len) != NULL || !utf8_valid((const uint8_t *)p, len))
    return 0;
  if (text_eq((const uint8_t *)p, len, "na", 2) ||
      text_eq((const uint8_t *)p, len, "ls", 2) ||
      text_eq((const uint8_t *)p, len, P2P_MSS_HEADER, HEADER_LEN))
    return 0;
  *len_out = len;
  return 1;
}

static void compact(p2p_mss *m) {
  if (m->out_off == 0)
    return;
  memmove(m->out, m->out + m->out_off, m->out_len - m->out_off);
  m->out_len -= m->out_off;
  m->out_off = 0;
}

static int put_varint(p2p_mss *m, size_t v) {
  int r = p2p_varint_encode(v, m->out + m->out_len, m->out_cap - m->out_len);
  if (r < 0)
    return P2P_ERR_INTERNAL;
  m->out_len += (size_t)r;
  return 0;
}

/* Queues varint(tlen + 1) text '\n'. The reserve rule guarantees room. */
static int queue_line(p2p_mss *m, const char *text, size_t tlen) {
  compact(m);
  if (m->out_cap - m->out_len < frame_len(tlen + 1))
    return P2P_ERR_INTERNAL;
  if (put_varint(m, tlen + 1) < 0)
    return P2P_ERR_INTERNAL;
  memcpy(m->out + m->out_len, text, tlen);
  m->out_len += tlen;
  m->out[m->out_len++] = '\n';
  return 0;
}

static int queue_ls(p2p_mss *m) {
  compact(m);
  if (m->out_cap - m->out_len < frame_len(m->ls_body))
    return P2P_ERR_INTERNAL;
  if (put_varint(m, m->ls_body) < 0)
    return P2P_ERR_INTERNAL;
  for (size_t i = 0; i < m->nprotos; i++) {
    if (put_varint(m, m->lens[i] + 1) < 0)
      return P2P_ERR_INTERNAL;
    memcpy(m->out + m->out_len, m->protos[i], m->lens[i]);
    m->out_len += m->lens[i];
    m->out[m->out_len++] = '\n';
  }
  m->out[m->out_len++] = '\n';
  return 0;
}

static int fail(p2p_mss *m, int err) {
  m->state = P2P_MSS_FAILED;
  m->err = err;
  return err;
}

static int find_proto(const p2p_mss *m, const uint8_t *t, size_t n) {
  for (size_t i = 0; i < m->nprotos; i++)
    if (text_eq(t, n, m->protos[i], m->lens[i]))
      return (int)i;
  return -1;
}

static int on_listener_msg(p2p_mss *m, const uint8_t *t, size_t n) {
  int i;
  if (text_eq(t, n, "ls", 2))
    return queue_ls(m);
  i = find_proto(m, t, n);
  if (i >= 0) {
    m->selected = m->protos[i];
  } else if (m->accept != NULL && !text_eq(t, n, "na", 2) &&
             m->accept((const char *)t, n, m->user)) {
    /* msg is not touched again once done, so it can hold the name. */
    m->selected = (const char *)t;
  } else {
    m->refused++;
    return queue_line(m, "na", 2);
  }
  m->state = P2P_MSS_DONE;
  return queue_line(m, m->selected, n);
}

static int on_dialer_msg(p2p_mss *m, const uint8_t *t, size_t n) {
  if (text_eq(t, n, m->protos[m->next], m->lens[m->next])) {
    m->selected = m->protos[m->next];
    m->state = P2P_MSS_DONE;
    return 0;
  }
  if (!text_eq(t, n, "na", 2))
    return P2P_ERR_PROTO;
  m->refused++;
  if (++m->next == m->nprotos)
    return P2P_ERR_NOTFOUND;
  return queue_line(m, m->protos[m->next], m->lens[m->next]);
}

/* Validates and acts on the complete body msg[0..n). */
static int on_msg(p2p_mss *m, size_t n) {
  uint8_t *b = m->msg;
  size_t tlen = n - 1;
  if (n < 2 || b[tlen] != '\n')
    return P2P_ERR_PROTO;
  if (memchr(b, '\n', tlen) != NULL || memchr(b, '\0', tlen) != NULL ||
      !utf8_valid(b, tlen))
    return P2P_ERR_PROTO;
  b[tlen] = '\0';
  if (!m->got_header) {
    if (!text_eq(b, tlen, P2P_MSS_HEADER, HEADER_LEN))
      return P2P_ERR_PROTO;
    m->got_header = 1;
    return 0;
  }
  return m->role == ROLE_DIALER ? on_dialer_msg(m, b, tlen)
                                : on_listener_msg(m, b, tlen);
}

ssize_t p2p_mss_recv(p2p_mss *m, const uint8_t *buf, size_t len) {
  size_t i = 0;
  if (m == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  if (m->state == P2P_MSS_FAILED)
    return m->err;
  if (m->state == P2P_MSS_DONE)
    return 0;
  while (i < len) {
    if (m->msg_len == 0 && m->lenbuf_n == 0) {
      compact(m);
      if (m->out_cap - m->out_len < m->reserve)
        break; /* the caller must drain the output first */
    }
    if (m->msg_len == 0) {
      uint64_t v;
      int r;
      m->lenbuf[m->lenbuf_n++] = buf[i++];
      r = p2p_varint_decode(m->lenbuf, m->lenbuf_n, &v);
      if (r < 0)
        return fail(m, P2P_ERR_PROTO);
      if (r == 0) {
        /* Two length bytes already exceed the limit: stop early. */
        if (m->lenbuf_n >= 2)
          return fail(m, P2P_ERR_PROTO);
        continue;
      }
      if (v == 0 || v > P2P_MSS_MAX_MSG_LEN)
        return fail(m, P2P_ERR_PROTO);
      m->lenbuf_n = 0;
      m->msg_len = (size_t)v;
      m->msg_n = 0;
      continue;
    }
    size_t take = m->msg_len - m->msg_n;
    if (take > len - i)
      take = len - i;
    memcpy(m->msg + m->msg_n, buf + i, take);
    m->msg_n += take;
    i += take;
    if (m->msg_n == m->msg_len) {
      size_t n = m->msg_len;
      int r;
      m->msg_len = 0;
      r = on_msg(m, n);
      if (r < 0)
        return fail(m, r);
      if (m->state == P2P_MSS_DONE)
        break;
    }
  }
  return (ssize_t)i;
}

int p2p_mss_recv_eof(p2p_mss *m) {
  if (m == NULL)
    return P2P_ERR_INVALID;
  if (m->state == P2P_MSS_FAILED)
    return m->err;
  if (m->state == P2P_MSS_DONE)
    return 0;
  if (m->msg_len > 0 || m->lenbuf_n > 0)
    return fail(m, P2P_ERR_PROTO);
  if (m->role == ROLE_LISTENER && m->refused > 0)
    return fail(m, P2P_ERR_NOTFOUND);
  return fail(m, P2P_ERR_RESET);
}

ssize_t p2p_mss_send(p2p_mss *m, uint8_t *out, size_t cap) {
  size_t n;
  if (m == NULL || (out == NULL && cap > 0))
    return P2P_ERR_INVALID;
  n = m->out_len - m->out_off;
  if (n > cap)
    n = cap;
  if (n > 0)
    memcpy(out, m->out + m->out_off, n);
  m->out_off += n;
  if (m->out_off == m->out_len)
    m->out_off = m->out_len = 0;
  return (ssize_t)n;
}

size_t p2p_mss_pending(const p2p_mss *m) {
  return m == NULL ? 0 : m->out_len - m->out_off;
}

int p2p_mss_state(const p2p_mss *m) {
  return m == NULL ? P2P_MSS_FAILED : m->state;
}

int p2p_mss_error(const p2p_mss *m) {
  return m == NULL ? P2P_ERR_INVALID : m->err;
}

const char *p2p_mss_selected(const p2p_mss *m) {
  return m != NULL && m->state == P2P_MSS_DONE ? m->selected : NULL;
}

void p2p_mss_del(p2p_mss *m) {
  if (m == NULL)
    return;
  free(m->out);
  free(m->pool);
  free(m->lens);
  free(m->protos);
  free(m);
}

static int mss_new(p2p_mss **out, int role, const char *const *protos,
                   size_t n) {
  p2p_mss *m;
  size_t pool_len = 0, answer;
  char *p;
  if (out == NULL || (n > 0 && protos == NULL))
    return P2P_ERR_INVALID;
  *out = NULL;
  m = calloc(1, sizeof(*m));
  if (m == NULL)
    return P2P_ERR_NOMEM;
  m->role = role;
  m->nprotos = n;
  if (n > 0) {
    m->protos = calloc(n, sizeof(*m->protos));
    m->lens = calloc(n, sizeof(*m->lens));
    if (m->protos == NULL || m->lens == NULL)
      goto nomem;
  }
  for (size_t i = 0; i < n; i++) {
    if (!proto_valid(protos[i], &m->lens[i])) {
      p2p_mss_del(m);
      return P2P_ERR_INVALID;
    }
    pool_len += m->lens[i] + 1;
    m->ls_body += frame_len(m->lens[i] + 1);
  }
  m->ls_body += 1;
  if (pool_len > 0) {
    m->pool = malloc(pool_len);
    if (m->pool == NULL)
      goto nomem;
  }
  p = m->pool;
  for (size_t i = 0; i < n; i++) {
    memcpy(p, protos[i], m->lens[i] + 1);
    m->protos[i] = p;
    p += m->lens[i] + 1;
  }
  /* The largest single answer: a proposal or echo, "na", or the ls list. */
  answer = frame_len(P2P_MSS_MAX_MSG_LEN);
  if (role == ROLE_LISTENER && frame_len(m->ls_body) > answer)
    answer = frame_len(m->ls_body);
  m->reserve = answer;
  m->out_cap =
      frame_len(HEADER_LEN + 1) + frame_len(P2P_MSS_MAX_MSG_LEN) + answer;
  m->out = malloc(m->out_cap);
  if (m->out == NULL)
    goto nomem;
  if (queue_line(m, P2P_MSS_HEADER, HEADER_LEN) < 0 ||
      (role == ROLE_DIALER && queue_line(m, m->protos[0], m->lens[0]) < 0)) {
    p2p_mss_del(m);
    return P2P_ERR_INTERNAL;
  }
  *out = m;
  return 0;
nomem:
  p2p_mss_del(m);
  return P2P_ERR_NOMEM;
}

int p2p_mss_dialer_new(p2p_mss **out, const char *const *protos, size_t n) {
  if (n == 0)
    return P2P_ERR_INVALID;
  return mss_new(out, ROLE_DIALER, protos, n);
}

int p2p_mss_listener_new(p2p_mss **out, const char *const *protos, size_t n,
                         p2p_mss_accept_cb accept, void *user) {
  int r;
  if (n == 0 && accept == NULL)
    return P2P_ERR_INVALID;
  r = mss_new(out, ROLE_LISTENER, protos, n);
  if (r == 0) {
    (*out)->accept = accept;
    (*out)->user = user;
  }
  return r;
}
