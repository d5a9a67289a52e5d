"""The chaos run at CI size (`CHAOS_EVENTS`, default 60 customers = 120 events)."""

from __future__ import annotations

import os

import pytest

from tests.chaos.scenario import Chaos, make_plan

pytestmark = pytest.mark.e2e


def test_the_plan_has_duplicates_shuffling_and_one_percent_poison():
    plan = make_plan(200)
    keys = [d.key for d in plan.deliveries]
    assert len(keys) == 440 and len(set(keys)) == 400
    assert len(plan.poison) == 4
    assert keys[:4] != sorted(keys[:4]) or keys[4:8] != sorted(keys[4:8])


def test_nothing_lost_nothing_duplicated_only_poison_dead(tmp_path, hub_env):
    report = Chaos(int(os.environ.get("CHAOS_EVENTS", "60")), tmp_path).run()
    print(report.table())
    assert sum(report.faults.values()) > 0 and report.kills == 2
    assert report.lost == dict.fromkeys(report.lost, 0), report.table()
    assert report.duplicated == dict.fromkeys(report.duplicated, 0), report.table()
    assert report.unexpected_dead == [] and report.missing_dead == [], report.table()
    assert report.acknowledged == report.deliveries
