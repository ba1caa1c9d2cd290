import json

from app.background_services.mock_apify import (DATASET_SIZE, KEY_LIST, MockApifyClient,
                                                expected_counts, generate_dataset)
from app.core.security import create_access_token, decode_access_token, hash_password, verify_password


def test_password_hash_round_trip():
    stored = hash_password("correct horse")
    assert isinstance(stored, bytes)
    assert verify_password("correct horse", stored)
    assert not verify_password("wrong horse", stored)


def test_token_round_trip_and_tampering():
    token = create_access_token("user-1")
    assert decode_access_token(token) == "user-1"
    assert decode_access_token(token[:-2] + "xx") is None
    assert decode_access_token("garbage") is None


def test_mock_dataset_is_deterministic_with_unique_emails():
    first, second = generate_dataset(), generate_dataset()
    assert first == second and len(first) == DATASET_SIZE
    emails = [lead["email"] for lead in first if lead["email"]]
    assert len(set(emails)) == len(emails)
    assert len(emails) < DATASET_SIZE   # some records have no email


def test_ten_campaigns_get_uneven_counts_like_the_target():
    counts = expected_counts(10, 10)
    assert counts == [5, 10, 9, 10, 10, 9, 8, 8, 9, 9]
    assert sum(counts) == 87
    assert expected_counts(20, 10)[10:] == counts   # the pattern repeats every 100 records


class FakeListRedis:
    """The Redis commands MockApifyClient uses, with a lock that does nothing."""

    def __init__(self):
        self.data, self.lists = {}, {}

    def get(self, key):
        return self.data.get(key)

    def set(self, key, value):
        self.data[key] = value

    def delete(self, key):
        self.lists.pop(key, None)

    def rpush(self, key, *values):
        self.lists.setdefault(key, []).extend(values)

    def llen(self, key):
        return len(self.lists.get(key, []))

    def lpop(self, key, count):
        items = self.lists.get(key, [])
        popped, self.lists[key] = items[:count], items[count:]
        return popped

    def lock(self, *_args, **_kwargs):
        import contextlib
        return contextlib.nullcontext()

    def pipeline(self):
        redis = self

        class Pipe:
            def __getattr__(self, name):
                return getattr(redis, name)

            def execute(self):
                return []
        return Pipe()


def test_fetch_pops_the_requested_records_and_returns_those_with_an_email():
    redis = FakeListRedis()
    source = MockApifyClient(redis)
    got = [source.fetch_leads(10) for _ in range(10)]
    assert [len(batch) for batch in got] == [5, 10, 9, 10, 10, 9, 8, 8, 9, 9]
    emails = [lead["email"] for batch in got for lead in batch]
    assert all(emails) and len(set(emails)) == 87
    assert redis.llen(KEY_LIST) == DATASET_SIZE - 100
    assert json.loads(redis.lists[KEY_LIST][0])["phone"] == "+1-555-0100"
