/*
 * sim/metrics/json.c - a small JSON value tree, its writer and its parser.
 *
 * Objects are arrays of key/value pairs in insertion order. Small objects
 * are searched linearly; once an object has more than INDEX_MIN keys it
 * also keeps a hash index (open addressing over member positions), so
 * building a sweep table with thousands of keys stays linear.
 */
#include "sim/metrics/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MIN 16
#define MAX_DEPTH 64

typedef struct member {
  char *key;
  size_t klen;
  sim_json *val;
} member;

struct sim_json {
  sim_json_type type;
  union {
    bool b;
    double num;
    char *str;
    struct {
      sim_json **items;
      size_t n, cap;
    } arr;
    struct {
      member *m;
      size_t n, cap;
      size_t *index;    /* position + 1; 0 marks an empty slot */
      size_t index_cap; /* a power of two, or 0 without an index */
    } obj;
  } u;
};

static sim_json *make(sim_json_type t) {
  sim_json *v = calloc(1, sizeof *v);
  if (v != NULL)
    v->type = t;
  return v;
}

sim_json *sim_json_object(void) {
  return make(SIM_JSON_OBJECT);
}

sim_json *sim_json_array(void) {
  return make(SIM_JSON_ARRAY);
}

sim_json *sim_json_number(double v) {
  sim_json *j = make(SIM_JSON_NUMBER);
  if (j != NULL)
    j->u.num = v;
  return j;
}

static sim_json *string_n(const char *s, size_t len) {
  sim_json *j = make(SIM_JSON_STRING);
  if (j == NULL)
    return NULL;
  j->u.str = malloc(len + 1);
  if (j->u.str == NULL) {
    free(j);
    return NULL;
  }
  memcpy(j->u.str, s, len);
  j->u.str[len] = '\0';
  return j;
}

sim_json *sim_json_string(const char *s) {
  if (s == NULL)
    return NULL;
  return string_n(s, strlen(s));
}

sim_json *sim_json_bool(bool v) {
  sim_json *j = make(SIM_JSON_BOOL);
  if (j != NULL)
    j->u.b = v;
  return j;
}

sim_json *sim_json_null(void) {
  return make(SIM_JSON_NULL);
}

void sim_json_free(sim_json *v) {
  if (v == NULL)
    return;
  switch (v->type) {
  case SIM_JSON_STRING: free(v->u.str); break;
  case SIM_JSON_ARRAY:
    for (size_t i = 0; i < v->u.arr.n; i++)
      sim_json_free(v->u.arr.items[i]);
    free(v->u.arr.items);
    break;
  case SIM_JSON_OBJECT:
    for (size_t i = 0; i < v->u.obj.n; i++) {
      free(v->u.obj.m[i].key);
      sim_json_free(v->u.obj.m[i].val);
    }
    free(v->u.obj.m);
    free(v->u.obj.index);
    break;
  default: break;
  }
  free(v);
}

/* --- object members ------------------------------------------------------ */

static size_t hash_key(const char *k, size_t len) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++)
    h = (h ^ (unsigned char)k[i]) * 0x100000001b3ull;
  return (size_t)(h ^ (h >> 32));
}

static void index_insert(sim_json *o, size_t pos) {
  size_t mask = o->u.obj.index_cap - 1;
  const member *m = &o->u.obj.m[pos];
  size_t i = hash_key(m->key, m->klen) & mask;
  while (o->u.obj.index[i] != 0)
    i = (i + 1) & mask;
  o->u.obj.index[i] = pos + 1;
}

/* Rebuilds the index with room for at least `want` members at load 1/2. */
static int index_rebuild(sim_json *o, size_t want) {
  size_t cap = 64;
  while (cap < want * 2)
    cap *= 2;
  size_t *ni = calloc(cap, sizeof *ni);
  if (ni == NULL)
    return P2P_ERR_NOMEM;
  free(o->u.obj.index);
  o->u.obj.index = ni;
  o->u.obj.index_cap = cap;
  for (size_t i = 0; i < o->u.obj.n; i++)
    index_insert(o, i);
  return 0;
}

/* Position of the member named by key[0..len), or -1. */
static ptrdiff_t find_member(const sim_json *o, const char *key, size_t len) {
  if (o->u.obj.index_cap != 0) {
    size_t mask = o->u.obj.index_cap - 1;
    for (size_t i = hash_key(key, len) & mask; o->u.obj.index[i] != 0;
         i = (i + 1) & mask) {
      size_t pos = o->u.obj.index[i] - 1;
      const member *m = &o->u.obj.m[pos];
      if (m->klen == len && memcmp(m->key, key, len) == 0)
        return (ptrdiff_t)pos;
    }
    return -1;
  }
  for (size_t i = 0; i < o->u.obj.n; i++) {
    const member *m = &o->u.obj.m[i];
    if (m->klen == len && memcmp(m->key, key, len) == 0)
      return (ptrdiff_t)i;
  }
  return -1;
}

/* Appends a member whose key is known to be new; takes key and v. */
static int append_member(sim_json *o, char *key, size_t klen, sim_json *v) {
  if (o->u.obj.n == o->u.obj.cap) {
    size_t ncap = o->u.obj.cap == 0 ? 8 : o->u.obj.cap * 2;
    member *nm = realloc(o->u.obj.m, ncap * sizeof *nm);
    if (nm == NULL)
      return P2P_ERR_NOMEM;
    o->u.obj.m = nm;
    o->u.obj.cap = ncap;
  }
  size_t n = o->u.obj.n + 1;
  if (n > INDEX_MIN && n * 2 > o->u.obj.index_cap) {
    if (index_rebuild(o, n) != 0)
      return P2P_ERR_NOMEM;
  }
  o->u.obj.m[o->u.obj.n] = (member){key, klen, v};
  o->u.obj.n = n;
  if (o->u.obj.index_cap != 0)
    index_insert(o, n - 1);
  return 0;
}

int sim_json_set(sim_json *obj, const char *key, sim_json *v) {
  if (obj == NULL || obj->type != SIM_JSON_OBJECT || key == NULL || v == NULL) {
    sim_json_free(v);
    return P2P_ERR_INVALID;
  }
  size_t klen = strlen(key);
  ptrdiff_t pos = find_member(obj, key, klen);
  if (pos >= 0) {
    sim_json_free(obj->u.obj.m[pos].val);
    obj->u.obj.m[pos].val = v;
    return 0;
  }
  char *k = malloc(klen + 1);
  if (k == NULL) {
    sim_json_free(v);
    return P2P_ERR_NOMEM;
  }
  memcpy(k, key, klen + 1);
  if (append_member(obj, k, klen, v) != 0) {
    free(k);
    sim_json_free(v);
    return P2P_ERR_NOMEM;
  }
  return 0;
}

int sim_json_push(sim_json *arr, sim_json *v) {
  if (arr == NULL || arr->type != SIM_JSON_ARRAY || v == NULL) {
    sim_json_free(v);
    return P2P_ERR_INVALID;
  }
  if (arr->u.arr.n == arr->u.arr.cap) {
    size_t ncap = arr->u.arr.cap == 0 ? 8 : arr->u.arr.cap * 2;
    sim_json **ni = realloc(arr->u.arr.items, ncap * sizeof *ni);
    if (ni == NULL) {
      sim_json_free(v);
      return P2P_ERR_NOMEM;
    }
    arr->u.arr.items = ni;
    arr->u.arr.cap = ncap;
  }
  arr->u.arr.items[arr->u.arr.n++] = v;
  return 0;
}

/* --- accessors ----------------------------------------------------------- */

sim_json_type sim_json_type_of(const sim_json *v) {
  return v == NULL ? SIM_JSON_NULL : v->type;
}

double sim_json_num(const sim_json *v) {
  return v != NULL && v->type == SIM_JSON_NUMBER ? v->u.num : 0;
}

bool sim_json_boolean(const sim_json *v) {
  return v != NULL && v->type == SIM_JSON_BOOL && v->u.b;
}

const char *sim_json_str(const sim_json *v) {
  return v != NULL && v->type == SIM_JSON_STRING ? v->u.str : NULL;
}

size_t sim_json_len(const sim_json *v) {
  if (v == NULL)
    return 0;
  if (v->type == SIM_JSON_ARRAY)
    return v->u.arr.n;
  if (v->type == SIM_JSON_OBJECT)
    return v->u.obj.n;
  return 0;
}

sim_json *sim_json_at(const sim_json *v, size_t i) {
  if (v == NULL || v->type != SIM_JSON_ARRAY || i >= v->u.arr.n)
    return NULL;
  return v->u.arr.items[i];
}

const char *sim_json_key_at(const sim_json *v, size_t i) {
  if (v == NULL || v->type != SIM_JSON_OBJECT || i >= v->u.obj.n)
    return NULL;
  return v->u.obj.m[i].key;
}

sim_json *sim_json_value_at(const sim_json *v, size_t i) {
  if (v == NULL || v->type != SIM_JSON_OBJECT || i >= v->u.obj.n)
    return NULL;
  return v->u.obj.m[i].val;
}

sim_json *sim_json_get(const sim_json *obj, const char *key) {
  if (obj == NULL || obj->type != SIM_JSON_OBJECT || key == NULL)
    return NULL;
  ptrdiff_t pos = find_member(obj, key, strlen(key));
  return pos < 0 ? NULL : obj->u.obj.m[pos].val;
}

/* One step of a path: the child of v named by seg[0..len) (an object key,
 * or a decimal index into an array). */
static sim_json *child(const sim_json *v, const char *seg, size_t len) {
  if (v->type == SIM_JSON_OBJECT) {
    ptrdiff_t pos = find_member(v, seg, len);
    return pos < 0 ? NULL : v->u.obj.m[pos].val;
  }
  if (v->type != SIM_JSON_ARRAY || len == 0 || len > 19 ||
      (len > 1 && seg[0] == '0'))
    return NULL;
  size_t idx = 0;
  for (size_t i = 0; i < len; i++) {
    if (seg[i] < '0' || seg[i] > '9')
      return NULL;
    idx = idx * 10 + (size_t)(seg[i] - '0');
  }
  return idx < v->u.arr.n ? v->u.arr.items[idx] : NULL;
}

/* Resolves path[0..len) under v: the longest first segment (up to a '.')
 * that exists is tried first, so keys containing dots match whole, and a
 * dead end falls back to shorter segments. */
static sim_json *resolve(const sim_json *v, const char *path, size_t len) {
  if (v->type != SIM_JSON_OBJECT && v->type != SIM_JSON_ARRAY)
    return NULL;
  sim_json *whole = child(v, path, len);
  if (whole != NULL)
    return whole;
  for (size_t cut = len; cut-- > 0;) {
    if (path[cut] != '.')
      continue;
    sim_json *c = child(v, path, cut);
    if (c == NULL)
      continue;
    sim_json *r = resolve(c, path + cut + 1, len - cut - 1);
    if (r != NULL)
      return r;
  }
  return NULL;
}

sim_json *sim_json_path(const sim_json *root, const char *path) {
  if (root == NULL || path == NULL)
    return NULL;
  return resolve(root, path, strlen(path));
}

/* --- writer -------------------------------------------------------------- */

static void write_string(const char *s, size_t len, FILE *f) {
  static const char hex[] = "0123456789abcdef";
  fputc('"', f);
  size_t run = 0; /* bytes written verbatim are flushed in runs */
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *esc = NULL;
    char ubuf[7];
    switch (c) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    default:
      if (c < 0x20) {
        memcpy(ubuf, "\\u00", 4);
        ubuf[4] = hex[c >> 4];
        ubuf[5] = hex[c & 15];
        ubuf[6] = '\0';
        esc = ubuf;
      }
    }
    if (esc == NULL) {
      run++;
      continue;
    }
    fwrite(s + i - run, 1, run, f);
    run = 0;
    fputs(esc, f);
  }
  fwrite(s + len - run, 1, run, f);
  fputc('"', f);
}

/* Formats a finite non-integral (or huge) double in the shortest of %.15g,
 * %.16g and %.17g that reads back exactly, with the exponent written the
 * JSON way ("1e-7", not "1e-07"). */
static void format_double(double v, char *out, size_t cap) {
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    if (strtod(tmp, NULL) == v)
      break;
  }
  size_t j = 0;
  for (size_t i = 0; tmp[i] != '\0' && j + 1 < cap; i++) {
    out[j++] = tmp[i];
    if (tmp[i] != 'e')
      continue;
    i++;
    if (tmp[i] == '-')
      out[j++] = '-';
    else if (tmp[i] != '+')
      i--;
    while (tmp[i + 1] == '0' && tmp[i + 2] != '\0')
      i++;
  }
  out[j] = '\0';
}

static void write_number(double v, FILE *f) {
  if (!isfinite(v)) {
    fputs("null", f);
    return;
  }
  if (v == trunc(v) && fabs(v) < 9007199254740992.0) {
    /* -0.0 is written as 0, as JavaScript does. */
    fprintf(f, "%" PRId64, (int64_t)v);
    return;
  }
  char buf[40];
  format_double(v, buf, sizeof buf);
  fputs(buf, f);
}

static void indent(int depth, FILE *f) {
  for (int i = 0; i < depth; i++)
    fputs("  ", f);
}

static void write_value(const sim_json *v, int depth, FILE *f) {
  switch (v->type) {
  case SIM_JSON_NULL: fputs("null", f); break;
  case SIM_JSON_BOOL: fputs(v->u.b ? "true" : "false", f); break;
  case SIM_JSON_NUMBER: write_number(v->u.num, f); break;
  case SIM_JSON_STRING: write_string(v->u.str, strlen(v->u.str), f); break;
  case SIM_JSON_ARRAY:
    if (v->u.arr.n == 0) {
      fputs("[]", f);
      break;
    }
    fputs("[\n", f);
    for (size_t i = 0; i < v->u.arr.n; i++) {
      indent(depth + 1, f);
      write_value(v->u.arr.items[i], depth + 1, f);
      fputs(i + 1 < v->u.arr.n ? ",\n" : "\n", f);
    }
    indent(depth, f);
    fputc(']', f);
    break;
  case SIM_JSON_OBJECT:
    if (v->u.obj.n == 0) {
      fputs("{}", f);
      break;
    }
    fputs("{\n", f);
    for (size_t i = 0; i < v->u.obj.n; i++) {
      const member *m = &v->u.obj.m[i];
      indent(depth + 1, f);
      write_string(m->key, m->klen, f);
      fputs(": ", f);
      write_value(m->val, depth + 1, f);
      fputs(i + 1 < v->u.obj.n ? ",\n" : "\n", f);
    }
    indent(depth, f);
    fputc('}', f);
    break;
  }
}

int sim_json_write(const sim_json *v, FILE *f) {
  if (v == NULL || f == NULL)
    return P2P_ERR_INVALID;
  write_value(v, 0, f);
  fputc('\n', f);
  return ferror(f) ? P2P_ERR_IO : 0;
}

/* --- parser -------------------------------------------------------------- */

typedef struct parser {
  const char *s;
  size_t len, pos;
  char *err;
  size_t errlen;
  int rc; /* the first error */
} parser;

/* Records an error at byte offset `at` (line and column counted from 1,
 * columns in bytes). */
static void fail_at(parser *p, size_t at, const char *what) {
  if (p->rc != 0)
    return;
  p->rc = P2P_ERR_INVALID;
  unsigned long line = 1, col = 1;
  for (size_t i = 0; i < at && i < p->len; i++) {
    if (p->s[i] == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  if (p->err != NULL && p->errlen > 0)
    snprintf(p->err, p->errlen, "line %lu, column %lu: %s", line, col, what);
}

static void fail_nomem(parser *p) {
  if (p->rc != 0)
    return;
  p->rc = P2P_ERR_NOMEM;
  if (p->err != NULL && p->errlen > 0)
    snprintf(p->err, p->errlen, "out of memory");
}

static void skip_ws(parser *p) {
  while (p->pos < p->len) {
    char c = p->s[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      break;
    p->pos++;
  }
}

static int peek(const parser *p) {
  return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

/* Describes what was found instead of something expected. */
static void fail_unexpected(parser *p, const char *expected) {
  char msg[96];
  int c = peek(p);
  if (c < 0)
    snprintf(msg, sizeof msg, "expected %s, found end of input", expected);
  else if (c >= 0x21 && c < 0x7f)
    snprintf(msg, sizeof msg, "expected %s, found '%c'", expected, c);
  else
    snprintf(msg, sizeof msg, "expected %s, found byte 0x%02x", expected, c);
  fail_at(p, p->pos, msg);
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned)(c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* Length of the valid UTF-8 sequence at s[0..n) (first byte >= 0x80), or
 * 0 when it is invalid (overlong forms, surrogates, beyond U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t need;
  unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */
  if (c >= 0xc2 && c <= 0xdf) {
    need = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    need = 3;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 4;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  if (n < need || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < need; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return need;
}

/* Parses a string at p->pos (on its opening quote) into a new buffer;
 * *outlen gets its length. The decoded text is never longer than the
 * source, so the buffer is sized by the source. */
static char *parse_string(parser *p, size_t *outlen) {
  size_t start = ++p->pos;
  size_t end = start;
  while (end < p->len && p->s[end] != '"') {
    if (p->s[end] == '\\')
      end++;
    end++;
  }
  char *o = malloc((end > p->len ? p->len : end) - start + 1);
  if (o == NULL) {
    fail_nomem(p);
    return NULL;
  }
  size_t n = 0;
  for (;;) {
    if (p->pos >= p->len) {
      fail_at(p, p->pos, "unterminated string");
      break;
    }
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '"') {
      p->pos++;
      o[n] = '\0';
      *outlen = n;
      return o;
    }
    if (c < 0x20) {
      fail_at(p, p->pos, "control character in string (must be escaped)");
      break;
    }
    if (c >= 0x80) {
      size_t k =
          utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
      if (k == 0) {
        fail_at(p, p->pos, "invalid UTF-8 in string");
        break;
      }
      memcpy(o + n, p->s + p->pos, k);
      n += k;
      p->pos += k;
      continue;
    }
    if (c != '\\') {
      o[n++] = (char)c;
      p->pos++;
      continue;
    }
    size_t esc = p->pos;
    if (p->pos + 1 >= p->len) {
      fail_at(p, p->len, "unterminated string");
      break;
    }
    char e = p->s[p->pos + 1];
    p->pos += 2;
    switch (e) {
    case '"': o[n++] = '"'; continue;
    case '\\': o[n++] = '\\'; continue;
    case '/': o[n++] = '/'; continue;
    case 'b': o[n++] = '\b'; continue;
    case 'f': o[n++] = '\f'; continue;
    case 'n': o[n++] = '\n'; continue;
    case 'r': o[n++] = '\r'; continue;
    case 't': o[n++] = '\t'; continue;
    case 'u': break;
    default: fail_at(p, esc, "invalid escape sequence in string"); goto bad;
    }
    unsigned cp;
    if (p->len - p->pos < 4 || hex4(p->s + p->pos, &cp) != 0) {
      fail_at(p, esc, "\\u must be followed by 4 hex digits");
      break;
    }
    p->pos += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) {
      fail_at(p, esc, "unpaired low surrogate in \\u escape");
      break;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
      unsigned lo;
      if (p->len - p->pos < 6 || p->s[p->pos] != '\\' ||
          p->s[p->pos + 1] != 'u' || hex4(p->s + p->pos + 2, &lo) != 0 ||
          lo < 0xdc00 || lo > 0xdfff) {
        fail_at(p, esc, "unpaired high surrogate in \\u escape");
        break;
      }
      p->pos += 6;
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (cp == 0) {
      /* Strings are handed out NUL-terminated; one cannot hold U+0000. */
      fail_at(p, esc, "\\u0000 is not supported");
      break;
    }
    n += put_utf8(o + n, cp);
  }
bad:
  free(o);
  return NULL;
}

static sim_json *parse_number(parser *p) {
  size_t start = p->pos, i = p->pos;
  const char *s = p->s;
  if (i < p->len && s[i] == '-')
    i++;
  if (i >= p->len || s[i] < '0' || s[i] > '9') {
    fail_at(p, i, "invalid number: expected a digit");
    return NULL;
  }
  if (s[i] == '0') {
    i++;
    if (i < p->len && s[i] >= '0' && s[i] <= '9') {
      fail_at(p, start, "invalid number: leading zero");
      return NULL;
    }
  } else {
    while (i < p->len && s[i] >= '0' && s[i] <= '9')
      i++;
  }
  if (i < p->len && s[i] == '.') {
    i++;
    if (i >= p->len || s[i] < '0' || s[i] > '9') {
      fail_at(p, i, "invalid number: expected a digit after '.'");
      return NULL;
    }
    while (i < p->len && s[i] >= '0' && s[i] <= '9')
      i++;
  }
  if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < p->len && (s[i] == '+' || s[i] == '-'))
      i++;
    if (i >= p->len || s[i] < '0' || s[i] > '9') {
      fail_at(p, i, "invalid number: expected a digit in the exponent");
      return NULL;
    }
    while (i < p->len && s[i] >= '0' && s[i] <= '9')
      i++;
  }
  /* The text need not be NUL-terminated: strtod gets a copy. */
  size_t n = i - start;
  char small[64];
  char *buf = n < sizeof small ? small : malloc(n + 1);
  if (buf == NULL) {
    fail_nomem(p);
    return NULL;
  }
  memcpy(buf, s + start, n);
  buf[n] = '\0';
  double v = strtod(buf, NULL);
  if (buf != small)
    free(buf);
  if (!isfinite(v)) {
    fail_at(p, start, "number out of range");
    return NULL;
  }
  p->pos = i;
  sim_json *j = sim_json_number(v);
  if (j == NULL)
    fail_nomem(p);
  return j;
}

static sim_json *parse_value(parser *p, int depth);

static sim_json *parse_array(parser *p, int depth) {
  sim_json *a = sim_json_array();
  if (a == NULL) {
    fail_nomem(p);
    return NULL;
  }
  p->pos++;
  skip_ws(p);
  if (peek(p) == ']') {
    p->pos++;
    return a;
  }
  for (;;) {
    sim_json *v = parse_value(p, depth);
    if (v == NULL)
      break;
    if (sim_json_push(a, v) != 0) {
      fail_nomem(p);
      break;
    }
    skip_ws(p);
    int c = peek(p);
    if (c == ']') {
      p->pos++;
      return a;
    }
    if (c != ',') {
      fail_unexpected(p, "',' or ']' in array");
      break;
    }
    p->pos++;
  }
  sim_json_free(a);
  return NULL;
}

static sim_json *parse_object(parser *p, int depth) {
  sim_json *o = sim_json_object();
  if (o == NULL) {
    fail_nomem(p);
    return NULL;
  }
  p->pos++;
  skip_ws(p);
  if (peek(p) == '}') {
    p->pos++;
    return o;
  }
  for (;;) {
    skip_ws(p);
    if (peek(p) != '"') {
      fail_unexpected(p, "a string key");
      break;
    }
    size_t key_at = p->pos, klen;
    char *key = parse_string(p, &klen);
    if (key == NULL)
      break;
    if (find_member(o, key, klen) >= 0) {
      free(key);
      fail_at(p, key_at, "duplicate key in object");
      break;
    }
    skip_ws(p);
    if (peek(p) != ':') {
      free(key);
      fail_unexpected(p, "':' after object key");
      break;
    }
    p->pos++;
    sim_json *v = parse_value(p, depth);
    if (v == NULL) {
      free(key);
      break;
    }
    if (append_member(o, key, klen, v) != 0) {
      free(key);
      sim_json_free(v);
      fail_nomem(p);
      break;
    }
    skip_ws(p);
    int c = peek(p);
    if (c == '}') {
      p->pos++;
      return o;
    }
    if (c != ',') {
      fail_unexpected(p, "',' or '}' in object");
      break;
    }
    p->pos++;
  }
  sim_json_free(o);
  return NULL;
}

static sim_json *parse_literal(parser *p, const char *word, sim_json *v) {
  size_t n = strlen(word);
  if (v == NULL) {
    fail_nomem(p);
    return NULL;
  }
  if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
    sim_json_free(v);
    fail_at(p, p->pos, "invalid literal (expected true, false or null)");
    return NULL;
  }
  p->pos += n;
  return v;
}

static sim_json *parse_value(parser *p, int depth) {
  skip_ws(p);
  int c = peek(p);
  switch (c) {
  case '{':
  case '[':
    if (depth >= MAX_DEPTH) {
      fail_at(p, p->pos, "nesting deeper than 64 levels");
      return NULL;
    }
    return c == '{' ? parse_object(p, depth + 1) : parse_array(p, depth + 1);
  case '"': {
    size_t len;
    char *s = parse_string(p, &len);
    if (s == NULL)
      return NULL;
    sim_json *v = make(SIM_JSON_STRING);
    if (v == NULL) {
      free(s);
      fail_nomem(p);
      return NULL;
    }
    v->u.str = s;
    return v;
  }
  case 't': return parse_literal(p, "true", sim_json_bool(true));
  case 'f': return parse_literal(p, "false", sim_json_bool(false));
  case 'n': return parse_literal(p, "null", sim_json_null());
  default:
    if (c == '-' || (c >= '0' && c <= '9'))
      return parse_number(p);
    fail_unexpected(p, "a value");
    return NULL;
  }
}

int sim_json_parse(const char *text, size_t len, sim_json **out, char *err,
                   size_t errlen) {
  if (out == NULL || (text == NULL && len > 0))
    return P2P_ERR_INVALID;
  parser p = {text == NULL ? "" : text, len, 0, err, errlen, 0};
  sim_json *v = parse_value(&p, 0);
  if (v != NULL) {
    skip_ws(&p);
    if (p.pos < p.len) {
      fail_unexpected(&p, "end of input after the value");
      sim_json_free(v);
      v = NULL;
    }
  }
  if (v == NULL)
    return p.rc != 0 ? p.rc : P2P_ERR_INTERNAL;
  *out = v;
  return 0;
}

int sim_json_read_file(const char *path, sim_json **out, char *err,
                       size_t errlen) {
  *out = NULL;
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return P2P_ERR_IO;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (cap - len < 4096) {
      cap = cap ? cap * 2 : 65536;
      char *nb = realloc(buf, cap);
      if (nb == NULL) {
        free(buf);
        fclose(f);
        snprintf(err, errlen, "out of memory reading %s", path);
        return P2P_ERR_NOMEM;
      }
      buf = nb;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    snprintf(err, errlen, "cannot read %s", path);
    return P2P_ERR_IO;
  }
  char perr[256];
  int rc = sim_json_parse(buf, len, out, perr, sizeof perr);
  if (rc < 0)
    snprintf(err, errlen, "%s: %s", path, perr);
  free(buf);
  return rc;
}
