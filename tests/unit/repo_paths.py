"""Where the unit tests find the repository's files (the chart, the committed CRD, the example cluster)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cloudpods-operator"
CRD_DIR = REPO / "crd"
EXAMPLE = REPO / "examples" / "onecloudcluster.yaml"
