"""Shutdown signals (3.5): the first SIGTERM starts the phases (readiness DRAINING during the
balancer grace), a second signal during shutdown exits at once with status 130."""
import signal
import time

import requests

from harness import FakeNexon, Service, wait_until


def test_second_signal_exits_130_at_once():
    fake = FakeNexon()
    svc = Service(fake, SHUTDOWN_LB_GRACE_S="20", SHUTDOWN_TOTAL_S="80")
    try:
        assert svc.get("/actuator/health/readiness").status_code == 200
        svc.proc.send_signal(signal.SIGTERM)

        def draining():
            r = requests.get(svc.url + "/actuator/health/readiness", timeout=5)
            return r.status_code == 503 and r.json() == {"status": "OUT_OF_SERVICE", "state": "DRAINING"}

        wait_until(draining, timeout=10, message="readiness DRAINING")
        # Still serving during the grace (M6): the listener stays open.
        assert svc.get("/actuator/health/liveness").status_code == 200
        t0 = time.monotonic()
        code = svc.stop(sig=signal.SIGINT, timeout=10)
        assert code == 130
        assert time.monotonic() - t0 < 5  # not the 20 s grace
    finally:
        if svc.proc.poll() is None:
            svc.proc.kill()
        fake.stop()
