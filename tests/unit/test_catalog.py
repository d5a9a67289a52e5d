"""The box catalog: prices and form answers to Odoo products, and its validation."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.catalog import Catalog
from chalicelib.errors import ConfigurationError, PermanentError

SHOP = {
    "boxes": [
        {
            "sku": "BOX-MINI",
            "name": "Mini box",
            "stripe_prices": ["price_mini_m", "price_mini_y"],
            "form_values": ["Mini"],
        },
        {"sku": "BOX-SUPER", "name": "Super box", "stripe_prices": ["price_super_m"], "form_values": ["Super", "XL"]},
    ],
    "upsell": "BOX-SUPER",
}


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.from_dict(SHOP)


def test_built_in_catalog_has_an_upsell_among_its_boxes():
    built_in = Catalog.load(None)
    assert built_in.by_sku(built_in.upsell) is not None
    assert Catalog.load("") == built_in


def test_catalog_loaded_from_a_file(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(SHOP), encoding="utf-8")
    loaded = Catalog.load(str(path))
    assert [b.sku for b in loaded.boxes] == ["BOX-MINI", "BOX-SUPER"]
    assert loaded.box_for_prices(["price_mini_y"]).sku == "BOX-MINI"


def test_a_missing_catalog_file_names_the_setting_and_the_path(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError, match=r"HUB_CATALOG.*nope\.json"):
        Catalog.load(str(missing))


def test_a_catalog_file_that_is_not_json_names_the_setting(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text("{boxes: oops", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="HUB_CATALOG"):
        Catalog.load(str(path))


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"boxes": []},
        {"upsell": "BOX-SUPER"},
        {"boxes": [{"name": "no sku"}], "upsell": "x"},
        {"boxes": "BOX-SUPER", "upsell": "BOX-SUPER"},
        {"boxes": [{"sku": "BOX-MINI"}], "upsell": "BOX-SUPER"},
    ],
)
def test_a_broken_catalog_is_a_configuration_error(data):
    with pytest.raises(ConfigurationError, match="HUB_CATALOG"):
        Catalog.from_dict(data)


@pytest.mark.parametrize("key", ["stripe_prices", "form_values"])
def test_a_single_string_where_a_list_belongs_is_refused(key):
    # `"stripe_prices": "price_x"` must not become the prices "p", "r", "i", ...: a silent
    # mapping would make every invoice of the box fail while the catalog looks right.
    box = {"sku": "BOX-SUPER", "name": "Super box", key: "price_super_m"}
    with pytest.raises(ConfigurationError, match=key):
        Catalog.from_dict({"boxes": [box], "upsell": "BOX-SUPER"})


def test_name_defaults_to_the_sku():
    catalog = Catalog.from_dict({"boxes": [{"sku": "BOX-X"}], "upsell": "BOX-X"})
    assert catalog.by_sku("BOX-X").name == "BOX-X"


def test_by_sku(catalog):
    assert catalog.by_sku("BOX-MINI").name == "Mini box"
    assert catalog.by_sku("BOX-NOPE") is None


def test_box_for_prices_takes_the_first_known_price(catalog):
    assert catalog.box_for_prices(["price_shipping", "price_super_m"]).sku == "BOX-SUPER"
    assert catalog.box_for_prices(["price_mini_m", "price_super_m"]).sku == "BOX-MINI"


def test_an_unknown_price_is_permanent_and_named(catalog):
    with pytest.raises(PermanentError, match=r"price_unknown_1.*HUB_CATALOG"):
        catalog.box_for_prices(["price_unknown_1"])


def test_no_price_at_all_is_permanent(catalog):
    with pytest.raises(PermanentError, match=r"\(none\)"):
        catalog.box_for_prices([])


@pytest.mark.parametrize(("value", "sku"), [("Mini", "BOX-MINI"), ("  super ", "BOX-SUPER"), ("xl", "BOX-SUPER")])
def test_box_for_form_value_is_trimmed_and_case_blind(catalog, value, sku):
    assert catalog.box_for_form_value(value).sku == sku


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_form_answer_names_no_box(catalog, value):
    assert catalog.box_for_form_value(value) is None


def test_an_unknown_form_answer_is_permanent_and_named(catalog):
    with pytest.raises(PermanentError, match="'Giant'"):
        catalog.box_for_form_value("Giant")


def test_the_newcomer_email_welcomes_the_upsell_box_and_upsells_the_rest(catalog):
    assert catalog.welcomes("BOX-SUPER") is True
    assert catalog.welcomes("BOX-MINI") is False
    assert catalog.welcomes("") is False
