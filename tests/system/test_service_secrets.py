"""Secrets at start-up (1.3, M4): configured secrets must be strong, production requires them, and in
standalone mode a missing one is generated once, kept in the database and reused after a restart
(so sessions survive). Every start-up refusal is exit status 78 with one line naming the variable."""
import os
import subprocess
import tempfile

from harness import FakeNexon, Service, _bin

STRONG = "s" * 40


def run_serve(env_over, timeout=20):
    workdir = tempfile.mkdtemp(prefix="maplexp-secrets-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "FINGERPRINT_", "PROFILE", "HTTP_"))}
    env.update({"NEXON_API_KEY": "demo-nexon-key", "NEXON_API_BASE_URL": "http://127.0.0.1:9", "HTTP_PORT": "0",
                "SQLITE_PATH": os.path.join(workdir, "m.db"), "SHUTDOWN_LB_GRACE_S": "0"})
    env.update(env_over)
    return subprocess.run([_bin("MAPLEXP_BIN", "maplexp"), "serve"], env=env, capture_output=True, timeout=timeout,
                          cwd=workdir)


def assert_refused(proc, variable):
    assert proc.returncode == 78, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and variable in lines[0], lines


def test_production_requires_both_secrets():
    assert_refused(run_serve({"PROFILE": "production", "FINGERPRINT_SECRET": STRONG}), "JWT_SECRET")
    assert_refused(run_serve({"PROFILE": "production", "JWT_SECRET": STRONG}), "FINGERPRINT_SECRET")


def test_weak_secrets_are_refused():
    assert_refused(run_serve({"JWT_SECRET": "short-secret"}), "JWT_SECRET")
    assert_refused(run_serve({"JWT_SECRET": "x" * 20 + "${PLACEHOLDER}" + "x" * 20}), "JWT_SECRET")
    assert_refused(run_serve({"PROFILE": "production", "JWT_SECRET": "dev-secret-" + "x" * 40,
                              "FINGERPRINT_SECRET": STRONG}), "JWT_SECRET")
    assert_refused(run_serve({"FINGERPRINT_SECRET": "   "}), "FINGERPRINT_SECRET")


def test_generated_secrets_survive_a_restart():
    """No secrets configured: the first start generates them (WARN log) and a token issued before a
    restart is still valid after it, because the same secret is read back from the database."""
    fake = FakeNexon()
    workdir = tempfile.mkdtemp(prefix="maplexp-secrets-")
    env = {"JWT_SECRET": "", "FINGERPRINT_SECRET": ""}
    svc = Service(fake, workdir=workdir, **env)
    try:
        assert any("JWT_SECRET is not set" in (l.get("msg") or "") for l in svc.out.lines)
        r = svc.post("/auth/login", json={"apiKey": "demo-user-key", "userIgn": fake.characters()[0]})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        token, fingerprint = data["accessToken"], data["fingerprint"]
        assert svc.stop() == 0
        svc = Service(fake, workdir=workdir, **env)
        assert not any("is not set" in (l.get("msg") or "") for l in svc.out.lines)
        me = svc.get("/auth/me", headers={"Authorization": "Bearer " + token})
        assert me.status_code == 200, me.text
        assert me.json()["data"]["fingerprint"] == fingerprint
        again = svc.post("/auth/login", json={"apiKey": "demo-user-key", "userIgn": fake.characters()[0]})
        assert again.json()["data"]["fingerprint"] == fingerprint  # same FINGERPRINT_SECRET
    finally:
        assert svc.stop() == 0
        fake.stop()
