"""A SQL table (via SQLAlchemy) as a feedback source, read past a watermark column."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from feedback_ingest.raw import RawRecord
from feedback_ingest.sources import row_to_record


def public_url(url: str) -> str:
    """`url` without its password and query options (which may carry tokens)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ValueError("SqlSource: the SQL URL is not a SQLAlchemy URL") from None
    public = sa.engine.URL.create(
        parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database
    )
    return public.render_as_string(hide_password=False)


def _encode_watermark(value: Any) -> dict:
    if isinstance(value, datetime):
        return {"kind": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"kind": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):  # NUMERIC ids (PostgreSQL numeric, Oracle NUMBER): exact
        return {"kind": "decimal", "value": str(value)}
    return {"kind": "plain", "value": value}


def _decode_watermark(data: dict) -> Any:
    kind, value = data["kind"], data["value"]
    if kind == "datetime":
        return datetime.fromisoformat(value)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    return value


class SqlSource:
    """Rows of a SQL table (via SQLAlchemy) past a watermark column.

    Each row is one event; its columns are the contract's fields, nested ones as JSON text.
    Rows sharing a watermark value are always read together, so a batch boundary never splits
    them; rows that arrive later with a watermark below the cursor are not seen (the usual
    watermark contract: the column must grow monotonically, e.g. an autoincrement id).

    The cursor's key names the database without its password or query options, so the key
    (printed in reports, stored in the state) holds no secret and a rotated password or a
    changed option keeps the cursor.
    """

    def __init__(self, url: str, table: str, watermark_column: str = "id") -> None:
        self.url = url
        self.table = table
        self.watermark_column = watermark_column
        self.key = f"sql:{public_url(url)}:{table}:{watermark_column}"
        self.legacy_key = f"sql:{url}:{table}:{watermark_column}"  # rmops before 2026-11-23

    def batches(self, cursor: Any, batch_size: int) -> Iterator[tuple[list[RawRecord], Any]]:
        """Batches of rows past the stored watermark, ordered by it."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        try:
            table = sa.Table(self.table, sa.MetaData(), autoload_with=engine)
            if self.watermark_column not in table.c:
                raise ValueError(
                    f"SqlSource: table {self.table!r} has no watermark column "
                    f"{self.watermark_column!r}"
                )
            column = table.c[self.watermark_column]
            self._refuse_missing_watermarks(engine, column)
            last = None if cursor is None else _decode_watermark(cursor["watermark"])
            while True:
                rows = self._fetch(engine, table, column, last, batch_size)
                if not rows:
                    return
                last = rows[-1][self.watermark_column]
                records = [
                    row_to_record(r, f"{self.table}:{r[self.watermark_column]}") for r in rows
                ]
                yield records, {"watermark": _encode_watermark(last)}
        finally:
            engine.dispose()

    def _refuse_missing_watermarks(self, engine: Any, column: Any) -> None:
        """A row without a watermark value cannot be read exactly once (no cursor can pass it):
        refuse the table, read nothing, until the producer gives every row one."""
        import sqlalchemy as sa

        with engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(column.table).where(column.is_(None))
            missing = conn.execute(query).scalar()
        if missing:
            raise ValueError(
                f"SqlSource: {missing} row(s) of table {self.table!r} have no watermark "
                f"({self.watermark_column} IS NULL); give them a value to ingest the table"
            )

    def _fetch(self, engine: Any, table: Any, column: Any, last: Any, limit: int) -> list[dict]:
        import sqlalchemy as sa

        past = sa.true() if last is None else column > last
        with engine.connect() as conn:
            upper = conn.execute(
                sa.select(column).where(past).order_by(column).offset(limit - 1).limit(1)
            ).scalar()
            query = sa.select(table).where(past).order_by(column)
            if upper is not None:  # a full batch: extend it to every row sharing the last value
                query = query.where(column <= upper)
            return [dict(row._mapping) for row in conn.execute(query)]
