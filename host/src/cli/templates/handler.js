// {{name}}: a hookwasm JavaScript handler (the Svix / Dodo Payments contract).
//
// `webhook` is { method, url, eventType, payload, id, settings }: change what
// you need and return it. Set `webhook.cancel = true` to send nothing.
// It runs inside hookwasm's WebAssembly sandbox: no network, files or secrets
// (the endpoint's `auth` is added by hookwasm after the handler ran).
//
// Try it:   hookwasm plugin test {{name}}.js {{name}}.event.json --url https://example.com/hook
// Use it:   copy it into the plugins directory; endpoints say plugin = "{{name}}".
// Amounts are in the currency's minor unit: cents for USD, but yen are
// whole (JPY: 0 decimals) and Kuwaiti dinars have 3 (ISO 4217 exponents).
const DECIMALS = {
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0,
  RWF: 0, UGX: 0, UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
};

function majorUnits(minor, currency) {
  const decimals = DECIMALS[currency] ?? 2;
  return (minor / 10 ** decimals).toFixed(decimals);
}

function handler(webhook) {
  if (!webhook.eventType.startsWith("payment.")) {
    webhook.cancel = true; // only payment events
    return webhook;
  }
  const p = webhook.payload.data;
  webhook.payload = {
    event: webhook.eventType,
    payment_id: p.payment_id,
    amount: majorUnits(p.total_amount, p.currency || "USD"),
    currency: p.currency || "USD",
    email: p.customer && p.customer.email,
  };
  return webhook;
}
