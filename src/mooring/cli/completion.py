"""`mooring completion bash|zsh|fish`: the shell completion script, to source or install.

source <(mooring completion bash)                       # this shell (bash)
mooring completion zsh > "${fpath[1]}/_mooring"           # zsh, every new shell
mooring completion fish > ~/.config/fish/completions/mooring.fish
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VARIABLE = "_MOORING_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL (commands, options, choices, file names).

    \b
    bash:  source <(mooring completion bash)   (add it to ~/.bashrc)
    zsh:   mooring completion zsh > "${fpath[1]}/_mooring"
    fish:  mooring completion fish > ~/.config/fish/completions/mooring.fish
    """
    from mooring.cli.main import cli  # the root group, whose commands are completed

    complete = get_completion_class(shell)
    assert complete is not None  # every shell in SHELLS has one in click
    click.echo(complete(cli, {}, "mooring", COMPLETE_VARIABLE).source())
