"""scripts/debian-packages: installs what is missing and stops only the services its own
install started, never a system PostgreSQL (or Prometheus) that was running before.

apt, dpkg and the init system cannot be exercised for real inside a test (they change the
machine), so they are replaced on PATH by small scripts that keep the machine's state in a
folder: which packages are installed, which services run. The script under test is the
real one.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mooring.devcluster.binaries import repository_root

SCRIPT = repository_root() / "scripts" / "debian-packages"

STUBS = {
    "dpkg-query": """#!/bin/sh
for last; do :; done
[ -e "$STATE/installed/$last" ] && printf 'install ok installed' && exit 0
exit 1
""",
    "apt-get": """#!/bin/sh
echo "apt-get $*" >> "$STATE/log"
[ "$1" = install ] || exit 0
for arg; do
  case "$arg" in -*|install) ;; *) touch "$STATE/installed/$arg" "$STATE/running/$arg";; esac
done
""",
    "service": """#!/bin/sh
echo "service $*" >> "$STATE/log"
case "$2" in
  status) [ -e "$STATE/running/$1" ] && exit 0; exit 3;;
  stop) rm -f "$STATE/running/$1";;
esac
""",
    "id": "#!/bin/sh\necho 0\n",
}


def machine(tmp_path: Path, installed: set[str], running: set[str]) -> dict[str, str]:
    """A pretend machine: returns the environment to run the script in."""
    state = tmp_path / "state"
    for folder in ("installed", "running"):
        (state / folder).mkdir(parents=True)
    for package in installed:
        (state / "installed" / package).touch()
    for service in running:
        (state / "running" / service).touch()
    (state / "log").touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in STUBS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(state)}


def run(env: dict[str, str]) -> tuple[set[str], list[str]]:
    done = subprocess.run(
        [str(SCRIPT), "postgresql", "prometheus"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    state = Path(env["STATE"])
    running = {p.name for p in (state / "running").iterdir()}
    return running, (state / "log").read_text().splitlines()


@pytest.mark.parametrize(
    ("installed", "running_before", "running_after"),
    [
        ({"postgresql"}, {"postgresql"}, {"postgresql"}),
        (set(), {"postgresql"}, {"postgresql"}),
        (set(), set(), set()),
        ({"prometheus"}, {"prometheus"}, {"prometheus"}),
    ],
    ids=[
        "a system PostgreSQL stays up when only Prometheus is installed",
        "a PostgreSQL running before the install stays up",
        "services the install started are stopped",
        "a system Prometheus stays up when only PostgreSQL is installed",
    ],
)
def test_only_services_the_install_started_are_stopped(
    tmp_path: Path, installed: set[str], running_before: set[str], running_after: set[str]
) -> None:
    running, log = run(machine(tmp_path, installed, running_before))
    assert running == running_after
    for service in running_before:
        assert f"service {service} stop" not in log


def test_nothing_is_installed_or_stopped_when_nothing_is_missing(tmp_path: Path) -> None:
    both = {"postgresql", "prometheus"}
    running, log = run(machine(tmp_path, both, {"postgresql"}))
    assert running == {"postgresql"}
    assert log == []
