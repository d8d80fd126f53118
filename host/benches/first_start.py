"""Time to the first delivered event after the first start on a fresh data dir.

    cargo build --release && python3 host/benches/first_start.py [runs]

Each run starts the release binary on a fresh data directory and a fresh
compiled-plugin cache with one endpoint per Rust built-in (Loops,
Customer.io, Windmill, Inngest), each to a sink in this script, posts one
signed payment.succeeded as soon as ingest accepts it, and reports when each
endpoint's request arrived, counted from the moment the process was started.
Then it restarts on the same data dir (the cache is warm) and does it again.
Runs are cold every time: nothing is shared between them but the binary."""
import base64, hashlib, hmac, http.server, json, os, shutil, socketserver, statistics, subprocess, sys, tempfile, threading, time, urllib.request

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEY = base64.b64decode(SECRET[6:])
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "hookwasm")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
PLUGINS = {"loops": "/api/v1/events/send", "customerio": "/", "windmill": "/api/w/acme/jobs/run/f/f/billing/x", "inngest": "/e/key"}
arrivals = {}

class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        plugin = self.path.split("/")[1]
        arrivals.setdefault(plugin, time.time())
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass

class TS(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

sink = TS(("127.0.0.1", 0), Sink)
SINK = f"http://127.0.0.1:{sink.server_address[1]}"
threading.Thread(target=sink.serve_forever, daemon=True).start()

def settings(plugin):
    spec = json.load(open(os.path.join(FIXTURES, "expected", f"{plugin}.payment.succeeded.json")))
    return ", ".join(f"{k} = {json.dumps(v)}" for k, v in spec.get("settings", {}).items())

def config(d):
    out = f"""
[server]
listen = "127.0.0.1:18280"
data_dir = "data"
plugins_dir = "plugins"
cache_dir = "{d}/cache"
allow_private_destinations = true
[admin]
listen = "127.0.0.1:18281"
[sources.dodo]
secrets = ["{SECRET}"]
"""
    for plugin, path in PLUGINS.items():
        out += f"""
[[endpoints]]
id = "{plugin}"
source = "dodo"
plugin = "{plugin}"
events = ["*"]
url = "{SINK}/{plugin}{path}"
auth = {{ bearer = "k" }}
settings = {{ {settings(plugin)} }}
"""
    return out

def post(mid):
    body = open(os.path.join(FIXTURES, "dodo", "payment.succeeded.json"), "rb").read()
    ts = str(int(time.time()))
    sig = base64.b64encode(hmac.new(KEY, f"{mid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
    req = urllib.request.Request("http://127.0.0.1:18280/webhooks/dodo", data=body, headers={
        "content-type": "application/json", "webhook-id": mid, "webhook-timestamp": ts, "webhook-signature": f"v1,{sig}"})
    urllib.request.urlopen(req, timeout=10).read()

def once(d, mid):
    arrivals.clear()
    started = time.time()
    server = subprocess.Popen([BIN, "serve", "-c", f"{d}/hookwasm.toml"], cwd=d, stderr=open(f"{d}/server.log", "a"))
    acked = None
    while time.time() - started < 120:
        try:
            post(mid); acked = time.time() - started; break
        except Exception:
            time.sleep(0.01)
    while len(arrivals) < len(PLUGINS) and time.time() - started < 120:
        time.sleep(0.005)
    server.terminate(); server.wait()
    return acked, {p: arrivals[p] - started for p in arrivals}

def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    firsts, lasts, warm = [], [], []
    for run in range(runs):
        d = tempfile.mkdtemp(prefix="hookwasm-first-start-")
        os.makedirs(f"{d}/plugins")
        open(f"{d}/hookwasm.toml", "w").write(config(d))
        acked, cold = once(d, f"msg_cold_{run}")
        _, hot = once(d, f"msg_warm_{run}")
        if len(cold) < len(PLUGINS):
            print(f"run {run}: only {sorted(cold)} arrived; log in {d}/server.log"); continue
        firsts.append(min(cold.values())); lasts.append(max(cold.values())); warm.append(max(hot.values()) if hot else float("nan"))
        each = "  ".join(f"{p} {t:.2f}" for p, t in sorted(cold.items(), key=lambda kv: kv[1]))
        print(f"run {run}: acked {acked:.2f} s; first start: {each} s; after a restart: all by {warm[-1]:.2f} s")
        shutil.rmtree(d, ignore_errors=True)
    if firsts:
        print(f"median over {len(firsts)} runs: first event delivered {statistics.median(firsts):.2f} s, "
              f"all four {statistics.median(lasts):.2f} s after the first start; {statistics.median(warm):.2f} s after a restart")

main()
