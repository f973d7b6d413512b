"""Resilience of `maplexp serve` (platform spec 2.3.1, 2.3.2, 3.3-3.6, 4.1, 4.2), end to end against the
fake Nexon upstream:

1. single-flight: 1,000 truly concurrent E02 requests for one cold character cost exactly one upstream
   call per endpoint and one computation; 200 concurrent E01 requests cost one /id call;
2. upstream outage: warm keys still served, cold keys 503 S005 + Retry-After, the nexonApi breaker opens
   after an exact number of failures, stops upstream calls while open, and closes again after recovery;
3. stale serving: with the upstream down, a key past its freshness window is answered from the stale L1
   entry or from the stored equipment snapshot, marked `X-Data-Stale: true`;
4. admission: a full compute queue rejects at once with 503 S007 + Retry-After: 60 (counted), while the
   warm fast path and the actuator endpoints stay fast;
5. SIGTERM under load: every request sent before the signal is answered 200, readiness turns DRAINING,
   exit 0 with nothing pending, and the derived data is in the SQLite file for the next process;
6. clients disconnecting while their computation runs: no crash, no leak, the work still completes;
7. a stalled client blocks nobody and is cut after HTTP_TIMEOUT_S.

Every test starts its own fake and service (harness.py) and, when it stops the service, checks exit status
0 and a sanitizer-clean stderr. Concurrency uses raw HTTP/1.1 over asyncio connections so that the
requests really are in flight together; waits poll conditions with deadlines."""
import asyncio
import contextlib
import hashlib
import json
import os
import re
import resource
import signal
import socket
import sqlite3
import struct
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from harness import ROOT, FakeNexon, Service, wait_until

HOST = "127.0.0.1"
ID = "/maplestory/v1/id"
BASIC = "/maplestory/v1/character/basic"
EQUIP = "/maplestory/v1/character/item-equipment"
V4 = "/api/v4/characters/{}/expectation"
V1 = "/api/v1/characters/{}"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:")


def _sanitized_build() -> bool:
    path = os.environ.get("MAPLEXP_BIN", str(ROOT / "build" / "release" / "maplexp"))
    try:
        return b"__asan_init" in Path(path).read_bytes()
    except OSError:
        return False


ASAN = _sanitized_build()
FAST_S = 0.3 if ASAN else 0.1  # "answers quickly" bound for the fast path and the actuator endpoints


def ocid_of(name: str) -> str:
    """The fake's ocid (tools/fake-nexon/README.md)."""
    return hashlib.sha256(("ocid:" + name).encode()).hexdigest()[:32]


def raise_fd_limit(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= want, "cannot open enough sockets for this test"


# ---- service lifecycle ------------------------------------------------------------------------------------

@pytest.fixture
def fake():
    f = FakeNexon()
    yield f
    f.stop()


def assert_clean_exit(svc: Service, code: int) -> None:
    assert code == 0, f"exit status {code}; stderr:\n{svc.stderr[-4000:]}"
    for marker in SANITIZER_MARKERS:
        assert marker not in svc.stderr, svc.stderr[-8000:]


@contextlib.contextmanager
def serving(fake_nexon, **env):
    """A service for the body of a with-block; stopped by SIGTERM afterwards and checked clean."""
    svc = Service(fake_nexon, **env)
    try:
        yield svc
    except BaseException as e:
        stop_after_failure(svc, e)
        raise
    assert_clean_exit(svc, svc.stop())


def stop_after_failure(svc: Service, error: BaseException) -> None:
    """Stops a service whose test failed; when the service had died, its stderr is the real error."""
    if getattr(svc, "stderr", None) is not None:
        return  # already stopped
    crashed = svc.proc.poll() is not None
    code = svc.stop()
    if crashed:
        raise AssertionError(f"the service died (exit {code}):\n{svc.stderr[-6000:]}") from error


# ---- metrics ----------------------------------------------------------------------------------------------

_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_in(text: str, name: str, **labels) -> float:
    """Sum of the samples of `name` in an exposition text whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        metric_name, _, label_text = head.partition("{")
        if metric_name != name:
            continue
        have = dict(_LABEL.findall(label_text))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            total += float(value)
    return total


# ---- raw HTTP/1.1 over asyncio ----------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes
    sent: float = 0.0
    done: float = 0.0
    error: str = ""

    def json(self):
        return json.loads(self.body)


def http_request(path: str, keep_alive: bool = False, method: str = "GET") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n").encode()


async def read_reply(reader: asyncio.StreamReader) -> Reply:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
    assert "content-length" in headers, head  # evhttp answers with a length, never chunked
    body = await reader.readexactly(int(headers["content-length"]))
    return Reply(status, headers, body)


async def fetch(port: int, path: str) -> Reply:
    """One request on its own connection, timed from before the connect to the last body byte."""
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(http_request(path))
        await writer.drain()
        reply = await asyncio.wait_for(read_reply(reader), 60)
    finally:
        writer.close()
    reply.sent, reply.done = t0, time.monotonic()
    return reply


async def open_and_send(port: int, paths: list) -> list:
    """Opens one connection per path (all open at once), then writes every request; returns the
    (reader, writer, sent_time) triples."""
    conns = await asyncio.gather(*(asyncio.open_connection(HOST, port) for _ in paths))
    sent = []
    for (reader, writer), path in zip(conns, paths):
        writer.write(http_request(path))
        sent.append((reader, writer, time.monotonic()))
    await asyncio.gather(*(w.drain() for _, w, _ in sent))
    return sent


async def collect(reader, writer, sent: float, digest=None) -> Reply:
    """Reads one reply (optionally replacing the body by digest(body) to keep memory small)."""
    try:
        reply = await asyncio.wait_for(read_reply(reader), 60)
    except Exception as e:  # noqa: BLE001 - recorded and asserted on by the caller
        reply = Reply(0, {}, b"", error=repr(e))
    finally:
        writer.close()
    reply.sent, reply.done = sent, time.monotonic()
    if digest and reply.status == 200:
        reply.body = digest(reply.body)
    return reply


async def until(predicate, timeout: float, message: str):
    """wait_until for coroutines: predicate() runs in a thread (it may block on HTTP)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        await asyncio.sleep(0.02)


def error_code(r: requests.Response) -> str:
    return r.json().get("code", "")


# ---- 1. single-flight ------------------------------------------------------------------------------------

def normalize_v4(body: bytes):
    """(from_cache, sha256 of the body with fromCache blanked) of a V4 body."""
    is_false = body.count(b'"fromCache":false')
    is_true = body.count(b'"fromCache":true')
    assert is_false + is_true == 1, body[:300]
    blanked = body.replace(b'"fromCache":false', b'"fromCache":_').replace(b'"fromCache":true', b'"fromCache":_')
    return (is_true == 1, hashlib.sha256(blanked).hexdigest())


def test_single_flight_1000_concurrent_v4_requests_for_one_cold_character(fake):
    raise_fd_limit(4096)
    name = "gen7000001"
    with serving(fake) as svc:
        fake.fault(path=EQUIP, latency_ms=300)  # the flight lasts while all the requests arrive

        async def burst():
            sent = await open_and_send(svc.port, [V4.format(name)] * 1000)
            return await asyncio.gather(*(collect(r, w, t, normalize_v4) for r, w, t in sent))

        replies = asyncio.run(burst())
        failed = [(r.status, r.error) for r in replies if r.status != 200]
        assert not failed, f"{len(failed)} of 1000 not 200, e.g. {failed[:5]}"
        calls = fake.calls()
        assert calls["paths"][EQUIP] == 1, calls
        assert calls["paths"][ID] == 1, calls
        assert calls["paths"][BASIC] == 1, calls
        assert calls["total"] == 3, calls
        flags = [r.body[0] for r in replies]
        assert flags.count(False) == 1 and flags.count(True) == 999, "exactly one response computed it"
        assert len({r.body[1] for r in replies}) == 1, "bodies differ beyond fromCache"
        text = svc.metrics_text()
        assert metric_in(text, "expectation_computations_total", trigger="v4") == 1
        assert metric_in(text, "singleflight_total", cache="expectationV4", role="leader") == 1
        followers = metric_in(text, "singleflight_total", cache="expectationV4", role="local_follower")
        l1_hits = metric_in(text, "cache_requests_total", cache="expectationV4", layer="l1", result="hit")
        assert followers + l1_hits == 999, (followers, l1_hits)
        # The test only means something if the requests overlapped the flight.
        assert followers >= 500, f"only {followers} requests joined the flight: the burst was not concurrent"
        # One more request afterwards is a plain cache hit with the same body.
        again = svc.get(V4.format(name))
        assert again.status_code == 200
        assert normalize_v4(again.content) == (True, replies[0].body[1])
        assert fake.calls()["total"] == 3


def test_single_flight_200_concurrent_v1_requests_resolve_the_ocid_once(fake):
    raise_fd_limit(1024)
    name = "gen7000002"
    with serving(fake) as svc:
        fake.fault(path=ID, latency_ms=300)

        async def burst():
            sent = await open_and_send(svc.port, [V1.format(name)] * 200)
            return await asyncio.gather(*(collect(r, w, t) for r, w, t in sent))

        replies = asyncio.run(burst())
        failed = [(r.status, r.error) for r in replies if r.status != 200]
        assert not failed, f"{len(failed)} of 200 not 200, e.g. {failed[:5]}"
        calls = fake.calls()
        assert calls["paths"][ID] == 1, calls
        assert calls["paths"][BASIC] == 1, calls
        assert calls["paths"][EQUIP] == 0, calls
        assert len({r.body for r in replies}) == 1, "every caller gets the same character"
        body = replies[0].json()
        assert body["userIgn"] == name and body["ocid"] == ocid_of(name)
        assert body["worldName"] and body["characterClass"]


# ---- 2. upstream outage and the nexonApi breaker ---------------------------------------------------------

def circuit(svc) -> float:
    return svc.metric("circuit_state", breaker="nexonApi")


def assert_upstream_error(r: requests.Response, codes=("S005", "S010")) -> None:
    assert r.status_code == 503, (r.status_code, r.text[:300])
    assert error_code(r) in codes, r.text
    assert r.headers.get("Retry-After") == "30", r.headers  # 1.1: every 503 that is not a queue rejection


def test_upstream_outage_serves_warm_keys_and_the_breaker_stops_upstream_calls(fake):
    open_s = 3  # long enough for the checks below under ASan, short enough to wait for recovery
    env = dict(CB_NEXON_MIN_CALLS=4, CB_NEXON_WINDOW_S=10, CB_NEXON_OPEN_S=open_s, UPSTREAM_MAX_ATTEMPTS=1)
    with serving(fake, **env) as svc:
        warm = svc.get(V4.format("gen7100001"))
        assert warm.status_code == 200
        assert fake.calls()["total"] == 3  # /id, basic, item-equipment: 3 successes in the window

        fake.fault(path="*", status=503)
        again = svc.get(V4.format("gen7100001"))
        assert again.status_code == 200 and again.json()["fromCache"] is True
        assert again.json()["totalExpectedCost"] == warm.json()["totalExpectedCost"]
        assert "X-Data-Stale" not in again.headers  # fresh cache entry
        assert fake.calls()["total"] == 3, "a warm key costs no upstream call"

        # Each cold character fails on /id (one attempt): failure rates 1/4, 2/5, then 3/6 >= 50 % opens.
        for i, expected_state in ((2, 0), (3, 0), (4, 2)):
            r = svc.get(V4.format(f"gen710000{i}"))
            assert_upstream_error(r)
            assert circuit(svc) == expected_state, f"after {i - 1} failures"
        opened_at = time.monotonic()
        calls = fake.calls()
        assert calls["paths"][ID] == 4 and calls["total"] == 6, calls
        assert svc.metric("circuit_transitions_total", breaker="nexonApi", to="open") == 1

        health = svc.get("/actuator/health")
        assert health.status_code == 200
        assert health.json()["status"] == "DEGRADED"
        assert health.json()["components"]["upstream"]["circuit"].upper() == "OPEN"
        short_before = svc.metric("upstream_short_circuited_total", reason="breaker_open")
        r = svc.get(V4.format("gen7100010"))
        assert_upstream_error(r, codes=("S005",))
        assert fake.calls()["total"] == 6, "an open breaker makes no upstream call"
        assert svc.metric("upstream_short_circuited_total", reason="breaker_open") > short_before
        warm_again = svc.get(V4.format("gen7100001"))
        assert warm_again.status_code == 200
        assert time.monotonic() - opened_at < open_s, "checks took longer than the open interval"

        # Recovery: half-open probes succeed and the breaker closes.
        fake.clear_faults()

        def cold_answers():
            return svc.get(V4.format("gen7100011")).status_code == 200

        wait_until(cold_answers, timeout=open_s + 15, interval=0.2, message="a cold request to succeed")
        assert time.monotonic() - opened_at >= open_s - 0.1, "no success before the open interval ended"
        assert fake.calls()["total"] == 6 + 3, "the polls while open made no call; the probes were the 3 calls"
        assert circuit(svc) == 0
        assert svc.metric("circuit_transitions_total", breaker="nexonApi", to="half_open") >= 1
        assert svc.metric("circuit_transitions_total", breaker="nexonApi", to="closed") >= 1
        health = svc.get("/actuator/health").json()
        assert health["status"] == "UP" and health["components"]["upstream"]["circuit"].upper() == "CLOSED"


# ---- 3. stale serving ------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["stale_l1_entry", "stored_snapshot"])
def test_stale_data_is_served_with_the_stale_marker_while_the_upstream_is_down(fake, source):
    env = dict(CACHE_EXPECTATION_V4_L1_TTL_S=1, CACHE_EQUIPMENT_L1_TTL_S=1, EQUIPMENT_FRESH_S=0,
               WRITEBACK_FLUSH_MS=100, UPSTREAM_MAX_ATTEMPTS=1)
    if source == "stored_snapshot":  # no stale grace in memory: only the SQLite snapshot can answer
        env.update(CACHE_EQUIPMENT_STALE_S=0, CACHE_EXPECTATION_V4_STALE_S=0)
    name = "gen7200001"
    with serving(fake, **env) as svc:
        warm = svc.get(V4.format(name))
        warmed_at = time.monotonic()
        assert warm.status_code == 200 and "X-Data-Stale" not in warm.headers
        wait_until(lambda: svc.metric("expectation_buffer_records_total", event="flushed") >= 2, timeout=10,
                   message="the snapshot and the view to be flushed")
        wait_until(lambda: time.monotonic() - warmed_at > 1.5, timeout=5, message="the L1 entries to expire")
        fake.fault(path="*", status=503)
        before = fake.calls()["paths"]

        r = svc.get(V4.format(name))
        assert r.status_code == 200, r.text[:300]
        assert r.headers.get("X-Data-Stale") == "true", r.headers
        body = r.json()
        assert body["userIgn"] == name
        assert body["totalExpectedCost"] == warm.json()["totalExpectedCost"]
        assert body["presets"] == warm.json()["presets"]
        after = fake.calls()["paths"]
        # The snapshot is never fresh (EQUIPMENT_FRESH_S=0): one failed item-equipment attempt, and
        # nothing else (the character row and its basic info are stored).
        assert after[EQUIP] == before[EQUIP] + 1 and after[ID] == before[ID] and after[BASIC] == before[BASIC]

        # The degraded result is cached briefly and keeps its marker.
        again = svc.get(V4.format(name))
        assert again.status_code == 200 and again.headers.get("X-Data-Stale") == "true"
        assert fake.calls()["paths"][EQUIP] == after[EQUIP]


# ---- 4. admission control --------------------------------------------------------------------------------

def test_full_compute_queue_rejects_fast_and_keeps_the_fast_paths_fast(fake):
    env = dict(COMPUTE_CONCURRENCY=1, COMPUTE_QUEUE=1)
    warm_name = "gen7300000"
    cold = [f"gen73000{i:02d}" for i in range(1, 9)]
    with serving(fake, **env) as svc:
        assert svc.get(V4.format(warm_name)).status_code == 200
        fake.fault(path=EQUIP, latency_ms=1000)
        text = svc.metrics_text()
        rejected_before = metric_in(text, "work_rejected_total", pool="expectation")
        queue_full_before = metric_in(text, "http_server_rejected_total", reason="queue_full")
        computations_before = metric_in(text, "expectation_computations_total", trigger="v4")

        async def scenario():
            sent = await open_and_send(svc.port, [V4.format(n) for n in cold])
            tasks = [asyncio.create_task(collect(r, w, t)) for r, w, t in sent]
            deadline = time.monotonic() + 10
            while sum(t.done() for t in tasks) < 6 and time.monotonic() < deadline:
                await asyncio.wait(tasks, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)
            probes = {}
            for path in (V4.format(warm_name), "/actuator/health/liveness", "/actuator/health/readiness",
                         "/actuator/prometheus"):
                probes[path] = await fetch(svc.port, path)
            pending_during_probes = sum(not t.done() for t in tasks)
            return await asyncio.gather(*tasks), probes, pending_during_probes

        replies, probes, pending = asyncio.run(scenario())
        ok = [r for r in replies if r.status == 200]
        rejected = [r for r in replies if r.status == 503]
        assert len(ok) == 2 and len(rejected) == 6, [(r.status, r.error) for r in replies]
        for r in rejected:
            assert r.json()["code"] == "S007", r.body
            assert r.headers.get("retry-after") == "60", r.headers
            assert r.done - r.sent < 0.6, f"rejection took {r.done - r.sent:.3f}s"
        for r in ok:
            assert r.done - r.sent >= 1.0  # they really waited for the slow upstream

        assert pending == 2, "the probes ran while the accepted requests were still running or queued"
        for path, r in probes.items():
            assert r.status == 200, (path, r.status, r.body[:200])
            assert r.done - r.sent < FAST_S, f"{path} took {r.done - r.sent:.3f}s while the queue was full"
        during = probes["/actuator/prometheus"].body.decode()
        assert metric_in(during, "work_active", pool="expectation") == 1
        assert metric_in(during, "work_queue_depth", pool="expectation") == 1

        text = svc.metrics_text()
        assert metric_in(text, "work_rejected_total", pool="expectation") - rejected_before == len(rejected)
        assert metric_in(text, "http_server_rejected_total", reason="queue_full") - queue_full_before == 6
        assert metric_in(text, "expectation_computations_total", trigger="v4") - computations_before == 2
        calls = fake.calls()["paths"]  # the warm character plus the 2 accepted ones
        assert calls[ID] == 3 and calls[EQUIP] == 3, ("rejected work never reaches the upstream", calls)
        wait_until(lambda: svc.metric("work_active", pool="expectation") == 0, timeout=10,
                   message="the compute pool to go idle")
        assert svc.metric("work_queue_depth", pool="expectation") == 0


# ---- 5. SIGTERM under load -------------------------------------------------------------------------------

WB_LINE = re.compile(r"write-back: accepted=(\d+) flushed=(\d+) superseded=(\d+) sync_written=(\d+) "
                     r"dropped=(\d+) pending=(\d+)")


@dataclass
class Shutdown:
    signal_at: float = 0.0
    cold: list = field(default_factory=list)
    warm: list = field(default_factory=list)        # (sent, status or error text)
    readiness: list = field(default_factory=list)   # (sent, Reply)


async def warm_loop(port: int, path: str, log: list, stop: asyncio.Event) -> None:
    """Keep-alive requests for a cached key, one after another, until stopped or told to close."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                writer.write(http_request(path, keep_alive=True))
                await writer.drain()
                reply = await asyncio.wait_for(read_reply(reader), 30)
            except Exception as e:  # noqa: BLE001 - asserted on by the test (only after the signal is fine)
                log.append((sent, repr(e)))
                return
            log.append((sent, reply.status))
            if reply.headers.get("connection", "").lower() == "close":
                return
            await asyncio.sleep(0.005)
    finally:
        writer.close()


async def poll_readiness(conn, out: list, timeout: float) -> None:
    """Readiness on one keep-alive connection (opened before the signal), until it says 503."""
    reader, writer = conn
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            sent = time.monotonic()
            writer.write(http_request("/actuator/health/readiness", keep_alive=True))
            await writer.drain()
            reply = await asyncio.wait_for(read_reply(reader), 10)
            out.append((sent, reply))
            if reply.status != 200 or reply.headers.get("connection", "").lower() == "close":
                return
            await asyncio.sleep(0.01)
    finally:
        writer.close()


def test_sigterm_under_load_loses_no_accepted_request_and_flushes_derived_data(fake):
    cold = [f"gen74{i:05d}" for i in range(1, 41)]
    warm = "gen7400000"
    svc = Service(fake, SHUTDOWN_LB_GRACE_S=1, UPSTREAM_MAX_RPS=0)
    try:
        first = svc.get(V4.format(warm))
        assert first.status_code == 200
        fake.fault(path=EQUIP, latency_ms=400)
        equip_before = fake.path_calls(EQUIP)
        run = Shutdown()

        async def scenario():
            sent = await open_and_send(svc.port, [V4.format(n) for n in cold])
            cold_tasks = [asyncio.create_task(collect(r, w, t)) for r, w, t in sent]
            stop = asyncio.Event()
            warm_task = asyncio.create_task(warm_loop(svc.port, V4.format(warm), run.warm, stop))
            ready_conn = await asyncio.open_connection(HOST, svc.port)
            await until(lambda: fake.path_calls(EQUIP) > equip_before, 20, "the upstream calls to begin")
            await until(lambda: len(run.warm) > 0, 10, "a warm request")
            poller = asyncio.create_task(poll_readiness(ready_conn, run.readiness, 5))
            run.signal_at = time.monotonic()
            os.kill(svc.proc.pid, signal.SIGTERM)
            await poller
            run.cold = await asyncio.gather(*cold_tasks)
            stop.set()
            await warm_task

        asyncio.run(scenario())
        code = svc.proc.wait(timeout=30)
        exited_in = time.monotonic() - run.signal_at
        assert_clean_exit(svc, svc.stop())
        assert code == 0
        assert exited_in < 30

        # Every request sent before the signal was answered 200.
        assert all(r.sent < run.signal_at for r in run.cold)
        bad = [(n, r.status, r.error) for n, r in zip(cold, run.cold) if r.status != 200]
        assert not bad, bad
        for name, r in zip(cold, run.cold):
            assert r.json()["userIgn"] == name
        before = [s for t, s in run.warm if t < run.signal_at]
        assert before and all(s == 200 for s in before), before
        assert any(t > run.signal_at and s == 200 for t, s in run.warm), "requests during the grace are served"

        # Readiness went 503 DRAINING while the listener was still open (the grace period).
        draining = [(t, r) for t, r in run.readiness if r.status == 503]
        assert draining, [(r.status, r.body) for _, r in run.readiness]
        t, r = draining[0]
        assert r.json() == {"status": "OUT_OF_SERVICE", "state": "DRAINING"}
        assert t - run.signal_at < 1.0 and r.headers.get("connection", "").lower() != "close"

        # Write-back accounting: nothing dropped, nothing pending, the identity of 2.3.7 holds.
        lines = [l.get("msg", "") for l in svc.out.lines if "write-back:" in l.get("msg", "")]
        assert len(lines) == 1, lines
        accepted, flushed, superseded, sync_written, dropped, pending = map(int, WB_LINE.search(lines[0]).groups())
        assert dropped == 0 and pending == 0, lines[0]
        assert accepted == flushed + superseded + sync_written + dropped, lines[0]
        assert accepted >= 2 * 41, lines[0]  # a view and a snapshot per computed character

        # The derived data is in the file.
        answered = set(cold) | {warm}
        db = sqlite3.connect(f"file:{svc.dir}/maplexp.db?mode=ro", uri=True)
        try:
            views = {row[0]: row[1] for row in db.execute("SELECT user_ign, total_expected_cost FROM expectation_view")}
            snapshots = {row[0] for row in db.execute("SELECT ocid FROM character_equipment")}
        finally:
            db.close()
        assert set(views) == answered
        assert snapshots == {ocid_of(n) for n in answered}
        for name, r in zip(cold, run.cold):  # costs are stored as canonical decimal text (docs/decisions.md 16)
            assert Decimal(views[name]) == json.loads(r.body, parse_float=Decimal)["totalExpectedCost"]

        # A new process on the same file values stored characters without any upstream call.
        fake.reset()
        with serving(fake, workdir=svc.dir) as second:
            for name, r in list(zip(cold, run.cold))[:3]:
                again = second.get(V4.format(name))
                assert again.status_code == 200
                assert again.json()["totalExpectedCost"] == r.json()["totalExpectedCost"]
            assert fake.calls()["total"] == 0, fake.calls()
    except BaseException as e:
        stop_after_failure(svc, e)
        raise


# ---- 6. clients that go away -----------------------------------------------------------------------------

def test_clients_disconnecting_during_the_computation_leave_the_service_healthy(fake):
    v4_names = [f"gen75000{i:02d}" for i in range(1, 9)]
    v1_names = [f"gen75000{i:02d}" for i in range(11, 15)]
    paths = [V4.format(n) for n in v4_names for _ in range(2)] + [V1.format(n) for n in v1_names]
    assert len(paths) == 20
    with serving(fake) as svc:
        fake.fault(path="*", latency_ms=500)

        async def scenario():
            sent = await open_and_send(svc.port, paths)

            def all_started():
                keys = fake.calls()["keys"]
                return all(f"{ID} {n}" in keys for n in v4_names + v1_names)

            await until(all_started, 20, "every computation to reach the upstream")
            for i, (_, writer, _) in enumerate(sent):
                if i % 2 == 0:  # half of them reset the connection, half close it politely
                    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                               struct.pack("ii", 1, 0))
                writer.close()

        asyncio.run(scenario())
        assert svc.get("/actuator/health/liveness").status_code == 200
        assert svc.get("/actuator/health").status_code == 200

        # The abandoned work still completes and is cached.
        wait_until(lambda: svc.metric("expectation_computations_total", trigger="v4", outcome="ok") == 8,
                   timeout=30, message="the abandoned computations to finish")
        wait_until(lambda: fake.path_calls(BASIC) == 12, timeout=30, message="the abandoned lookups to finish")
        wait_until(lambda: svc.metric("http_server_requests_in_flight") == 1, timeout=30,
                   message="no request but the metrics read in flight")
        fake.clear_faults()
        for name in v4_names:
            r = svc.get(V4.format(name))
            assert r.status_code == 200 and r.json()["fromCache"] is True, name
        for name in v1_names:
            r = svc.get(V1.format(name))
            assert r.status_code == 200 and r.json()["ocid"] == ocid_of(name)
        calls = fake.calls()["paths"]
        assert calls[ID] == 12 and calls[EQUIP] == 8 and calls[BASIC] == 12, calls


# ---- 7. slow clients -------------------------------------------------------------------------------------

def test_a_stalled_client_blocks_nobody_and_is_cut_after_the_http_timeout(fake):
    timeout_s = 2
    with serving(fake, HTTP_TIMEOUT_S=timeout_s) as svc:
        stalled = []
        for _ in range(4):  # more than one per event-loop thread
            s = socket.create_connection((HOST, svc.port))
            s.sendall(b"GET /actuator/hea")
            stalled.append((s, time.monotonic()))
        try:
            t0 = time.monotonic()
            r = requests.get(svc.url + "/actuator/health/liveness", timeout=5)
            assert r.status_code == 200 and time.monotonic() - t0 < 1.0
            assert svc.get(V4.format("gen7600001")).status_code == 200
            for s, sent in stalled:
                s.settimeout(max(0.1, sent + timeout_s + 4 - time.monotonic()))
                try:
                    while s.recv(4096):
                        pass  # a 408 answer may come first; the close is what counts
                except ConnectionResetError:
                    pass
                except socket.timeout:
                    pytest.fail("the stalled connection was not closed within ~5 s")
                elapsed = time.monotonic() - sent
                assert timeout_s - 0.5 <= elapsed <= timeout_s + 4, f"closed after {elapsed:.2f}s"
        finally:
            for s, _ in stalled:
                s.close()
        assert svc.get("/actuator/health/liveness").status_code == 200
