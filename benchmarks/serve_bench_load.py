"""The load generator of benchmarks/serve_bench.py: keep-alive HTTP/1.1 connections on uvloop, one request in
flight per connection, stopping after a request budget or a time limit."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass
class Cell:
    n: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu_s: float = 0.0

    @property
    def rps(self) -> float:
        return self.n / self.seconds

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s / max(1, self.n) * 1e3

    def pct(self, q: float) -> float:
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * len(s)))] * 1e3


async def _conn(port: int, request: bytes, stop_at: float, budget: list[int], lat: list[float], err: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.perf_counter() < stop_at:
            budget[0] -= 1
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = None
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length is not None:
                await reader.readexactly(length)
            else:
                await _read_chunked(reader)
            lat.append(time.perf_counter() - t)
            if not head.startswith(b"HTTP/1.1 200"):
                err[0] += 1
    finally:
        writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


def drive(
    port: int, path: str, body: bytes, concurrency: int, requests_max: int, seconds: float, headers: dict[str, str]
) -> Cell:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n{head}content-length: {len(body)}\r\n\r\n").encode() + body

    async def run(n: int, limit: float) -> Cell:
        lat: list[float] = []
        err = [0]
        budget = [n]
        start = time.perf_counter()
        await asyncio.gather(*(_conn(port, request, start + limit, budget, lat, err) for _ in range(concurrency)))
        return Cell(len(lat), err[0], time.perf_counter() - start, lat)

    import uvloop

    return uvloop.run(run(requests_max, seconds))
