"""Schema fidelity: after the migrations, PostgreSQL's catalog matches the spec, table by table.

The spec is transcribed in ``expected_schema.py``; this compares it with what PostgreSQL itself
reports (pg_catalog, pg_indexes): columns with type, nullability and default, CHECK constraints,
foreign keys with ON DELETE, unique constraints, indexes (method, keys, predicate), the
``updated_at`` triggers and the extensions.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import pytest

from hub.store import migrate
from tests.store.expected_schema import (
    EXPECTED_TABLES,
    EXTENSIONS,
    TABLES_WITH_UPDATED_AT,
    Column,
    ForeignKey,
    Index,
    Table,
)
from tests.store.support import admin_dsn, reset_postgres, run

pytestmark = pytest.mark.postgres

ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
CASTS = re.compile(
    r"::(?:text|jsonb|integer|double precision|numeric|boolean|uuid|timestamp with time zone)(?:\[\])?"
)


@dataclass
class Catalog:
    """What PostgreSQL reports about the public schema."""

    tables: dict[str, Table] = field(default_factory=dict)
    primary_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    triggers: set[str] = field(default_factory=set)
    extensions: set[str] = field(default_factory=set)


async def _read_catalog(url: str) -> Catalog:
    connection = await asyncpg.connect(admin_dsn(url))
    try:
        catalog = Catalog()
        for row in await connection.fetch(
            """
            SELECT c.relname AS table_name, a.attname AS column_name,
                   format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
                   pg_get_expr(d.adbin, d.adrelid) AS default
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
              AND c.relname <> 'alembic_version'
            ORDER BY c.relname, a.attnum
            """
        ):
            table = catalog.tables.setdefault(row["table_name"], Table(columns={}))
            table.columns[row["column_name"]] = Column(row["type"], row["nullable"], row["default"])
        for row in await connection.fetch(
            """
            SELECT c.relname AS table_name, con.contype::text AS contype, pg_get_constraintdef(con.oid) AS definition,
                   con.confdeltype::text AS confdeltype, f.relname AS referenced,
                   ARRAY(SELECT att.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                         JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = k.attnum
                         ORDER BY k.ord) AS columns
            FROM pg_constraint con
            JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_class f ON f.oid = con.confrelid
            WHERE n.nspname = 'public' AND c.relname <> 'alembic_version'
            """
        ):
            table = catalog.tables[row["table_name"]]
            columns = tuple(row["columns"])
            if row["contype"] == "c":
                table.checks.append(row["definition"])
            elif row["contype"] == "f":
                table.foreign_keys[columns[0]] = ForeignKey(row["referenced"], ON_DELETE[row["confdeltype"]])
            elif row["contype"] == "u":
                table.uniques.append(columns)
            elif row["contype"] == "p":
                catalog.primary_keys[row["table_name"]] = columns
        for row in await connection.fetch(
            """
            SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'public' AND tablename <> 'alembic_version'
              AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))
            """
        ):
            catalog.tables[row["tablename"]].indexes[row["indexname"]] = _parse_index(row["indexdef"])
        for row in await connection.fetch(
            """
            SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_proc p ON p.oid = t.tgfoid
            WHERE NOT t.tgisinternal AND p.proname = 'set_updated_at'
              -- tgtype bits: 1 = row level, 2 = before, 16 = update
              AND t.tgtype & 1 = 1 AND t.tgtype & 2 = 2 AND t.tgtype & 16 = 16
            """
        ):
            catalog.triggers.add(row["relname"])
        catalog.extensions = {
            row["extname"] for row in await connection.fetch("SELECT extname FROM pg_extension")
        }
        return catalog
    finally:
        await connection.close()


def _parse_index(definition: str) -> Index:
    match = re.search(r" USING (\w+) \((.*?)\)(?: WHERE (.*))?$", definition)
    assert match is not None, definition
    method, columns, where = match.groups()
    return Index(method, tuple(column.strip() for column in columns.split(",")), where)


def normalize_default(expression: str | None) -> str | None:
    """A default without PostgreSQL's casts: ``'{}'::jsonb`` and the spec's ``'{}'`` compare equal."""
    return None if expression is None else CASTS.sub("", expression).strip()


def normalize_expression(expression: str | None) -> str | None:
    """A CHECK or index predicate reduced so the spec's text and PostgreSQL's rendering compare equal."""
    if expression is None:
        return None
    text = expression.removeprefix("CHECK ")
    text = CASTS.sub("", text)
    text = re.sub(r"(\w+) = ANY \(ARRAY\[(.*?)\]\)", r"\1 IN (\2)", text)
    # Quotes: PostgreSQL quotes keywords used as names (the column "precision").
    return re.sub(r"[\s()\"]", "", text)


def _index_key(index: Index) -> tuple[str, tuple[str, ...], str | None]:
    columns = tuple(re.sub(r"\s+ASC$", "", column) for column in index.columns)
    return index.method, columns, normalize_expression(index.where)


def differences(name: str, expected: Table, actual: Table | None) -> list[str]:
    """Every way ``actual`` departs from ``expected``, one line each (empty: they match)."""
    if actual is None:
        return [f"{name}: table missing"]
    found: list[str] = []
    for column in expected.columns.keys() | actual.columns.keys():
        want, have = expected.columns.get(column), actual.columns.get(column)
        if want is None:
            found.append(f"{name}.{column}: not in the spec")
        elif have is None:
            found.append(f"{name}.{column}: column missing")
        else:
            want_n = (want.type, want.nullable, normalize_default(want.default))
            have_n = (have.type, have.nullable, normalize_default(have.default))
            if want_n != have_n:
                found.append(f"{name}.{column}: expected (type, nullable, default) {want_n}, found {have_n}")
    want_checks = Counter(normalize_expression(check) for check in expected.checks)
    have_checks = Counter(normalize_expression(check) for check in actual.checks)
    found += [f"{name}: CHECK missing: {check}" for check in want_checks - have_checks]
    found += [f"{name}: CHECK not in the spec: {check}" for check in have_checks - want_checks]
    for column in expected.foreign_keys.keys() | actual.foreign_keys.keys():
        want_fk, have_fk = expected.foreign_keys.get(column), actual.foreign_keys.get(column)
        if want_fk != have_fk:
            found.append(f"{name}.{column}: expected foreign key {want_fk}, found {have_fk}")
    want_uniques, have_uniques = set(expected.uniques), set(actual.uniques)
    found += [f"{name}: UNIQUE missing: {unique}" for unique in want_uniques - have_uniques]
    found += [f"{name}: UNIQUE not in the spec: {unique}" for unique in have_uniques - want_uniques]
    for index in expected.indexes.keys() | actual.indexes.keys():
        want_index, have_index = expected.indexes.get(index), actual.indexes.get(index)
        if want_index is None:
            found.append(f"{name}: index {index} not in the spec")
        elif have_index is None:
            found.append(f"{name}: index {index} missing")
        elif _index_key(want_index) != _index_key(have_index):
            found.append(
                f"{name}: index {index}: expected {_index_key(want_index)}, found {_index_key(have_index)}"
            )
    return found


@pytest.fixture(scope="module")
def catalog(migrated_postgres: str) -> Catalog:
    """The catalog of the database migrated to head."""
    return run(_read_catalog(migrated_postgres))


def test_the_database_has_exactly_the_spec_tables_and_the_hub_extensions(catalog: Catalog) -> None:
    assert set(catalog.tables) == set(EXPECTED_TABLES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TABLES))
def test_table_matches_the_spec(catalog: Catalog, name: str) -> None:
    assert differences(name, EXPECTED_TABLES[name], catalog.tables.get(name)) == []
    assert catalog.primary_keys.get(name) == ("id",)


def test_every_table_with_updated_at_has_the_trigger(catalog: Catalog) -> None:
    assert catalog.triggers == TABLES_WITH_UPDATED_AT


def test_the_spec_extensions_are_installed(catalog: Catalog) -> None:
    assert catalog.extensions >= EXTENSIONS


def test_the_comparison_notices_a_missing_column_constraint_and_index(postgres_url: str) -> None:
    run(migrate.upgrade(postgres_url))

    async def damage() -> None:
        connection = await asyncpg.connect(admin_dsn(postgres_url))
        try:
            await connection.execute("ALTER TABLE tenants DROP COLUMN deleted_at")
            await connection.execute("ALTER TABLE users DROP CONSTRAINT ck_users_role")
            await connection.execute("ALTER TABLE users DROP CONSTRAINT uq_users_tenant_id_email")
            await connection.execute("DROP INDEX idx_users_tenant_role")
            await connection.execute("ALTER TABLE workflows DROP CONSTRAINT fk_workflows_created_by_users")
        finally:
            await connection.close()

    run(damage())
    damaged = run(_read_catalog(postgres_url))
    reset_postgres(postgres_url)
    tenants = differences("tenants", EXPECTED_TABLES["tenants"], damaged.tables["tenants"])
    users = differences("users", EXPECTED_TABLES["users"], damaged.tables["users"])
    workflows = differences("workflows", EXPECTED_TABLES["workflows"], damaged.tables["workflows"])
    assert tenants == ["tenants.deleted_at: column missing"]
    assert len(users) == 3
    assert any("CHECK missing" in line for line in users)
    assert any("UNIQUE missing" in line for line in users)
    assert any("idx_users_tenant_role missing" in line for line in users)
    assert workflows == [
        "workflows.created_by: expected foreign key ForeignKey(table='users', on_delete='NO ACTION'), found None"
    ]
