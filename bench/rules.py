"""Benchmark of the Rhai interpreter: compiling and calling a judgment rule, a loop and recursion.

Run: ``.venv/bin/python bench/rules.py``. Prints medians and ratios; asserts nothing.
Targets: lex+parse+compile of the rule <= 1 ms; one call of the compiled rule <= 20 µs (median).
Rhai's own published figures (2.6 GHz): 1M-iteration loop 0.13-0.2 s; fib(28) five times 2.25-3.2 s.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.rules.rhai import Engine

RULE = """
fn judge_defect_rate(metrics, context) {
  let defect_rate = metrics.defect_rate;
  let target = context.target_defect_rate ?? 0.05;
  if defect_rate > target * 1.5 {
    #{ result: "critical", confidence: 1.0, explanation: `불량률 ${defect_rate}이 목표치 ${target}의 150% 초과`, actions: ["alert_supervisor", "stop_line"] }
  } else if defect_rate > target * 1.2 {
    #{ result: "warning", confidence: 0.9, explanation: `불량률 ${defect_rate}이 목표치 ${target}의 120% 초과`, actions: ["notify_operator"] }
  } else {
    #{ result: "normal", confidence: 1.0, explanation: "불량률 정상 범위" }
  }
}
"""
LOOP = "let x = 0; while x < 1000000 { x += 1; } x"
FIB = "fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } } fib(28)"
RHAI_LOOP = (0.13, 0.2)
RHAI_FIB5 = (2.25, 3.2)


def median_seconds(fn: Callable[[], object], repeat: int, number: int = 1) -> float:
    """Median wall time of ``number`` calls, over ``repeat`` samples, per call."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def py_loop() -> int:
    x = 0
    while x < 1000000:
        x += 1
    return x


def py_fib(n: int) -> int:
    return n if n < 2 else py_fib(n - 1) + py_fib(n - 2)


def main() -> None:
    load = os.getloadavg()[0]
    print(
        f"CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.1f} (absolute times scale with load)"
    )
    engine = Engine(max_call_levels=64)
    compile_s = median_seconds(lambda: engine.compile(RULE), repeat=50)
    ast = engine.compile(RULE)
    cases = [
        ({"defect_rate": 0.09}, {"target_defect_rate": 0.05}),
        ({"defect_rate": 0.065}, {"target_defect_rate": 0.05}),
        ({"defect_rate": 0.01}, {}),
    ]
    for metrics, context in cases:
        print(
            f"  judge_defect_rate({metrics}, {context}) -> {engine.call_fn(ast, 'judge_defect_rate', metrics, context)}"
        )
    call_s = [
        median_seconds(lambda m=m, c=c: engine.call_fn(ast, "judge_defect_rate", m, c), repeat=200, number=50)
        for m, c in cases
    ]
    print(f"rule lex+parse+compile   median {compile_s * 1e3:8.3f} ms   (target <= 1 ms)")
    print(f"rule call (call_fn)      median {statistics.median(call_s) * 1e6:8.2f} µs   (target <= 20 µs)")

    loop_ast = engine.compile(LOOP)
    loop_s = median_seconds(lambda: engine.eval_ast(loop_ast), repeat=3)
    py_loop_s = median_seconds(py_loop, repeat=3)
    print(
        f"1M-iteration while loop  median {loop_s:8.3f} s    "
        f"x{loop_s / py_loop_s:5.1f} plain Python ({py_loop_s:.3f} s), "
        f"x{loop_s / RHAI_LOOP[1]:.1f}-{loop_s / RHAI_LOOP[0]:.1f} Rhai (0.13-0.2 s)"
    )

    fib_ast = engine.compile(FIB)
    fib_s = median_seconds(lambda: engine.eval_ast(fib_ast), repeat=1)
    py_fib_s = median_seconds(lambda: py_fib(28), repeat=3)
    print(
        f"fib(28) once             median {fib_s:8.3f} s    "
        f"x{fib_s / py_fib_s:5.1f} plain Python ({py_fib_s:.3f} s); five times ~{fib_s * 5:.1f} s, "
        f"x{fib_s * 5 / RHAI_FIB5[1]:.1f}-{fib_s * 5 / RHAI_FIB5[0]:.1f} Rhai (2.25-3.2 s)"
    )


if __name__ == "__main__":
    main()
