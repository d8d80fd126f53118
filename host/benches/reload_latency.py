"""Ack and delivery latency while a large plugin compiles in the background.

    cargo build --release && python3 host/benches/reload_latency.py

Starts the release binary on a temporary config (one Inngest endpoint to a
sink in this script), posts signed events at ~50/s until 100 after the
compile is done, and after the first 100 drops a 6.1 MB component (the built-in js plugin with a custom section
added, so it is a cache miss and compiles cold) into the plugins directory.
Prints ack and delivery latency before, during and after the compile."""
import base64, hashlib, hmac, http.server, json, os, shutil, socketserver, subprocess, tempfile, threading, time, urllib.request

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = base64.b64decode(SECRET[6:])
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "hookwasm")
JS = os.path.join(ROOT, "target", "wasm-plugins", "wasm32-wasip2", "plugin", "js.wasm")
D = tempfile.mkdtemp(prefix="hookwasm-reload-")
arrivals = {}

class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            arrivals[int(json.loads(body)["id"].split("msg_")[1])] = time.time()
        except Exception:
            pass
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass

class TS(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

sink = TS(("127.0.0.1", 18190), Sink)
threading.Thread(target=sink.serve_forever, daemon=True).start()
shutil.rmtree(f"{D}/data", ignore_errors=True); shutil.rmtree(f"{D}/plugins", ignore_errors=True); os.makedirs(f"{D}/plugins")
open(f"{D}/hookwasm.toml", "w").write(f"""
[server]
listen = "127.0.0.1:18180"
data_dir = "data"
plugins_dir = "plugins"
cache_dir = "{D}/cache"
allow_private_destinations = true
[admin]
listen = "127.0.0.1:18181"
[sources.dodo]
secrets = ["{SECRET}"]
[[endpoints]]
id = "sink"
source = "dodo"
plugin = "inngest"
events = ["*"]
url = "http://127.0.0.1:18190/e/key"
""")
server = subprocess.Popen([BIN, "serve", "-c", f"{D}/hookwasm.toml"], cwd=D, stderr=open(f"{D}/server.log", "w"))
for _ in range(200):
    try:
        urllib.request.urlopen("http://127.0.0.1:18181/readyz"); break
    except Exception:
        time.sleep(0.1)

js = open(JS, "rb").read()
nonce = str(time.time()).encode()
custom = b"\x00" + bytes([len(nonce) + 6]) + b"\x05nonce" + nonce  # a custom section: new hash, cold compile

acks = []  # (t, latency, phase)
phase = "before"
def post(n):
    body = json.dumps({"business_id": "b", "type": "payment.succeeded", "timestamp": "2025-01-15T23:30:12Z",
                       "data": {"n": n, "payment_id": f"pay_{n}", "total_amount": 100, "customer": {"email": "a@b.c"}}}).encode()
    mid, ts = f"msg_{n}", str(int(time.time()))
    sig = base64.b64encode(hmac.new(KEY, f"{mid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    req = urllib.request.Request("http://127.0.0.1:18180/webhooks/dodo", data=body, headers={
        "content-type": "application/json", "webhook-id": mid, "webhook-timestamp": ts, "webhook-signature": f"v1,{sig}"})
    t = time.time(); urllib.request.urlopen(req).read(); return t, time.time() - t

sent = {}
compile_start = None
loaded_at = None  # the event count when the compile was seen done
n = 0
# Until 100 events after the compile ends (however long it takes here), so
# that "after" covers the moment the compile's memory is handed back.
while n < 3000 and (loaded_at is None or n < loaded_at + 100):
    if n == 100:
        open(f"{D}/plugins/big.tmp", "wb").write(js + custom)
        os.rename(f"{D}/plugins/big.tmp", f"{D}/plugins/big.wasm")
        compile_start = time.time()
    t, lat = post(n); sent[n] = t; acks.append((t, lat))
    if loaded_at is None and n > 100 and n % 10 == 0 and "plugin=big" in open(f"{D}/server.log").read():
        loaded_at = n
    n += 1
    time.sleep(0.02)
time.sleep(2)
log = open(f"{D}/server.log").read()
server.terminate()
for line in log.splitlines():
    if "big" in line and "plugin loaded" in line:
        print("server:", line[:200])
def pct(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")
took = [l for l in log.splitlines() if "took_ms" in l and "big" in l]
end = compile_start + (int(took[0].split("took_ms=")[1].split()[0]) / 1000 if took else 0)
for name, lo, hi in [("before the plugin file", 0, compile_start), ("while it compiles", compile_start, end), ("after", end, 1e18)]:
    a = [lat for t, lat in acks if lo <= t < hi]
    d = [arrivals[n] - sent[n] for n in sent if lo <= sent[n] < hi and n in arrivals]
    print(f"{name:<24} events {len(a):>3}  ack p50 {pct(a,.5):6.1f} ms p99 {pct(a,.99):6.1f} ms   delivery p50 {pct(d,.5):6.1f} ms p99 {pct(d,.99):6.1f} ms")
print("delivered", len(arrivals), "of", len(sent))
shutil.rmtree(D, ignore_errors=True)
