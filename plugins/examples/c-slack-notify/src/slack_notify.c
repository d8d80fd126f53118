/* slack-notify, in C: Dodo Payments payment events -> a Slack
 * incoming-webhook message. Implements `transform` from hookwasm's
 * wit/transformer.wit through the bindings that `wit-bindgen c` generated
 * into ../bindings.
 *
 * Memory: the canonical ABI frees every string and list of the returned
 * outcome with free() after the call (cabi_post_transform), so everything
 * returned must come from malloc: use transformer_string_dup, never
 * transformer_string_set on a literal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "transformer.h"

#define NAME "slack-notify"

/* printf into a fresh malloc'd string. */
static char *format(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  int len = vsnprintf(NULL, 0, fmt, args);
  va_end(args);
  char *out = malloc((size_t)len + 1);
  if (!out) abort();
  va_start(args, fmt);
  vsnprintf(out, (size_t)len + 1, fmt, args);
  va_end(args);
  return out;
}

/* A component-model string owning `s` (malloc'd). */
static transformer_string_t owned(char *s) {
  transformer_string_t out = {(uint8_t *)s, strlen(s)};
  return out;
}

/* A component-model string as a NUL-terminated copy. */
static char *cstring(transformer_string_t s) { return format("%.*s", (int)s.len, (const char *)s.ptr); }

/* `text` as a JSON string literal, quotes included. */
static char *json_quote(const char *text) {
  size_t len = strlen(text);
  char *out = malloc(len * 6 + 3); /* worst case: every byte as \u00XX */
  if (!out) abort();
  size_t n = 0;
  out[n++] = '"';
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p == '"' || *p == '\\') {
      out[n++] = '\\';
      out[n++] = (char)*p;
    } else if (*p < 0x20) {
      n += (size_t)sprintf(out + n, "\\u%04x", *p);
    } else {
      out[n++] = (char)*p;
    }
  }
  out[n++] = '"';
  out[n] = '\0';
  return out;
}

/* A string field that must be there; missing, null and "" are all missing.
 * Returns NULL and sets *problem when it is not usable. */
static char *require_string(json_value value, const char *path, char **problem) {
  if (value.kind == JSON_NONE || value.kind == JSON_NULL) {
    *problem = format("%s is missing", path);
    return NULL;
  }
  char *s = json_string(value);
  if (!s) {
    *problem = format("%s is not a string", path);
    return NULL;
  }
  if (!*s) {
    free(s);
    *problem = format("%s is missing", path);
    return NULL;
  }
  return s;
}

/* A string field with a default for missing, null and "". */
static char *string_or(json_value value, const char *path, const char *fallback, char **problem) {
  if (value.kind == JSON_NONE || value.kind == JSON_NULL) return format("%s", fallback);
  char *s = json_string(value);
  if (!s) {
    *problem = format("%s is not a string", path);
    return NULL;
  }
  if (!*s) {
    free(s);
    return format("%s", fallback);
  }
  return s;
}

/* The message text, or NULL with *problem set. */
static char *message(bool succeeded, transformer_string_t payload, char **problem) {
  json_value dodo;
  if (!json_parse((const char *)payload.ptr, payload.len, &dodo)) {
    *problem = format("payload is not JSON");
    return NULL;
  }
  if (dodo.kind != JSON_OBJECT) {
    *problem = format("payload is not a JSON object");
    return NULL;
  }
  json_value data = json_get(dodo, "data");
  json_value customer = json_get(data, "customer");

  char *email = require_string(json_get(customer, "email"), "data.customer.email", problem);
  if (!email) return NULL;
  json_value total = json_get(data, "total_amount");
  long long cents = 0;
  if (total.kind == JSON_NONE || total.kind == JSON_NULL) {
    *problem = format("data.total_amount is missing");
  } else if (!json_integer(total, &cents)) {
    *problem = format("data.total_amount is not an integer");
  }
  char *currency = *problem ? NULL : string_or(json_get(data, "currency"), "data.currency", "USD", problem);
  if (!currency) {
    free(email);
    return NULL;
  }
  /* 2159 -> "21.59", with the sign kept for negative amounts. */
  unsigned long long abs = cents < 0 ? 0ULL - (unsigned long long)cents : (unsigned long long)cents;
  char *paid = format("Payment of %s%llu.%02llu %s from %s", cents < 0 ? "-" : "", abs / 100,
                      abs % 100, currency, email);
  free(email);
  free(currency);

  char *text = NULL;
  if (succeeded) {
    char *id = require_string(json_get(data, "payment_id"), "data.payment_id", problem);
    if (id) text = format("%s (%s)", paid, id);
    free(id);
  } else {
    char *error = string_or(json_get(data, "error_message"), "data.error_message", "unknown error", problem);
    if (error) text = format("%s failed: %s", paid, error);
    free(error);
  }
  free(paid);
  return text;
}

/* WIT `result<outcome, string>`: return true and fill *ret for `ok`, or
 * return false and fill *err. */
bool exports_transformer_transform(transformer_event_t *event, transformer_outcome_t *ret,
                                   transformer_string_t *err) {
  char *type = cstring(event->event_type);
  bool succeeded = strcmp(type, "payment.succeeded") == 0;
  bool ok = true;

  if (!succeeded && strcmp(type, "payment.failed") != 0) {
    ret->tag = TRANSFORMER_OUTCOME_SKIP;
    ret->val.skip = owned(
        format(NAME " handles payment.succeeded and payment.failed, not %s", type));
  } else {
    char *problem = NULL;
    char *text = NULL;
    if (!event->endpoint_url.is_some || event->endpoint_url.val.len == 0) {
      problem = format("the endpoint has no url");
    } else {
      text = message(succeeded, event->payload, &problem);
    }
    if (text) {
      char *quoted = json_quote(text);
      transformer_request_t *request = &ret->val.deliver;
      ret->tag = TRANSFORMER_OUTCOME_DELIVER;
      transformer_string_dup(&request->method, "POST");
      request->url = owned(cstring(event->endpoint_url.val));
      request->headers.len = 1;
      request->headers.ptr = malloc(sizeof(transformer_header_t));
      if (!request->headers.ptr) abort();
      transformer_string_dup(&request->headers.ptr[0].name, "content-type");
      transformer_string_dup(&request->headers.ptr[0].value, "application/json");
      char *body = format("{\"text\":%s}", quoted);
      request->body.ptr = (uint8_t *)body;
      request->body.len = strlen(body);
      free(quoted);
      free(text);
    } else {
      /* Errors read "<plugin>: <event type>: <what is wrong>". */
      *err = owned(format(NAME ": %s: %s", type, problem));
      ok = false;
    }
    free(problem);
  }
  free(type);
  transformer_event_free(event); /* the event is ours to free */
  return ok;
}
