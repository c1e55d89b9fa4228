"""MONITOR's detection delay on a real `tandem serve`: 40 s of steady 5 ms calls to the test agent
`hostile`, then 60 ms calls; prints how long after the first slow call MONITOR's `alert` event came,
and any alert of the steady part (a false alarm). MONITOR samples every second.

    just agents && cargo build && python3 agents-guest/monitor/delay.py
"""
import json, os, shutil, subprocess, tempfile, threading, time, urllib.request

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
work = tempfile.mkdtemp()
agents = os.path.join(work, "agents")
os.makedirs(agents)
shutil.copy(os.path.join(root, "target/agents/monitor.wasm"), agents)
shutil.copy(os.path.join(root, "target/test-agents/hostile.wasm"), agents)
with open(os.path.join(agents, "hostile.toml"), "w") as f:
    f.write("[resilience]\nmax-attempts = 1\n")
with open(os.path.join(agents, "monitor.toml"), "w") as f:
    f.write("""[capabilities]
host-info = true
[state]
max-keys = 1024
max-bytes = "64MiB"
[[triggers]]
every = "1s"
operation = "sample"
input = { config = { agents = ["hostile"], detectors = { metrics = ["latency-ms"] } } }
""")
srv = subprocess.Popen([os.path.join(root, "target/debug/tandem"), "--data-dir", os.path.join(work, "data"),
                        "serve", "--agents", agents, "--addr", "127.0.0.1:0", "--no-audit"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
url = srv.stdout.readline().strip().split()[-1]
while True:
    try:
        urllib.request.urlopen(url + "/readyz"); break
    except Exception: time.sleep(0.1)
alert = {}
def watch():
    with urllib.request.urlopen(url + "/events") as r:
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data:"): continue
            e = json.loads(line[5:])
            if e.get("type") == "guest" and e.get("name") == "alert":
                d = json.loads(e["data"])
                if d["status"] == "firing" and "t" not in alert:
                    alert["t"] = time.time(); alert["d"] = d
threading.Thread(target=watch, daemon=True).start()
nap = [5]
def call():
    body = json.dumps({"op": "nap", "input": {"count": nap[0]}}).encode()
    urllib.request.urlopen(urllib.request.Request(url + "/v1/agents/hostile/invoke", body, {"content-type": "application/json"})).read()
end = time.time() + 40
while time.time() < end:
    call()
    time.sleep(0.05)
if alert:
    print("false alarm during the steady state:", alert)
nap[0] = 60; t0 = time.time()
while "t" not in alert and time.time() < t0 + 20:
    call()
print("detection delay %.2f s after the first slow call (trigger period 1 s)" % (alert["t"] - t0), alert["d"]["name"], alert["d"]["value"])
srv.terminate()
shutil.rmtree(work)
