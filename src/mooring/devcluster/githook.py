"""The local Git repository's post-receive hook: tell Argo CD about a push, as a webhook would.

Side effects: reads the pushed refs on standard input, runs `git diff --name-only` in the bare
repository, and PATCHes annotations through the API server (client certificate from the
hook's JSON configuration): `argocd.argoproj.io/application-set-refresh` on ApplicationSets
that read this repository, `argocd.argoproj.io/refresh=normal` on Applications whose files
changed. Which Applications is Argo CD's own webhook rule (util/app/path in Argo CD): an
Application with `argocd.argoproj.io/manifest-generate-paths` is refreshed only when a changed
file is under one of those paths; one without it on every push.

Standard library only, and quick: it runs inside `git push`.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ZERO = "0" * 40
ARGO = "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/{plural}"
GENERATE_PATHS = "argocd.argoproj.io/manifest-generate-paths"


def refresh_paths(app: dict[str, Any], source: dict[str, Any]) -> list[str]:
    """Pure: the paths whose changes concern this source of the Application (Argo CD's rule)."""
    annotation = (app.get("metadata", {}).get("annotations") or {}).get(GENERATE_PATHS, "")
    paths = []
    for item in annotation.split(";"):
        if not item:
            continue
        if item.startswith("/"):
            paths.append(item[1:])
        else:
            paths.append(posixpath.normpath(posixpath.join(source.get("path") or ".", item)))
    return paths


def files_changed(paths: list[str], changed: list[str]) -> bool:
    """Pure: does any changed file fall under one of `paths`? (No paths: always.)"""
    if not changed or not paths:
        return True
    for file in changed:
        for path in paths:
            if file == path or file.startswith(path.rstrip("/") + "/") or path in (".", ""):
                return True
            if fnmatch.fnmatchcase(file, path):
                return True
    return False


def applications_to_refresh(
    apps: Iterable[dict[str, Any]], repo: str, branch: str, changed: list[str]
) -> list[str]:
    """Pure: names of the Applications that read `branch` of `repo` and whose files changed."""
    names = []
    for app in apps:
        spec = app.get("spec") or {}
        sources = spec.get("sources") or ([spec["source"]] if spec.get("source") else [])
        for source in sources:
            if source.get("repoURL") != repo:
                continue
            if source.get("targetRevision", "HEAD") not in (branch, "HEAD", f"refs/heads/{branch}"):
                continue
            if files_changed(refresh_paths(app, source), changed):
                names.append(app["metadata"]["name"])
                break
    return names


class _Api:
    def __init__(self, config: dict[str, str]) -> None:
        self.server = config["server"]
        self.namespace = config.get("namespace", "argocd")
        self.context = ssl.create_default_context(cafile=config["ca"])
        self.context.load_cert_chain(config["cert"], config["key"])

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        if body is not None:
            request.add_header("Content-Type", "application/merge-patch+json")
        with urllib.request.urlopen(request, context=self.context, timeout=10) as response:
            return json.loads(response.read())

    def items(self, plural: str) -> list[dict[str, Any]]:
        path = ARGO.format(namespace=self.namespace, plural=plural)
        items: list[dict[str, Any]] = self.call("GET", path).get("items", [])
        return items

    def annotate(self, plural: str, name: str, key: str, value: str) -> None:
        path = ARGO.format(namespace=self.namespace, plural=plural) + f"/{name}"
        self.call("PATCH", path, {"metadata": {"annotations": {key: value}}})


def _changed(git_dir: Path, old: str, new: str) -> list[str]:
    if old == ZERO:
        args = ["ls-tree", "-r", "--name-only", new]
    else:
        args = ["diff", "--name-only", old, new]
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=False
    )
    return done.stdout.split()


def main() -> None:
    git_dir = Path.cwd()  # git runs hooks in the bare repository
    config = json.loads((git_dir / "hooks" / "mooring-refresh.json").read_text())
    api = _Api(config)
    for line in sys.stdin.read().splitlines():
        old, new, ref = line.split()
        if not ref.startswith("refs/heads/") or new == ZERO:
            continue
        branch = ref.removeprefix("refs/heads/")
        changed = _changed(git_dir, old, new)
        try:
            for appset in api.items("applicationsets"):
                if config["repo"] in json.dumps(appset.get("spec", {}).get("generators", [])):
                    name = appset["metadata"]["name"]
                    api.annotate(
                        "applicationsets",
                        name,
                        "argocd.argoproj.io/application-set-refresh",
                        "true",
                    )
            apps = api.items("applications")
            for name in applications_to_refresh(apps, config["repo"], branch, changed):
                api.annotate("applications", name, "argocd.argoproj.io/refresh", "normal")
        except OSError as error:  # Argo CD down: the push stands, polling catches up
            print(f"mooring: could not notify Argo CD ({error}); it will poll", file=sys.stderr)


if __name__ == "__main__":
    main()
