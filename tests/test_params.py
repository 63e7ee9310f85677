"""Kedro parameters as Airflow Params: which, typed how, refused when, and what a run with a
changed one passes to `kedro run --params` (rendered by Airflow, read by Kedro's parser)."""

import click
import pytest
from kedro.framework.cli.utils import _split_params
from kedro.pipeline import Pipeline, node

from kedro_airflow_k8s.compiler import compile_project
from kedro_airflow_k8s.context import KedroProject
from kedro_airflow_k8s.errors import CompileError, ConfigError
from kedro_airflow_k8s.params import _fits, parse_run_params, trigger_params
from tests import airflow_check
from tests.test_config import with_run
from tests.test_render import compiled, write


def step(*xs):
    return xs[0] if xs else None


PARAMETERS = {
    "lr": 0.1, "epochs": 3, "verbose": True, "label": "3",
    "model": {"layers": [64, 32], "mixed": [1, [2], "x"], "name": "mlp",
              "opts": {"dropout": None, "extra": {}}},
    "unused": {"x": 1},
    "ds": "shadowed by the macro",
}
PIPELINE = Pipeline([
    node(step, ["a", "params:lr", "params:epochs", "params:model"], "b", name="train"),
    node(step, ["b", "params:verbose", "params:label", "params:ds"], "c", name="report"),
])


def kedro_reads(value: str) -> dict:
    """What `kedro run --params <value>` gives the run, by Kedro's own parser."""
    command = click.Command("run", params=[click.Option(["--params"])])
    return _split_params(click.Context(command), command.params[0], value)


def test_the_leaves_the_pipeline_reads_become_typed_params():
    notes = []
    found = trigger_params(PIPELINE, PARAMETERS, passed=["ds"], notify=notes.append)
    assert [(p.name, p.default, p.schema) for p in found] == [
        ("epochs", 3, {"type": "integer"}), ("label", "3", {"type": "string"}),
        ("lr", 0.1, {"type": "number"}),
        # a list's items are typed, so that Airflow's form edits it as JSON, keeping them
        ("model.layers", [64, 32], {"type": "array", "items": {"type": "integer"}}),
        ("model.mixed", [1, [2], "x"],
         {"type": "array", "items": {"type": ["array", "integer", "string"]}}),
        ("model.name", "mlp", {"type": "string"}), ("verbose", True, {"type": "boolean"})]
    assert notes == ["Note: parameters model.opts.dropout, model.opts.extra are null or "
                     "empty: Airflow's trigger form leaves them out (give them a value of "
                     "their type to show them)."]


def test_the_parameters_input_reads_every_parameter():
    everything = Pipeline([node(step, ["a", "parameters"], "b", name="all")])
    names = [p.name for p in trigger_params(everything, PARAMETERS)]
    assert "unused.x" in names and "ds" in names


@pytest.mark.parametrize("key", ["a,b", "a=b", "a.b", "x[0]", " padded"])
def test_a_key_kedro_run_params_cannot_name_is_a_compile_error(key):
    parameters = {"model": {key: 1}}
    with pytest.raises(CompileError) as error:
        compiled(PIPELINE, with_run(), parameters=parameters)
    assert str(error.value).startswith(f"parameter {'model.' + key!r}: `kedro run --params` "
                                       "cannot name this key")
    assert "run_config.params_form: false" in str(error.value)
    # the opt-out compiles it, without Params
    spec = compiled(PIPELINE, with_run(params_form=False), parameters=parameters)
    assert spec.trigger_params == {}


CHANGED = {"lr": 0.5, "label": "4,5 ${x}", "model.mixed": [1, [2, 3], "a,b"],
           "verbose": False}


@pytest.mark.parametrize("macros", [["ds"], []])
@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_a_run_passes_the_changed_params_to_kedro_intact(tmp_path, execution, macros):
    from airflow.sdk.definitions.param import process_params

    from kedro_airflow_k8s.validate import template_context

    spec = compiled(PIPELINE, with_run(macro_params=macros, volume={"disabled": True}),
                    parameters=PARAMETERS, execution=execution)
    dag = airflow_check.load_dag(write(tmp_path, spec))
    assert {name: param.value for name, param in dag.params.items()} == {
        "epochs": 3, "label": "3", "lr": 0.1, "model.layers": [64, 32],
        "model.mixed": [1, [2], "x"], "model.name": "mlp", "verbose": True,
        **({} if macros else {"ds": "shadowed by the macro"})}

    def rendered(conf):
        task = airflow_check.load_dag(write(tmp_path, spec)).get_task("train")  # unrendered
        context = template_context(task, airflow_check.RUN_ID)
        context["params"] = process_params(dag, task, conf, suppress_exception=False)
        task.render_template_fields(context, dag.get_template_env())
        return task.arguments[-1] if execution == "kubernetes" else task.env["KEDRO_PARAMS"]

    macro = {"ds": "2026-01-01"} if macros else {}
    assert kedro_reads(rendered({})) == macro
    assert kedro_reads(rendered({"lr": 0.1, "epochs": 3})) == macro  # the defaults: unchanged
    # OmegaConf reads the escaped "\${" as a literal "${" when Kedro resolves its parameters
    assert kedro_reads(rendered(CHANGED)) == {
        **macro, "lr": 0.5, "label": "4,5 \\${x}", "model": {"mixed": [1, [2, 3], "a,b"]},
        "verbose": False}


def test_run_once_params_are_parsed_as_kedro_does_and_must_name_a_param():
    known = ["lr", "model.layers", "label"]
    assert parse_run_params("lr=0.5, label=x,model.layers=[1]", known) == {
        "lr": 0.5, "label": "x", "model.layers": [1]}
    with pytest.raises(ConfigError) as error:
        parse_run_params("lr=0.5,epochs=4", known)
    assert str(error.value) == ("--params: the DAG has no parameter epochs (it has label, lr, "
                                "model.layers: Kedro parameters its nodes read)")
    # before, "the DAG has no parameter ds": true, but the macro sets it
    with pytest.raises(ConfigError) as error:
        parse_run_params("lr=0.5,ds=2024-01-01", known, macros=["ds"], variables=["env"])
    assert str(error.value) == ("--params: ds cannot be set by a run: run_config.macro_params "
                                "sets it from the Airflow macro of that name when the run "
                                "starts; remove it from --params")
    with pytest.raises(ConfigError) as error:
        parse_run_params("env=x,region=y", known, macros=["ds"], variables=["env", "region"])
    assert str(error.value) == ("--params: env, region cannot be set by a run: run_config."
                                "variables_params sets them from the Airflow Variable of that "
                                "name when the run starts; remove them from --params")
    with pytest.raises(ConfigError) as error:
        parse_run_params("lr", known)
    assert str(error.value).startswith("--params: Invalid format of `params` option: Item "
                                       "`lr` must contain a key and a value")


def test_the_demo_project_dag_declares_its_parameter(demo_project, tmp_path):
    spec = compile_project(KedroProject.at(path=demo_project))
    assert spec.trigger_params == {"min_amount": (1.0, {"type": "number"})}
    dag = airflow_check.load_dag(write(tmp_path, spec))
    assert dag.params["min_amount"] == 1.0
    assert dag.params.get_param("min_amount").schema == {"type": "number"}


def test_changed_values_reach_a_kedro_node_intact(demo_project, tmp_path):
    """The rendered --params of a run that changed a string with ',' and '${', a nested
    list and a boolean, given to Kedro's own `kedro run`: the node reads exactly those."""
    from airflow.sdk.definitions.param import process_params

    from kedro_airflow_k8s.validate import template_context
    from tests.conftest import add_echo_pipeline, run_kedro

    parameters = demo_project / "conf/base/parameters.yml"
    parameters.write_text(parameters.read_text() + 'note: "plain"\nshape: [1, [2], "x"]\n'
                                                   "flag: true\n")
    add_echo_pipeline(demo_project, ["params:note", "params:shape", "params:flag",
                                     "params:min_amount"])
    project = KedroProject.at(path=demo_project, pipeline_name="echo")
    spec = compile_project(project)
    assert set(spec.trigger_params) == {"note", "shape", "flag", "min_amount"}
    dag = airflow_check.load_dag(write(tmp_path, spec))
    task = dag.get_task("echo")
    context = template_context(task, airflow_check.RUN_ID)
    changed = {"note": "a,b=c ${x} 'q' \"dq\" #", "shape": [[1, "a,b"], 2], "flag": False}
    context["params"] = process_params(dag, task, changed, suppress_exception=False)
    task.render_template_fields(context, dag.get_template_env())
    result = run_kedro(demo_project, "run", "--pipeline", "echo", "--params",
                       task.arguments[-1])
    assert result.returncode == 0, result.stderr
    seen = __import__("json").loads((demo_project / "data/seen.json").read_text())
    assert seen == [changed["note"], changed["shape"], False, 1.0]


@pytest.mark.parametrize("macro_params, params, error", [
    (["ds"], "ds=2024-01-01",
     "--params: ds cannot be set by a run: run_config.macro_params sets it from the Airflow "
     "macro of that name when the run starts; remove it from --params"),
    ([], "min_amount=many",
     "--params: min_amount='many' is not a number (the type of its value in the parameters "
     "files, which the DAG's Param requires)"),
])
def test_run_once_refuses_bad_params_before_any_upload(demo_project, tmp_path, macro_params,
                                                       params, error):
    # no Airflow here: the refusal comes after compiling, before the first request (the
    # host is a closed port, so reaching it would be a different error)
    import yaml

    from tests.conftest import run_kedro, write_config

    config = yaml.safe_load((demo_project / "conf/base/airflow-k8s.yaml").read_text())
    config.update(host="http://127.0.0.1:9", output=str(tmp_path / "dags"))
    config["run_config"]["macro_params"] = macro_params
    write_config(demo_project, config)
    result = run_kedro(demo_project, "airflow-k8s", "run-once", "--params", params)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"Error: {error}"
    assert not (tmp_path / "dags").exists()


def test_a_param_of_the_wrong_type_names_each_and_the_type():
    with pytest.raises(ConfigError) as error:
        parse_run_params("a=[x],b=2.5,c=true", ["a", "b", "c"], schemas={
            "a": {"type": "array", "items": {"type": "integer"}}, "b": {"type": "integer"},
            "c": {"type": "boolean"}})
    assert str(error.value) == (
        "--params: a=['x'] is not a list of integers; b=2.5 is not an integer (the type of "
        "its value in the parameters files, which the DAG's Param requires)")


SCHEMAS = [{"type": "boolean"}, {"type": "integer"}, {"type": "number"}, {"type": "string"},
           {"type": "array"}, {"type": "array", "items": {"type": "integer"}},
           {"type": "array", "items": {"type": ["number", "string"]}}]
VALUES = [True, 0, 3, 2.0, 2.5, "x", "3", None, [], [1, 2], [1, "a"], [1.5], [True], {"a": 1}]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: str(s))
def test_param_types_are_checked_as_airflow_checks_them(schema):
    """The check before the upload gives Airflow's own verdict (its Param, jsonschema) for
    every schema the compiler writes."""
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    for value in VALUES:
        try:
            Param(None, **schema).resolve(value)
            airflow_takes = True
        except ParamValidationError:
            airflow_takes = False
        # the values of lists hold commas, which `--params` splits at: the check itself
        assert _fits(value, schema) == airflow_takes, (schema, value)
