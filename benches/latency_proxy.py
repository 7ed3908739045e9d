#!/usr/bin/env python3
"""A TCP proxy that emulates a WAN link and counts HTTP/1.1 traffic.

The benchmark puts it between a backup tool and a REST or S3 server on
127.0.0.1 so every tool sees the same link:

* each direction is delayed by --delay-ms without limiting throughput: bytes
  are queued with the time they arrived and written when that time plus the
  delay has passed, so many bytes can be in flight (no stop-and-wait);
* a new connection costs one extra round trip before its first byte reaches
  the server (the TCP handshake of a real link);
* the client-to-server stream of every connection is parsed as HTTP/1.1
  request heads and bodies (Content-Length and chunked, keep-alive) to count
  requests by method; bytes are counted in each direction.

Counts go to the JSON file --stats as {"port", "requests", "methods",
"bytes_up", "bytes_down", "connections", "cpu_seconds"} (the last is the
proxy's own CPU time, which it takes from the machine): written once when listening (so a
caller learns the port and knows the proxy is ready), every second, and on
SIGTERM or SIGINT, after which the proxy exits. No HTTP control endpoint
exists, so nothing the proxy serves is ever counted by mistake.

Usage: latency_proxy.py --upstream HOST:PORT --stats FILE
                        [--port P] [--delay-ms MS]
"""
import argparse
import asyncio
import json
import os
import signal
import time

READ_SIZE = 1 << 20
# Bytes one direction of one connection may hold in flight, like a TCP
# window: 32 MiB per 15 ms is over 2 GB/s, so it never limits throughput,
# but a slow server makes the client wait instead of filling our memory.
WINDOW = 32 << 20


class RequestCounter:
    """Counts HTTP/1.1 requests in a client-to-server byte stream.

    Fed arbitrary slices of the stream; finds each request head, then skips
    its body (Content-Length bytes, or chunked until the last chunk and its
    trailers) so bytes inside bodies are never mistaken for heads.
    """

    MAX_HEAD = 1 << 20

    def __init__(self, on_request):
        self.on_request = on_request
        self.buf = b""
        self.state = "head"  # head | body | chunk_size | chunk_data | trailer
        self.remaining = 0
        self.broken = False

    def feed(self, data):
        """Consumes the next bytes of the stream."""
        if self.broken:
            return
        self.buf += data
        while self.buf and not self.broken:
            if not self._step():
                break
        if len(self.buf) > self.MAX_HEAD:
            # Not HTTP (or a head larger than any real client sends): stop
            # counting this connection rather than buffer without bound.
            self.broken = True
            self.buf = b""

    def _step(self):
        """Advances over one unit; returns False when more bytes are needed."""
        if self.state == "head":
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return False
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            self._on_head(head)
            return True
        if self.state in ("body", "chunk_data"):
            take = min(self.remaining, len(self.buf))
            self.buf = self.buf[take:]
            self.remaining -= take
            if self.remaining:
                return False
            self.state = "head" if self.state == "body" else "chunk_size"
            return True
        # chunk_size and trailer are line-based.
        end = self.buf.find(b"\r\n")
        if end < 0:
            return False
        line, self.buf = self.buf[:end], self.buf[end + 2 :]
        if self.state == "trailer":
            if not line:
                self.state = "head"
            return True
        if not line:  # the CRLF after a chunk's data
            return True
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            self.broken = True
            return False
        if size == 0:
            self.state = "trailer"
        else:
            self.state, self.remaining = "chunk_data", size
        return True

    def _on_head(self, head):
        lines = head.split(b"\r\n")
        # Tolerate stray CRLFs between requests (RFC 9112, 2.2).
        while lines and not lines[0]:
            lines.pop(0)
        if not lines:
            return
        method = lines[0].split(b" ", 1)[0].decode("ascii", "replace")
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    self.broken = True
                    return
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        self.on_request(method)
        if chunked:
            self.state = "chunk_size"
        elif length > 0:
            self.state, self.remaining = "body", length


class Stats:
    """Totals over all connections, written to a JSON file."""

    def __init__(self, path):
        self.path = path
        self.port = 0
        self.requests = 0
        self.methods = {}
        self.bytes_up = 0
        self.bytes_down = 0
        self.connections = 0

    def count_request(self, method):
        """Records one request head with its method."""
        self.requests += 1
        self.methods[method] = self.methods.get(method, 0) + 1

    def write(self):
        """Replaces the stats file atomically."""
        data = {
            "port": self.port,
            "requests": self.requests,
            "methods": self.methods,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "connections": self.connections,
            "cpu_seconds": round(time.process_time(), 3),
        }
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, self.path)


async def pump(reader, writer, delay, not_before, on_data):
    """Copies reader to writer, each chunk delayed by `delay` seconds.

    A reader task queues (arrival time, bytes); this writer loop sleeps until
    each chunk is due, so throughput is not limited by the delay. No chunk is
    delivered before the monotonic time `not_before`. At most WINDOW bytes
    wait in the queue.
    """
    queue = asyncio.Queue()
    window = asyncio.Condition()
    queued = 0

    async def read():
        nonlocal queued
        try:
            while True:
                async with window:
                    await window.wait_for(lambda: queued < WINDOW)
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                on_data(data)
                queued += len(data)
                queue.put_nowait((time.monotonic(), data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((time.monotonic(), None))

    reading = asyncio.ensure_future(read())
    try:
        while True:
            arrived, data = await queue.get()
            due = max(arrived + delay, not_before)
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if writer.can_write_eof():
                    writer.write_eof()
                break
            writer.write(data)
            await writer.drain()
            queued -= len(data)
            async with window:
                window.notify_all()
    except (ConnectionError, OSError):
        pass
    finally:
        reading.cancel()


async def handle(client_r, client_w, upstream, delay, stats):
    """Serves one client connection through its own upstream connection."""
    stats.connections += 1
    host, port = upstream
    # A real connection's first byte arrives after the handshake's round
    # trip plus its own one-way delay.
    first_up = time.monotonic() + 3 * delay
    try:
        server_r, server_w = await asyncio.open_connection(host, port)
    except OSError:
        client_w.close()
        return
    counter = RequestCounter(stats.count_request)

    def up(data):
        stats.bytes_up += len(data)
        counter.feed(data)

    def down(data):
        stats.bytes_down += len(data)

    try:
        await asyncio.gather(
            pump(client_r, server_w, delay, first_up, up),
            pump(server_r, client_w, delay, 0.0, down),
        )
    except asyncio.CancelledError:
        pass  # the proxy is stopping
    for w in (server_w, client_w):
        try:
            w.close()
        except OSError:
            pass


async def serve(args):
    """Runs until SIGTERM/SIGINT, writing stats every second and at the end."""
    host, _, port = args.upstream.rpartition(":")
    upstream = (host or "127.0.0.1", int(port))
    delay = args.delay_ms / 1000.0
    stats = Stats(args.stats)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, upstream, delay, stats), "127.0.0.1", args.port
    )
    stats.port = server.sockets[0].getsockname()[1]
    stats.write()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except asyncio.TimeoutError:
            stats.write()
    server.close()
    stats.write()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="server HOST:PORT")
    ap.add_argument("--stats", required=True, help="JSON file for the counts")
    ap.add_argument("--port", type=int, default=0, help="listening port (0: any)")
    ap.add_argument("--delay-ms", type=float, default=15.0, help="delay each way")
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
