"""`mooring init`: write a new platform repository (Argo CD app of apps, AppProjects, addons,
environments, tenants, CI) into a folder.

Exit codes: 0 written, 2 usage error (the folder holds files init would overwrite).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mooring.cli.output import EXIT_USAGE, err, say
from mooring.gitops.catalog import PROFILES
from mooring.gitops.repository import ENVIRONMENTS, Settings, render_repository, write_files


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default="generic",
    show_default=True,
    help="generic, eks (adds Karpenter, AWS settings), openshift (its own ingress, DNS and "
    "monitoring), local (no third-party charts: what `mooring dev up --gitops` uses).",
)
@click.option(
    "--repo-url",
    default=Settings.repo_url,
    show_default=True,
    help="Where this repository will live (Argo CD reads it from there).",
)
@click.option("--revision", default=Settings.revision, show_default=True, help="Its branch.")
@click.option(
    "--mooring-repo",
    default=Settings.mooring_repo,
    show_default=True,
    help="Mooring's own repository (its deploy/ folder is synced).",
)
@click.option("--mooring-revision", default=Settings.mooring_revision, show_default=True)
@click.option(
    "--environment",
    type=click.Choice(ENVIRONMENTS),
    default=Settings.cluster_environment,
    show_default=True,
    help="The environment of Argo CD's own cluster.",
)
@click.option(
    "--tenants",
    type=click.Choice(["applicationset", "application"]),
    default=Settings.tenants,
    show_default=True,
    help="One Argo CD Application per team (ApplicationSet) or one for the folder.",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(
    directory: Path,
    profile: str,
    repo_url: str,
    revision: str,
    mooring_repo: str,
    mooring_revision: str,
    environment: str,
    tenants: str,
    force: bool,
) -> None:
    """Write a platform repository into DIRECTORY, valid from its first commit."""
    settings = Settings(
        profile=profile,  # type: ignore[arg-type]
        repo_url=repo_url,
        revision=revision,
        mooring_repo=mooring_repo,
        mooring_revision=mooring_revision,
        cluster_environment=environment,
        tenants=tenants,  # type: ignore[arg-type]
    )
    files = render_repository(settings)
    existing = sorted(p for p in files if (directory / p).exists())
    if existing and not force:
        err.print(
            f"error: {directory} already has {', '.join(existing[:5])}"
            + (f" and {len(existing) - 5} more" if len(existing) > 5 else "")
            + "; pass --force to overwrite them, or choose an empty folder",
            markup=False,
        )
        sys.exit(EXIT_USAGE)
    write_files(directory, files)
    say(f"wrote {len(files)} files to {directory} (profile {profile})")
    say("next:")
    say(f"  cd {directory} && git init && git add -A && git commit -m 'mooring init'")
    say(f"  mooring validate {directory}      # what the pull-request workflow runs")
    say("  kubectl apply -k bootstrap/        # once, on the cluster that runs Argo CD")
