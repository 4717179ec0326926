"""databases: the rows the catalog asks for, and what differs from a server's state (pure)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import test_architecture

from cloudpods_operator import catalog, credentials
from cloudpods_operator.databases import (
    HOSTS,
    DatabaseGrant,
    Login,
    MissingPassword,
    SchemaGrant,
    ServerState,
    changes,
    desired,
    logins,
    missing_databases,
    missing_grants,
    missing_users,
    password_keys,
    passwords_differ,
    schema_grants,
)

CREDENTIALS = {key: f"pw-{key}" for key in credentials.password_keys()}
HASHES = {key: f"hash-of-{value}" for key, value in CREDENTIALS.items()}

# The reference's facts, spelled out where the user or the database is not the account's key.
EXPECTED: dict[str, tuple[str, str, str] | None] = {
    "keystone": ("keystone", "keystone", "keystone.db-password"),
    "region": ("yunioncloud", "yunioncloud", "region.db-password"),
    "scheduler": None,  # region's database and user, created by region
    "monitor": ("monitor", "yunionmonitor", "monitor.db-password"),
    "itsm": ("itsm_engine", "itsm", "itsm.db-password"),
    "ansibleserver": ("yunionansible", "yunionansible", "ansibleserver.db-password"),
    "bastionhost": ("bastionhost", "bastionhost", "bastionHost.db-password"),
    "mcp-server": None,  # an account whose Go defaulting leaves the database empty
    "web": None,
}


def _expected(comp: catalog.Component) -> tuple[str, str, str] | None:
    if comp.name in EXPECTED:
        return EXPECTED[comp.name]
    if not (comp.db and comp.owns_account and comp.account):
        return None
    account = catalog.ACCOUNTS[comp.account]
    assert account.db_user is not None
    return (comp.db, account.db_user, f"{comp.account}.db-password")


@pytest.mark.parametrize("comp", catalog.COMPONENTS, ids=lambda c: c.name)
def test_each_component_ensures_its_database_or_none(comp: catalog.Component) -> None:
    rows = desired([(comp.name, comp)], CREDENTIALS)
    want = _expected(comp)
    assert rows == ((DatabaseGrant(*want),) if want else ())


def test_the_table_names_real_components() -> None:
    assert set(EXPECTED) <= set(catalog.BY_NAME)


def _full_stack() -> list[tuple[str, catalog.Component]]:
    return [(c.name, c) for c in catalog.COMPONENTS if "FullStack" in c.products]


def test_the_full_stack_rows_are_distinct_users_and_databases() -> None:
    rows = desired(_full_stack(), CREDENTIALS)
    assert len(rows) == len({r.database for r in rows}) == len({r.user for r in rows}) == 26
    assert list(rows) == sorted(rows)
    assert all(r.password_key in CREDENTIALS for r in rows)
    assert set(password_keys(rows)) == {r.password_key for r in rows}


def test_rows_are_deduplicated() -> None:
    comp = catalog.BY_NAME["region"]
    twin = dataclasses.replace(comp, name="region-twin")
    assert desired([("region", comp), ("region", comp), ("region-twin", twin)], CREDENTIALS) == (
        DatabaseGrant("yunioncloud", "yunioncloud", "region.db-password"),
    )


def test_a_shared_account_that_does_not_own_it_ensures_nothing() -> None:
    borrower = dataclasses.replace(catalog.BY_NAME["region"], name="borrower", owns_account=False)
    assert desired([("borrower", borrower)], CREDENTIALS) == ()


@pytest.mark.parametrize("value", [None, ""], ids=["absent", "empty"])
def test_a_missing_password_names_the_key_and_components(value: str | None) -> None:
    creds = {k: v for k, v in CREDENTIALS.items() if k != "monitor.db-password"}
    if value is not None:
        creds["monitor.db-password"] = value
    with pytest.raises(MissingPassword, match=r"'monitor.db-password' \(the database password of monitor\)"):
        desired([("monitor", catalog.BY_NAME["monitor"])], creds)


def test_one_user_with_two_passwords_is_a_catalog_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    accounts = dict(catalog.ACCOUNTS)
    accounts["glance"] = dataclasses.replace(accounts["glance"], db_user="yunioncloud")
    monkeypatch.setattr(catalog, "ACCOUNTS", accounts)
    pair = [("region", catalog.BY_NAME["region"]), ("glance", catalog.BY_NAME["glance"])]
    with pytest.raises(ValueError, match="'yunioncloud' has two passwords"):
        desired(pair, CREDENTIALS)


# ---- comparing with the server --------------------------------------------------------------------

ROWS = (
    DatabaseGrant("glance", "glance", "glance.db-password"),
    DatabaseGrant("monitor", "yunionmonitor", "monitor.db-password"),
)


def _at_rest(rows: tuple[DatabaseGrant, ...] = ROWS) -> ServerState:
    return ServerState(
        databases=frozenset(r.database for r in rows),
        passwords={login: HASHES[key] for login, key in logins(rows).items()},
        grants=frozenset(schema_grants(rows)),
    )


def test_logins_and_grants_cover_every_host() -> None:
    assert HOSTS == ("%", "127.0.0.1", "::1")
    assert list(logins(ROWS)) == [Login(u, h) for u in ("glance", "yunionmonitor") for h in HOSTS]
    assert schema_grants(ROWS[1:]) == tuple(
        sorted(SchemaGrant("monitor", Login("yunionmonitor", h)) for h in HOSTS)
    )
    assert str(Login("glance", "%")) == "'glance'@'%'"


def test_an_empty_server_needs_everything() -> None:
    todo = changes(ROWS, ServerState(), HASHES)
    assert todo.databases == ("glance", "monitor")
    assert todo.users == tuple(logins(ROWS).items())
    assert todo.passwords == ()
    assert todo.grants == schema_grants(ROWS)
    assert not todo.empty


def test_at_rest_nothing_differs() -> None:
    assert changes(ROWS, _at_rest(), HASHES).empty


def test_a_changed_password_alters_that_user_at_every_host() -> None:
    hashes = HASHES | {"monitor.db-password": "hash-of-new"}
    todo = changes(ROWS, _at_rest(), hashes)
    assert todo.passwords == tuple((Login("yunionmonitor", h), "monitor.db-password") for h in HOSTS)
    assert dataclasses.replace(todo, passwords=()).empty


def test_an_account_on_another_plugin_differs() -> None:
    state = _at_rest()
    passwords = dict(state.passwords) | {Login("glance", "::1"): None}
    diff = passwords_differ(ROWS, dataclasses.replace(state, passwords=passwords), HASHES)
    assert diff == ((Login("glance", "::1"), "glance.db-password"),)


@pytest.mark.parametrize(
    ("drop", "field", "want"),
    [
        ("databases", "databases", ("monitor",)),
        ("users", "users", ((Login("yunionmonitor", "127.0.0.1"), "monitor.db-password"),)),
        ("grants", "grants", (SchemaGrant("glance", Login("glance", "%")),)),
    ],
)
def test_only_what_is_missing_is_sent(drop: str, field: str, want: tuple[object, ...]) -> None:
    state = _at_rest()
    if drop == "databases":
        state = dataclasses.replace(state, databases=frozenset({"glance", "unrelated"}))
    elif drop == "users":
        passwords = {k: v for k, v in state.passwords.items() if k != Login("yunionmonitor", "127.0.0.1")}
        state = dataclasses.replace(state, passwords=passwords)
    else:
        state = dataclasses.replace(
            state, grants=state.grants - {SchemaGrant("glance", Login("glance", "%"))}
        )
    todo = changes(ROWS, state, HASHES)
    assert getattr(todo, field) == want
    assert dataclasses.replace(todo, **{field: ()}).empty


def test_the_single_comparisons_agree_with_changes() -> None:
    state = ServerState(databases=frozenset({"glance"}))
    assert missing_databases(ROWS, state) == ("monitor",)
    assert len(missing_users(ROWS, state)) == 2 * len(HOSTS)
    assert missing_grants(ROWS, state) == schema_grants(ROWS)
    assert passwords_differ(ROWS, state, HASHES) == ()


def test_databases_loads_no_io() -> None:
    probe = test_architecture._PROBE.format(module="databases", foreign=test_architecture.FOREIGN)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
