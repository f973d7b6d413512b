"""HTTP API of `maplexp serve` (platform spec 1.1, 1.2, 1.5, 1.11, 3.5; valuation spec 6.4) against the fake
Nexon upstream: the character and expectation endpoints E01-E06 with their success and error paths (V5 as a
logged-in USER: a demo user key's token; anonymous V5 calls are 401), the
conventions every response shares (error JSON, correlation id, security headers, CORS), routing and
path-parameter validation, the operational endpoints and their internal-network rule, start-up
configuration errors and a graceful SIGTERM.

One fake + service pair serves most tests (module fixture `env`); a second pair with other settings
(`alt`) covers custom CORS origins, a zero recalculation cool-down and a metrics allow-list without
loopback; the V5 queue-full case and the shutdown tests start their own. Every service must stop with
exit 0 on SIGTERM and leave no sanitizer report on stderr.

Binaries: MAPLEXP_BIN and FAKE_NEXON_BIN (default build/release/...); promtool at /usr/bin/promtool."""
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import requests

from harness import JSON_UTF8, UUID4, FakeNexon, Service, _bin, call, ocid_of, stop_checked, wait_until
from harness import assert_error as assert_error_shape

PROMTOOL = "/usr/bin/promtool"
SERVER_KEY = "demo-nexon-key"
ID = "/maplestory/v1/id"
BASIC = "/maplestory/v1/character/basic"
EQUIP = "/maplestory/v1/character/item-equipment"

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; font-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self';",
}
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, X-Requested-With, Accept, Origin, Idempotency-Key, X-Correlation-ID"
ALLOWED_ORIGIN = "http://localhost:3000"

V4_KEYS = {"userIgn", "characterClass", "calculatedAt", "fromCache", "totalExpectedCost", "totalCostText",
           "totalCostBreakdown", "totalComplete", "maxPresetNo", "presets"}
PRESET_KEYS = {"presetNo", "totalExpectedCost", "totalCostText", "costBreakdown", "complete", "incompleteItemCount",
               "items"}
BREAKDOWN_KEYS = {"blackCubeCost", "redCubeCost", "additionalCubeCost", "starforceCost"}

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
LOCAL_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
SEOUL = ZoneInfo("Asia/Seoul")

# Every IGN the module sends: none of them may appear in the metrics text (route templates only).
IGN_UNKNOWN = "nobody123"
IGNS = ["데모전사", "데모마법사", "데모궁수", "데모도적", "데모해적", "데모에반", "데모비숍", "데모팔라딘", "데모신궁",
        "데모섀도어", "데모아란", "데모루미너스", IGN_UNKNOWN, "nobody5x", "gen4004", "gen4005", "gen3003", "gen7001",
        "gen7002", "gen9009", "gen5005", "데모다크나이트"]


def v4_path(ign, suffix=""):
    return f"/api/v4/characters/{quote(ign, safe='')}/expectation{suffix}"


def v5_path(ign, suffix=""):
    return f"/api/v5/characters/{quote(ign, safe='')}/expectation{suffix}"


def money_text(x):
    """Valuation spec 6.6."""
    if x is None or x <= 0:
        return "0"
    n = int(x + 0.5)
    out = ""
    if n >= 10 ** 12:
        out += f"{n // 10 ** 12}조 "
        n %= 10 ** 12
    if n >= 10 ** 8:
        out += f"{n // 10 ** 8}억 "
        n %= 10 ** 8
    if n >= 10 ** 4:
        out += f"{n // 10 ** 4}만"
    out = out.strip()
    return out or "0"


def get(svc, path, **kw):
    return call(svc, "GET", path, **kw)


def assert_common_headers(r, corr=None):
    """1.1: security headers exactly once with their exact values; X-Correlation-ID on every response."""
    for name, value in SECURITY_HEADERS.items():
        assert r.all(name) == [value], (name, r)
    cid = r.all("X-Correlation-ID")
    assert len(cid) == 1, r
    if corr is None:
        assert UUID4.match(cid[0]), cid
    else:
        assert cid[0] == corr, cid
    if r.status == 204:  # RFC 9110 15.3.5: no Content-Length on 204
        assert r.header("Content-Length") is None and r.body == b"", r
    else:
        assert r.header("Content-Length") == str(len(r.body)), r


def assert_error(r, status, code, message=None, contains=None, retry_after=None, corr=None):
    """1.2 (harness.assert_error: exactly status, code, message, timestamp; no raw %s; RFC 3339 UTC with
    milliseconds), and here also: a current timestamp, Retry-After exactly as given (absent when None) and the
    common headers."""
    body = assert_error_shape(r, status, code, message, contains)
    ts = datetime.strptime(body["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - ts).total_seconds()) < 300, body
    assert r.header("Retry-After") == retry_after, r
    assert_common_headers(r, corr)
    return body


def check_v4_body(body, ign, char_class=None, presets=3):
    """Valuation spec 6.4 top level; totals are those of the max preset (6.3)."""
    assert set(body) == V4_KEYS, sorted(body)
    assert body["userIgn"] == ign
    if char_class is not None:
        assert body["characterClass"] == char_class
    assert LOCAL_MICROS.match(body["calculatedAt"]), body["calculatedAt"]
    at = datetime.strptime(body["calculatedAt"], "%Y-%m-%dT%H:%M:%S.%f")
    now_local = datetime.now(SEOUL).replace(tzinfo=None)
    assert abs((now_local - at).total_seconds()) < 600, (body["calculatedAt"], now_local)  # service timezone
    assert isinstance(body["fromCache"], bool)
    assert type(body["totalExpectedCost"]) is int and body["totalExpectedCost"] >= 0
    assert body["totalCostText"] == money_text(body["totalExpectedCost"])
    assert set(body["totalCostBreakdown"]) == BREAKDOWN_KEYS
    assert all(type(v) is int for v in body["totalCostBreakdown"].values()), body["totalCostBreakdown"]
    assert isinstance(body["totalComplete"], bool)
    assert [p["presetNo"] for p in body["presets"]] == list(range(1, presets + 1))
    for p in body["presets"]:
        assert set(p) == PRESET_KEYS, sorted(p)
        assert p["totalCostText"] == money_text(p["totalExpectedCost"])
        assert p["items"], p["presetNo"]
    best = max(body["presets"], key=lambda p: (p["totalExpectedCost"], -p["presetNo"]))
    assert body["maxPresetNo"] == best["presetNo"]
    assert body["totalExpectedCost"] == best["totalExpectedCost"]
    assert body["totalCostBreakdown"] == best["costBreakdown"]
    assert body["totalComplete"] == best["complete"]


def check_raw_numbers(raw):
    """M1: money is printed as integers, never in exponent form."""
    text = raw.decode("utf-8")
    m = re.search(r'"totalExpectedCost":(-?[0-9][^,}]*)[,}]', text)
    assert m and re.fullmatch(r"\d+", m.group(1)), m and m.group(1)
    bad = re.findall(r'"\w*[Cc]ost":-?\d+(?:\.\d+)?[eE][+-]?\d+', text)
    assert not bad, bad[:5]


def without(body, *keys):
    return {k: v for k, v in body.items() if k not in keys}


def user_auth(svc):
    """V5 needs a logged-in USER (1.4): a Bearer token of the fake's demo user key, one login per service."""
    if not hasattr(svc, "user_auth"):
        r = call(svc, "POST", "/auth/login", headers={"Content-Type": "application/json"},
                 body=json.dumps({"apiKey": "demo-user-key", "userIgn": "데모전사"}).encode())
        assert r.status == 200, r
        svc.user_auth = {"Authorization": "Bearer " + r.json()["data"]["accessToken"]}
    return dict(svc.user_auth)


def poll_v5(svc, ign, timeout=60):
    """GET the V5 endpoint (logged in) until it stops answering 202 (every 202 must be the empty accepted form)."""
    deadline = time.monotonic() + timeout
    while True:
        r = get(svc, v5_path(ign), headers=user_auth(svc))
        if r.status != 202:
            return r
        assert r.body == b"" and r.header("Retry-After") == "2", r
        if time.monotonic() > deadline:
            raise AssertionError(f"V5 {ign} still 202 after {timeout}s")
        time.sleep(0.05)


class Env:
    """A fake upstream, a service that uses it, and the fake's character list."""

    def __init__(self, fake, svc):
        self.fake = fake
        self.svc = svc
        self.fake_characters = requests.get(fake.url + "/admin/characters", timeout=10).json()

    def key_calls(self, path, key):
        return self.fake.calls()["keys"].get(f"{path} {key}", 0)

    def details(self, ign):
        for d in self.fake_characters["details"]:
            if d["character_name"] == ign:
                return d
        raise KeyError(ign)


def start_pair(fake_args=(), **env):
    fake = FakeNexon(*fake_args)
    svc = None
    try:
        svc = Service(fake, **env)
        return Env(fake, svc)
    except BaseException:
        if svc is not None:
            svc.stop()
        fake.stop()
        raise


def stop_pair(e):
    try:
        if not hasattr(e.svc, "stderr"):  # not stopped by a test
            stop_checked(e.svc)
    finally:
        e.fake.stop()


@pytest.fixture(scope="module")
def env():
    e = start_pair(("--demo-count", "24"))
    yield e
    stop_pair(e)


@pytest.fixture(scope="module")
def alt():
    """Custom CORS list, no cool-down, metrics allowed only from 10/8 with no proxy on loopback."""
    e = start_pair(CORS_ALLOWED_ORIGINS="https://app.example.com, https://admin.example.com",
                   RECALC_COOLDOWN_S="0", METRICS_ALLOWED_CIDRS="10.0.0.0/8", TRUSTED_PROXIES="192.0.2.1")
    yield e
    stop_pair(e)


# ---- E02 ------------------------------------------------------------------------------------------------

def test_e02_identity_then_gzip_same_json_and_from_cache(env):
    ign = "데모마법사"
    r1 = get(env.svc, v4_path(ign))
    assert r1.status == 200, r1
    assert_common_headers(r1)
    assert r1.header("Content-Type") == JSON_UTF8
    assert r1.header("Content-Encoding") is None
    assert r1.header("Vary") == "Accept-Encoding"
    assert r1.header("X-Data-Stale") is None
    check_raw_numbers(r1.body)
    b1 = r1.json()
    check_v4_body(b1, ign, env.details(ign)["character_class"])
    assert b1["fromCache"] is False  # this request computed it

    r2 = get(env.svc, v4_path(ign), headers={"Accept-Encoding": "gzip"})
    assert r2.status == 200, r2
    assert_common_headers(r2)  # Content-Length = the gzip byte count
    assert r2.header("Content-Encoding") == "gzip"
    assert r2.header("Content-Type") == "application/json"
    assert r2.header("Vary") == "Accept-Encoding"
    raw2 = gzip.decompress(r2.body)
    check_raw_numbers(raw2)
    b2 = json.loads(raw2)
    assert b2["fromCache"] is True
    assert without(b2, "fromCache") == without(b1, "fromCache")

    r3 = get(env.svc, v4_path(ign))
    assert r3.status == 200 and r3.header("Content-Encoding") is None, r3
    b3 = r3.json()
    assert b3["fromCache"] is True
    assert without(b3, "fromCache") == without(b1, "fromCache")
    assert len(r3.body) > len(r2.body)


def test_e02_first_response_gzip_computes_and_trims_ign(env):
    ign = "데모궁수"
    padded = "/api/v4/characters/%20" + quote(ign, safe="") + "%20/expectation"
    r1 = get(env.svc, padded, headers={"Accept-Encoding": "gzip, deflate"})
    assert r1.status == 200, r1
    assert_common_headers(r1)
    assert r1.header("Content-Encoding") == "gzip" and r1.header("Vary") == "Accept-Encoding"
    b1 = json.loads(gzip.decompress(r1.body))
    check_v4_body(b1, ign, env.details(ign)["character_class"])  # userIgn trimmed
    assert b1["fromCache"] is False
    # the trimmed name is the cache key: the untrimmed spelling computed it, the plain one finds it
    r2 = get(env.svc, v4_path(ign))
    assert r2.status == 200, r2
    b2 = r2.json()
    assert b2["fromCache"] is True and without(b2, "fromCache") == without(b1, "fromCache")


@pytest.mark.parametrize("accept, gz", [("gzip;q=0", False), ("gzip; q=0.0", False), ("identity", False),
                                        ("deflate", False), ("GZIP", True), ("deflate, gzip;q=0.5", True),
                                        ("br;q=1.0, gzip", True)])
def test_e02_accept_encoding_negotiation(env, accept, gz):
    ign = "데모전사"
    r = get(env.svc, v4_path(ign), headers={"Accept-Encoding": accept})
    assert r.status == 200, r
    assert_common_headers(r)
    assert r.header("Vary") == "Accept-Encoding"
    if gz:
        assert r.header("Content-Encoding") == "gzip" and r.header("Content-Type") == "application/json", r
        body = json.loads(gzip.decompress(r.body))
    else:
        assert r.header("Content-Encoding") is None and r.header("Content-Type") == JSON_UTF8, r
        body = r.json()
    check_v4_body(body, ign)


def test_e02_force_query(env):
    ign = "데모도적"
    ocid = ocid_of(ign)
    r = get(env.svc, v4_path(ign, "?force=false"))
    assert r.status == 200 and r.json()["fromCache"] is False, r
    before = env.key_calls(EQUIP, ocid)
    r = get(env.svc, v4_path(ign, "?force=true"))
    assert r.status == 200, r
    assert r.json()["fromCache"] is False  # recomputed
    assert env.key_calls(EQUIP, ocid) == before + 1  # equipment re-fetched
    r = get(env.svc, v4_path(ign, "?force=TRUE"))  # inside the cool-down: the cached result
    assert r.status == 200 and r.json()["fromCache"] is True, r
    assert env.key_calls(EQUIP, ocid) == before + 1
    r = get(env.svc, v4_path(ign, "?force=False"))
    assert r.status == 200 and r.json()["fromCache"] is True, r
    for bad in ("yes", "1", "", "true%20"):
        r = get(env.svc, v4_path(ign, f"?force={bad}"))
        assert_error(r, 400, "C001", contains="force")


def test_e02_unknown_character_404(env):
    r = get(env.svc, v4_path("gen9009x"))
    assert_error(r, 404, "C002", message="존재하지 않는 캐릭터입니다 (IGN: gen9009x)")


# ---- E03 ------------------------------------------------------------------------------------------------

def test_e03_preset_views(env):
    ign = "데모해적"
    full = get(env.svc, v4_path(ign)).json()
    check_v4_body(full, ign)
    for n in (1, 2, 3):
        r = get(env.svc, v4_path(ign, f"/preset/{n}"))
        assert r.status == 200, r
        assert_common_headers(r)
        assert r.header("Content-Type") == JSON_UTF8 and r.header("Content-Encoding") is None
        check_raw_numbers(r.body)
        b = r.json()
        assert set(b) == V4_KEYS
        preset = full["presets"][n - 1]
        assert b["presets"] == [preset]
        assert b["maxPresetNo"] == n
        assert b["totalExpectedCost"] == preset["totalExpectedCost"]
        assert b["totalCostText"] == preset["totalCostText"]
        assert b["totalCostBreakdown"] == preset["costBreakdown"]
        assert b["totalComplete"] == preset["complete"]
        assert b["fromCache"] is True
        assert (b["userIgn"], b["characterClass"], b["calculatedAt"]) == \
               (full["userIgn"], full["characterClass"], full["calculatedAt"])
        rz = get(env.svc, v4_path(ign, f"/preset/{n}"), headers={"Accept-Encoding": "gzip"})
        assert rz.status == 200 and json.loads(rz.decoded()) == b, rz


def test_e03_cold_preset_computes(env):
    ign = "gen3003"
    r = get(env.svc, v4_path(ign, "/preset/2"))
    assert r.status == 200, r
    b = r.json()
    assert b["fromCache"] is False and [p["presetNo"] for p in b["presets"]] == [2] and b["maxPresetNo"] == 2
    r = get(env.svc, v4_path(ign, "/preset/2"))
    assert r.status == 200 and r.json()["fromCache"] is True
    assert without(r.json(), "fromCache") == without(b, "fromCache")


@pytest.mark.parametrize("preset", ["0", "4", "x", "01", "-1", "1.0", "%31%31", "1%20", ""])
def test_e03_bad_preset_400(env, preset):
    r = get(env.svc, v4_path("데모해적", f"/preset/{preset}"))
    assert_error(r, 400, "C001")


# ---- E04 ------------------------------------------------------------------------------------------------

def test_e04_recalculate_and_cooldown(env):
    ign = "데모에반"
    ocid = ocid_of(ign)
    r = get(env.svc, v4_path(ign))
    assert r.status == 200 and r.json()["fromCache"] is False, r
    base = r.json()
    before = env.key_calls(EQUIP, ocid)

    r = call(env.svc, "POST", v4_path(ign, "/recalculate"))
    assert r.status == 200, r
    assert_common_headers(r)
    assert r.header("Content-Type") == JSON_UTF8
    b = r.json()
    check_v4_body(b, ign, env.details(ign)["character_class"])
    assert b["fromCache"] is False
    assert b["calculatedAt"] > base["calculatedAt"]
    assert env.key_calls(EQUIP, ocid) == before + 1

    # inside RECALC_COOLDOWN_S: no upstream call, the cached result (gzip when accepted)
    r = call(env.svc, "POST", v4_path(ign, "/recalculate"), headers={"Accept-Encoding": "gzip"})
    assert r.status == 200, r
    assert r.header("Content-Encoding") == "gzip"
    b2 = json.loads(r.decoded())
    assert b2["fromCache"] is True and without(b2, "fromCache") == without(b, "fromCache")
    r = get(env.svc, v4_path(ign, "?force=true"))
    assert r.status == 200 and r.json()["fromCache"] is True
    assert env.key_calls(EQUIP, ocid) == before + 1


def test_e04_body_rules(env):
    ign = "gen4004"
    path = v4_path(ign, "/recalculate")
    # a JSON body is allowed (and ignored); the limit is 256 KiB inclusive
    exact = b'{"pad":"' + b"x" * (262144 - 10) + b'"}'
    assert len(exact) == 262144
    r = call(env.svc, "POST", path, headers={"Content-Type": "application/json"}, body=exact)
    assert r.status == 200, r
    assert r.json()["userIgn"] == ign
    over = b'{"pad":"' + b"x" * (262144 - 9) + b'"}'
    r = call(env.svc, "POST", path, headers={"Content-Type": "application/json"}, body=over)
    assert_error(r, 413, "C008", message="Request body exceeds 262144 bytes")
    big = json.dumps({"pad": "y" * (300 * 1024)}).encode()
    r = call(env.svc, "POST", path, headers={"Content-Type": "application/json; charset=utf-8"}, body=big)
    assert_error(r, 413, "C008")
    for ct in ("text/plain", "application/jsonx", "application/json-patch+json", None):
        headers = {"Content-Type": ct} if ct else {}
        r = call(env.svc, "POST", path, headers=headers, body=b"{}")
        assert_error(r, 415, "C009", message="Content-Type must be application/json")
    r = call(env.svc, "POST", path, headers={"Content-Type": "APPLICATION/JSON"}, body=b"{}")
    assert r.status == 200, r
    r = call(env.svc, "POST", path, headers={"Content-Type": "text/plain"})  # no body: no media type rule
    assert r.status == 200, r


def test_e04_body_over_library_limit_413(env):
    """Over 1 MiB the HTTP library answers 413 itself (M9): status only."""
    with socket.create_connection(("127.0.0.1", env.svc.port), timeout=30) as s:
        s.sendall(b"POST " + v4_path("gen4005", "/recalculate").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 1200000\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 413 "), data[:200]
    assert get(env.svc, "/actuator/health/liveness").status == 200


# ---- E01 ------------------------------------------------------------------------------------------------

def test_e01_character(env):
    ign = "데모비숍"
    r = get(env.svc, f"/api/v1/characters/{quote(ign)}")
    assert r.status == 200, r
    assert_common_headers(r)
    assert r.header("Content-Type") == JSON_UTF8
    b = r.json()
    assert list(b) == ["userIgn", "ocid", "likeCount", "worldName", "characterClass", "characterImage"]
    basic = requests.get(env.fake.url + BASIC, params={"ocid": ocid_of(ign)}, headers={"x-nxopen-api-key": SERVER_KEY},
                         timeout=10).json()
    assert b == {"userIgn": ign, "ocid": ocid_of(ign), "likeCount": 0, "worldName": basic["world_name"],
                 "characterClass": basic["character_class"], "characterImage": basic["character_image"]}
    calls = env.key_calls(ID, ign)
    r = get(env.svc, f"/api/v1/characters/{quote(ign)}")
    assert r.status == 200 and r.json() == b
    r = get(env.svc, f"/api/v1/characters/%20{quote(ign)}%20%20")  # trimmed
    assert r.status == 200 and r.json() == b
    assert env.key_calls(ID, ign) == calls  # OCID cached


def test_e01_unknown_404_negative_cache(env):
    ign = IGN_UNKNOWN
    r = get(env.svc, f"/api/v1/characters/{ign}")
    assert_error(r, 404, "C002", message=f"존재하지 않는 캐릭터입니다 (IGN: {ign})")
    assert env.key_calls(ID, ign) == 1
    r = get(env.svc, f"/api/v1/characters/%20{ign}")
    assert_error(r, 404, "C002", message=f"존재하지 않는 캐릭터입니다 (IGN: {ign})")
    r = get(env.svc, v4_path(ign))  # the negative cache also answers the expectation endpoint
    assert_error(r, 404, "C002", contains=ign)
    assert env.key_calls(ID, ign) == 1


# ---- E05 / E06 ------------------------------------------------------------------------------------------

def test_v5_accept_poll_and_body(env):
    ign = "데모신궁"
    r = get(env.svc, v5_path(ign), headers={"X-Correlation-ID": "v5-job-cid", **user_auth(env.svc)})
    assert r.status == 202, r
    assert r.body == b"" and r.header("Retry-After") == "2" and r.header("Content-Length") == "0"
    assert_common_headers(r, corr="v5-job-cid")
    r = poll_v5(env.svc, ign)
    # the background job spawned by the request logs under the request's correlation id (1.1)
    job = env.svc.out.wait_for(lambda l: l.get("op") == "job" and l.get("correlation_id") == "v5-job-cid", timeout=10)
    assert job["msg"].endswith(": ok"), job
    assert r.status == 200, r
    assert_common_headers(r)
    raw = r.decoded()
    check_raw_numbers(raw)
    v5 = json.loads(raw)
    assert set(v5) == V4_KEYS
    assert v5["fromCache"] is True
    assert RFC3339_UTC.match(v5["calculatedAt"]), v5["calculatedAt"]
    v4 = get(env.svc, v4_path(ign)).json()  # the V5 job filled the V4 cache
    check_v4_body(v4, ign)
    assert without(v5, "calculatedAt", "fromCache") == without(v4, "calculatedAt", "fromCache")
    v5_at = datetime.strptime(v5["calculatedAt"].replace("Z", "+0000"),
                              "%Y-%m-%dT%H:%M:%S.%f%z" if "." in v5["calculatedAt"] else "%Y-%m-%dT%H:%M:%S%z")
    v4_at = datetime.strptime(v4["calculatedAt"], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=SEOUL)
    assert abs((v5_at - v4_at).total_seconds()) < 1.0, (v5["calculatedAt"], v4["calculatedAt"])
    # gzip is negotiated like V4
    rz = get(env.svc, v5_path(ign), headers={"Accept-Encoding": "gzip", **user_auth(env.svc)})
    assert rz.status == 200 and rz.header("Content-Encoding") == "gzip" and json.loads(rz.decoded()) == v5


def test_v5_recalculate(env):
    ign = "데모섀도어"
    ocid = ocid_of(ign)
    auth = user_auth(env.svc)
    assert get(env.svc, v5_path(ign), headers=auth).status == 202
    first = poll_v5(env.svc, ign)
    assert first.status == 200, first
    before = env.key_calls(EQUIP, ocid)
    r = call(env.svc, "POST", v5_path(ign, "/recalculate"), headers=auth)
    assert r.status == 202, r
    assert r.body == b"" and r.header("Retry-After") == "2"
    assert_common_headers(r)
    again = poll_v5(env.svc, ign)
    assert again.status == 200, again
    assert again.json()["calculatedAt"] > first.json()["calculatedAt"]
    assert env.key_calls(EQUIP, ocid) == before + 1  # force=true re-fetched the equipment
    # inside the cool-down: 202 without new work, so the view is still there
    r = call(env.svc, "POST", v5_path(ign, "/recalculate"), headers=auth)
    assert r.status == 202 and r.header("Retry-After") == "2", r
    r = get(env.svc, v5_path(ign), headers=auth)
    assert r.status == 200 and r.json() == again.json(), r


def test_v5_unknown_character(env):
    ign = "nobody5x"
    r = get(env.svc, v5_path(ign), headers=user_auth(env.svc))
    assert r.status == 202, r
    r = poll_v5(env.svc, ign)
    assert_error(r, 404, "C002", message=f"존재하지 않는 캐릭터입니다 (IGN: {ign})")


def test_v5_requires_login(env):
    """E05/E06 are USER endpoints: anonymous callers (no token, a malformed or unverifiable one) get 401 A005,
    and no job is queued for them."""
    ign = "데모다크나이트"
    anonymous = ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-a-jwt"},
                 {"Authorization": "Basic " + user_auth(env.svc)["Authorization"][7:]},
                 {"Authorization": user_auth(env.svc)["Authorization"] + "x"})
    for headers in anonymous:
        for method, path in (("GET", v5_path(ign)), ("POST", v5_path(ign, "/recalculate"))):
            r = call(env.svc, method, path, headers=headers)
            assert_error(r, 401, "A005", message="인증이 필요합니다.")
    assert env.key_calls(EQUIP, ocid_of(ign)) == 0  # nothing was computed for the anonymous calls
    assert get(env.svc, v5_path(ign), headers=user_auth(env.svc)).status == 202
    assert poll_v5(env.svc, ign).status == 200


def test_v5_queue_full_503():
    e = start_pair(V5_HIGH_CAP="1", V5_QUEUE_CAP="1", V5_WORKERS="1", V5_HIGH_ONLY_WORKERS="0")
    try:
        auth = user_auth(e.svc)
        e.fake.fault(path=EQUIP, latency_ms=2500)
        assert get(e.svc, v5_path("gen7001"), headers=auth).status == 202
        # the single worker is now inside the slow upstream call for gen7001
        wait_until(lambda: e.key_calls(EQUIP, ocid_of("gen7001")) >= 1, timeout=20, message="worker busy")
        r = get(e.svc, v5_path("gen7002"), headers=auth)
        assert r.status == 202, r  # queued: the queue holds one job
        r = get(e.svc, v5_path("gen9009"), headers=auth)
        assert_error(r, 503, "S018", message="Calculation queue is full", retry_after="10")
        r = get(e.svc, v5_path("gen9009"), headers=auth)  # the marker was removed on rejection: refused again
        assert_error(r, 503, "S018", retry_after="10")
        e.fake.clear_faults()
        assert poll_v5(e.svc, "gen7001").status == 200
        assert poll_v5(e.svc, "gen7002").status == 200
        assert get(e.svc, v5_path("gen9009"), headers=auth).status == 202
        assert poll_v5(e.svc, "gen9009").status == 200
    finally:
        stop_pair(e)


# ---- conventions (1.1) ----------------------------------------------------------------------------------

def test_correlation_id(env):
    paths = [("GET", "/actuator/health/liveness"), ("GET", "/actuator/prometheus"), ("GET", "/no/such/path"),
             ("DELETE", v4_path("데모전사")), ("GET", v4_path("데모전사", "/preset/9")), ("GET", v4_path("데모전사"))]
    good = ["abc.DEF_1-2", "x", "a" * 64]
    for method, path in paths:
        for cid in good:
            r = call(env.svc, method, path, headers={"X-Correlation-ID": cid})
            assert_common_headers(r, corr=cid)
        seen = set()
        for cid in ("a" * 65, "bad char", "semi;colon", "ünï", "a/b", None):
            r = call(env.svc, method, path, headers={"X-Correlation-ID": cid} if cid is not None else {})
            assert_common_headers(r)  # replaced by a fresh UUIDv4
            seen.add(r.header("X-Correlation-ID"))
        assert len(seen) == 6
    r = call(env.svc, "GET", "/api/v4/nothing",
             headers={"Origin": "http://evil.example", "X-Correlation-ID": "cid-403"})
    assert_error(r, 403, "A017", corr="cid-403")
    env.svc.out.wait_for(lambda l: l.get("op") == "access" and l.get("correlation_id") == "abc.DEF_1-2", timeout=10)


def test_security_headers_everywhere(env):
    cases = [("GET", v4_path("데모전사"), {}), ("GET", "/nope", {}), ("GET", v4_path("데모전사", "/preset/0"), {}),
             ("GET", "/actuator/info", {}), ("GET", "/actuator/health", {}), ("GET", "/metrics", {}),
             ("OPTIONS", v4_path("데모전사"), {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "GET"}),
             ("GET", "/actuator/health", {"Origin": "http://evil.example"}), ("PATCH", "/api/v1/characters/x", {})]
    for method, path, headers in cases:
        r = call(env.svc, method, path, headers=headers)
        assert_common_headers(r)


def test_cors_allowed_origin(env):
    for method, path, status in [("GET", v4_path("데모전사"), 200), ("GET", "/actuator/health/liveness", 200),
                                 ("GET", "/nope", 404), ("POST", v4_path("gen4004", "/recalculate"), 200)]:
        r = call(env.svc, method, path, headers={"Origin": ALLOWED_ORIGIN})
        assert r.status == status, r
        assert r.header("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, r
        assert r.header("Access-Control-Allow-Credentials") == "true", r
    r = get(env.svc, "/actuator/health/liveness")  # no Origin: no CORS headers
    assert r.header("Access-Control-Allow-Origin") is None and r.header("Access-Control-Allow-Credentials") is None
    for blank in ("", "   "):
        assert get(env.svc, "/actuator/health/liveness", headers={"Origin": blank}).status == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:3000/", "http://localhost:3001",
                                    "https://localhost:3000", "null"])
def test_cors_disallowed_origin_403(env, origin):
    for method, path in [("GET", v4_path("데모전사")), ("POST", v4_path("데모전사", "/recalculate")),
                         ("GET", "/actuator/health/liveness"), ("DELETE", "/nope")]:
        r = call(env.svc, method, path, headers={"Origin": origin})
        assert_error(r, 403, "A017", message="허용되지 않는 오리진입니다.")
        assert r.header("Access-Control-Allow-Origin") is None


def test_cors_preflight(env):
    r = call(env.svc, "OPTIONS", v4_path("데모전사", "/recalculate"),
             headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
                      "Access-Control-Request-Headers": "content-type, x-correlation-id"})
    assert 200 <= r.status < 300, r
    assert_common_headers(r)
    assert r.header("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Allow-Methods") == CORS_METHODS
    assert r.header("Access-Control-Allow-Headers") == CORS_HEADERS
    assert r.header("Access-Control-Max-Age") == "3600"
    r = call(env.svc, "OPTIONS", v4_path("데모전사"),
             headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
    assert_error(r, 403, "A017")
    assert r.header("Access-Control-Allow-Methods") is None


def test_cors_custom_origins(alt):
    for origin in ("https://app.example.com", "https://admin.example.com"):
        r = get(alt.svc, "/actuator/health/liveness", headers={"Origin": origin})
        assert r.status == 200 and r.header("Access-Control-Allow-Origin") == origin, r
        r = call(alt.svc, "OPTIONS", v4_path("데모전사"), headers={"Origin": origin,
                                                                 "Access-Control-Request-Method": "GET"})
        assert 200 <= r.status < 300 and r.header("Access-Control-Max-Age") == "3600", r
    for origin in (ALLOWED_ORIGIN, "https://app.example.com.evil"):
        assert_error(get(alt.svc, "/actuator/health/liveness", headers={"Origin": origin}), 403, "A017")
        assert_error(call(alt.svc, "OPTIONS", v4_path("데모전사"), headers={"Origin": origin}), 403, "A017")


def test_recalculate_without_cooldown(alt):
    ign = "데모팔라딘"
    ocid = ocid_of(ign)
    assert get(alt.svc, v4_path(ign)).status == 200
    before = alt.key_calls(EQUIP, ocid)
    for i in (1, 2):
        r = call(alt.svc, "POST", v4_path(ign, "/recalculate"))
        assert r.status == 200 and r.json()["fromCache"] is False, r
        assert alt.key_calls(EQUIP, ocid) == before + i


def test_access_log_lines(env):
    """4.1 access log: one line per request with method, route, path, status, code, duration_ms, bytes_out,
    encoding, client_ip, principal, cache and upstream_calls (here: ACCESS_LOG_SAMPLE=1.0)."""
    ign = "gen5005"
    path = v4_path(ign)
    total = env.fake.calls()["total"]
    r = get(env.svc, path, headers={"X-Correlation-ID": "log-cold"})
    assert r.status == 200, r
    upstream = env.fake.calls()["total"] - total
    assert upstream >= 2  # at least the OCID and the equipment
    r2 = get(env.svc, path, headers={"X-Correlation-ID": "log-warm", "Accept-Encoding": "gzip"})
    assert r2.status == 200, r2
    r3 = get(env.svc, "/api/v4/nothing", headers={"X-Correlation-ID": "log-404"})
    assert r3.status == 404

    def line(cid):
        return env.svc.out.wait_for(lambda l: l.get("op") == "access" and l.get("correlation_id") == cid, timeout=10)
    fields = {"method", "route", "path", "status", "code", "duration_ms", "bytes_out", "encoding", "client_ip",
              "principal", "cache", "upstream_calls"}
    cold, warm, missing = line("log-cold"), line("log-warm"), line("log-404")
    for l in (cold, warm, missing):
        assert fields <= set(l), sorted(l)
        assert l["method"] == "GET" and l["client_ip"] == "127.0.0.1" and l["principal"] == "anonymous", l
        assert isinstance(l["duration_ms"], (int, float)) and l["duration_ms"] >= 0, l
    assert cold["route"] == warm["route"] == "/api/v4/characters/{userIgn}/expectation"
    assert cold["path"] in (path, f"/api/v4/characters/{ign}/expectation"), cold
    assert warm["path"] == cold["path"], warm
    assert missing["path"] == "/api/v4/nothing", missing
    assert (cold["status"], cold["code"], cold["cache"], cold["encoding"]) == (200, "", "computed", "identity"), cold
    assert cold["bytes_out"] == len(r.body) and cold["upstream_calls"] == upstream, (cold, upstream)
    assert (warm["status"], warm["cache"], warm["encoding"], warm["upstream_calls"]) == (200, "l1", "gzip", 0), warm
    assert warm["bytes_out"] == len(r2.body), warm
    assert (missing["status"], missing["code"]) == (404, "C006"), missing


# ---- routing and path parameters ------------------------------------------------------------------------

def test_unknown_path_404(env):
    for path in ("/api/v4/nothing", "/", "/api/v4/characters/x/expectation/extra", "/actuator",
                 "/api/v4/characters/x/expectation/preset"):
        r = get(env.svc, path)
        assert_error(r, 404, "C006", message=f"No such endpoint: {path}")


def test_wrong_method_405(env):
    cases = [("DELETE", v4_path("데모전사"), "GET"), ("POST", v4_path("데모전사"), "GET"),
             ("GET", v4_path("데모전사", "/recalculate"), "POST"), ("PUT", "/api/v1/characters/x", "GET"),
             ("POST", "/actuator/prometheus", "GET"), ("DELETE", v5_path("x", "/recalculate"), "POST")]
    for method, path, allow in cases:
        r = call(env.svc, method, path, headers={"Content-Type": "application/json"})
        assert_error(r, 405, "C007", message=f"Method {method} not allowed")
        assert r.all("Allow") == [allow], r


@pytest.mark.parametrize("segment", ["", "%20%20", "%20", "%01", "a%01b", "%00", "%7F", "%FF", "%C3%28", "%ED%A0%80",
                                     "a" * 31, "가" * 31, "%E0%80%80"])
def test_bad_ign_400(env, segment):
    segment = segment if segment.isascii() else quote(segment, safe="")
    for path in (f"/api/v4/characters/{segment}/expectation", f"/api/v1/characters/{segment}",
                 f"/api/v5/characters/{segment}/expectation"):
        r = get(env.svc, path)
        assert_error(r, 400, "C001")


@pytest.mark.parametrize("ign", ["a" * 30, "가" * 30, "%20" + "b" * 30 + "%20"])
def test_ign_length_limit_inclusive(env, ign):
    segment = ign if ign.startswith("%") else quote(ign, safe="")
    r = get(env.svc, f"/api/v4/characters/{segment}/expectation")
    assert_error(r, 404, "C002")  # valid name, unknown upstream


# ---- operational endpoints (1.11) -----------------------------------------------------------------------

def test_liveness_readiness(env):
    r = get(env.svc, "/actuator/health/liveness")
    assert r.status == 200 and r.json() == {"status": "UP"}, r
    assert r.header("Content-Type") == JSON_UTF8 and r.header("Retry-After") is None
    r = get(env.svc, "/actuator/health/readiness")
    assert r.status == 200 and r.json() == {"status": "UP", "state": "READY"}, r


def test_health_details_for_loopback(env):
    r = get(env.svc, "/actuator/health")
    assert r.status == 200, r
    b = r.json()
    assert set(b) == {"status", "components"} and b["status"] == "UP", b
    assert set(b["components"]) == {"db", "redis", "upstream", "lookupTables", "lifecycle"}, b
    for c in b["components"].values():
        assert isinstance(c.get("status"), str), b
    assert set(b["components"]["upstream"]) >= {"status", "circuit"}
    assert b["components"]["db"]["status"] == "UP" and b["components"]["lifecycle"]["status"] == "UP"


def test_info(env):
    r = get(env.svc, "/actuator/info")
    assert r.status == 200, r
    b = r.json()
    assert set(b) == {"version", "commit", "mode", "instanceId", "startedAt", "lookupTablesChecksum",
                      "schemaVersion"}, b
    version = subprocess.run([_bin("MAPLEXP_BIN", "maplexp"), "--version"], capture_output=True, text=True, timeout=30)
    assert version.stdout.strip() == f"maplexp {b['version']}"
    assert isinstance(b["commit"], str) and b["commit"]
    assert b["mode"] == "standalone"
    ready = env.svc.logs(op="ready")[0]
    assert b["instanceId"] == ready["instance"]
    assert RFC3339_UTC.match(b["startedAt"]), b
    started = datetime.strptime(b["startedAt"].replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    assert timedelta(0) <= datetime.now(timezone.utc) - started < timedelta(hours=1)
    assert re.fullmatch(r"[0-9a-f]{64}", b["lookupTablesChecksum"]), b
    assert type(b["schemaVersion"]) is int and b["schemaVersion"] >= 1
    health = get(env.svc, "/actuator/health").json()
    assert health["components"]["lookupTables"].get("checksum", b["lookupTablesChecksum"]) == b["lookupTablesChecksum"]


def _traffic_on_every_endpoint(svc):
    ign, cold = "데모아란", "데모루미너스"
    assert get(svc, v4_path(ign)).status == 200
    assert get(svc, v4_path(ign), headers={"Accept-Encoding": "gzip"}).status == 200
    assert get(svc, v4_path(ign, "/preset/1")).status == 200
    assert call(svc, "POST", v4_path(ign, "/recalculate")).status == 200
    assert get(svc, f"/api/v1/characters/{quote(ign)}").status == 200
    assert get(svc, v5_path(cold), headers=user_auth(svc)).status == 202
    assert poll_v5(svc, cold).status == 200
    assert call(svc, "POST", v5_path(cold, "/recalculate"), headers=user_auth(svc)).status == 202
    assert poll_v5(svc, cold).status == 200
    assert get(svc, f"/api/v1/characters/{IGN_UNKNOWN}").status == 404
    assert get(svc, v4_path(ign, "/preset/7")).status == 400
    assert get(svc, "/api/v4/nothing-" + quote(ign)).status == 404
    assert call(svc, "DELETE", v4_path(ign)).status == 405
    assert get(svc, v4_path(ign), headers={"Origin": "http://evil.example"}).status == 403
    assert call(svc, "OPTIONS", v4_path(ign), headers={"Origin": ALLOWED_ORIGIN}).status in (200, 204)
    assert call(svc, "POST", v4_path(ign, "/recalculate"), headers={"Content-Type": "text/plain"},
                body=b"x").status == 415
    for p in ("/actuator/health", "/actuator/health/liveness", "/actuator/health/readiness", "/actuator/info",
              "/metrics"):
        assert get(svc, p).status == 200
    return [ign, cold]


def test_metrics_format_and_promtool(env):
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail(f"promtool is required at {PROMTOOL} (Debian package prometheus) to check the metrics format")
    used = _traffic_on_every_endpoint(env.svc)
    for path in ("/actuator/prometheus", "/metrics"):
        r = get(env.svc, path)
        assert r.status == 200, r
        assert_common_headers(r)
        assert r.header("Content-Type").startswith("text/plain; version=0.0.4"), r
        text = r.body.decode("utf-8")
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=r.body, capture_output=True, timeout=60)
        assert check.returncode == 0 and check.stdout == b"" and check.stderr == b"", \
            (check.returncode, check.stdout[-3000:], check.stderr[-3000:])
        # request metrics are labelled by route template, never by the IGN
        assert 'route="/api/v4/characters/{userIgn}/expectation"' in text
        assert 'route="/api/v1/characters/{userIgn}"' in text
        for ign in set(used + IGNS):
            for form in (ign, quote(ign, safe=""), ocid_of(ign)):
                assert form not in text, f"{form} ({ign}) appears in the metrics text"
        assert "nothing-" not in text


def test_actuator_from_outside_via_trusted_proxy(env):
    """Default TRUSTED_PROXIES contains 127.0.0.1: X-Forwarded-For names the client."""
    outside = {"X-Forwarded-For": "203.0.113.7"}
    for path in ("/actuator/prometheus", "/metrics", "/actuator/info"):
        r = get(env.svc, path, headers=outside)
        assert_error(r, 403, "A006", message="접근 권한이 없습니다.")
    r = get(env.svc, "/actuator/health", headers=outside)
    assert r.status == 200 and r.json() == {"status": "UP"}, r
    r = get(env.svc, "/actuator/prometheus", headers={"X-Forwarded-For": "203.0.113.7, 127.0.0.1"})
    assert_error(r, 403, "A006")
    for inside in ("192.168.1.5", "10.9.8.7", "203.0.113.7, 172.16.0.1"):
        r = get(env.svc, "/actuator/prometheus", headers={"X-Forwarded-For": inside})
        assert r.status == 200, (inside, r)
    assert get(env.svc, "/actuator/health/liveness", headers=outside).status == 200
    assert get(env.svc, "/actuator/health/readiness", headers=outside).status == 200


def test_actuator_loopback_is_internal_whatever_the_cidr_list(alt):
    """1.11: allowed if the client is loopback OR inside METRICS_ALLOWED_CIDRS (decision 23). With
    METRICS_ALLOWED_CIDRS=10.0.0.0/8 and loopback not a trusted proxy, a loopback client is still
    internal, and an X-Forwarded-For header from it is ignored (it cannot claim another address)."""
    for headers in ({}, {"X-Forwarded-For": "203.0.113.7"}):
        for path in ("/actuator/prometheus", "/metrics", "/actuator/info"):
            r = get(alt.svc, path, headers=headers)
            assert r.status == 200, (path, headers, r)
        r = get(alt.svc, "/actuator/health", headers=headers)
        assert r.status == 200 and "components" in r.json(), r
    assert get(alt.svc, "/actuator/health/liveness").json() == {"status": "UP"}


# ---- start-up and shutdown ------------------------------------------------------------------------------

def _serve_env(workdir, **over):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("MODE", "HTTP_", "SQLITE_", "NEXON_"))}
    base.update({"NEXON_API_KEY": SERVER_KEY, "NEXON_API_BASE_URL": "http://127.0.0.1:9",
                 "SQLITE_PATH": os.path.join(workdir, "maplexp.db"), "HTTP_PORT": "0", "SHUTDOWN_LB_GRACE_S": "0"})
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = v
    return base


def _run_serve(env_vars, *args, timeout=20):
    t0 = time.monotonic()
    proc = subprocess.run([_bin("MAPLEXP_BIN", "maplexp"), "serve", *args], env=env_vars, capture_output=True,
                          timeout=timeout, cwd=env_vars.get("SQLITE_PATH", "/tmp").rsplit("/", 1)[0])
    proc.elapsed = time.monotonic() - t0
    proc.err_lines = proc.stderr.decode("utf-8", "replace").splitlines()
    return proc


@pytest.mark.parametrize("over, args, names", [
    ({}, ("--no-such-setting", "1"), "--no-such-setting"),
    ({"HTTP_PORT": "70000"}, (), "HTTP_PORT"),
    ({"HTTP_PORT": "80a"}, (), "HTTP_PORT"),
    ({}, ("--http-port", "-1"), "HTTP_PORT"),
    ({"MODE": "cluster"}, (), "MODE"),
    ({"MODE": "clustered"}, (), "MODE"),
    ({"NEXON_API_KEY": None}, (), "NEXON_API_KEY"),
    ({"NEXON_API_KEY": ""}, (), "NEXON_API_KEY"),
    ({"SHUTDOWN_TOTAL_S": "10"}, (), "SHUTDOWN_TOTAL_S"),
])
def test_startup_config_errors_exit_78(tmp_path, over, args, names):
    proc = _run_serve(_serve_env(str(tmp_path), **over), *args)
    assert proc.returncode == 78, (proc.returncode, proc.stderr[-3000:])
    assert proc.elapsed < 10, proc.elapsed
    assert len(proc.err_lines) == 1, proc.err_lines[:20]
    assert names in proc.err_lines[0], proc.err_lines[0]


def test_serve_help(tmp_path):
    proc = _run_serve(_serve_env(str(tmp_path)), "--help")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "NEXON_API_KEY" in out and "--http-port" in out and "RECALC_COOLDOWN_S" in out
    assert proc.stderr == b""


@pytest.fixture(scope="module")
def lone():
    """A service that sees no traffic but liveness probes: for the lock and shutdown tests."""
    svc = Service(None)
    yield svc
    if not hasattr(svc, "stderr"):
        stop_checked(svc)


def test_second_process_on_same_database_refused(lone):
    proc = _run_serve(_serve_env(lone.dir, SQLITE_PATH=lone.env["SQLITE_PATH"]))
    assert proc.returncode == 78, (proc.returncode, proc.stderr[-3000:])
    assert proc.elapsed < 10
    assert len(proc.err_lines) == 1 and "another maplexp process" in proc.err_lines[0], proc.err_lines
    assert "SQLITE_PATH" in proc.err_lines[0]
    assert get(lone, "/actuator/health/readiness").json() == {"status": "UP", "state": "READY"}
    assert get(lone, "/actuator/health/liveness").status == 200


def test_sigterm_idle_exits_0_with_phases(lone):
    assert get(lone, "/actuator/health/liveness").status == 200
    t0 = time.monotonic()
    lone.proc.send_signal(signal.SIGTERM)
    code = lone.proc.wait(timeout=30)
    elapsed = time.monotonic() - t0
    stop_checked(lone)
    assert code == 0
    assert elapsed < 10, elapsed
    msgs = [l.get("msg", "") for l in lone.out.lines if l.get("op") in ("signal", "shutdown")]
    assert msgs and msgs[0].startswith("received signal 15"), msgs
    order = ["phase stop_admitting done", "phase readiness_false done", "phase drain done", "phase flush done",
             "phase close done", "stopped"]
    positions = []
    for phase in order:
        hits = [i for i, m in enumerate(msgs) if m.startswith(phase)]
        assert len(hits) == 1, (phase, msgs)
        positions.append(hits[0])
    assert positions == sorted(positions), msgs
    assert "stopped (left: requests=0 records=0)" in msgs


def test_e02_counts_popularity(env):
    """SC-24: every E02 call (cached or not) adds one to the IGN's daily popularity; E03 does not."""
    ign = "gen7007"
    before = env.svc.metric("popularity_increments_total", result="ok")
    for _ in range(3):
        assert get(env.svc, v4_path(ign)).status == 200
    assert get(env.svc, v4_path(ign, "/preset/1")).status == 200
    assert env.svc.metric("popularity_increments_total", result="ok") - before == 3
