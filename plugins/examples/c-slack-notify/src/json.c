#include "json.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 128 /* as serde_json */

typedef struct {
  const char *p;
  const char *end;
} reader;

static void skip_ws(reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) {
    r->p++;
  }
}

static bool literal(reader *r, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return false;
  r->p += n;
  return true;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool skip_string(reader *r) {
  r->p++; /* the opening quote */
  while (r->p < r->end) {
    unsigned char c = (unsigned char)*r->p++;
    if (c == '"') return true;
    if (c < 0x20) return false;
    if (c == '\\') {
      if (r->p >= r->end) return false;
      char e = *r->p++;
      if (e == 'u') {
        for (int i = 0; i < 4; i++) {
          if (r->p >= r->end || hex(*r->p++) < 0) return false;
        }
      } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
        return false;
      }
    }
  }
  return false;
}

static bool skip_number(reader *r) {
  if (r->p < r->end && *r->p == '-') r->p++;
  if (r->p >= r->end || !is_digit(*r->p)) return false;
  if (*r->p == '0') {
    r->p++;
  } else {
    while (r->p < r->end && is_digit(*r->p)) r->p++;
  }
  if (r->p < r->end && *r->p == '.') {
    r->p++;
    if (r->p >= r->end || !is_digit(*r->p)) return false;
    while (r->p < r->end && is_digit(*r->p)) r->p++;
  }
  if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
    r->p++;
    if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
    if (r->p >= r->end || !is_digit(*r->p)) return false;
    while (r->p < r->end && is_digit(*r->p)) r->p++;
  }
  return true;
}

/* Reads one value at r->p (after whitespace) into *out. */
static bool read_value(reader *r, json_value *out, int depth) {
  skip_ws(r);
  if (r->p >= r->end || depth > MAX_DEPTH) return false;
  out->start = r->p;
  char c = *r->p;
  bool ok;
  if (c == '{' || c == '[') {
    char close = c == '{' ? '}' : ']';
    out->kind = c == '{' ? JSON_OBJECT : JSON_ARRAY;
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
      r->p++;
      ok = true;
    } else {
      ok = false;
      for (;;) {
        json_value item;
        if (out->kind == JSON_OBJECT) {
          skip_ws(r);
          if (r->p >= r->end || *r->p != '"' || !skip_string(r)) break;
          skip_ws(r);
          if (r->p >= r->end || *r->p++ != ':') break;
        }
        if (!read_value(r, &item, depth + 1)) break;
        skip_ws(r);
        if (r->p >= r->end) break;
        if (*r->p == ',') {
          r->p++;
          continue;
        }
        if (*r->p == close) {
          r->p++;
          ok = true;
        }
        break;
      }
    }
  } else if (c == '"') {
    out->kind = JSON_STRING;
    ok = skip_string(r);
  } else if (c == 'n') {
    out->kind = JSON_NULL;
    ok = literal(r, "null");
  } else if (c == 't' || c == 'f') {
    out->kind = JSON_BOOL;
    ok = literal(r, c == 't' ? "true" : "false");
  } else {
    out->kind = JSON_NUMBER;
    ok = skip_number(r);
  }
  out->end = r->p;
  return ok;
}

bool json_parse(const char *text, size_t len, json_value *out) {
  reader r = {text, text + len};
  if (!read_value(&r, out, 0)) return false;
  skip_ws(&r);
  return r.p == r.end;
}

/* Appends code point `cp` to `out` as UTF-8; returns the bytes written. */
static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  out[0] = (char)(0xf0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
  out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

static uint32_t hex4(const char *p) {
  return (uint32_t)(hex(p[0]) << 12 | hex(p[1]) << 8 | hex(p[2]) << 4 | hex(p[3]));
}

char *json_string(json_value value) {
  if (value.kind != JSON_STRING) return NULL;
  /* Decoding never makes the text longer: "\uXXXX" (6 bytes) becomes at
   * most 3, a surrogate pair (12 bytes) 4. */
  char *out = malloc((size_t)(value.end - value.start) + 1);
  if (!out) return NULL;
  size_t n = 0;
  const char *p = value.start + 1, *end = value.end - 1; /* inside the quotes */
  while (p < end) {
    if (*p != '\\') {
      out[n++] = *p++;
      continue;
    }
    char e = p[1];
    p += 2;
    switch (e) {
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'n': out[n++] = '\n'; break;
      case 'r': out[n++] = '\r'; break;
      case 't': out[n++] = '\t'; break;
      case 'u': {
        uint32_t cp = hex4(p);
        p += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
          uint32_t low = hex4(p + 2);
          if (low >= 0xdc00 && low < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            p += 6;
          }
        }
        if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; /* a lone surrogate */
        n += put_utf8(out + n, cp);
        break;
      }
      default: out[n++] = e; /* \" \\ \/ */
    }
  }
  out[n] = '\0';
  return out;
}

json_value json_get(json_value object, const char *key) {
  json_value none = {JSON_NONE, NULL, NULL};
  if (object.kind != JSON_OBJECT) return none;
  size_t key_len = strlen(key);
  /* The object was validated by json_parse, so this walk cannot fail. */
  reader r = {object.start + 1, object.end};
  for (;;) {
    skip_ws(&r);
    if (r.p >= r.end || *r.p != '"') return none;
    json_value name = {JSON_STRING, r.p, NULL};
    skip_string(&r);
    name.end = r.p;
    skip_ws(&r);
    r.p++; /* ':' */
    json_value value;
    read_value(&r, &value, 0);
    /* Compare decoded, so that "\u0065mail" matches "email" too. */
    bool match = false;
    if ((size_t)(name.end - name.start) == key_len + 2 &&
        memcmp(name.start + 1, key, key_len) == 0) {
      match = true;
    } else if (memchr(name.start, '\\', (size_t)(name.end - name.start))) {
      char *decoded = json_string(name);
      match = decoded && strcmp(decoded, key) == 0;
      free(decoded);
    }
    if (match) return value;
    skip_ws(&r);
    if (r.p >= r.end || *r.p != ',') return none;
    r.p++;
  }
}

bool json_integer(json_value value, long long *out) {
  if (value.kind != JSON_NUMBER) return false;
  const char *p = value.start;
  bool negative = *p == '-';
  if (negative) p++;
  unsigned long long n = 0;
  for (; p < value.end; p++) {
    if (!is_digit(*p)) return false; /* a fraction or an exponent */
    unsigned digit = (unsigned)(*p - '0');
    if (n > (ULLONG_MAX - digit) / 10) return false;
    n = n * 10 + digit;
  }
  if (negative ? n > (unsigned long long)LLONG_MAX + 1 : n > (unsigned long long)LLONG_MAX) {
    return false;
  }
  *out = negative ? (long long)(0 - n) : (long long)n;
  return true;
}
