"""Kubernetes resource quantities ("500m", "2Gi", "1e3") as exact Decimals.

Pure. Money and sizes never go through float: "500m" -> Decimal("0.5").
"""

from __future__ import annotations

import re
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, Underflow
from typing import Annotated

from pydantic import BeforeValidator, Field, WithJsonSchema

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# The same grammar the API server accepts (resource.Quantity), anchored.
QUANTITY_PATTERN = (
    r"^[+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?$"
)
_QUANTITY = re.compile(QUANTITY_PATTERN)
# Exponents beyond what any real amount needs are refused, not rounded (exact or nothing).
_EXACT = Context(
    prec=60, Emax=100, Emin=-100, traps=[Inexact, InvalidOperation, Overflow, Underflow]
)


class QuantityError(ValueError):
    pass


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """Parse a Kubernetes quantity into an exact Decimal ("1500m" -> Decimal("1.5"))."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    text = value.strip()
    if not _QUANTITY.match(text):
        raise QuantityError(
            f"{value!r} is not a Kubernetes quantity (examples: 500m, 2, 1.5, 512Mi, 10Gi)"
        )
    match = re.match(r"^([+-]?[0-9.]+)(.*)$", text)
    assert match is not None
    number, suffix = match.groups()
    # "E" and "Ei" are suffixes (exa, exbi); "e3" and "E3" are decimal exponents.
    if suffix in _SUFFIXES:
        return Decimal(number) * _SUFFIXES[suffix]
    try:
        return _EXACT.multiply(Decimal(number), _EXACT.power(10, int(suffix[1:])))
    except ArithmeticError as error:
        raise QuantityError(
            f"{value!r} is too large or too small a quantity: write it with a suffix "
            "(such as 10Gi or 500m)"
        ) from error


def format_cpu(value: Decimal) -> str:
    """Canonical CPU string, as the API server would print it ("0.5" -> "500m")."""
    if value == value.to_integral_value():
        return str(int(value))
    millis = value * 1000
    if millis == millis.to_integral_value():
        return f"{int(millis)}m"
    return f"{int(value * Decimal('1e9'))}n"


def format_bytes(value: Decimal) -> str:
    """Canonical byte string with the largest exact binary suffix ("1073741824" -> "1Gi")."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        size = _SUFFIXES[suffix]
        if value >= size and value % size == 0:
            return f"{int(value / size)}{suffix}"
    return str(int(value)) if value == value.to_integral_value() else str(value)


def _validate(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise QuantityError(f"{value!r} is not a Kubernetes quantity (examples: 500m, 2, 512Mi)")
    parse_quantity(value)
    return value if isinstance(value, str) else str(value)


# A quantity field: written as in Kubernetes ("500m", 2, "4Gi"), kept as its text.
Quantity = Annotated[
    str,
    BeforeValidator(_validate),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": True,
            "pattern": QUANTITY_PATTERN,
        }
    ),
    Field(description="A Kubernetes quantity such as 500m, 2, 512Mi or 10Gi."),
]
