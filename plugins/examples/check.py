#!/usr/bin/env python3
"""Checks that slack-notify components behave the same, through the real host.

    python3 check.py [--hookwasm PATH] [--runs N] FILE.wasm...

Runs `hookwasm plugin test` on the Dodo fixtures and on edge cases, compares
the outcome (request, skip reason or error) with the expected one, and prints
fuel and micros per event (the median of --runs runs). Ends with the line
"N passed, N failed"; exits 1 if any case failed. Needs only Python 3.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "dodo")
URL = "https://hooks.slack.com/services/T000/B000/XXXX"


def deliver(text):
    return {
        "outcome": "deliver",
        "request": {
            "method": "POST",
            "url": URL,
            "headers": {"content-type": "application/json"},
            "body": {"text": text},
        },
    }


def skip(reason):
    return {"outcome": "skip", "reason": reason}


def error(message):
    return {"error": message}


# (name, fixture file or inline payload, endpoint url, expected)
CASES = [
    ("payment.succeeded", "payment.succeeded.json", URL,
     deliver("Payment of 21.59 USD from jane.doe@example.com (pay_7Rb2Xk9LqT4mWz8NcV1eP)")),
    ("payment.failed", "payment.failed.json", URL,
     deliver("Payment of 21.59 USD from jane.doe@example.com failed: "
             "The account has insufficient funds to complete the transaction")),
    ("refund.succeeded", "refund.succeeded.json", URL,
     skip("slack-notify handles payment.succeeded and payment.failed, not refund.succeeded")),
    ("no url", "payment.failed.json", None,
     error("slack-notify: payment.failed: the endpoint has no url")),
    ("no email", {"type": "payment.succeeded", "data": {"total_amount": 1}}, URL,
     error("slack-notify: payment.succeeded: data.customer.email is missing")),
    ("email not a string",
     {"type": "payment.failed", "data": {"total_amount": 1, "customer": {"email": 5}}}, URL,
     error("slack-notify: payment.failed: data.customer.email is not a string")),
    ("defaults, escapes, negative amount",
     '{"type":"payment.failed","data":{"total_amount":-5,"currency":null,"error_message":"",'
     '"customer":{"email":"a\\"b\\\\c\\u00e9\\ud83d\\ude00@x.io"}}}', URL,
     deliver('Payment of -0.05 USD from a"b\\c\u00e9\U0001F600@x.io failed: unknown error')),
    ("escaped key, big amount",
     '{"type":"payment.succeeded","data":{"total_amount":123456789012,"currency":"EUR",'
     '"payment_id":"p_1","customer":{"\\u0065mail":"k@x.io"}}}', URL,
     deliver("Payment of 1234567890.12 EUR from k@x.io (p_1)")),
    ("amount not an integer",
     {"type": "payment.succeeded", "data": {"total_amount": 12.5, "customer": {"email": "x@y"}}}, URL,
     error("slack-notify: payment.succeeded: data.total_amount is not an integer")),
    ("no payment id",
     {"type": "payment.succeeded", "data": {"total_amount": 100, "customer": {"email": "x@y"}}}, URL,
     error("slack-notify: payment.succeeded: data.payment_id is missing")),
    ("other type, odd data", {"type": "dispute.opened", "data": 5}, URL,
     skip("slack-notify handles payment.succeeded and payment.failed, not dispute.opened")),
]


def run(hookwasm, wasm, event_file, url, limits):
    cmd = [hookwasm, "plugin", "test", wasm, event_file] + limits
    if url is not None:
        cmd += ["--url", url]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [l for l in proc.stderr.splitlines() if l.startswith("error: ")]
        message = lines[-1][len("error: "):] if lines else proc.stderr.strip()
        return {"error": message}, None
    report = json.loads(proc.stdout)
    stats = report.pop("stats", None)
    return report, stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wasm", nargs="+")
    parser.add_argument("--hookwasm", default=os.environ.get(
        "HOOKWASM", os.path.join(ROOT, "target", "debug", "hookwasm")))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--limit", action="append", default=[],
                        help="extra plugin-test flag, e.g. --limit=--fuel=1000000")
    args = parser.parse_args()

    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for wasm in args.wasm:
            print(f"== {wasm} ({os.path.getsize(wasm)} bytes)")
            for i, (name, payload, url, expected) in enumerate(CASES):
                if isinstance(payload, str) and payload.endswith(".json"):
                    event_file = os.path.join(FIXTURES, payload)
                else:
                    event_file = os.path.join(tmp, f"case{i}.json")
                    with open(event_file, "w", encoding="utf-8") as f:
                        f.write(payload if isinstance(payload, str) else json.dumps(payload))
                fuel, micros = [], []
                got = None
                for _ in range(args.runs):
                    got, stats = run(args.hookwasm, wasm, event_file, url, args.limit)
                    if stats:
                        fuel.append(stats["fuel"])
                        micros.append(stats["micros"])
                ok = got == expected
                passed += ok
                failed += not ok
                cost = (f"fuel {statistics.median(fuel):>11,.0f}  micros {statistics.median(micros):>7,.0f}"
                        if fuel else "")
                print(f"  {'ok  ' if ok else 'FAIL'} {name:<36} {cost}")
                if not ok:
                    print(f"       expected {json.dumps(expected, ensure_ascii=False)}")
                    print(f"       got      {json.dumps(got, ensure_ascii=False)}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
