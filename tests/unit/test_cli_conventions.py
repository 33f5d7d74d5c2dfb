"""Output conventions like kubectl's, across commands: -o is the format, results on stdout
and everything else on stderr, files from PATH, -f or '-', colour only on a terminal that
wants it, and shell completion that works in a real shell."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mooring.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "platform"
MOORING = [sys.executable, "-m", "mooring.cli"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MOORING, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_render_errors_go_to_stderr_and_stdout_stays_yaml(tmp_path: Path) -> None:
    broken = tmp_path / "tenants.yaml"
    broken.write_text((EXAMPLE / "tenants" / "payments.yaml").read_text() + "  nonsense: 1\n")
    done = run("render", str(EXAMPLE / "platform.yaml"), str(broken))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "error [schema]" in done.stderr
    # Warnings about the input (needs-cilium) go to stderr too; stdout parses as YAML.
    done = run("render", str(EXAMPLE))
    assert done.returncode == 0
    assert "needs-cilium" in done.stderr
    assert all(o["kind"] for o in yaml.safe_load_all(done.stdout))


@pytest.mark.parametrize(
    "command",
    [
        ["render", str(EXAMPLE)],
        ["install", "render"],
        ["policy", "render", str(EXAMPLE)],
    ],
    ids=["render", "install render", "policy render"],
)
def test_objects_print_as_yaml_a_json_list_or_names(command: list[str]) -> None:
    as_yaml = list(yaml.safe_load_all(run(*command).stdout))
    as_json = json.loads(run(*command, "-o", "json").stdout)
    assert as_json["kind"] == "List"
    assert as_json["items"] == as_yaml
    names = run(*command, "--output", "name").stdout.splitlines()
    assert len(names) == len(as_yaml)
    assert all("/" in name and " " not in name for name in names)


def test_o_name_spells_kind_and_group_as_kubectl_does() -> None:
    names = set(run("render", str(EXAMPLE), "-o", "name").stdout.splitlines())
    assert "namespace/payments-dev" in names
    assert "networkpolicy.networking.k8s.io/mooring-default-deny" in names
    assert "tenantview.mooring.dev/payments" in names


def test_o_is_the_format_of_validate_and_check_and_format_still_works(tmp_path: Path) -> None:
    for flag in ("-o", "--output", "--format"):
        done = run("validate", str(EXAMPLE), flag, "json")
        assert "findings" in json.loads(done.stdout), flag
    manifest = tmp_path / "app.yaml"
    manifest.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    done = run("check", str(manifest), "-o", "json")
    assert "summary" in json.loads(done.stdout)
    done = run("cost", "estimate", str(EXAMPLE), "-o", "json")
    assert done.returncode == 0, done.stderr
    assert "tenants" in json.loads(done.stdout)


def test_files_come_from_paths_from_f_and_from_standard_input() -> None:
    tenants = EXAMPLE / "tenants"
    by_path = run("render", str(EXAMPLE / "platform.yaml"), str(tenants))
    by_f = run("render", "-f", str(EXAMPLE / "platform.yaml"), "-f", str(tenants))
    text = "\n---\n".join(
        p.read_text() for p in [EXAMPLE / "platform.yaml", *sorted(tenants.glob("*.yaml"))]
    )
    by_stdin = run("render", "-f", "-", stdin=text)
    assert by_path.returncode == by_f.returncode == by_stdin.returncode == 0, by_stdin.stderr
    assert by_path.stdout == by_f.stdout == by_stdin.stdout
    validated = run("validate", "-", stdin=text)
    assert validated.returncode == 0, validated.stderr
    assert "3 tenant(s) in 1 file(s)" in validated.stderr


def test_a_command_without_any_input_says_how_to_give_one() -> None:
    done = run("render")
    assert done.returncode == 2
    assert "give at least one PATH (or -f PATH)" in done.stderr


def test_every_command_that_talks_to_a_cluster_takes_kubeconfig_and_context() -> None:
    for command in (
        ["diff"],
        ["apply"],
        ["install", "apply"],
        ["db", "list"],
        ["db", "credentials"],
        ["db", "connect"],
        ["tenant", "status"],
        ["cost", "report"],
        ["operator"],
    ):
        shown = CliRunner().invoke(cli, [*command, "--help"]).output
        assert "--kubeconfig" in shown and "--context" in shown, command


def test_no_command_uses_o_for_anything_but_the_output_format() -> None:
    """`dev kubeconfig` and `cost report` write a file with --write, not -o."""
    shown = CliRunner().invoke(cli, ["dev", "kubeconfig", "--help"]).output
    assert "--write FILE" in shown
    assert "-o" not in shown
    shown = CliRunner().invoke(cli, ["cost", "report", "--help"]).output
    assert "--write FILE" in shown
    assert "-o, --output, --format [table|csv|json|html]" in shown


def on_a_terminal(*args: str, **environ: str) -> str:
    """Run mooring with stdout and stderr on a pseudo-terminal; what it printed."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update({"TERM": "xterm-256color", **environ})
    process = subprocess.Popen(
        [*MOORING, *args], stdout=follower, stderr=follower, stdin=subprocess.DEVNULL, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_errors_are_coloured_on_a_terminal_and_plain_with_no_color_or_in_a_pipe() -> None:
    bad = ("check", "--rule", "no-such-rule", "x.yaml")
    coloured = on_a_terminal(*bad)
    assert "error:" in coloured and "\x1b[" in coloured
    plain = on_a_terminal(*bad, NO_COLOR="1")
    assert "error:" in plain and "\x1b[" not in plain
    piped = run(*bad)
    assert "error: unknown rule 'no-such-rule'" in piped.stderr
    assert "\x1b[" not in piped.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_completes_commands_subcommands_and_choices() -> None:
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "mooring").exists(), "the mooring entry point is not installed"
    script = """
source <(mooring completion bash)
complete_words() { COMPREPLY=(); COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
                   _mooring_completion mooring; echo "${COMPREPLY[*]}"; }
complete_words mooring te
complete_words mooring tenant st
complete_words mooring check -o ''
"""
    done = subprocess.run(
        ["bash", "-c", script],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["tenant", "status", "text json junit sarif github"]


@pytest.mark.parametrize(
    ("shell", "marker", "current"),
    [("zsh", "#compdef mooring", "2"), ("fish", "complete --no-files --command mooring", "")],
)
def test_zsh_and_fish_scripts_ask_mooring_for_completions(
    shell: str, marker: str, current: str
) -> None:
    script = run("completion", shell).stdout
    assert marker in script and f"_MOORING_COMPLETE={shell}_complete" in script
    # What those scripts run, answered as the shell expects.
    answer = subprocess.run(
        [*MOORING],
        env={
            **os.environ,
            "_MOORING_COMPLETE": f"{shell}_complete",
            "COMP_WORDS": "mooring dev ",
            "COMP_CWORD": current,  # zsh: the word's index; fish: the word typed so far
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "kubeconfig" in answer.stdout
