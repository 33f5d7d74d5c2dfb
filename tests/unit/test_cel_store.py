"""The compiled CEL programs shipped with Mooring (services/cel_store.py): current, loaded,
and judging every own case as the programs compiled from the rules' text do."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mooring.core.policy.cel import Program
from mooring.core.policy.context import context_object
from mooring.core.policy.engine import Engine, _pack
from mooring.core.policy.rules import select
from mooring.services import cel_store
from tests.policy_cases import CASES, CONTEXTS, Case

REFRESH = "run: .venv/bin/python -m mooring.services.cel_store (then commit the folder)"


def test_the_folder_holds_exactly_the_default_rules_programs() -> None:
    wanted = {f"{program.key}{cel_store.SUFFIX}" for program in cel_store.shipped()}
    held = {path.name for path in cel_store.FOLDER.glob(f"*{cel_store.SUFFIX}")}
    assert len(wanted) == 6  # three targets, without and with exceptions
    assert wanted - held == set(), f"programs missing after a rule changed; {REFRESH}"
    assert held - wanted == set(), f"programs no rule set compiles to any more; {REFRESH}"


def test_every_shipped_program_loads_instead_of_compiling() -> None:
    engine = Engine(stored=cel_store.stored)
    programs = engine.packs()
    assert programs and all(program.loaded for program in programs)
    # The twin: the same engine without the store compiles each of them.
    assert not any(program.loaded for program in Engine().packs())


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_loaded_program_judges_each_case_as_the_compiled_one(case: Case) -> None:
    params = context_object("ns", CONTEXTS[case.context])
    loaded = Engine(stored=cel_store.stored).evaluate(case.obj, params)
    assert loaded == Engine().evaluate(case.obj, params)
    assert loaded == Engine().evaluate(case.obj, params, exact=True)


def test_a_damaged_or_foreign_program_is_compiled_instead() -> None:
    for data in (b"not a program", zlib.compress(b"x")):
        program = Program("object.spec.replicas > 1", bindings=True, stored=lambda _k, d=data: d)
        assert not program.loaded
        assert program.evaluate({"object": {"spec": {"replicas": 2}}}).value is True
    # A well-formed program stored under another text's key is not found for this one.
    other = Program("1 + 1", bindings=True)
    mine = Program("2 + 2", bindings=True, stored={other.key: other.serialize()}.get)
    assert not mine.loaded and mine.evaluate({}).value == 4


def test_refresh_writes_the_missing_and_removes_the_stale(tmp_path: Path) -> None:
    (tmp_path / f"{'0' * 64}{cel_store.SUFFIX}").write_bytes(b"stale")
    written, removed = cel_store.refresh(tmp_path)
    assert len(written) == 6 and removed == [f"{'0' * 64}{cel_store.SUFFIX}"]
    assert cel_store.refresh(tmp_path) == ([], [])  # kept, not rewritten

    def stored(key: str) -> bytes:
        return zlib.decompress((tmp_path / f"{key}{cel_store.SUFFIX}").read_bytes())

    assert all(program.loaded for program in Engine(stored=stored).packs())


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MOORING_CACHE", str(tmp_path / "cache"))
    cel_store.cache_folder.cache_clear()
    yield cel_store.cache_folder()
    cel_store.cache_folder.cache_clear()


def _selected() -> Engine:
    return Engine(
        select(("privileged", "image-tag", "node-port-services")),
        stored=cel_store.stored,
        keep=cel_store.keep,
    )


def test_a_selection_compiled_once_is_loaded_from_the_cache_next_time(cache: Path) -> None:
    _pack.cache_clear()
    first = _selected().packs()
    assert not any(program.loaded for program in first)  # no shipped program covers it
    assert len(list(cache.glob(f"*{cel_store.SUFFIX}"))) == len(first)
    _pack.cache_clear()  # as a new process: the programs are not in memory any more
    again = _selected().packs()
    assert all(program.loaded for program in again)
    assert [p.key for p in again] == [p.key for p in first]
    for case in CASES[:40]:
        params = context_object("ns", CONTEXTS[case.context])
        assert _selected().evaluate(case.obj, params, failing_only=True) == Engine(
            select(("privileged", "image-tag", "node-port-services")), native=False
        ).evaluate(case.obj, params, failing_only=True)
    # The default rules' programs are shipped: nothing of theirs is cached.
    Engine(stored=cel_store.stored, keep=cel_store.keep).packs()
    assert len(list(cache.glob(f"*{cel_store.SUFFIX}"))) == len(first)


def test_a_cache_that_cannot_be_written_costs_the_compile_only(cache: Path) -> None:
    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the folder should be")
    _pack.cache_clear()
    programs = _selected().packs()
    assert programs and not any(program.loaded for program in programs)
    assert all(program.evaluate({"object": {}, "params": {}}) for program in programs)


def test_the_cache_folder_is_named_after_the_cel_library_and_environment(cache: Path) -> None:
    assert cache.parent.name == "cel"
    library, environment = cache.name.split("-")
    assert library != environment and all(int(part, 16) for part in (library, environment))
