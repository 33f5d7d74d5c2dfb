"""The kopf registry every handler module registers into (not kopf's global one).

A registry of our own lets the operator, and tests, start with exactly Mooring's handlers.
"""

from __future__ import annotations

import kopf

REGISTRY = kopf.OperatorRegistry()
