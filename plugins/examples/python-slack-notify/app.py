"""slack-notify, in Python: Dodo Payments payment events -> a Slack
incoming-webhook message. Implements `transform` from hookwasm's
wit/transformer.wit; componentize-py generates the `wit_world` module from it
at build time (see README.md)."""

import json

import wit_world
from wit_world import Event, Header, Outcome, Outcome_Deliver, Outcome_Skip, Request
from componentize_py_types import Err

NAME = "slack-notify"
HANDLED = ("payment.succeeded", "payment.failed")


class Problem(Exception):
    """What is wrong with an event, as one line."""


def money(cents: int) -> str:
    """`cents` (integer minor units) as a decimal with 2 places: 2159 -> "21.59"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def require_str(value, path: str) -> str:
    """A string field that must be there; missing, null and "" are all missing."""
    if value is None or value == "":
        raise Problem(f"{path} is missing")
    if not isinstance(value, str):
        raise Problem(f"{path} is not a string")
    return value


def str_or(value, path: str, default: str) -> str:
    """A string field with a default for missing, null and ""."""
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise Problem(f"{path} is not a string")
    return value


def message(event_type: str, payload: str) -> str:
    try:
        dodo = json.loads(payload)
    except ValueError:
        raise Problem("payload is not JSON") from None
    if not isinstance(dodo, dict):
        raise Problem("payload is not a JSON object")
    data = dodo.get("data")
    data = data if isinstance(data, dict) else {}
    customer = data.get("customer")
    customer = customer if isinstance(customer, dict) else {}

    email = require_str(customer.get("email"), "data.customer.email")
    cents = data.get("total_amount")
    if cents is None:
        raise Problem("data.total_amount is missing")
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise Problem("data.total_amount is not an integer")
    currency = str_or(data.get("currency"), "data.currency", "USD")
    paid = f"Payment of {money(cents)} {currency} from {email}"

    if event_type == "payment.succeeded":
        return f"{paid} ({require_str(data.get('payment_id'), 'data.payment_id')})"
    error = str_or(data.get("error_message"), "data.error_message", "unknown error")
    return f"{paid} failed: {error}"


class WitWorld(wit_world.WitWorld):
    # WIT `result<outcome, string>`: return the outcome for `ok`, raise
    # `Err(message)` for `err`. Records are dataclasses with snake_case fields;
    # a variant is one class per case (`Outcome_Deliver`, `Outcome_Skip`).
    def transform(self, event: Event) -> Outcome:
        event_type = event.event_type
        if event_type not in HANDLED:
            return Outcome_Skip(
                f"{NAME} handles payment.succeeded and payment.failed, not {event_type}"
            )
        try:
            if not event.endpoint_url:
                raise Problem("the endpoint has no url")
            text = message(event_type, event.payload)
        except Problem as problem:
            # Errors read "<plugin>: <event type>: <what is wrong>".
            raise Err(f"{NAME}: {event_type}: {problem}") from None
        body = json.dumps({"text": text}, ensure_ascii=False).encode()
        return Outcome_Deliver(
            Request(
                method="POST",
                url=event.endpoint_url,
                headers=[Header("content-type", "application/json")],
                body=body,
            )
        )
