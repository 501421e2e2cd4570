"""A load generator for `make bench`: N concurrent HTTPS clients with a client certificate.

Runs in its own process (never inside the server's). Prints one JSON line with the request count,
elapsed time, latency percentiles and error count.

    python -m bench.loadgen URL --cacert C --cert C --key K --mode append|read --clients 64 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time

import aiohttp


async def run(args: argparse.Namespace) -> dict[str, object]:
    ctx = ssl.create_default_context(cafile=args.cacert)
    ctx.load_cert_chain(args.cert, args.key)
    connector = aiohttp.TCPConnector(limit=args.clients, ssl=ctx)
    latencies: list[float] = []
    errors = 0
    body = json.dumps({"contents": "x" * args.size}).encode()
    headers = {"Content-Type": "application/json"}
    deadline = time.perf_counter() + args.seconds
    read_path = args.read_path

    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(k: int) -> None:
            nonlocal errors
            n = 0
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    if args.mode == "append":
                        async with session.post(
                            args.url + "/app/transactions", data=body, headers=headers
                        ) as resp:
                            await resp.read()
                            ok = resp.status == 200
                    else:
                        async with session.get(args.url + read_path) as resp:
                            await resp.read()
                            ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                if not ok:
                    errors += 1
                n += 1

        start, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client(k) for k in range(args.clients)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "cpu_seconds": cpu,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url")
    p.add_argument("--cacert", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--mode", choices=["append", "read"], required=True)
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--size", type=int, default=100, help="contents bytes per append")
    p.add_argument("--read-path", default="/app/transactions/1.1")
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(run(args))))
    else:
        print(json.dumps(uvloop.run(run(args))))


if __name__ == "__main__":
    main()
