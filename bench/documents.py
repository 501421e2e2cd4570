"""Immutable documents through the S3 API with boto3, beside raw file I/O (part of `make bench`).

A real ``accord serve`` (its S3 API, HTTPS with the service certificate) and a boto3 client in
this process share the 2-core machine. PUT: ``put_object`` of a file (boto3's defaults, so an
aws-chunked body with a CRC32 trailer); each answer comes after the bytes are fsync'd and the
version's ledger record is durable. GET: ``get_object`` read to the end, from the disk (the
stored files are evicted from the page cache first). 1 MiB objects go 8 at a time, 256 MiB ones
one at a time. Baselines, measured in the same run on the same disk with the same concurrency:
writing the same bytes to files in 1 MiB writes and fsync'ing each (raw write), and reading them
back after evicting them from the page cache (raw read).
Memory: the server's RSS, sampled every 20 ms, while boto3's ``upload_file`` sends a 2 GiB file
(multipart, 8 MiB parts, 10 threads), compared with its RSS when idle just before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
THREADS = 8  # concurrent requests for small objects (boto3's transfer manager uses 10)


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _write_file(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(block)


def _raw_write(src: Path, dst: Path) -> float:
    """Seconds to write ``src``'s bytes to ``dst`` in 1 MiB writes, fsync'd (bytes in memory)."""
    data = src.read_bytes()
    start = time.perf_counter()
    with open(dst, "wb") as f:
        view = memoryview(data)
        for i in range(0, len(data), MiB):
            f.write(view[i : i + MiB])
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - start


def _raw_read(path: Path) -> float:
    _evict(path)
    start = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(MiB):
            pass
    return time.perf_counter() - start


def _evict(path: Path) -> None:
    """Drop a file's pages from the page cache, so the next read comes from the disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _parallel(count: int, threads: int, work: Any) -> float:
    """Seconds to run ``work(i)`` for every i < count on ``threads`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(count)))
    return time.perf_counter() - start


def _measure(
    s3: Any, ceiling: Any, tmp: Path, data: Path, size_mib: int, count: int
) -> dict[str, Any]:
    size = size_mib * MiB
    src = tmp / f"doc-{size_mib}.bin"
    _write_file(src, size)
    _log(f"documents: {count} PUT/GET of {size_mib} MiB")
    threads = THREADS if size_mib == 1 else 1
    # distinct bytes per object: no deduplication flatters the figures
    bodies = []
    for i in range(count):
        path = tmp / f"doc-{size_mib}-{i}.bin"
        with open(src, "rb") as fin, open(path, "wb") as fout:
            fout.write(i.to_bytes(8, "big"))
            fin.seek(8)
            while chunk := fin.read(MiB):
                fout.write(chunk)
        bodies.append(path)
    raw_dir = tmp / "raw"
    raw_dir.mkdir(exist_ok=True)
    raw_w = _parallel(count, threads, lambda i: _raw_write(bodies[i], raw_dir / f"{size_mib}-{i}"))
    raw_r = _parallel(count, threads, lambda i: _raw_read(raw_dir / f"{size_mib}-{i}"))
    shutil.rmtree(raw_dir)

    def put(i: int) -> None:
        with open(bodies[i], "rb") as body:
            s3.put_object(Bucket="bench", Key=f"{size_mib}/{i}", Body=body)

    def get(i: int) -> None:
        stream = s3.get_object(Bucket="bench", Key=f"{size_mib}/{i}")["Body"]
        got = 0
        for chunk in stream.iter_chunks(MiB):
            got += len(chunk)
        if got != size:
            raise RuntimeError(f"GET returned {got} bytes, not {size}")

    put_s = _parallel(count, threads, put) / count
    for blob in (data / "documents" / "blobs").glob("*/*"):
        _evict(blob)  # the server reads from the disk too
    get_s = _parallel(count, threads, get) / count

    def put_ceiling(i: int) -> None:
        with open(bodies[i], "rb") as body:
            ceiling.put_object(Bucket="bench", Key=f"{size_mib}/{i}", Body=body)

    def get_ceiling(i: int) -> None:
        stream = ceiling.get_object(Bucket="bench", Key=f"{size_mib}/{i}")["Body"]
        for _ in stream.iter_chunks(MiB):
            pass

    ceiling_put_s = _parallel(count, threads, put_ceiling) / count
    ceiling_get_s = _parallel(count, threads, get_ceiling) / count
    raw_w /= count
    raw_r /= count
    for path in bodies:
        path.unlink()
    src.unlink()
    return {
        "mib": size_mib,
        "count": count,
        "threads": threads,
        "put_mib_s": size_mib / put_s,
        "get_mib_s": size_mib / get_s,
        "raw_write_mib_s": size_mib / raw_w,
        "raw_read_mib_s": size_mib / raw_r,
        "ceiling_put_mib_s": size_mib / ceiling_put_s,
        "ceiling_get_mib_s": size_mib / ceiling_get_s,
    }


def documents_section(tmp: Path, root: Path, scale: float) -> dict[str, Any]:
    import boto3
    import psutil
    from botocore.config import Config

    from accord.datadir import init_data_dir

    data = init_data_dir(tmp / "documents-data", name="bench.test/documents").path
    keys = subprocess.run(
        [
            sys.executable,
            "-m",
            "accord.cli.main",
            "documents",
            "keys",
            "create",
            "--data",
            str(data),
            "--user",
            str(data / "admin.crt"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(root / "src")),
    )
    key = json.loads(keys.stdout)
    server = subprocess.Popen(
        [sys.executable, "-m", "accord.cli.main", "serve", "--data", str(data), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(root / "src")),
    )
    try:
        assert server.stderr is not None
        server.stderr.readline()
        s3_line = server.stderr.readline()
        port = int(s3_line.rsplit(":", 1)[1])
        threading.Thread(target=server.stderr.read, daemon=True).start()
        s3 = boto3.client(
            "s3",
            endpoint_url=f"https://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id=key["access_key_id"],
            aws_secret_access_key=key["secret_access_key"],
            verify=str(data / "service.crt"),
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        )
        s3.create_bucket(Bucket="bench", ObjectLockEnabledForBucket=True)
        minimal = subprocess.Popen(
            [sys.executable, "-m", "bench.minimal_s3", str(data)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(root),
            env=dict(os.environ, PYTHONPATH=str(root / "src") + os.pathsep + str(root)),
        )
        assert minimal.stdout is not None
        ceiling = boto3.client(
            "s3",
            endpoint_url=f"https://127.0.0.1:{int(minimal.stdout.readline())}",
            region_name="us-east-1",
            aws_access_key_id=key["access_key_id"],
            aws_secret_access_key=key["secret_access_key"],
            verify=str(data / "service.crt"),
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        )
        results: dict[str, Any] = {"sizes": []}
        for size_mib, count in ((1, max(10, int(100 * scale))), (256, max(2, int(4 * scale)))):
            results["sizes"].append(_measure(s3, ceiling, tmp, data, size_mib, count))
        big_mib = max(256, int(2048 * min(scale, 1.0)))
        big = tmp / "big.bin"
        _write_file(big, big_mib * MiB)
        proc = psutil.Process(server.pid)
        time.sleep(0.5)
        idle = proc.memory_info().rss
        peak = idle
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, proc.memory_info().rss)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _log(f"documents: upload_file of {big_mib} MiB, sampling the server's RSS")
        start = time.perf_counter()
        s3.upload_file(str(big), "bench", "big")
        upload_s = time.perf_counter() - start
        done.set()
        sampler.join()
        head = s3.head_object(Bucket="bench", Key="big")
        if head["ContentLength"] != big_mib * MiB:
            raise RuntimeError("the big upload stored the wrong size")
        big.unlink()
        results["big"] = {
            "mib": big_mib,
            "idle_mb": idle / 1e6,
            "peak_mb": peak / 1e6,
            "upload_mib_s": big_mib / upload_s,
        }
        return results
    finally:
        server.terminate()
        server.wait(timeout=60)
        if minimal is not None:
            minimal.terminate()
            minimal.wait(timeout=60)


def report_lines(r: dict[str, Any]) -> list[str]:
    lines = [
        "## Immutable documents through the S3 API (boto3, HTTPS)",
        "",
        "A real `accord serve` and a boto3 client (default settings: aws-chunked bodies with a",
        "CRC32 trailer) share the machine. A PUT is answered once the bytes are fsync'd and the",
        "version's ledger record is durable; a GET reads to the end, from the disk (stored files",
        "evicted from the page cache first). Baselines from the same run, disk and concurrency:",
        "the same bytes written to files in 1 MiB writes and fsync'd (raw write), and read back",
        "after eviction from the page cache (raw read).",
        "",
        "| object | objects | concurrent | PUT MiB/s | raw write MiB/s | PUT / raw | GET MiB/s | raw read MiB/s | GET / raw |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r["sizes"]:
        lines.append(
            f"| {s['mib']} MiB | {s['count']} | {s['threads']} | {s['put_mib_s']:,.0f} | {s['raw_write_mib_s']:,.0f} | "
            f"**{s['put_mib_s'] / s['raw_write_mib_s']:.2f}** | {s['get_mib_s']:,.0f} | "
            f"{s['raw_read_mib_s']:,.0f} | **{s['get_mib_s'] / s['raw_read_mib_s']:.2f}** |"
        )
    lines += [
        "",
        "A ceiling for this stack: the same boto3 calls against `bench/minimal_s3.py`, a server",
        "with the same framework (aiohttp) and TLS that does nothing (no signature check, no",
        "hashing, no disk, no ledger). A Python HTTPS server cannot give this client more on this",
        "machine; a server in a compiled language would leave the client more of the two cores:",
        "",
        "| object | ceiling PUT MiB/s | PUT / ceiling | ceiling PUT / raw write | ceiling GET MiB/s | GET / ceiling | ceiling GET / raw read |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in r["sizes"]:
        lines.append(
            f"| {s['mib']} MiB | {s['ceiling_put_mib_s']:,.0f} | "
            f"{s['put_mib_s'] / s['ceiling_put_mib_s']:.2f} | "
            f"{s['ceiling_put_mib_s'] / s['raw_write_mib_s']:.2f} | "
            f"{s['ceiling_get_mib_s']:,.0f} | {s['get_mib_s'] / s['ceiling_get_mib_s']:.2f} | "
            f"{s['ceiling_get_mib_s'] / s['raw_read_mib_s']:.2f} |"
        )
    b = r["big"]
    lines += [
        "",
        f"(target ≥ 0.5× raw file I/O.) Server memory during a {b['mib']:,} MiB `upload_file` "
        f"(multipart, {b['upload_mib_s']:,.0f} MiB/s): idle {b['idle_mb']:.0f} MB, peak "
        f"{b['peak_mb']:.0f} MB, **{b['peak_mb'] - b['idle_mb']:.0f} MB above idle** "
        "(target: flat, under 100 MB above idle).",
    ]
    return lines


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="accord-docbench-") as t:
        out = documents_section(
            Path(t),
            Path(__file__).resolve().parents[1],
            float(os.environ.get("ACCORD_BENCH_SCALE", "1.0")),
        )
        print("\n".join(report_lines(out)))
