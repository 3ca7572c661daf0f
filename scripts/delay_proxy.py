#!/usr/bin/env python3
"""A delay proxy for the deploy benchmark: an HTTP/1.1 reverse proxy on 127.0.0.1 that holds every request for a
fixed latency before forwarding it to an emulator, and optionally paces request and response bodies through one
shared bandwidth cap. So a tool pays a round trip per request, as a runner does against a bucket in its region,
instead of only the emulator's CPU. Keep-alive connections are kept (one upstream connection per client
connection), so a tool that reuses connections pays no extra handshakes, as against a real endpoint.

Usage (standalone): delay_proxy.py UPSTREAM_URL [--latency-ms 20] [--bandwidth-mbps 0] -> prints the proxy URL.
scripts/bench-deploy.py starts it in-process with `start(upstream, latency, bandwidth)`.
Python 3.11 standard library only.
"""
from __future__ import annotations

import argparse
import http.client
import http.server
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "expect", "content-length"}


class Pacer:
    """One bandwidth cap shared by every connection (bytes per second; 0 = none)."""

    def __init__(self, bytes_per_second: float):
        self.rate = bytes_per_second
        self.lock = threading.Lock()
        self.free_at = 0.0

    def pace(self, size: int) -> None:
        if not self.rate or not size:
            return
        with self.lock:
            start = max(time.monotonic(), self.free_at)
            self.free_at = start + size / self.rate
            done = self.free_at
        time.sleep(max(0.0, done - time.monotonic()))


def handler(upstream: urllib.parse.SplitResult, latency: float, pacer: Pacer, stats: dict):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY: an answer goes out as two writes (headers, then body). With Nagle's algorithm the small body
        # waits for the client's delayed ACK of the headers, 40 ms on Linux, so every small answer (an upload's,
        # a conditional write's) cost the tools a stall a bucket's front end does not add.
        disable_nagle_algorithm = True
        upstream_conn: http.client.HTTPConnection | None = None

        def log_message(self, *args) -> None:  # quiet
            pass

        def body(self) -> bytes:
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(parts)
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def forward(self) -> None:
            payload = self.body()
            time.sleep(latency)
            pacer.pace(len(payload))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if payload or self.command in ("PUT", "POST", "PATCH"):
                headers["Content-Length"] = str(len(payload))
            for attempt in range(2):
                if self.upstream_conn is None:
                    self.upstream_conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=300)
                try:
                    self.upstream_conn.request(self.command, self.path, body=payload, headers=headers)
                    response = self.upstream_conn.getresponse()
                    data = response.read()
                    break
                except (http.client.HTTPException, ConnectionError):
                    self.upstream_conn.close()
                    self.upstream_conn = None
                    if attempt:
                        raise
            pacer.pace(len(data))
            with stats["lock"]:
                stats["requests"] += 1
            self.send_response_only(response.status, response.reason)
            own = f"{self.server.server_address[0]}:{self.server.server_address[1]}"
            for key, value in response.getheaders():
                if key.lower() in HOP_BY_HOP and not (self.command == "HEAD" and key.lower() == "content-length"):
                    continue
                if key.lower() == "location":  # resumable uploads name the emulator's own address
                    value = value.replace(upstream.netloc, own)
                self.send_header(key, value)
            if self.command != "HEAD":  # a HEAD answer keeps the object's own length
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = forward

    return Handler


class Proxy:
    def __init__(self, upstream: str, latency_ms: float, bandwidth_mbps: float = 0.0):
        self.stats = {"requests": 0, "lock": threading.Lock()}
        pacer = Pacer(bandwidth_mbps * 1_000_000 / 8)
        target = urllib.parse.urlsplit(upstream)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      handler(target, latency_ms / 1000, pacer, self.stats))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self) -> int:
        return self.stats["requests"]

    def stop(self) -> None:
        self.server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("upstream")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--bandwidth-mbps", type=float, default=0.0)
    args = parser.parse_args()
    proxy = Proxy(args.upstream, args.latency_ms, args.bandwidth_mbps)
    print(proxy.url, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
