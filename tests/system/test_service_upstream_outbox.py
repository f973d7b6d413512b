"""Upstream retry outbox (SC-19, 2.3.8, R4 of 6.2): server-key calls that fail retryably become one
de-duplicated outbox row each; the relay replays them once the upstream is back, without ever
creating rows itself (H10); at the end expected == processed + dead-lettered + duplicates skipped."""
from harness import Db, FakeNexon, Service, stop_checked, wait_until

ID = "/maplestory/v1/id"


def test_outage_rows_dedup_then_drain_exactly():
    fake = FakeNexon()
    # The breaker stays closed (huge minimum) so the relay may replay during the outage, which
    # must not create rows; one attempt per call keeps the counts exact.
    svc = Service(fake, UPSTREAM_MAX_ATTEMPTS="1", CB_NEXON_MIN_CALLS="100000", UPSTREAM_OUTBOX_POLL_MS="100",
                  OUTBOX_BACKOFF_BASE_S="0", OUTBOX_BACKOFF_MAX_S="0")
    db = Db(svc.env["SQLITE_PATH"])
    names = [f"gen{880000 + i}" for i in range(6)]
    try:
        fake.fault(path="*", status=503)
        for ign in names + names[:3] + ["nobodyhere"]:  # three IGNs twice (duplicates); one unknown IGN
            r = svc.get(f"/api/v4/characters/{ign}/expectation")
            assert r.status_code == 503 and r.json()["code"] == "S005", r.text
        inserted = svc.metric("outbox_enqueued_total", outbox="upstream", event_type="GET_OCID", result="inserted")
        dedup = svc.metric("outbox_enqueued_total", outbox="upstream", event_type="GET_OCID", result="deduplicated")
        assert svc.metric("outbox_enqueued_total", result="failed") == 0
        # Exactly one enqueue attempt per failed request (9), whatever the relay did meanwhile: its own
        # failed replays never enqueue (H10). A duplicate is a hit unless its row already ended.
        assert inserted + dedup == 10, (inserted, dedup)
        assert inserted >= 7
        # While the upstream is still down the relay's replays fail: rows change state, never multiply.
        wait_until(lambda: db.one("SELECT COUNT(*) FROM nexon_api_outbox WHERE retry_count > 0") > 0, timeout=20,
                   message="a failed replay")
        rows_now = db.one("SELECT COUNT(*) FROM nexon_api_outbox")
        assert rows_now == inserted, (rows_now, inserted)
        fake.clear_faults()
        wait_until(lambda: db.one("SELECT COUNT(*) FROM nexon_api_outbox WHERE status IN "
                                  "('PENDING','PROCESSING','FAILED')") == 0, timeout=30, message="the relay drains")
        expected = (svc.metric("outbox_enqueued_total", outbox="upstream", result="inserted") +
                    svc.metric("outbox_enqueued_total", outbox="upstream", result="deduplicated"))
        completed = db.one("SELECT COUNT(*) FROM nexon_api_outbox WHERE status = 'COMPLETED'")
        dead = db.one("SELECT COUNT(*) FROM nexon_api_outbox WHERE status = 'DEAD_LETTER'")
        hits = db.one("SELECT COALESCE(SUM(dedup_hits), 0) FROM nexon_api_outbox")
        assert expected == completed + dead + hits, (expected, completed, dead, hits)
        assert db.one("SELECT COUNT(*) FROM nexon_api_dlq") == dead
        # A replay's answer is recorded: "ok", or "not_found" for the IGN the upstream does not know.
        assert db.one("SELECT COUNT(*) FROM nexon_api_outbox WHERE status = 'COMPLETED' AND outcome = "
                      "CASE payload WHEN 'nobodyhere' THEN 'not_found' ELSE 'ok' END") == completed
        # Completed replays stored their answer: the character rows exist, so /id is not called again.
        done = [ign for (ign,) in db.all("SELECT payload FROM nexon_api_outbox WHERE status = 'COMPLETED'"
                                         " AND outcome = 'ok'")]
        assert done
        before = fake.path_calls(ID)
        for ign in done:
            assert svc.get(f"/api/v4/characters/{ign}/expectation").status_code == 200
        assert fake.path_calls(ID) == before
    finally:
        db.close()
        stop_checked(svc)
        fake.stop()


def test_relay_probes_a_silent_half_open_breaker_m14():
    """M14: with no user traffic the breaker would stay half-open forever; the relay takes one probe
    slot after UPSTREAM_RELAY_PROBE_AFTER_S, failed probes are not charged to the row, and once the
    upstream is back the probes close the breaker and the queue drains."""
    fake = FakeNexon()
    svc = Service(fake, UPSTREAM_MAX_ATTEMPTS="1", CB_NEXON_MIN_CALLS="2", CB_NEXON_OPEN_S="1",
                  UPSTREAM_OUTBOX_POLL_MS="100", UPSTREAM_RELAY_PROBE_AFTER_S="1", OUTBOX_BACKOFF_BASE_S="0",
                  OUTBOX_BACKOFF_MAX_S="0")
    db = Db(svc.env["SQLITE_PATH"])
    names = [f"gen{890000 + i}" for i in range(4)]
    try:
        fake.fault(path="*", status=503)
        for ign in names:
            assert svc.get(f"/api/v4/characters/{ign}/expectation").status_code == 503
        assert svc.metric("circuit_state", breaker="nexonApi") in (1.0, 2.0)  # not closed
        assert db.one("SELECT COUNT(*) FROM nexon_api_outbox") == 4
        # Still down: the relay's probes fail and leave the rows uncharged.
        wait_until(lambda: svc.metric("outbox_transitions_total", outbox="upstream", to="released") >= 1,
                   timeout=20, message="a relay probe")
        assert db.one("SELECT MAX(retry_count) FROM nexon_api_outbox") == 0
        fake.clear_faults()
        wait_until(lambda: db.one("SELECT COUNT(*) FROM nexon_api_outbox WHERE status = 'COMPLETED'") == 4,
                   timeout=40, message="the queue drains through relay probes")
        assert svc.metric("circuit_state", breaker="nexonApi") == 0.0
        assert db.one("SELECT COUNT(*) FROM nexon_api_outbox WHERE status <> 'COMPLETED'") == 0
    finally:
        db.close()
        stop_checked(svc)
        fake.stop()
