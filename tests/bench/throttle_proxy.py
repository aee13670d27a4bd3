#!/usr/bin/env python3
"""A TCP forwarder whose answers share one bandwidth limit: what a remote
upstream registry looks like from a mirror (mirror_bench.sh). Not a test.

    throttle_proxy.py LISTEN_PORT TARGET_PORT MEGABYTES_PER_SECOND

Listens on 127.0.0.1:LISTEN_PORT and forwards every connection to
127.0.0.1:TARGET_PORT. Bytes from the target to the clients, summed over
all connections, pass at most MEGABYTES_PER_SECOND (10^6 bytes) a second
(a token bucket with a 256 KiB burst); requests pass unlimited. Prints
"ready" once it listens.
"""

import asyncio
import sys
import time

CHUNK = 64 * 1024
BURST = 256 * 1024


class Bucket:
    def __init__(self, rate):
        self.rate = rate
        self.tokens = BURST
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, count):
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(BURST, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= count:
                    self.tokens -= count
                    return
                await asyncio.sleep((count - self.tokens) / self.rate)


async def pump(reader, writer, bucket):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if bucket is not None:
                await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    listen_port, target_port, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    bucket = Bucket(rate * 1e6)

    async def handle(client_reader, client_writer):
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pump(client_reader, target_writer, None),
                             pump(target_reader, client_writer, bucket))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
