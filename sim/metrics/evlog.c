/*
 * sim/metrics/evlog.c - the event log of a run.
 *
 * A run may log millions of events, so nothing here allocates per event:
 * events live in one growable array, their strings in a chunked arena that
 * never moves (so the pointers in the events stay valid), and host and
 * event names, of which a run has few distinct ones, are interned so that
 * each is stored once.
 */
#include "sim/metrics/evlog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define CHUNK_BYTES (64u * 1024u)
#define CSV_HEADER "time_ns,host,event,fields\n"
#define CSV_BUF_BYTES (64u * 1024u)

/* One arena chunk; the text follows the header. */
typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  char data[];
} chunk;

struct sim_evlog {
  sim_event *ev;
  size_t n, cap;
  chunk *chunks; /* newest first */
  /* Interned strings (hosts and event names): open addressing, capacity a
   * power of two, at most half full. */
  const char **intern;
  size_t intern_mask; /* capacity - 1; 0 when nothing is allocated */
  size_t intern_len;
};

int sim_evlog_new(sim_evlog **out) {
  sim_evlog *l = calloc(1, sizeof *l);
  if (l == NULL)
    return P2P_ERR_NOMEM;
  *out = l;
  return 0;
}

void sim_evlog_del(sim_evlog *l) {
  if (l == NULL)
    return;
  chunk *c = l->chunks;
  while (c != NULL) {
    chunk *next = c->next;
    free(c);
    c = next;
  }
  free(l->intern);
  free(l->ev);
  free(l);
}

/* Copies len bytes of s and a terminating NUL into the arena. */
static const char *arena_copy(sim_evlog *l, const char *s, size_t len) {
  chunk *c = l->chunks;
  if (c == NULL || c->cap - c->used < len + 1) {
    size_t cap = len + 1 > CHUNK_BYTES ? len + 1 : CHUNK_BYTES;
    chunk *nc = malloc(sizeof *nc + cap);
    if (nc == NULL)
      return NULL;
    nc->used = 0;
    nc->cap = cap;
    /* A string bigger than a chunk gets its own chunk, kept behind the
     * current one so that the current one's free space is not lost. */
    if (c != NULL && cap > CHUNK_BYTES) {
      nc->next = c->next;
      c->next = nc;
    } else {
      nc->next = c;
      l->chunks = nc;
    }
    c = nc;
  }
  char *p = c->data + c->used;
  memcpy(p, s, len);
  p[len] = '\0';
  c->used += len + 1;
  return p;
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (; *s != '\0'; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

static int intern_grow(sim_evlog *l) {
  size_t ncap = l->intern_mask == 0 ? 64 : (l->intern_mask + 1) * 2;
  const char **ns = calloc(ncap, sizeof *ns);
  if (ns == NULL)
    return P2P_ERR_NOMEM;
  if (l->intern != NULL) {
    for (size_t i = 0; i <= l->intern_mask; i++) {
      if (l->intern[i] == NULL)
        continue;
      size_t j = (size_t)hash_str(l->intern[i]) & (ncap - 1);
      while (ns[j] != NULL)
        j = (j + 1) & (ncap - 1);
      ns[j] = l->intern[i];
    }
    free(l->intern);
  }
  l->intern = ns;
  l->intern_mask = ncap - 1;
  return 0;
}

/* Returns the log's single copy of s, or NULL when out of memory. */
static const char *intern(sim_evlog *l, const char *s) {
  if ((l->intern_len + 1) * 2 > l->intern_mask + 1 && intern_grow(l) != 0)
    return NULL;
  size_t i = (size_t)hash_str(s) & l->intern_mask;
  for (; l->intern[i] != NULL; i = (i + 1) & l->intern_mask)
    if (strcmp(l->intern[i], s) == 0)
      return l->intern[i];
  const char *p = arena_copy(l, s, strlen(s));
  if (p == NULL)
    return NULL;
  l->intern[i] = p;
  l->intern_len++;
  return p;
}

/* Characters that events.csv cannot carry unquoted. */
static bool valid_text(const char *s, bool allow_space) {
  for (; *s != '\0'; s++) {
    char c = *s;
    if (c == ',' || c == '"' || c == '\n' || c == '\r')
      return false;
    if (c == ' ' && !allow_space)
      return false;
  }
  return true;
}

int sim_evlog_add(sim_evlog *l, uint64_t t_ns, const char *host,
                  const char *name, const char *fields) {
  if (l == NULL || host == NULL || name == NULL || name[0] == '\0')
    return P2P_ERR_INVALID;
  if (fields == NULL)
    fields = "";
  if (!valid_text(host, false) || !valid_text(name, false) ||
      !valid_text(fields, true))
    return P2P_ERR_INVALID;
  if (l->n == l->cap) {
    size_t ncap = l->cap == 0 ? 1024 : l->cap * 2;
    sim_event *ne = realloc(l->ev, ncap * sizeof *ne);
    if (ne == NULL)
      return P2P_ERR_NOMEM;
    l->ev = ne;
    l->cap = ncap;
  }
  const char *h = intern(l, host);
  const char *nm = h == NULL ? NULL : intern(l, name);
  const char *f =
      fields[0] == '\0' ? "" : arena_copy(l, fields, strlen(fields));
  if (h == NULL || nm == NULL || f == NULL)
    return P2P_ERR_NOMEM;
  l->ev[l->n++] = (sim_event){t_ns, h, nm, f};
  return 0;
}

int sim_evlog_addf(sim_evlog *l, uint64_t t_ns, const char *host,
                   const char *name, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0)
    return P2P_ERR_INVALID;
  if ((size_t)n < sizeof small)
    return sim_evlog_add(l, t_ns, host, name, small);
  char *big = malloc((size_t)n + 1);
  if (big == NULL)
    return P2P_ERR_NOMEM;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  int rc = sim_evlog_add(l, t_ns, host, name, big);
  free(big);
  return rc;
}

size_t sim_evlog_count(const sim_evlog *l) {
  return l == NULL ? 0 : l->n;
}

const sim_event *sim_evlog_get(const sim_evlog *l, size_t i) {
  if (l == NULL || i >= l->n)
    return NULL;
  return &l->ev[i];
}

const char *sim_event_field(const sim_event *e, const char *key, char *buf,
                            size_t buflen) {
  if (e == NULL || key == NULL || e->fields == NULL || buf == NULL)
    return NULL;
  size_t klen = strlen(key);
  const char *p = e->fields;
  while (*p != '\0') {
    while (*p == ' ')
      p++;
    const char *tok = p;
    while (*p != '\0' && *p != ' ')
      p++;
    size_t tlen = (size_t)(p - tok);
    if (tlen > klen && memcmp(tok, key, klen) == 0 && tok[klen] == '=') {
      size_t vlen = tlen - klen - 1;
      if (vlen >= buflen)
        return NULL;
      memcpy(buf, tok + klen + 1, vlen);
      buf[vlen] = '\0';
      return buf;
    }
  }
  return NULL;
}

/* events.csv output: a buffer that is hashed and written when full. */
typedef struct csv_out {
  FILE *f;
  crypto_hash_sha256_state sha;
  size_t len;
  bool failed;
  unsigned char buf[CSV_BUF_BYTES];
} csv_out;

static void out_flush(csv_out *o) {
  if (o->len == 0 || o->failed)
    return;
  crypto_hash_sha256_update(&o->sha, o->buf, o->len);
  if (fwrite(o->buf, 1, o->len, o->f) != o->len)
    o->failed = true;
  o->len = 0;
}

static void out_put(csv_out *o, const char *s, size_t len) {
  while (len > 0) {
    if (o->len == sizeof o->buf)
      out_flush(o);
    if (o->failed)
      return;
    size_t room = sizeof o->buf - o->len;
    size_t k = len < room ? len : room;
    memcpy(o->buf + o->len, s, k);
    o->len += k;
    s += k;
    len -= k;
  }
}

static void out_u64(csv_out *o, uint64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out_put(o, tmp + i, sizeof tmp - i);
}

int sim_evlog_write_csv(const sim_evlog *l, FILE *f, uint8_t sha256[32]) {
  if (l == NULL || f == NULL || sha256 == NULL)
    return P2P_ERR_INVALID;
  if (sodium_init() < 0)
    return P2P_ERR_INTERNAL;
  csv_out *o = malloc(sizeof *o);
  if (o == NULL)
    return P2P_ERR_NOMEM;
  o->f = f;
  o->len = 0;
  o->failed = false;
  crypto_hash_sha256_init(&o->sha);
  out_put(o, CSV_HEADER, strlen(CSV_HEADER));
  for (size_t i = 0; i < l->n && !o->failed; i++) {
    const sim_event *e = &l->ev[i];
    out_u64(o, e->t_ns);
    out_put(o, ",", 1);
    out_put(o, e->host, strlen(e->host));
    out_put(o, ",", 1);
    out_put(o, e->name, strlen(e->name));
    out_put(o, ",", 1);
    out_put(o, e->fields, strlen(e->fields));
    out_put(o, "\n", 1);
  }
  out_flush(o);
  bool failed = o->failed || fflush(f) != 0 || ferror(f);
  crypto_hash_sha256_final(&o->sha, sha256);
  free(o);
  return failed ? P2P_ERR_IO : 0;
}

/* Parses a time column: decimal digits without sign or leading zeros. */
static bool parse_u64(const char *s, size_t len, uint64_t *out) {
  if (len == 0 || (len > 1 && s[0] == '0'))
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    unsigned d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

static int read_fail(char *err, size_t errlen, const char *path,
                     unsigned long line, const char *what, int rc) {
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s:%lu: %s", path, line, what);
  return rc;
}

/* Checks and adds one event line (without its "\n"). */
static int read_line(sim_evlog *l, char *s, size_t len, const char **what) {
  if (strlen(s) != len) {
    *what = "NUL byte in line";
    return P2P_ERR_INVALID;
  }
  char *col[4];
  size_t ncol = 0;
  col[ncol++] = s;
  for (char *p = s; *p != '\0'; p++) {
    if (*p != ',')
      continue;
    if (ncol == 4) {
      *what = "more than 4 columns";
      return P2P_ERR_INVALID;
    }
    *p = '\0';
    col[ncol++] = p + 1;
  }
  if (ncol != 4) {
    *what = "expected 4 columns: time_ns,host,event,fields";
    return P2P_ERR_INVALID;
  }
  uint64_t t;
  if (!parse_u64(col[0], strlen(col[0]), &t)) {
    *what = "time_ns is not a decimal number of nanoseconds";
    return P2P_ERR_INVALID;
  }
  if (col[2][0] == '\0') {
    *what = "empty event name";
    return P2P_ERR_INVALID;
  }
  if (!valid_text(col[1], false)) {
    *what = "invalid character in host";
    return P2P_ERR_INVALID;
  }
  if (!valid_text(col[2], false)) {
    *what = "invalid character in event name";
    return P2P_ERR_INVALID;
  }
  if (!valid_text(col[3], true)) {
    *what = "invalid character in fields";
    return P2P_ERR_INVALID;
  }
  int rc = sim_evlog_add(l, t, col[1], col[2], col[3]);
  if (rc != 0)
    *what = rc == P2P_ERR_NOMEM ? "out of memory" : "invalid event";
  return rc;
}

int sim_evlog_read_csv(const char *path, sim_evlog **out, char *err,
                       size_t errlen) {
  if (path == NULL || out == NULL)
    return P2P_ERR_INVALID;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return P2P_ERR_IO;
  }
  sim_evlog *l;
  int rc = sim_evlog_new(&l);
  if (rc != 0) {
    fclose(f);
    return read_fail(err, errlen, path, 0, "out of memory", rc);
  }
  char *line = NULL;
  size_t cap = 0;
  unsigned long lineno = 0;
  for (;;) {
    errno = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
      if (ferror(f)) {
        rc = read_fail(err, errlen, path, lineno + 1, strerror(errno),
                       P2P_ERR_IO);
      } else if (lineno == 0) {
        rc = read_fail(err, errlen, path, 1, "empty file, expected header",
                       P2P_ERR_INVALID);
      }
      break;
    }
    lineno++;
    if (line[n - 1] != '\n') {
      rc = read_fail(err, errlen, path, lineno, "line does not end with \\n",
                     P2P_ERR_INVALID);
      break;
    }
    line[--n] = '\0';
    if (lineno == 1) {
      if ((size_t)n != strlen(CSV_HEADER) - 1 ||
          memcmp(line, CSV_HEADER, (size_t)n) != 0) {
        rc = read_fail(err, errlen, path, 1,
                       "expected header \"time_ns,host,event,fields\"",
                       P2P_ERR_INVALID);
        break;
      }
      continue;
    }
    const char *what = NULL;
    rc = read_line(l, line, (size_t)n, &what);
    if (rc != 0) {
      rc = read_fail(err, errlen, path, lineno, what, rc);
      break;
    }
  }
  free(line);
  fclose(f);
  if (rc != 0) {
    sim_evlog_del(l);
    return rc;
  }
  *out = l;
  return 0;
}
