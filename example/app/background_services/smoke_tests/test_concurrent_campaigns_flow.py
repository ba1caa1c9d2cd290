"""Concurrent campaigns smoke test (run as a script, not through pytest).

    python app/background_services/smoke_tests/test_concurrent_campaigns_flow.py

Runs inside the api container against http://localhost:8000/api/v1, like the
target app's test: Redis ping, loads the mock lead dataset, signup + login,
one organization, then NUM_CAMPAIGNS campaigns one after another (each asks
for LEADS_PER_CAMPAIGN leads and waits until its FETCH_LEADS job is
COMPLETED; the mock source returns fewer, unevenly), then polls jobs and
circuit breakers until every campaign's jobs are finished or SMOKE_TIMEOUT
seconds pass, validates the result and prints a report. Like the target, the
campaigns stay RUNNING: its summary prints "RUNNING: 10" and calls that success.

Like the target, it ALWAYS exits 0, pass or fail; the verdict is one line:
    🎉 TEST RESULT: SUCCESSFUL EXECUTION WITH SERVICE HEALTH MONITORING
    🛑 TEST RESULT: SERVICE FAILURE DETECTED          (a circuit breaker opened)
    ❌ TEST RESULT: APPLICATION/INFRASTRUCTURE FAILURE (anything else)
At the end it tries to delete its test user through localhost:15432 (the
host's published port, unreachable from inside the container), fails and
prints the caught psycopg2 error: noise copied from the target, not a failure.

Environment knobs: NUM_CAMPAIGNS (10), LEADS_PER_CAMPAIGN (10, requested per
campaign), SMOKE_TIMEOUT (1000), SMOKE_POLL_INTERVAL (0.1), SMOKE_API_BASE,
SMOKE_FORCE: run as usual, then print a forced outcome instead of the real
verdict (still exit 0) - `service-failure`, `app-failure` or `no-verdict`
(the report without any verdict line). Any other non-empty value counts as an
application failure.
"""
import json
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
LEADS_PER_CAMPAIGN = int(os.environ.get("LEADS_PER_CAMPAIGN", "10"))
TIMEOUT = float(os.environ.get("SMOKE_TIMEOUT", "1000"))
POLL_INTERVAL = float(os.environ.get("SMOKE_POLL_INTERVAL", "0.1"))
API_BASE = os.environ.get("SMOKE_API_BASE", "http://localhost:8000/api/v1")
FORCE = os.environ.get("SMOKE_FORCE", "").strip().lower()
FORCE_VALUES = ("service-failure", "app-failure", "no-verdict")
# The target's clean-up connects here from inside the container (and fails).
CLEANUP_DB_HOST, CLEANUP_DB_PORT = "localhost", 15432
FINISHED_JOBS = {"completed", "failed", "cancelled"}

VERDICT_SUCCESS = "🎉 TEST RESULT: SUCCESSFUL EXECUTION WITH SERVICE HEALTH MONITORING"
VERDICT_SERVICE_FAILURE = "🛑 TEST RESULT: SERVICE FAILURE DETECTED"
VERDICT_APP_FAILURE = "❌ TEST RESULT: APPLICATION/INFRASTRUCTURE FAILURE"


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


def check_redis_and_load_dataset() -> None:
    from app.background_services.mock_apify import MockApifyClient
    from app.core.redis_client import get_redis
    if not get_redis().ping():
        raise SmokeFailure("Redis did not answer PING")
    log("redis: PING ok")
    source = MockApifyClient()
    source.ensure_loaded()
    log(f"mock apify: dataset loaded, {source.remaining()} records waiting")


def wait_for_api(client: httpx.Client, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.get("/health/").status_code == 200:
                log("api: /health/ ok")
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


def fetch_jobs(client: httpx.Client, campaign_id: str, job_type: str = None) -> list:
    jobs, page = [], 1
    params = {"campaign_id": campaign_id, "per_page": 500}
    if job_type:
        params["job_type"] = job_type
    while True:
        data = data_of(client.get("/jobs", params={**params, "page": page}))
        jobs.extend(data["jobs"])
        if page >= data.get("pages", 1):
            return jobs
        page += 1


def leads_saved(job: dict):
    result = job.get("result")
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            result = None
    return result.get("leads_saved") if isinstance(result, dict) else None


def wait_for_fetch(client: httpx.Client, campaign_id: str, deadline: float) -> dict:
    """Poll until the campaign's FETCH_LEADS job is COMPLETED (as the target does)."""
    while True:
        time.sleep(POLL_INTERVAL)
        jobs = fetch_jobs(client, campaign_id, "FETCH_LEADS")
        if jobs and jobs[0]["status"] == "completed":
            return jobs[0]
        if jobs and jobs[0]["status"] in ("failed", "cancelled"):
            raise SmokeFailure(f"FETCH_LEADS job {jobs[0]['id']} {jobs[0]['status']}: {jobs[0].get('error')}")
        if time.monotonic() > deadline:
            state = jobs[0]["status"] if jobs else "missing"
            raise SmokeFailure(f"timeout after {TIMEOUT:.0f}s waiting for the FETCH_LEADS job "
                               f"of campaign {campaign_id} ({state})")


def create_campaigns(client: httpx.Client, organization_id: str, deadline: float) -> list:
    ids = []
    for index in range(1, NUM_CAMPAIGNS + 1):
        started = time.monotonic()
        campaign = data_of(client.post("/campaigns", json={
            "organization_id": organization_id,
            "name": f"Concurrent Test Campaign #{index}",
            "description": f"Smoke test campaign {index}",
            "fileName": f"mock-file-{index}.csv",
            "totalRecords": LEADS_PER_CAMPAIGN,
        }), (201,))
        ids.append(campaign["id"])
        job = wait_for_fetch(client, campaign["id"], deadline)
        log(f"campaign {index}/{NUM_CAMPAIGNS} {campaign['id']}: FETCH_LEADS completed, "
            f"{leads_saved(job)} of {LEADS_PER_CAMPAIGN} leads ({time.monotonic() - started:.1f}s)")
    return ids


def campaign_finished(client: httpx.Client, campaign_id: str) -> bool:
    jobs = fetch_jobs(client, campaign_id)
    fetch = [j for j in jobs if j["job_type"] == "FETCH_LEADS"]
    return bool(fetch) and all(j["status"] in FINISHED_JOBS for j in jobs)


def poll_until_finished(client: httpx.Client, campaign_ids: list, organization_id: str,
                        deadline: float, breakers_opened: set) -> dict:
    started = time.monotonic()
    last_report = -10.0
    while True:
        campaigns = {c["id"]: c for c in data_of(
            client.get("/campaigns", params={"organization_id": organization_id}))["campaigns"]}
        breakers = data_of(client.get("/queue-management/circuit-breakers"))
        open_breakers = [name for name, state in breakers["circuit_breakers"].items()
                         if state["state"] != "closed"]
        breakers_opened.update(open_breakers)
        statuses = Counter(campaigns[cid]["status"] for cid in campaign_ids)
        elapsed = time.monotonic() - started
        if elapsed - last_report >= 2:
            jobs = [j for cid in campaign_ids for j in fetch_jobs(client, cid)]
            job_statuses = Counter(f"{j['job_type']}:{j['status']}" for j in jobs)
            log(f"poll {elapsed:5.1f}s campaigns={dict(statuses)} jobs={dict(sorted(job_statuses.items()))}"
                f" open_breakers={open_breakers or 'none'}")
            last_report = elapsed
        paused = [cid for cid in campaign_ids if campaigns[cid]["status"] == "paused"]
        if paused and not open_breakers:
            raise SmokeFailure(f"{len(paused)} campaign(s) PAUSED while every circuit breaker is closed")
        failed = [cid for cid in campaign_ids if campaigns[cid]["status"] == "failed"]
        if failed:
            raise SmokeFailure(f"{len(failed)} campaign(s) FAILED: {campaigns[failed[0]].get('status_message')}")
        # A campaign is finished when its FETCH_LEADS job and every ENRICH_LEAD job are: the
        # campaign itself stays RUNNING, as in the target.
        if all(campaign_finished(client, cid) for cid in campaign_ids):
            log(f"poll: the jobs of all {len(campaign_ids)} campaigns finished after {elapsed:.1f}s")
            return {cid: campaigns[cid] for cid in campaign_ids}
        if time.monotonic() > deadline:
            raise SmokeFailure(f"timeout after {TIMEOUT:.0f}s: campaigns {dict(statuses)}, "
                               f"open breakers: {open_breakers or 'none'}")
        time.sleep(POLL_INTERVAL)


def validate(client: httpx.Client, campaigns: dict) -> list:
    """Return a list of (check, ok, detail) tuples. Leads per campaign vary: no fixed count."""
    checks = []
    statuses = Counter(c["status"].upper() for c in campaigns.values())
    # The target's summary: "RUNNING: 10", and that is success (nothing moves them to COMPLETED).
    checks.append(("campaigns created and running", len(campaigns) == NUM_CAMPAIGNS
                   and statuses.get("RUNNING", 0) == NUM_CAMPAIGNS,
                   ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))))

    all_emails, unenriched, jobs = [], 0, []
    counts, per_campaign_problems = [], []
    for cid in campaigns:
        leads = data_of(client.get(f"/campaigns/{cid}/leads"))["leads"]
        campaign_jobs = fetch_jobs(client, cid)
        jobs.extend(campaign_jobs)
        counts.append(len(leads))
        all_emails.extend(lead["email"] for lead in leads if lead["email"])
        unenriched += sum(1 for lead in leads if not lead.get("enrichment_data"))
        fetch = [j for j in campaign_jobs if j["job_type"] == "FETCH_LEADS"]
        enrich = [j for j in campaign_jobs if j["job_type"] == "ENRICH_LEAD"]
        if len(fetch) != 1:
            per_campaign_problems.append(f"{cid}: {len(fetch)} FETCH_LEADS jobs")
        elif leads_saved(fetch[0]) != len(leads):
            per_campaign_problems.append(f"{cid}: FETCH_LEADS saved {leads_saved(fetch[0])}, "
                                         f"campaign has {len(leads)} leads")
        if len(enrich) != len(leads):
            per_campaign_problems.append(f"{cid}: {len(enrich)} ENRICH_LEAD jobs for {len(leads)} leads")
        if not 0 < len(leads) <= LEADS_PER_CAMPAIGN:
            per_campaign_problems.append(f"{cid}: {len(leads)} leads (asked for {LEADS_PER_CAMPAIGN})")
    total_leads = sum(counts)
    checks.append(("leads saved", total_leads > 0 and len(all_emails) == total_leads,
                   f"{total_leads} leads, per campaign: {', '.join(map(str, counts))}"))
    duplicates = [email for email, n in Counter(all_emails).items() if n > 1]
    checks.append(("no duplicate emails across campaigns", not duplicates,
                   f"{len(duplicates)} duplicate(s)" + (f", e.g. {duplicates[0]}" if duplicates else "")))
    checks.append(("every lead enriched", unenriched == 0, f"{unenriched} without enrichment_data"))

    by_type = Counter(j["job_type"] for j in jobs)
    checks.append(("one FETCH_LEADS job per campaign", by_type["FETCH_LEADS"] == NUM_CAMPAIGNS
                   and not any("FETCH_LEADS" in p for p in per_campaign_problems),
                   f"{by_type['FETCH_LEADS']}/{NUM_CAMPAIGNS}"))
    checks.append(("one ENRICH_LEAD job per lead", by_type["ENRICH_LEAD"] == total_leads
                   and not any("ENRICH_LEAD" in p for p in per_campaign_problems),
                   f"{by_type['ENRICH_LEAD']}/{total_leads}"))
    checks.append(("per-campaign consistency", not per_campaign_problems,
                   "; ".join(per_campaign_problems[:3]) or "leads = FETCH_LEADS result = ENRICH_LEAD jobs"))
    not_done = [j for j in jobs if j["status"] != "completed"]
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


def cleanup_test_user(email: str) -> None:
    """Delete the test user through the host's port, like the target (fails in a container)."""
    import psycopg2
    try:
        conn = psycopg2.connect(host=CLEANUP_DB_HOST, port=CLEANUP_DB_PORT,
                                dbname=os.environ.get("POSTGRES_DB", "fastapi_k8_proto"),
                                user=os.environ.get("POSTGRES_USER", "postgres"),
                                password=os.environ.get("POSTGRES_PASSWORD", ""), connect_timeout=5)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("DELETE FROM users WHERE email = %s", (email,))
        finally:
            conn.close()
        log(f"🧹 cleanup: deleted test user {email}")
    except psycopg2.Error as exc:
        print(f"⚠️  Error cleaning up test user {email}: {exc}", flush=True)


def verdict_for(passed: bool, breakers_opened: set) -> str:
    if FORCE:
        if FORCE == "no-verdict":
            return ""
        if FORCE == "service-failure":
            return VERDICT_SERVICE_FAILURE
        return VERDICT_APP_FAILURE   # app-failure, or an unknown value (fails closed)
    if passed:
        return VERDICT_SUCCESS
    return VERDICT_SERVICE_FAILURE if breakers_opened else VERDICT_APP_FAILURE


def main() -> bool:
    started = time.monotonic()
    deadline = started + TIMEOUT
    log(f"smoke test: {NUM_CAMPAIGNS} campaigns asking for {LEADS_PER_CAMPAIGN} leads each "
        f"against {API_BASE} (timeout {TIMEOUT:.0f}s, poll {POLL_INTERVAL:g}s)")
    if FORCE:
        known = FORCE in FORCE_VALUES
        log(f"SMOKE_FORCE={FORCE}: the run goes on as usual, the outcome is forced"
            + ("" if known else f" (unknown value; expected one of {', '.join(FORCE_VALUES)}:"
                                " reporting an application failure)"))
    checks, breakers_opened, email = [], set(), None
    try:
        check_redis_and_load_dataset()
        with httpx.Client(base_url=API_BASE, timeout=30.0) as client:
            wait_for_api(client)
            email = sign_up_and_log_in(client)
            org = data_of(client.post("/organizations", json={
                "name": "Smoke Test Org", "description": "Concurrent campaigns smoke test"}), (201,))
            log(f"organization: {org['id']}")
            campaign_ids = create_campaigns(client, org["id"], deadline)
            campaigns = poll_until_finished(client, campaign_ids, org["id"], deadline, breakers_opened)
            checks = validate(client, campaigns)
    except Exception as exc:  # SmokeFailure, HTTP and Redis errors, bad payloads
        checks.append(("run", False, f"{type(exc).__name__}: {exc}"))
    if breakers_opened:
        checks.append(("circuit breakers stayed closed", False, ", ".join(sorted(breakers_opened))))
    if FORCE in ("service-failure", "app-failure") or (FORCE and FORCE not in FORCE_VALUES):
        checks.append(("forced outcome", False, f"SMOKE_FORCE={FORCE}"))

    elapsed = time.monotonic() - started
    passed = bool(checks) and all(ok for _, ok, _ in checks)
    print("\n" + "=" * 72)
    print("CONCURRENT CAMPAIGNS SMOKE TEST REPORT")
    print("=" * 72)
    for name, ok, detail in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    print("-" * 72)
    print(f"  finished in {elapsed:.1f}s")
    verdict = verdict_for(passed, breakers_opened)
    if verdict:
        print(verdict)
    print("=" * 72, flush=True)
    if email:
        cleanup_test_user(email)
    return passed and not FORCE


if __name__ == "__main__":
    main()   # the result is ignored, as in the target: the exit code is 0 either way
