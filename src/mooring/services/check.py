"""`mooring check`'s job: read manifests, judge every workload, say where each finding is.

Side effects: reads files, folders and standard input; on large inputs, forks worker
processes (one per core) that each parse a share of the files while this process reads
the setup, then judge it.

Reading is two-speed. Every file is first parsed with libyaml straight into Python objects
(no source positions: the fast path). Only the files that have findings are parsed again
keeping YAML nodes, to turn each finding's field path into a line and column. Mooring's own
documents among the inputs (PlatformConfig, Tenants, PolicyExceptions) are read in this
process, since they decide modes, parameters and exceptions for the rest: workers parse
meanwhile, then judge with the contexts and modes settled for the namespaces they met.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import yaml

from mooring.api import yamlfast
from mooring.api.documents import (
    Document,
    DocumentError,
    PathItem,
    Position,
    iter_documents,
    model_errors,
)
from mooring.api.names import GROUP
from mooring.core.policy.check import Finding, Judge, describe, expand_lists, namespace_of
from mooring.core.policy.engine import Engine
from mooring.core.policy.rules import select
from mooring.services import cel_store
from mooring.services.sources import STDIN, SourceError, Text, read_texts

if TYPE_CHECKING:
    # Imported when a Mooring document is among the inputs (mooring_model): plain manifests
    # are judged without the models, and without pydantic (a CI step's start-up time).
    from pydantic import BaseModel

    from mooring.api.exceptions import PolicyException
    from mooring.api.platform import PlatformConfig
    from mooring.api.tenant import Tenant

# Parallel work pays off from about this many bytes of YAML.
PARALLEL_FROM_BYTES = 2 * 1024 * 1024
# The native quick check (engine.py) pays off from about this many objects of a kind; in
# inputs of NATIVE_ALL_FROM_BYTES or more, from the first.
NATIVE_FROM = 200
NATIVE_ALL_FROM_BYTES = 512 * 1024
# Mooring's kinds that `check` reads as its setup (mooring_model gives their models).
MOORING_KINDS = ("PlatformConfig", "Tenant", "PolicyException")


def mooring_model(kind: str) -> type[BaseModel] | None:
    """The model of one of MOORING_KINDS, imported when a document of that kind is read
    (each model module builds its classes at import); None for another kind."""
    if kind == "PlatformConfig":
        from mooring.api.platform import PlatformConfig

        return PlatformConfig
    if kind == "Tenant":
        from mooring.api.tenant import Tenant

        return Tenant
    if kind == "PolicyException":
        from mooring.api.exceptions import PolicyException

        return PolicyException
    return None


@dataclass(frozen=True)
class Located:
    """A finding with the file, line and column it points at."""

    finding: Finding
    position: Position
    path: tuple[PathItem, ...]  # from the document's root (a List item's path included)


@dataclass
class Setup:
    """What judging needs besides the workloads: from the inputs and the options."""

    platform: PlatformConfig | None = None
    tenants: list[Tenant] = field(default_factory=list)
    exceptions: list[PolicyException] = field(default_factory=list)
    default_namespace: str | None = None
    rules: tuple[str, ...] = ()
    now: datetime | None = None
    list_objects: bool = False  # keep (file, object) of every judged object
    native_from: int = NATIVE_FROM  # engine.py: the native quick check from this object on


@dataclass
class Outcome:
    findings: list[Located] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)  # unreadable or not Kubernetes
    invalid: list[tuple[Position, str]] = field(default_factory=list)  # bad Mooring documents
    setup: Setup = field(default_factory=Setup)
    files: int = 0
    documents: int = 0
    judged: int = 0  # objects some rule looked at
    # (file, object) of each judged object, when asked for (JUnit lists passing ones too).
    objects: list[tuple[str, str]] = field(default_factory=list)


# -- reading ----------------------------------------------------------------------------------


# Findings of `mooring validate` that check already reports its own way (schema errors,
# a second PlatformConfig), or that need the whole repository, which check is rarely given
# (a team checks its manifests with its own tenant file, or none; a PlatformConfig may come
# from elsewhere, or not at all).
_REPORTED = frozenset(
    {"schema", "duplicate-platform", "no-platform", "unknown-tenant", "database-not-in-tenant"}
)


def read_setup(texts: Sequence[Text], setup: Setup, outcome: Outcome) -> None:
    """Collect PlatformConfig, Tenants and PolicyExceptions from the inputs into `setup`;
    what `mooring validate` finds wrong with them is reported as invalid, so the same bad
    tenant fails both commands alike."""
    mooring: list[Document] = []
    seen: set[str] = set()
    for source in texts:
        if f"{GROUP}/" not in source.text or source.name in seen:
            continue  # a file given twice (--tenant and among PATHS) counts once
        seen.add(source.name)
        try:
            documents = list(iter_documents(source.text, source.name))
        except DocumentError:
            continue  # reported when the file is read for workloads
        for document in documents:
            if add_mooring_document(document, setup, outcome):
                mooring.append(document)
    if mooring:
        from mooring.core.validate import validate_documents

        _, findings = validate_documents(mooring)
        for finding in findings:
            if finding.severity != "error" or finding.code in _REPORTED - {"schema"}:
                continue
            if finding.code == "schema" and _kind(finding.document) in MOORING_KINDS:
                continue  # reported by add_mooring_document
            where = finding.document.position(finding.path) if finding.document else None
            field_ = f"{finding.field_path}: " if finding.field_path else ""
            outcome.invalid.append(
                (
                    where or Position("(repository)", 1),
                    f"{finding.code}: {field_}{finding.message}",
                )
            )


def _kind(document: Document | None) -> str | None:
    obj = document.obj if document is not None else None
    return str(obj.get("kind")) if isinstance(obj, dict) else None


def add_mooring_document(document: Document, setup: Setup, outcome: Outcome) -> bool:
    """Add a Mooring document to the setup (its schema errors to `outcome`); False if the
    document is not one of Mooring's."""
    obj = document.obj
    if not isinstance(obj, dict) or str(obj.get("apiVersion", "")).rpartition("/")[0] != GROUP:
        return False
    model = mooring_model(str(obj.get("kind")))
    if model is None:
        return True  # an unknown kind of Mooring's: validate says so
    instance, errors = model_errors(model, obj)
    for error in errors:
        outcome.invalid.append(
            (document.position(error.path), f"{obj.get('kind')}: {error.dotted}: {error.message}")
        )
    _add(instance, document, setup, outcome)
    return True


def _add(instance: BaseModel | None, document: Document, setup: Setup, outcome: Outcome) -> None:
    # Each model is imported only if an instance of it was read (mooring_model).
    kind = type(instance).__name__ if instance is not None else None
    if kind == "PlatformConfig":
        from mooring.api.platform import PlatformConfig

        assert isinstance(instance, PlatformConfig)
        if setup.platform is not None:
            outcome.invalid.append(
                (document.position(), "a second PlatformConfig among the inputs; give one")
            )
        else:
            setup.platform = instance
    elif kind == "Tenant":
        from mooring.api.tenant import Tenant

        assert isinstance(instance, Tenant)
        setup.tenants.append(instance)
    elif kind == "PolicyException":
        from mooring.api.exceptions import PolicyException

        assert isinstance(instance, PolicyException)
        if instance.metadata.namespace is None and setup.default_namespace is not None:
            instance = instance.model_copy(
                update={
                    "metadata": instance.metadata.model_copy(
                        update={"namespace": setup.default_namespace}
                    )
                }
            )
        setup.exceptions.append(instance)


# -- judging ----------------------------------------------------------------------------------


@dataclass
class _Share:
    findings: list[Located] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    documents: int = 0
    judged: int = 0
    objects: list[tuple[str, str]] = field(default_factory=list)


# What may follow `---` on a marker line: a blank, a line break, or the end of the text.
_AFTER_MARKER = ("", " ", "\t", "\r", "\n")


def _markers(text: str) -> list[int]:
    """Where each line that is a document marker (`---` then a blank, a line break or the
    end) starts. str.find, not a MULTILINE `^---` expression: Python's re tries `^` at
    every character (about 15 us a manifest, more than reading it natively)."""
    found = []
    line = 0
    while True:
        if text.startswith("---", line) and text[line + 3 : line + 4] in _AFTER_MARKER:
            found.append(line)
        line = text.find("\n---", line) + 1
        if not line:
            return found


def _awkward(text: str) -> bool:
    """A line starts with `...` (a document end) or `%` (a directive)."""
    return text.startswith(("...", "%")) or "\n..." in text or "\n%" in text


def split_documents(text: str) -> list[tuple[int, str]]:
    """The text cut at its `---` lines, each part with the number of lines before it.

    A line starting with `---` always starts a document (YAML forbids it inside scalars),
    so each part parses alone, and only the part with a finding is read again to find its
    lines. Texts with `...` or directives stay whole.
    """
    if _awkward(text):
        return [(0, text)]
    starts = _markers(text)
    if not starts:
        return [(0, text)]
    bounds = [0, *starts, len(text)] if starts[0] else [*starts, len(text)]
    parts = []
    line = 0
    previous = 0
    for begin, finish in itertools.pairwise(bounds):
        line += text.count("\n", previous, begin)
        previous = begin
        parts.append((line, text[begin:finish]))
    return parts


@dataclass
class _Parsed:
    """One file read fast: each `---` part with its line offset and its objects, or the
    error that stopped its reading (in `share`)."""

    name: str
    parts: list[tuple[int, str, list[Any]]] = field(default_factory=list)
    share: _Share = field(default_factory=_Share)


def parse_text(source: Text) -> _Parsed:
    """Parse one file fast (no positions); a part that does not parse stops the file."""
    parsed = _Parsed(source.name)
    for offset, part in split_documents(source.text):
        try:
            parsed.parts.append((offset, part, yamlfast.safe_load_all(part)))
        except yamlfast.Refused as refused:
            position = Position(source.name, refused.line + offset, refused.column)
            parsed.share.errors.append(SourceError(position, refused.message))
            parsed.parts.clear()
            return parsed
        except yaml.YAMLError:
            parsed.share.errors.append(_yaml_error(source))
            parsed.parts.clear()
            return parsed
    return parsed


def _judged_items(
    objects: list[Any], engine: Engine
) -> Iterator[tuple[int, tuple[PathItem, ...], Any]]:
    """(document index, path of a List item, item) of each item that is not a Kubernetes
    object (item None) or that a rule looks at; Mooring's own documents are left out."""
    for index, obj in enumerate(objects):
        if obj is None:
            continue
        for prefix, item in expand_lists(obj):
            if not _is_object(item):
                yield index, prefix, None
            elif str(item.get("apiVersion", "")).rpartition("/")[0] == GROUP:
                continue  # Mooring's own: part of the setup
            elif engine.applies(item):
                yield index, prefix, item


def namespaces_of(parsed: _Parsed, engine: Engine, default: str | None) -> set[str | None]:
    """The namespaces of the objects in a parsed file that some rule looks at."""
    return {
        namespace_of(item, default)
        for _, _, objects in parsed.parts
        for _, _, item in _judged_items(objects, engine)
        if item is not None
    }


def judge_parsed(parsed: _Parsed, judge: Judge, list_objects: bool = False) -> _Share:
    """Judge a parsed file's objects, then locate the findings in a second pass."""
    share = parsed.share
    for offset, part, objects in parsed.parts:
        found: list[tuple[int, tuple[PathItem, ...], Finding]] = []
        not_objects: list[int] = []
        share.documents += sum(obj is not None for obj in objects)
        for index, prefix, item in _judged_items(objects, judge.engine):
            if item is None:
                not_objects.append(index)
                continue
            share.judged += 1
            if list_objects:
                share.objects.append((parsed.name, describe(item)))
            found += [(index, prefix, f) for f in judge.findings(item)]
        if found or not_objects:
            _locate(parsed.name, offset, part, found, not_objects, share)
    return share


def judge_text(source: Text, judge: Judge, list_objects: bool = False) -> _Share:
    """Parse one file fast, judge its objects, then locate the findings in a second pass."""
    return judge_parsed(parse_text(source), judge, list_objects)


def _locate(
    name: str,
    offset: int,
    part: str,
    found: list[tuple[int, tuple[PathItem, ...], Finding]],
    not_objects: list[int],
    share: _Share,
) -> None:
    wanted: dict[int, set[tuple[PathItem, ...]]] = {}
    for index in not_objects:
        wanted.setdefault(index, set()).add(())
    for index, prefix, finding in found:
        wanted.setdefault(index, set()).add((*prefix, *finding.path))
    try:
        marks = yamlfast.locate(part, wanted)
    except (yaml.YAMLError, RecursionError):
        marks = {}
    for index in not_objects:
        share.errors.append(
            SourceError(
                _position(name, offset, marks, index, ()),
                "not a Kubernetes object: a document needs apiVersion and kind",
            )
        )
    for index, prefix, finding in found:
        path = (*prefix, *finding.path)
        share.findings.append(Located(finding, _position(name, offset, marks, index, path), path))


def _position(
    name: str,
    offset: int,
    marks: dict[tuple[int, tuple[PathItem, ...]], yamlfast.Mark],
    index: int,
    path: tuple[PathItem, ...],
) -> Position:
    """Where the deepest existing node along `path` starts."""
    for length in range(len(path), -1, -1):
        mark = marks.get((index, path[:length]))
        if mark is not None:
            return Position(name, mark[0] + offset, mark[1])
    return Position(name, offset + 1)


def _is_object(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("apiVersion"), str)
        and isinstance(item.get("kind"), str)
    )


def _yaml_error(source: Text) -> SourceError:
    try:
        for _ in iter_documents(source.text, source.name):
            pass
    except DocumentError as error:
        return SourceError(error.position, error.message)
    return SourceError(Position(source.name, 1), "not valid YAML")


# -- parallel work ----------------------------------------------------------------------------

# Inherited by forked workers: the texts, whether to list objects, the engine (made in the
# parent: its native checks compiled once), the default namespace and the time.
_WORK: tuple[list[Text], bool, Engine, str | None, datetime] | None = None


def _engine_for(setup: Setup) -> Engine:
    return Engine(
        select(setup.rules),
        stored=cel_store.stored,
        keep=cel_store.keep,
        native_from=setup.native_from,
    )


def _judge_for(setup: Setup, engine: Engine) -> Judge:
    platform = setup.platform.spec if setup.platform is not None else None
    assert setup.now is not None
    return Judge(
        platform=platform,
        now=setup.now,
        tenants=setup.tenants,
        exceptions=setup.exceptions,
        default_namespace=setup.default_namespace,
        engine=engine,
    )


class _Gone(RuntimeError):
    """The process at the other end of a link stopped without an answer."""


class _Link:
    """One end of a pair of pipes to a forked process: pickled messages each way."""

    def __init__(self, read: int, write: int) -> None:
        self.fds = (read, write)
        self._reader = os.fdopen(read, "rb")
        self._writer = os.fdopen(write, "wb")

    def send(self, message: Any) -> None:
        import pickle

        pickle.dump(message, self._writer, protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.flush()

    def receive(self, what: str) -> Any:
        """The next message, which must be tagged `what`; a worker's failure raised here."""
        import pickle

        try:
            tag, value = pickle.load(self._reader)
        except EOFError:
            raise _Gone("a `mooring check` worker process stopped without an answer") from None
        if tag == "failed":
            raise RuntimeError(f"a `mooring check` worker process failed:\n{value}")
        assert tag == what, (tag, what)
        return value

    def close(self) -> None:
        for end in (self._reader, self._writer):
            with contextlib.suppress(OSError):  # a pipe whose reader is gone
                end.close()


def _fork(indexes: list[int], others: Sequence[_Link]) -> tuple[int, _Link]:
    """A worker for the files at `indexes` (os.fork and two pipes: importing
    multiprocessing alone costs about 30 ms of CPU, a tenth of a small check)."""
    down_read, down_write = os.pipe()
    up_read, up_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        status = 1
        try:
            os.close(down_write)
            os.close(up_read)
            for other in others:  # the parent's ends to earlier workers
                for fd in other.fds:
                    os.close(fd)
            _worker(_Link(down_read, up_write), indexes)
            status = 0
        finally:
            os._exit(status)  # no atexit handlers, no flush of the parent's buffers
    os.close(down_read)
    os.close(up_write)
    return pid, _Link(up_read, down_write)


def _worker(link: _Link, indexes: list[int]) -> None:
    """A forked worker: parse its files and say which namespaces they have; take the
    settled contexts and modes of those; judge, and send the shares back."""
    assert _WORK is not None
    texts, list_objects, engine, default_namespace, now = _WORK
    try:
        # The parsed files stay alive until judged: the collector would walk them again
        # at each full collection while more are read. Frozen, it leaves them alone.
        gc.disable()
        parsed = [(i, parse_text(texts[i])) for i in indexes]
        gc.freeze()
        gc.enable()
        seen: set[str | None] = set()
        for _, one in parsed:
            seen |= namespaces_of(one, engine, default_namespace)
        link.send(("namespaces", seen))
        settled = link.receive("settled")
        judge = Judge.settled(settled, now=now, engine=engine, default_namespace=default_namespace)
        link.send(("shares", [(i, judge_parsed(one, judge, list_objects)) for i, one in parsed]))
    except _Gone:
        pass  # the parent stopped: no one to tell
    except BaseException:  # told to the parent, which raises it
        import traceback

        link.send(("failed", traceback.format_exc()))
    finally:
        link.close()


def _chunks(texts: Sequence[Text], count: int) -> list[list[int]]:
    """Indexes in `count` groups of about equal bytes, biggest files dealt first."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i].text))
    groups: list[list[int]] = [[] for _ in range(count)]
    sizes = [0] * count
    for i in order:
        smallest = sizes.index(min(sizes))
        groups[smallest].append(i)
        sizes[smallest] += len(texts[i].text)
    return [g for g in groups if g]


def _in_parallel(
    texts: list[Text], mooring: list[Text], setup: Setup, outcome: Outcome, count: int
) -> Iterator[tuple[int, _Share]]:
    """`count` workers parse their share of the files while this process reads the setup
    (the platform's models load meanwhile); they then judge with the contexts and modes
    of the namespaces they met, settled here as plain data."""
    global _WORK
    engine = _engine_for(setup)
    engine.prepare()
    assert setup.now is not None
    _WORK = (texts, setup.list_objects, engine, setup.default_namespace, setup.now)
    workers: list[tuple[int, _Link]] = []
    done = False
    try:
        for chunk in _chunks(texts, count):
            workers.append(_fork(chunk, [link for _, link in workers]))
        _WORK = None
        read_setup(mooring, setup, outcome)
        judge = _judge_for(setup, engine)
        namespaces: set[str | None] = set()
        for _, link in workers:
            namespaces |= link.receive("namespaces")
        settled = judge.settle(namespaces)
        for _, link in workers:
            link.send(("settled", settled))
        for _, link in workers:
            yield from link.receive("shares")
        done = True
    finally:
        _WORK = None
        for pid, link in workers:
            link.close()
            if not done:  # stopped by an error here: the workers' work is not wanted
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _shares(
    texts: list[Text],
    mooring: list[Text],
    setup: Setup,
    outcome: Outcome,
    jobs: int,
    parallel_from: int,
) -> Iterator[tuple[int, _Share]]:
    """Each file's share of the outcome, by index; read_setup's part goes to `outcome`."""
    total = sum(len(t.text) for t in texts)
    if total >= NATIVE_ALL_FROM_BYTES:
        setup.native_from = 0
    if jobs > 1 and total >= parallel_from and len(texts) >= 2:
        # What is alive now (modules, the texts) lives to the end: frozen, the collector
        # does not walk it again at each full collection, and forked workers do not
        # write to its pages (copy on write) when they collect.
        gc.freeze()
        try:
            yield from _in_parallel(texts, mooring, setup, outcome, jobs)
        finally:
            gc.unfreeze()
        return
    read_setup(mooring, setup, outcome)
    judge = _judge_for(setup, _engine_for(setup))
    for i, text in enumerate(texts):
        yield i, judge_text(text, judge, setup.list_objects)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check(
    paths: Sequence[str],
    *,
    now: datetime,
    platform_paths: Sequence[str] = (),
    tenant_paths: Sequence[str] = (),
    namespace: str | None = None,
    rules: Sequence[str] = (),
    jobs: int = 1,
    parallel_from: int = PARALLEL_FROM_BYTES,
    stdin_name: str = STDIN,
    list_objects: bool = False,
) -> Outcome:
    """Read, set up, judge, locate. Unknown rule ids raise KeyError (the caller checks first).

    Work is shared by `jobs` processes when the input has at least `parallel_from` bytes.
    Standard input is named `stdin_name`; `list_objects` keeps every judged object's name.
    """
    select(tuple(rules))
    outcome = Outcome()
    setup = Setup(
        default_namespace=namespace, rules=tuple(rules), now=now, list_objects=list_objects
    )
    extra, extra_errors = read_texts([*platform_paths, *tenant_paths])
    texts, errors = read_texts(paths, stdin_name=stdin_name)
    outcome.errors += extra_errors + errors
    outcome.files = len(texts)
    outcome.setup = setup
    shares = _shares(texts, [*extra, *texts], setup, outcome, jobs, parallel_from)
    results = sorted(shares, key=lambda pair: pair[0])
    for _, share in results:
        outcome.findings += share.findings
        outcome.errors += share.errors
        outcome.documents += share.documents
        outcome.judged += share.judged
        outcome.objects += share.objects
    return outcome
