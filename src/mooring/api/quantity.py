"""Kubernetes resource quantities ("500m", "2Gi", "1e3") as exact Decimals.

Pure. Money and sizes never go through float: "500m" -> Decimal("0.5").
"""

from __future__ import annotations

import re
from decimal import Decimal
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
_SUFFIX_GROUP = 5  # the group of QUANTITY_PATTERN that holds the suffix
# Longer text is never a useful quantity; the bound also keeps the CRD's CEL rule cheap.
MAX_QUANTITY_TEXT = 64


# Kubernetes holds a quantity as an int64 of base units: the API server caps a binary
# quantity at 2^63-1 (so "9Ei" reads as that), and counts there are meaningless for quotas
# and sizes. A size must be below it (the CRD's rule compares with "8Ei", which the server
# reads as the cap, so both refuse the same values).
LIMIT_QUANTITY = Decimal(2**63 - 1)
# Exponents beyond this are out of range whatever the digits (1e19 > 2^63 - 1).
_MAX_EXPONENT = 40


class QuantityError(ValueError):
    pass


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """Parse a Kubernetes quantity into an exact Decimal ("1500m" -> Decimal("1.5")).

    Suffixes as the API server reads them: "Ei" binary, "E" decimal (exa), "e3"/"E3" an
    exponent. Raises QuantityError for text that is not a quantity.
    """
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(f"{value!r} is not a quantity")
        return Decimal(str(value))
    text = value.strip()
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(
            f"{_shown(value)} is not a Kubernetes quantity (examples: 500m, 2, 1.5, 512Mi, 10Gi)"
        )
    number = text[: match.start(_SUFFIX_GROUP)] if match.group(_SUFFIX_GROUP) else text
    suffix = match.group(_SUFFIX_GROUP) or ""
    if suffix in _SUFFIXES:
        return Decimal(number) * _SUFFIXES[suffix]
    exponent = suffix[1:].lstrip("+")
    negative = exponent.startswith("-")
    digits = exponent.lstrip("-").lstrip("0") or "0"
    if len(digits) > 3 or int(digits) > _MAX_EXPONENT:
        if Decimal(number) == 0:
            return Decimal(0)
        if not negative:
            raise QuantityError(f"{_shown(value)} is out of range: {_RANGE}")
        return Decimal("1e-9")  # the API server rounds a positive quantity up to 1n
    return Decimal(number).scaleb(-int(digits) if negative else int(digits))


_RANGE = "sizes and amounts must be below 8Ei (2^63-1, about 9.2e18)"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text) - 2} characters)"


def check_size(value: str | int | float | Decimal) -> Decimal:
    """A quantity that is a size or an amount: not negative, and below LIMIT_QUANTITY.

    Raises QuantityError with the reason and the range.
    """
    amount = parse_quantity(value)
    if amount < 0:
        raise QuantityError(f"{_shown(value)} is negative; sizes and amounts start at 0")
    if amount >= LIMIT_QUANTITY:
        raise QuantityError(f"{_shown(value)} is out of range: {_RANGE}")
    return amount


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
        raise QuantityError(
            f"{_shown(value)} is not a Kubernetes quantity (examples: 500m, 2, 512Mi)"
        )
    if isinstance(value, str) and len(value) > MAX_QUANTITY_TEXT:
        raise QuantityError(
            f"{_shown(value)} is longer than {MAX_QUANTITY_TEXT} characters; {_RANGE}"
        )
    check_size(value)
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
            "maxLength": MAX_QUANTITY_TEXT,
            "x-kubernetes-validations": [
                {
                    "rule": "!isQuantity(string(self)) || "
                    "(!quantity(string(self)).isLessThan(quantity('0')) && "
                    "quantity(string(self)).isLessThan(quantity('8Ei')))",
                    "message": f"must not be negative, and {_RANGE}",
                }
            ],
        }
    ),
    Field(description="A Kubernetes quantity such as 500m, 2, 512Mi or 10Gi."),
]
