"""The hostile-input sweep, stage 1: every file of :mod:`hostile_corpus` through ``cloudpods-operator plan``.

Zero hangs (a file without an answer in PER_FILE_SECONDS), zero tracebacks (anything but exit 0, or exit
2 with one ``error:`` line), and every file of the valid set accepted. The files are planned once a session
(the ``hostile_sweep`` fixture of tests/conftest.py), for stage 2 too. The CRD and the API server's
verdicts on the same files are stage 2, in tests/integration/test_hostile.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hostile_corpus import Case, PlanResult, Sweep, all_cases, first_line, kubelet_refuses, spec_leaves


@pytest.fixture(scope="module")
def corpus() -> list[Case]:
    return all_cases()


@pytest.fixture(scope="module")
def planned(corpus: list[Case], hostile_sweep: Sweep) -> dict[str, PlanResult]:
    """The session's one pass (tests/conftest.py), over the same files as ``corpus``."""
    assert [c.name for c in hostile_sweep.cases] == [c.name for c in corpus]
    return hostile_sweep.planned


def table(rows: list[tuple[str, str, str]]) -> str:
    """``file | stage | first line of the error``, one row per failure."""
    width = max((len(r[0]) for r in rows), default=4)
    return "\n".join(f"{name:<{width}}  {stage:<8}  {error}" for name, stage, error in rows)


def test_the_corpus_covers_every_field_path_and_has_500_files(corpus: list[Case]) -> None:
    names = {c.name for c in corpus}
    missing = [
        ".".join(leaf.path) for leaf in spec_leaves() if f"wrong-type/{'.'.join(leaf.path)}" not in names
    ]
    assert missing == []
    assert len(corpus) >= 500
    assert sum(c.valid for c in corpus) >= 30
    categories = {c.category for c in corpus}
    for kind in ("quantity", "tolerations", "affinity", "dnsConfig", "nodeSelector", "annotations"):
        assert f"k8s-{kind}" in categories
    for kind in ("storageClassName", "nodePort", "int32", "zones", "repository", "tag", "imageName"):
        assert f"k8s-{kind}" in categories


def test_no_hang_and_no_traceback(corpus: list[Case], planned: dict[str, PlanResult]) -> None:
    rows = [(c.name, "plan", problem) for c in corpus if (problem := planned[c.name].problem) is not None]
    assert not rows, f"{len(rows)} of {len(corpus)} files broke plan's contract:\n" + table(rows)


def test_the_valid_set_is_accepted(corpus: list[Case], planned: dict[str, PlanResult]) -> None:
    rows = [
        (c.name, "plan", planned[c.name].problem or first_line(planned[c.name].err))
        for c in corpus
        if c.valid and not planned[c.name].accepted
    ]
    assert not rows, f"plan refused {len(rows)} valid files:\n" + table(rows)


def test_no_accepted_file_plans_an_image_the_runtime_refuses(
    corpus: list[Case], planned: dict[str, PlanResult]
) -> None:
    """The API server takes any image string; the kubelet does not (an uppercase repository was rolled out
    to every workload): every planned image must parse as a container image reference."""
    rows = [(c.name, "kubelet", bad[0]) for c in corpus if (bad := planned[c.name].bad_images)]
    assert not rows, f"{len(rows)} accepted files plan images the runtime cannot pull:\n" + table(rows)


@pytest.mark.parametrize(
    ("image", "refused"),
    [
        ("registry.cn-beijing.aliyuncs.com/yunionio/region:v3.11.5", None),
        ("localhost:5000/a/b_c__d-e:1", None),
        ("region", None),
        ("UPPER/case", None),  # UPPER is a registry name there (distribution's rule), case is lowercase
        ("registry.example.com/UPPER/case:v1", "repository name must be lowercase"),
        ("yunion/UPPER:v1", "repository name must be lowercase"),
        ("a//b", "invalid reference format"),
        ("a/b:", "invalid reference format"),
        ("a/b:" + "t" * 129, "invalid reference format"),
        ("not an image", "invalid reference format"),
    ],
)
def test_the_image_reference_rule(image: str, refused: str | None) -> None:
    assert kubelet_refuses(image) == refused


SUBPROCESS_CASES = (
    "yaml/alias-bomb-9x10@keystone.affinity",
    "yaml/nested-500-flow@etcd.pod",
    "yaml/invalid-utf8",
    "huge/version",
    "wrong-type/keystone.replicas",
    "valid/examples-onecloudcluster",
)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_a_real_process_agrees(
    corpus: list[Case], planned: dict[str, PlanResult], tmp_path: Path, name: str
) -> None:
    """The console script, as a user runs it, ends as the in-process call did, within the same limit."""
    [case] = [c for c in corpus if c.name == name]
    path = tmp_path / "cluster.yaml"
    path.write_bytes(case.data)
    script = Path(sys.executable).parent / "cloudpods-operator"
    done = subprocess.run(
        [str(script), "plan", "-f", str(path), "-o", "yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result = PlanResult(name, code=done.returncode, err=done.stderr)
    assert result.problem is None, result.problem
    assert done.returncode == planned[name].code
