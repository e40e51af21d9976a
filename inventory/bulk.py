"""Set-wise writes for big batches: PostgreSQL COPY, with a portable fallback.

Django's bulk_create spends most of its time preparing values (measured: 38 s of 51 s for
100,000 numbers plus their history). COPY with ids taken from the sequence up front does
the same work in a fraction of that. These helpers only move rows; the rules that decide
which rows to write stay in the services.
"""

from __future__ import annotations

import datetime as dt
import select
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, models, transaction
from simple_history.utils import get_history_model_for_model

COPY_THRESHOLD = 500  # below this, plain bulk_create is as fast and simpler

M = TypeVar("M", bound=models.Model)


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _column(field: models.Field[Any, Any]) -> str:
    """The field's column; only concrete fields have one, and only those are written here."""
    if field.column is None:
        raise TypeError(f"{field} has no database column")
    return field.column


def _concrete_field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """`name`'s field, refusing a reverse relation (it has no column to write)."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is a reverse relation, not a column")
    return field


@contextmanager
def bound_cursor() -> Iterator[Any]:
    """PostgreSQL: a cursor that sends its parameters apart from the SQL (server-side
    binding), so a 500 KB array literal is not escaped into the statement text."""
    import psycopg

    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def pg_array(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal ('{1,2,NULL}') for one text parameter cast to `type[]`.

    psycopg adapts a list element by element in Python; a literal is one string, and a
    batch's values repeat (one state, one end), so each distinct value is spelled once.
    Strings only (an import's 20,000 numbers): escaped in one pass over their join."""
    values = values if isinstance(values, list | tuple) else list(values)
    if values and set(map(type, values)) == {str}:
        joined = "\x01".join(values)  # \x01 stands for the separators while escaping
        if joined.count("\x01") == len(values) - 1:
            return '{"' + joined.replace("\\", "\\\\").replace('"', '\\"').replace("\x01", '","') + '"}'
    spelled: dict[Any, str] = {}
    out = []
    for v in values:
        text = spelled.get(v)
        if text is None:
            text = spelled[v] = _array_element(v)
        out.append(text)
    return "{" + ",".join(out) + "}"


def pg_ids(ids: Iterable[int]) -> str:
    """pg_array for integers only (ids): one join."""
    return "{" + ",".join(map(str, ids)) + "}"


def _array_element(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "t" if v else "f"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            raise ValueError(f"naive datetime {v} for a timestamptz array")
        return f'"{v.isoformat()}"'
    text = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _reserve_ids(model: type[models.Model], count: int) -> list[int]:
    pk_column = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, pk_column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def copy_rows(model: type[models.Model], columns: Sequence[str],
              rows: Iterable[Sequence[object]], *, constant: Sequence[object] = ()) -> None:
    """COPY plain value tuples into the model's table (PostgreSQL only). `constant`: values
    of the last columns that are the same in every row, spelled once (not part of `rows`)."""
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    connection.ensure_connection()
    # wrap_database_errors: a duplicate raises django.db.IntegrityError, as bulk_create would.
    with connection.wrap_database_errors, connection.connection.cursor() as cursor, cursor.copy(
        f"COPY {table} ({cols}) FROM STDIN"
    ) as copy:
        for block in CopyText(cursor).blocks(rows, constant=constant):
            copy.write(block)


COPY_BLOCK_ROWS = 1000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPELLED = {None: "\\N", True: "t", False: "f"}
_SPELLED_KINDS = (bool, type(None))
# Types whose equal values have the same text (or the same instant): spelled once per value.
_SPELLED_ONCE = frozenset({dt.datetime, dt.date, dt.time, uuid.UUID})


class CopyText:
    """Rows in COPY's text format, a block of lines at a time.

    psycopg's own formatter asks a dumper for every value: 15 µs for an imported number's
    row, most of a million-row import's Python time. Here strings, None and booleans are
    spelled inline and ints by str(); a block is escaped only when it holds a tab, a
    newline, a carriage return or a backslash of its own; every other type goes through
    psycopg's dumper (datetimes, dates and uuids once per distinct value). The text is
    exactly what psycopg would send (tests/inventory/test_bulk.py compares them)."""

    def __init__(self, cursor: Any = None):
        from psycopg.adapt import PyFormat, Transformer

        self._tx = Transformer(cursor)
        self._format = PyFormat.TEXT
        self._spelled: dict[tuple[type, Any, Any], str] = {}

    def cell(self, v: Any) -> str:
        """One value's text, unescaped."""
        if v.__class__ is str:
            return v
        if v.__class__ in _SPELLED_KINDS:
            return _SPELLED[v]
        if v.__class__ is int:
            return str(v)
        if isinstance(v, str):  # a str subclass (a TextChoices member): its text
            return str.__str__(v)
        if v.__class__ not in _SPELLED_ONCE:  # Decimal("1.5") == Decimal("1.50"): no cache
            return self._dumped(v)
        key = (v.__class__, v, getattr(v, "tzinfo", None))  # equal instants, other offsets
        if (text := self._spelled.get(key)) is None:
            text = self._dumped(v)
            if len(self._spelled) < 10_000:
                self._spelled[key] = text
        return text

    def _dumped(self, v: Any) -> str:
        dumped = self._tx.get_dumper(v, self._format).dump(v)
        return "\\N" if dumped is None else bytes(dumped).decode()

    def _escaped(self, row: Sequence[object]) -> str:
        return "\t".join("\\N" if v is None else self.cell(v).translate(_COPY_ESCAPES) for v in row)

    def blocks(self, rows: Iterable[Sequence[object]], *, constant: Sequence[object] = ()
               ) -> Iterator[str]:
        """COPY_BLOCK_ROWS lines at a time; `constant` ends every line."""
        end = "".join("\t" + self._escaped((v,)) for v in constant) + "\n"
        spell, spelled, kinds = self.cell, _SPELLED, _SPELLED_KINDS
        block: list[Sequence[object]] = []
        lines: list[str] = []
        nulls = 0
        for row in rows:
            lines.append("\t".join([v if v.__class__ is str else spelled[v] if v.__class__ in kinds
                                    else spell(v) for v in row]))
            nulls += row.count(None)
            block.append(row)
            if len(block) >= COPY_BLOCK_ROWS:
                yield self._block(block, lines, nulls, end)
                block, lines, nulls = [], [], 0
        if block:
            yield self._block(block, lines, nulls, end)

    def _block(self, rows: list[Sequence[object]], lines: list[str], nulls: int, end: str) -> str:
        probe = "\n".join(lines)
        # Only None's \N may hold a backslash, only the separators may be tabs and newlines.
        if ("\r" in probe or probe.count("\n") != len(lines) - 1 or probe.count("\\") != nulls
                or probe.count("\t") != sum(map(len, rows)) - len(rows)):
            lines = [self._escaped(row) for row in rows]
        return end.join(lines) + end


def insert_objects(objs: list[M], *, batch_size: int = 2000) -> list[M]:
    """Insert model instances and set their primary keys (COPY on PostgreSQL)."""
    if not objs:
        return objs
    model = type(objs[0])
    if not _is_postgres() or len(objs) < COPY_THRESHOLD:
        return model._default_manager.bulk_create(objs, batch_size=batch_size)
    pk = model._meta.pk
    for obj, new_id in zip(objs, _reserve_ids(model, len(objs)), strict=True):
        setattr(obj, pk.attname, new_id)
    fields = [f for f in model._meta.concrete_fields]
    columns = [_column(f) for f in fields]
    attnames = [f.attname for f in fields]
    # (field, auto_now) for the date/time fields that stamp themselves, as save() would
    stamped = [(f, bool(getattr(f, "auto_now", False))) for f in fields
               if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    for obj in objs:
        for f, auto_now in stamped:
            if getattr(obj, f.attname) is None or auto_now:
                f.pre_save(obj, add=True)
        obj._state.adding = False
        obj._state.db = connection.alias
    copy_rows(model, columns, ([getattr(o, a) for a in attnames] for o in objs))
    return objs


def insert_history(instances: Sequence[models.Model], *, history_type: str, user_id: int | None,
                   reason: str, date: dt.datetime, batch_size: int = 2000) -> None:
    """One history row per instance, as simple-history's bulk_history_create writes it."""
    if not instances:
        return
    model = type(instances[0])
    history = get_history_model_for_model(model)
    if not _is_postgres() or len(instances) < COPY_THRESHOLD:
        history.objects.bulk_create(
            [
                history(
                    history_date=date, history_user_id=user_id, history_change_reason=reason,
                    history_type=history_type,
                    **{f.attname: getattr(obj, f.attname) for f in history.tracked_fields},
                )
                for obj in instances
            ],
            batch_size=batch_size,
        )
        return
    tracked = [f.attname for f in history.tracked_fields]
    columns = [history.tracked_fields[i].column for i in range(len(tracked))] + [
        "history_date", "history_user_id", "history_change_reason", "history_type",
    ]
    copy_rows(
        history,
        columns,
        ([*(getattr(o, a) for a in tracked), date, user_id, reason, history_type] for o in instances),
    )


def clone(template: M, **values: Any) -> M:
    """A new unsaved instance like `template` with `values` changed, without Model.__init__.

    Building 100,000 instances through __init__ took longer than inserting them.
    """
    obj = type(template).__new__(type(template))
    obj.__dict__ = {**template.__dict__, "_state": models.base.ModelState(), **values}
    return obj


def update_from_arrays(model: type[models.Model], objs: Sequence[models.Model], names: list[str], *,
                       chunk: int = 20_000) -> bool:
    """PostgreSQL: write per-row values with one UPDATE … FROM unnest(arrays) per chunk.

    For values that differ per row (an import's notes), where grouping by value would mean
    one UPDATE per row. Returns False elsewhere, so the caller falls back to grouping.
    """
    if not _is_postgres():
        return False
    fields = [_concrete_field(model, name) for name in names]
    qn = connection.ops.quote_name
    sql = (f"UPDATE {qn(model._meta.db_table)} AS p SET "
           + ", ".join(f"{qn(_column(f))} = v.{qn(_column(f))}" for f in fields)
           + " FROM unnest(%s::bigint[], "
           + ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
           + f") AS v(id, {', '.join(qn(_column(f)) for f in fields)}) WHERE p.id = v.id")
    with connection.cursor() as cursor:
        for start in range(0, len(objs), chunk):
            part = objs[start : start + chunk]
            columns = [[f.get_db_prep_save(getattr(o, f.attname), connection) for o in part]
                       for f in fields]
            cursor.execute(sql, [[o.pk for o in part], *columns])
    return True


def update_same_with_history(model: type[models.Model], ids: Sequence[int],
                             values: dict[str, Any], *,
                             user_id: int | None, reason: str, date: dt.datetime,
                             chunk: int = 2000) -> None:
    """Give rows the same new values and write one history row each, without loading them.

    The history rows are copied inside the database from the rows just written (on
    PostgreSQL in the same statement: UPDATE … RETURNING feeds the INSERT), with the user,
    reason and date simple-history would record. Used by sweeps over 100,000 rows.
    """
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    insert, columns = _history_insert(model)
    values = {**values, "updated_at": date}
    fields = [_concrete_field(model, name) for name in values]
    params = [f.get_db_prep_save(v, connection) for f, v in zip(fields, values.values(), strict=True)]
    assignments = ", ".join(f"{quote(_column(f))} = %s" for f in fields)
    if _is_postgres():
        sql = (f"WITH changed AS (UPDATE {table} SET {assignments} WHERE id = ANY(%s) "
               f"RETURNING {columns}) {insert} FROM changed")
        with connection.cursor() as cursor:
            for start in range(0, len(ids), chunk):
                cursor.execute(sql, [*params, list(ids[start : start + chunk]), date, user_id, reason, "~"])
        return
    with connection.cursor() as cursor:  # SQLite: the same two statements, one after the other
        for start in range(0, len(ids), chunk):
            part = list(ids[start : start + chunk])
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(f"UPDATE {table} SET {assignments} WHERE id IN ({marks})", [*params, *part])
            cursor.execute(f"{insert} FROM {table} WHERE id IN ({marks})",
                           [date, user_id, reason, "~", *part])


# --- the import's raw SQL ------------------------------------------------------------------


def rows_by_unique(model: type[M], field_name: str, values: list[str], *,
                   chunk: int = 5000) -> list[M]:
    """The rows whose unique `field_name` is one of `values` (an import's diff read)."""
    if _is_postgres():  # one array parameter instead of thousands
        column = connection.ops.quote_name(_column(_concrete_field(model, field_name)))
        return list(model._default_manager.raw(
            f"SELECT * FROM {model._meta.db_table} WHERE {column} = ANY(%s)", [values]))
    found: list[M] = []
    for start in range(0, len(values), chunk):
        found.extend(model._default_manager.filter(
            **{f"{field_name}__in": values[start : start + chunk]}))
    return found


def unique_diff(model: type[models.Model], field_name: str,
                rows: Sequence[tuple[str, dict[str, Any], bool]]) -> tuple[set[int], set[int]]:
    """Which of an import's rows are new, and which existing rows differ (PostgreSQL).

    `rows`: (unique value, {attname: value} the row gives, whether to return it anyway when
    it exists). The rows go by COPY to a temporary table and are compared with the table
    in one join, so an unchanged row costs an index probe and no model instance. Returns
    (indexes of the rows whose value is not in the table, indexes of the existing rows that
    differ in a value they give, or are returned anyway).
    """
    qn = connection.ops.quote_name
    attnames = sorted({name for _, attrs, _ in rows for name in attrs})
    fields = [_concrete_field(model, name) for name in attnames]
    key = _concrete_field(model, field_name)
    given = ", ".join(f"c{i} {f.db_type(connection)}, g{i} boolean" for i, f in enumerate(fields))
    differs = " OR ".join(f"(s.g{i} AND n.{qn(_column(f))} IS DISTINCT FROM s.c{i})"
                          for i, f in enumerate(fields))
    pk = qn(_column(model._meta.pk))
    # One index probe per row (LATERAL … OFFSET 0): as a plain join PostgreSQL hashed the
    # whole table for each chunk (1.6 s for 20,000 rows against 1M, vs 0.12 s).
    sql = (f"SELECT s.seq, n.{pk} IS NULL FROM _import_diff s "
           f"LEFT JOIN LATERAL (SELECT * FROM {qn(model._meta.db_table)} t "
           f"WHERE t.{qn(_column(key))} = s.k OFFSET 0) n ON true "
           f"WHERE n.{pk} IS NULL OR s.anyway"
           + (f" OR {differs}" if differs else ""))
    new: set[int] = set()
    changed: set[int] = set()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pg_temp._import_diff")
        cursor.execute(f"CREATE TEMP TABLE _import_diff (seq integer, k {key.db_type(connection)}, "
                       f"anyway boolean{', ' + given if given else ''}) ON COMMIT DROP")
        columns = ", ".join(["seq", "k", "anyway", *(f"c{i}, g{i}" for i in range(len(fields)))])
        with cursor.cursor.copy(f"COPY _import_diff ({columns}) FROM STDIN") as copy:
            for seq, (value, attrs, anyway) in enumerate(rows):
                row: list[Any] = [seq, value, anyway]
                for name in attnames:
                    if name in attrs:
                        row += (attrs[name], True)
                    else:
                        row += (None, False)
                copy.write_row(row)
        cursor.execute(sql)
        for seq, missing in cursor.fetchall():
            (new if missing else changed).add(seq)
    return new, changed


def unique_present(model: type[models.Model], field_name: str, values: Sequence[str]) -> set[str]:
    """Which of `values` the unique `field_name` already holds (PostgreSQL): one index probe
    per value, whatever the planner's statistics. A plain `= ANY(20,000 values)` is planned
    as a seq scan of the whole table once the array is long enough (20,000 probes cost more
    on paper than reading 1M rows)."""
    qn = connection.ops.quote_name
    column = qn(_column(_concrete_field(model, field_name)))
    sql = (f"SELECT s.k FROM unnest(%s::text[]) AS s(k) WHERE EXISTS "
           f"(SELECT 1 FROM {qn(model._meta.db_table)} t WHERE t.{column} = s.k OFFSET 0)")
    with bound_cursor() as cursor:
        cursor.execute(sql, [pg_array(values)])
        return {k for (k,) in cursor.fetchall()}


def _history_insert(model: type[models.Model]) -> tuple[str, str]:
    """(INSERT INTO history (…) SELECT …, its tracked columns): one history row per row
    selected, with the date, user and reason parameters and the history type as simple-history
    records them; the caller adds FROM."""
    history = get_history_model_for_model(model)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in history.tracked_fields)
    return (f"INSERT INTO {quote(history._meta.db_table)} ({columns}, history_date, history_user_id, "
            f"history_change_reason, history_type) SELECT {columns}, %s, %s, %s, %s"), columns


@dataclass(frozen=True)
class Statement:
    """SQL and its parameters (bound apart from the SQL), to run in the caller's transaction
    now or left running while the caller goes on (statements_run, Later.send)."""

    sql: str
    params: Sequence[Any] = ()


def statements_run(statements: Sequence[Statement], *, later: Later | None = None) -> None:
    """Run `statements` in order: now, or sent to `later` (PostgreSQL) to run meanwhile."""
    if not statements:
        return
    if later is not None:
        later.send(statements)
        return
    with bound_cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.sql, statement.params)


class Later:
    """Statements whose results nobody reads, left running in PostgreSQL while this process
    goes on: an import's history rows are written while it reads and checks its next chunk.

    psycopg's pipeline mode on the caller's connection, inside its transaction: the server
    starts on a statement as soon as it has it. `wait()` leaves the pipeline: it waits for
    what was sent and raises the first failure (as django.db errors). Call it before a COPY
    (which a pipeline does not allow) and before the transaction ends; a query that reads a
    result in between simply waits for the statements before it. As a context manager it
    waits on the way out, and on an error leaves the pipeline without hiding that error.
    """

    def __init__(self) -> None:
        self._stack: ExitStack | None = None
        self._cursors: list[Any] = []

    def send(self, statements: Sequence[Statement]) -> None:
        import psycopg

        connection.ensure_connection()
        conn = connection.connection
        with connection.wrap_database_errors:
            if self._stack is None:
                stack = ExitStack()
                stack.enter_context(conn.pipeline())
                self._stack = stack
            for statement in statements:
                cursor = psycopg.Cursor(conn)
                self._cursors.append(cursor)
                cursor.execute(statement.sql, statement.params)
            _flush(conn.pgconn)

    def wait(self) -> None:
        stack, self._stack = self._stack, None
        cursors, self._cursors = self._cursors, []
        try:
            if stack is not None:
                with connection.wrap_database_errors:
                    stack.close()
        finally:
            for cursor in cursors:
                cursor.close()

    def __enter__(self) -> Later:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is None:
            self.wait()
            return
        stack, self._stack = self._stack, None
        self._cursors = []
        if stack is not None:
            stack.__exit__(kind, error, trace)  # leaves the pipeline; the error goes on


def _flush(pgconn: Any) -> None:
    """Push what libpq still holds of the statements onto the socket (a 20,000-number
    array is larger than one non-blocking write), so the server has them all now."""
    while pgconn.flush():
        readable, _, _ = select.select([pgconn.socket], [pgconn.socket], [])
        if readable:
            pgconn.consume_input()


def copy_insert(model: type[models.Model], template: models.Model, staged: Sequence[str],
                rows: Iterable[Sequence[object]], *, key: str, user_id: int | None, reason: str,
                date: dt.datetime) -> list[Statement]:
    """New rows without a model instance per row (PostgreSQL); returns the statements that
    write their history rows, which the caller runs in the same transaction (statements_run).

    The rows' own values (the `staged` attnames, `key` a unique one among them) and the
    columns that are the same for every row (taken from `template`, so model defaults stay
    the source) go by COPY straight into the table, ids from the table's own default; the
    history is one INSERT … SELECT that copies each new row, found by its key (user, reason
    and date as simple-history would). No id or value makes a second trip through Python.
    A duplicate raises django.db.IntegrityError. The foreign keys are checked per statement
    until the history is written: as millions of deferred trigger events fired at COMMIT
    they cost about a third more; back to deferred after.
    """
    fields = {f.attname: f for f in model._meta.concrete_fields}
    constant = [a for a, f in fields.items() if not f.primary_key and a not in staged]
    fixed = tuple(fields[a].get_db_prep_save(getattr(template, a), connection) for a in constant)
    at = list(staged).index(key)
    qn = connection.ops.quote_name
    insert, columns = _history_insert(model)
    history_sql = (f"{insert} FROM unnest(%s::text[]) AS s(k) CROSS JOIN LATERAL (SELECT {columns} "
                   f"FROM {qn(model._meta.db_table)} t WHERE t.{qn(_column(fields[key]))} = s.k "
                   "OFFSET 0) AS n")
    keys: list[Any] = []

    def keyed() -> Iterator[Sequence[object]]:
        # Consumed while the COPY streams: PostgreSQL writes rows as Python makes the next.
        for row in rows:
            keys.append(row[at])
            yield row

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        copy_rows(model, [_column(fields[a]) for a in (*staged, *constant)], keyed(), constant=fixed)
    history = [Statement(history_sql, [date, user_id, reason, "+", pg_array(keys)])] if keys else []
    return [*history, Statement("SET CONSTRAINTS ALL DEFERRED")]
