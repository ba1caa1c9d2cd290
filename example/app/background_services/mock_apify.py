"""Mock Apify lead source backed by Redis (USE_APIFY_CLIENT_MOCK=true).

Keys:
    mock_apify:dataset_original       JSON list of the deterministic base dataset
    mock_apify:dataset_working        JSON list served by the current load (emails tagged)
    mock_apify:dataset_working:list   Redis LIST of the same records; LPOP hands each
                                      record to exactly one campaign
    mock_apify:dataset_loaded         "1" once a load happened (FLUSHALL clears it)

Uneven, deterministic counts, like the target app: the dataset (500 records)
comes in blocks of 10, and some records of each block have no email (a
scraped profile without a public address). A fetch of `count` pops exactly
`count` records and returns only those with an email, so a campaign that
asks for 10 gets 5, 10, 9, 10, 10, 9, 8, 8, 9 or 9 leads depending on which
block it pops (`SHORTFALL_PER_BLOCK`). The smoke test starts its campaigns
one after another, each after the previous FETCH_LEADS job completed, so
after a reset (FLUSHALL + TRUNCATE) every run gets the same 87 leads: 5, 10,
9, 10, 10, 9, 8, 8, 9, 9 (the pattern repeats every 100 records, so a second
run without a reset gets the same counts too).

Every load (first use, after FLUSHALL, or when the list runs dry) tags the
emails with a fresh random token, so records served by a new load never
collide with leads from earlier loads still in the database (leads.email is
unique); within a load every email is distinct and popped once.
"""
import json
import logging
import secrets
from typing import List

from app.core.redis_client import get_redis

logger = logging.getLogger(__name__)

PREFIX = "mock_apify"
KEY_ORIGINAL = f"{PREFIX}:dataset_original"
KEY_WORKING = f"{PREFIX}:dataset_working"
KEY_LIST = f"{PREFIX}:dataset_working:list"
KEY_LOADED = f"{PREFIX}:dataset_loaded"
KEY_LOCK = f"{PREFIX}:load_lock"
DATASET_SIZE = 500
BLOCK_SIZE = 10
# Records without an email in each successive block of 10 (then it repeats):
# a campaign asking for 10 leads gets 10 minus this.
SHORTFALL_PER_BLOCK = (5, 0, 1, 0, 0, 1, 2, 2, 1, 1)

_FIRST = ["Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
          "Kara", "Liam", "Maya", "Nikos", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
_LAST = ["Novak", "Okafor", "Silva", "Tanaka", "Larsen", "Moreau", "Kowalski", "Haddad",
         "Brennan", "Fischer", "Gupta", "Ivanova", "Jensen", "Khan", "Lindqvist", "Mendes",
         "Nguyen", "Ortiz", "Petrov", "Quist"]
_COMPANIES = ["Acme Analytics", "Blue Harbor", "Cedar Labs", "Delta Robotics", "Evergreen AI",
              "Foxglove Health", "Granite Cloud", "Helios Energy", "Indigo Retail", "Juniper Bio"]
_TITLES = ["CEO", "Founder", "CTO", "Head of Growth", "VP Sales"]


def has_email(index: int) -> bool:
    """Record `index` has an email unless it is among its block's missing ones.

    The missing records are spread over the block (positions 3, 6, 9, 2, 5 in that order).
    """
    block, position = divmod(index, BLOCK_SIZE)
    shortfall = SHORTFALL_PER_BLOCK[block % len(SHORTFALL_PER_BLOCK)]
    return (position * 7 + 9) % BLOCK_SIZE >= shortfall


def generate_dataset(size: int = DATASET_SIZE) -> List[dict]:
    """Deterministic fake records; every email present is unique."""
    leads = []
    for i in range(size):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
        company = _COMPANIES[i % len(_COMPANIES)]
        domain = company.lower().replace(" ", "") + ".example"
        leads.append({
            "first_name": first, "last_name": last,
            "email": f"{first.lower()}.{last.lower()}.{i:04d}@{domain}" if has_email(i) else None,
            "phone": f"+1-555-{i:04d}", "company": company,
            "title": _TITLES[i % len(_TITLES)],
            "linkedin_url": f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}-{i:04d}",
        })
    return leads


def expected_counts(campaigns: int, requested: int = BLOCK_SIZE) -> List[int]:
    """Leads that `campaigns` sequential fetches of `requested` get from a fresh load."""
    dataset = generate_dataset()
    counts, offset = [], 0
    for _ in range(campaigns):
        batch = [dataset[(offset + k) % len(dataset)] for k in range(requested)]
        counts.append(sum(1 for lead in batch if lead["email"]))
        offset += requested
    return counts


class MockApifyClient:
    def __init__(self, redis_client=None):
        self._redis = redis_client

    @property
    def redis(self):
        return self._redis if self._redis is not None else get_redis()

    def _load(self) -> None:
        original = generate_dataset()
        token = secrets.token_hex(4)
        working = []
        for lead in original:
            if lead["email"]:
                local, domain = lead["email"].split("@", 1)
                lead = {**lead, "email": f"{local}.{token}@{domain}"}
            working.append(lead)
        pipe = self.redis.pipeline()
        pipe.set(KEY_ORIGINAL, json.dumps(original))
        pipe.set(KEY_WORKING, json.dumps(working))
        pipe.delete(KEY_LIST)
        pipe.rpush(KEY_LIST, *[json.dumps(lead) for lead in working])
        pipe.set(KEY_LOADED, "1")
        pipe.execute()
        logger.info("mock apify: loaded %d records, %d with an email (email tag %s)",
                    len(working), sum(1 for lead in working if lead["email"]), token)

    def ensure_loaded(self) -> None:
        if self.redis.get(KEY_LOADED) and self.redis.llen(KEY_LIST) > 0:
            return
        with self.redis.lock(KEY_LOCK, timeout=30, blocking_timeout=30):
            if not (self.redis.get(KEY_LOADED) and self.redis.llen(KEY_LIST) > 0):
                self._load()

    def fetch_leads(self, count: int) -> List[dict]:
        """Pop `count` records (reloading when the list runs dry); return those with an email."""
        records: List[dict] = []
        for _ in range(10):
            if len(records) >= count:
                break
            self.ensure_loaded()
            popped = self.redis.lpop(KEY_LIST, count - len(records)) or []
            records.extend(json.loads(item) for item in popped)
        leads = [record for record in records if record.get("email")]
        logger.info("mock apify: %d records requested, %d popped, %d with an email",
                    count, len(records), len(leads))
        return leads

    def remaining(self) -> int:
        return int(self.redis.llen(KEY_LIST))
