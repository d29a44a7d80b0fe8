"""Webhook benchmark: how many texts a second the hub's web app takes from Twilio, and how fast it answers.

    python3 bench/webhook.py [--seconds S] [--concurrency C] [--database sqlite|postgresql] [--senders N]

Two servers, each in its own process on a loopback port, measured one after the other by the same load
generator (this process, asyncio, C keep-alive connections, each sending its next request as soon as the
last is answered):
  minimal   a Starlette app under uvicorn (the same uvicorn settings as the hub's) answering POST
            /twilio/sms with empty TwiML after reading the body: the floor of the web stack itself.
  hub       `hub web` on a fresh office (SQLite file, or a throwaway PostgreSQL database): each request
            checked (signature, the fields of a text), the text filed through the intake path in one
            transaction (a new case for a new sender, an acknowledgement queued), then answered.
Every request is a text Twilio would send: a unique MessageSid, one of N senders, signed with the account's
token by the twilio library's RequestValidator (signing is done before the clock starts). Afterwards the hub
must hold exactly one message per 200 it answered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from hub.core.models import Message  # noqa: E402
from tests.helpers import make_office  # noqa: E402
from tests.hub_process import HubProcess  # noqa: E402
from tests.postgres import PostgresDatabases  # noqa: E402

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = secrets.token_hex(16)
TOKEN_ENV = "HUB_BENCH_TWILIO_TOKEN"
OFFICE_NUMBER = "+15555550100"
PUBLIC_URL = "https://hub.example.gov/twilio/sms"
MINIMAL = """
import socket, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
async def sms(request):
    await request.body()
    return Response(TWIML, 200, {"Content-Type": "text/xml"})
app = Starlette(routes=[Route("/twilio/sms", sms, methods=["POST"])])
sock = socket.socket(); sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); sock.bind(("127.0.0.1", 0))
sock.listen(2048)
print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, server_header=False, lifespan="off",
                              timeout_keep_alive=5)).run(sockets=[sock])
"""


def signed_requests(count: int, senders: int) -> list[bytes]:
    """`count` whole HTTP requests, each a different text from one of `senders` numbers."""
    validator = RequestValidator(TOKEN)
    requests = []
    for n in range(count):
        sid = "SM" + secrets.token_hex(16)
        form = {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
                "Body": f"Text {n}: my benefits letter has not come and I need help", "To": OFFICE_NUMBER,
                "NumSegments": "1", "MessageSid": sid, "AccountSid": ACCOUNT,
                "From": f"+1919555{n % senders:04d}", "ApiVersion": "2010-04-01"}
        body = urlencode(form).encode()
        head = (f"POST /twilio/sms HTTP/1.1\r\nHost: hub.example.gov\r\nContent-Type: application/x-www-form-urlencoded"
                f"\r\nX-Twilio-Signature: {validator.compute_signature(PUBLIC_URL, form)}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n")
        requests.append(head.encode() + body)
    return requests


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def quantile(self, q: float) -> float:
        """In milliseconds."""
        cuts = sorted(self.latencies)
        return cuts[min(len(cuts) - 1, int(len(cuts) * q))] * 1000 if cuts else 0.0

    def p99(self) -> float:
        return self.quantile(0.99)

    def line(self, name: str) -> str:
        ok = self.statuses.get(200, 0)
        cuts = self.latencies
        p50, p99 = self.quantile(0.50), self.p99()
        others = {status: n for status, n in self.statuses.items() if status != 200}
        return (f"{name:8} {ok / self.seconds:8.1f} texts/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
                f"({ok} answered 200 in {self.seconds:.1f} s; mean {statistics.fmean(cuts) * 1000:.1f} ms"
                + (f"; other answers {others}" if others else "") + ")")


async def client(port: int, requests: list[bytes], deadline: float, run: Run) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while requests and time.perf_counter() < deadline:
            sent = requests.pop()
            started = time.perf_counter()
            writer.write(sent)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            run.latencies.append(time.perf_counter() - started)
            status = int(head.split(b" ", 2)[1])
            run.statuses[status] = run.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def load(port: int, requests: list[bytes], seconds: float, concurrency: int) -> Run:
    run = Run()
    started = time.perf_counter()
    await asyncio.gather(*(client(port, requests, started + seconds, run) for _ in range(concurrency)))
    run.seconds = time.perf_counter() - started
    return run


def port_of(start: str) -> int:
    return int(start.split()[2].rpartition(":")[2])


def measure_minimal(args: argparse.Namespace, requests: list[bytes]) -> Run:
    server = subprocess.Popen([sys.executable, "-c", MINIMAL], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = port_of(server.stdout.readline())
        return asyncio.run(load(port, requests, args.seconds, args.concurrency))
    finally:
        server.terminate()
        server.wait(30)


def measure_hub(args: argparse.Namespace, requests: list[bytes], folder: Path, url: str) -> tuple[Run, int]:
    hub = make_office(folder / "office", url, tables='\n[web]\nlisten = "127.0.0.1:0"\n', sms={
        "account_sid": ACCOUNT, "number": OFFICE_NUMBER, "auth_token_env": TOKEN_ENV, "webhook_url": PUBLIC_URL,
        "poll": False})
    process = HubProcess(hub.config.path, folder / "web.log", {TOKEN_ENV: TOKEN}, verbose=False, command=("web",))
    try:
        run = asyncio.run(load(port_of(process.wait_for_start()), requests, args.seconds, args.concurrency))
        code, _ = process.stop()
        assert code == 0, process.stderr()
        with hub.sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Message).where(Message.direction == "in")) or 0
        return run, stored
    finally:
        process.close()
        hub.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--senders", type=int, default=300)
    args = parser.parse_args()
    postgres = PostgresDatabases() if args.database == "postgresql" else None
    print(f"{args.seconds:.0f} s at concurrency {args.concurrency}, {args.database}, {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f} before", flush=True)
    try:
        with tempfile.TemporaryDirectory() as folder:
            url = postgres.fresh() if postgres else f"sqlite:///{Path(folder) / 'hub.db'}"
            minimal = measure_minimal(args, signed_requests(120_000, args.senders))
            print(minimal.line("minimal"), flush=True)
            hub, stored = measure_hub(args, signed_requests(20_000, args.senders), Path(folder), url)
            print(hub.line("hub"))
    finally:
        if postgres:
            postgres.drop_all()
    ok = hub.statuses.get(200, 0)
    rate = ok / hub.seconds / (minimal.statuses.get(200, 0) / minimal.seconds)
    print(f"ratio hub/minimal: {rate:.3f} of the texts a second, {hub.p99() / minimal.p99():.1f} times the p99; "
          f"load average {os.getloadavg()[0]:.2f} after")
    assert stored == ok, f"the hub answered 200 for {ok} texts but holds {stored}"
    print(f"every text answered 200 is stored once ({stored})")


if __name__ == "__main__":
    main()
