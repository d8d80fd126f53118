"""{{name}}: a hookwasm plugin in Python. `transform` turns one webhook event
into the HTTP request to send (or a skip); hookwasm adds the endpoint's auth.
componentize-py generates `wit_world` from wit/transformer.wit at build time."""

import json

import wit_world
from wit_world import Event, Header, Outcome, Outcome_Deliver, Outcome_Skip, Request
from componentize_py_types import Err


class WitWorld(wit_world.WitWorld):
    def transform(self, event: Event) -> Outcome:
        if not event.event_type.startswith("payment."):
            return Outcome_Skip(f"{{name}} handles payment events, not {event.event_type}")
        if not event.endpoint_url:
            raise Err(f"{{name}}: {event.event_type}: the endpoint has no url")
        try:
            data = json.loads(event.payload).get("data") or {}
        except (ValueError, AttributeError):
            raise Err(f"{{name}}: {event.event_type}: payload is not a JSON object") from None
        body = {"event": event.event_type, "payment_id": data.get("payment_id")}
        return Outcome_Deliver(
            Request(
                method="POST",
                url=event.endpoint_url,
                headers=[Header("content-type", "application/json")],
                body=json.dumps(body).encode(),
            )
        )
