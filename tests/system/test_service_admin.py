"""Authorization and the admin endpoints of `maplexp serve` (platform spec 1.3, 1.4, 1.9, 1.10, 2.3.8, 4.4):
the anonymous / USER / ADMIN matrix over every endpoint of 1.4, admin management (E16-E18) with the role
re-evaluated per request, dead-letter administration (E19-E24) on rows dead-lettered by the donation relay
(a webhook sink that refuses them) and on rows written directly into SQLite, and the alert test (E25).

One fake upstream and one service (`adm`) serve the module; a second service checks ALERTS_TEST_ENDPOINT=false.
The webhook sink refuses (500) every donation of 7777 points unless its request id was released by a test,
and accepts everything else, so the tests decide which outbox rows end in the DLQ."""
import hashlib
import itertools
import json
import time
from datetime import datetime, timezone
from urllib.parse import quote

import pytest

from harness import (Db, Service, WebhookSink, assert_error, bearer, call, envelope, fingerprint_of, login, mask_fp,
                     start_fake, stop_checked, wait_until)

JWT_SECRET = "admin-test-jwt-secret-0123456789abcdefghijk"
FP_SECRET = "admin-test-fingerprint-secret-0123456789ab"
DLQ_ENTRY_KEYS = {"id", "originalOutboxId", "requestId", "eventType", "payloadPreview", "failureReason", "movedAt"}
DLQ_FULL_KEYS = {"id", "originalOutboxId", "requestId", "eventType", "payload", "failureReason", "movedAt"}
PAGE_KEYS = {"content", "totalElements", "totalPages", "number", "size", "numberOfElements", "first", "last", "empty"}
CURSOR_KEYS = {"content", "nextCursor", "hasNext", "size"}
REQUEUED = "Successfully requeued to Outbox for reprocessing"
FAILING_AMOUNT = 7777

ADMIN_KEY, ADMIN_IGN = "adm-admin-key", "gen7400001"        # bootstrap admin, logs in
BOOT2_KEY = "adm-boot2-key"                                  # bootstrap admin that never logs in
USER_KEY, USER_IGN = "demo-user-key", "데모전사"              # a plain user (the fake's demo key)
CAND_KEY, CAND_IGN = "adm-candidate-key", "gen7400002"      # becomes a runtime admin, then is removed
SENDER_KEY, SENDER_IGN = "adm-sender-key", "gen7400003"     # donates (points seeded)
ADMIN_FP = fingerprint_of(FP_SECRET, ADMIN_KEY)
BOOT2_FP = fingerprint_of(FP_SECRET, BOOT2_KEY)


def rfc3339_ms(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def content_hash(request_id, event_type, payload):
    return hashlib.sha256(f"{request_id}|{event_type}|{payload}".encode()).hexdigest()


# ---- environment ----------------------------------------------------------------------------------------------

class Adm:
    def __init__(self, fake, svc, sink, db):
        self.fake, self.svc, self.sink, self.db = fake, svc, sink, db
        self.released = set()  # request ids the sink accepts even at the failing amount

    def login(self, key, ign):
        return envelope(login(self.svc, key, ign))

    def get(self, path, token=None, **kw):
        return call(self.svc, "GET", path, headers=bearer(token), **kw)

    def admin_get(self, path):
        return envelope(self.get(path, self.admin))

    def me(self, token):
        return envelope(call(self.svc, "GET", "/auth/me", headers=bearer(token)))

    def donate(self, token, amount, key):
        r = call(self.svc, "POST", "/api/v2/donation/coffee", headers={**bearer(token), "Idempotency-Key": key},
                 json_body={"adminFingerprint": ADMIN_FP, "amount": amount})
        return envelope(r)

    def quiet(self):
        """No donation outbox row is still active (the relay has finished with everything)."""
        return self.db.one("SELECT count(*) FROM donation_outbox WHERE status IN ('PENDING','PROCESSING','FAILED')") == 0

    def insert_dlq(self, request_id, payload, moved_ms, original=None, reason="synthetic failure",
                   event="DONATION_COMPLETED"):
        self.db.run("INSERT INTO donation_dlq (original_outbox_id, request_id, event_type, payload, failure_reason,"
                    " moved_at) VALUES (?, ?, ?, ?, ?, ?)", original or 990000, request_id, event, payload, reason,
                    moved_ms)
        return self.db.one("SELECT id FROM donation_dlq WHERE request_id = ?", request_id)


def sink_policy(adm_ref):
    def policy(n, key, body):
        return 500 if f'"amount":{FAILING_AMOUNT}' in body and key not in adm_ref[0].released else 204
    return policy


@pytest.fixture(scope="module")
def adm():
    fake = start_fake(users=[(key, [(acc, [ign])]) for key, acc, ign in (
        (ADMIN_KEY, "adm-acc-admin", ADMIN_IGN), (BOOT2_KEY, "adm-acc-boot2", "gen7400009"),
        (CAND_KEY, "adm-acc-cand", CAND_IGN), (SENDER_KEY, "adm-acc-sender", SENDER_IGN))])
    ref = [None]
    sink = WebhookSink(sink_policy(ref))
    svc = None
    try:
        svc = Service(fake, JWT_SECRET=JWT_SECRET, FINGERPRINT_SECRET=FP_SECRET,
                      ADMIN_FINGERPRINTS=f" {BOOT2_FP} , {ADMIN_FP} ", DONATION_NOTIFY_WEBHOOK_URL=sink.url,
                      DONATION_OUTBOX_POLL_MS="100", OUTBOX_BACKOFF_BASE_S="0", RECALC_COOLDOWN_S="0")
        a = Adm(fake, svc, sink, Db(svc.env["SQLITE_PATH"]))
        ref[0] = a
        a.admin = a.login(ADMIN_KEY, ADMIN_IGN)["accessToken"]
        a.user = a.login(USER_KEY, USER_IGN)["accessToken"]
        yield a
        a.db.close()
    finally:
        if svc is not None:
            stop_checked(svc)
        sink.stop()
        fake.stop()


# ---- the authorization matrix (1.3, 1.4) ----------------------------------------------------------------------

def test_authorization_matrix(adm):
    svc, db = adm.svc, adm.db
    user_fp = fingerprint_of(FP_SECRET, USER_KEY)
    db.run("UPDATE member SET point = 1000 WHERE fingerprint IN (?, ?)", user_fp, ADMIN_FP)
    now = int(time.time() * 1000)
    ign = quote("데모해적", safe="")
    payload = json.dumps({"donationId": 1, "amount": 1}, separators=(",", ":"))

    serial = itertools.count()

    def fresh_dlq():
        return adm.insert_dlq(f"matrix:{next(serial)}", payload, now)

    def fresh_runtime_admin():
        fp = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:43]
        envelope(call(svc, "POST", "/api/admin/admins", headers=bearer(adm.admin), json_body={"fingerprint": fp}))
        return fp

    def fresh_session(who):
        if who == "admin":
            return adm.login(ADMIN_KEY, ADMIN_IGN)
        return adm.login(USER_KEY, USER_IGN)

    # each case: (name, method, path or path factory, body factory, the Auth column of 1.4)
    PUBLIC, USER, ADMIN = "public", "user", "admin"
    cases = [
        ("E01", "GET", f"/api/v1/characters/{ign}", None, PUBLIC),
        ("E02", "GET", f"/api/v4/characters/{ign}/expectation", None, PUBLIC),
        ("E03", "GET", f"/api/v4/characters/{ign}/expectation/preset/1", None, PUBLIC),
        ("E04", "POST", f"/api/v4/characters/{ign}/expectation/recalculate", None, PUBLIC),
        ("E05", "GET", f"/api/v5/characters/{ign}/expectation", None, USER),
        ("E06", "POST", f"/api/v5/characters/{ign}/expectation/recalculate", None, USER),
        ("E07", "POST", "/api/v2/characters/gen7400100/like", None, USER),
        ("E08", "DELETE", "/api/v2/characters/gen7400100/like", None, USER),
        ("E09", "GET", "/api/v2/characters/gen7400100/like/status", None, PUBLIC),
        ("E10", "GET", "/api/v2/characters/gen7400100/like/count", None, PUBLIC),
        ("E11", "POST", "/auth/login", lambda who: {"apiKey": USER_KEY, "userIgn": USER_IGN}, PUBLIC),
        ("E12", "POST", "/auth/refresh", lambda who: {"refreshToken": fresh_session(who)["refreshToken"]}, PUBLIC),
        ("E13", "DELETE", "/auth/logout", None, USER),
        ("E14", "GET", "/auth/me", None, USER),
        ("E15", "POST", "/api/v2/donation/coffee", lambda who: {"adminFingerprint": ADMIN_FP, "amount": 1}, USER),
        ("E16", "GET", "/api/admin/admins", None, ADMIN),
        ("E17", "POST", "/api/admin/admins",
         lambda who: {"fingerprint": hashlib.sha256(f"e17-{who}".encode()).hexdigest()[:43]}, ADMIN),
        ("E18", "DELETE", lambda: f"/api/admin/admins/{fresh_runtime_admin()}", None, ADMIN),
        ("E19", "GET", "/api/admin/dlq", None, ADMIN),
        ("E20", "GET", "/api/admin/dlq/v2", None, ADMIN),
        ("E21", "GET", "/api/admin/dlq/count", None, ADMIN),
        ("E22", "GET", lambda: f"/api/admin/dlq/{fresh_dlq()}", None, ADMIN),
        ("E23", "POST", lambda: f"/api/admin/dlq/{fresh_dlq()}/reprocess", None, ADMIN),
        ("E24", "DELETE", lambda: f"/api/admin/dlq/{fresh_dlq()}", None, ADMIN),
        ("E25", "POST", "/api/admin/test/alert", None, ADMIN),
        ("E26", "GET", "/actuator/health/liveness", None, PUBLIC),
        ("E27", "GET", "/actuator/health/readiness", None, PUBLIC),
        ("E28", "GET", "/actuator/health", None, PUBLIC),
        ("E29", "GET", "/actuator/info", None, PUBLIC),   # internal: loopback is allowed
        ("E30", "GET", "/actuator/prometheus", None, PUBLIC),
    ]
    assert [c[0] for c in cases] == [f"E{i:02d}" for i in range(1, 31)]
    failures = []
    for name, method, path, body, level in cases:
        for who in ("anonymous", "user", "admin"):
            if name == "E13" and who != "anonymous":
                token = fresh_session(who)["accessToken"]  # logout ends the session it is called with
            else:
                token = {"anonymous": None, "user": adm.user, "admin": adm.admin}[who]
            p = path() if callable(path) else path
            headers = bearer(token)
            if name == "E15":
                headers["Idempotency-Key"] = f"matrix-{who}"
            r = call(svc, method, p, headers=headers, json_body=body(who) if body else None)
            if level == PUBLIC or (level == USER and who != "anonymous") or (level == ADMIN and who == "admin"):
                ok = 200 <= r.status < 300
            elif who == "anonymous":
                ok = r.status == 401 and r.json()["code"] == "A005" and r.json()["message"] == "인증이 필요합니다."
            else:
                ok = r.status == 403 and r.json()["code"] == "A006" and r.json()["message"] == "접근 권한이 없습니다."
            if not ok:
                failures.append((name, who, method, p, r.status, r.body[:200]))
    assert not failures, failures
    assert db.one("SELECT count(*) FROM donation_history WHERE request_id LIKE 'matrix-%'") == 2
    # public endpoints that do not find their character answer 404 to everybody
    for who in (None, adm.user, adm.admin):
        for p in ("/api/v1/characters/nobody74", "/api/v2/characters/nobody74/like/count",
                  "/api/v2/characters/nobody74/like/status"):
            assert_error(call(svc, "GET", p, headers=bearer(who)), 404, "C002")


def test_refused_admin_calls_change_nothing(adm):
    fp = hashlib.sha256(b"refused-target").hexdigest()[:43]
    envelope(call(adm.svc, "POST", "/api/admin/admins", headers=bearer(adm.admin), json_body={"fingerprint": fp}))
    dlq_id = adm.insert_dlq("refused:1", '{"amount":1}', int(time.time() * 1000))
    for token, status in ((None, 401), (adm.user, 403)):
        assert call(adm.svc, "DELETE", f"/api/admin/admins/{fp}", headers=bearer(token)).status == status
        assert call(adm.svc, "POST", "/api/admin/admins", headers=bearer(token),
                    json_body={"fingerprint": "B" * 43}).status == status
        assert call(adm.svc, "DELETE", f"/api/admin/dlq/{dlq_id}", headers=bearer(token)).status == status
        assert call(adm.svc, "POST", f"/api/admin/dlq/{dlq_id}/reprocess", headers=bearer(token)).status == status
    assert adm.db.one("SELECT count(*) FROM admin_member WHERE fingerprint = ?", fp) == 1
    assert adm.db.one("SELECT count(*) FROM admin_member WHERE fingerprint = ?", "B" * 43) == 0
    assert adm.db.one("SELECT count(*) FROM donation_dlq WHERE id = ?", dlq_id) == 1
    assert adm.db.one("SELECT count(*) FROM donation_outbox WHERE request_id = 'refused:1'") == 0
    assert adm.db.run("DELETE FROM donation_dlq WHERE id = ?", dlq_id) == 1


# ---- E16-E18 ------------------------------------------------------------------------------------------------

def admins_expected(db):
    runtime = {r[0] for r in db.all("SELECT fingerprint FROM admin_member")}
    return sorted(runtime | {ADMIN_FP, BOOT2_FP})


def test_e16_list(adm):
    extra = "z" + "Q" * 42
    for fp in (extra, BOOT2_FP, extra):  # a bootstrap admin also in the runtime table; one added twice
        assert envelope(call(adm.svc, "POST", "/api/admin/admins", headers=bearer(adm.admin),
                             json_body={"fingerprint": fp})) == f"Admin added successfully: {mask_fp(fp)}"
    listed = adm.admin_get("/api/admin/admins")
    assert listed == admins_expected(adm.db), listed
    assert listed == sorted(set(listed)) and {ADMIN_FP, BOOT2_FP, extra} <= set(listed)
    assert listed.count(BOOT2_FP) == 1 and listed.count(extra) == 1
    assert adm.db.one("SELECT count(*) FROM admin_member WHERE fingerprint = ?", extra) == 1


def test_e17_add_and_role_change(adm):
    cand = adm.login(CAND_KEY, CAND_IGN)
    assert cand["role"] == "USER"
    cand_fp = cand["fingerprint"]
    adm.db.run("UPDATE member SET point = 50 WHERE fingerprint = ?", cand_fp)
    assert adm.me(cand["accessToken"])["role"] == "USER"
    assert_error(call(adm.svc, "GET", "/api/admin/admins", headers=bearer(cand["accessToken"])), 403, "A006")
    r = call(adm.svc, "POST", "/api/admin/admins", headers=bearer(adm.admin), json_body={"fingerprint": cand_fp})
    assert envelope(r) == f"Admin added successfully: {mask_fp(cand_fp)}"
    # idempotent
    r = call(adm.svc, "POST", "/api/admin/admins", headers=bearer(adm.admin), json_body={"fingerprint": cand_fp})
    assert envelope(r) == f"Admin added successfully: {mask_fp(cand_fp)}"
    assert adm.db.all("SELECT fingerprint, added_by FROM admin_member WHERE fingerprint = ?", cand_fp) == \
        [(cand_fp, ADMIN_FP)]
    # the role is re-evaluated on the next request with the same token (immediate on one instance)
    assert adm.me(cand["accessToken"])["role"] == "ADMIN"
    assert cand_fp in envelope(call(adm.svc, "GET", "/api/admin/admins", headers=bearer(cand["accessToken"])))
    assert adm.login(CAND_KEY, CAND_IGN)["role"] == "ADMIN"
    # the member row of an existing member keeps its points; a new admin gets a member row with 0 points
    assert adm.db.one("SELECT point FROM member WHERE fingerprint = ?", cand_fp) == 50
    new_fp = "n3w" + "A" * 40
    envelope(call(adm.svc, "POST", "/api/admin/admins", headers=bearer(adm.admin), json_body={"fingerprint": new_fp}))
    assert adm.db.one("SELECT point FROM member WHERE fingerprint = ?", new_fp) == 0
    # the new admin can receive donations
    sender = adm.login(SENDER_KEY, SENDER_IGN)
    adm.db.run("UPDATE member SET point = 10 WHERE fingerprint = ?", sender["fingerprint"])
    r = call(adm.svc, "POST", "/api/v2/donation/coffee", headers={**bearer(sender["accessToken"]),
                                                                     "Idempotency-Key": "to-cand"},
             json_body={"adminFingerprint": cand_fp, "amount": 3})
    assert envelope(r)["requestId"] == "to-cand"
    assert adm.db.one("SELECT point FROM member WHERE fingerprint = ?", cand_fp) == 53
    # bad bodies
    for body in ({"fingerprint": "short"}, {"fingerprint": "A" * 44}, {"fingerprint": "A" * 42 + "+"},
                 {"fingerprint": "A" * 42 + "="}, {"fingerprint": 43}, {"fingerprint": None}, {}, [cand_fp],
                 {"fingerprint": "' OR 1=1 --" + "A" * 32}):
        r = call(adm.svc, "POST", "/api/admin/admins", headers=bearer(adm.admin), json_body=body)
        assert_error(r, 400, "C001")
    r = call(adm.svc, "POST", "/api/admin/admins", headers={**bearer(adm.admin), "Content-Type": "application/json"},
             body=b'{"fingerprint": ')
    assert_error(r, 400, "C001", message="Invalid JSON format")
    r = call(adm.svc, "POST", "/api/admin/admins", headers={**bearer(adm.admin), "Content-Type": "text/plain"},
             body=json.dumps({"fingerprint": new_fp}).encode())
    assert_error(r, 415, "C009")
    adm.cand = cand


def test_e18_remove(adm):
    cand = getattr(adm, "cand", None) or pytest.fail("test_e17_add_and_role_change must run first")
    cand_fp, cand_token = cand["fingerprint"], cand["accessToken"]

    def remove(fp, token=adm.admin):
        return call(adm.svc, "DELETE", f"/api/admin/admins/{fp}", headers=bearer(token))
    assert_error(remove(ADMIN_FP), 400, "A014", message="자기 자신의 Admin 권한은 제거할 수 없습니다.")
    assert_error(remove(cand_fp, cand_token), 400, "A014")  # a runtime admin cannot remove itself either
    assert_error(remove(BOOT2_FP), 400, "A015", message="Bootstrap Admin은 제거할 수 없습니다.")
    assert_error(remove(BOOT2_FP, cand_token), 400, "A015")
    unknown = "U" * 43
    assert_error(remove(unknown), 404, "A016", message=f"Admin not found: {mask_fp(unknown)}")
    assert envelope(remove(cand_fp)) == f"Admin removed successfully: {mask_fp(cand_fp)}"
    assert adm.db.one("SELECT count(*) FROM admin_member WHERE fingerprint = ?", cand_fp) == 0
    assert_error(remove(cand_fp), 404, "A016")
    # immediately a USER again, with the same token
    assert adm.me(cand_token)["role"] == "USER"
    assert_error(call(adm.svc, "GET", "/api/admin/admins", headers=bearer(cand_token)), 403, "A006")
    assert cand_fp not in adm.admin_get("/api/admin/admins")
    sender = adm.login(SENDER_KEY, SENDER_IGN)
    r = call(adm.svc, "POST", "/api/v2/donation/coffee", headers=bearer(sender["accessToken"]),
             json_body={"adminFingerprint": cand_fp, "amount": 1})
    assert_error(r, 404, "A007")
    # the bootstrap admins are still listed; their membership is immutable
    assert {ADMIN_FP, BOOT2_FP} <= set(adm.admin_get("/api/admin/admins"))


# ---- E19-E24 --------------------------------------------------------------------------------------------------

def preview(payload):
    return payload[:100] + ("..." if len(payload) > 100 else "")


def check_entry(entry, row, full):
    """A DlqEntry (or the full form of E22) against its donation_dlq row."""
    rid, orig, req, event, payload, reason, moved = row
    assert set(entry) == (DLQ_FULL_KEYS if full else DLQ_ENTRY_KEYS), entry
    assert (entry["id"], entry["originalOutboxId"], entry["requestId"], entry["eventType"]) == (rid, orig, req, event)
    assert entry["failureReason"] == reason, entry
    assert entry["movedAt"] == rfc3339_ms(moved), (entry["movedAt"], moved)
    if full:
        assert entry["payload"] == payload, entry
    else:
        assert entry["payloadPreview"] == preview(payload), (entry["payloadPreview"], payload)


DLQ_ROW_SQL = "SELECT id, original_outbox_id, request_id, event_type, payload, failure_reason, moved_at FROM donation_dlq"


@pytest.fixture(scope="module")
def dlq(adm):
    """Three donations dead-lettered by the relay (the sink refuses them), then 22 rows written directly with
    chosen moved_at values (ties included) and payloads of 0..150 characters."""
    wait_until(adm.quiet, timeout=30, message="outbox quiet")
    adm.db.run("DELETE FROM donation_dlq")
    sender = adm.login(SENDER_KEY, SENDER_IGN)
    adm.db.run("UPDATE member SET point = ? WHERE fingerprint = ?", 3 * FAILING_AMOUNT, sender["fingerprint"])
    for i in range(3):
        adm.donate(sender["accessToken"], FAILING_AMOUNT, f"dlq-real-{i}")
    wait_until(lambda: adm.db.one("SELECT count(*) FROM donation_dlq") == 3 and adm.quiet(), timeout=30,
               message="three rows dead-lettered")
    real = adm.db.all("SELECT id, request_id, status, retry_count, last_error FROM donation_outbox"
                      " WHERE status = 'DEAD_LETTER' AND payload LIKE ?", f'%"amount":{FAILING_AMOUNT}%')
    assert len(real) == 3 and all(r[3] == 3 and r[4] == "webhook: HTTP 500" for r in real), real
    base = int(time.time() * 1000) - 3600_000
    payloads = ["", "x", "p" * 99, "p" * 100, "p" * 101, "가" * 150, '{"amount":1,"note":"' + "n" * 120 + '"}']
    synthetic = []
    for i in range(22):
        moved = base + (i // 2) * 1000  # pairs share moved_at: the order falls back to id DESC
        synthetic.append(adm.insert_dlq(f"synthetic:{i}", payloads[i % len(payloads)], moved, original=980000 + i))
    return {"real": real, "synthetic": synthetic, "sender": sender}


def all_dlq_rows(db):
    return db.all(DLQ_ROW_SQL + " ORDER BY moved_at DESC, id DESC")


def test_e19_offset_pages(adm, dlq):
    rows = all_dlq_rows(adm.db)
    total = len(rows)
    assert total == 25
    seen = []
    for page in range(4):
        data = adm.admin_get(f"/api/admin/dlq?page={page}&size=10")
        assert set(data) == PAGE_KEYS, data
        n = max(0, min(10, total - page * 10))
        assert (data["totalElements"], data["totalPages"], data["number"], data["size"], data["numberOfElements"],
                data["first"], data["last"], data["empty"]) == (total, 3, page, 10, n, page == 0, page >= 2, n == 0), data
        for entry, row in zip(data["content"], rows[page * 10:page * 10 + 10]):
            check_entry(entry, row, full=False)
        seen += [e["id"] for e in data["content"]]
    assert seen == [r[0] for r in rows]  # movedAt DESC, then id DESC, no gap, no repeat
    default = adm.admin_get("/api/admin/dlq")
    assert default["size"] == 20 and default["numberOfElements"] == 20 and default["totalPages"] == 2
    assert [e["id"] for e in default["content"]] == seen[:20]
    for q, size in (("size=0", 20), ("size=-5", 20), ("size=500", 100), ("size=100", 100), ("size=1", 1),
                    ("queue=donation&size=7", 7)):
        data = adm.admin_get(f"/api/admin/dlq?{q}")
        assert data["size"] == size and data["numberOfElements"] == min(size, total), (q, data)
    data = adm.admin_get("/api/admin/dlq?page=99&size=10")
    assert (data["content"], data["empty"], data["last"], data["first"]) == ([], True, True, False), data


def test_e20_cursor_pages(adm, dlq):
    ids = [r[0] for r in adm.db.all(DLQ_ROW_SQL + " ORDER BY id")]
    rows = {r[0]: r for r in adm.db.all(DLQ_ROW_SQL)}
    got, cursor, pages = [], None, 0
    while True:
        data = adm.admin_get("/api/admin/dlq/v2?size=10" + (f"&cursor={cursor}" if cursor is not None else ""))
        assert set(data) == CURSOR_KEYS and data["size"] == 10, data
        page_ids = [e["id"] for e in data["content"]]
        for e in data["content"]:
            check_entry(e, rows[e["id"]], full=False)
        assert page_ids == sorted(page_ids) and all(cursor is None or i > cursor for i in page_ids)
        assert data["nextCursor"] == (page_ids[-1] if page_ids else None), data
        got += page_ids
        pages += 1
        if not data["hasNext"]:
            break
        cursor = data["nextCursor"]
    assert got == ids and pages == 3
    data = adm.admin_get("/api/admin/dlq/v2")
    assert data["size"] == 20 and [e["id"] for e in data["content"]] == ids[:20] and data["hasNext"] is True
    data = adm.admin_get(f"/api/admin/dlq/v2?cursor={ids[-1]}")
    assert (data["content"], data["nextCursor"], data["hasNext"]) == ([], None, False), data
    data = adm.admin_get(f"/api/admin/dlq/v2?cursor={ids[-2]}&size=1")
    assert [e["id"] for e in data["content"]] == [ids[-1]] and data["hasNext"] is False
    data = adm.admin_get(f"/api/admin/dlq/v2?cursor={ids[-3]}&size=1")
    assert [e["id"] for e in data["content"]] == [ids[-2]] and data["hasNext"] is True


def test_e21_e22_count_and_get(adm, dlq):
    assert adm.admin_get("/api/admin/dlq/count") == 25
    assert adm.admin_get("/api/admin/dlq/count?queue=donation") == 25
    for row in adm.db.all(DLQ_ROW_SQL):
        check_entry(adm.admin_get(f"/api/admin/dlq/{row[0]}"), row, full=True)
    real = dlq["real"][0]
    entry = adm.admin_get(f"/api/admin/dlq/{adm.db.one('SELECT id FROM donation_dlq WHERE request_id = ?', real[1])}")
    outbox_payload = adm.db.one("SELECT payload FROM donation_outbox WHERE id = ?", real[0])
    assert (entry["originalOutboxId"], entry["requestId"], entry["eventType"], entry["payload"],
            entry["failureReason"]) == (real[0], real[1], "DONATION_COMPLETED", outbox_payload, "webhook: HTTP 500")
    missing = adm.db.one("SELECT max(id) FROM donation_dlq") + 1000
    assert_error(adm.get(f"/api/admin/dlq/{missing}", adm.admin), 404, "D001",
                 message=f"해당 DLQ 항목을 찾을 수 없습니다 (ID: {missing})")


def test_e23_reprocess_requeues_and_delivers(adm, dlq):
    real = dlq["real"][1]
    outbox_id, request_id = real[0], real[1]

    def attempts():
        return sum(1 for k, _, _, _ in adm.sink.snapshot() if k == request_id)
    assert attempts() == 3
    # 1. reprocess while the sink still refuses: the work is requeued (not just the DLQ row deleted), so the
    #    relay makes 3 new attempts and dead-letters the row again, with a new DLQ row
    dlq_id = adm.db.one("SELECT id FROM donation_dlq WHERE request_id = ?", request_id)
    r = call(adm.svc, "POST", f"/api/admin/dlq/{dlq_id}/reprocess", headers=bearer(adm.admin))
    assert envelope(r) == {"dlqId": dlq_id, "outboxId": outbox_id, "requestId": request_id, "message": REQUEUED}
    assert_error(adm.get(f"/api/admin/dlq/{dlq_id}", adm.admin), 404, "D001")
    wait_until(lambda: attempts() == 6 and adm.quiet() and
               adm.db.one("SELECT count(*) FROM donation_dlq WHERE request_id = ?", request_id) == 1,
               timeout=30, message="requeued row dead-lettered again")
    assert adm.db.all("SELECT status, retry_count FROM donation_outbox WHERE id = ?", outbox_id) == [("DEAD_LETTER", 3)]
    second = adm.db.one("SELECT id FROM donation_dlq WHERE request_id = ?", request_id)
    assert second != dlq_id
    # 2. the sink recovers; reprocess again: one transaction resets the outbox row (PENDING, retry_count 0,
    #    new claim token; the relay may already hold it) and deletes the DLQ row; the relay delivers it once
    token_before = adm.db.one("SELECT claim_token FROM donation_outbox WHERE id = ?", outbox_id)
    adm.released.add(request_id)
    r = call(adm.svc, "POST", f"/api/admin/dlq/{second}/reprocess", headers=bearer(adm.admin))
    assert envelope(r) == {"dlqId": second, "outboxId": outbox_id, "requestId": request_id, "message": REQUEUED}
    assert adm.db.one("SELECT count(*) FROM donation_dlq WHERE id = ?", second) == 0
    status, retries, token_after = adm.db.all("SELECT status, retry_count, claim_token FROM donation_outbox"
                                              " WHERE id = ?", outbox_id)[0]
    assert status in ("PENDING", "PROCESSING", "COMPLETED") and retries == 0 and token_after > token_before
    wait_until(lambda: adm.db.one("SELECT status FROM donation_outbox WHERE id = ?", outbox_id) == "COMPLETED",
               timeout=30, message="reprocessed row delivered")
    assert adm.sink.delivered().count(request_id) == 1 and attempts() == 7
    assert adm.db.one("SELECT count(*) FROM donation_dlq WHERE request_id = ?", request_id) == 0
    assert_error(call(adm.svc, "POST", f"/api/admin/dlq/{second}/reprocess", headers=bearer(adm.admin)), 404, "D001",
                 message=f"해당 DLQ 항목을 찾을 수 없습니다 (ID: {second})")
    assert adm.admin_get("/api/admin/dlq/count") == 24


def test_e23_reprocess_of_a_purged_original_inserts_a_new_row(adm, dlq):
    row = adm.db.all(DLQ_ROW_SQL + " WHERE request_id = 'synthetic:6'")[0]
    dlq_id, payload = row[0], row[4]
    assert adm.db.one("SELECT count(*) FROM donation_outbox WHERE request_id = 'synthetic:6'") == 0
    r = call(adm.svc, "POST", f"/api/admin/dlq/{dlq_id}/reprocess", headers=bearer(adm.admin))
    data = envelope(r)
    new = adm.db.all("SELECT id, event_type, payload, content_hash, retry_count FROM donation_outbox"
                     " WHERE request_id = 'synthetic:6'")
    assert len(new) == 1 and data == {"dlqId": dlq_id, "outboxId": new[0][0], "requestId": "synthetic:6",
                                      "message": REQUEUED}, (data, new)
    assert new[0][1:] == ("DONATION_COMPLETED", payload, content_hash("synthetic:6", "DONATION_COMPLETED", payload), 0)
    wait_until(lambda: adm.db.one("SELECT status FROM donation_outbox WHERE request_id = 'synthetic:6'") == "COMPLETED",
               timeout=30, message="requeued row delivered")
    assert "synthetic:6" in adm.sink.delivered()


def test_e23_reprocess_while_original_active_409(adm, dlq):
    now = int(time.time() * 1000)
    rid, payload = "active:1", '{"amount":2}'
    adm.db.run("INSERT INTO donation_outbox (request_id, event_type, payload, content_hash, status, retry_count,"
               " next_retry_at, created_at, updated_at) VALUES (?, 'DONATION_COMPLETED', ?, ?, 'FAILED', 1, ?, ?, ?)",
               rid, payload, content_hash(rid, "DONATION_COMPLETED", payload), now + 10 ** 9, now, now)
    dlq_id = adm.insert_dlq(rid, payload, now)
    try:
        r = call(adm.svc, "POST", f"/api/admin/dlq/{dlq_id}/reprocess", headers=bearer(adm.admin))
        assert_error(r, 409, "D002")
        assert adm.db.one("SELECT count(*) FROM donation_dlq WHERE id = ?", dlq_id) == 1
        assert adm.db.all("SELECT status, retry_count FROM donation_outbox WHERE request_id = ?", rid) == [("FAILED", 1)]
        assert_error(r, 409, "D002", message=f"Outbox row for request {rid} is still active")
    finally:
        adm.db.run("DELETE FROM donation_dlq WHERE id = ?", dlq_id)
        adm.db.run("DELETE FROM donation_outbox WHERE request_id = ?", rid)


def test_e24_discard(adm, dlq):
    real = dlq["real"][2]
    dlq_id = adm.db.one("SELECT id FROM donation_dlq WHERE request_id = ?", real[1])
    before = adm.admin_get("/api/admin/dlq/count")
    r = call(adm.svc, "DELETE", f"/api/admin/dlq/{dlq_id}", headers=bearer(adm.admin))
    assert envelope(r) == f"DLQ entry discarded successfully: {dlq_id}"
    assert_error(adm.get(f"/api/admin/dlq/{dlq_id}", adm.admin), 404, "D001")
    assert_error(call(adm.svc, "DELETE", f"/api/admin/dlq/{dlq_id}", headers=bearer(adm.admin)), 404, "D001")
    assert_error(call(adm.svc, "POST", f"/api/admin/dlq/{dlq_id}/reprocess", headers=bearer(adm.admin)), 404, "D001")
    # discard deletes only the DLQ row: the dead-lettered outbox row stays as it was
    assert adm.db.all("SELECT status, retry_count FROM donation_outbox WHERE id = ?", real[0]) == [("DEAD_LETTER", 3)]
    assert adm.admin_get("/api/admin/dlq/count") == before - 1


def test_dlq_queue_parameter(adm, dlq):
    some_id = adm.db.one("SELECT min(id) FROM donation_dlq")
    page = adm.admin_get("/api/admin/dlq?queue=upstream")
    assert page == {"content": [], "totalElements": 0, "totalPages": 0, "number": 0, "size": 20,
                    "numberOfElements": 0, "first": True, "last": True, "empty": True}, page
    assert adm.admin_get("/api/admin/dlq/v2?queue=upstream") == {"content": [], "nextCursor": None, "hasNext": False,
                                                                 "size": 20}
    assert adm.admin_get("/api/admin/dlq/count?queue=upstream") == 0
    assert_error(adm.get(f"/api/admin/dlq/{some_id}?queue=upstream", adm.admin), 404, "D001")
    for method, path in (("GET", "/api/admin/dlq"), ("GET", "/api/admin/dlq/v2"), ("GET", "/api/admin/dlq/count"),
                         ("GET", f"/api/admin/dlq/{some_id}"), ("POST", f"/api/admin/dlq/{some_id}/reprocess"),
                         ("DELETE", f"/api/admin/dlq/{some_id}")):
        for q in ("bogus", "DONATION", "", "donation,upstream"):
            r = call(adm.svc, method, f"{path}?queue={q}", headers=bearer(adm.admin))
            assert_error(r, 400, "C001")
    assert adm.db.one("SELECT count(*) FROM donation_dlq WHERE id = ?", some_id) == 1


# ---- E25 ----------------------------------------------------------------------------------------------------------

def test_e25_test_alert(adm):
    for i, (query, severity) in enumerate((("", "info"), ("?severity=warning&pattern=p-1", "warning"),
                                           ("?severity=critical", "critical"))):
        cid = f"alert-test-{i}"
        r = call(adm.svc, "POST", f"/api/admin/test/alert{query}", headers={**bearer(adm.admin),
                                                                             "X-Correlation-ID": cid})
        assert envelope(r) == "Test alert requested"
        line = adm.svc.out.wait_for(lambda l: l.get("alert") is True and l.get("correlation_id") == cid, timeout=10)
        assert line["alert_type"] == "test" and line["severity"] == severity, line
    for query in ("?severity=bogus", "?severity=", "?pattern=bad%20pattern", "?pattern=" + "p" * 65):
        r = call(adm.svc, "POST", f"/api/admin/test/alert{query}", headers=bearer(adm.admin))
        assert_error(r, 400, "C001")


def test_e25_disabled_404():
    fake = start_fake(users=[(ADMIN_KEY, [("adm-acc-admin", [ADMIN_IGN])])])
    svc = Service(fake, JWT_SECRET=JWT_SECRET, FINGERPRINT_SECRET=FP_SECRET, ADMIN_FINGERPRINTS=ADMIN_FP,
                  ALERTS_TEST_ENDPOINT="false")
    try:
        token = envelope(login(svc, ADMIN_KEY, ADMIN_IGN))
        for headers in (bearer(token["accessToken"]), {}):
            r = call(svc, "POST", "/api/admin/test/alert", headers=headers)
            assert_error(r, 404, "C006", message="No such endpoint: /api/admin/test/alert")
        assert not [l for l in svc.out.lines if l.get("alert") is True]
        assert envelope(call(svc, "GET", "/api/admin/dlq/count", headers=bearer(token["accessToken"]))) == 0
    finally:
        stop_checked(svc)
        fake.stop()
