"""Prices per hour for one node, one StorageClass, one load balancer.

Pure. A node's rates come from the first node pool whose selector its labels match, with
the platform's prices for whatever the pool leaves unset. Storage is priced per GiB-month
in the PlatformConfig; `storage_cost` multiplies before it divides by the 730 hours of a
month, so that 10 GiB for a month at 0.04 costs exactly 0.40.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from mooring.api.cost import HOURS_PER_MONTH, Prices

DEFAULT_POOL = ""


@dataclass(frozen=True)
class Rates:
    """Per hour: one vCPU, one GiB of memory, one GPU."""

    pool: str
    cpu: Decimal
    memory: Decimal
    gpu: Decimal


class PriceBook:
    """The platform's prices, resolved for nodes, StorageClasses and load balancers."""

    def __init__(self, prices: Prices) -> None:
        self.prices = prices
        self.currency = prices.currency
        self.default = Rates(
            DEFAULT_POOL, prices.cpu_per_vcpu_hour, prices.memory_per_gib_hour, prices.gpu_per_hour
        )
        self._pools = {
            pool.name: Rates(
                pool.name,
                prices.cpu_per_vcpu_hour
                if pool.cpu_per_vcpu_hour is None
                else pool.cpu_per_vcpu_hour,
                prices.memory_per_gib_hour
                if pool.memory_per_gib_hour is None
                else pool.memory_per_gib_hour,
                prices.gpu_per_hour if pool.gpu_per_hour is None else pool.gpu_per_hour,
            )
            for pool in prices.node_pools
        }
        self.load_balancer_hour = prices.load_balancer_per_hour

    def pool(self, name: str) -> Rates:
        return self._pools.get(name, self.default)

    def node(self, labels: Mapping[str, str] | None) -> Rates:
        """The rates of a node with these labels (None: an unknown node, list prices)."""
        if labels is None:
            return self.default
        for pool in self.prices.node_pools:
            if all(labels.get(key) == value for key, value in pool.node_selector.items()):
                return self._pools[pool.name]
        return self.default

    def storage_cost(self, storage_class: str | None, gib_hours: Decimal) -> Decimal:
        return gib_hours * self.prices.storage_class_month(storage_class) / HOURS_PER_MONTH

    def storage_gib_month(self, storage_class: str | None) -> Decimal:
        return self.prices.storage_class_month(storage_class)
