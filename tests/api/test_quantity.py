"""Kubernetes quantities, parsed to their value so sizes can be compared (storage may never shrink)."""

from decimal import Decimal

import pytest

from database_api.quantity import parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10Gi", Decimal(10 * 2**30)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1G", Decimal(10**9)),
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("1.5Gi", Decimal("1.5") * 2**30),
        ("1e3", Decimal(1000)),
    ],
)
def test_parses(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "10 Gi", "10GB", "-1", "1.2.3"])
def test_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize("text", ["1e1000000", "1e19", "10Ei", "9223372036854775808", "1e999999999999"])
def test_rejects_what_kubernetes_cannot_hold_without_overflowing(text: str) -> None:
    with pytest.raises(ValueError, match="is larger than the largest Kubernetes quantity"):
        parse_quantity(text)


def test_an_exabyte_suffix_is_a_suffix_not_an_exponent() -> None:
    assert parse_quantity("7Ei") == Decimal(7 * 2**60)
