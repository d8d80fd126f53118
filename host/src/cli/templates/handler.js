// {{name}}: a hookwasm JavaScript handler (the Svix / Dodo Payments contract).
//
// `webhook` is { method, url, eventType, payload, id, settings }: change what
// you need and return it. Set `webhook.cancel = true` to send nothing.
// It runs inside hookwasm's WebAssembly sandbox: no network, files or secrets
// (the endpoint's `auth` is added by hookwasm after the handler ran).
//
// Try it:   hookwasm plugin test {{name}}.js event.json --url https://example.com/hook
// Use it:   copy it into the plugins directory; endpoints say plugin = "{{name}}".
function handler(webhook) {
  if (!webhook.eventType.startsWith("payment.")) {
    webhook.cancel = true; // only payment events
    return webhook;
  }
  const p = webhook.payload.data;
  webhook.payload = {
    event: webhook.eventType,
    payment_id: p.payment_id,
    amount: (p.total_amount / 100).toFixed(2),
    currency: p.currency || "USD",
    email: p.customer && p.customer.email,
  };
  return webhook;
}
