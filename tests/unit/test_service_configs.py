"""Every service config against the Go operator's, row by row (tests/unit/fixtures/go_service_configs.yaml,
written from yunionio/cloudpods-operator at f4a26910 by reading and running its code; each row cites it).

For a YAML config, every option the Go operator sets appears in ours with the same value (ours may
carry more); a text config (nginx, Corefile, properties, rc) is the same file. Passwords are compared as
the ``<secret:KEY>`` placeholders both sides write when no Secret is given.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from cloudpods_operator import catalog, planner, render, serviceconfig
from cloudpods_operator.model import OnecloudCluster, ServiceSpec

FACTS: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "go_service_configs.yaml").read_text()
)
ROWS: dict[str, Any] = FACTS["components"]
CLUSTER = OnecloudCluster.model_validate(
    {
        "apiVersion": "onecloud.yunion.io/v1alpha1",
        "kind": "OnecloudCluster",
        "metadata": {"name": FACTS["cluster"]["name"], "namespace": FACTS["cluster"]["namespace"]},
        "spec": FACTS["spec"],
    }
)
CTX = render.Context(CLUSTER, "ce")
# Values a test cannot compare literally: a Go string constant that is a password, a spec value Go
# invents and persists into the CR (we never write the spec).
UNCOMPARABLE = ("<go-literal:", "<spec:")
# Options we leave out on purpose (README, "Service configs"), with why.
LEFT_OUT = {
    (
        "baremetal-agent",
        "default_ipmi_password",
    ): "a password hard-coded in the Go source; the service's own default applies",
    ("aiproxy", "api_log_s3_secret_key"): "Go invents it and writes it into the CR; we never write the spec",
}


def _comparable(value: Any) -> bool:
    return not (isinstance(value, str) and value.startswith(UNCOMPARABLE))


def test_the_fact_table_covers_every_component_with_a_config() -> None:
    ours = {c.name for c in catalog.COMPONENTS if c.config}
    assert ours == set(ROWS)
    assert set(FACTS["without_config"]) == {c.name for c in catalog.COMPONENTS} - ours


@pytest.mark.parametrize("name", sorted(ROWS))
def test_file_path_account_and_format(name: str) -> None:
    row, comp = ROWS[name], catalog.BY_NAME[name]
    assert comp.config is not None
    assert comp.config.path == row["file"]
    assert (comp.config.mount_dir, comp.config.file_name) == (row["mount"]["path"], row["mount"]["item"])
    assert comp.account == row["account"]
    assert (comp.config.template is None) == (row["format"] == "yaml")


YAML_ROWS = sorted(n for n, r in ROWS.items() if r["format"] == "yaml")


@pytest.mark.parametrize("name", YAML_ROWS)
def test_every_option_the_go_operator_sets(name: str) -> None:
    expected = {k: o["value"] for k, o in ROWS[name]["options"].items()}
    ours = serviceconfig.options(CTX, catalog.BY_NAME[name], None)
    missing = sorted(k for k in set(expected) - set(ours) if (name, k) not in LEFT_OUT)
    assert missing == []
    different = {
        k: (ours[k], v)
        for k, v in expected.items()
        if _comparable(v) and k in ours and ours[k] != (list(v) if isinstance(v, tuple) else v)
    }
    assert different == {}


@pytest.mark.parametrize("name", sorted(n for n, r in ROWS.items() if r["format"] != "yaml"))
def test_text_configs_are_the_go_operators_file(name: str) -> None:
    assert serviceconfig.text(CTX, catalog.BY_NAME[name], None) == ROWS[name]["text"]


def test_keystone_can_bootstrap_sysadmin() -> None:
    config = serviceconfig.options(
        CTX, catalog.BY_NAME[catalog.IDENTITY], _all() | {"sysadmin-password": "x"}
    )
    assert config["bootstrap_admin_user_password"] == "x"


def _all() -> dict[str, str]:
    from cloudpods_operator import credentials

    return {k: f"pw-{k}" for k in credentials.password_keys()}


def test_real_secrets_replace_every_placeholder_and_reach_only_secrets() -> None:
    secrets = _all()
    plan = planner.plan(CLUSTER, None, secrets)
    for obj in plan.objects:
        text = orjson.dumps(obj.body).decode()
        assert "<secret:" not in text
        if obj.kind != "Secret":
            assert not any(v in text for v in secrets.values()), f"{obj.kind}/{obj.name}"
    region = next(o for o in plan.objects if o.name == "default-region-config")
    config = orjson.loads(base64.b64decode(region.body["data"]["config"]))
    assert config["admin_password"] == secrets["region.keystone-password"]
    assert f":{secrets['region.db-password']}@mysql:3306/yunioncloud?" in config["sql_connection"]


def test_ports_set_in_the_spec_reach_every_url() -> None:
    moved = CLUSTER.model_copy(deep=True)
    moved.spec.keystone.admin_service = ServiceSpec.model_validate({"nodePort": 31357})
    ctx = render.Context(moved, "ce")
    assert serviceconfig.options(ctx, catalog.BY_NAME["region"], None)["auth_url"] == (
        "https://default-keystone:31357/v3"
    )
    assert "${" not in serviceconfig.text(ctx, catalog.BY_NAME["region-dns"], None)
    assert "https://default-keystone:31357/v3" in serviceconfig.text(ctx, catalog.BY_NAME["itsm"], None)


def test_plan_offline_marks_every_password_as_a_placeholder() -> None:
    plan = planner.plan(CLUSTER)
    config = next(o for o in plan.objects if o.name == "default-keystone-config")
    text = base64.b64decode(config.body["data"]["config"]).decode()
    assert '"bootstrap_admin_user_password": "<secret:sysadmin-password>"' in text
