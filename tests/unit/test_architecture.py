"""The architecture holds in the code, not just in docs/architecture.md.

- importing a pure-core module loads no HTTP client, async runtime, Kubernetes/MySQL/keystone
  client and no edge module (checked in a fresh interpreter, so nothing else loaded them first);
- no component name appears in code outside the catalog: component knowledge is data;
- every spec path the catalog names exists in the model (a typo would silently read None).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from cloudpods_operator import catalog, model

SRC = Path(__file__).resolve().parents[2] / "src" / "cloudpods_operator"
CORE = (
    "kinds",
    "model",
    "catalog",
    "images",
    "render",
    "planner",
    "diff",
    "status",
    "observed",
    "crdgen",
    "errors",
    "certificates",
    "credentials",
    "clusterconfig",
    "serviceconfig",
    "databases",
    "keystonecatalog",
    "takeover",
    "outcome",
    "manifests",
)
FOREIGN = (
    "aiohttp",
    "anyio",
    "asyncio",
    "kubernetes_asyncio",
    "prometheus_client",
    "asyncmy",
    "aiomysql",
    "pymysql",
    "keystoneauth1",
    "cloudpods_operator.kube",
    "cloudpods_operator.cache",
    "cloudpods_operator.workqueue",
    "cloudpods_operator.reconciler",
    "cloudpods_operator.manager",
    "cloudpods_operator.metrics",
)

_PROBE = """
import json, sys
import cloudpods_operator.{module}
foreign = {foreign!r}
print(json.dumps(sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in foreign))))
"""


def test_core_modules_load_no_io() -> None:
    """One interpreter per module: what it pulls in is what the module itself needs."""
    loaded = {}
    for module in CORE:
        probe = _PROBE.format(module=module, foreign=FOREIGN)
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        loaded[module] = json.loads(done.stdout)
    assert loaded == {m: [] for m in CORE}


def test_the_probe_sees_an_edge_module() -> None:
    """The check above can fail: the edge really loads aiohttp."""
    probe = _PROBE.format(module="kube.client", foreign=FOREIGN)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "aiohttp" in json.loads(done.stdout)


def _string_constants(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals that could name a component: not dict keys or pydantic aliases (JSON and config
    keys such as ``region`` or ``s3gateway``), not docstrings, not fragments of an f-string."""
    nodes = list(ast.walk(tree))
    keys = {id(k) for node in nodes if isinstance(node, ast.Dict) for k in node.keys if k is not None}
    keys |= {id(node.value) for node in nodes if isinstance(node, ast.keyword) and kw_is_alias(node)}
    keys |= {id(v) for node in nodes if isinstance(node, ast.JoinedStr) for v in node.values}
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in keys
        and id(node) not in docstrings
    ]


def kw_is_alias(node: ast.keyword) -> bool:
    return node.arg == "alias"


def _component_names_in(path: Path) -> list[str]:
    names = {c.name for c in catalog.COMPONENTS}
    found = _string_constants(ast.parse(path.read_text()))
    return [f"{path.name}:{line}: {value!r}" for line, value in found if value in names]


def test_no_component_name_in_code_outside_the_catalog() -> None:
    offenders = [
        hit
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "catalog.py"
        for hit in _component_names_in(path)
    ]
    assert offenders == []


def test_the_name_scan_finds_a_name(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('def f(c):\n    return c.name == "region" and {"region": 1}\n')
    assert _component_names_in(sample) == ["sample.py:2: 'region'"]
    sample.write_text('x = f"host{p}"\ny = Field(alias="s3gateway")\n')
    assert _component_names_in(sample) == []


def _model_at(root: type[BaseModel], path: str) -> type[BaseModel] | None:
    """The model class a dotted JSON path leads to, None if some key does not exist."""
    current: type[BaseModel] = root
    for key in path.split("."):
        name = model.field_name(current, key)
        if name is None:
            return None
        annotation = current.model_fields[name].annotation
        candidates = [a for a in getattr(annotation, "__args__", (annotation,)) if isinstance(a, type)]
        nested = [a for a in candidates if issubclass(a, BaseModel)]
        current = nested[0] if nested else BaseModel
    return current


def _field_exists(root: type[BaseModel], path: str) -> bool:
    head, _, last = path.rpartition(".")
    parent = _model_at(root, head) if head else root
    return parent is not None and model.field_name(parent, last) is not None


@pytest.mark.parametrize("comp", catalog.COMPONENTS, ids=lambda c: c.name)
def test_catalog_spec_paths_exist_in_the_model(comp: catalog.Component) -> None:
    spec = model.OnecloudClusterSpec
    paths = [comp.spec_key, comp.placement_spec_key]
    paths += [c.image.source for c in (*comp.containers, *comp.init_containers) if c.image.source]
    paths += [c.enabled_by for c in comp.containers if c.enabled_by]
    own = f"{comp.own_spec_key}."
    for service in comp.services:
        paths += [own + f for f in service.internal_only_fields if f != "service"]
        paths += [own + p.spec_field for p in service.ports if p.spec_field != "service"]
        paths += [own + p.node_port_field for p in service.ports if p.node_port_field]
    if comp.ingress and comp.ingress.http_field:
        paths.append(own + comp.ingress.http_field)
    assert [p for p in paths if not _field_exists(spec, p)] == []


def test_the_path_check_can_fail() -> None:
    assert not _field_exists(model.OnecloudClusterSpec, "keystone.adminServcie")
    assert _field_exists(model.OnecloudClusterSpec, "keystone.adminService")
