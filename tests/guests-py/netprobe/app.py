"""`netprobe` (test only): a Python guest that tries the network, to show the host denies sockets
and judges its outbound HTTP (`fetch`) by its manifest's `[egress]` rules."""

import socket

from tandem_agent import Agent, Denied, fetch, secret

agent = Agent("netprobe", "Tries to open a TCP connection", version="0.1.0")


@agent.operation("connect", "Connects to `host`:`port` and says what happened",
                 example={"host": "127.0.0.1", "port": 80})
def connect(input, task):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.connect((input["host"], input["port"]))
            return {"connected": True}
    except OSError as e:
        raise Denied(f"{type(e).__name__}: {e}")


@agent.operation("fetch", "Fetches `url` with `Authorization: Bearer <secret token>`")
def fetch_url(input, task):
    response = fetch(input["url"], headers={"authorization": "Bearer " + secret("token")})
    return {"status": response.status, "body": response.text()}


Handler, Schemas = agent.exports()
