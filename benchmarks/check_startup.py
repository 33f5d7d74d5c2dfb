"""Benchmark: where `mooring check` on one small file spends its time, step by step.

Run: .venv/bin/python benchmarks/check_startup.py [--runs R] [--no-instructions]

One file of 5 generated manifests (as guardrails_check.py's small-file figure), checked as
CI checks a pull request: alone, with the PlatformConfig (`--platform`), and with a Tenant
file (`--tenant`). Then a ladder of what the Mooring documents add: each step is a fresh
process that imports what the plain check imports, then a little more (pydantic, the
models, one validation of the PlatformConfig, `mooring validate`'s checks), with
pydantic's plugin lookup off, as `mooring check` has it.

Two measures:
- wall time, best and median of R rounds, the commands taking turns (other work on the
  machine slows them alike);
- instructions executed (valgrind's cachegrind, from Debian's `valgrind` package, when it
  is installed): the same on every run, so a step's cost can be told apart from the
  machine's noise. Process start-up is mostly imports, so instructions follow time
  closely, though not exactly (not every instruction costs the same).
The bytecode of every module is compiled first (in a folder of its own), as a wheel
installed by pip has it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import guardrails_corpus as corpus
from guardrails_check import with_bytecode

# The modules the plain check imports, then what `mooring check` does before it reads
# anything: no pydantic plugin search.
PLAIN = "import mooring.cli.main, mooring.cli.check; mooring.cli.check._no_pydantic_plugins()"
VALIDATE = (
    "import yaml; from mooring.api.platform import PlatformConfig; "
    "PlatformConfig.model_validate(yaml.safe_load(open({platform!r})))"
)

TENANT = {
    "apiVersion": "mooring.dev/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "team-0"},
    "spec": {"owners": {"users": ["alice"]}, "environments": [{"name": "dev"}]},
}


def ladder(platform: Path) -> list[tuple[str, str]]:
    """(step, code): each step's code does the previous steps' work, then its own."""
    steps = [
        ("python, no imports", "pass"),
        ("+ what the plain check imports (CLI, YAML, rules)", PLAIN),
        ("+ pydantic (BaseModel)", "from pydantic import BaseModel"),
        ("+ Mooring's base model", "import mooring.api.base"),
        ("+ the PlatformConfig's models", "import mooring.api.platform"),
        ("+ one PlatformConfig validated", VALIDATE.format(platform=str(platform))),
        ("+ `mooring validate`'s checks", "import mooring.core.validate"),
    ]
    out = [steps[0]]
    code = ""
    for name, step in steps[1:]:
        code = f"{code}; {step}" if code else step
        out.append((name, code))
    return out


def wall_times(
    commands: dict[str, list[str]], runs: int, env: dict[str, str]
) -> dict[str, list[float]]:
    """Each command's wall times over `runs` rounds, the commands taking turns."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, env=env, check=False)
            times[name].append(time.perf_counter() - started)
            if done.returncode not in (0, 1):
                raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stderr[-2000:]!r}")
    return times


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions the process executed (its forks not counted), by valgrind."""
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
        + argv,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    for line in done.stderr.splitlines():
        if "I" in line and "refs:" in line:
            return int(line.rsplit(":", 1)[1].strip().replace(",", ""))
    raise SystemExit(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-instructions", action="store_true", help="wall time only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        corpus.generate(folder / "corpus", manifests=5, per_file=5)
        one = folder / "corpus" / "app-00000.yaml"
        platform = corpus.write_platform(folder / "platform.yaml")
        tenant = folder / "tenant.yaml"
        tenant.write_text(yaml.safe_dump(TENANT))
        env = with_bytecode(str(folder / "pycache"))
        mooring = [sys.executable, "-m", "mooring.cli", "check", str(one)]
        # One process judges: the figures are the work, not how it is shared.
        commands = {
            "mooring check, one file": [*mooring, "-j", "1"],
            "... --platform": [*mooring, "-j", "1", "--platform", str(platform)],
            "... --tenant": [*mooring, "-j", "1", "--tenant", str(tenant)],
        }
        for name, code in ladder(platform):
            commands[name] = [sys.executable, "-c", code]
        for argv in commands.values():  # compiles the bytecode; not timed
            subprocess.run(argv, capture_output=True, env=env, check=False)
        print(f"load average {os.getloadavg()[0]:.2f}; {args.runs} rounds", flush=True)
        times = wall_times(commands, args.runs, env)
        print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
        counting = not args.no_instructions and shutil.which("valgrind") is not None
        previous: int | None = None
        for name, argv in commands.items():
            count = instructions(argv, env) if counting else None
            best, median = min(times[name]), statistics.median(times[name])
            line = f"  {name:<52} best {best * 1000:5.0f} ms, median {median * 1000:5.0f} ms"
            if count is not None:
                step = ""
                if name.startswith("+") and previous is not None:
                    step = f" ({(count - previous) / 1e6:+6.0f} M)"
                line += f", {count / 1e6:6.0f} M instructions{step}"
                previous = count
            print(line, flush=True)
        if not counting and not args.no_instructions:
            print("  (instructions not counted: no valgrind here; apt-get install valgrind)")


if __name__ == "__main__":
    main()
