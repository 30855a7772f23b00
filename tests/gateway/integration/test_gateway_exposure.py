"""What the gateway's public port shows besides the API: no metrics (they are on a port of
their own), and the web UI's files with the page's security headers wherever they are
served from."""

from __future__ import annotations

import httpx
import pytest

from backbeat.gateway.api.web import PAGE_HEADERS
from backbeat.runtime.testing import ServiceProcess

pytestmark = pytest.mark.integration


def metrics_port(gateway: ServiceProcess) -> int:
    return int(gateway.env["BACKBEAT_GATEWAY_METRICS_PORT"])


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/api/metrics"])
def test_the_public_port_serves_no_metrics(
    gateway: ServiceProcess, fuzzed_gateway: ServiceProcess, path: str
) -> None:
    for public in (gateway, fuzzed_gateway):
        response = httpx.get(f"{public.url}{path}")
        assert response.status_code == 404
        assert "gateway_forwarded" not in response.text
        assert "http_requests_total" not in response.text


def test_the_metrics_port_serves_the_gateways_metrics(fuzzed_gateway: ServiceProcess) -> None:
    # Something to count first.
    assert httpx.get(f"{fuzzed_gateway.url}/api/auth/me").status_code == 401

    response = httpx.get(f"http://127.0.0.1:{metrics_port(fuzzed_gateway)}/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'gateway_refusals_total{reason="unauthorized"}' in response.text
    assert "http_requests_total" in response.text


@pytest.mark.parametrize("path", ["/", "/ui/index.html", "/ui/app.js", "/ui/style.css"])
def test_every_file_of_the_web_ui_has_the_security_headers(
    gateway: ServiceProcess, path: str
) -> None:
    response = httpx.get(f"{gateway.url}{path}")

    assert response.status_code == 200
    for name, value in PAGE_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_a_revalidated_web_ui_file_keeps_the_security_headers(gateway: ServiceProcess) -> None:
    first = httpx.get(f"{gateway.url}/ui/app.js")
    again = httpx.get(f"{gateway.url}/ui/app.js", headers={"if-none-match": first.headers["etag"]})

    assert again.status_code == 304
    assert again.headers["content-security-policy"] == PAGE_HEADERS["content-security-policy"]
    assert again.headers["x-content-type-options"] == "nosniff"
