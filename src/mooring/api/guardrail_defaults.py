"""The guardrails' defaults as plain values, without pydantic.

`GuardrailSettings` and `GuardrailContextSpec` (guardrails.py) take their defaults from
here, and `mooring check` without a PlatformConfig reads them from here without building
those models (a CI step's start-up time; core/policy/context.py's `default_context`).
"""

from __future__ import annotations

from typing import Final, Literal

Mode = Literal["enforce", "warn", "audit", "off"]
MODES: tuple[Mode, ...] = ("enforce", "warn", "audit", "off")

# The mode of every rule a platform does not name.
DEFAULT_MODE: Final[Mode] = "enforce"
# Linux capabilities containers may add when the platform does not say.
DEFAULT_ALLOWED_CAPABILITIES: Final = ("NET_BIND_SERVICE",)
# The cluster's DNS domain when the platform does not say (ExternalName Services).
DEFAULT_CLUSTER_DOMAIN: Final = "cluster.local"
