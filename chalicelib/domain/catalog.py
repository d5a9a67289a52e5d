"""The box catalog: which Odoo product a Stripe price or a form value stands for."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import ConfigurationError, PermanentError

BUILT_IN = {
    "boxes": [
        {
            "sku": "BOX-CLASSIC",
            "name": "Classic box",
            "stripe_prices": ["price_classic_monthly"],
            "form_values": ["Classic"],
        },
        {
            "sku": "BOX-SUPER",
            "name": "Super box",
            "stripe_prices": ["price_super_monthly"],
            "form_values": ["Super"],
        },
    ],
    "upsell": "BOX-SUPER",
}


def _strings(box: dict[str, Any], key: str) -> tuple[str, ...]:
    """A list of strings from the catalog; a lone string would split into letters."""
    value = box.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"HUB_CATALOG: {key} of box {box.get('sku')!r} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class Box:
    sku: str
    name: str
    stripe_prices: tuple[str, ...] = ()
    form_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalog:
    boxes: tuple[Box, ...]
    upsell: str
    _by_price: dict[str, Box] = field(default_factory=dict, compare=False, repr=False)
    _by_form: dict[str, Box] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalog:
        """Build and check a catalog; a broken one is a `ConfigurationError` naming the fault."""
        try:
            boxes = tuple(
                Box(
                    sku=str(b["sku"]),
                    name=str(b.get("name") or b["sku"]),
                    stripe_prices=_strings(b, "stripe_prices"),
                    form_values=_strings(b, "form_values"),
                )
                for b in data["boxes"]
            )
            upsell = str(data["upsell"])
        except (KeyError, TypeError) as exc:
            raise ConfigurationError(f"HUB_CATALOG: missing {exc} in the catalog") from exc
        if upsell not in {b.sku for b in boxes}:
            raise ConfigurationError(f"HUB_CATALOG: upsell {upsell!r} is not a box sku")
        catalog = cls(boxes=boxes, upsell=upsell)
        for box in boxes:
            for price in box.stripe_prices:
                catalog._by_price[price] = box
            for value in box.form_values:
                catalog._by_form[value.strip().lower()] = box
        return catalog

    @classmethod
    def load(cls, path: str | None) -> Catalog:
        """The catalog at `path` (JSON), or the built-in one."""
        if not path:
            return cls.from_dict(BUILT_IN)
        try:
            with open(path, encoding="utf-8") as fh:
                return cls.from_dict(json.load(fh))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"HUB_CATALOG: cannot read {path}: {exc}") from exc

    def by_sku(self, sku: str) -> Box | None:
        return next((b for b in self.boxes if b.sku == sku), None)

    def box_for_prices(self, price_ids: list[str]) -> Box:
        """The box bought with one of `price_ids`; unknown prices are a permanent error."""
        for price in price_ids:
            if price in self._by_price:
                return self._by_price[price]
        raise PermanentError(
            f"no box in the catalog has Stripe price {', '.join(price_ids) or '(none)'}:"
            " add it to HUB_CATALOG, then replay"
        )

    def box_for_form_value(self, value: str) -> Box | None:
        """The box a form answer names; an empty answer names none."""
        if not value.strip():
            return None
        box = self._by_form.get(value.strip().lower())
        if box is None:
            raise PermanentError(f"no box in the catalog has form value {value!r}: add it to HUB_CATALOG, then replay")
        return box

    def welcomes(self, box_sku: str) -> bool:
        """True when the newcomer's email is a welcome (already on the upsell box), not the upsell."""
        return box_sku == self.upsell
