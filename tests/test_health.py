def test_health_reports_database(testapp):
    response = testapp.get("/api/v1/health/")
    assert response.json["status"] == "ok"
    assert response.json["checks"]["database"]["status"] == "ok"
    assert "Link" not in response.headers


def test_health_alias_points_at_canonical(testapp):
    response = testapp.get("/health/")
    assert response.json["status"] == "ok"
    assert response.headers["Link"] == '<http://localhost/api/v1/health/>; rel="canonical"'
