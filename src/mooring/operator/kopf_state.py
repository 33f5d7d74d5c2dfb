"""Where kopf keeps its own state: in the object's status, under `status.kopf`.

kopf remembers what it last handled (its diff base: the spec as of the last success) and
the progress of handlers that are retrying. Kept in annotations (as before), every
successful reconcile cost two writes: the object for the diff base, then its status
subresource for the reconcile's status. Kept in the status, the two are one write (issue
14: a request less per Tenant, and a watch event less for every watcher).

The status is also out of Git's reach: a Tenant applied from a repository cannot carry a
forged "already handled" record (the API server drops `status` on writes to the object).
Every CRD keeps `status.kopf` (api/crd.py).

Objects handled by an earlier version carry the diff base as an annotation. It is not
read: such an object is handled once more as if new (the same idempotent reconcile kopf
runs on resume at every start), and that write removes the annotation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kopf

from mooring.api.names import KOPF_DIFF_BASE, KOPF_PREFIX, KOPF_STATUS


class StatusDiffBase(kopf.StatusDiffBaseStorage):
    """status.kopf.last-handled-configuration; an earlier version's annotation is removed."""

    def __init__(self) -> None:
        super().__init__(name=KOPF_STATUS)  # status.kopf

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        # kopf's own annotations (an earlier version's) are not part of what was asked for.
        annotations = essence.get("metadata", {}).get("annotations", {})
        self.remove_annotations(
            essence, {k for k in annotations if k.startswith(f"{KOPF_PREFIX}/")}
        )
        self.remove_empty_stanzas(essence)
        return essence

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        super().store(body=body, patch=patch, essence=essence)
        if KOPF_DIFF_BASE in body.metadata.annotations:
            patch.metadata.annotations[KOPF_DIFF_BASE] = None


def diffbase_storage() -> kopf.DiffBaseStorage:
    return StatusDiffBase()


def progress_storage() -> kopf.ProgressStorage:
    """status.kopf.progress (and status.kopf.dummy, written to wake a delayed retry)."""
    return kopf.StatusProgressStorage(name=KOPF_STATUS)
