"""Verification on two cores: the same report as one process, whatever the worker does.

`verify` forks a worker that plans the recalculation and then takes half of every dependency
level (fastcalc.run / fastcalc.assist). These tests hold the two-process path to the
one-process one, including when the worker joins late, never joins, or dies.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import blueprint_of, with_wrong_cache
from test_fastcalc import workbook

from blueprint import fastcalc
from blueprint import verify as verify_module
from blueprint.api import generate
from blueprint.config import load_config
from blueprint.fastcalc import Channel, assist, evaluate, plan, run
from blueprint.readback import load_cells
from blueprint.verify import verify
from blueprint.writer import write


class JoinAt(verify_module._Worker):
    """The main side of the pipe, letting the helper join at a chosen level (never: a level past the last)."""

    def __init__(self, conn: Channel, level: int):
        super().__init__(conn)
        self.asked, self.level = 0, level

    def ready(self) -> bool:
        self.asked += 1
        if self.asked > self.level and not self.joined:
            self.joined = self.conn.recv() == "ready"
        return self.joined


def run_with_helper(cells: dict, names: dict, level: int) -> dict:
    """fastcalc.run with a real helper on a real pipe, in a thread (pickling and protocol as across a fork)."""
    the_plan = plan(cells, names)
    mine, theirs = multiprocessing.Pipe()
    helper = threading.Thread(target=assist, args=(Channel(theirs), the_plan))
    helper.start()
    try:
        return run(the_plan, None, JoinAt(Channel(mine), level))
    finally:
        helper.join(timeout=60)
        assert not helper.is_alive()


@pytest.fixture(scope="module")
def errors_workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Error values, text, booleans and a cycle crossing levels: what must survive the pipe unchanged."""
    return workbook(tmp_path_factory.mktemp("errors") / "errors.xlsx", {"S": {
        **{f"A{r}": f"=LN(B{r})" for r in range(1, 9)}, **{f"B{r}": v for r, v in enumerate([2, 0, "x", -1, 3, 0.5, "=1/0", 7], 1)},
        # C reads A bottom-up: each half of the C batch reads results the other process made
        **{f"C{r}": f"=IF(ISERROR(A{9 - r}),\"bad\",A{9 - r}*2)" for r in range(1, 9)}, **{f"D{r}": f"=A{r}+C{r}" for r in range(1, 9)},
        "E1": "=SUM(D1:D8)", "E2": "=E3+1", "E3": "=E2*2", "E4": "=E3+D1", "E5": '=C3="bad"', "E6": "=MATCH(9,B1:B8,0)",
    }})


@pytest.mark.parametrize("level", [0, 1, 2, 99])
def test_run_with_a_helper_equals_run_alone(errors_workbook: Path, level: int) -> None:
    cells = load_cells(errors_workbook)
    alone = evaluate(cells.values, cells.names)
    assert run_with_helper(cells.values, cells.names, level) == alone
    assert alone["S", 1, 0] == "#NUM!" and alone["S", 5, 2] == "bad" and alone["S", 2, 4] == fastcalc.CIRCULAR and alone["S", 5, 4] == "#N/A"


def test_run_with_a_helper_equals_run_alone_on_a_blueprint(small_path: Path) -> None:
    cells = load_cells(small_path)
    alone = evaluate(cells.values, cells.names)
    assert run_with_helper(cells.values, cells.names, 3) == alone


@pytest.mark.parametrize("then", ["answers None", "closes the pipe"])
def test_a_helper_that_leaves_mid_run_leaves_its_halves_here(errors_workbook: Path, then: str) -> None:
    cells = load_cells(errors_workbook)
    the_plan = plan(cells.values, cells.names)
    mine, theirs = multiprocessing.Pipe()

    def joins_then_leaves() -> None:
        conn = Channel(theirs)
        conn.send("ready")
        conn.recv()  # the level to start at and the results so far
        conn.recv()  # the main process's half of that level
        if then == "answers None":
            conn.send(None)
        else:
            theirs.close()

    helper = threading.Thread(target=joins_then_leaves)
    helper.start()
    got = run(the_plan, None, JoinAt(Channel(mine), 0))
    helper.join(timeout=60)
    assert got == evaluate(cells.values, cells.names)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workbook with every cached value wrong, one formula edited and one deleted."""
    bp = with_wrong_cache(blueprint_of(load_config("small")))
    formulas = [i for i, c in enumerate(bp.cells) if c.kind == "formula"]
    cells = list(bp.cells)
    cells[formulas[100]] = dataclasses.replace(cells[formulas[100]], formula=cells[formulas[100]].formula + "*2")
    del cells[formulas[200]]
    path = tmp_path_factory.mktemp("damaged") / "damaged.xlsx"
    write(dataclasses.replace(bp, cells=cells), path)
    return path


def same_report(path: Path) -> None:
    one = verify(path, parallel=False).as_dict()
    two = verify(path, parallel=True).as_dict()
    one.pop("seconds"), two.pop("seconds")
    assert two == one


def test_two_processes_report_what_one_process_reports(damaged: Path) -> None:
    report = verify(damaged, parallel=True)
    kinds = {p.kind for p in report.problems}
    assert kinds == {"value", "formula-text", "stale-cache", "missing-formula"}, kinds
    same_report(damaged)


def test_a_worker_that_dies_at_once_changes_nothing(damaged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "_worker", lambda path, conn: os._exit(1))
    same_report(damaged)


def _fail() -> None:
    raise MemoryError  # the worker answers None, then leaves


# End to end, whether the worker joins before the main process is done is a race: the path itself is
# test_a_helper_that_leaves_mid_run_leaves_its_halves_here.
@pytest.mark.parametrize("then", [lambda: os._exit(1), _fail, lambda: time.sleep(3600)], ids=["dies", "fails", "hangs"])
def test_a_worker_that_leaves_after_joining_changes_nothing(then: Callable[[], None], damaged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def joins_then_leaves(conn: Channel, the_plan: fastcalc.Plan) -> None:
        conn.send("ready")
        conn.recv()
        then()

    monkeypatch.setattr(verify_module, "WORKER_TIMEOUT", 1.0)  # a hang counts as leaving after a second
    monkeypatch.setattr(fastcalc, "assist", joins_then_leaves)
    t0 = time.perf_counter()
    same_report(damaged)
    assert time.perf_counter() - t0 < 30  # at most the timeout, once, and the kill: not the hour


def test_a_worker_that_fails_before_joining_changes_nothing(damaged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fails_compiling(conn: Channel, the_plan: fastcalc.Plan) -> None:
        raise MemoryError

    monkeypatch.setattr(fastcalc, "assist", fails_compiling)
    same_report(damaged)


def test_a_worker_that_hangs_before_planning_is_left_behind(damaged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "WORKER_TIMEOUT", 1.0)
    monkeypatch.setattr(verify_module, "_worker", lambda path, conn: time.sleep(3600))
    same_report(damaged)


def test_a_worker_that_fails_is_replaced_by_this_process(damaged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main_pid, real_plan = os.getpid(), fastcalc.plan

    def fails_in_the_worker(*args: object) -> fastcalc.Plan:
        if os.getpid() != main_pid:
            raise MemoryError
        return real_plan(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(fastcalc, "plan", fails_in_the_worker)
    same_report(damaged)


def test_collection_is_back_as_it_was(small_path: Path) -> None:
    assert gc.isenabled()
    verify(small_path, parallel=True)
    assert gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        verify(small_path, parallel=False)
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_functions_import_without_scipy_and_statistics_still_work() -> None:
    code = ("import sys\n"
            "from blueprint import fastcalc\n"
            "fastcalc.functions()\n"
            "print(sorted(m for m in ('scipy.stats', 'scipy.linalg', 'scipy.interpolate') if m in sys.modules))\n"
            "from blueprint.cellvalues import Formula as F\n"
            "got = fastcalc.evaluate({('S', 0, 0): F('=NORM.S.INV(0.975)'), ('S', 1, 0): F('=PERCENTILE(C1:C4,0.3)'), ('S', 2, 0): F('=KURT(C1:C4)'),\n"
            "                         ('S', 0, 2): 1, ('S', 1, 2): 2, ('S', 2, 2): 4, ('S', 3, 2): 8}, {})\n"
            "print(repr([got['S', r, 0] for r in range(3)]))\n"
            "import scipy.stats\n"
            "print(type(scipy.stats.norm).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[]"
    values = eval(out[1])  # noqa: S307 - our own repr of three floats
    assert values[0] == pytest.approx(1.959963984540054, abs=1e-12)
    assert values[1] == pytest.approx(1.9, abs=1e-12)  # Excel: PERCENTILE({1,2,4,8},0.3) = 1.9
    x = [1, 2, 4, 8]
    n, mean = len(x), sum(x) / len(x)
    s = (sum((v - mean) ** 2 for v in x) / (n - 1)) ** 0.5
    kurt = n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * sum(((v - mean) / s) ** 4 for v in x) - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))
    assert values[2] == pytest.approx(kurt, abs=1e-12)  # Excel's KURT: sample excess kurtosis
    assert out[2] == "norm_gen"  # a real scipy.stats afterwards, for whoever imports it


def test_cli_one_process_flag_gives_the_same_json(damaged: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from blueprint.cli import main

    outputs = []
    monkeypatch.setattr(verify_module, "TWO_PROCESS_BYTES", 0)  # the default, two processes, even for a small file
    for flags in ([], ["--one-process"]):
        assert main(["verify", str(damaged), "--json", "--max-report", "1000", *flags]) == 1
        report = json.loads(capsys.readouterr().out)
        report.pop("seconds")
        outputs.append(report)
    assert outputs[0] == outputs[1]
    assert [(p["kind"], p["cells"] > 1000) for p in outputs[0]["problems"] if not p["cell"]] == [("stale-cache", True)]  # every cached value is wrong


def test_two_processes_only_for_files_where_they_pay_off(small_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = verify_module._two_processes
    monkeypatch.setattr(verify_module, "_two_processes", lambda *args: calls.append(args) or real(*args))
    assert small_path.stat().st_size < verify_module.TWO_PROCESS_BYTES
    assert verify(small_path).ok and calls == []
    monkeypatch.setattr(verify_module, "TWO_PROCESS_BYTES", small_path.stat().st_size - 1)
    assert verify(small_path).ok and len(calls) == 1
    assert verify(small_path, parallel=False).ok and len(calls) == 1


def stderr_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (as a user at a shell has it); exit code and what the terminal showed."""
    import pty

    main_fd, term_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "blueprint.cli", *args], stdout=subprocess.DEVNULL, stderr=term_fd)
    os.close(term_fd)
    shown = b""
    while True:
        try:
            chunk = os.read(main_fd, 4096)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(main_fd)
    return proc.wait(timeout=120), shown.decode()


@pytest.mark.parametrize("preset", ["small", pytest.param("large", marks=pytest.mark.slow)])  # one process, two processes
def test_progress_shows_on_a_terminal_and_not_with_json(preset: str, small_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = small_path
    if preset != "small":
        path = tmp_path / f"{preset}.xlsx"
        generate(load_config(preset), path)
    n = load_config(preset)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent.parent))
    code, shown = stderr_on_a_terminal(["verify", str(path)])
    assert code == 0
    lines = [line.strip() for line in shown.splitlines()]
    assert lines[0] == f"verify: reading {path.name} ..."
    assert f"verify: rebuilding the reference for B={n.batch_size}, T={n.response_len}, H={n.hidden} from the workbook's config and inputs ..." in lines
    assert ("verify: waiting for the worker's shapes and plan ..." in lines) == (preset != "small")
    assert any(line.startswith(("fastcalc: compiling", "verify: compiling")) for line in lines)
    assert lines[-1].startswith("verify: comparing ") and lines[-1].endswith(" recalculated cells with the reference ...")
    code, shown = stderr_on_a_terminal(["verify", str(path), "--json"])
    assert code == 0 and shown == ""


def test_a_deferred_attribute_behaves_as_the_real_one_when_used() -> None:
    from blueprint.fastcalc import _DeferredAttribute

    assert _DeferredAttribute("math", "sqrt")(6.25) == 2.5  # called
    assert _DeferredAttribute("os", "path").join("a", "b") == os.path.join("a", "b")  # asked for an attribute
    with pytest.raises(AttributeError):
        _DeferredAttribute("os", "path").no_such_thing  # noqa: B018


def test_a_background_channel_delivers_in_order_without_waiting_for_the_reader() -> None:
    from formulas.tokens.operand import Error

    mine, theirs = multiprocessing.Pipe()
    sender = Channel(theirs, background=True)
    big = list(range(300_000))  # ~1.5 MB pickled: far more than a pipe holds, yet send returns at once
    for k in range(5):
        sender.send((k, big, Error.errors["#N/A"]))
    receiver = Channel(mine)
    got = [receiver.recv() for _ in range(5)]
    sender.close()
    assert [g[0] for g in got] == list(range(5)) and got[4][1] == big
    assert got[0][2] is Error.errors["#N/A"]  # the package's own instance, not a copy
