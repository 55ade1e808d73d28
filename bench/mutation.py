"""Mutation score of the core modules: does the suite notice when one small thing in the code changes?

A small AST-based single-point mutant generator (mutmut and cosmic-ray expect a src/ package layout and
rewrite the working tree; this repository is a flat set of top-level packages). Each mutant changes ONE
place: a comparison flipped (``<`` ↔ ``<=``, ``==`` ↔ ``!=``, ``in`` ↔ ``not in``, ``is`` ↔ ``is not``), an
int constant moved by one, ``and`` ↔ ``or``, a ``not`` dropped, an ``if`` condition negated, a statement
(a call, an attribute assignment) removed, a returned value or a boolean constant changed. The tree is
copied once to a temporary directory; every mutant is written into the copy, the narrowest test files for
that module run against it (``-x``, with a timeout; a timeout counts as caught), and the file is put back.
The working tree is never touched.

    python bench/mutation.py                       # every module
    python bench/mutation.py --module outbox --limit 30
    python bench/mutation.py --pg                   # also the PostgreSQL-only tests (BOT_TEST_DATABASE_URL)
    python bench/mutation.py --module outbox --pg --match storage/claiming.py --tests tests/test_outbox_edges.py

Prints the score per module and every surviving mutant (file:line, the change).
Calls to ``log.*`` are not mutated: what is logged is not behaviour a test should pin.
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    name: str
    paths: tuple[str, ...]  # the files of the module (a module split by responsibility has several)
    tests: tuple[str, ...]
    scopes: tuple[str, ...] = ()  # only these functions/classes (dotted "Class.method" or "name"); () = all
    deselect: str = ""  # a pytest -k expression of slow tests to leave out (covered by narrower ones)


DESK_SCOPES = (  # the desk's access and signature code (handlers/desk/access.py)
    "AccessMixin.callback_data",
    "AccessMixin.parse_callback_data",
    "AccessMixin._sign",
    "AccessMixin.is_staff",
    "AccessMixin._sender_allowed",
    "AccessMixin._first_time",
    "_GroupCallbackQueryHandler.check_update",
    "_SIGNATURE_CHARS",  # a module-level constant
)

TARGETS = (
    Target(
        "validators",
        ("flows/validators.py",),
        ("tests/test_validators.py", "tests/test_boundaries.py", "tests/test_form_definition.py"),
    ),
    Target("lifecycle", ("flows/lifecycle.py",), ("tests/test_lifecycle.py",)),
    Target(
        "decisions",
        ("flows/decisions.py",),
        ("tests/test_decision_edges.py", "tests/test_decisions.py", "tests/test_survey.py"),
    ),
    Target("survey", ("flows/survey.py",), ("tests/test_survey_edges.py", "tests/test_survey.py")),
    Target(
        "outbox",
        (  # storage/outbox.py only re-exports these
            "storage/outbox_rows.py",
            "storage/outbox_claims.py",
            "storage/outbox_worker.py",
            "storage/claiming.py",
        ),
        (
            "tests/test_outbox_notices.py",
            "tests/test_outbox_hooks.py",
            "tests/test_outbox_edges.py",
            "tests/test_outbox.py",
        ),
        # Worker processes sending 300 and 1000 rows: their paths are covered in-process by test_outbox_edges.
        deselect="not killed_worker_process and not two_worker_processes",
    ),
    Target(
        "desk",
        ("handlers/desk/access.py",),
        (
            "tests/test_desk_access.py",
            "tests/test_staff_desk.py::test_a_non_member_is_refused_and_audited_but_a_configured_admin_is_not",
            "tests/test_staff_desk.py::test_forged_callback_data_is_refused_and_audited",
            "tests/test_staff_desk.py::test_a_redelivered_update_acts_once_in_polling_mode",
            "tests/test_staff_desk.py::test_card_buttons_send_the_full_record_and_files_privately_and_claim_edits_the_card",
        ),
        scopes=DESK_SCOPES,
    ),
)

# Message keys, log calls and table definitions are not behaviour to mutate.
UNMUTATED_CALLS = frozenset({"N_", "Field", "Column", "Index", "utc_column"})

FLIP_COMPARE: dict[type, type] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
SYMBOL = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}


@dataclass(frozen=True)
class Mutant:
    index: int
    line: int
    change: str
    path: str = ""  # set when the module's files are put together

    def where(self) -> str:
        return f"{self.path}:{self.line}  {self.change}"


def _is_log_call(node: ast.AST) -> bool:
    call = node.value if isinstance(node, ast.Expr) else node
    if isinstance(call, ast.Await):
        call = call.value
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "log"
    )


def _short(node: ast.AST, limit: int = 70) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Points(ast.NodeTransformer):
    """Walks the tree numbering every mutation point; with ``apply`` set, changes only that one."""

    def __init__(self, scopes: tuple[str, ...], apply: int | None = None) -> None:
        self.scopes = scopes
        self.apply = apply
        self.found: list[Mutant] = []
        self.applied: Mutant | None = None
        self._stack: list[str] = []
        self._docstrings: set[int] = set()
        self._named_constant = False  # inside a module-level assignment named in scopes

    # -- bookkeeping

    def _active(self) -> bool:
        if not self.scopes or self._named_constant:
            return True
        dotted = ".".join(self._stack)
        return any(dotted == scope or dotted.startswith(scope + ".") for scope in self.scopes)

    def _point(self, node: ast.AST, change: str) -> bool:
        """Register a point; True when this is the one to apply."""
        if not self._active():
            return False
        mutant = Mutant(len(self.found), getattr(node, "lineno", 0), change)
        self.found.append(mutant)
        if mutant.index == self.apply:
            self.applied = mutant
            return True
        return False

    def _scoped(self, node: ast.AST, name: str) -> ast.AST:
        self._stack.append(name)
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            self._docstrings.add(id(body[0].value))
        decorators = getattr(node, "decorator_list", [])
        node.decorator_list = []  # type: ignore[attr-defined]  (how a function is registered is not mutated)
        try:
            return self.generic_visit(node)
        finally:
            node.decorator_list = decorators  # type: ignore[attr-defined]
            self._stack.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        if any(k.arg == "table" for k in node.keywords):
            return node  # a database table's columns: the schema lives in the migrations
        return self._scoped(node, node.name)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if name in UNMUTATED_CALLS:
            return node
        return self.generic_visit(node)

    def visit_Set(self, node: ast.Set) -> ast.AST:
        self.generic_visit(node)
        for position, element in enumerate(list(node.elts)):
            if len(node.elts) > 1 and self._point(node, f"{_short(element)} removed from {_short(node, 50)}"):
                node.elts = [e for i, e in enumerate(node.elts) if i != position]
                break
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._scoped(node, node.name)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._scoped(node, node.name)

    # -- operators

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        for position, op in enumerate(node.ops):
            flipped = FLIP_COMPARE.get(type(op))
            if flipped is None:
                continue
            change = f"{_short(node)}: {SYMBOL[type(op)]} -> {SYMBOL[flipped]}"
            if self._point(node, change):
                node.ops = list(node.ops)
                node.ops[position] = flipped()
        return node

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        name = "and -> or" if isinstance(node.op, ast.And) else "or -> and"
        if self._point(node, f"{_short(node)}: {name}"):
            node.op = other
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Not) and self._point(node, f"{_short(node)}: not dropped"):
            return node.operand
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, bool):
            if self._point(node, f"{value} -> {not value}"):
                return ast.copy_location(ast.Constant(not value), node)
        elif isinstance(value, int):
            for delta in (1, -1):
                if self._point(node, f"{value} -> {value + delta}"):
                    return ast.copy_location(ast.Constant(value + delta), node)
        return node

    def visit_If(self, node: ast.If) -> ast.AST:
        self.generic_visit(node)
        if self._point(node, f"if {_short(node.test)}: condition negated"):
            node.test = ast.UnaryOp(ast.Not(), node.test)
        return node

    def visit_Return(self, node: ast.Return) -> ast.AST:
        self.generic_visit(node)
        value = node.value
        if value is None:
            return node
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            return node  # the constant itself is flipped by visit_Constant
        if isinstance(value, ast.Constant) and value.value is None:
            return node
        if self._point(node, f"return {_short(value)} -> return None"):
            node.value = ast.Constant(None)
        return node

    def _removable(self, node: ast.stmt) -> ast.AST:
        self.generic_visit(node)
        if _is_log_call(node):
            return node
        if self._point(node, f"removed: {_short(node)}"):
            return ast.copy_location(ast.Pass(), node)
        return node

    def visit_Expr(self, node: ast.Expr) -> ast.AST:
        if id(node.value) in self._docstrings or not isinstance(node.value, (ast.Call, ast.Await)):
            return self.generic_visit(node)
        return self._removable(node)

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        names = {t.id for t in node.targets if isinstance(t, ast.Name)}
        if not self._stack and names & set(self.scopes):
            self._named_constant = True
            try:
                return self.generic_visit(node)
            finally:
                self._named_constant = False
        # Assignments to attributes or subscripts (state changes); a removed local would only be a NameError.
        if all(isinstance(target, (ast.Attribute, ast.Subscript)) for target in node.targets):
            return self._removable(node)
        if self._reassigns_itself(node):
            return self._removable(node)
        return self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        return self._removable(node)

    @staticmethod
    def _reassigns_itself(node: ast.Assign) -> bool:
        """``x = x.something(…)`` or ``x = f(x)``: removing it leaves x defined, only unrefined."""
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return False
        name = node.targets[0].id
        return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node.value))


def mutants_of(source: str, scopes: tuple[str, ...]) -> list[Mutant]:
    walker = _Points(scopes)
    walker.visit(ast.parse(source))
    return walker.found


def mutated_source(source: str, scopes: tuple[str, ...], index: int) -> tuple[str, Mutant]:
    tree = ast.parse(source)
    walker = _Points(scopes, apply=index)
    tree = walker.visit(copy.deepcopy(tree))
    ast.fix_missing_locations(tree)
    assert walker.applied is not None
    return ast.unparse(tree), walker.applied


# ---- running -----------------------------------------------------------------------------------------


def _ignore(directory: str, names: list[str]) -> set[str]:
    skip = {".venv", ".git", "data", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
    return {name for name in names if name in skip or name.endswith(".pyc")}


PROJECT_PACKAGES = frozenset(
    {"bot", "bench", "content", "flows", "handlers", "locales", "storage", "tests", "conftest"}
)


class _Forker:
    """Runs pytest in a forked child of a process that has already imported the third-party libraries the
    tests need (SQLAlchemy, alembic, telegram, numpy…): on a busy machine importing them costs most of a run.
    Nothing of the project is imported before the fork, so every child imports the mutated code afresh."""

    def __init__(self, tree: Path, tests: list[str], env: dict[str, str]) -> None:
        modules = [t.split("::")[0].removesuffix(".py").replace("/", ".") for t in tests]
        code = (
            "import importlib, sys\n"
            f"for name in ['tests.conftest', *{modules!r}]: importlib.import_module(name)\n"
            f"print('\\n'.join(m for m in sorted(sys.modules) if m.split('.')[0] not in {set(PROJECT_PACKAGES)!r}))"
        )
        listed = subprocess.run(
            [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        os.environ.update(env)  # some libraries read their settings when imported
        for name in listed:
            if name.startswith("_"):
                continue  # C accelerators (``_asyncio``) imported ahead of their package break asyncio in the child
            try:
                __import__(name)
            except Exception:  # noqa: BLE001, S112 - a module that cannot be imported here is imported by the child
                continue

    @staticmethod
    def run(tree: Path, args: list[str], env: dict[str, str], timeout: float) -> int | None:
        """pytest's exit code, or None after ``timeout`` seconds (the child is killed)."""
        pid = os.fork()
        if pid == 0:  # the child
            code = 3
            try:
                os.chdir(tree)
                sys.path.insert(0, str(tree))
                sys.dont_write_bytecode = True
                show = os.environ.get("MUTATION_SHOW_TESTS")
                os.environ.clear()
                os.environ.update(env)
                if not show:
                    null = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(null, 1)
                    os.dup2(null, 2)
                import pytest

                code = int(pytest.main(args))
            finally:
                os._exit(code)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    pid = 0
                    return os.waitstatus_to_exitcode(status)
                time.sleep(0.05)
            return None
        finally:
            if pid:  # timed out, or this run was stopped: the child goes too
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


_FORKER: _Forker | None = None


def _pytest(
    tree: Path, tests: list[str], timeout: float, env: dict[str, str], deselect: str = ""
) -> tuple[str, float]:
    args = ["-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    if deselect:
        args += ["-k", deselect]
    started = time.monotonic()
    if _FORKER is not None:
        returncode = _FORKER.run(tree, args, env, timeout)
        if returncode is None:
            return "timeout", time.monotonic() - started
    else:
        try:
            returncode = subprocess.run(
                [sys.executable, "-m", "pytest", *args],
                cwd=tree,
                env=env,
                timeout=timeout,
                capture_output=True,
                text=True,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            return "timeout", time.monotonic() - started
    elapsed = time.monotonic() - started
    if returncode == 0:
        return "survived", elapsed
    if returncode == 1:
        return "killed", elapsed
    return f"error {returncode}", elapsed  # collection errors etc.: the mutant broke the import


def target_mutants(target: Target, root: Path, match: str | None = None) -> list[Mutant]:
    """Every mutant of the module's files, in file order; ``match`` keeps those whose place contains it."""
    found = []
    for name in target.paths:
        source = (root / name).read_text(encoding="utf-8")
        for mutant in mutants_of(source, target.scopes):
            placed = Mutant(mutant.index, mutant.line, mutant.change, name)
            if not match or match in placed.where():
                found.append(placed)
    return found


def run_target(
    target: Target,
    tree: Path,
    env: dict[str, str],
    limit: int | None,
    pg: bool,
    verbose: bool,
    match: str | None = None,
    offset: int = 0,
    fork: bool = True,
) -> tuple[int, int, list[Mutant]]:
    tests = [t for t in target.tests if (tree / t.split("::")[0]).exists()]
    if not pg:
        env = {k: v for k, v in env.items() if k not in ("BOT_TEST_DATABASE_URL", "BOT_REQUIRE_POSTGRES")}
    originals = {name: (tree / name).read_text(encoding="utf-8") for name in target.paths}
    if fork and _FORKER is None:
        globals()["_FORKER"] = _Forker(tree, tests, env)
    baseline, seconds = _pytest(tree, tests, 900, env, target.deselect)
    if baseline != "survived":
        raise SystemExit(f"{target.name}: the tests fail on the unmutated code ({baseline}); fix that first")
    timeout = max(30.0, seconds * 3 + 10)
    found = target_mutants(target, tree, match)
    chosen = found[offset:] if limit is None else found[offset :: max(1, len(found) // limit)][:limit]
    survivors: list[Mutant] = []
    killed = 0
    print(
        f"{target.name}: {len(found)} mutants, running {len(chosen)} (baseline {seconds:.1f} s)", flush=True
    )
    try:
        for mutant in chosen:
            path = tree / mutant.path
            source, applied = mutated_source(originals[mutant.path], target.scopes, mutant.index)
            applied = Mutant(applied.index, applied.line, applied.change, mutant.path)
            path.write_text(source, encoding="utf-8")
            try:
                outcome, elapsed = _pytest(tree, tests, timeout, env, target.deselect)
            finally:
                path.write_text(originals[mutant.path], encoding="utf-8")
            if outcome == "survived":
                survivors.append(applied)
            else:
                killed += 1
            if verbose or outcome == "survived":  # survivors as they are found
                print(f"  {outcome:9} {elapsed:5.1f}s  {applied.where()}", flush=True)
    finally:
        for name, original in originals.items():
            (tree / name).write_text(original, encoding="utf-8")
    return len(chosen), killed, survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=[t.name for t in TARGETS], help="repeatable")
    parser.add_argument("--limit", type=int, help="at most this many mutants per module (spread evenly)")
    parser.add_argument(
        "--pg", action="store_true", help="run the PostgreSQL tests too (BOT_TEST_DATABASE_URL)"
    )
    parser.add_argument(
        "--offset", type=int, default=0, help="skip this many mutants (with --limit: start the spread here)"
    )
    parser.add_argument("--match", help="only the mutants whose 'path:line  change' contains this text")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument(
        "--tests",
        nargs="+",
        help="run these tests instead of the module's (e.g. only the PostgreSQL ones, with --pg --match)",
    )
    parser.add_argument(
        "--no-fork", action="store_true", help="start a new interpreter per run (slower; no fork server)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print every mutant's outcome")
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if not args.module or t.name in args.module]
    if args.tests:
        targets = [dataclasses.replace(t, tests=tuple(args.tests), deselect="") for t in targets]
    if args.pg and not os.environ.get("BOT_TEST_DATABASE_URL"):
        parser.error("--pg needs BOT_TEST_DATABASE_URL")
    if args.list:
        for target in targets:
            for mutant in target_mutants(target, ROOT, args.match):
                print(mutant.where())
        return 0

    # No guides: none of the mutated modules asks them anything, and loading them costs seconds per run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed run still removes its scratch tree
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", BOT_TEST_WITHOUT_GUIDES="1")
    if args.pg:
        env["BOT_REQUIRE_POSTGRES"] = "1"
    results = []
    with tempfile.TemporaryDirectory(prefix="mustafid-mutation-") as scratch:
        tree = Path(scratch) / "tree"
        shutil.copytree(ROOT, tree, ignore=_ignore)
        for target in targets:
            results.append(
                (
                    target,
                    *run_target(
                        target,
                        tree,
                        env,
                        args.limit,
                        args.pg,
                        args.verbose,
                        args.match,
                        args.offset,
                        not args.no_fork,
                    ),
                )
            )

    print()
    print(f"{'module':12} {'mutants':>8} {'caught':>7} {'score':>7}")
    total = caught = 0
    for target, count, killed, _ in results:
        total, caught = total + count, caught + killed
        print(f"{target.name:12} {count:8} {killed:7} {100 * killed / max(1, count):6.1f}%")
    print(f"{'all':12} {total:8} {caught:7} {100 * caught / max(1, total):6.1f}%")
    for _target, _, _, survivors in results:
        for mutant in survivors:
            print(f"SURVIVED {mutant.where()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
