"""Mooring: a Container-as-a-Service control plane for Kubernetes."""

__version__ = "0.1.0"

# Where the documentation lives; reports (SARIF rules' help links) point into it.
DOCS_URL = "https://github.com/mooring-dev/mooring/blob/main/docs/"
