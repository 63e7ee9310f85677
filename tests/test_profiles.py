"""The merge policy of a task running several nodes (profiles.group_settings): one test per
rule of its table, on real Kedro nodes and a validated run_config."""

import datetime

import pytest
from kedro.pipeline import node

from kedro_airflow_k8s.config import RunConfig
from kedro_airflow_k8s.errors import CompileError
from kedro_airflow_k8s.profiles import group_settings


def _identity(x):
    return x


def _merged(profiles, defaults=None, untagged=0):
    """group_settings of one node per profile (tag task_settings.<name>) and `untagged`
    nodes without a tag."""
    run = RunConfig.model_validate({"image": "registry.example.com/demo:1",
                                    "task_settings": profiles,
                                    "task_defaults": defaults or {}})
    nodes = [node(_identity, f"in_{name}", f"out_{name}", name=name,
                  tags=[f"task_settings.{name}"]) for name in profiles]
    nodes += [node(_identity, f"in_plain{i}", f"out_plain{i}", name=f"plain{i}")
              for i in range(untagged)]
    return group_settings(nodes, run)


def test_largest_takes_the_largest_of_the_members():
    merged = _merged({"a": {"retries": 5, "retry_delay": "30s"},
                      "b": {"retries": 2, "retry_delay": "10m"}})
    assert (merged.retries, merged.retry_delay) == (5, datetime.timedelta(minutes=10))


def test_largest_an_unset_timeout_is_unlimited_and_wins():
    """A member without an execution_timeout may run forever: so may the task."""
    merged = _merged({"a": {"execution_timeout": "5m"}}, untagged=1)
    assert merged.execution_timeout is None
    merged = _merged({"a": {"execution_timeout": "5m"}}, {"execution_timeout": "2h"},
                     untagged=1)
    assert merged.execution_timeout is None  # 2h is task_defaults': not printed again


def test_smallest_set_takes_the_shortest_interval_a_member_sets():
    merged = _merged({"a": {"deferrable": True, "logging_interval": 30},
                      "b": {"deferrable": True, "logging_interval": 60},
                      "c": {"deferrable": True}})
    assert merged.logging_interval == 30


def test_allowed_by_all_one_false_wins_and_drops_the_intervals():
    merged = _merged({"a": {"deferrable": True, "poll_interval": 5},
                      "b": {"deferrable": False}})
    assert (merged.deferrable, merged.poll_interval) == (False, None)
    merged = _merged({"a": {"reattach_on_restart": True}, "b": {"retries": 1}})
    assert merged.reattach_on_restart is True


def test_keeps_most_takes_the_finish_action_that_keeps_most_pods():
    merged = _merged({"a": {"on_finish_action": "delete_succeeded_pod"},
                      "b": {"on_finish_action": "keep_pod"}, "c": {"retries": 1}})
    assert merged.on_finish_action == "keep_pod"


def test_any_wins_retry_on_any_when_one_member_retries_any():
    merged = _merged({"a": {"retries": 1, "retry_on": "any"},
                      "b": {"retries": 1, "retry_on": "infrastructure"}})
    assert merged.retry_on == "any"


def test_explicit_choice_a_pool_one_profile_sets_is_the_task_s():
    merged = _merged({"a": {"pool": "gpu"}, "b": {"retries": 1}})
    assert merged.pool == "gpu"


def test_explicit_choice_two_different_pools_are_a_compile_error():
    with pytest.raises(CompileError, match=r"different pools: 'a' \(gpu\), 'b' \(cpu\)"):
        _merged({"a": {"pool": "gpu"}, "b": {"pool": "cpu"}})
