#!/usr/bin/env python3
"""Tests for latency_proxy.py: request counting, byte counts and the delay.

Run: python3 benches/test_latency_proxy.py (benches/run.sh --self-check
runs it too).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from latency_proxy import RequestCounter  # noqa: E402

# Three requests for one keep-alive connection. The PUT's body holds what
# looks like a request head, which must not be counted; the POST is chunked
# with a chunk extension and a trailer.
PUT_BODY = b"GET /fake HTTP/1.1\r\n\r\n\r\n"
PUT = b"PUT /data/abc HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
    len(PUT_BODY),
    PUT_BODY,
)
POST = (
    b"POST /keys/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n"
    b"13\r\nHEAD / HTTP/1.1\r\n\r\n\r\n"  # 0x13 = 19 bytes of data
    b"0\r\nX-Trailer: t\r\n\r\n"
)
GET = b"GET /config HTTP/1.1\r\nHost: x\r\n\r\n"
REQUESTS = [PUT, POST, GET]
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class CounterTest(unittest.TestCase):
    def count(self, stream, step):
        seen = []
        c = RequestCounter(seen.append)
        for i in range(0, len(stream), step):
            c.feed(stream[i : i + step])
        return seen

    def test_bodies_are_skipped_in_any_split(self):
        stream = b"".join(REQUESTS)
        for step in (1, 2, 3, 7, 64, len(stream)):
            self.assertEqual(self.count(stream, step), ["PUT", "POST", "GET"], step)


class FakeServer(threading.Thread):
    """Reads the three known requests from one connection, answering each."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.received = b""

    def run(self):
        conn, _ = self.sock.accept()
        self.sock.close()
        with conn:
            for req in REQUESTS:
                want = len(self.received) + len(req)
                while len(self.received) < want:
                    data = conn.recv(want - len(self.received))
                    if not data:
                        return
                    self.received += data
                conn.sendall(RESPONSE)


class ProxyTest(unittest.TestCase):
    def test_three_keepalive_requests_with_bodies(self):
        server = FakeServer()
        server.start()
        delay_ms = 40
        with tempfile.TemporaryDirectory() as tmp:
            stats_path = os.path.join(tmp, "stats.json")
            proxy = subprocess.Popen(
                [
                    sys.executable,
                    os.path.join(HERE, "latency_proxy.py"),
                    "--upstream",
                    f"127.0.0.1:{server.port}",
                    "--stats",
                    stats_path,
                    "--delay-ms",
                    str(delay_ms),
                ]
            )
            try:
                deadline = time.monotonic() + 10
                while not os.path.exists(stats_path):
                    self.assertLess(time.monotonic(), deadline, "proxy did not start")
                    time.sleep(0.02)
                with open(stats_path) as f:
                    port = json.load(f)["port"]
                with socket.create_connection(("127.0.0.1", port)) as c:
                    got = b""
                    times = []
                    for req in REQUESTS:
                        start = time.monotonic()
                        # Split the request so heads straddle reads.
                        for i in range(0, len(req), 11):
                            c.sendall(req[i : i + 11])
                        want = len(got) + len(RESPONSE)
                        while len(got) < want:
                            data = c.recv(4096)
                            self.assertTrue(data, "connection closed early")
                            got += data
                        times.append(time.monotonic() - start)
                server.join(5)
                proxy.send_signal(signal.SIGTERM)
                proxy.wait(10)
                with open(stats_path) as f:
                    stats = json.load(f)
            finally:
                if proxy.poll() is None:
                    proxy.kill()
                    proxy.wait()
        self.assertEqual(server.received, b"".join(REQUESTS))
        self.assertEqual(got, RESPONSE * 3)
        self.assertEqual(stats["requests"], 3)
        self.assertEqual(stats["methods"], {"PUT": 1, "POST": 1, "GET": 1})
        self.assertEqual(stats["bytes_up"], len(b"".join(REQUESTS)))
        self.assertEqual(stats["bytes_down"], len(RESPONSE) * 3)
        self.assertEqual(stats["connections"], 1)
        # Each round trip pays the delay both ways; the first also pays
        # the emulated handshake.
        rtt = 2 * delay_ms / 1000
        self.assertGreaterEqual(times[0], 2 * rtt * 0.95)
        for t in times[1:]:
            self.assertGreaterEqual(t, rtt * 0.95)


if __name__ == "__main__":
    unittest.main()
