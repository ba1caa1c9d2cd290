from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)  # no `with`: startup hooks (Redis writes) do not run


def test_health_endpoint_answers_with_a_trailing_slash():
    response = client.get("/api/v1/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert set(body["checks"]) == {"database", "redis"}


def test_health_without_slash_redirects_like_the_target():
    response = client.get("/api/v1/health", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"].endswith("/api/v1/health/")


def test_protected_routes_need_a_token():
    assert client.get("/api/v1/campaigns").status_code == 401
    assert client.get("/api/v1/queue-management/circuit-breakers").status_code == 401


def test_routes_live_under_api_v1():
    paths = {route.path for route in app.routes}
    for path in ("/api/v1/health/", "/api/v1/auth/signup", "/api/v1/auth/login",
                 "/api/v1/organizations", "/api/v1/campaigns", "/api/v1/campaigns/{campaign_id}/leads",
                 "/api/v1/jobs", "/api/v1/queue-management/circuit-breakers"):
        assert path in paths
