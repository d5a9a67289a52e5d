"""The API function's public URL: from API Gateway's request context, the setting wins."""

from __future__ import annotations

from chalicelib.public_url import from_request

API = {"domainName": "abc123.execute-api.eu-west-3.amazonaws.com", "stage": "api"}
DEFAULT = "http://127.0.0.1:8000"


def test_through_api_gateway_the_url_is_its_domain_and_stage():
    assert from_request(API, DEFAULT, given=False) == "https://abc123.execute-api.eu-west-3.amazonaws.com/api"


def test_the_setting_overrides_it_for_a_custom_domain():
    custom = {"domainName": "hooks.shop.example", "stage": "api"}
    assert from_request(API, "https://hooks.shop.example", given=True) == "https://hooks.shop.example"
    # A custom domain's base path is unknown from the context: the setting (or its default) stays.
    assert from_request(custom, DEFAULT, given=False) == DEFAULT


def test_chalice_local_keeps_the_configured_url():
    assert from_request({"domainName": "127.0.0.1:8000", "stage": "api"}, DEFAULT, given=False) == DEFAULT
    assert from_request(None, DEFAULT, given=False) == DEFAULT
