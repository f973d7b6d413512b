"""`fake-nexon`, the fake Nexon Open API (tools/fake-nexon/README.md): the four endpoints for demo,
generated and payload-dir characters, errors, determinism, payload size and validity (the project's
decoder and valuation accept ~50 generated payloads), gzip, call counters, every fault kind, user
keys, robustness against junk, and a clean SIGTERM exit (leak-free under ASan).

The binary is FAKE_NEXON_BIN (default build/release/fake-nexon); `maplexp` (MAPLEXP_BIN, default
build/release/maplexp) values the generated payloads. Fixtures are local to this file."""
import gzip
import hashlib
import http.client
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "tests" / "data" / "evan_equip.json"
SERVER_KEY = "demo-nexon-key"
ID = "/maplestory/v1/id"
BASIC = "/maplestory/v1/character/basic"
EQUIP = "/maplestory/v1/character/item-equipment"
LIST = "/maplestory/v1/character/list"
GRADES = {"레어", "에픽", "유니크", "레전드리"}
TOP_KEYS = ["date", "character_gender", "character_class", "preset_no", "item_equipment", "item_equipment_preset_1",
            "item_equipment_preset_2", "item_equipment_preset_3", "title", "medal_shape", "dragon_equipment",
            "mechanic_equipment"]
BASIC_KEYS = ["date", "character_name", "world_name", "character_gender", "character_class", "character_class_level",
              "character_level", "character_exp", "character_exp_rate", "character_guild_name", "character_image",
              "character_date_create", "access_flag", "liberation_quest_clear_flag"]
START_TIMEOUT = 60  # seconds; the sanitizer build loads the probability tables slowly


def fake_binary() -> str:
    path = os.environ.get("FAKE_NEXON_BIN", str(ROOT / "build" / "release" / "fake-nexon"))
    if not os.access(path, os.X_OK):
        pytest.exit(f"fake-nexon binary not found at {path}: run `make` first", returncode=3)
    return path


def ocid_of(name: str) -> str:
    return hashlib.sha256(("ocid:" + name).encode()).hexdigest()[:32]


def max_star(level: int) -> int:
    """Valuation spec 4.1."""
    for bound, stars in ((94, 5), (107, 8), (117, 10), (127, 15), (137, 20)):
        if level <= bound:
            return stars
    return 30


class FakeNexon:
    """One running fake-nexon process on a free port."""

    def __init__(self, *args):
        self.stderr_file = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([fake_binary(), "--port", "0", *map(str, args)], stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, cwd="/")
        self.listening = json.loads(self._first_line())
        self.port = self.listening["port"]
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = requests.Session()

    def _first_line(self) -> str:
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            if time.monotonic() > deadline or not sel.select(timeout=deadline - time.monotonic()):
                self.proc.kill()
                pytest.fail(f"fake-nexon printed no listening line: {self.stderr()}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                pytest.fail(f"fake-nexon exited during start-up ({self.proc.wait()}): {self.stderr()}")
            line += chunk
        sel.close()
        assert line.count(b"\n") == 1, line
        return line.decode()

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode(errors="replace")

    def url(self, path):
        return self.base + path

    def get(self, path, params=None, key=SERVER_KEY, **kw):
        headers = kw.pop("headers", {})
        if key is not None:
            headers["x-nxopen-api-key"] = key
        return self.session.get(self.url(path), params=params, headers=headers, timeout=30, **kw)

    def ocid(self, name):
        r = self.get(ID, {"character_name": name})
        assert r.status_code == 200, (name, r.status_code, r.text)
        return r.json()["ocid"]

    def equipment_bytes(self, name):
        r = self.get(EQUIP, {"ocid": self.ocid(name)})
        assert r.status_code == 200, r.text
        return r.content

    def admin(self, method, path, body=None, raw=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return requests.request(method, self.url(path), data=data, timeout=30)

    def fault(self, **fields):
        r = self.admin("POST", "/admin/faults", fields)
        assert r.status_code == 200, r.text
        return r.json()

    def calls(self):
        return self.admin("GET", "/admin/calls").json()

    def stop(self, timeout=30):
        """SIGTERM; returns the exit status."""
        self.session.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def payload_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("payloads")
    shutil.copy(SAMPLE, d / "실제에반.json")
    (d / "깨진캐릭터.json").write_bytes(b'{"item_equipment": [')  # served verbatim, broken on purpose
    (d / "ignored.txt").write_text("not a payload")
    return d


@pytest.fixture(scope="module")
def fake(payload_dir):
    server = FakeNexon("--payload-dir", payload_dir)
    yield server
    rc = server.stop()
    assert rc == 0, server.stderr()
    assert "LeakSanitizer" not in server.stderr() and "runtime error" not in server.stderr(), server.stderr()


@pytest.fixture(autouse=True)
def clean_state(request):
    """Counters zeroed and faults cleared before every test that uses the shared server."""
    if "fake" in request.fixturenames:
        server = request.getfixturevalue("fake")
        assert server.admin("POST", "/admin/reset").json() == {"ok": True}
    yield


# ---- start-up and command line -------------------------------------------------------------

def test_listening_line(fake):
    """Exactly one JSON line with event, host and the bound port."""
    assert fake.listening == {"event": "listening", "host": "127.0.0.1", "port": fake.port}
    assert 0 < fake.port < 65536


def test_help_and_bad_options():
    help_run = subprocess.run([fake_binary(), "--help"], capture_output=True, timeout=30)
    assert help_run.returncode == 0
    for flag in ("--host", "--port", "--api-key", "--template", "--payload-dir", "--demo-count", "--help"):
        assert flag.encode() in help_run.stdout
    for bad in (["--port", "70000"], ["--demo-count", "-1"], ["--frobnicate"], ["--port"]):
        r = subprocess.run([fake_binary(), *bad], capture_output=True, timeout=30)
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stdout == b"" and r.stderr.startswith(b"fake-nexon: "), r.stderr
    r = subprocess.run([fake_binary(), "--template", "/nonexistent/template.json"], capture_output=True, timeout=60)
    assert r.returncode == 1 and b"/nonexistent/template.json" in r.stderr and r.stdout == b""


# ---- the four endpoints ------------------------------------------------------------------

def test_demo_characters_flow(fake):
    listing = fake.admin("GET", "/admin/characters").json()
    names = listing["characters"]
    assert names[:3] == ["데모전사", "데모마법사", "데모궁수"] and len(names) == 12 and len(set(names)) == 12
    assert listing["payload_characters"] == ["깨진캐릭터", "실제에반"]
    for name in names:
        ocid = fake.ocid(name)
        assert ocid == ocid_of(name)
        basic = fake.get(BASIC, {"ocid": ocid})
        assert basic.status_code == 200
        assert basic.headers["Content-Type"] == "application/json; charset=utf-8"
        b = basic.json()
        assert list(b) == BASIC_KEYS
        assert b["character_name"] == name and b["date"] is None
        assert 200 <= b["character_level"] <= 290
        assert b["character_image"].startswith("https://open.api.nexon.com/static/maplestory/character/look/")
        equip = fake.get(EQUIP, {"ocid": ocid}).json()
        assert equip["character_class"] == b["character_class"]
        assert equip["character_gender"] == b["character_gender"]
    detail = {d["character_name"]: d for d in listing["details"]}
    assert detail["데모전사"]["character_class"] == "히어로"
    assert detail["데모마법사"]["character_class"] == "아크메이지(불,독)"
    assert detail["데모궁수"]["character_class"] == "보우마스터"


def test_generated_characters_flow(fake):
    for name in ("gen1", "gen42", "gen042", "gen999999999"):
        ocid = fake.ocid(name)
        assert ocid == ocid_of(name)
        b = fake.get(BASIC, {"ocid": ocid}).json()
        assert b["character_name"] == name
        e = fake.get(EQUIP, {"ocid": ocid}).json()
        assert list(e) == TOP_KEYS
        assert e["character_class"] == b["character_class"]
        presets = [e[f"item_equipment_preset_{n}"] for n in (1, 2, 3)]
        assert all(presets)
        assert e["preset_no"] in (1, 2, 3) and e["item_equipment"] == presets[e["preset_no"] - 1]
        assert (e["dragon_equipment"] != []) == (e["character_class"] == "에반")
    assert fake.ocid("gen42") != fake.ocid("gen042")


def test_character_list(fake):
    r = fake.get(LIST, key="demo-user-key")
    assert r.status_code == 200
    accounts = r.json()["account_list"]
    assert [a["account_id"] for a in accounts] == ["demo-account-1"]
    chars = accounts[0]["character_list"]
    assert [c["character_name"] for c in chars] == ["데모전사", "데모마법사", "데모궁수"]
    for c in chars:
        assert list(c) == ["ocid", "character_name", "world_name", "character_class", "character_level"]
        assert c["ocid"] == ocid_of(c["character_name"])
        basic = fake.get(BASIC, {"ocid": c["ocid"]}).json()
        assert (basic["world_name"], basic["character_class"], basic["character_level"]) == \
               (c["world_name"], c["character_class"], c["character_level"])


def test_unknown_characters_are_400(fake):
    invalid = {"error": {"name": "OPENAPI00004", "message": "Please input valid parameter"}}
    for name in ("nobody", "gen", "gen1234567890", "GEN1", "gen1a", " gen1", "데모전사 ", "", "x" * 5000):
        r = fake.get(ID, {"character_name": name})
        assert (r.status_code, r.json()) == (400, invalid), name
    assert fake.get(ID).status_code == 400
    assert fake.get(ID + "?character_name").status_code == 400
    assert fake.get(ID + "?character_name=%FF%FE%00").status_code == 400
    for path in (BASIC, EQUIP):
        for ocid in ("0" * 32, "zz", ocid_of("gen77")[:31], ocid_of("nobody"), ""):
            r = fake.get(path, {"ocid": ocid})
            assert (r.status_code, r.json()) == (400, invalid), (path, ocid)
        assert fake.get(path).status_code == 400


def test_wrong_key_is_401(fake):
    rejected = {"error": {"name": "OPENAPI00005", "message": "Please input valid api key"}}
    ocid = fake.ocid("gen5")
    for path, params in ((ID, {"character_name": "gen5"}), (BASIC, {"ocid": ocid}), (EQUIP, {"ocid": ocid})):
        for key in (None, "wrong-key", "demo-user-key", ""):
            r = fake.get(path, params, key=key)
            assert (r.status_code, r.json()) == (401, rejected), (path, key)
    for key in (None, SERVER_KEY, "unknown-user"):
        r = fake.get(LIST, key=key)
        assert (r.status_code, r.json()) == (401, rejected), key


def test_unknown_path_is_404(fake):
    for path in ("/", "/maplestory/v1/character", "/maplestory/v1/id/", "/maplestory/v2/id", "/admin"):
        r = fake.get(path)
        assert r.status_code == 404, path
        assert r.json()["error"]["name"] == "OPENAPI00006"
    assert fake.admin("GET", "/admin/nope").status_code == 404
    assert fake.calls()["total"] == 0


def test_payload_dir_characters(fake):
    ocid = fake.ocid("실제에반")
    body = fake.get(EQUIP, {"ocid": ocid}).content
    assert body == SAMPLE.read_bytes()
    basic = fake.get(BASIC, {"ocid": ocid}).json()
    assert (basic["character_class"], basic["character_gender"]) == ("에반", "남")
    broken = fake.get(EQUIP, {"ocid": fake.ocid("깨진캐릭터")})
    assert (broken.status_code, broken.content) == (200, b'{"item_equipment": [')
    assert fake.get(ID, {"character_name": "ignored"}).status_code == 400


# ---- payloads ----------------------------------------------------------------------------

def test_payload_is_deterministic(fake):
    """Byte-identical on refetch, after the cache has evicted the body, and in another process."""
    first = {name: fake.equipment_bytes(name) for name in ("gen42", "데모전사")}
    assert fake.equipment_bytes("gen42") == first["gen42"]
    for i in range(140):  # more distinct bodies than the cache keeps
        fake.get(EQUIP, {"ocid": fake.ocid(f"gen{5000 + i}")})
    assert fake.equipment_bytes("gen42") == first["gen42"]
    other = FakeNexon("--demo-count", "3")
    try:
        for name, body in first.items():
            assert other.equipment_bytes(name) == body
    finally:
        assert other.stop() == 0, other.stderr()


def check_payload_shape(doc):
    assert list(doc) == TOP_KEYS
    for n in (1, 2, 3):
        preset = doc[f"item_equipment_preset_{n}"]
        assert len(preset) >= 20
        for item in preset:
            level = item["item_base_option"]["base_equipment_level"]
            stars = int(item["starforce"])
            assert 0 <= stars <= max_star(level), (item["item_name"], stars, level)
            assert item["starforce_scroll_flag"] in ("사용", "미사용")
            if item["starforce_scroll_flag"] == "사용":
                assert stars <= 15
            for prefix in ("", "additional_"):
                grade = item[f"{prefix}potential_option_grade"]
                if grade is not None:
                    assert grade in GRADES
                    for k in (1, 2, 3):
                        assert isinstance(item[f"{prefix}potential_option_{k}"], str)


def test_fifty_generated_payloads_are_valid(fake, tmp_path):
    """Size 200-400 KB, the expected shape, variety across characters, and accepted by the
    project's decoder and valuation (`maplexp calc --json`: exit 0, no INVALID_INPUT)."""
    names = [f"gen{n}" for n in range(1, 41)] + ["데모전사", "데모마법사", "데모궁수", "데모도적", "데모해적",
                                                "데모에반", "데모비숍", "데모팔라딘", "데모신궁", "데모섀도어"]
    files, classes, grades, stars, presets = [], set(), set(), set(), set()
    for name in names:
        body = fake.equipment_bytes(name)
        assert 200_000 <= len(body) <= 400_000, (name, len(body))
        doc = json.loads(body)
        check_payload_shape(doc)
        classes.add(doc["character_class"])
        for item in doc["item_equipment_preset_1"]:
            grades.add(item["potential_option_grade"])
            stars.add(item["starforce"])
        presets.add(tuple(i["item_name"] for i in doc["item_equipment_preset_1"]))
        path = tmp_path / f"{name}.json"
        path.write_bytes(body)
        files.append(path)
    assert len(classes) >= 8 and GRADES <= grades and len(stars) >= 8 and len(presets) >= 10

    maplexp = os.environ.get("MAPLEXP_BIN", str(ROOT / "build" / "release" / "maplexp"))
    if not os.access(maplexp, os.X_OK):
        pytest.skip(f"maplexp not built at {maplexp}")

    def value(path):
        return subprocess.run([maplexp, "calc", str(path), "--json"], capture_output=True, timeout=300)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(value, files))
    for path, r in zip(files, results):
        assert r.returncode == 0, (path.name, r.stderr)
        text = r.stdout.decode()
        assert '"INVALID_INPUT"' not in text, path.name
        report = json.loads(text)
        assert len(report["presets"]) == 3 and report["totalExpectedCost"] > 0


def test_gzip(fake):
    ocid = fake.ocid("gen7")
    plain = fake.get(EQUIP, {"ocid": ocid}, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
    for accept in ("gzip", "deflate, gzip;q=0.5", "br, GZIP"):
        conn.request("GET", f"{EQUIP}?ocid={ocid}", headers={"x-nxopen-api-key": SERVER_KEY, "Accept-Encoding": accept})
        resp = conn.getresponse()
        raw = resp.read()
        assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip", accept
        assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content) / 5
    conn.request("GET", f"{ID}?character_name=gen7", headers={"x-nxopen-api-key": SERVER_KEY,
                                                               "Accept-Encoding": "gzip;q=0"})
    resp = conn.getresponse()
    assert resp.getheader("Content-Encoding") is None and json.loads(resp.read()) == {"ocid": ocid}
    conn.request("GET", f"{ID}?character_name=nobody", headers={"x-nxopen-api-key": SERVER_KEY,
                                                                 "Accept-Encoding": "gzip"})
    resp = conn.getresponse()
    assert resp.status == 400 and json.loads(gzip.decompress(resp.read()))["error"]["name"] == "OPENAPI00004"
    conn.close()


# ---- call counters -----------------------------------------------------------------------

def test_call_counters(fake):
    ocid = fake.ocid("gen11")
    fake.get(BASIC, {"ocid": ocid})
    fake.get(EQUIP, {"ocid": ocid})
    fake.get(EQUIP, {"ocid": ocid})
    fake.get(EQUIP, {"ocid": ocid}, key="bad")           # failed requests count too
    fake.get(ID, {"character_name": "nobody"})
    fake.get(LIST, key="demo-user-key")
    fake.get("/not/nexon")                               # not a Nexon path: not counted
    fake.admin("GET", "/admin/characters")
    c = fake.calls()
    assert c["total"] == 7
    assert c["paths"] == {ID: 2, BASIC: 1, EQUIP: 3, LIST: 1}
    assert c["keys"] == {f"{ID} gen11": 1, f"{BASIC} {ocid}": 1, f"{EQUIP} {ocid}": 3, f"{ID} nobody": 1,
                         f"{LIST} demo-user-key": 1}
    assert c["keys_overflow"] == 0
    assert fake.admin("POST", "/admin/reset").json() == {"ok": True}
    assert fake.calls() == {"total": 0, "paths": {ID: 0, BASIC: 0, EQUIP: 0, LIST: 0}, "keys": {},
                            "keys_overflow": 0}


# ---- faults ------------------------------------------------------------------------------

def test_fault_status_and_retry_after(fake):
    ocid = fake.ocid("gen12")
    listed = fake.fault(path=EQUIP, status=503, retry_after=7)
    assert listed == {"faults": [{"path": EQUIP, "latency_ms": 0, "status": 503, "error_rate": 1, "retry_after": 7,
                                  "mode": "normal"}]}
    r = fake.get(EQUIP, {"ocid": ocid})
    assert (r.status_code, r.headers.get("Retry-After"), r.json()["error"]["name"]) == (503, "7", "OPENAPI00011")
    assert fake.get(BASIC, {"ocid": ocid}).status_code == 200  # other paths untouched
    fake.fault(path=EQUIP, status=429, retry_after=2)          # replaces the path's fault
    r = fake.get(EQUIP, {"ocid": ocid})
    assert (r.status_code, r.headers.get("Retry-After"), r.json()["error"]["name"]) == (429, "2", "OPENAPI00007")
    fake.fault(path=EQUIP, status=500)
    r = fake.get(EQUIP, {"ocid": ocid})
    assert r.status_code == 500 and "Retry-After" not in r.headers
    assert fake.calls()["paths"][EQUIP] == 3
    assert fake.admin("DELETE", "/admin/faults").json() == {"faults": []}
    assert fake.get(EQUIP, {"ocid": ocid}).status_code == 200


def test_fault_wildcard_and_precedence(fake):
    fake.fault(path="*", status=503)
    fake.fault(path=BASIC, latency_ms=1)  # a path's own fault wins over "*"
    ocid = ocid_of("데모전사")
    assert fake.get(ID, {"character_name": "데모전사"}).status_code == 503
    assert fake.get(LIST, key="demo-user-key").status_code == 503
    assert fake.get(BASIC, {"ocid": ocid}).status_code == 200
    assert fake.admin("POST", "/admin/reset").status_code == 200  # reset clears faults
    assert fake.get(ID, {"character_name": "데모전사"}).status_code == 200


def test_fault_latency_overlaps(fake):
    """Two concurrent 300 ms requests finish together (a timer, not a blocking sleep)."""
    fake.fault(path=ID, latency_ms=300)
    results = []

    def call(name):
        t0 = time.monotonic()
        r = requests.get(fake.url(ID), params={"character_name": name}, headers={"x-nxopen-api-key": SERVER_KEY},
                         timeout=30)
        results.append((r.status_code, time.monotonic() - t0))

    start = time.monotonic()
    threads = [threading.Thread(target=call, args=(n,)) for n in ("gen21", "gen22")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.monotonic() - start
    assert [s for s, _ in results] == [200, 200]
    # libevent arms timers from its cached loop time, which may precede the request by a few ms
    assert all(elapsed >= 0.28 for _, elapsed in results), results
    assert total < 0.55, (total, results)
    fake.fault(path=ID, latency_ms=200, status=503, retry_after=1)  # latency then the error
    t0 = time.monotonic()
    r = requests.get(fake.url(ID), params={"character_name": "gen1"}, headers={"x-nxopen-api-key": SERVER_KEY},
                     timeout=30)
    assert r.status_code == 503 and time.monotonic() - t0 >= 0.18


def test_fault_close_mode(fake):
    fake.fault(path=EQUIP, mode="close")
    ocid = fake.ocid("gen13")
    for _ in range(3):
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(fake.url(EQUIP), params={"ocid": ocid}, headers={"x-nxopen-api-key": SERVER_KEY}, timeout=30)
    fake.fault(path=EQUIP, mode="close", latency_ms=100)
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(fake.url(EQUIP), params={"ocid": ocid}, headers={"x-nxopen-api-key": SERVER_KEY}, timeout=30)
    assert time.monotonic() - t0 >= 0.1
    assert fake.get(BASIC, {"ocid": ocid}).status_code == 200
    assert fake.calls()["keys"][f"{EQUIP} {ocid}"] == 4


def test_fault_error_rate(fake):
    """About the requested fraction fails, and the same sequence comes back after a reset."""

    def run():
        fake.fault(path=ID, status=500, error_rate=0.3)
        return [fake.get(ID, {"character_name": "gen31"}).status_code for _ in range(400)]

    first = run()
    assert set(first) == {200, 500}
    assert 0.22 <= first.count(500) / len(first) <= 0.38
    fake.admin("POST", "/admin/reset")
    assert run() == first
    fake.fault(path=ID, status=500, error_rate=0)
    assert all(fake.get(ID, {"character_name": "gen31"}).status_code == 200 for _ in range(20))


# ---- admin API ---------------------------------------------------------------------------

def test_admin_rejects_bad_bodies(fake):
    bad = [
        ("/admin/faults", "{not json"),
        ("/admin/faults", ""),
        ("/admin/faults", "[1, 2]"),
        ("/admin/faults", json.dumps({"path": "/nope", "status": 500})),
        ("/admin/faults", json.dumps({"status": 200})),
        ("/admin/faults", json.dumps({"status": "500"})),
        ("/admin/faults", json.dumps({"latency_ms": -1})),
        ("/admin/faults", json.dumps({"latency_ms": 1.5})),
        ("/admin/faults", json.dumps({"error_rate": 1.5})),
        ("/admin/faults", json.dumps({"mode": "explode"})),
        ("/admin/faults", json.dumps({"retry_after": 10 ** 12})),
        ("/admin/faults", json.dumps({"colour": "red"})),
        ("/admin/users", json.dumps({"key": "k"})),
        ("/admin/users", json.dumps({"key": "", "accounts": []})),
        ("/admin/users", json.dumps({"key": "k", "accounts": [{"account_id": "a", "characters": ["nobody"]}]})),
        ("/admin/users", json.dumps({"key": "k", "accounts": [{"account_id": "a", "characters": [7]}]})),
        ("/admin/users", json.dumps({"key": "k", "accounts": ["a"]})),
        ("/admin/users", json.dumps({"key": "k", "accounts": [], "extra": 1})),
    ]
    for path, body in bad:
        r = fake.admin("POST", path, raw=body)
        assert r.status_code == 400, (path, body, r.text)
        assert isinstance(r.json()["error"], str) and r.json()["error"], (path, body)
    assert fake.admin("GET", "/admin/faults").json() == {"faults": []}  # nothing was set
    assert fake.get(LIST, key="k").status_code == 401                   # nor added
    assert fake.admin("GET", "/admin/reset").status_code == 405
    assert fake.admin("PUT", "/admin/calls").status_code == 405


def test_admin_users(fake):
    accounts = [{"account_id": "acc-a", "characters": ["gen123456", "데모해적"]},
                {"account_id": "acc-b", "characters": ["실제에반"]}]
    r = fake.admin("POST", "/admin/users", {"key": "user-key-1", "accounts": accounts})
    assert r.json() == {"ok": True, "accounts": 2, "characters": 3}
    listing = fake.get(LIST, key="user-key-1").json()["account_list"]
    assert [a["account_id"] for a in listing] == ["acc-a", "acc-b"]
    assert [c["character_name"] for c in listing[0]["character_list"]] == ["gen123456", "데모해적"]
    gen_ocid = listing[0]["character_list"][0]["ocid"]
    # a generated member resolves by ocid without an /id call first (a fresh key: not remembered before)
    assert fake.get(BASIC, {"ocid": gen_ocid}).json()["character_name"] == "gen123456"
    assert fake.get(EQUIP, {"ocid": gen_ocid}).status_code == 200
    fake.admin("POST", "/admin/users", {"key": "user-key-1", "accounts": [{"account_id": "acc-c", "characters": []}]})
    assert fake.get(LIST, key="user-key-1").json() == {"account_list": [{"account_id": "acc-c", "character_list": []}]}
    assert fake.get(LIST, key="demo-user-key").status_code == 200


# ---- robustness --------------------------------------------------------------------------

def raw_exchange(port, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError:  # the server may hang up first (header too large, garbage)
            return b""


def test_survives_junk(fake):
    junk = [
        b"GARBAGE\r\n\r\n",
        b"\x00\xff\xfe" * 1000,
        b"GET /maplestory/v1/id?character_name=" + b"%" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"POST /admin/faults HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{",
        b"POST /admin/users HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{\"a\"",
        b"GET /maplestory/v1/character/basic?ocid=%%%%&ocid=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD /maplestory/v1/id?character_name=gen1 HTTP/1.1\r\nHost: x\r\nx-nxopen-api-key: demo-nexon-key\r\n\r\n",
        b"DELETE /maplestory/v1/id HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /maplestory/v1/id?character_name=gen1 HTTP/1.1\r\nHost: x\r\nx-nxopen-api-key: demo-nexon-key\r\n\r\n"
        * 50,  # pipelined
    ]
    for data in junk:
        raw_exchange(fake.port, data)
    answer = raw_exchange(fake.port, b"GET /maplestory/v1/id?character_name=gen1 HTTP/1.0\r\n"
                                      b"x-nxopen-api-key: demo-nexon-key\r\n\r\n")
    assert answer.startswith(b"HTTP/1.") and b" 200 " in answer.split(b"\r\n")[0]
    # clients that go away while their requests are delayed: the answers hit closed sockets
    fake.fault(path=ID, latency_ms=200)
    for mode in ("close", "reset"):
        s = socket.create_connection(("127.0.0.1", fake.port), timeout=10)
        s.sendall(b"GET /maplestory/v1/id?character_name=gen1 HTTP/1.1\r\nHost: x\r\n"
                  b"x-nxopen-api-key: demo-nexon-key\r\n\r\n")
        if mode == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
    # a later delayed request ends after those timers fired
    assert fake.get(ID, {"character_name": "gen1"}).status_code == 200
    fake.admin("DELETE", "/admin/faults")
    assert fake.get(ID, {"character_name": "gen1"}).status_code == 200


def test_sigterm_exits_cleanly_with_requests_in_flight():
    server = FakeNexon("--demo-count", "0", "--api-key", "other-key")
    assert server.admin("GET", "/admin/characters").json()["characters"] == []
    assert server.get(ID, {"character_name": "gen1"}, key="other-key").status_code == 200
    assert server.get(LIST, key="demo-user-key").json() == {"account_list": [{"account_id": "demo-account-1",
                                                                             "character_list": []}]}
    server.fault(path="*", latency_ms=10_000)
    sockets = []
    for _ in range(3):  # delayed requests still pending at SIGTERM
        s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        s.sendall(b"GET /maplestory/v1/id?character_name=gen1 HTTP/1.1\r\nHost: x\r\n\r\n")
        sockets.append(s)
    deadline = time.monotonic() + 10
    while server.calls()["total"] < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    rc = server.stop()
    for s in sockets:
        s.close()
    assert rc == 0, server.stderr()
    assert time.monotonic() - t0 < 10
    assert "LeakSanitizer" not in server.stderr() and "runtime error" not in server.stderr(), server.stderr()
