"""Benchmark: the guardrails' memory in one step, and in the periodic full audit.

Builds, in this process, the guardrails' state for N tenants (2 environments each) with the
operator's own class (operator/guardrails.py) fed the objects the API server would send,
then runs its steps as the operator does:

- the first step (policies, in their own loop's step, then every GuardrailContext
  compared, every namespace audited and its PolicyReport written);
- a periodic full audit (what `--audit-interval`, 300 s by default, triggers): every
  namespace judged again, nothing changed;
- a full contexts pass (what a PlatformConfig change triggers).

The API server's writes are counted and dropped (a stand-in client that only counts: this
measures the operator's own memory, not the wire). Each phase prints the objects' peak
above the state (tracemalloc) and the process's resident memory after it (RSS, VmHWM):
a transient peak of many small objects raises the resident memory for good (pymalloc keeps
its arenas), so the peak matters as well as what is kept. tracemalloc runs only with
--trace (it slows everything and adds its own memory to the RSS figures).

Usage: .venv/bin/python benchmarks/guardrails_memory.py [--tenants 5000] [--trace]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from pathlib import Path
from typing import Any

from operator_memory import NOW, PLATFORM, served, tenant_body

from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.render import Context, render_tenant
from mooring.kube.informer import Informer, _key, metadata_only
from mooring.operator.guardrails import CONFIG_KINDS, Guardrails, _namespace
from mooring.services import audit

Obj = dict[str, Any]


class CountingKube:
    """Counts the writes the guardrails make, and drops them."""

    def __init__(self) -> None:
        self.applied: dict[str, int] = {}

    async def apply(self, obj: Obj, **_: Any) -> Obj:
        kind = str(obj.get("kind"))
        self.applied[kind] = self.applied.get(kind, 0) + 1
        return obj

    async def has_kind(self, *_: Any) -> bool:
        return True


def status() -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return (
        int(fields["VmRSS"].split()[0]) / 1024,
        int(fields["VmHWM"].split()[0]) / 1024,
    )


def build(n: int) -> Guardrails:
    platform_obj = {**PLATFORM, "apiVersion": "mooring.dev/v1alpha1"}
    platform = PlatformConfig.model_validate(platform_obj).spec
    kube = CountingKube()
    state = Guardrails(kube)  # type: ignore[arg-type]
    for api_version, kind in CONFIG_KINDS:
        keep = metadata_only if kind in ("Tenant", "Namespace") else None
        state.informers[kind] = Informer(None, api_version, kind, keep=keep)  # type: ignore[arg-type]
    for api_version, kind in audit.AUDITED:
        state.informers[kind] = Informer(None, api_version, kind, index=_namespace)  # type: ignore[arg-type]
    state._on_platformconfig("ADDED", platform_obj)
    version = 1000
    for i in range(n):
        body = tenant_body(i)
        state._on_tenant("ADDED", body)
        state.informers["Tenant"]._store(_key(body), metadata_only(body))
        for obj in render_tenant(Context(Tenant.model_validate(body), platform)):
            if obj["kind"] != "Namespace":
                continue
            version += 1
            namespace = served(obj, version)
            state._on_namespace("ADDED", namespace)
            state.informers["Namespace"]._store(_key(namespace), metadata_only(namespace))
    return state


async def phase(state: Guardrails, what: str, trace: bool, prepare: Any) -> None:
    prepare()
    kube: CountingKube = state.kube  # type: ignore[assignment]
    kube.applied.clear()
    gc.collect()
    rss_before, _ = status()
    if trace:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
    started = time.perf_counter()
    await state.policy_step()  # nothing unless the policies have work (the first phase)
    await state.step()
    seconds = time.perf_counter() - started
    line = f"  {what:<44} {seconds:6.1f} s"
    if trace:
        after, peak = tracemalloc.get_traced_memory()
        line += f"  peak +{(peak - base) / 2**20:6.1f} MiB  kept +{(after - base) / 2**20:6.1f} MiB"
    gc.collect()
    rss, hwm = status()
    line += f"  RSS {rss_before:6.0f} -> {rss:6.0f} MiB (VmHWM {hwm:.0f})"
    line += f"  writes {dict(sorted(kube.applied.items()))}"
    print(line, flush=True)


async def run(n: int, trace: bool, passes: int) -> None:
    print(f"== {n} tenants x 2 environments ({'tracemalloc on' if trace else 'RSS only'})")
    state = build(n)
    gc.collect()
    rss, hwm = status()
    print(f"  state built: RSS {rss:.0f} MiB (VmHWM {hwm:.0f})", flush=True)

    def first() -> None:
        pass

    def full_audit() -> None:
        state.next_full_audit = 0.0

    def contexts() -> None:
        state.contexts_dirty = True
        state.next_full_audit = time.monotonic() + 3600

    await phase(state, "first step (contexts, audit, reports)", trace, first)
    # Its writes' echoes: each context as the API server would hold it.
    for namespace in state.namespaces:
        context = served(state.world().context(namespace, NOW), 1)
        state.informers["GuardrailContext"]._store((namespace, "guardrails"), context)
    for index in range(passes):
        await phase(state, f"periodic full audit #{index + 1}", trace, full_audit)
    await phase(state, "every context compared (platform changed)", trace, contexts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=5000)
    parser.add_argument("--passes", type=int, default=3, help="periodic full audits to run")
    parser.add_argument("--trace", action="store_true", help="tracemalloc peaks (slower)")
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start()
    asyncio.run(run(args.tenants, args.trace, args.passes))


if __name__ == "__main__":
    main()
