"""Cross-checks the hand-written HS256 code (src/auth/jwt.c) against PyJWT (Debian python3-jwt).

The service does not expose token minting by itself, so this test compiles tests/system/jwt_driver.c
against the static library of the build under test (the directory of MAPLEXP_BIN, as set by
`make system`: build/release or build/asan) and drives it:
  - tokens minted in C verify in PyJWT (HS256 only, issuer, all seven claims required), and their
    header is exactly {"alg":"HS256","typ":"JWT","kid":"<kid>"};
  - tokens minted by PyJWT (HS256, same secret, a kid header) verify in C with the same claims;
  - PyJWT tokens with alg none, HS512, an HS-signed RS256 header, a wrong key, an unknown or missing
    kid, expired, not yet valid, a foreign issuer, missing or mistyped claims are rejected by C with
    the expected reason, and both sides agree on the 60 s leeway.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

try:
    import jwt  # Debian python3-jwt, a test dependency: its absence fails the tests, never skips them
except ImportError:
    jwt = None

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pyjwt-cross-check-secret-0123456789abcdef"
OTHER_SECRET = "another-cross-check-secret-0123456789abcdef"
ISS = "maple-expectation"
SID = "0b7e2c1a-4f3d-4e5b-9a8c-1d2e3f405162"
FGP = "GeQDj8tY67nm1gxjSR8GVCuUxSdRfs-z5BGdM_3iorE"
CLAIMS = ("iss", "sub", "fgp", "role", "iat", "nbf", "exp")
LIBS = ["-levent", "-levent_pthreads", "-lcurl", "-lsqlite3", "-lcrypto", "-lcjson", "-lz", "-lm", "-lpthread"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]


def kid_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _build_dir() -> Path:
    binary = os.environ.get("MAPLEXP_BIN", str(ROOT / "build" / "release" / "maplexp"))
    return Path(binary).resolve().parent


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """Path of the compiled jwt_driver. A missing library or compiler is a failure, never a skip."""
    lib = _build_dir() / "libmaplexp.a"
    if not lib.is_file():
        pytest.fail(f"static library {lib} not found: build it first (make BUILD={lib.parent.name})")
    cc = os.environ.get("CC", "cc")
    if not shutil.which(cc):
        pytest.fail(f"C compiler {cc!r} not found")
    out = tmp_path_factory.mktemp("jwt") / "jwt_driver"
    base = [cc, "-std=c17", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-g", f"-I{ROOT / 'src'}",
            "-o", str(out), str(ROOT / "tests" / "system" / "jwt_driver.c"), str(lib), *LIBS]
    # the sanitizer build's objects need the sanitizer runtimes at link time
    attempts = [base + SANITIZE, base] if lib.parent.name == "asan" else [base, base + SANITIZE]
    errors = []
    for cmd in attempts:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return out
        errors.append(proc.stderr[-3000:])
    pytest.fail("cannot build jwt_driver:\n" + "\n---\n".join(errors))


def run(driver, *args):
    proc = subprocess.run([str(driver), *map(str, args)], capture_output=True, text=True, encoding="utf-8", timeout=30)
    assert proc.stderr == "", proc.stderr
    return proc


def c_sign(driver, secret=SECRET, sub=SID, fgp=FGP, role="USER", iat=None, nbf=None, exp=None):
    now = int(time.time())
    iat = now if iat is None else iat
    nbf = iat if nbf is None else nbf
    exp = iat + 900 if exp is None else exp
    proc = run(driver, "sign", secret, sub, fgp, role, iat, nbf, exp)
    assert proc.returncode == 0
    return proc.stdout.strip()


def c_verify(driver, token, now=None, secret=SECRET):
    now = int(time.time()) if now is None else now
    proc = run(driver, "verify", secret, token, now)
    assert proc.returncode == 0
    return json.loads(proc.stdout)


def claims(now, **over):
    c = {"iss": ISS, "sub": SID, "fgp": FGP, "role": "USER", "iat": now, "nbf": now, "exp": now + 900}
    for k, v in over.items():
        if v is None:
            c.pop(k)
        else:
            c[k] = v
    return c


def py_sign(payload, secret=SECRET, algorithm="HS256", kid="default"):
    headers = {"kid": kid_of(secret) if kid == "default" else kid} if kid is not None else None
    return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


def py_decode(token, leeway=60):
    return jwt.decode(token, SECRET, algorithms=["HS256"], issuer=ISS, leeway=leeway,
                      options={"require": list(CLAIMS)})


@pytest.fixture(autouse=True)
def _require_pyjwt():
    if jwt is None:
        pytest.fail("PyJWT is not installed (Debian package python3-jwt; tools/deps.sh installs it)")


def test_kid_is_sha256_prefix(driver):
    assert run(driver, "kid", SECRET).stdout.strip() == kid_of(SECRET)
    assert kid_of(SECRET) != kid_of(OTHER_SECRET)


def test_c_token_verifies_in_pyjwt(driver):
    now = int(time.time())
    token = c_sign(driver, role="ADMIN", iat=now)
    header_seg = token.split(".")[0]
    raw = base64.urlsafe_b64decode(header_seg + "=" * (-len(header_seg) % 4))
    assert raw == ('{"alg":"HS256","typ":"JWT","kid":"%s"}' % kid_of(SECRET)).encode()
    assert "=" not in token
    got = py_decode(token)
    assert got == claims(now, role="ADMIN")
    # and back through C
    assert c_verify(driver, token, now) == {"result": "OK", "claims": claims(now, role="ADMIN")}


def test_c_token_with_unicode_sub(driver):
    now = int(time.time())
    sub = '한글 "quoted" \\ back'
    token = c_sign(driver, sub=sub, iat=now)
    assert py_decode(token)["sub"] == sub


def test_pyjwt_token_verifies_in_c(driver):
    now = int(time.time())
    payload = claims(now, role="USER")
    payload["extra"] = {"nested": [1, 2]}  # unknown claims are ignored
    token = py_sign(payload)
    assert c_verify(driver, token, now) == {"result": "OK", "claims": claims(now)}


@pytest.mark.parametrize("algorithm,secret", [("none", None), ("HS512", SECRET), ("HS384", SECRET)])
def test_other_algorithms_rejected(driver, algorithm, secret):
    now = int(time.time())
    token = jwt.encode(claims(now), secret, algorithm=algorithm, headers={"kid": kid_of(SECRET)})
    assert c_verify(driver, token, now)["result"] == "BAD_ALG"


def test_hs_rs_confusion_rejected(driver):
    """An RS256 header signed with HMAC over the secret (the classic key-confusion forgery)."""
    now = int(time.time())
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid_of(SECRET)}).encode())
    payload = b64url(json.dumps(claims(now)).encode())
    sig = b64url(hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert c_verify(driver, f"{header}.{payload}.{sig}", now)["result"] == "BAD_ALG"


def test_wrong_key_and_kid(driver):
    now = int(time.time())
    # right kid, wrong secret
    token = py_sign(claims(now), secret=OTHER_SECRET, kid=kid_of(SECRET))
    assert c_verify(driver, token, now)["result"] == "BAD_SIGNATURE"
    # the other key's own kid
    assert c_verify(driver, py_sign(claims(now), secret=OTHER_SECRET), now)["result"] == "UNKNOWN_KID"
    # no kid at all (decision: kid is required, M16)
    assert c_verify(driver, py_sign(claims(now), kid=None), now)["result"] == "UNKNOWN_KID"
    # tampered payload, original signature
    good = py_sign(claims(now))
    forged = py_sign(claims(now, role="ADMIN"), secret=OTHER_SECRET, kid=kid_of(SECRET))
    h, _, s = good.split(".")
    assert c_verify(driver, f"{h}.{forged.split('.')[1]}.{s}", now)["result"] == "BAD_SIGNATURE"


def test_time_checks_agree_with_pyjwt(driver):
    now = int(time.time())
    # C, at a fixed now: the exact boundaries of the 60 s leeway
    assert c_verify(driver, py_sign(claims(now, iat=now - 1000, nbf=now - 1000, exp=now - 60)), now)["result"] == "EXPIRED"
    assert c_verify(driver, py_sign(claims(now, iat=now - 1000, nbf=now - 1000, exp=now - 59)), now)["result"] == "OK"
    assert c_verify(driver, py_sign(claims(now, nbf=now + 61)), now)["result"] == "NOT_YET_VALID"
    assert c_verify(driver, py_sign(claims(now, nbf=now + 60)), now)["result"] == "OK"
    # PyJWT on its own clock, away from the boundaries so a second ticking over cannot flake
    expired = c_sign(driver, iat=now - 1000, exp=now - 90)
    with pytest.raises(jwt.ExpiredSignatureError):
        py_decode(expired)
    assert c_verify(driver, expired, now)["result"] == "EXPIRED"
    within = c_sign(driver, iat=now - 1000, exp=now - 30)
    assert py_decode(within)["exp"] == now - 30
    assert c_verify(driver, within, now)["result"] == "OK"
    early = c_sign(driver, iat=now, nbf=now + 90)
    with pytest.raises(jwt.ImmatureSignatureError):
        py_decode(early)
    assert c_verify(driver, early, now)["result"] == "NOT_YET_VALID"


@pytest.mark.parametrize("missing", CLAIMS)
def test_missing_claim_rejected(driver, missing):
    now = int(time.time())
    token = py_sign(claims(now, **{missing: None}))
    assert c_verify(driver, token, now) == {"result": "MISSING_CLAIM", "claims": None}


@pytest.mark.parametrize("name,value,want", [
    ("iss", "someone-else", "BAD_ISSUER"),
    ("role", "SUPERUSER", "BAD_CLAIM"),
    ("role", "user", "BAD_CLAIM"),
    ("iat", "1700000000", "BAD_CLAIM"),
    ("exp", 1.5e9 + 0.5, "BAD_CLAIM"),
    ("sub", 42, "BAD_CLAIM"),
    ("fgp", ["x"], "BAD_CLAIM"),
])
def test_bad_claims_rejected(driver, name, value, want):
    now = int(time.time())
    token = py_sign(claims(now, **{name: value}))
    assert c_verify(driver, token, now)["result"] == want


def test_malformed_tokens_rejected(driver):
    now = int(time.time())
    good = py_sign(claims(now))
    h, p, s = good.split(".")
    for bad in (f"{h}.{p}", f"{h}.{p}.{s}.{s}", f"{h}=.{p}.{s}", f"{h}.{p}.{s}=", f"{h}.{p}+.{s}",
                "not-a-token", "a.b.c", "x" * 9000):
        assert c_verify(driver, bad, now)["result"] == "MALFORMED", bad[:80]
    # an over-long but otherwise valid token (over 8 KiB)
    big = py_sign(claims(now) | {"pad": "x" * 8200})
    assert len(big) > 8192
    assert c_verify(driver, big, now)["result"] == "MALFORMED"
