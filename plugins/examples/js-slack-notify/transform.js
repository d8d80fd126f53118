// slack-notify, in JavaScript: Dodo Payments payment events → a Slack
// incoming-webhook message. Implements `transform` from hookwasm's
// wit/transformer.wit; see README.md for how the WIT types look from JS.

const NAME = "slack-notify";

/** `cents` (integer minor units) as a decimal with 2 places: 2159 → "21.59". */
function money(cents) {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  const frac = String(abs % 100).padStart(2, "0");
  return `${sign}${Math.floor(abs / 100)}.${frac}`;
}

/** UTF-8 bytes of `text` (QuickJS has no TextEncoder). */
function utf8(text) {
  const bytes = [];
  for (const char of text) {
    const c = char.codePointAt(0);
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(bytes);
}

function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A string field that must be there; missing, null and "" are all missing. */
function requireString(value, path) {
  if (value === undefined || value === null || value === "") throw `${path} is missing`;
  if (typeof value !== "string") throw `${path} is not a string`;
  return value;
}

/** A string field with a default for missing, null and "". */
function stringOr(value, path, fallback) {
  if (value === undefined || value === null || value === "") return fallback;
  if (typeof value !== "string") throw `${path} is not a string`;
  return value;
}

function message(eventType, payload) {
  let dodo;
  try {
    dodo = JSON.parse(payload);
  } catch {
    throw "payload is not JSON";
  }
  if (!isObject(dodo)) throw "payload is not a JSON object";
  const data = isObject(dodo.data) ? dodo.data : {};
  const customer = isObject(data.customer) ? data.customer : {};

  const email = requireString(customer.email, "data.customer.email");
  const cents = data.total_amount;
  if (cents === undefined || cents === null) throw "data.total_amount is missing";
  if (!Number.isSafeInteger(cents)) throw "data.total_amount is not an integer";
  const currency = stringOr(data.currency, "data.currency", "USD");
  const paid = `Payment of ${money(cents)} ${currency} from ${email}`;

  if (eventType === "payment.succeeded") {
    return `${paid} (${requireString(data.payment_id, "data.payment_id")})`;
  }
  return `${paid} failed: ${stringOr(data.error_message, "data.error_message", "unknown error")}`;
}

// WIT `result<outcome, string>`: return the outcome for `ok`, throw a string
// for `err`. Records have camelCase keys; `option<string>` is a string or
// null; a variant is `{ tag, val }`; `list<u8>` is a Uint8Array.
export function transform(event) {
  const type = event.eventType;
  if (type !== "payment.succeeded" && type !== "payment.failed") {
    return {
      tag: "skip",
      val: `${NAME} handles payment.succeeded and payment.failed, not ${type}`,
    };
  }
  try {
    if (!event.endpointUrl) throw "the endpoint has no url";
    const text = message(type, event.payload);
    return {
      tag: "deliver",
      val: {
        method: "POST",
        url: event.endpointUrl,
        headers: [{ name: "content-type", value: "application/json" }],
        body: utf8(JSON.stringify({ text })),
      },
    };
  } catch (problem) {
    // Errors read "<plugin>: <event type>: <what is wrong>".
    throw `${NAME}: ${type}: ${problem instanceof Error ? problem.message : problem}`;
  }
}
