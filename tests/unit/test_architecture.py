"""Rules of the layout that reviews miss and a test does not: SQL lives only in repos/,
the domain imports no framework, and no float comes near money."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "kassa",
    "web",
    "workers",
    "outbox",
    "schemas",
    "checkout",
    "merchant",
    "ops",
    "stripe_emulator",
    "devstack",
]
DOMAIN = ["checkout", "merchant"]
SQL = re.compile(
    r"\b(SELECT\s+.+\s+FROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE|"
    r"ALTER\s+TABLE|TRUNCATE\s+\w+|ON\s+CONFLICT)\b",
    re.IGNORECASE | re.DOTALL,
)
# The embedded Postgres launcher creates the database itself before any repository can exist.
ALLOWED = {("devstack", "services.py")}


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def test_no_sql_outside_repos() -> None:
    offenders = []
    for package in PACKAGES:
        for path in python_files(package):
            if (package, path.name) in ALLOWED:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}: {s[:60]!r}"
                for s in string_constants(path)
                if SQL.search(s)
            ]
    assert offenders == []


def test_the_sql_detector_detects_sql(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text('Q = """select id\n from orders"""\nR = "update orders set x = 1"\n')
    assert [s for s in string_constants(sample) if SQL.search(s)] == [
        "select id\n from orders",
        "update orders set x = 1",
    ]


def test_domain_imports_neither_flask_nor_rq() -> None:
    for path in [p for package in DOMAIN for p in python_files(package)]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                root = name.split(".")[0]
                assert root not in {"flask", "rq", "werkzeug", "web"}, f"{path}: imports {name}"


MONEY_WORDS = re.compile(r"amount|price|total|subtotal|discount|shipping|money", re.IGNORECASE)


def float_suspects(path: Path, root: Path = ROOT) -> list[str]:
    """Float literals, float() calls and true divisions on lines that talk about money."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.expr):
            continue
        suspicious = (
            (isinstance(node, ast.Constant) and isinstance(node.value, float))
            or (isinstance(node, ast.Name) and node.id == "float")
            or (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div))
        )
        if suspicious:
            line = lines[node.lineno - 1]
            if MONEY_WORDS.search(line.split("#")[0].replace("total_seconds", "")):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {line.strip()}")
    return found


def test_no_float_in_money_code() -> None:
    offenders = []
    for package in ["checkout", "merchant", "schemas", "repos", "web", "workers", "outbox"]:
        for path in python_files(package):
            if path != ROOT / "schemas" / "money.py":  # the guard that refuses floats
                offenders += float_suspects(path)
    assert offenders == []


def test_the_float_detector_detects_floats(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text(
        "def f(amount):\n    total = amount * 1.1\n    price = float(amount)\n"
        '    share = amount / 3\n    """amount / 3 in a docstring is fine"""\n'
    )
    assert len(float_suspects(sample, tmp_path)) == 3


def test_the_buyer_side_does_not_depend_on_the_merchant_side() -> None:
    for path in python_files("checkout"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "merchant", f"{path}"
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "merchant" for a in node.names), f"{path}"


EDGES = ["web", "ops", "devstack"]
SEEDING = ROOT / "ops" / "seed.py"
"""The demo catalog is a use case of its own that happens to live with the command line."""


def opened_units_of_work(path: Path) -> list[int]:
    """Lines that call ``<something>.uow()``: opening a unit of work."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "uow"
    ]


def test_edges_never_open_a_unit_of_work() -> None:
    """Views, commands and the dev tooling call use cases; the use case owns the transaction
    (the unit of work commits on a clean exit, so a half-done write in an edge's ``with uow``
    block would commit)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in EDGES
        for path in python_files(package)
        if path != SEEDING
        for line in opened_units_of_work(path)
    ]
    assert offenders == []


def runs_in_callers_transaction(node: ast.FunctionDef) -> bool:
    params = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
    return any(
        p.annotation is not None and ast.unparse(p.annotation) == "UnitOfWork" for p in params
    )


def test_a_function_that_runs_in_its_callers_transaction_says_so() -> None:
    """A module-level function that takes a ``UnitOfWork`` runs inside its caller's
    transaction, and its name ends in ``_in`` (``fulfil_in``), so a reader sees it at the
    call site."""
    offenders = [
        f"{path.relative_to(ROOT)}:{node.name}"
        for package in [*DOMAIN, "workers", "outbox", *EDGES]
        for path in python_files(package)
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.FunctionDef)
        and runs_in_callers_transaction(node)
        and not node.name.endswith("_in")
    ]
    assert offenders == []


def test_the_transaction_rules_detect_offenders(tmp_path: Path) -> None:
    sample = tmp_path / "v.py"
    sample.write_text(
        "def view(c):\n    with c.uow() as uow:\n        pass\n"
        "def write(uow: UnitOfWork) -> None:\n    pass\n"
    )
    tree = ast.parse(sample.read_text())
    assert opened_units_of_work(sample) == [2]
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["view", "write"]
    write = tree.body[1]
    assert isinstance(write, ast.FunctionDef) and runs_in_callers_transaction(write)


def private_devstack_imports(path: Path) -> list[str]:
    """``from devstack... import _name``: a private helper of the development wing used
    from outside it (a renamed or reworked helper then breaks a bench or a test silently)."""
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "devstack"
        for alias in node.names
        if alias.name.startswith("_")
    ]


def test_nothing_outside_the_development_wing_uses_its_private_names() -> None:
    """``kassa dev``, the benches and the tests share devstack's public names only."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for folder in [*PACKAGES, "bench", "tests"]
        if folder != "devstack"
        for path in python_files(folder)
        for name in private_devstack_imports(path)
    ]
    assert offenders == []


def test_the_private_import_rule_detects_offenders(tmp_path: Path) -> None:
    sample = tmp_path / "b.py"
    sample.write_text(
        "from devstack.processes import _killpg, wait_for\nfrom checkout.reconcile import _x\n"
    )
    assert private_devstack_imports(sample) == ["devstack.processes._killpg"]
