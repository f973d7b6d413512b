"""Accounts, likes and donations of `maplexp serve` (platform spec 1.3, 1.6-1.8, 1.2 codes, 2.3.6, 2.3.8,
2.3.10, M11-M16, M23) against the fake Nexon upstream: login ("bring your own key"), access tokens attacked
with PyJWT-minted tokens, refresh-token rotation and reuse detection, logout, likes with their count and fold,
the coffee donation with idempotency keys, the donation outbox relay with a webhook sink, durability across
kill -9, rate limiting, and input hardening.

One fake upstream serves the whole module. The main service (`env`) has known JWT/fingerprint secrets (so the
tests compute fingerprints and mint tokens), a bootstrap admin, a 100 ms like fold and a 100 ms outbox poll;
the relay, durability and rate-limit tests start their own services. Every service must stop with exit 0 on
SIGTERM (except the one killed with SIGKILL on purpose) and leave no sanitizer report.

Points are seeded by writing `member.point` in the SQLite file (1.8: issuance is outside the spec)."""
import concurrent.futures
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import signal
import threading
import time
import uuid
from base64 import urlsafe_b64encode
from urllib.parse import quote

import jwt
import pytest

from harness import (UUID4, Db, Service, WebhookSink, assert_error, bearer, call, envelope, fake_add_user,
                     fingerprint_of, jwt_kid_of, login, mask_fp, ocid_of, start_fake, stop_checked, wait_until)

JWT_SECRET = "accounts-test-jwt-secret-0123456789abcdefgh"
FP_SECRET = "accounts-test-fingerprint-secret-0123456789"
ISSUER = "maple-expectation"
FP_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
LOGIN_KEYS = {"accessToken", "accessExpiresIn", "role", "fingerprint", "refreshToken", "refreshExpiresIn"}
REFRESH_KEYS = {"accessToken", "accessExpiresIn", "refreshToken", "refreshExpiresIn"}
DONATION_OK = "커피 후원이 완료되었습니다."
LIST = "/maplestory/v1/character/list"

USER_KEY = "demo-user-key"                       # the fake's built-in user: account demo-account-1
USER_IGNS = ["데모전사", "데모마법사", "데모궁수"]
ADMIN_KEY = "acct-admin-key-1"                   # bootstrap admin (logs in: has a member row)
ADMIN_IGN = "gen7300001"
GHOST_ADMIN_KEY = "acct-admin-key-ghost"         # bootstrap admin that never logs in: no member row
SECRET_KEY = "acct-secret-key-" + uuid.uuid4().hex  # must never reach a log line or the database
SECRET_IGN = "gen7300009"

# Every user key this module sends to the service: none may appear in its logs or its database file.
SENT_KEYS = set()


def account_id_of(*account_ids):
    """M13: Base64URL-no-padding(SHA-256(join(",", byte-sorted account ids)))."""
    joined = ",".join(sorted(account_ids, key=lambda s: s.encode())).encode()
    return urlsafe_b64encode(hashlib.sha256(joined).digest()).rstrip(b"=").decode()


def like_path(ign, suffix=""):
    return f"/api/v2/characters/{quote(ign, safe='')}/like{suffix}"


def mint(claims, secret=JWT_SECRET, alg="HS256", kid=None, drop=()):
    """A token signed like the service's (or not): claims minus `drop`."""
    payload = {k: v for k, v in claims.items() if k not in drop}
    return jwt.encode(payload, secret, algorithm=alg, headers={"kid": kid or jwt_kid_of(JWT_SECRET)})


def b64(data):
    return urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- environment ----------------------------------------------------------------------------------------------

class Env:
    def __init__(self, fake, svc):
        self.fake = fake
        self.svc = svc
        self.db = Db(svc.env["SQLITE_PATH"])

    def login(self, key, ign, headers=None):
        SENT_KEYS.add(key)
        return login(self.svc, key, ign, headers)

    def session(self, key, ign):
        """Logs in; returns the login data."""
        data = envelope(self.login(key, ign))
        return data

    def token(self, key, ign):
        return self.session(key, ign)["accessToken"]

    def points(self, fp):
        return self.db.one("SELECT point FROM member WHERE fingerprint = ?", fp)

    def set_points(self, fp, n):
        assert self.db.run("UPDATE member SET point = ? WHERE fingerprint = ?", n, fp) == 1

    def donate(self, token, receiver_fp, amount, key=None, extra_headers=None):
        headers = dict(bearer(token))
        if key is not None:
            headers["Idempotency-Key"] = key
        headers.update(extra_headers or {})
        return call(self.svc, "POST", "/api/v2/donation/coffee", headers=headers,
                    json_body={"adminFingerprint": receiver_fp, "amount": amount})


def start_service(fake, workdir=None, **env):
    base = {"JWT_SECRET": JWT_SECRET, "FINGERPRINT_SECRET": FP_SECRET,
            "ADMIN_FINGERPRINTS": f"{fingerprint_of(FP_SECRET, ADMIN_KEY)},{fingerprint_of(FP_SECRET, GHOST_ADMIN_KEY)}",
            "LIKE_FOLD_INTERVAL_MS": "100", "DONATION_OUTBOX_POLL_MS": "100"}
    base.update(env)
    return Service(fake, workdir=workdir, **base)


@pytest.fixture(scope="module")
def fake():
    f = start_fake(users=[(ADMIN_KEY, [("acct-admin-1", [ADMIN_IGN])]),
                          (GHOST_ADMIN_KEY, [("acct-admin-ghost", ["gen7300003"])]),
                          (SECRET_KEY, [("acct-secret", [SECRET_IGN])]),
                          ("acct-two-accounts", [("acct-b", ["gen7300004"]), ("acct-a", ["gen7300005", "gen7300006"])])])
    yield f
    f.stop()


@pytest.fixture(scope="module")
def env(fake):
    svc = start_service(fake)
    e = Env(fake, svc)
    e.admin_fp = fingerprint_of(FP_SECRET, ADMIN_KEY)
    e.admin_token = e.token(ADMIN_KEY, ADMIN_IGN)  # creates the admin's member row
    yield e
    e.db.close()
    stderr = stop_checked(svc)
    for key in SENT_KEYS:
        assert key not in stderr


# ---- 1. login (E11) -----------------------------------------------------------------------------------------

def test_login_success_fields(env):
    r = env.login(USER_KEY, USER_IGNS[0])
    data = envelope(r)
    assert set(data) == LOGIN_KEYS, data
    assert data["accessExpiresIn"] == 900 and data["refreshExpiresIn"] == 604800, data
    assert data["role"] == "USER"
    fp = fingerprint_of(FP_SECRET, USER_KEY)
    assert len(data["fingerprint"]) == 43 and FP_RE.match(data["fingerprint"]) and data["fingerprint"] == fp, data
    assert isinstance(data["accessToken"], str) and data["accessToken"].count(".") == 2
    assert isinstance(data["refreshToken"], str) and len(data["refreshToken"]) >= 32
    # PyJWT accepts the service's token with the right secret and issuer; claims as 1.3 / M16
    claims = jwt.decode(data["accessToken"], JWT_SECRET, algorithms=["HS256"], issuer=ISSUER,
                        options={"require": ["iss", "sub", "fgp", "role", "iat", "nbf", "exp"]})
    assert jwt.get_unverified_header(data["accessToken"]) == {"alg": "HS256", "typ": "JWT", "kid": jwt_kid_of(JWT_SECRET)}
    assert claims["fgp"] == fp and claims["role"] == "USER" and UUID4.match(claims["sub"]), claims
    assert claims["exp"] - claims["iat"] == 900 and claims["nbf"] == claims["iat"], claims
    assert abs(claims["iat"] - time.time()) < 120, claims
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(data["accessToken"], JWT_SECRET + "x", algorithms=["HS256"], issuer=ISSUER)
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(data["accessToken"], JWT_SECRET, algorithms=["HS256"], issuer="someone-else")
    # step 4: the member row exists with 0 points; the session row holds the fingerprint and M13 account id
    assert env.points(fp) == 0
    row = env.db.all("SELECT fingerprint, account_id, role, user_ign FROM auth_session WHERE id = ?", claims["sub"])
    assert row == [(fp, account_id_of("demo-account-1"), "USER", USER_IGNS[0])], row
    # the refresh token is stored only as its SHA-256 hex (1.3)
    digest = hashlib.sha256(data["refreshToken"].encode()).hexdigest()
    assert env.db.one("SELECT count(*) FROM refresh_token WHERE token_hash = ? AND session_id = ?", digest,
                      claims["sub"]) == 1


def test_login_ign_case_and_whitespace_and_two_accounts(env):
    data = envelope(env.login("acct-two-accounts", "  GEN7300005 "))  # ASCII case-insensitive, trimmed
    assert data["role"] == "USER"
    sub = jwt.decode(data["accessToken"], JWT_SECRET, algorithms=["HS256"], issuer=ISSUER)["sub"]
    acc, ocids = env.db.all("SELECT account_id, my_ocids FROM auth_session WHERE id = ?", sub)[0]
    assert acc == account_id_of("acct-b", "acct-a")  # sorted account ids (M13)
    assert sorted(json.loads(ocids)) == sorted(ocid_of(n) for n in ("gen7300004", "gen7300005", "gen7300006"))
    me = envelope(call(env.svc, "GET", "/auth/me", headers=bearer(data["accessToken"])))
    assert me["characterCount"] == 3


def test_login_admin_role(env):
    data = envelope(env.login(ADMIN_KEY, ADMIN_IGN))
    assert data["role"] == "ADMIN" and data["fingerprint"] == env.admin_fp


def test_login_not_owner_403(env):
    for ign in ("데모도적", "gen7399999", "' OR 1=1 --"):
        r = env.login(USER_KEY, ign)
        assert_error(r, 403, "A002", message=f"해당 캐릭터는 이 API Key 소유자의 캐릭터가 아닙니다 (IGN: {ign})")


def test_login_unknown_key_401(env):
    for key in ("no-such-user-key", "x" * 256, "'; DROP TABLE member; --"):
        assert_error(env.login(key, "데모전사"), 401, "A001", message="유효하지 않은 API Key입니다.")


@pytest.mark.parametrize("body", [{}, {"apiKey": USER_KEY}, {"userIgn": "데모전사"}, {"apiKey": "", "userIgn": "데모전사"},
                                  {"apiKey": "  ", "userIgn": "데모전사"}, {"apiKey": USER_KEY, "userIgn": " \t "},
                                  {"apiKey": 123, "userIgn": "데모전사"}, {"apiKey": USER_KEY, "userIgn": None},
                                  {"apiKey": "k" * 257, "userIgn": "데모전사"}, [USER_KEY, "데모전사"], "text"])
def test_login_bad_fields_400(env, body):
    r = call(env.svc, "POST", "/auth/login", json_body=body)
    assert_error(r, 400, "C001")


def test_login_body_rules(env):
    svc = env.svc
    r = call(svc, "POST", "/auth/login", body=b'{"apiKey": "k", "userIgn": ', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "C001", message="Invalid JSON format")
    r = call(svc, "POST", "/auth/login", body=b"", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "C001")

    def nested(depth):  # an object holding depth-1 nested arrays: `depth` containers in all
        return ('{"apiKey":"%s","userIgn":"데모전사","deep":%s%s}' % (USER_KEY, "[" * (depth - 1), "]" * (depth - 1))).encode()
    SENT_KEYS.add(USER_KEY)
    for depth in (51, 60):
        r = call(svc, "POST", "/auth/login", body=nested(depth), headers={"Content-Type": "application/json"})
        assert_error(r, 400, "C001", message="JSON exceeds size/depth limits")
    r = call(svc, "POST", "/auth/login", body=nested(50), headers={"Content-Type": "application/json"})
    assert envelope(r)["role"] == "USER"  # depth 50 is allowed; unknown fields are ignored
    long_string = {"apiKey": USER_KEY, "userIgn": "데모전사", "pad": "p" * 100001}
    assert_error(call(svc, "POST", "/auth/login", json_body=long_string), 400, "C001",
                 message="JSON exceeds size/depth limits")
    long_name = {"apiKey": USER_KEY, "userIgn": "데모전사", "n" * 257: 1}
    assert_error(call(svc, "POST", "/auth/login", json_body=long_name), 400, "C001",
                 message="JSON exceeds size/depth limits")
    ok_sizes = {"apiKey": USER_KEY, "userIgn": "데모전사", "pad": "p" * 100000, "n" * 256: 1}
    assert envelope(call(svc, "POST", "/auth/login", json_body=ok_sizes))["role"] == "USER"
    body = json.dumps({"apiKey": USER_KEY, "userIgn": "데모전사"}).encode()
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", None):
        headers = {"Content-Type": ct} if ct else {}
        r = call(svc, "POST", "/auth/login", body=body, headers=headers)
        assert_error(r, 415, "C009", message="Content-Type must be application/json")
    r = call(svc, "POST", "/auth/login", body=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 200, r
    big = b'{"apiKey":"k","userIgn":"x","pad":"' + b"p" * (300 * 1024) + b'"}'
    r = call(svc, "POST", "/auth/login", body=big, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "C008", message="Request body exceeds 262144 bytes")
    exact = b'{"apiKey":"%s","userIgn":"' % USER_KEY.encode() + "데모전사".encode() + b'","p":"'
    exact += b"p" * (256 * 1024 - len(exact) - 2) + b'"}'
    assert len(exact) == 256 * 1024
    r = call(svc, "POST", "/auth/login", body=exact, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "C001", message="JSON exceeds size/depth limits")  # within the body limit, string too long


def test_login_upstream_down_503(env):
    """E11 step 1: upstream 5xx/429 -> 503 S005 (the key is not blamed), one call and no retry; 400/403 -> A001."""
    try:
        for status in (503, 500, 429):
            env.fake.fault(path=LIST, status=status)
            for key in (USER_KEY, "no-such-user-key"):
                before = env.fake.path_calls(LIST)
                r = env.login(key, "데모전사")
                assert_error(r, 503, "S005", message="외부 API 호출 실패 (Nexon Open API)", retry_after="30")
                assert env.fake.path_calls(LIST) == before + 1, status
        for status in (400, 403):
            env.fake.fault(path=LIST, status=status)
            before = env.fake.path_calls(LIST)
            assert_error(env.login(USER_KEY, "데모전사"), 401, "A001", message="유효하지 않은 API Key입니다.")
            assert env.fake.path_calls(LIST) == before + 1, status
    finally:
        env.fake.clear_faults()
    assert env.login(USER_KEY, "데모전사").status == 200


def test_login_dropped_connection_is_one_attempt():
    """A dropped connection is one failed attempt: no retry, not even libcurl's silent resend of a
    request that met a dead keep-alive connection (own service: a fresh `nexonAuth` breaker)."""
    fake = start_fake()
    svc = Service(fake)
    try:
        assert login(svc, USER_KEY, "데모전사").status == 200  # leaves a keep-alive connection behind, if any
        fake.fault(path=LIST, mode="close")
        for _ in range(2):
            before = fake.path_calls(LIST)
            assert_error(login(svc, USER_KEY, "데모전사"), 503, "S005")
            assert fake.path_calls(LIST) == before + 1
    finally:
        stop_checked(svc)
        fake.stop()


def test_login_key_without_characters_401(env):
    """1.2 A001: the key is rejected upstream "or has no characters" (here: one account, empty character list)."""
    fake_add_user(env.fake, "acct-no-characters", [("acct-empty", [])])
    assert_error(env.login("acct-no-characters", "데모전사"), 401, "A001", message="유효하지 않은 API Key입니다.")


def test_api_key_never_logged_nor_stored(env):
    data = envelope(env.login(SECRET_KEY, SECRET_IGN))
    assert_error(env.login(SECRET_KEY, "데모전사"), 403, "A002")
    call(env.svc, "POST", "/auth/login", json_body={"apiKey": SECRET_KEY + "x" * 300, "userIgn": SECRET_IGN})
    call(env.svc, "POST", "/auth/login", body=('{"apiKey":"%s",' % SECRET_KEY).encode(),
         headers={"Content-Type": "application/json"})
    refreshed = envelope(call(env.svc, "POST", "/auth/refresh", json_body={"refreshToken": data["refreshToken"]}))
    me = call(env.svc, "GET", "/auth/me", headers=bearer(refreshed["accessToken"]))
    assert me.status == 200
    # the access log line of the login is there (the log is the one being scanned)
    env.svc.out.wait_for(lambda l: l.get("op") == "access" and l.get("route") == "/auth/me" and l.get("status") == 200)
    text = "\n".join(json.dumps(l, ensure_ascii=False) for l in env.svc.out.lines)
    secrets = sorted(SENT_KEYS) + [data["accessToken"], data["refreshToken"], refreshed["accessToken"],
                                    refreshed["refreshToken"], JWT_SECRET, FP_SECRET]
    for secret in secrets:
        assert secret not in text, f"{secret[:20]}... appears in the service log"
    path = env.svc.env["SQLITE_PATH"]
    stored = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if os.path.exists(p))
    assert data["fingerprint"].encode() in stored  # reading the right file
    for secret in sorted(SENT_KEYS) + [data["refreshToken"], refreshed["refreshToken"]]:
        assert secret.encode() not in stored, f"{secret[:20]}... is stored in the database file"


def test_access_log_principal_is_masked_fingerprint(env):
    """4.3: the access log names the principal as the masked fingerprint (anonymous otherwise)."""
    token = env.token(USER_KEY, USER_IGNS[0])
    fp = fingerprint_of(FP_SECRET, USER_KEY)
    r = call(env.svc, "GET", "/auth/me", headers={**bearer(token), "X-Correlation-ID": "principal-log-1"})
    assert r.status == 200
    line = env.svc.out.wait_for(lambda l: l.get("op") == "access" and l.get("correlation_id") == "principal-log-1")
    assert line["principal"] == mask_fp(fp), line
    assert fp not in json.dumps(line)


# ---- 2. access tokens (E14, M16) ----------------------------------------------------------------------------

def test_me(env):
    data = env.session(USER_KEY, USER_IGNS[1])
    me = envelope(call(env.svc, "GET", "/auth/me", headers=bearer(data["accessToken"])))
    claims = jwt.decode(data["accessToken"], JWT_SECRET, algorithms=["HS256"], issuer=ISSUER)
    assert me == {"sessionId": claims["sub"], "fingerprint": data["fingerprint"], "role": "USER", "characterCount": 3}
    assert_error(call(env.svc, "GET", "/auth/me"), 401, "A005", message="인증이 필요합니다.")


def test_token_attacks_401(env):
    data = env.session(USER_KEY, USER_IGNS[0])
    good = data["accessToken"]
    real = jwt.decode(good, JWT_SECRET, algorithms=["HS256"], issuer=ISSUER)
    now = int(time.time())
    base = {"iss": ISSUER, "sub": real["sub"], "fgp": real["fgp"], "role": "USER", "iat": now, "nbf": now,
            "exp": now + 900}
    head, payload, sig = good.split(".")
    tampered_payload = b64(json.dumps({**real, "role": "ADMIN"}, separators=(",", ":")).encode())
    rs256_head = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": jwt_kid_of(JWT_SECRET)}).encode())
    rs256_sig = b64(hmac.new(JWT_SECRET.encode(), f"{rs256_head}.{payload}".encode(), hashlib.sha256).digest())
    old = now - 1000
    attacks = {
        "alg none": jwt.encode(base, None, algorithm="none", headers={"kid": jwt_kid_of(JWT_SECRET)}),
        "alg none, empty signature of a good token": f"{head}.{payload}.",
        "HS512": mint(base, alg="HS512"),
        "wrong key": mint(base, secret="another-secret-of-at-least-32-bytes!!"),
        "unknown kid": mint(base, kid="deadbeef"),
        "no kid": jwt.encode(base, JWT_SECRET, algorithm="HS256"),
        "expired beyond leeway": mint({**base, "iat": old, "nbf": old, "exp": now - 120}),
        "nbf beyond leeway": mint({**base, "nbf": now + 120}),
        "iat beyond leeway": mint({**base, "iat": now + 120, "nbf": now}),
        "wrong issuer": mint({**base, "iss": "someone-else"}),
        "tampered payload": f"{head}.{tampered_payload}.{sig}",
        "RS256 header, HMAC signature": f"{rs256_head}.{payload}.{rs256_sig}",
        "garbage": "not-a-jwt",
        "three garbage parts": "a.b.c",
        "no such session": mint({**base, "sub": str(uuid.uuid4())}),
        "fingerprint of another user": mint({**base, "fgp": fingerprint_of(FP_SECRET, ADMIN_KEY)}),
        "role claim of a bad type": mint({**base, "role": 1}),
        "exp as a string": mint({**base, "exp": str(now + 900)}),
        "oversized token": mint({**base, "pad": "x" * 9000}),
    }
    for claim in ("iss", "sub", "fgp", "role", "iat", "nbf", "exp"):
        attacks[f"missing {claim}"] = mint(base, drop=(claim,))
    for name, token in attacks.items():
        r = call(env.svc, "GET", "/auth/me", headers=bearer(token))
        assert r.status == 401, (name, r)
        assert_error(r, 401, "A005")
    for header in ("Bearer", "Bearer ", "Bearer    ", "Basic " + good, good, "Token " + good):
        assert_error(call(env.svc, "GET", "/auth/me", headers={"Authorization": header}), 401, "A005")
    # the controls: the original token, a PyJWT-minted token for the real session, and one inside the leeway
    assert call(env.svc, "GET", "/auth/me", headers=bearer(good)).status == 200
    assert envelope(call(env.svc, "GET", "/auth/me", headers=bearer(mint(base))))["sessionId"] == real["sub"]
    within = mint({**base, "iat": old, "nbf": old, "exp": now - 30})
    assert call(env.svc, "GET", "/auth/me", headers=bearer(within)).status == 200
    future_nbf = mint({**base, "nbf": now + 30})
    assert call(env.svc, "GET", "/auth/me", headers=bearer(future_nbf)).status == 200
    # the role claim is informational: a USER session with role=ADMIN in a validly signed token stays USER
    me = envelope(call(env.svc, "GET", "/auth/me", headers=bearer(mint({**base, "role": "ADMIN"}))))
    assert me["role"] == "USER"
    r = call(env.svc, "GET", "/api/admin/admins", headers=bearer(mint({**base, "role": "ADMIN"})))
    assert_error(r, 403, "A006")


# ---- 3. refresh and logout (E12, E13) -----------------------------------------------------------------------

def refresh(env, token):
    return call(env.svc, "POST", "/auth/refresh", json_body={"refreshToken": token})


def test_refresh_rotation_and_reuse(env):
    first = env.session(USER_KEY, USER_IGNS[0])
    sub = jwt.decode(first["accessToken"], JWT_SECRET, algorithms=["HS256"], issuer=ISSUER)["sub"]
    r = refresh(env, first["refreshToken"])
    second = envelope(r)
    assert set(second) == REFRESH_KEYS, second
    assert second["accessExpiresIn"] == 900 and second["refreshExpiresIn"] == 604800
    assert second["refreshToken"] != first["refreshToken"]
    claims = jwt.decode(second["accessToken"], JWT_SECRET, algorithms=["HS256"], issuer=ISSUER)
    assert claims["sub"] == sub and claims["fgp"] == first["fingerprint"]
    assert envelope(call(env.svc, "GET", "/auth/me", headers=bearer(second["accessToken"])))["sessionId"] == sub
    assert call(env.svc, "GET", "/auth/me", headers=bearer(first["accessToken"])).status == 200  # same session
    # the old token again: reuse -> the whole family and the session are revoked
    assert_error(refresh(env, first["refreshToken"]), 401, "A012",
                 message="이미 사용된 토큰입니다. 보안을 위해 재로그인이 필요합니다.")
    assert env.db.one("SELECT count(*) FROM auth_session WHERE id = ?", sub) == 0
    assert env.db.one("SELECT count(*) FROM refresh_token WHERE session_id = ?", sub) == 0
    r = refresh(env, second["refreshToken"])
    assert r.status == 401 and r.json()["code"] in ("A010", "A013"), r
    # the session is revoked: its access tokens stop working (on this instance at once, as logout)
    for token in (first["accessToken"], second["accessToken"]):
        assert_error(call(env.svc, "GET", "/auth/me", headers=bearer(token)), 401, "A005")


def test_refresh_unknown_and_bad_body(env):
    assert_error(refresh(env, "no-such-refresh-token"), 401, "A010", message="유효하지 않은 Refresh Token입니다.")
    for body in ({}, {"refreshToken": ""}, {"refreshToken": "   "}, {"refreshToken": 5}):
        assert_error(call(env.svc, "POST", "/auth/refresh", json_body=body), 400, "C001")


def test_refresh_expired_token_and_gone_session(env):
    # an expired refresh token: 401 A011 and the token is deleted
    data = env.session(USER_KEY, USER_IGNS[0])
    digest = hashlib.sha256(data["refreshToken"].encode()).hexdigest()
    assert env.db.run("UPDATE refresh_token SET expires_at = ? WHERE token_hash = ?",
                      int(time.time() * 1000) - 1000, digest) == 1
    assert_error(refresh(env, data["refreshToken"]), 401, "A011",
                 message="Refresh Token이 만료되었습니다. 다시 로그인해주세요.")
    assert env.db.one("SELECT count(*) FROM refresh_token WHERE token_hash = ?", digest) == 0
    assert_error(refresh(env, data["refreshToken"]), 401, "A010")
    # the session expired (behind the service's back, never read through its cache): refresh 401 A013 and
    # every refresh token of the session is deleted; the access token is refused too
    data = env.session(USER_KEY, USER_IGNS[0])
    sub = jwt.decode(data["accessToken"], JWT_SECRET, algorithms=["HS256"], issuer=ISSUER)["sub"]
    assert env.db.run("UPDATE auth_session SET expires_at = ? WHERE id = ?", int(time.time() * 1000) - 1000, sub) == 1
    assert_error(call(env.svc, "GET", "/auth/me", headers=bearer(data["accessToken"])), 401, "A005")
    assert_error(refresh(env, data["refreshToken"]), 401, "A013", message="세션이 만료되었습니다. 다시 로그인해주세요.")
    assert env.db.one("SELECT count(*) FROM refresh_token WHERE session_id = ?", sub) == 0


def test_refresh_concurrent_exactly_one_wins(env):
    data = env.session(USER_KEY, USER_IGNS[2])
    barrier = threading.Barrier(20)

    def one(_):
        barrier.wait(timeout=30)
        return refresh(env, data["refreshToken"])
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    statuses = sorted(r.status for r in results)
    assert statuses == [200] + [401] * 19, [(r.status, r.body[:100]) for r in results]
    for r in results:
        if r.status == 401:
            assert r.json()["code"] in ("A012", "A010"), r


def test_logout(env):
    data = env.session(USER_KEY, USER_IGNS[0])
    r = call(env.svc, "DELETE", "/auth/logout", headers=bearer(data["accessToken"]))
    assert r.status == 200 and r.json() == {"success": True}, r
    assert_error(call(env.svc, "GET", "/auth/me", headers=bearer(data["accessToken"])), 401, "A005")
    r = refresh(env, data["refreshToken"])
    assert r.status == 401 and r.json()["code"] in ("A010", "A013"), r
    assert_error(call(env.svc, "DELETE", "/auth/logout", headers=bearer(data["accessToken"])), 401, "A005")
    assert_error(call(env.svc, "DELETE", "/auth/logout"), 401, "A005")


# ---- 4. likes (E07-E10) -------------------------------------------------------------------------------------

def test_like_unlike_status_count(env):
    token = env.token(USER_KEY, USER_IGNS[0])
    auth = bearer(token)
    target = "gen7301001"
    assert envelope(call(env.svc, "GET", like_path(target, "/count"))) == {"likeCount": 0}
    assert envelope(call(env.svc, "POST", like_path(target), headers=auth)) == \
        {"liked": True, "likeCount": 1, "changed": True}
    assert envelope(call(env.svc, "POST", like_path(target), headers=auth)) == \
        {"liked": True, "likeCount": 1, "changed": False}
    assert envelope(call(env.svc, "GET", like_path(target, "/status"), headers=auth)) == {"liked": True, "likeCount": 1}
    assert envelope(call(env.svc, "GET", like_path(target, "/status"))) == {"liked": False, "likeCount": 1}
    assert envelope(call(env.svc, "GET", like_path(target, "/status"), headers=bearer("garbage"))) == \
        {"liked": False, "likeCount": 1}
    assert envelope(call(env.svc, "GET", like_path(target, "/count"))) == {"likeCount": 1}
    # another account likes too; the first one's session sees 2
    other = env.token("acct-two-accounts", "gen7300004")
    assert envelope(call(env.svc, "POST", like_path(target), headers=bearer(other)))["likeCount"] == 2
    # a second session of the same account (same account id) is the same liker
    again = env.token(USER_KEY, USER_IGNS[1])
    assert envelope(call(env.svc, "POST", like_path(target), headers=bearer(again))) == \
        {"liked": True, "likeCount": 2, "changed": False}
    assert envelope(call(env.svc, "DELETE", like_path(target), headers=auth)) == \
        {"liked": False, "likeCount": 1, "changed": True}
    assert envelope(call(env.svc, "DELETE", like_path(target), headers=auth)) == \
        {"liked": False, "likeCount": 1, "changed": False}
    assert envelope(call(env.svc, "GET", like_path(target, "/status"), headers=auth)) == {"liked": False, "likeCount": 1}
    assert env.db.one("SELECT count(*) FROM character_like WHERE target_ocid = ?", ocid_of(target)) == 1
    # trimmed IGN names the same character
    assert envelope(call(env.svc, "GET", f"/api/v2/characters/%20{target}%20/like/count")) == {"likeCount": 1}


def test_like_errors(env):
    token = env.token(USER_KEY, USER_IGNS[0])
    for own in USER_IGNS:
        for method in ("POST", "DELETE"):
            assert_error(call(env.svc, method, like_path(own), headers=bearer(token)), 403, "A003",
                         message="자신의 캐릭터에는 좋아요를 누를 수 없습니다.")
    assert env.db.one("SELECT count(*) FROM character_like WHERE target_ocid IN (?, ?, ?)",
                      *[ocid_of(n) for n in USER_IGNS]) == 0
    for method, suffix, headers in (("POST", "", bearer(token)), ("DELETE", "", bearer(token)),
                                    ("GET", "/status", bearer(token)), ("GET", "/status", {}), ("GET", "/count", {})):
        assert_error(call(env.svc, method, like_path("nobody7302", suffix), headers=headers), 404, "C002",
                     message="존재하지 않는 캐릭터입니다 (IGN: nobody7302)")
    for method in ("POST", "DELETE"):
        for headers in ({}, bearer("garbage"), {"Authorization": "Bearer"}):
            assert_error(call(env.svc, method, like_path("gen7301002"), headers=headers), 401, "A005")
    assert env.db.one("SELECT count(*) FROM character_like WHERE target_ocid = ?", ocid_of("gen7301002")) == 0


def test_like_concurrency_ledger_and_fold(env):
    """50 accounts x random like/unlike on 4 targets, 200 requests from 50 threads. Operations of one account run
    in order (so per (account, target) the last acknowledged operation is well defined)."""
    rng = random.Random(7303)
    accounts = [f"lk-user-{i}" for i in range(50)]
    for i, key in enumerate(accounts):
        fake_add_user(env.fake, key, [(f"lk-acc-{i}", [f"gen73040{i:02d}"])])
    with concurrent.futures.ThreadPoolExecutor(25) as pool:
        tokens = list(pool.map(lambda i: env.token(accounts[i], f"gen73040{i:02d}"), range(50)))
    targets = [f"gen730500{t}" for t in range(4)]
    plan = [[(rng.choice(targets), rng.random() < 0.65) for _ in range(4)] for _ in range(50)]
    ledger = {}  # (account index, target) -> last acknowledged state
    lock = threading.Lock()

    def run(i):
        for target, like in plan[i]:
            r = call(env.svc, "POST" if like else "DELETE", like_path(target), headers=bearer(tokens[i]))
            data = envelope(r)
            assert data["liked"] is like and isinstance(data["changed"], bool), data
            with lock:
                before = ledger.get((i, target), False)
                assert data["changed"] == (before != like), (i, target, before, data)
                ledger[(i, target)] = like
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        list(pool.map(run, range(50)))
    assert sum(len(p) for p in plan) == 200
    check_r1(env.db)
    for target in targets:
        expected = sum(1 for (i, t), liked in ledger.items() if t == target and liked)
        assert envelope(call(env.svc, "GET", like_path(target, "/count"))) == {"likeCount": expected}, target
        assert env.db.one("SELECT count(*) FROM character_like WHERE target_ocid = ?", ocid_of(target)) == expected
    for i in range(0, 50, 7):  # a sample of status reads (read-your-writes)
        for target in targets:
            got = envelope(call(env.svc, "GET", like_path(target, "/status"), headers=bearer(tokens[i])))
            assert got["liked"] is ledger.get((i, target), False), (i, target, got)
    # the fold (LIKE_FOLD_INTERVAL_MS=100) empties like_delta and leaves exact counters
    wait_until(lambda: env.db.one("SELECT count(*) FROM like_delta") == 0, timeout=15, message="like fold")
    for target in targets:
        expected = sum(1 for (i, t), liked in ledger.items() if t == target and liked)
        assert env.db.one("SELECT like_count FROM game_character WHERE ocid = ?", ocid_of(target)) == expected
        assert envelope(call(env.svc, "GET", like_path(target, "/count"))) == {"likeCount": expected}
    check_r1(env.db)


def check_r1(db):
    """6.2 R1, in one read snapshot: like_count + pending deltas == relation rows, for every character."""
    rows = db.all("SELECT g.ocid, g.like_count + coalesce((SELECT sum(d.delta) FROM like_delta d"
                  " WHERE d.character_id = g.id), 0), (SELECT count(*) FROM character_like l"
                  " WHERE l.target_ocid = g.ocid) FROM game_character g")
    bad = [r for r in rows if r[1] != r[2]]
    assert not bad, bad
    orphans = db.one("SELECT count(*) FROM character_like l WHERE NOT EXISTS"
                     " (SELECT 1 FROM game_character g WHERE g.ocid = l.target_ocid)")
    assert orphans == 0


# ---- 6. donations (E15) -------------------------------------------------------------------------------------

def new_member(env, key, ign, points):
    fake_add_user(env.fake, key, [(f"acc-{key}", [ign])])
    data = env.session(key, ign)
    env.set_points(data["fingerprint"], points)
    return data["accessToken"], data["fingerprint"]


def test_donation_success_replay_and_conflict(env):
    token, fp = new_member(env, "don-basic-key", "gen7306001", 500)
    admin0 = env.points(env.admin_fp)
    r = env.donate(token, env.admin_fp, 120, key="coffee-1")
    assert envelope(r) == {"requestId": "coffee-1", "message": DONATION_OK}
    assert env.points(fp) == 380 and env.points(env.admin_fp) == admin0 + 120
    # the same key and body: the stored result, no second debit
    assert envelope(env.donate(token, env.admin_fp, 120, key="coffee-1")) == {"requestId": "coffee-1",
                                                                              "message": DONATION_OK}
    assert env.points(fp) == 380 and env.points(env.admin_fp) == admin0 + 120
    # the same key, another amount or receiver
    assert_error(env.donate(token, env.admin_fp, 121, key="coffee-1"), 409, "I001",
                 message="Idempotency-Key coffee-1 was already used with a different request")
    ghost = fingerprint_of(FP_SECRET, GHOST_ADMIN_KEY)
    assert_error(env.donate(token, ghost, 120, key="coffee-1"), 409, "I001")
    assert env.points(fp) == 380
    rows = env.db.all("SELECT request_id, request_hash, receiver_fingerprint, amount FROM donation_history"
                      " WHERE sender_fingerprint = ?", fp)
    assert rows == [("coffee-1", hashlib.sha256(f"{env.admin_fp}|120".encode()).hexdigest(), env.admin_fp, 120)]
    hid = env.db.one("SELECT id FROM donation_history WHERE sender_fingerprint = ?", fp)
    out = env.db.all("SELECT event_type, payload, content_hash FROM donation_outbox WHERE request_id = ?",
                     f"donation:{hid}")
    assert len(out) == 1 and out[0][0] == "DONATION_COMPLETED", out
    assert out[0][2] == hashlib.sha256(f"donation:{hid}|DONATION_COMPLETED|{out[0][1]}".encode()).hexdigest()
    assert fp not in out[0][1] and env.admin_fp not in out[0][1]  # masked in the payload
    # no Idempotency-Key: a generated UUIDv4, a second identical request is a second donation
    a = envelope(env.donate(token, env.admin_fp, 10))
    b = envelope(env.donate(token, env.admin_fp, 10))
    assert UUID4.match(a["requestId"]) and UUID4.match(b["requestId"]) and a["requestId"] != b["requestId"]
    assert env.points(fp) == 360
    # a key is per sender: another sender may use "coffee-1"
    token2, fp2 = new_member(env, "don-basic-key-2", "gen7306002", 50)
    assert envelope(env.donate(token2, env.admin_fp, 50, key="coffee-1"))["requestId"] == "coffee-1"
    assert env.points(fp2) == 0


def test_donation_refusals(env):
    token, fp = new_member(env, "don-refuse-key", "gen7306101", 30)
    admin0 = env.points(env.admin_fp)
    r = env.donate(token, env.admin_fp, 31, key="too-much")
    assert_error(r, 400, "C003", message="포인트가 부족합니다 (보유: 30, 필요: 31)")
    assert_error(env.donate(token, env.admin_fp, 1000000000), 400, "C003",
                 message="포인트가 부족합니다 (보유: 30, 필요: 1000000000)")
    # a failed attempt leaves nothing behind: the same key may be retried once points are there
    assert env.db.one("SELECT count(*) FROM donation_history WHERE sender_fingerprint = ?", fp) == 0
    env.set_points(fp, 31)
    assert envelope(env.donate(token, env.admin_fp, 31, key="too-much"))["requestId"] == "too-much"
    assert env.points(fp) == 0 and env.points(env.admin_fp) == admin0 + 31
    env.set_points(fp, 100)
    user_fp = fingerprint_of(FP_SECRET, USER_KEY)  # a member, not an admin
    assert_error(env.donate(token, user_fp, 5), 404, "A007", message="유효하지 않은 Admin입니다.")
    assert_error(env.donate(token, "A" * 43, 5), 404, "A007")
    ghost = fingerprint_of(FP_SECRET, GHOST_ADMIN_KEY)  # bootstrap admin without a member row
    assert_error(env.donate(token, ghost, 5), 404, "A008", message="Admin의 Member 계정이 존재하지 않습니다.")
    assert env.points(fp) == 100
    for receiver in ("short", "A" * 42, "A" * 44, "A" * 42 + "+", "A" * 42 + "=", "' OR 1=1 --" + "A" * 32, 12, None):
        assert_error(env.donate(token, receiver, 5), 400, "C001")
    for amount in (0, -1, 1000000001, "10", 1.5, None, True, 1e10, [1], {"v": 1}):
        assert_error(env.donate(token, env.admin_fp, amount), 400, "C001")
    r = call(env.svc, "POST", "/api/v2/donation/coffee", headers=bearer(token), json_body={"adminFingerprint": env.admin_fp})
    assert_error(r, 400, "C001")
    for key in ("has space", "a" * 65, "bad/char", "ключ".encode(), "semi;colon", ""):
        assert_error(env.donate(token, env.admin_fp, 5, extra_headers={"Idempotency-Key": key}), 400, "C001")
    assert envelope(env.donate(token, env.admin_fp, 5, key="Aa0._:-" + "z" * 57))["requestId"] == "Aa0._:-" + "z" * 57
    assert env.points(fp) == 95
    # no member row for the sender (deleted behind the service's back): 404 A009 with the masked fingerprint
    assert env.db.run("DELETE FROM member WHERE fingerprint = ?", fp) == 1
    assert_error(env.donate(token, env.admin_fp, 5), 404, "A009",
                 message=f"발신자 Member 계정이 존재하지 않습니다 (uuid: {mask_fp(fp)})")
    # anonymous
    r = call(env.svc, "POST", "/api/v2/donation/coffee", json_body={"adminFingerprint": env.admin_fp, "amount": 1})
    assert_error(r, 401, "A005")


def test_donation_concurrent_idempotency(env):
    """100 concurrent donations of 1 point with 10 keys (10 requests each) from a sender with 1000 points."""
    token, fp = new_member(env, "don-conc-key", "gen7306201", 1000)
    admin0 = env.points(env.admin_fp)
    keys = [f"conc-{k}" for k in range(10)]
    jobs = [keys[i % 10] for i in range(100)]
    random.Random(7306).shuffle(jobs)
    barrier = threading.Barrier(50)

    def one(key):
        try:
            barrier.wait(timeout=30)
        except threading.BrokenBarrierError:
            pass
        return key, env.donate(token, env.admin_fp, 1, key=key)
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, jobs))
    for key, r in results:
        assert envelope(r) == {"requestId": key, "message": DONATION_OK}, (key, r)
    assert env.points(fp) == 990
    assert env.points(env.admin_fp) == admin0 + 10
    rows = env.db.all("SELECT id, request_id, amount FROM donation_history WHERE sender_fingerprint = ?", fp)
    assert sorted(r[1] for r in rows) == keys and all(r[2] == 1 for r in rows), rows
    outbox = env.db.one(f"SELECT count(*) FROM donation_outbox WHERE request_id IN "
                        f"({','.join('?' * len(rows))})", *[f"donation:{r[0]}" for r in rows])
    assert outbox == 10


# ---- 9. input hardening --------------------------------------------------------------------------------------

SQL_IGNS = ["' OR 1=1 --", '"; DROP TABLE member; --', "1; DELETE FROM character_like", "%' OR '%'='",
            "x') UNION SELECT 1--"]


def test_hardening_sql_metacharacters(env):
    token = env.token(USER_KEY, USER_IGNS[0])
    members = env.db.one("SELECT count(*) FROM member")
    likes = env.db.one("SELECT count(*) FROM character_like")
    for ign in SQL_IGNS:
        seg = quote(ign, safe="")
        cases = [("GET", f"/api/v1/characters/{seg}", {}), ("GET", f"/api/v4/characters/{seg}/expectation", {}),
                 ("POST", like_path(ign), bearer(token)), ("DELETE", like_path(ign), bearer(token)),
                 ("GET", like_path(ign, "/status"), bearer(token)), ("GET", like_path(ign, "/count"), {})]
        for method, path, headers in cases:
            r = call(env.svc, method, path, headers=headers)
            assert r.status in (400, 404), (ign, method, path, r)
            assert_error(r, r.status, "C002" if r.status == 404 else "C001")
    for table in ("member", "character_like", "game_character", "donation_history", "auth_session", "like_delta"):
        assert env.db.one("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", table) == 1, table
    assert env.db.one("SELECT count(*) FROM member") == members
    assert env.db.one("SELECT count(*) FROM character_like") == likes
    assert call(env.svc, "GET", "/api/v1/characters/" + quote("데모전사")).status == 200


def test_hardening_long_and_invalid_igns(env):
    token = env.token(USER_KEY, USER_IGNS[0])
    for seg in ("a" * 10240, quote("가" * 1100, safe=""), "%FF", "%C3%28", "%ED%A0%80", "%00", "a%0Ab", "%E0%80%80"):
        for method, suffix, headers in (("POST", "", bearer(token)), ("DELETE", "", bearer(token)),
                                        ("GET", "/status", {}), ("GET", "/count", {})):
            r = call(env.svc, method, f"/api/v2/characters/{seg}/like{suffix}", headers=headers)
            assert_error(r, 400, "C001")
        assert_error(call(env.svc, "GET", f"/api/v1/characters/{seg}"), 400, "C001")


def test_hardening_admin_path_params(env):
    auth = bearer(env.admin_token)
    for seg in ("%27%20OR%20%271%27%3D%271", quote("'" + "A" * 42, safe=""), "A" * 1000, "A" * 42, "A" * 44,
                quote("A" * 42 + "/", safe=""), "%00" + "A" * 42):
        r = call(env.svc, "DELETE", f"/api/admin/admins/{seg}", headers=auth)
        assert_error(r, 400, "C001")
    for seg in ("0", "-1", "abc", "99999999999999999999", "1.5", "1e3", "+5", "0x10", "%31%00", "-0"):
        for method, suffix in (("GET", ""), ("POST", "/reprocess"), ("DELETE", "")):
            r = call(env.svc, method, f"/api/admin/dlq/{seg}{suffix}", headers=auth)
            assert r.status == 400, (seg, method, r)
            assert_error(r, 400, "C001")
    r = call(env.svc, "GET", "/api/admin/dlq/9223372036854775807", headers=auth)
    assert_error(r, 404, "D001", message="해당 DLQ 항목을 찾을 수 없습니다 (ID: 9223372036854775807)")
    for query in ("page=abc", "page=-1", "size=x", "queue=bogus", "queue=donation%27--", "page=1e2"):
        assert_error(call(env.svc, "GET", f"/api/admin/dlq?{query}", headers=auth), 400, "C001")
    for query in ("cursor=-1", "cursor=abc", "size=0", "size=101", "queue=x"):
        assert_error(call(env.svc, "GET", f"/api/admin/dlq/v2?{query}", headers=auth), 400, "C001")


def test_hardening_dlq_id_beyond_int64(env):
    """1.4: {id} is a positive 64-bit integer, else 400 C001. 2^63 and 2^64 + 1 are not: they must not be
    clamped to 2^63 - 1 (or wrapped) and looked up."""
    auth = bearer(env.admin_token)
    for seg in ("9223372036854775808", "18446744073709551617", "9999999999999999999"):
        for method, suffix in (("GET", ""), ("POST", "/reprocess"), ("DELETE", "")):
            r = call(env.svc, method, f"/api/admin/dlq/{seg}{suffix}", headers=auth)
            assert r.status == 400, (seg, method, r)
            assert_error(r, 400, "C001")


# ---- 7. outbox relay with a webhook sink ---------------------------------------------------------------------

def relay_rows(db):
    return db.all("SELECT id, request_id, status, retry_count, last_error FROM donation_outbox ORDER BY id")


def donation_burst(svc_env, count, prefix, ign):
    token, fp = new_member(svc_env, f"{prefix}-key", ign, 10 * count)
    for i in range(count):
        assert envelope(svc_env.donate(token, svc_env.admin_fp, 1 + i, key=f"{prefix}-{i}"))["requestId"] == f"{prefix}-{i}"
    return fp


def test_outbox_relay_flaky_webhook(fake):
    """The sink fails the first K requests (503), then answers 204. With immediate retries, every row ends
    COMPLETED or DEAD_LETTER (3 attempts), with exact accounting."""
    K, N = 20, 8
    sink = WebhookSink(lambda n, key, body: 503 if n < K else 204)
    svc = start_service(fake, DONATION_NOTIFY_WEBHOOK_URL=sink.url, OUTBOX_BACKOFF_BASE_S="0")
    e = Env(fake, svc)
    try:
        e.admin_fp = fingerprint_of(FP_SECRET, ADMIN_KEY)
        e.token(ADMIN_KEY, ADMIN_IGN)
        donation_burst(e, N, "relay-flaky", "gen7307001")
        wait_until(lambda: e.db.one("SELECT count(*) FROM donation_outbox WHERE status IN"
                                    " ('PENDING','PROCESSING','FAILED')") == 0 and len(relay_rows(e.db)) == N,
                   timeout=30, message="relay drained")
        rows = relay_rows(e.db)
        completed = {r[1] for r in rows if r[2] == "COMPLETED"}
        dead = {r[1] for r in rows if r[2] == "DEAD_LETTER"}
        assert len(completed) + len(dead) == N, rows
        assert set(sink.delivered()) == completed and len(sink.delivered()) == len(completed), sink.snapshot()
        dlq = {r[0] for r in e.db.all("SELECT request_id FROM donation_dlq")}
        assert dlq == dead
        assert all(r[3] <= 3 for r in rows), rows
        assert all(r[3] == 3 and r[4] == "webhook: HTTP 503" for r in rows if r[2] == "DEAD_LETTER"), rows
        # every failed attempt is one sink request answered 503, charged to exactly one row
        assert sum(r[3] for r in rows) == K, rows
        assert len(sink.snapshot()) == K + len(completed)
        # 20 failures over 8 rows: at least one row exhausted its 3 attempts, at least one got through
        assert completed and dead
        # what the sink received: JSON with the masked payload, keyed by the outbox request id
        for key, body, status, ctype in sink.snapshot():
            assert re.fullmatch(r"donation:\d+", key) and ctype == "application/json", (key, ctype)
            payload = json.loads(body)
            assert set(payload) == {"donationId", "senderFingerprint", "receiverFingerprint", "amount"}, payload
            assert f"donation:{payload['donationId']}" == key
            assert payload["receiverFingerprint"] == mask_fp(e.admin_fp)
        assert len(svc.logs(op="donation.completed")) == len(completed)
    finally:
        e.db.close()
        stop_checked(svc)
        sink.stop()


def test_outbox_relay_dead_letters_when_webhook_always_fails(fake):
    N = 3
    sink = WebhookSink(lambda n, key, body: 500)
    svc = start_service(fake, DONATION_NOTIFY_WEBHOOK_URL=sink.url, OUTBOX_BACKOFF_BASE_S="0")
    e = Env(fake, svc)
    try:
        e.admin_fp = fingerprint_of(FP_SECRET, ADMIN_KEY)
        admin = e.token(ADMIN_KEY, ADMIN_IGN)
        donation_burst(e, N, "relay-dead", "gen7307002")
        wait_until(lambda: e.db.one("SELECT count(*) FROM donation_outbox WHERE status = 'DEAD_LETTER'") == N,
                   timeout=30, message="all rows dead-lettered")
        rows = relay_rows(e.db)
        assert [(r[2], r[3], r[4]) for r in rows] == [("DEAD_LETTER", 3, "webhook: HTTP 500")] * N, rows
        dlq = e.db.all("SELECT original_outbox_id, request_id, failure_reason FROM donation_dlq ORDER BY id")
        assert [(d[0], d[1]) for d in dlq] == [(r[0], r[1]) for r in rows], (dlq, rows)
        assert all(d[2] for d in dlq), dlq
        seen = [k for k, _, _, _ in sink.snapshot()]
        assert sorted(seen) == sorted([r[1] for r in rows] * 3), seen
        page = envelope(call(svc, "GET", "/api/admin/dlq", headers=bearer(admin)))
        assert page["totalElements"] == N and {c["requestId"] for c in page["content"]} == {r[1] for r in rows}
        assert envelope(call(svc, "GET", "/api/admin/dlq/count", headers=bearer(admin))) == N
        assert len(svc.logs(op="donation.completed")) == 0
    finally:
        e.db.close()
        stop_checked(svc)
        sink.stop()


# ---- 5. durability across kill -9 ----------------------------------------------------------------------------

def test_durability_kill9(fake, tmp_path):
    """Acknowledged likes, unlikes and donations survive SIGKILL (M12: acknowledged ⊆ stored ⊆ acknowledged ∪
    unknown-outcome). The service is killed while the burst is still running."""
    rng = random.Random(7308)
    svc = start_service(fake, workdir=str(tmp_path))
    e = Env(fake, svc)
    try:
        e.admin_fp = fingerprint_of(FP_SECRET, ADMIN_KEY)
        e.token(ADMIN_KEY, ADMIN_IGN)
        n_acc, n_ops = 10, 14
        keys = [f"dur-key-{i}" for i in range(n_acc)]
        for i, key in enumerate(keys):
            fake_add_user(fake, key, [(f"dur-acc-{i}", [f"gen73080{i:02d}"])])
        sessions = [e.session(keys[i], f"gen73080{i:02d}") for i in range(n_acc)]
        for s in sessions:
            e.set_points(s["fingerprint"], 1000)
        targets = ["gen7309001", "gen7309002", "gen7309003"]
        for t in targets:  # character rows exist before the burst
            assert envelope(call(svc, "GET", like_path(t, "/count"))) == {"likeCount": 0}
        plans = []
        for i in range(n_acc):
            plan = []
            for j in range(n_ops):
                if rng.random() < 0.6:
                    plan.append(("like", rng.choice(targets), rng.random() < 0.6))
                else:
                    plan.append(("donate", f"dur-{i}-{j}", rng.randint(1, 9)))
            plans.append(plan)
        outcomes = [[] for _ in range(n_acc)]  # per account: (op, "ack" | "unknown")
        acked = [0]
        lock = threading.Lock()
        kill_at = int(n_acc * n_ops * 0.6)
        killed = threading.Event()

        def run(i):
            for op in plans[i]:
                try:
                    if op[0] == "like":
                        r = call(svc, "POST" if op[2] else "DELETE", like_path(op[1]),
                                 headers=bearer(sessions[i]["accessToken"]), timeout=10)
                    else:
                        r = e.donate(sessions[i]["accessToken"], e.admin_fp, op[2], key=op[1])
                except (OSError, http.client.HTTPException):
                    outcomes[i].append((op, "unknown"))
                    continue
                if not killed.is_set():
                    assert 200 <= r.status < 300, (op, r)
                outcomes[i].append((op, "ack" if 200 <= r.status < 300 else "unknown"))
                with lock:
                    acked[0] += 1
                    if acked[0] == kill_at:
                        svc.proc.send_signal(signal.SIGKILL)
                        killed.set()
        with concurrent.futures.ThreadPoolExecutor(n_acc) as pool:
            list(pool.map(run, range(n_acc)))
        assert killed.is_set()
    finally:
        code = svc.stop(sig=signal.SIGKILL)
        e.db.close()
    assert code == -signal.SIGKILL, code
    svc2 = start_service(fake, workdir=str(tmp_path))
    db = Db(svc2.env["SQLITE_PATH"])
    try:
        n_ack = sum(1 for o in outcomes for _, s in o if s == "ack")
        assert n_ack >= kill_at
        for i, s in enumerate(sessions):
            account = db.one("SELECT account_id FROM auth_session WHERE fingerprint = ? LIMIT 1", s["fingerprint"])
            # likes: per (account, target) the stored state is the last acknowledged one, or the result of an
            # operation with unknown outcome sent after it
            for t in targets:
                ops = [(op[2], st) for op, st in outcomes[i] if op[0] == "like" and op[1] == t]
                last_ack = max([k for k, (_, st) in enumerate(ops) if st == "ack"], default=-1)
                allowed = {ops[last_ack][0] if last_ack >= 0 else False}
                allowed |= {like for like, st in ops[last_ack + 1:] if st == "unknown"}
                stored = db.one("SELECT count(*) FROM character_like WHERE target_ocid = ? AND liker_account_id = ?",
                                ocid_of(t), account)
                assert bool(stored) in allowed, (i, t, ops, stored)
            # donations: every acknowledged one has its history row; nothing else but unknown-outcome ones
            history = dict(db.all("SELECT request_id, amount FROM donation_history WHERE sender_fingerprint = ?",
                                  s["fingerprint"]))
            acked_keys = {op[1]: op[2] for op, st in outcomes[i] if op[0] == "donate" and st == "ack"}
            unknown_keys = {op[1]: op[2] for op, st in outcomes[i] if op[0] == "donate" and st == "unknown"}
            for key, amount in acked_keys.items():
                assert history.get(key) == amount, (i, key, history)
            assert set(history) <= set(acked_keys) | set(unknown_keys), (i, history)
            # money is conserved, and every stored donation has its outbox row
            assert db.one("SELECT point FROM member WHERE fingerprint = ?", s["fingerprint"]) == \
                1000 - sum(history.values())
        total = db.one("SELECT coalesce(sum(amount), 0) FROM donation_history WHERE receiver_fingerprint = ?",
                       e.admin_fp)
        assert db.one("SELECT point FROM member WHERE fingerprint = ?", e.admin_fp) == total
        assert db.one("SELECT count(*) FROM donation_history h WHERE NOT EXISTS (SELECT 1 FROM donation_outbox o"
                      " WHERE o.request_id = 'donation:' || h.id)") == 0
        check_r1(db)
        for t in targets:
            rows = db.one("SELECT count(*) FROM character_like WHERE target_ocid = ?", ocid_of(t))
            assert envelope(call(svc2, "GET", like_path(t, "/count"))) == {"likeCount": rows}
        # the sessions survived too
        assert call(svc2, "GET", "/auth/me", headers=bearer(sessions[0]["accessToken"])).status == 200
    finally:
        db.close()
        stop_checked(svc2)


# ---- 8. rate limiting ----------------------------------------------------------------------------------------

def test_rate_limits(fake):
    svc = start_service(fake, RATE_LIMIT_ENABLED="true", RL_IP_CAPACITY="5", RL_IP_REFILL="1", RL_IP_PERIOD_S="60",
                        RL_USER_CAPACITY="3", RL_USER_REFILL="1", RL_USER_PERIOD_S="60")
    try:
        def login(key, ign, ip):
            r = call(svc, "POST", "/auth/login", headers={"X-Forwarded-For": ip},
                     json_body={"apiKey": key, "userIgn": ign})
            return envelope(r)["accessToken"]
        user = login(USER_KEY, USER_IGNS[0], "198.51.100.201")
        admin = login(ADMIN_KEY, ADMIN_IGN, "198.51.100.202")
        ip = {"X-Forwarded-For": "198.51.100.7"}
        count = like_path("gen7310001", "/count")
        for left in (4, 3, 2, 1, 0):
            r = call(svc, "GET", count, headers=ip)
            assert r.status == 200 and r.header("X-RateLimit-Remaining") == str(left), r
        r = call(svc, "GET", count, headers=ip)
        body = assert_error(r, 429, "R001")
        retry = r.header("Retry-After")
        assert retry is not None and retry.isdigit() and 1 <= int(retry) <= 60, r
        assert r.header("X-RateLimit-Remaining") == "0"
        assert body["message"] == f"요청 한도를 초과했습니다. {retry}초 후 다시 시도해주세요.", body
        # other endpoints share the client's bucket; unknown paths too
        assert_error(call(svc, "GET", "/api/v1/characters/gen7310001", headers=ip), 429, "R001")
        # the actuator is never limited
        for _ in range(8):
            for path, headers in (("/actuator/health/liveness", ip), ("/actuator/health/readiness", ip),
                                  ("/actuator/health", ip), ("/actuator/prometheus", {})):
                r = call(svc, "GET", path, headers=headers)
                assert r.status == 200 and r.header("X-RateLimit-Remaining") is None, (path, r)
        # another client address has its own bucket
        r = call(svc, "GET", count, headers={"X-Forwarded-For": "198.51.100.8"})
        assert r.status == 200 and r.header("X-RateLimit-Remaining") == "4", r
        # a logged-in user has its own bucket (capacity 3), whatever the exhausted address it comes from
        for left in (2, 1, 0):
            r = call(svc, "GET", count, headers={**ip, **bearer(user)})
            assert r.status == 200 and r.header("X-RateLimit-Remaining") == str(left), r
        r = call(svc, "GET", count, headers={**ip, **bearer(user)})
        assert_error(r, 429, "R001")
        assert r.header("X-RateLimit-Remaining") == "0" and int(r.header("Retry-After")) >= 1
        # an admin bypasses
        for _ in range(10):
            r = call(svc, "GET", count, headers={**ip, **bearer(admin)})
            assert r.status == 200, r
        assert call(svc, "GET", "/auth/me", headers={**ip, **bearer(admin)}).status == 200
    finally:
        stop_checked(svc)
