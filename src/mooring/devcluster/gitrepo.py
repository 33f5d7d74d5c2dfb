"""A local Git server for the platform repository: a bare repository and a working clone.

Side effects: runs `git` (Debian's) in a state folder: `init --bare`, clone, commit, branch,
merge, push. Argo CD reads the bare repository by its file:// URL; no Git server runs. The
bare repository's post-receive hook (devcluster/githook.py) tells Argo CD about each push, as
a Git host's webhook does in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

AUTHOR = {
    "GIT_AUTHOR_NAME": "Mooring dev",
    "GIT_AUTHOR_EMAIL": "dev@mooring.invalid",
    "GIT_COMMITTER_NAME": "Mooring dev",
    "GIT_COMMITTER_EMAIL": "dev@mooring.invalid",
}


class GitError(RuntimeError):
    """A git command failed; the message has the command and git's own words."""


@dataclass(frozen=True)
class HookTarget:
    """Where the post-receive hook sends refreshes: the API server and a client identity."""

    server: str
    ca: Path
    cert: Path
    key: Path
    namespace: str = "argocd"


class LocalGitRepo:
    """<root>/platform.git (the 'remote') and <root>/work (a clone to commit from)."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.root = root
        self.bare = root / "platform.git"
        self.work = root / "work"
        self.branch = branch

    @property
    def url(self) -> str:
        return self.bare.resolve().as_uri()

    def exists(self) -> bool:
        return (self.bare / "HEAD").is_file()

    def create(self) -> None:
        """An empty bare repository with `branch` as its default, and a clone of it."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.exists():
            branch = f"--initial-branch={self.branch}"
            self._git(self.root, "init", "--bare", branch, str(self.bare))
        if not (self.work / ".git").exists():
            self._git(self.root, "clone", "--quiet", self.url, str(self.work))
            self._git(self.work, "checkout", "--quiet", "-B", self.branch)

    def install_hook(self, target: HookTarget | None) -> None:
        """post-receive: refresh Argo CD on every push (None: remove it, polling only)."""
        hook = self.bare / "hooks" / "post-receive"
        config = self.bare / "hooks" / "mooring-refresh.json"
        if target is None:
            hook.unlink(missing_ok=True)
            config.unlink(missing_ok=True)
            return
        config.write_text(
            json.dumps(
                {
                    "server": target.server,
                    "ca": str(target.ca),
                    "cert": str(target.cert),
                    "key": str(target.key),
                    "namespace": target.namespace,
                    "repo": self.url,
                }
            )
        )
        hook.write_text(
            f"#!{sys.executable}\n"
            "# Tells the local Argo CD about this push (Mooring's stand-in for a Git webhook).\n"
            "from mooring.devcluster.githook import main\n\n"
            "main()\n"
        )
        hook.chmod(0o755)

    # -- working with the clone ------------------------------------------------------------------

    def write(self, files: Mapping[str, str]) -> None:
        for relative, text in files.items():
            path = self.work / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def remove(self, *relative: str) -> None:
        self._git(self.work, "rm", "--quiet", "-r", *relative)

    def commit(self, message: str) -> str | None:
        """Commit everything in the clone; None when nothing changed. Returns the new SHA."""
        self._git(self.work, "add", "--all")
        if not self._git(self.work, "status", "--porcelain").strip():
            return None
        self._git(self.work, "commit", "--quiet", "-m", message)
        return self.head()

    def push(self, branch: str | None = None) -> str:
        """Push `branch` (default: the main branch) to the bare repository; the hook runs."""
        name = branch or self.branch
        self._git(self.work, "push", "--quiet", "origin", f"{name}:{name}")
        return self.head(name)

    def checkout(self, branch: str, create: bool = False) -> None:
        """Switch to `branch`; `create`: (re)start it from the current commit."""
        args = ["checkout", "--quiet", *(["-B"] if create else []), branch]
        self._git(self.work, *args)

    def merge(self, branch: str, message: str) -> str:
        """Merge `branch` into the main branch with a merge commit (as a pull request does)."""
        self.checkout(self.branch)
        self._git(self.work, "merge", "--quiet", "--no-ff", "-m", message, branch)
        return self.head()

    def head(self, ref: str = "HEAD") -> str:
        return self._git(self.work, "rev-parse", ref).strip()

    def changed_files(self, base: str, head: str = "HEAD") -> list[str]:
        return self._git(self.work, "diff", "--name-only", base, head).split()

    def _git(self, cwd: Path, *args: str) -> str:
        env = {**os.environ, **AUTHOR, "GIT_TERMINAL_PROMPT": "0"}
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise GitError(f"git {' '.join(args)} (in {cwd}) failed: {done.stderr.strip()}")
        return done.stdout
