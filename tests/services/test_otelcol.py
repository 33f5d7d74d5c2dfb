"""The addon catalog's OpenTelemetry Collector configuration, checked by a collector built
from Go modules (tools/observe/otelcol: OTLP and filelog in; Prometheus and OTLP/HTTP out)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from mooring.core.observe.platform import otel_collector_config
from mooring.devcluster.binaries import OTELCOL, ensure_built


def validate(config: dict[str, object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    otelcol = ensure_built([OTELCOL], say=lambda m: print(f"[otelcol] {m}"))["otelcol"]
    path = tmp_path / "otelcol.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [str(otelcol), "validate", f"--config={path}"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "K8S_NODE_NAME": "node-1"},
        timeout=120,
    )


def test_the_collector_configuration_passes_otelcol_validate(tmp_path: Path) -> None:
    result = validate(otel_collector_config(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_otelcol_validate_refuses_an_unknown_setting_so_the_check_is_not_vacuous(
    tmp_path: Path,
) -> None:
    config = otel_collector_config()
    config["exporters"]["prometheus"]["listen"] = "0.0.0.0:1"  # type: ignore[index]
    result = validate(config, tmp_path)
    assert result.returncode != 0
    assert "listen" in result.stdout + result.stderr
