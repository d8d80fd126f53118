/* A tiny, allocation-free JSON reader: enough to validate a document and
 * pull a few fields out of it by key. Values are spans of the input text;
 * json_string() decodes a string value into a fresh malloc'd buffer.
 *
 * It validates the JSON grammar of RFC 8259 (with a nesting limit), but does
 * not check that strings are valid UTF-8, nor that object keys are unique
 * (json_get returns the first match). */
#ifndef SLACK_NOTIFY_JSON_H
#define SLACK_NOTIFY_JSON_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  JSON_NONE, /* missing: json_get found no such key */
  JSON_NULL,
  JSON_BOOL,
  JSON_NUMBER,
  JSON_STRING,
  JSON_ARRAY,
  JSON_OBJECT,
} json_kind;

typedef struct {
  json_kind kind;
  const char *start; /* the value's first character */
  const char *end;   /* one past its last character */
} json_value;

/* Parses a whole document (whitespace around it allowed). */
bool json_parse(const char *text, size_t len, json_value *out);

/* The member `key` of `object`; kind JSON_NONE when `object` is not an
 * object or has no such member. */
json_value json_get(json_value object, const char *key);

/* A JSON_NUMBER that is an integer (no fraction or exponent) fitting in a
 * long long. */
bool json_integer(json_value value, long long *out);

/* A JSON_STRING's decoded UTF-8 text, NUL-terminated, malloc'd; NULL when
 * `value` is not a string. */
char *json_string(json_value value);

#endif
