"""Nobody left behind: which objects the resync picks up, and which it leaves to their
handlers; kopf's pending finalizer patch that changes nothing any more is dropped."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import kopf
import pytest

from mooring.api import names
from mooring.core.policy.context import CONTEXT_NAME
from mooring.kube.informer import Informer
from mooring.operator.guardrails import Guardrails
from mooring.operator.kopf_fixes import noop_leftover
from mooring.operator.resync import KeyedLocks, Seen, behind, key_of, left_behind
from mooring.operator.tenants import Watches, _outside_slot


def tenant(
    name: str = "team1",
    generation: int = 1,
    observed: int | None = None,
    version: str = "10",
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "generation": generation,
        "resourceVersion": version,
        "uid": f"uid-{name}",
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    body: dict[str, Any] = {"kind": "Tenant", "metadata": meta}
    if observed is not None:
        body["status"] = {"observedGeneration": observed, "ready": "True"}
    return body


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (tenant(observed=None), True),
        (tenant(generation=2, observed=1), True),
        (tenant(generation=2, observed=2), False),
        (tenant(observed=None, deleting=True), False),
    ],
    ids=[
        "a tenant without status is behind",
        "a tenant whose spec changed since its status is behind",
        "a tenant whose status is current is not",
        "a tenant being deleted is its finalizer's business",
    ],
)
def test_what_is_behind(obj: dict[str, Any], expected: bool) -> None:
    assert behind(obj) is expected


def test_only_what_was_behind_and_untouched_for_a_whole_interval_is_picked_up() -> None:
    previous = {("", "lost"): Seen("10", "a"), ("", "busy"): Seen("10", "b")}
    current = {
        ("", "lost"): Seen("10", "a"),  # the same version: nothing happened to it
        ("", "busy"): Seen("11", "b"),  # changed: its handler is at work
        ("", "new"): Seen("12", "c"),  # behind for the first time: give kopf its chance
    }
    assert left_behind(previous, current) == [("", "lost")]


def test_a_namesake_made_anew_is_not_confused_with_the_one_before() -> None:
    assert left_behind({("", "t"): Seen("10", "old")}, {("", "t"): Seen("10", "new")}) == []


def test_keys_name_the_namespace_of_namespaced_objects() -> None:
    assert key_of({"metadata": {"name": "db", "namespace": "team-dev"}}) == ("team-dev", "db")
    assert key_of(tenant("t")) == ("", "t")


async def test_keyed_locks_serialise_one_key_and_forget_it_when_free() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def work(key: str, label: str) -> None:
        async with locks.hold(key):
            order.append(f"{label} in")
            await asyncio.sleep(0.01)
            order.append(f"{label} out")

    await asyncio.gather(work("a", "1"), work("a", "2"), work("b", "3"))
    assert order.index("1 out") < order.index("2 in")
    assert not locks.held("a")
    assert not locks.held("b")


def _block(body: Any, finalizer: str = "mooring.dev/finalizer") -> None:
    if finalizer not in body.get("metadata", {}).get("finalizers", []):
        body.setdefault("metadata", {}).setdefault("finalizers", []).append(finalizer)


def test_a_pending_finalizer_patch_already_in_place_is_a_noop() -> None:
    pending = kopf.Patch(fns=[_block])
    landed = {"metadata": {"name": "t", "finalizers": ["mooring.dev/finalizer"]}}
    not_yet = {"metadata": {"name": "t"}}
    assert noop_leftover(pending, landed)
    assert not noop_leftover(pending, not_yet)


def test_a_pending_merge_patch_is_never_dropped() -> None:
    pending = kopf.Patch({"metadata": {"annotations": {"a": "b"}}}, fns=[_block])
    landed = {"metadata": {"name": "t", "finalizers": ["mooring.dev/finalizer"]}}
    assert not noop_leftover(pending, landed)


def test_a_failing_tenant_waits_longer_each_time_and_not_in_step_with_the_others() -> None:
    from mooring.operator.tenants import retry_delay

    delays = [retry_delay("team1", n) for n in range(12)]
    assert 3.75 <= delays[0] <= 5.0
    doubling = delays[:6]  # 5 s doubling, until the cap of 5 minutes
    assert all(later > earlier for earlier, later in itertools.pairwise(doubling))
    assert all(225 <= d <= 300 for d in delays[6:])
    spread = {round(retry_delay(f"team{i}", 3), 2) for i in range(100)}
    assert len(spread) > 50  # thousands failing together do not come back together


async def test_the_resync_picks_up_what_stays_behind_once_the_server_is_calm() -> None:
    from mooring.operator.resync import Resync, Source

    calm = {"now": False}
    picked: list[tuple[str, str]] = []

    async def again(key: tuple[str, str], seen: Seen) -> bool:
        picked.append(key)
        return True

    lost = {("", "lost"): Seen("10", "a")}
    resync = Resync(None, interval=1, full_every=1000, calm=lambda: calm["now"])  # type: ignore[arg-type]
    resync.sources.append(
        Source("Tenant", "mooring.dev/v1alpha1", again=again, remembered=lambda: lost)
    )
    assert await resync.look() == 0  # seen behind for the first time: kopf's turn
    assert await resync.look() == 0  # still behind, but the server refuses: kopf is slow
    calm["now"] = True
    assert await resync.look() == 1
    assert picked == [("", "lost")]


async def test_what_is_behind_while_its_handlers_have_a_backlog_is_left_to_them() -> None:
    from mooring.operator.resync import Resync, Source

    backlog = {"now": True}
    picked: list[tuple[str, str]] = []

    async def again(key: tuple[str, str], seen: Seen) -> bool:
        picked.append(key)
        return True

    queued = {("", "queued"): Seen("10", "a")}
    resync = Resync(None, interval=1, full_every=1000)  # type: ignore[arg-type]
    resync.sources.append(
        Source(
            "Tenant",
            "mooring.dev/v1alpha1",
            again=again,
            remembered=lambda: queued,
            backlog=lambda: backlog["now"],
        )
    )
    assert await resync.look() == 0
    assert await resync.look() == 0  # behind for a whole interval, but kopf has a queue
    assert picked == []
    backlog["now"] = False
    assert await resync.look() == 1  # the queue is gone and it is still behind: lost
    assert picked == [("", "queued")]


def test_the_guardrails_look_marks_only_the_contexts_gone_or_changed_since_found_right() -> None:
    """The resync's look at the guardrails (Guardrails.resync): a tenant namespace whose
    GuardrailContext is gone, or is not the version last found as desired (an edit whose
    event was lost), is recomputed; one still as found is left alone."""
    guardrails = Guardrails(None)  # type: ignore[arg-type]  # no I/O in a look
    contexts = Informer(None, names.API_VERSION, "GuardrailContext")  # type: ignore[arg-type]
    guardrails.informers["GuardrailContext"] = contexts
    guardrails.namespaces = {"a-dev": "a", "b-dev": "b", "c-dev": "c"}
    for namespace, version in (("a-dev", "5"), ("b-dev", "7")):
        context = {
            "apiVersion": names.API_VERSION,
            "kind": "GuardrailContext",
            "metadata": {"name": CONTEXT_NAME, "namespace": namespace, "resourceVersion": version},
        }
        contexts._store((namespace, CONTEXT_NAME), context)
    guardrails.verified = {"a-dev": "5", "b-dev": "6", "c-dev": "3"}
    guardrails.policies_dirty = False
    guardrails.contexts_for = set()

    guardrails.resync()

    assert guardrails.contexts_for == {"b-dev", "c-dev"}  # changed by someone; gone
    assert guardrails.policies_dirty
    assert guardrails.wake.is_set()


def guardrail_context(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": names.API_VERSION,
        "kind": "GuardrailContext",
        "metadata": {"name": CONTEXT_NAME, "namespace": namespace, "resourceVersion": "1"},
    }


async def test_a_reconcile_waits_for_its_namespaces_guardrail_contexts_and_names_those_late() -> (
    None
):
    """Guardrails.in_force: a namespace whose GuardrailContext is watched counts at once; a
    reconcile waiting for another is woken by that context's event; one that never comes is
    named when the wait is over (the tenant then says NamespacesReady False and retries)."""
    guardrails = Guardrails(None)  # type: ignore[arg-type]  # no I/O: the informer is fed here
    contexts = Informer(None, names.API_VERSION, "GuardrailContext")  # type: ignore[arg-type]
    guardrails.informers["GuardrailContext"] = contexts
    contexts._store(("a-dev", CONTEXT_NAME), guardrail_context("a-dev"))

    assert await guardrails.in_force(["a-dev"], wait=0) == []
    assert await guardrails.in_force(["a-dev", "a-prod"], wait=0.05) == ["a-prod"]
    assert guardrails.awaited == {}  # nobody waits any more

    waiting = asyncio.create_task(guardrails.in_force(["a-dev", "a-prod"], wait=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    written = guardrail_context("a-prod")
    contexts._store(("a-prod", CONTEXT_NAME), written)
    guardrails._on_guardrailcontext("ADDED", written)
    assert await asyncio.wait_for(waiting, timeout=5) == []
    assert guardrails.awaited == {}


async def test_without_a_guardrail_context_informer_nothing_is_waited_for() -> None:
    assert await Guardrails(None).in_force(["a-dev"], 30) == []  # type: ignore[arg-type]


async def test_a_reconcile_waiting_for_guardrail_contexts_gives_up_its_slot_meanwhile() -> None:
    """The operator's wait (operator/tenants.py `_outside_slot`): with one reconcile slot, a
    tenant waiting for its contexts lets another reconcile run, and takes its slot back
    before it goes on; one whose contexts are there keeps its slot throughout."""
    watches = Watches(None)  # type: ignore[arg-type]  # no I/O here
    watches.reconciling = asyncio.Semaphore(1)
    written = asyncio.Event()

    async def in_force(namespaces: Sequence[str], wait: float) -> list[str]:
        if wait == 0 or written.is_set():
            return [] if written.is_set() or "ready-dev" in namespaces else list(namespaces)
        await written.wait()
        return []

    watches.guarded = in_force
    guarded = _outside_slot(watches)
    assert guarded is not None
    async with watches.reconciling:
        assert await guarded(["ready-dev"]) == []
        assert watches.reconciling.locked()  # kept: nothing to wait for
    order: list[str] = []

    async def waiting() -> None:
        async with watches.reconciling:
            order.append("waiting: in")
            assert await guarded(["new-dev"]) == []
            assert watches.reconciling.locked()  # taken back
            order.append("waiting: done")

    async def other() -> None:
        async with watches.reconciling:
            order.append("other")
            written.set()

    first = asyncio.create_task(waiting())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(first, other()), timeout=5)
    assert order == ["waiting: in", "other", "waiting: done"]
    assert not watches.reconciling.locked()  # every slot given back
