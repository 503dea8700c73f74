"""Canary routing is a pure, deterministic function of the rule set, line and shift."""

from __future__ import annotations

from hub.judgment.routing import DeploymentView, Route, bucket_of, choose_version

ACTIVE = DeploymentView(version=3, status="active", order=1)


def canary(pct: float | None, flt: dict[str, object] | None = None) -> DeploymentView:
    return DeploymentView(version=4, status="canary", canary_pct=pct, canary_target_filter=flt, order=2)


def test_the_same_line_and_shift_always_get_the_same_version() -> None:
    deployments = [ACTIVE, canary(0.5)]
    first = {
        (line, shift): choose_version(deployments, ruleset_key="rs", line_code=line, shift=shift)
        for line in ("L01", "L02", "L03")
        for shift in ("day", "night")
    }
    again = {
        (line, shift): choose_version(deployments, ruleset_key="rs", line_code=line, shift=shift)
        for line in ("L01", "L02", "L03")
        for shift in ("day", "night")
    }
    assert first == again


def test_the_canary_share_follows_canary_pct() -> None:
    deployments = [ACTIVE, canary(0.1)]
    routes = [
        choose_version(deployments, ruleset_key="rs", line_code=f"L{i:03}", shift="day") for i in range(2000)
    ]
    share = sum(1 for r in routes if r is not None and r.canary) / len(routes)
    assert 0.07 < share < 0.13
    assert all(r is not None and r.version == (4 if r.canary else 3) for r in routes)


def test_a_line_in_the_canary_stays_in_it_as_the_percentage_grows() -> None:
    inside = [
        f"L{i:03}"
        for i in range(500)
        if choose_version([ACTIVE, canary(0.2)], ruleset_key="rs", line_code=f"L{i:03}", shift="day").canary
    ]  # type: ignore[union-attr]
    assert inside
    assert all(
        choose_version([ACTIVE, canary(0.6)], ruleset_key="rs", line_code=line, shift="day").canary  # type: ignore[union-attr]
        for line in inside
    )


def test_the_target_filter_limits_the_canary_to_its_lines_shifts_and_categories() -> None:
    dep = [
        ACTIVE,
        canary(None, {"line_codes": ["L01", "L02"], "shift": "night", "product_categories": ["A"]}),
    ]

    def pick(line: str, shift: str, ctx: dict[str, object]) -> Route | None:
        return choose_version(dep, ruleset_key="rs", line_code=line, shift=shift, context=ctx)

    assert pick("L01", "night", {"product_category": "A"}).canary  # type: ignore[union-attr]
    assert not pick("L03", "night", {"product_category": "A"}).canary  # type: ignore[union-attr]
    assert not pick("L01", "day", {"product_category": "A"}).canary  # type: ignore[union-attr]
    assert not pick("L01", "night", {"product_category": "B"}).canary  # type: ignore[union-attr]
    assert not pick("L01", "night", {}).canary  # type: ignore[union-attr]


def test_user_groups_in_the_filter_need_a_matching_group() -> None:
    dep = [ACTIVE, canary(1.0, {"user_groups": ["beta_testers"]})]
    assert not choose_version(dep, ruleset_key="rs", line_code="L01", shift="day").canary  # type: ignore[union-attr]
    assert choose_version(
        dep, ruleset_key="rs", line_code="L01", shift="day", user_groups=["beta_testers"]
    ).canary  # type: ignore[union-attr]


def test_a_canary_without_percentage_or_filter_takes_no_traffic() -> None:
    route = choose_version([ACTIVE, canary(None)], ruleset_key="rs", line_code="L01", shift="day")
    assert route is not None
    assert (route.version, route.canary) == (3, False)


def test_the_newest_active_deployment_wins_and_the_fallback_stands_in_for_none() -> None:
    older = DeploymentView(version=1, status="active", order=0)
    assert choose_version([older, ACTIVE], ruleset_key="rs", line_code="L01", shift="day").version == 3  # type: ignore[union-attr]
    assert choose_version([], ruleset_key="rs", line_code="L01", shift="day") is None
    assert choose_version([], ruleset_key="rs", line_code="L01", shift="day", fallback_version=7).version == 7  # type: ignore[union-attr]


def test_buckets_differ_between_rule_sets_so_no_line_is_always_the_guinea_pig() -> None:
    lines = [f"L{i:02}" for i in range(50)]
    assert [bucket_of("a", line, "day") < 0.5 for line in lines] != [
        bucket_of("b", line, "day") < 0.5 for line in lines
    ]
    assert all(0 <= bucket_of("a", line, "day") < 1 for line in lines)
