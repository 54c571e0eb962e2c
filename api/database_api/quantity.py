"""Kubernetes resource quantities (`10Gi`, `500m`, `1.5`), parsed the way the API server does."""

import re
from decimal import Decimal, InvalidOperation, Overflow, localcontext

_SUFFIXES: dict[str, Decimal] = {
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

QUANTITY_PATTERN = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)


MAX_QUANTITY = Decimal(2**63 - 1)
"""Kubernetes refuses a quantity larger than this in magnitude (resource.Quantity's canonical form)."""


def parse_quantity(text: str) -> Decimal:
    """Return the value of a quantity in base units (bytes, cores); raise ValueError if malformed or larger
    than Kubernetes allows (never an arithmetic overflow, however large the exponent)."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (examples: 10Gi, 512Mi, 500m, 2)")
    number, suffix = match.group(1), match.group(3) or ""
    too_large = ValueError(f"{text!r} is larger than the largest Kubernetes quantity (2^63-1)")
    with localcontext() as context:
        context.traps[Overflow] = False  # an exponent beyond Decimal's range gives Infinity, refused below
        context.traps[InvalidOperation] = False
        if match.group(5):  # a decimal exponent, e.g. 1e3 (not the suffix Ei)
            exponent = int(suffix[1:])
            if exponent > len(str(MAX_QUANTITY)):
                raise too_large
            value = Decimal(number) * (Decimal(10) ** exponent)
        else:
            value = Decimal(number) * _SUFFIXES[suffix]
    if not value.is_finite() or value > MAX_QUANTITY:
        raise too_large
    return value
