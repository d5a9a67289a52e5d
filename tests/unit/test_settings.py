"""Settings: defaults for what is unset, and clear errors naming what is wrong."""

from __future__ import annotations

import json

import pytest

from chalicelib.errors import ConfigurationError
from chalicelib.settings import DEFAULT_FORMSTACK_FIELDS, DEV_SECRET_KEY, Settings


def test_defaults_select_the_embedded_hub():
    s = Settings.from_env({})
    assert s.stage == "prod"
    assert s.state_dir == ".hub"
    assert s.public_url == "http://127.0.0.1:8000"
    assert s.formstack_fields == DEFAULT_FORMSTACK_FIELDS
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.slack_channel == "#orders"
    assert s.google_sheet_worksheet == "Customers"
    assert s.google_sheets_api_url == "https://sheets.googleapis.com"
    assert s.odoo_protocol == "xmlrpc"
    assert s.mail_backend == "outbox"
    assert s.http_timeout == 10.0
    assert s.retry_base == 0.5
    assert (s.google_sheet_id, s.odoo_url, s.slack_bot_token, s.smtp_url, s.admin_token) == ("", "", "", "", "")


def test_blank_values_count_as_unset():
    s = Settings.from_env({"HUB_STATE_DIR": "  ", "SLACK_CHANNEL": "", "ODOO_PROTOCOL": " "})
    assert (s.state_dir, s.slack_channel, s.odoo_protocol) == (".hub", "#orders", "xmlrpc")


def test_the_dev_key_is_for_the_dev_stage_only():
    assert Settings.from_env({"HUB_STAGE": "dev"}).require_secret_key() == DEV_SECRET_KEY
    prod = Settings.from_env({})
    assert prod.secret_key == ""
    with pytest.raises(ConfigurationError, match="HUB_SECRET_KEY"):
        prod.require_secret_key()
    with pytest.raises(ConfigurationError, match="HUB_SECRET_KEY"):
        Settings.from_env({"HUB_STAGE": "staging"}).require_secret_key()


def test_a_given_secret_key_wins_in_every_stage():
    for stage in ("dev", "prod"):
        assert Settings.from_env({"HUB_STAGE": stage, "HUB_SECRET_KEY": "s3cret"}).require_secret_key() == "s3cret"


def test_the_process_environment_is_read_when_no_mapping_is_given(monkeypatch):
    monkeypatch.setenv("SLACK_CHANNEL", "#from-env")
    assert Settings.from_env().slack_channel == "#from-env"


def test_urls_are_normalised():
    s = Settings.from_env(
        {
            "HUB_PUBLIC_URL": "https://hub.example.com/",
            "SLACK_API_URL": "http://127.0.0.1:9000/api",
            "GOOGLE_SHEETS_API_URL": "http://127.0.0.1:9001/",
            "ODOO_URL": "http://odoo.local:8069/",
        }
    )
    assert s.public_url == "https://hub.example.com"
    assert s.slack_api_url == "http://127.0.0.1:9000/api/"  # slack_sdk needs the trailing slash
    assert s.google_sheets_api_url == "http://127.0.0.1:9001"
    assert s.odoo_url == "http://odoo.local:8069"


def test_formstack_fields_override_only_what_they_name():
    s = Settings.from_env({"FORMSTACK_FIELDS": json.dumps({"email": "E-mail", "consent": "Offers"})})
    assert s.formstack_fields == {**DEFAULT_FORMSTACK_FIELDS, "email": "E-mail", "consent": "Offers"}


@pytest.mark.parametrize("value", ["{email: Email}", "[1, 2]", '"Email"', "42"])
def test_formstack_fields_that_are_not_a_json_object(value):
    with pytest.raises(ConfigurationError, match="FORMSTACK_FIELDS"):
        Settings.from_env({"FORMSTACK_FIELDS": value})


@pytest.mark.parametrize(
    "value",
    [
        '{"emial": "E-mail"}',  # a typo: the consent or email mapping would silently not apply
        '{"email": ""}',
        '{"email": null}',
        '{"email": ["E-mail"]}',
    ],
)
def test_formstack_fields_with_an_unknown_field_or_a_label_that_is_not_text(value):
    with pytest.raises(ConfigurationError, match="FORMSTACK_FIELDS"):
        Settings.from_env({"FORMSTACK_FIELDS": value})


@pytest.mark.parametrize(("value", "protocol"), [("xmlrpc", "xmlrpc"), ("JSON2", "json2"), (" json2 ", "json2")])
def test_odoo_protocol(value, protocol):
    assert Settings.from_env({"ODOO_PROTOCOL": value}).odoo_protocol == protocol


@pytest.mark.parametrize("value", ["jsonrpc", "json-2", "xml"])
def test_a_bad_odoo_protocol_names_the_setting(value):
    with pytest.raises(ConfigurationError, match="ODOO_PROTOCOL"):
        Settings.from_env({"ODOO_PROTOCOL": value})


def test_mail_backend_defaults_to_smtp_when_an_smtp_url_is_given():
    s = Settings.from_env({"SMTP_URL": "smtp://u:p@127.0.0.1:2525"})
    assert (s.mail_backend, s.smtp_url) == ("smtp", "smtp://u:p@127.0.0.1:2525")


@pytest.mark.parametrize(("value", "backend"), [("SES", "ses"), ("outbox", "outbox")])
def test_mail_backend_chosen(value, backend):
    assert Settings.from_env({"MAIL_BACKEND": value, "SMTP_URL": "smtp://h:25"}).mail_backend == backend


@pytest.mark.parametrize("value", ["sendgrid", "smtps", "mail"])
def test_a_bad_mail_backend_names_the_setting(value):
    with pytest.raises(ConfigurationError, match="MAIL_BACKEND"):
        Settings.from_env({"MAIL_BACKEND": value})


def test_smtp_backend_without_smtp_url_names_both():
    with pytest.raises(ConfigurationError, match=r"MAIL_BACKEND=smtp needs SMTP_URL"):
        Settings.from_env({"MAIL_BACKEND": "smtp"})


@pytest.mark.parametrize(("value", "seconds"), [("2.5", 2.5), ("30", 30.0)])
def test_http_timeout(value, seconds):
    assert Settings.from_env({"HUB_HTTP_TIMEOUT": value}).http_timeout == seconds


@pytest.mark.parametrize("value", ["0", "-1", "ten", "10s", "nan", "inf"])
def test_a_bad_http_timeout_names_the_setting(value):
    with pytest.raises(ConfigurationError, match="HUB_HTTP_TIMEOUT"):
        Settings.from_env({"HUB_HTTP_TIMEOUT": value})


def test_retry_base():
    assert Settings.from_env({"HUB_RETRY_BASE": "0.01"}).retry_base == 0.01


@pytest.mark.parametrize("value", ["0", "-0.5", "fast"])
def test_a_bad_retry_base_names_the_setting(value):
    with pytest.raises(ConfigurationError, match="HUB_RETRY_BASE"):
        Settings.from_env({"HUB_RETRY_BASE": value})


def test_service_account_given_inline_or_as_a_path(tmp_path):
    key = json.dumps({"type": "service_account", "client_email": "hub@p.iam.gserviceaccount.com"})
    assert Settings.from_env({"GOOGLE_SERVICE_ACCOUNT": key}).google_service_account == key
    path = tmp_path / "sa.json"
    path.write_text(key, encoding="utf-8")
    assert Settings.from_env({"GOOGLE_SERVICE_ACCOUNT": str(path)}).google_service_account == key


def test_an_unreadable_service_account_path_names_the_setting(tmp_path):
    with pytest.raises(ConfigurationError, match="GOOGLE_SERVICE_ACCOUNT"):
        Settings.from_env({"GOOGLE_SERVICE_ACCOUNT": str(tmp_path / "missing.json")})


@pytest.mark.parametrize(
    ("mail_from", "domain"),
    [
        ("chocohub <hello@shop.example>", "shop.example"),
        ("hello@shop.example", "shop.example"),
    ],
)
def test_mail_domain(mail_from, domain):
    assert Settings.from_env({"MAIL_FROM": mail_from}).mail_domain == domain


def test_a_deployed_dev_stage_never_gets_the_public_dev_key():
    settings = Settings.from_env({"HUB_STAGE": "dev", "AWS_LAMBDA_FUNCTION_NAME": "chocohub-dev"})
    assert settings.secret_key == ""
    with pytest.raises(ConfigurationError, match="HUB_SECRET_KEY"):
        settings.check_runtime()


def test_in_lambda_the_embedded_state_is_refused():
    base = {"AWS_LAMBDA_FUNCTION_NAME": "chocohub", "HUB_SECRET_KEY": "k"}
    with pytest.raises(ConfigurationError, match="HUB_TABLE"):
        Settings.from_env(base).check_runtime()
    with pytest.raises(ConfigurationError, match="GOOGLE_SHEET_ID, ODOO_URL, SMTP_URL or MAIL_BACKEND=ses, SLACK"):
        Settings.from_env({**base, "HUB_TABLE": "t"}).check_runtime()


@pytest.mark.parametrize(
    ("value", "seconds"), [("", 86400), ("24h", 86400), ("90m", 5400), ("3600", 3600), ("2d", 172800), ("45s", 45)]
)
def test_give_up_after(value, seconds):
    assert Settings.from_env({"HUB_GIVE_UP_AFTER": value}).give_up_after == seconds


@pytest.mark.parametrize("value", ["0", "-1h", "soon", "6d", "nan"])
def test_a_bad_give_up_after_names_the_setting(value):
    with pytest.raises(ConfigurationError, match="HUB_GIVE_UP_AFTER"):
        Settings.from_env({"HUB_GIVE_UP_AFTER": value})


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://127.8.9.1", "http://[::1]:8000"]
)
def test_the_dev_key_signs_only_links_that_point_at_this_machine(url):
    assert Settings.from_env({"HUB_STAGE": "dev", "HUB_PUBLIC_URL": url}).secret_key == DEV_SECRET_KEY


@pytest.mark.parametrize("url", ["https://abc.trycloudflare.com", "http://192.168.1.5:8000", "http://[bad"])
def test_a_dev_hub_behind_a_public_url_needs_its_own_key(url):
    settings = Settings.from_env({"HUB_STAGE": "dev", "HUB_PUBLIC_URL": url})
    assert settings.secret_key == ""
    with pytest.raises(ConfigurationError, match=r"HUB_SECRET_KEY.*loopback"):
        settings.check_runtime()


def test_slack_operators_and_team():
    settings = Settings.from_env({"SLACK_OPERATORS": " U024BE7LH, W0ADMIN ,", "SLACK_TEAM_ID": "T0001"})
    assert settings.slack_operators == frozenset({"U024BE7LH", "W0ADMIN"})
    assert settings.slack_team_id == "T0001"
    assert Settings.from_env({}).slack_operators == frozenset()


@pytest.mark.parametrize("value", ["@ann", "ann@example.com", "u024be7lh"])
def test_slack_operators_must_be_user_ids(value):
    with pytest.raises(ConfigurationError, match="SLACK_OPERATORS"):
        Settings.from_env({"SLACK_OPERATORS": value})


def test_sheets_quota():
    s = Settings.from_env({"GOOGLE_SHEETS_QUOTA": "300", "GOOGLE_SHEETS_QUOTA_WINDOW": "6"})
    assert (s.google_sheets_quota, s.google_sheets_quota_window) == (300, 6)
    assert (Settings().google_sheets_quota, Settings().google_sheets_quota_window) == (60, 60)
    with pytest.raises(ConfigurationError, match="GOOGLE_SHEETS_QUOTA"):
        Settings.from_env({"GOOGLE_SHEETS_QUOTA": "0"})
