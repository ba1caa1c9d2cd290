from app.background_services.mock_apify import DATASET_SIZE, generate_dataset
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
    assert first == second
    assert len({lead["email"] for lead in first}) == DATASET_SIZE
