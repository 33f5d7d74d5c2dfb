"""`mooring dev`: the local control plane (up, down, status, kubeconfig)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mooring.api import yamldump
from mooring.cli.output import EXIT_FAILED, out, say
from mooring.cli.output import error as error_
from mooring.core.cost.recorded import rule_file as cost_rule_file
from mooring.devcluster.binaries import (
    CONTROL_PLANE,
    GITOPS,
    HELM,
    OTELCOL,
    BuildError,
    GoTool,
    ensure_built,
)
from mooring.devcluster.cluster import DevCluster, DevClusterError, NodeShape
from mooring.devcluster.prometheus import DevPrometheus

# Pinned tools beyond the control plane, built on request: helm lints and renders the chart,
# gitops is Argo CD and kustomize for `dev up --gitops`, otelcol validates the collector
# configuration of the addon catalog.
EXTRA_TOOLS: dict[str, tuple[GoTool, ...]] = {
    "helm": (HELM,),
    "gitops": GITOPS,
    "otelcol": (OTELCOL,),
}

state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the control plane keeps its state (default: $MOORING_DEV_DIR or "
    "~/.local/state/mooring/dev).",
)


@click.group()
def dev() -> None:
    """The local Kubernetes control plane (etcd, kube-apiserver, controller-manager,
    scheduler and kwok fake nodes), as processes on 127.0.0.1."""


@dev.command()
@click.option(
    "--with",
    "extra",
    multiple=True,
    type=click.Choice(sorted(EXTRA_TOOLS)),
    help="Also build these pinned tools (helm: to lint and render deploy/helm/mooring; "
    "gitops: Argo CD and kustomize, about 10 minutes the first time; otelcol: the "
    "OpenTelemetry Collector that validates the addon catalog's configuration).",
)
@click.option("--gitops", is_flag=True, help="The same as --with gitops.")
def build(extra: tuple[str, ...], gitops: bool) -> None:
    """Build the control plane binaries from their pinned Go modules, if missing."""
    wanted = {*extra, *(("gitops",) if gitops else ())}
    tools = [tool for name in sorted(wanted) for tool in EXTRA_TOOLS[name]]
    try:
        paths = ensure_built((*CONTROL_PLANE, *tools), say=say)
    except BuildError as error:
        error_(str(error))
        sys.exit(EXIT_FAILED)
    for name, path in sorted(paths.items()):
        say(f"  {name:<24} {path}")


@dev.command()
@state_dir_option
@click.option("--nodes", default=4, show_default=True, help="Number of kwok fake nodes.")
@click.option("--node-cpu", default="8", show_default=True, help="CPU capacity of each node.")
@click.option("--node-memory", default="32Gi", show_default=True, help="Memory of each node.")
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for ready.")
@click.option(
    "--gitops",
    is_flag=True,
    help="Also Argo CD, a local Git repository holding a platform repository "
    "(`mooring init --profile local`) and Mooring's operator: merges become tenants.",
)
@click.option(
    "--prometheus",
    "with_prometheus",
    is_flag=True,
    help="Also run Debian's Prometheus, scraping kwok's simulated usage, the scheduler's "
    "/metrics/resources and the API server.",
)
def up(
    state_dir: Path | None,
    nodes: int,
    node_cpu: str,
    node_memory: str,
    timeout: float,
    gitops: bool,
    with_prometheus: bool,
) -> None:
    """Build what is missing, start the control plane and wait until it is ready."""
    cluster = DevCluster(state_dir, NodeShape(count=nodes, cpu=node_cpu, memory=node_memory))
    try:
        cluster.up(say=say, timeout=timeout)
        if with_prometheus:
            # Mooring's cost recording rules, as a platform installs them (docs/cost.md).
            rules = cluster.dir / "mooring-cost.rules.yaml"
            rules.write_text(yamldump.dump(cost_rule_file()))
            say(f"  prometheus up at {DevPrometheus(cluster).start(rule_files=[rules])}")
    except (DevClusterError, BuildError) as error:
        error_(str(error))
        sys.exit(EXIT_FAILED)
    if gitops:
        _gitops(cluster)
    say("")
    say("next:")
    say(f"  export KUBECONFIG={cluster.kubeconfig_path}")
    say("  kubectl get nodes            # 4 kwok nodes, Ready")
    say("  mooring dev kubeconfig --user alice --group team-a > alice.kubeconfig")
    say("  mooring dev down             # stops every process, frees every port")


@dev.command("gitops")
@state_dir_option
def gitops_command(state_dir: Path | None) -> None:
    """Start Argo CD and the local Git repository on a running control plane (see up --gitops)."""
    _gitops(DevCluster(state_dir))


def _gitops(cluster: DevCluster) -> None:
    from mooring.demo.localgitops import LocalGitOps
    from mooring.devcluster.gitrepo import GitError
    from mooring.kube.client import KubeError

    loop = LocalGitOps(cluster, say)
    try:
        loop.up()
        operator = loop.start_operator()
    except (DevClusterError, BuildError, GitError, KubeError, TimeoutError, RuntimeError) as error:
        error_(str(error))
        sys.exit(EXIT_FAILED)
    say(f"  Mooring's operator: pid {operator.pid}, log {operator.log}")
    say("")
    say("the GitOps loop:")
    say(f"  git clone {loop.repo.url} platform && cd platform")
    say("  mooring tenant new payments --owner alice@example.com --env dev --dir tenants")
    say("  git add -A && git commit -m 'payments' && git push   # Argo CD syncs on push")
    say("  kubectl get applications -n argocd; kubectl get tenants")


@dev.command()
@state_dir_option
@click.option("--purge", is_flag=True, help="Also delete etcd data, certificates and logs.")
def down(state_dir: Path | None, purge: bool) -> None:
    """Stop every process `up` started and free their ports."""
    try:
        DevCluster(state_dir).down(say=say, purge=purge)
    except DevClusterError as error:
        error_(str(error))
        sys.exit(EXIT_FAILED)


@dev.command()
@state_dir_option
def status(state_dir: Path | None) -> None:
    """Show each component's PID, port and whether it runs; exit 3 if any is down."""
    cluster = DevCluster(state_dir)
    statuses = cluster.status()
    if not statuses:
        error_("the local control plane is not running; start it with `mooring dev up`")
        sys.exit(EXIT_FAILED)
    for s in statuses:
        mark = "running" if s.alive else "STOPPED"
        out.print(f"{s.name:<24} {mark:<8} pid {s.pid:<8} port {s.port:<6} log {s.log}")
    state = cluster.state()
    if state is not None:
        out.print(f"server {state.server}  kubeconfig {cluster.kubeconfig_path}")
    if not all(s.alive for s in statuses):
        sys.exit(EXIT_FAILED)


@dev.command()
@state_dir_option
@click.option("--user", default=None, help="User name (the client certificate's CN).")
@click.option("--group", "groups", multiple=True, help="A group (O field); repeatable.")
@click.option(
    "--write",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write to this file (mode 0600) instead of standard output.",
)
def kubeconfig(
    state_dir: Path | None, user: str | None, groups: tuple[str, ...], output: Path | None
) -> None:
    """Print the admin kubeconfig, or mint one for --user in --group ... ."""
    if user is None and groups:
        raise click.UsageError("--group needs --user")
    cluster = DevCluster(state_dir)
    try:
        text = cluster.admin_kubeconfig() if user is None else cluster.mint_kubeconfig(user, groups)
    except DevClusterError as error:
        error_(str(error))
        sys.exit(EXIT_FAILED)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.touch(mode=0o600)
        output.write_text(text)
        say(f"wrote {output}")
