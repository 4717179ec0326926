"""The Go operator's OnecloudClusterConfig <-> our credentials: adoption (``parse``), hand-back (``build``).

The oracle is the Go encoder's own output (fixtures/go_cluster_config.yaml) and the defaults table of
the research notes (cluster_config.md §2-3), transcribed into fixtures/go_cluster_config_defaults.yaml
independently of catalog.ACCOUNTS, from which the module derives its defaults.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudpods_operator import cli, clusterconfig, credentials
from cloudpods_operator.clusterconfig import ACCOUNT_DEFAULTS, ClusterConfigError, build, parse
from cloudpods_operator.errors import OperatorError

FIXTURE = Path(__file__).parent / "fixtures" / "go_cluster_config.yaml"
CONFIGMAP: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
DOC: str = CONFIGMAP["data"]["OnecloudClusterConfig"]
DUMMIES = [f"DummyPassw{n:04d}Zz" for n in range(1, 90)]

GO_DEFAULTS: dict[str, Any] = yaml.safe_load((FIXTURE.parent / "go_cluster_config_defaults.yaml").read_text())
GO_TYPES: dict[str, list[str]] = GO_DEFAULTS["types"]
GO_ACCOUNTS: dict[str, dict[str, Any]] = GO_DEFAULTS["accounts"]

# key, username, port, database, db username (None: the account has none).
DEFAULTS: list[tuple[str, str | None, int | None, str | None, str | None]] = [
    (key, row.get("username"), row.get("port"), row.get("database"), row.get("db_user"))
    for key, row in GO_ACCOUNTS.items()
]


def doc_with(change: Any) -> str:
    """The Go example after ``change(doc)`` mutates its parsed form, written back in Go's style."""
    doc = yaml.safe_load(DOC)
    change(doc)
    return clusterconfig.dump(doc)


def fresh() -> dict[str, str]:
    """A password for every key an account needs, as our operator would generate them."""
    return {key: secrets.token_urlsafe(12) for key in clusterconfig.missing_passwords({})}


# ---- parse ----------------------------------------------------------------------------------------


def test_parse_takes_every_password_of_the_go_example_once() -> None:
    creds = parse(DOC).credentials
    assert len(creds) == 89 + 1
    assert creds["cluster-config"] == DOC
    assert sorted(v for k, v in creds.items() if k != "cluster-config") == DUMMIES
    by_suffix: dict[str, int] = {}
    for key in creds:
        suffix = key.rpartition(".")[2]
        by_suffix[suffix] = by_suffix.get(suffix, 0) + 1
    # 35 service accounts; 25 DB services + keystone + grafana; 25 + keystone; itsm.
    expected = {"keystone-password": 35, "db-password": 27, "clickhouse-password": 26, "encryption-key": 1}
    assert by_suffix == {**expected, "cluster-config": 1}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("aiproxy.clickhouse-password", "DummyPassw0001Zz"),
        ("aiproxy.db-password", "DummyPassw0002Zz"),
        ("aiproxy.keystone-password", "DummyPassw0003Zz"),
        ("apiGateway.keystone-password", "DummyPassw0007Zz"),
        ("bastionHost.db-password", "DummyPassw0013Zz"),
        ("grafana.db-password", "DummyPassw0041Zz"),
        ("host.keystone-password", "DummyPassw0042Zz"),
        ("itsm.encryption-key", "DummyPassw0045Zz"),
        ("itsm.keystone-password", "DummyPassw0046Zz"),
        ("keystone.clickhouse-password", "DummyPassw0047Zz"),
        ("keystone.db-password", "DummyPassw0048Zz"),
        ("mcpServer.keystone-password", "DummyPassw0059Zz"),
        ("monitor.db-password", "DummyPassw0064Zz"),
        ("onecloudServiceOperator.keystone-password", "DummyPassw0069Zz"),
        ("region.clickhouse-password", "DummyPassw0070Zz"),
        ("region.db-password", "DummyPassw0071Zz"),
        ("region.keystone-password", "DummyPassw0072Zz"),
        ("yunionconf.keystone-password", "DummyPassw0089Zz"),
        ("mcpServer.db-password", None),
        ("mcpServer.clickhouse-password", None),
        ("keystone.keystone-password", None),
        ("grafana.keystone-password", None),
        ("grafana.clickhouse-password", None),
        ("apiGateway.db-password", None),
        ("region.encryption-key", None),
        ("commonConfig.keystone-password", None),
    ],
)
def test_parse_key_names(key: str, value: str | None) -> None:
    assert parse(DOC).credentials.get(key) == value


def test_the_go_example_is_all_defaults() -> None:
    adopted = parse(DOC)
    assert adopted.accounts == ACCOUNT_DEFAULTS
    assert adopted.overrides == ()
    assert adopted.unknown == ()


def test_non_default_values_are_reported_and_used() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["region"]["port"] = 31888
        doc["region"]["username"] = "regionadm2"
        doc["monitor"]["db"]["username"] = "mon"
        doc["commonConfig"]["request_worker_count"] = 16
        del doc["glance"]["port"]  # missing: Go's defaulting fills it, so not an override
        doc["glance"]["username"] = ""

    adopted = parse(doc_with(change))
    assert [str(o) for o in adopted.overrides] == [
        "commonConfig.request_worker_count is 16, not the default 8",
        "monitor.db.username is 'mon', not the default 'yunionmonitor'",
        "region.username is 'regionadm2', not the default 'regionadmin'",
        "region.port is 31888, not the default 30888",
    ]
    assert adopted.accounts["region"].port == 31888
    assert adopted.accounts["monitor"].db == clusterconfig.Database("monitor", "mon")
    assert adopted.accounts["glance"] == ACCOUNT_DEFAULTS["glance"]


def test_unknown_accounts_are_named_and_their_passwords_taken() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["newsvc"] = {"port": 31999, "username": "new", "password": "P1", "db": {"password": "P2"}}
        doc["someFlag"] = True
        del doc["llm"]  # an older Go operator: absent, not an error

    adopted = parse(doc_with(change))
    assert adopted.unknown == ("newsvc", "someFlag")
    assert adopted.credentials["newsvc.keystone-password"] == "P1"
    assert adopted.credentials["newsvc.db-password"] == "P2"
    assert "llm.keystone-password" not in adopted.credentials
    assert adopted.accounts["newsvc"].port == 31999


# ---- build ----------------------------------------------------------------------------------------


def test_build_of_parse_is_the_go_document_byte_for_byte() -> None:
    assert build(parse(DOC).credentials) == DOC


def test_build_without_the_adopted_document_writes_what_the_go_encoder_wrote() -> None:
    creds = {k: v for k, v in parse(DOC).credentials.items() if k != "cluster-config"}
    assert build(creds) == DOC


def test_a_rotated_password_is_exported() -> None:
    creds = parse(DOC).credentials
    creds["region.db-password"] = "Rotated0Passw0rd"
    creds["itsm.encryption-key"] = "NewKey00000000Zz"
    out = build(creds)
    assert out == DOC.replace("DummyPassw0071Zz", "Rotated0Passw0rd").replace(
        "DummyPassw0045Zz", "NewKey00000000Zz"
    )
    assert parse(out).credentials["region.db-password"] == "Rotated0Passw0rd"


def test_an_adopted_document_keeps_unknown_keys_and_gains_accounts_we_have_passwords_for() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["newsvc"] = {"password": "P1", "extra": [1, "x"]}
        del doc["llm"]
        del doc["aiproxy"]

    creds = parse(doc_with(change)).credentials
    creds["llm.keystone-password"] = "LlmPassw0rd00000"
    out = yaml.safe_load(build(creds))
    assert out["newsvc"] == {"password": "P1", "extra": [1, "x"]}
    assert out["llm"]["password"] == "LlmPassw0rd00000"
    assert out["llm"]["db"] == {"database": "llm", "username": "llm", "password": ""}
    assert "aiproxy" not in out


@pytest.mark.parametrize(
    ("key", "username", "port", "database", "db_user"), DEFAULTS, ids=[d[0] for d in DEFAULTS]
)
def test_a_fresh_document_has_the_default_accounts(
    key: str, username: str | None, port: int | None, database: str | None, db_user: str | None
) -> None:
    doc = yaml.safe_load(build(fresh()))
    section = doc[key]
    assert section.get("username") == username
    assert section.get("port") == port
    if database is None:
        assert section.get("db", {}).get("database") in (None, "")
    else:
        expected = {"database": database, "username": db_user}
        assert {k: section["db"][k] for k in expected} == expected
        if key != "grafana":
            assert {k: section["clickhouse_conf"][k] for k in expected} == expected
    account = ACCOUNT_DEFAULTS[key]
    assert (account.username, account.port) == (username, port)
    assert (account.db.database if account.has_db else None) == database  # type: ignore[union-attr]


def go_account(key: str, row: dict[str, Any]) -> clusterconfig.Account:
    """The account as the Go defaulting makes it, from the fixture: the fields of its Go type, those
    the fixture does not give left empty."""
    fields = GO_TYPES[row["type"]]
    db = clusterconfig.Database(row.get("database", ""), row.get("db_user", "")) if "db" in fields else None
    return clusterconfig.Account(
        key,
        row.get("username", "") if "username" in fields else None,
        row.get("port", 0) if "port" in fields else None,
        db,
        db if "clickhouse_conf" in fields else None,
        f"{db.database}_engine" if db is not None and "secondDatabase" in fields else None,
        "encryptionKey" in fields,
    )


def test_the_defaults_are_the_go_defaults() -> None:
    expected = {key: go_account(key, row) for key, row in GO_ACCOUNTS.items()}
    assert expected == ACCOUNT_DEFAULTS
    assert (
        ACCOUNT_DEFAULTS["mcpServer"].db
        == ACCOUNT_DEFAULTS["mcpServer"].clickhouse
        == clusterconfig.Database("", "")
    )
    assert ACCOUNT_DEFAULTS["itsm"].second_database == "itsm_engine"


def test_the_credentials_we_generate_hold_every_password_of_the_go_cluster_config() -> None:
    keys = credentials.password_keys()
    assert len(keys) == len(set(keys))
    assert set(keys) - {credentials.SYSADMIN_KEY} == set(clusterconfig.missing_passwords({}))


def test_a_fresh_document_is_complete() -> None:
    assert len(DEFAULTS) == len(ACCOUNT_DEFAULTS) == 37
    creds = fresh()
    assert len(creds) == 89
    doc = yaml.safe_load(build(creds))
    assert (doc["apiVersion"], doc["kind"]) == ("onecloud.yunion.io/v1alpha1", "OnecloudClusterConfig")
    assert doc["commonConfig"] == {
        "cron_job_worker_count": 4,
        "local_task_worker_count": 4,
        "request_worker_count": 8,
        "task_worker_count": 4,
    }
    assert doc["itsm"]["secondDatabase"] == "itsm_engine"
    assert (
        doc["mcpServer"]["db"]
        == doc["mcpServer"]["clickhouse_conf"]
        == dict.fromkeys(("database", "password", "username"), "")
    )
    assert set(doc) == set(yaml.safe_load(DOC))
    adopted = parse(build(creds))
    assert {k: v for k, v in adopted.credentials.items() if k != "cluster-config"} == creds


def test_passwords_the_credentials_lack_are_left_empty_for_the_go_operator() -> None:
    creds = fresh()
    del creds["region.db-password"]
    assert clusterconfig.missing_passwords(creds) == ["region.db-password"]
    assert yaml.safe_load(build(creds))["region"]["db"]["password"] == ""


_PASSWORDS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PASSWORDS, min_size=4, max_size=4))
def test_any_password_survives_build_and_parse(values: list[str]) -> None:
    keys = ["region.db-password", "region.keystone-password", "itsm.encryption-key", "grafana.db-password"]
    creds = {**fresh(), **dict(zip(keys, values, strict=True))}
    assert {k: v for k, v in parse(build(creds)).credentials.items() if k != "cluster-config"} == creds


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("DummyPassw0001Zz", "DummyPassw0001Zz"),
        ("1234567890123456", '"1234567890123456"'),  # Go would read a number
        ("12e4", '"12e4"'),
        ("0x1F", '"0x1F"'),
        ("yes", '"yes"'),
        ("", '""'),
        ("a: b", "'a: b'"),  # plain not allowed: go-yaml's emitter falls back to single quotes
    ],
)
def test_strings_are_quoted_as_go_yaml_quotes_them(value: str, written: str) -> None:
    assert clusterconfig.dump({"k": value}) == f"k: {written}\n"


def test_keys_are_in_go_yaml_order() -> None:
    keys = ["b", "a10", "a2", "a_b", "aB", "apiVersion", "apiGateway"]
    assert list(yaml.safe_load(clusterconfig.dump(dict.fromkeys(keys, 1)))) == [
        "a_b",  # a non-letter sorts before a letter
        "a2",  # runs of digits compare as numbers
        "a10",
        "aB",
        "apiGateway",
        "apiVersion",
        "b",
    ]


def test_manifest_is_the_go_configmap() -> None:
    text = clusterconfig.manifest("default", "onecloud", DOC)
    body = yaml.safe_load(text)
    assert body == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "default-cluster-config", "namespace": "onecloud"},
        "data": CONFIGMAP["data"],
    }
    assert "  OnecloudClusterConfig: |\n    aiproxy:\n" in text


# ---- bad documents --------------------------------------------------------------------------------


def _drop(*path: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        for key in path[:-1]:
            doc = doc[key]
        del doc[path[-1]]

    return change


def _set(value: Any, *path: str) -> Any:
    def change(doc: dict[str, Any]) -> None:
        for key in path[:-1]:
            doc = doc[key]
        doc[path[-1]] = value

    return change


BAD: list[tuple[str, str, list[str]]] = [
    ("not YAML", "region:\n  password: [DummyPassw0072Zz\n", ["not valid YAML", "line 3"]),
    ("alias quoting the text", "region:\n  password: *Secret12345\n", ["not valid YAML", "line 2"]),
    ("a tab", "region:\n\tpassword: Secret12345\n", ["not valid YAML"]),
    ("a list", "- DummyPassw0001Zz\n", ["not an OnecloudClusterConfig", "a list"]),
    ("empty", "", ["not an OnecloudClusterConfig", "null"]),
    ("the whole ConfigMap", FIXTURE.read_text(), ["ConfigMap holding one", "data.OnecloudClusterConfig"]),
    ("no kind", doc_with(_drop("kind")), ["not an OnecloudClusterConfig", "kind is missing"]),
    ("another kind", doc_with(_set("OnecloudCluster", "kind")), ["kind is 'OnecloudCluster'"]),
    ("another version", doc_with(_set("onecloud.yunion.io/v1", "apiVersion")), ["apiVersion", "v1alpha1"]),
    ("account not a mapping", doc_with(_set("DummyPassw0072Zz", "region")), ["region: expected a mapping"]),
    (
        "db not a mapping",
        doc_with(_set("DummyPassw0071Zz", "region", "db")),
        ["region.db: expected a mapping"],
    ),
    ("password a number", doc_with(_set(12345678, "region", "password")), ["region.password", "an integer"]),
    ("port a string", doc_with(_set("30888", "region", "port")), ["region.port: expected an integer"]),
    ("commonConfig a list", doc_with(_set([1], "commonConfig")), ["commonConfig: expected a mapping"]),
    ("no db password", doc_with(_drop("region", "db", "password")), ["no password at region.db.password"]),
    (
        "empty passwords",
        doc_with(lambda d: (_set("", "itsm", "encryptionKey")(d), _set(None, "host", "password")(d))),
        ["no password at", "host.password", "itsm.encryptionKey"],
    ),
    ("no keystone db", doc_with(_drop("keystone", "db")), ["keystone.db.password"]),
    ("no grafana db password", doc_with(_drop("grafana", "db", "password")), ["grafana.db.password"]),
]


@pytest.mark.parametrize(("text", "needles"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_documents_are_a_named_error_without_passwords(text: str, needles: list[str]) -> None:
    with pytest.raises(ClusterConfigError) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message
    for secret in [*DUMMIES, "Secret12345", "12345678"]:
        assert secret not in message
    assert caught.value.__cause__ is None  # a chained YAMLError would print the offending line
    assert caught.value.__suppress_context__ or caught.value.__context__ is None
    assert isinstance(caught.value, OperatorError)


@pytest.mark.parametrize(
    "text",
    [
        "region:\n  password: *Secret12345\n",
        "region:\n  password: !Secret12345!x y\n",
        'a: "x\\q Secret12345"\n',
    ],
)
def test_the_pure_python_loader_quotes_the_text_but_the_message_does_not(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """PyYAML without libyaml names the alias or tag it could not resolve: that part is dropped."""
    monkeypatch.setattr(clusterconfig, "_LOADER", yaml.SafeLoader)
    with pytest.raises(ClusterConfigError, match="not valid YAML at line") as caught:
        parse(text)
    assert "Secret12345" not in str(caught.value)


def test_build_checks_the_adopted_document_too() -> None:
    with pytest.raises(ClusterConfigError, match="not an OnecloudClusterConfig"):
        build({"cluster-config": "kind: Pod\n"})


# ---- the CLI's arguments --------------------------------------------------------------------------


def test_export_arguments() -> None:
    args = cli.build_parser().parse_args(["export-cluster-config", "onecloud/default"])
    assert (args.cluster, args.kubeconfig, args.output) == ("onecloud/default", None, "configmap")
    assert args.func is cli.cmd_export_cluster_config
    args = cli.build_parser().parse_args(
        ["export-cluster-config", "ns/c", "--kubeconfig", "/k", "-o", "yaml"]
    )
    assert (args.kubeconfig, args.output) == ("/k", "yaml")
    assert cli.cluster_ref("onecloud/default") == ("onecloud", "default")
    assert cli.cluster_ref("a/" + "b" * 238) == ("a", "b" * 238)


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("default", "expected NAMESPACE/NAME"),
        ("/default", "expected NAMESPACE/NAME"),
        ("onecloud/", "expected NAMESPACE/NAME"),
        ("OneCloud/default", "namespace 'OneCloud'"),
        ("one_cloud/default", "namespace 'one_cloud'"),
        ("onecloud/Default", "name 'Default'"),
        ("onecloud/a/b", "name 'a/b'"),
        ("onecloud/-x", "name '-x'"),
        ("onecloud/" + "b" * 239, "at most 238"),
    ],
)
def test_bad_cluster_reference_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, ref: str, needle: str
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(cli, "_read_secret", lambda *a: calls.append(a))
    code = cli.main(["export-cluster-config", ref])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0]
    assert calls == []


@pytest.mark.parametrize(
    "argv",
    [["export-cluster-config"], ["export-cluster-config", "ns/c", "-o", "json"]],
    ids=["none", "bad -o"],
)
def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    lines = err.splitlines()  # one line, as every CLI error (cli._Parser)
    assert len(lines) == 1 and lines[0].startswith("error: cloudpods-operator export-cluster-config: "), err
