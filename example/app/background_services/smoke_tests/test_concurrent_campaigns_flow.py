"""Concurrent campaigns smoke test (run as a script, not through pytest).

    python app/background_services/smoke_tests/test_concurrent_campaigns_flow.py

Runs inside the api container against http://localhost:8000/api/v1:
Redis ping, signup + login, one organization, NUM_CAMPAIGNS campaigns of
LEADS_PER_CAMPAIGN leads each, then polls jobs and circuit breakers until
every campaign finishes or SMOKE_TIMEOUT seconds pass, validates the result,
prints a report and exits 0 (pass) or 1 (fail).

Environment knobs: NUM_CAMPAIGNS (10), LEADS_PER_CAMPAIGN (20),
SMOKE_TIMEOUT (1000), SMOKE_POLL_INTERVAL (1.0), SMOKE_API_BASE.
"""
import os
import secrets
import sys
import time
from collections import Counter

PROJECT_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
if PROJECT_ROOT not in sys.path:
    sys.path.insert(0, PROJECT_ROOT)

import httpx  # noqa: E402

NUM_CAMPAIGNS = int(os.environ.get("NUM_CAMPAIGNS", "10"))
LEADS_PER_CAMPAIGN = int(os.environ.get("LEADS_PER_CAMPAIGN", "20"))
TIMEOUT = float(os.environ.get("SMOKE_TIMEOUT", "1000"))
POLL_INTERVAL = float(os.environ.get("SMOKE_POLL_INTERVAL", "1.0"))
API_BASE = os.environ.get("SMOKE_API_BASE", "http://localhost:8000/api/v1")
TERMINAL = {"completed", "failed"}


class SmokeFailure(Exception):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def data_of(response: httpx.Response, expected=(200,)):
    if response.status_code not in expected:
        raise SmokeFailure(f"{response.request.method} {response.request.url.path} -> "
                           f"{response.status_code}: {response.text[:300]}")
    body = response.json()
    return body.get("data", body) if isinstance(body, dict) else body


def check_redis() -> None:
    from app.core.redis_client import get_redis
    if not get_redis().ping():
        raise SmokeFailure("Redis did not answer PING")
    log("redis: PING ok")


def wait_for_api(client: httpx.Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.get("/health").status_code == 200:
                log("api: /health ok")
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SmokeFailure(f"API at {API_BASE} not healthy after {timeout:.0f}s")
        time.sleep(0.5)


def sign_up_and_log_in(client: httpx.Client) -> str:
    email = f"smoke_{secrets.token_hex(5)}@example.test"
    password = "Sm0ke!" + secrets.token_hex(6)
    data_of(client.post("/auth/signup", json={"email": email, "password": password,
                                              "full_name": "Smoke Test"}), (200, 201))
    body = client.post("/auth/login", json={"email": email, "password": password})
    if body.status_code != 200:
        raise SmokeFailure(f"login failed: {body.status_code} {body.text[:200]}")
    token = body.json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    log(f"auth: signed up and logged in as {email}")
    return email


def create_campaigns(client: httpx.Client, organization_id: str) -> list:
    ids = []
    for index in range(1, NUM_CAMPAIGNS + 1):
        campaign = data_of(client.post("/campaigns", json={
            "organization_id": organization_id,
            "name": f"Concurrent Test Campaign #{index}",
            "description": f"Smoke test campaign {index}",
            "fileName": f"mock-file-{index}.csv",
            "totalRecords": LEADS_PER_CAMPAIGN,
        }), (201,))
        ids.append(campaign["id"])
    log(f"campaigns: created {len(ids)} x {LEADS_PER_CAMPAIGN} leads")
    return ids


def fetch_jobs(client: httpx.Client, campaign_id: str) -> list:
    jobs, page = [], 1
    while True:
        data = data_of(client.get("/jobs", params={"campaign_id": campaign_id,
                                                   "page": page, "per_page": 500}))
        jobs.extend(data["jobs"])
        if page >= data.get("pages", 1):
            return jobs
        page += 1


def poll_until_finished(client: httpx.Client, campaign_ids: list, organization_id: str) -> dict:
    started = time.monotonic()
    last_report = -10.0
    while True:
        campaigns = {c["id"]: c for c in data_of(
            client.get("/campaigns", params={"organization_id": organization_id}))["campaigns"]}
        breakers = data_of(client.get("/queue-management/circuit-breakers"))
        open_breakers = [name for name, state in breakers["circuit_breakers"].items()
                         if state["state"] != "closed"]
        statuses = Counter(campaigns[cid]["status"] for cid in campaign_ids)
        elapsed = time.monotonic() - started
        if elapsed - last_report >= 5:
            jobs = [j for cid in campaign_ids for j in fetch_jobs(client, cid)]
            job_statuses = Counter(f"{j['job_type']}:{j['status']}" for j in jobs)
            log(f"poll {elapsed:5.1f}s campaigns={dict(statuses)} jobs={dict(sorted(job_statuses.items()))}"
                f" open_breakers={open_breakers or 'none'}")
            last_report = elapsed
        paused = [cid for cid in campaign_ids if campaigns[cid]["status"] == "paused"]
        if paused and not open_breakers:
            raise SmokeFailure(f"{len(paused)} campaign(s) PAUSED while every circuit breaker is closed")
        if all(campaigns[cid]["status"] in TERMINAL for cid in campaign_ids):
            log(f"poll: all {len(campaign_ids)} campaigns finished after {elapsed:.1f}s")
            return {cid: campaigns[cid] for cid in campaign_ids}
        if elapsed > TIMEOUT:
            raise SmokeFailure(f"timeout after {TIMEOUT:.0f}s: campaigns {dict(statuses)}, "
                               f"open breakers: {open_breakers or 'none'}")
        time.sleep(POLL_INTERVAL)


def validate(client: httpx.Client, campaigns: dict) -> list:
    """Return a list of (check, ok, detail) tuples."""
    checks = []
    expected_leads = NUM_CAMPAIGNS * LEADS_PER_CAMPAIGN
    completed = [c for c in campaigns.values() if c["status"] == "completed"]
    checks.append(("campaigns COMPLETED", len(completed) == NUM_CAMPAIGNS,
                   f"{len(completed)}/{NUM_CAMPAIGNS}"))

    all_emails, per_campaign_ok, unenriched = [], True, 0
    jobs = []
    for cid in campaigns:
        leads = data_of(client.get(f"/campaigns/{cid}/leads"))["leads"]
        per_campaign_ok &= len(leads) == LEADS_PER_CAMPAIGN
        all_emails.extend(lead["email"] for lead in leads if lead["email"])
        unenriched += sum(1 for lead in leads if not lead.get("enrichment_data"))
        jobs.extend(fetch_jobs(client, cid))
    checks.append(("leads saved", len(all_emails) == expected_leads and per_campaign_ok,
                   f"{len(all_emails)}/{expected_leads} ({LEADS_PER_CAMPAIGN} per campaign)"))
    duplicates = [email for email, n in Counter(all_emails).items() if n > 1]
    checks.append(("no duplicate emails across campaigns", not duplicates,
                   f"{len(duplicates)} duplicate(s)" + (f", e.g. {duplicates[0]}" if duplicates else "")))
    checks.append(("every lead enriched", unenriched == 0, f"{unenriched} without enrichment_data"))

    by_type = Counter(j["job_type"] for j in jobs)
    not_done = [j for j in jobs if j["status"] != "completed"]
    checks.append(("FETCH_LEADS jobs", by_type["FETCH_LEADS"] == NUM_CAMPAIGNS,
                   f"{by_type['FETCH_LEADS']}/{NUM_CAMPAIGNS}"))
    checks.append(("ENRICH_LEAD jobs", by_type["ENRICH_LEAD"] == expected_leads,
                   f"{by_type['ENRICH_LEAD']}/{expected_leads}"))
    detail = f"{len(jobs) - len(not_done)}/{len(jobs)}"
    if not_done:
        sample = not_done[0]
        detail += f"; e.g. job {sample['id']} {sample['status']}: {sample.get('error')}"
    checks.append(("every job COMPLETED", not not_done, detail))

    workers = Counter(j["worker"] for j in jobs if j["job_type"] == "ENRICH_LEAD" and j.get("worker"))
    spread_needed = by_type["ENRICH_LEAD"] > 1
    checks.append(("work spread over several workers", len(workers) > 1 or not spread_needed,
                   f"{len(workers)} worker(s): " + ", ".join(f"{w}={n}" for w, n in sorted(workers.items()))))
    return checks


def run() -> int:
    started = time.monotonic()
    log(f"smoke test: {NUM_CAMPAIGNS} campaigns x {LEADS_PER_CAMPAIGN} leads against {API_BASE} "
        f"(timeout {TIMEOUT:.0f}s)")
    checks = []
    try:
        check_redis()
        with httpx.Client(base_url=API_BASE, timeout=30.0) as client:
            wait_for_api(client)
            sign_up_and_log_in(client)
            org = data_of(client.post("/organizations", json={
                "name": "Smoke Test Org", "description": "Concurrent campaigns smoke test"}), (201,))
            log(f"organization: {org['id']}")
            campaign_ids = create_campaigns(client, org["id"])
            campaigns = poll_until_finished(client, campaign_ids, org["id"])
            checks = validate(client, campaigns)
    except (SmokeFailure, httpx.HTTPError, KeyError, ValueError) as exc:
        checks.append(("run", False, f"{type(exc).__name__}: {exc}"))
    except Exception as exc:  # e.g. Redis connection errors
        checks.append(("run", False, f"{type(exc).__name__}: {exc}"))

    elapsed = time.monotonic() - started
    passed = bool(checks) and all(ok for _, ok, _ in checks)
    print("\n" + "=" * 72)
    print("CONCURRENT CAMPAIGNS SMOKE TEST REPORT")
    print("=" * 72)
    for name, ok, detail in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    print("-" * 72)
    print(f"  RESULT: {'PASSED' if passed else 'FAILED'} in {elapsed:.1f}s")
    print("=" * 72, flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(run())
