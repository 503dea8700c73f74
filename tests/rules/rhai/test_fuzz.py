"""Property tests: random and mutated scripts may fail, but only ever with a RhaiError."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.rules.rhai import RhaiError, sandboxed_engine

SEEDS = [
    "let x = 40; x + 2",
    "fn f(n) { if n < 2 { n } else { f(n - 1) + f(n - 2) } } f(10)",
    'let s = "héllo"; s[1..3] + `${s.len}` + s.sub_string(-2)',
    "let a = [1, [2, 3], #{k: 'v'}]; a[1][0] += 5; a.map(|x| type_of(x))",
    "let m = #{a: 1, b: [1, 2]}; m.b.push(3); m?.c ?? m.keys()",
    "switch 5 { 1 | 2 => 'a', 3..10 if true => 'b', _ => 'c' }",
    "let t = 0; for (x, i) in range(0, 10, 3) { t += x * i; } t",
    "try { throw #{code: 1}; } catch (e) { e.code }",
    "let f = |x| x * 2; let g = f.curry(3); call(g) + f.call(4)",
    "let x = 0; loop { x += 1; if x > 5 { break x; } }",
    "let b = blob(4, 1); b[0] = 255; b + b",
    "const C = 0b1010; C[1] && !C[0] || C >> 1 == 5",
    "let x = 1.5e3; x / 0.0 + -x ** 2 % 7",
    "fn int.twice() { this * 2 } 21.twice().to_string()",
    "`outer ${ `inner ${ 1 + 1 }` } end`",
]
TOKENS = [
    "let", "const", "x", "y", "f", "=", "+", "-", "*", "/", "%", "**", "<<", ">>", "==", "<", "&&",
    "||", "!", "??", "?.", "?[", "..", "..=", "(", ")", "[", "]", "{", "}", "#{", ",", ";", ":",
    ".", "|", "1", "0", "-1", "9223372036854775807", "1.5", '"s"', "'c'", "`t${x}`", "()", "true",
    "if", "else", "while", "loop", "for", "in", "break", "continue", "return", "throw", "try",
    "catch", "fn", "switch", "=>", "_", "this", "Fn", "call", "len", "push", "global", "::",
]  # fmt: skip


def _run(script: str) -> None:
    engine = sandboxed_engine(max_operations=20_000, max_seconds=1.0)
    with contextlib.suppress(RhaiError):
        engine.eval(script)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    script = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        i = draw(st.integers(min_value=0, max_value=len(script)))
        j = draw(st.integers(min_value=i, max_value=min(len(script), i + 6)))
        insert = draw(st.sampled_from(["", *TOKENS, " ", "\n", '"', "`", "${", "/*", "\\"]))
        script = script[:i] + insert + script[j:]
    return script


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scripts_fail_only_with_rhai_errors(script: str) -> None:
    _run(script)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join))
def test_random_token_soup_fails_only_with_rhai_errors(script: str) -> None:
    _run(script)


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(max_size=60))
def test_arbitrary_text_fails_only_with_rhai_errors(script: str) -> None:
    _run(script)


def test_seed_scripts_are_valid() -> None:
    engine = sandboxed_engine()
    for script in SEEDS:
        engine.eval(script)
