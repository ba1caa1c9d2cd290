"""Mock Apify lead source backed by Redis (USE_APIFY_CLIENT_MOCK=true).

Keys:
    mock_apify:dataset_original       JSON list of the deterministic base dataset
    mock_apify:dataset_working        JSON list served by the current load (emails tagged)
    mock_apify:dataset_working:list   Redis LIST of the same leads; LPOP hands each
                                      lead to exactly one campaign
    mock_apify:dataset_loaded         "1" once a load happened (FLUSHALL clears it)

Every load (first use, after FLUSHALL, or when the list runs dry) tags the
emails with a fresh random token, so leads served by a new load never collide
with leads from earlier loads still in the database (leads.email is unique).
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
DATASET_SIZE = 1000

_FIRST = ["Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
          "Kara", "Liam", "Maya", "Nikos", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tara"]
_LAST = ["Novak", "Okafor", "Silva", "Tanaka", "Larsen", "Moreau", "Kowalski", "Haddad",
         "Brennan", "Fischer", "Gupta", "Ivanova", "Jensen", "Khan", "Lindqvist", "Mendes",
         "Nguyen", "Ortiz", "Petrov", "Quist"]
_COMPANIES = ["Acme Analytics", "Blue Harbor", "Cedar Labs", "Delta Robotics", "Evergreen AI",
              "Foxglove Health", "Granite Cloud", "Helios Energy", "Indigo Retail", "Juniper Bio"]
_TITLES = ["CEO", "Founder", "CTO", "Head of Growth", "VP Sales"]


def generate_dataset(size: int = DATASET_SIZE) -> List[dict]:
    """Deterministic fake leads with unique emails."""
    leads = []
    for i in range(size):
        first, last = _FIRST[i % len(_FIRST)], _LAST[(i // len(_FIRST)) % len(_LAST)]
        company = _COMPANIES[i % len(_COMPANIES)]
        domain = company.lower().replace(" ", "") + ".example"
        leads.append({
            "first_name": first, "last_name": last,
            "email": f"{first.lower()}.{last.lower()}.{i:04d}@{domain}",
            "phone": f"+1-555-{i:04d}", "company": company,
            "title": _TITLES[i % len(_TITLES)],
            "linkedin_url": f"https://www.linkedin.com/in/{first.lower()}-{last.lower()}-{i:04d}",
        })
    return leads


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
            local, domain = lead["email"].split("@", 1)
            working.append({**lead, "email": f"{local}.{token}@{domain}"})
        pipe = self.redis.pipeline()
        pipe.set(KEY_ORIGINAL, json.dumps(original))
        pipe.set(KEY_WORKING, json.dumps(working))
        pipe.delete(KEY_LIST)
        pipe.rpush(KEY_LIST, *[json.dumps(lead) for lead in working])
        pipe.set(KEY_LOADED, "1")
        pipe.execute()
        logger.info("mock apify: loaded %d leads (email tag %s)", len(working), token)

    def ensure_loaded(self) -> None:
        if self.redis.get(KEY_LOADED) and self.redis.llen(KEY_LIST) > 0:
            return
        with self.redis.lock(KEY_LOCK, timeout=30, blocking_timeout=30):
            if not (self.redis.get(KEY_LOADED) and self.redis.llen(KEY_LIST) > 0):
                self._load()

    def fetch_leads(self, count: int) -> List[dict]:
        """Pop `count` leads; reloads the dataset when it runs dry."""
        leads: List[dict] = []
        for _ in range(10):
            if len(leads) >= count:
                break
            self.ensure_loaded()
            popped = self.redis.lpop(KEY_LIST, count - len(leads)) or []
            leads.extend(json.loads(item) for item in popped)
        return leads

    def remaining(self) -> int:
        return int(self.redis.llen(KEY_LIST))
