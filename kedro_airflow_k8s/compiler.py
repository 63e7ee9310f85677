"""Kedro pipeline + plugin config -> DagSpec. Knows nothing of Jinja or of the DAG file."""

from __future__ import annotations

import datetime
import hashlib
import re
import shlex
import string
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from slugify import slugify

from kedro_airflow_k8s import __version__
from kedro_airflow_k8s.config import PluginConfig, ResourceProfile, RunConfig
from kedro_airflow_k8s.dagspec import (
    PARAM_FILTER,
    RUN_HASH,
    RUN_HASH_FILTER,
    DagSpec,
    GroupSpec,
    LocalCommand,
    LocalDefaults,
    PodDefaults,
    PodSpec,
    SecretSpec,
    SensorSpec,
    SlackNotifierSpec,
    TaskSpec,
    Verbatim,
    VolumeSpec,
    variable_expression,
)
from kedro_airflow_k8s.errors import CompileError, ConfigError
from kedro_airflow_k8s.grouping import NodeGroup, group_nodes, memory_edges
from kedro_airflow_k8s.mlflow_run import END_TASK as MLFLOW_END
from kedro_airflow_k8s.mlflow_run import KEEP_OPEN_ENV, RUN_ID_TEMPLATE, STATUS_TEMPLATE
from kedro_airflow_k8s.mlflow_run import START_TASK as MLFLOW_START
from kedro_airflow_k8s.mlflow_run import MlflowSettings, task_environment
from kedro_airflow_k8s.profiles import (
    group_profile,
    group_template,
    resource_spec,
    with_template,
)
from kedro_airflow_k8s.render import py
from kedro_airflow_k8s.spark import (
    DRIVER_FIELD_ENV,
    KubernetesSpark,
    SparkDag,
    SparkFactory,
    SparkJob,
    checked_call,
    is_spark_node,
    load_factory,
    spark_edges,
)

DEFAULT_START_DATE = datetime.date(2024, 1, 1)
LABEL_PREFIX = "kedro-airflow-k8s/"
INIT_MOUNT_PATH = "/mnt/kedro-data"
RESERVED_IDS = {
    "mlflow-start": "start-mlflow-run",
    "mlflow-end": "end-mlflow-run",
    "volume-create": "create-data-volume",
    "volume-init": "init-data-volume",
    "volume-delete": "delete-data-volume",
    "result": "pipeline-result",
    "spark-create": "create-spark-cluster",
    "spark-delete": "delete-spark-cluster",
}
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
_MAX_ID = 100
_MAX_TASK_ID = 250  # Airflow's limit on a task's full id, its TaskGroups' ids included
_MAX_GROUP_ID = 200  # a TaskGroup's full id: leaves its tasks at least 49 characters
_AIRFLOW_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_SLACK_FIELDS = {
    "task": "{{ ti.task_id }}",
    "dag": "{{ dag.dag_id }}",
    "execution_time": "{{ logical_date or dag_run.run_after }}",
    "url": "{{ ti.log_url }}",
}


def _short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def airflow_id(text: str) -> str:
    """An Airflow task or group id made from arbitrary text (ASCII, no dots)."""
    slug = slugify(text, lowercase=False, separator="-", regex_pattern=r"[^A-Za-z0-9_-]+")
    if not slug:
        return f"node_{_short_hash(text)}"
    if len(slug) > _MAX_ID:
        return f"{slug[:_MAX_ID - 7]}_{_short_hash(text)}"
    return slug


def k8s_label(text: str) -> str:
    """A Kubernetes label value made from arbitrary text."""
    slug = slugify(text, separator="-", regex_pattern=r"[^a-z0-9-]+")
    if len(slug) > 63:
        slug = f"{slug[:56].rstrip('-')}-{_short_hash(text)}"
    return slug or _short_hash(text)


def _fit(local_id: str, key: str, room: int) -> str:
    """`local_id`, cut to `room` characters with a hash of `key` when it is longer."""
    return local_id if len(local_id) <= room else f"{local_id[:room - 7]}_{_short_hash(key)}"


def _unique_ids(wanted: dict[str, str], taken: Iterable[str]) -> dict[str, str]:
    """Give every key its wanted id; ids wanted twice (or taken) all get a hash suffix."""
    counts: dict[str, int] = defaultdict(int)
    for value in wanted.values():
        counts[value] += 1
    taken = set(taken)
    result = {}
    for key, value in wanted.items():
        if counts[value] > 1 or value in taken:
            value = f"{value[:_MAX_ID - 7]}_{_short_hash(key)}"
        result[key] = value
    if len(set(result.values())) != len(result) or not taken.isdisjoint(result.values()):
        # a hash collision: refuse, never overwrite
        raise CompileError("task ids collide even after adding hashes; rename the nodes")
    return result


def _slack_text(template: str) -> str:
    """Turn `{task}`-style placeholders into Airflow Jinja; other text stays literal."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(literal.replace("{", "{{ '{' }}"))
        if field is not None:
            parts.append(_SLACK_FIELDS[field])
    return "".join(parts)


def _check_node_names(nodes: list[Any]) -> None:
    from kedro.framework.cli.utils import split_node_names

    for node in nodes:
        if split_node_names(None, None, node.name) != [node.name]:
            raise CompileError(
                f"node '{node.name}': `kedro run --nodes` cannot take this name (a comma "
                "outside brackets, or spaces at its ends); rename the node or its namespace"
            )


def _refuse_memory_edges(pipeline: Any, is_persisted: Callable[[str], bool]) -> None:
    in_memory = sorted({d for names in memory_edges(pipeline, is_persisted).values()
                        for d in names})
    if in_memory:
        raise CompileError(
            f"datasets {', '.join(in_memory)} pass between nodes that run in separate tasks "
            "but are not persisted (MemoryDatasets): add them to catalog.yml, or let "
            "run_config.group_memory_nodes run those nodes in one task"
        )


def _check_inputs(pipeline: Any, is_persisted: Callable[[str], bool]) -> None:
    missing = sorted(name for name in pipeline.inputs() if not is_persisted(name))
    if missing:
        raise CompileError(
            f"pipeline inputs {', '.join(missing)} are produced by no node and are not in "
            "the catalog"
        )


def _params_value(run: RunConfig) -> str | None:
    """The `--params` value: Airflow macros and Variables, rendered by Airflow at run time,
    each through the DAG's filter that keeps ',' '=' and the like intact for Kedro. A
    missing Variable fails the task, naming it."""
    pairs = [f"{name}={{{{ {name} | {PARAM_FILTER} }}}}" for name in run.macro_params]
    pairs += [f"{name}={{{{ {variable_expression(name)} | {PARAM_FILTER} }}}}"
              for name in run.variables_params]
    return ",".join(pairs) or None


def dag_id_for(config: PluginConfig, project: str, pipeline_name: str,
               override: str | None = None) -> str:
    """The DAG id: --dag-name, else run_config.run_name (else the package name), followed by
    `-<pipeline>` for a pipeline other than __default__ (one DAG per pipeline)."""
    dag_id = override or config.run_config.run_name or project
    if not override and pipeline_name != "__default__":
        dag_id = f"{dag_id}-{airflow_id(pipeline_name)}"
    if not _DAG_ID.match(dag_id):
        source = "--dag-name" if override else "run_config.run_name"
        raise CompileError(
            f"{source}: {dag_id!r} is not a valid Airflow DAG id "
            "(letters, digits, '_', '-', '.'; at most 200)"
        )
    return dag_id


def project_dag_id(project: Any, dag_name: str | None = None) -> str:
    """The id a `context.KedroProject`'s pipeline compiles to, without compiling it."""
    return dag_id_for(project.config, project.package_name, project.pipeline_name, dag_name)


def _volume(run: RunConfig, dag_id: str, project_labels: dict[str, str]) -> VolumeSpec | None:
    if run.volume.disabled:
        return None
    prefix = f"{k8s_label(dag_id)[:40].rstrip('-')}-data-"
    spec: dict[str, Any] = {
        "accessModes": list(run.volume.access_modes),
        "resources": {"requests": {"storage": run.volume.size}},
    }
    if run.volume.storageclass is not None:
        spec["storageClassName"] = run.volume.storageclass
    manifest = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": prefix + RUN_HASH,
            "namespace": run.namespace,
            "labels": project_labels,
        },
        "spec": spec,
    }
    return VolumeSpec(claim_name=prefix + RUN_HASH, mount_path=run.volume.mount_path,
                      manifest=manifest)


def compile_dag(
    pipeline: Any,
    config: PluginConfig,
    *,
    project: str,
    env: str,
    pipeline_name: str = "__default__",
    is_persisted: Callable[[str], bool] = lambda name: True,
    dataset_type: Callable[[str], str | None] = lambda name: None,
    commit_sha: str | None = None,
    image: str | None = None,
    schedule: str | None = None,
    with_sensors: bool = True,
    dag_id: str | None = None,
    execution: str | None = None,
    group_memory: bool | None = None,
    project_path: str | None = None,
    python: str | None = None,
    mlflow: MlflowSettings | None = None,
    spark_artifacts_version: str | None = None,
    notify: Callable[[str], None] = lambda line: None,
) -> DagSpec:
    """Build the model of the DAG that runs `pipeline`: one task per node or node group."""
    run = config.run_config
    dag_id = dag_id_for(config, project, pipeline_name, dag_id)
    execution = execution or run.execution
    nodes = {node.name: node for node in pipeline.nodes}
    _check_node_names(list(nodes.values()))
    _check_inputs(pipeline, is_persisted)
    spark_nodes = {name for name, node in nodes.items()
                   if is_spark_node(node, dataset_type)} if run.spark else set()
    if run.spark and not spark_nodes:
        notify("Note: run_config.spark is set, but no node is a Spark node (tag "
               "kedro-airflow-k8s.group.pyspark, or a kedro_datasets.spark dataset).")
    memory = run.group_memory_nodes if group_memory is None else group_memory
    if not memory:
        _refuse_memory_edges(pipeline, is_persisted)
    joined = spark_edges(pipeline, spark_nodes) if run.group_spark_nodes else []
    node_groups = group_nodes(pipeline, is_persisted, memory=memory, joined=joined)
    for group in node_groups:
        if len(group.nodes) > 1:
            notify(f"One task runs {', '.join(group.nodes)} ({'; '.join(_reasons(group))}).")
    identity = {
        "app.kubernetes.io/managed-by": "kedro-airflow-k8s",
        f"{LABEL_PREFIX}project": k8s_label(project),
        f"{LABEL_PREFIX}dag": k8s_label(dag_id),
    }
    params = _params_value(run)
    local = None
    if execution == "local":
        notify("Note: local execution runs each task as a subprocess on the Airflow worker; "
               "the volume, pod templates, resources, secrets and Spark clusters are left "
               "out.")
        interpreter = run.local.python or python or "python"
        command = shlex.join([interpreter, "-m", "kedro", "run", "--env", env, "--pipeline",
                              pipeline_name]) + ' --nodes "$KEDRO_NODES"'
        if params:
            command += ' --params "$KEDRO_PARAMS"'
        local = LocalDefaults(project_path=run.local.project_path or project_path or ".",
                              python=interpreter, env_vars=dict(sorted(run.env_vars.items())),
                              bash_command=command)
    volume = _volume(run, dag_id, identity) if execution == "kubernetes" else None
    defaults = PodDefaults(
        namespace=run.namespace,
        image=image or run.image,
        image_pull_policy=run.image_pull_policy,
        startup_timeout_seconds=run.startup_time,
        service_account_name=run.service_account_name,
        image_pull_secrets=list(run.image_pull_secrets),
        secrets=[SecretSpec(**s.model_dump()) for s in run.secrets],
        env_vars=dict(sorted(run.env_vars.items())),
        fs_group=run.volume.owner if volume else None,
        volume=volume,
        labels=identity,
        node_arguments=["run", "--env", env, "--pipeline", pipeline_name, "--nodes"],
        node_params=["--params", params] if params else [],
        pod_connection=run.kubernetes_connection.pod_arguments(),
        volume_connection=run.kubernetes_connection.resource_arguments(),
    )

    # set up even without Spark nodes: a factory that cannot load fails now, not later
    spark = _spark_setup(run, dag_id, project, env, pipeline_name, image or run.image,
                         identity, spark_artifacts_version) \
        if run.spark and execution == "kubernetes" else None
    members = {group.nodes[0]: [nodes[name] for name in group.nodes] for group in node_groups}
    why = {group.nodes[0]: group for group in node_groups}
    namespaces = {key: _common_namespace(group) for key, group in members.items()}
    # top-level ids are claimed in order: plugin tasks, sensors, TaskGroups, node tasks
    sensor_ids = _sensor_ids(run) if with_sensors else {}
    plugin_ids = {*RESERVED_IDS.values(), *sensor_ids.values()}
    task_groups = _groups(sorted(ns for ns in namespaces.values() if ns), plugin_ids)
    group_of = {key: task_groups[ns].group_id if ns else None for key, ns in namespaces.items()}
    local_ids = _local_ids(members, namespaces, group_of, task_groups, plugin_ids)

    auth_env = task_environment(run.authentication) if mlflow else {}
    mlflow_env = {} if mlflow is None else {
        "MLFLOW_TRACKING_URI": mlflow.tracking_uri,
        "MLFLOW_RUN_ID": RUN_ID_TEMPLATE,
        **({KEEP_OPEN_ENV: "1"} if mlflow.kedro_mlflow else {}),
        **auth_env,
    }
    tasks: list[TaskSpec] = []
    node_task: dict[str, str] = {}
    profiles: dict[str, ResourceProfile] = {}
    for key, group_nodes_ in members.items():
        names = [node.name for node in group_nodes_]
        group = group_of[key]
        task_id = f"{group}.{local_ids[key]}" if group else local_ids[key]
        node_task.update(dict.fromkeys(names, task_id))
        doc = (f"Kedro node `{names[0]}`" if len(names) == 1 else
               "Kedro nodes " + ", ".join(f"`{n}`" for n in names) +
               f" ({'; '.join(_reasons(why[key]))})")
        on_spark = spark is not None and not spark_nodes.isdisjoint(names)
        task = TaskSpec(task_id=task_id, local_id=local_ids[key], group=group,
                        kind="spark" if on_spark else "node", node_names=names,
                        doc=f"Spark job ({spark.title}): {doc}" if on_spark and spark else doc)
        node_list = Verbatim(",".join(names))
        kedro_args = [*defaults.node_arguments, node_list, *defaults.node_params]
        if local:
            task = replace(task, local=_local_command(local, names, params, mlflow_env))
        elif on_spark and isinstance(spark.runner, SparkFactory):
            job = SparkJob(task_id=task_id, node_names=tuple(names),
                           kedro_arguments=kedro_args[1:],
                           environment={**defaults.env_vars, **mlflow_env})
            task = replace(task, operator=checked_call(spark.runner, "submit", job, printable=py))
        else:
            profile_name, profile = group_profile(group_nodes_, run)
            template = group_template(group_nodes_, run)
            if profile_name and template:
                profile_name, profile = with_template(
                    profile_name, profile, template,
                    run.kubernetes_pod_templates[template].template, task_id)
            if profile_name:
                profiles[profile_name] = profile
            labels = {**profile.labels, f"{LABEL_PREFIX}task": k8s_label(task_id)}
            annotations: dict[str, str | Verbatim] = {
                **profile.annotations, f"{LABEL_PREFIX}nodes": node_list}
            pod_image = run.kubernetes_pod_templates[template].image if template else None
            pod_env = dict(mlflow_env)
            if on_spark and spark:
                pod_env["PYSPARK_SUBMIT_ARGS"] = spark.runner.submit_args(
                    pod_image or defaults.image, {**labels, **identity},
                    _executor_volume(run, volume))
            task = replace(task, pod=PodSpec(
                cmds=["kedro"],
                arguments=kedro_args,
                labels=labels,
                annotations=annotations,
                resources=profile_name,
                pod_template=template,
                image=pod_image,
                env=pod_env,
                field_env=DRIVER_FIELD_ENV if on_spark else {},
            ))
        tasks.append(task)

    upstream_sets: dict[str, set[str]] = defaultdict(set)
    for child, parents in pipeline.node_dependencies.items():
        for parent in parents:
            if node_task[parent.name] != node_task[child.name]:
                upstream_sets[node_task[child.name]].add(node_task[parent.name])
    upstream = {task: sorted(parents) for task, parents in upstream_sets.items()}
    node_tasks = sorted(set(node_task.values()))
    roots = [t for t in node_tasks if t not in upstream]
    has_children = {p for parents in upstream.values() for p in parents}
    leaves = [t for t in node_tasks if t not in has_children]

    first = roots
    cleanup = []
    if volume:
        first = _volume_tasks(tasks, upstream, roots, leaves, volume, run)
        cleanup.append(RESERVED_IDS["volume-delete"])
    if mlflow:
        start = _mlflow_start_task(dag_id, env, image or run.image, local, auth_env)
        tasks.append(start)
        upstream[start.task_id] = list(first) if volume else []
        for root in roots:
            upstream[root] = sorted({*upstream.get(root, []), start.task_id} -
                                    ({RESERVED_IDS["volume-create"]} if volume else set()))
        first = first if volume else [start.task_id]
    if spark and isinstance(spark.runner, SparkFactory):
        create, delete = _cluster_tasks(tasks, upstream, spark.runner)
        first = [*first, *([create] if create else [])]
        cleanup += [delete] if delete else []
    if mlflow:
        end = _mlflow_end_task(env, local, auth_env)
        tasks.append(end)
        volume_delete = RESERVED_IDS["volume-delete"]
        upstream[end.task_id] = sorted({*leaves, *cleanup, MLFLOW_START} - {volume_delete})
        if volume:  # its pod mounts the volume too: delete the volume after it
            upstream[volume_delete] = sorted({*upstream[volume_delete], end.task_id})
        cleanup.append(end.task_id)
    if cleanup:
        result = RESERVED_IDS["result"]
        tasks.append(TaskSpec(task_id=result, local_id=result, group=None, kind="result",
                              doc="Fails the run when any node failed (the cleanup succeeds "
                                  "regardless)."))
        upstream[result] = sorted(leaves) or sorted(cleanup)
    if with_sensors:
        _sensor_tasks(tasks, upstream, first, run, sensor_ids)

    _check_ids(tasks, task_groups.values())
    _check_imports(tasks)
    experiment = (mlflow.experiment_name if mlflow else None) or run.experiment_name or dag_id
    tags = [f"generated_with_kedro_airflow_k8s:{__version__}", f"experiment_name:{experiment}"]
    if commit_sha:
        tags.append(f"commit_sha:{commit_sha}")
    for tag in tags:
        if len(tag) > 100:
            raise CompileError(f"DAG tag {tag[:40]!r}... is longer than Airflow's 100 characters")

    return DagSpec(
        dag_id=dag_id,
        description=run.description,
        schedule=schedule,
        start_date=run.start_date or DEFAULT_START_DATE,
        tags=tags,
        project=project,
        pipeline=pipeline_name,
        env=env,
        execution=execution,
        mlflow=mlflow,
        pod_defaults=defaults,
        local=local,
        resources={name: resource_spec(name, profiles[name]) for name in sorted(profiles)},
        pod_templates={name: run.kubernetes_pod_templates[name].template
                       for name in sorted({t.pod.pod_template for t in tasks if t.pod and
                                           t.pod.pod_template})},
        groups=sorted(task_groups.values(), key=lambda g: g.group_id),
        tasks=sorted(tasks, key=lambda t: t.task_id),
        upstream=dict(sorted(upstream.items())),
        failure_notifiers=[SlackNotifierSpec(h.connection_id, _slack_text(h.message_template))
                           for h in run.failure_handlers],
        version=__version__,
        artifacts_version=spark_artifacts_version,
        max_active_runs=1 if schedule == "@continuous" else None,  # Airflow requires it
        kedro_params=params is not None,
    )


@dataclass(frozen=True)
class _SparkTarget:
    title: str  # how task docs name it
    runner: SparkFactory | KubernetesSpark


def _spark_setup(run: RunConfig, dag_id: str, project: str, env: str, pipeline_name: str,
                 image: str, identity: dict[str, str],
                 artifacts_version: str | None) -> _SparkTarget:
    spark = run.spark
    assert spark is not None
    if spark.type == "kubernetes":
        return _SparkTarget("Kubernetes", KubernetesSpark(
            namespace=run.namespace, image_pull_policy=run.image_pull_policy,
            image_pull_secrets=list(run.image_pull_secrets),
            service_account_name=run.service_account_name,
            properties=dict(spark.cluster_config)))
    labels = {"managed-by": "kedro-airflow-k8s", "kedro-project": k8s_label(project),
              "kedro-dag": k8s_label(dag_id)}
    dag = SparkDag(dag_id=dag_id, project=project, env=env, pipeline=pipeline_name,
                   image=image, config=spark, labels=labels,
                   artifacts_version=artifacts_version)
    factory = load_factory(spark, dag)
    assert factory is not None
    return _SparkTarget("Dataproc" if spark.type == "dataproc" else type(factory).__name__,
                        factory)


def _executor_volume(run: RunConfig, volume: VolumeSpec | None) -> tuple[str, str] | None:
    """The shared volume for Spark executors too, when pods on many nodes can mount it."""
    if volume is None or "ReadWriteMany" not in run.volume.access_modes:
        return None
    return volume.claim_name, volume.mount_path


def _reasons(group: NodeGroup) -> list[str]:
    """Why the nodes of a group share one task, for notes and task docs."""
    reasons = []
    if group.memory_datasets:
        reasons.append(f"MemoryDatasets {', '.join(group.memory_datasets)}")
    if group.joined:
        reasons.append(f"connected Spark nodes {', '.join(group.joined)}")
    if group.widened:
        reasons.append(f"{', '.join(group.widened)} joined to keep the DAG acyclic")
    return reasons


def _cluster_tasks(tasks: list[TaskSpec], upstream: dict[str, list[str]],
                   factory: SparkFactory) -> tuple[str | None, str | None]:
    """The factory's cluster around the Spark jobs: created before the first, deleted after
    the last whatever happened. The ids of the create and delete tasks, when there are."""
    jobs = sorted(t.task_id for t in tasks if t.kind == "spark")
    create = delete = None
    if not jobs:
        return create, delete
    call = checked_call(factory, "create_cluster", printable=py)
    if call:
        create = RESERVED_IDS["spark-create"]
        tasks.append(TaskSpec(task_id=create, local_id=create, group=None, kind="spark-create",
                              operator=call, doc="Creates the Spark cluster of this DAG run."))
        for job in jobs:
            upstream[job] = sorted({*upstream.get(job, []), create})
    call = checked_call(factory, "delete_cluster", printable=py)
    if call:
        delete = RESERVED_IDS["spark-delete"]
        tasks.append(TaskSpec(task_id=delete, local_id=delete, group=None, kind="spark-delete",
                              operator=call, trigger_rule="all_done",
                              doc="Deletes the Spark cluster, whatever happened to the jobs."))
        upstream[delete] = sorted({*jobs, *([create] if create else [])})
    return create, delete


# What the DAG file itself imports or defines (see templates/dag.py.j2): a factory's operator
# may share a name only by being the same import.
_FILE_NAMES = {
    "KubernetesPodOperator": "airflow.providers.cncf.kubernetes.operators.pod",
    "KubernetesCreateResourceOperator": "airflow.providers.cncf.kubernetes.operators.resource",
    "KubernetesDeleteResourceOperator": "airflow.providers.cncf.kubernetes.operators.resource",
    "Secret": "airflow.providers.cncf.kubernetes.secret",
    "SlackWebhookNotifier": "airflow.providers.slack.notifications.slack_webhook",
    "BashOperator": "airflow.providers.standard.operators.bash",
    "EmptyOperator": "airflow.providers.standard.operators.empty",
    "ExternalTaskSensor": "airflow.providers.standard.sensors.external_task",
    **dict.fromkeys(["DAG", "TaskGroup", "literal"], "airflow.sdk"),
    **dict.fromkeys(["datetime", "hashlib", "json", "k8s", "Configuration", "MODELS",
                     "LABELS", "VOLUME_CLAIM", "RESOURCES", "POD_TEMPLATES", "KEDRO_RUN",
                     "NODE_ARGUMENTS", "NODE_PARAMS", "pod_arguments", "node_pod",
                     RUN_HASH_FILTER, PARAM_FILTER, "dag", "groups", "tasks", "upstream", "task_id",
                     "waits_for"], None),
}


def _check_imports(tasks: list[TaskSpec]) -> None:
    seen = dict(_FILE_NAMES)
    for task in tasks:
        if task.operator is None:
            continue
        module, name = task.operator.module, task.operator.name
        if seen.setdefault(name, module) != module:
            where = f"from {seen[name]}" if seen[name] else "by the DAG file itself"
            raise CompileError(f"run_config.spark: operator {module}.{name} has the name of "
                               f"one imported {where}; alias it in a module of yours")


def _mlflow_start_task(dag_id: str, env: str, image: str, local: LocalDefaults | None,
                       auth_env: dict[str, str]) -> TaskSpec:
    """Starts this DAG run's MLflow run in the project's image; its XCom is the run id."""
    args = ["airflow-k8s", "-e", env, "mlflow-start", "--dag-id", dag_id, "--image", image,
            "--airflow-run-id"]
    task = TaskSpec(task_id=MLFLOW_START, local_id=MLFLOW_START, group=None,
                    kind="mlflow-start", doc="Starts the MLflow run every node logs into.")
    if local:
        command = shlex.join([local.python, "-m", "kedro", *args]) + ' "$AIRFLOW_RUN_ID"'
        return replace(task, local=LocalCommand(
            env={**local.env_vars, **auth_env, "AIRFLOW_RUN_ID": "{{ run_id }}"},
            bash_command=command))
    return replace(task, pod=PodSpec(
        cmds=["kedro"], arguments=[*args, "{{ run_id }}"],
        labels={f"{LABEL_PREFIX}task": MLFLOW_START}, annotations={},
        env=auth_env))


def _mlflow_end_task(env: str, local: LocalDefaults | None,
                     auth_env: dict[str, str]) -> TaskSpec:
    """Ends the MLflow run once every task is done: FAILED when one failed, else FINISHED."""
    args = ["airflow-k8s", "-e", env, "mlflow-end", "--run-id"]
    task = TaskSpec(task_id=MLFLOW_END, local_id=MLFLOW_END, group=None, kind="mlflow-end",
                    trigger_rule="all_done",
                    doc="Ends the MLflow run: FAILED when a task failed, else FINISHED.")
    if local:
        command = (shlex.join([local.python, "-m", "kedro", *args]) +
                   ' "$MLFLOW_RUN_ID" --status "$MLFLOW_RUN_STATUS"')
        return replace(task, local=LocalCommand(
            env={**local.env_vars, **auth_env, "MLFLOW_RUN_ID": RUN_ID_TEMPLATE,
                 "MLFLOW_RUN_STATUS": STATUS_TEMPLATE},
            bash_command=command))
    return replace(task, pod=PodSpec(
        cmds=["kedro"], arguments=[*args, RUN_ID_TEMPLATE, "--status", STATUS_TEMPLATE],
        labels={f"{LABEL_PREFIX}task": MLFLOW_END}, annotations={}, env=auth_env))


def _local_command(local: LocalDefaults, names: list[str], params: str | None,
                   extra_env: dict[str, str]) -> LocalCommand:
    """Node names and params travel in the environment: no quoting, no Jinja on names."""
    env: dict[str, str | Verbatim] = {**local.env_vars, **extra_env,
                                      "KEDRO_NODES": Verbatim(",".join(names))}
    if params:
        env["KEDRO_PARAMS"] = params
    return LocalCommand(env=env)


def _common_namespace(nodes: list[Any]) -> str | None:
    parts = [node.namespace.split(".") if node.namespace else [] for node in nodes]
    common = []
    for level in zip(*parts, strict=False):  # the shortest namespace bounds the prefix
        if len(set(level)) > 1:
            break
        common.append(level[0])
    return ".".join(common) or None


def _local_ids(members: dict[str, list[Any]], namespaces: dict[str, str | None],
               group_of: dict[str, str | None], task_groups: dict[str, GroupSpec],
               plugin_ids: set[str]) -> dict[str, str]:
    """Task ids inside their TaskGroup: readable, unique, never a plugin task's or a sensor's
    id, and short enough that the full id fits Airflow's 250 characters."""
    wanted: dict[str | None, dict[str, str]] = defaultdict(dict)
    for key, nodes in members.items():
        prefix = f"{namespaces[key]}." if namespaces[key] else ""
        short = [airflow_id(node.name.removeprefix(prefix)) for node in nodes]
        joined = "__".join(short)
        wanted[group_of[key]][key] = joined if len(short) == 1 or len(joined) <= 60 else \
            f"{short[0]}__and_{len(short) - 1}_more"
    local_ids: dict[str, str] = {}
    for group, ids in wanted.items():
        taken = {g.local_id for g in task_groups.values() if g.parent == group}
        if group is None:
            taken |= plugin_ids
        room = _MAX_TASK_ID - len(group) - 1 if group else _MAX_ID
        fitted = {key: _fit(value, key, room) for key, value in _unique_ids(ids, taken).items()}
        if len(set(fitted.values())) != len(fitted):  # a hash collision: refuse, never overwrite
            raise CompileError(f"TaskGroup '{group}': task ids collide after shortening them "
                               "to Airflow's 250 characters; shorten the node names")
        local_ids.update(fitted)
    return local_ids


def _groups(namespaces: list[str], plugin_ids: set[str]) -> dict[str, GroupSpec]:
    """One TaskGroup per Kedro namespace level, keyed by namespace. A top-level group never
    takes a plugin task's or a sensor's id; a full group id fits in 200 characters."""
    groups: dict[str, GroupSpec] = {}
    for namespace_ in namespaces:
        parts = namespace_.split(".")
        for depth in range(1, len(parts) + 1):
            namespace = ".".join(parts[:depth])
            if namespace in groups:
                continue
            parent = groups[".".join(parts[:depth - 1])].group_id if depth > 1 else None
            room = _MAX_GROUP_ID - (len(parent) + 1 if parent else 0)
            if room < 8:
                raise CompileError(
                    f"namespace '{namespace}': nested too deep for Airflow (a TaskGroup id "
                    f"holds at most {_MAX_GROUP_ID} characters); shorten the namespace names")
            local_id = airflow_id(parts[depth - 1])
            if parent is None and local_id in plugin_ids:
                # hashed apart from a node of the same name, which gives way to the group
                local_id = f"{local_id[:_MAX_ID - 7]}_{_short_hash('namespace ' + namespace)}"
            local_id = _fit(local_id, namespace, room)
            groups[namespace] = GroupSpec(
                group_id=f"{parent}.{local_id}" if parent else local_id,
                local_id=local_id, parent=parent, namespace=namespace,
            )
    seen: dict[str, str] = {}
    for namespace, group in groups.items():
        other = seen.setdefault(group.group_id, namespace)
        if other != namespace:
            raise CompileError(
                f"namespaces '{other}' and '{namespace}' give the same TaskGroup id "
                f"'{group.group_id}'; rename one"
            )
    return groups


def _volume_tasks(
    tasks: list[TaskSpec],
    upstream: dict[str, list[str]],
    roots: list[str],
    leaves: list[str],
    volume: VolumeSpec,
    run: RunConfig,
) -> list[str]:
    """Add create/init/delete/result around the nodes; return the ids that start the DAG."""
    create, init = RESERVED_IDS["volume-create"], RESERVED_IDS["volume-init"]
    delete = RESERVED_IDS["volume-delete"]
    tasks.append(TaskSpec(task_id=create, local_id=create, group=None, kind="volume-create",
                          doc="Creates the volume this DAG run's pods share."))
    first_nodes_wait_for = create
    if not run.volume.skip_init:
        source = shlex.quote(volume.mount_path)
        copy = (f"if [ -d {source} ]; then cp -a {source}/. {INIT_MOUNT_PATH}/; fi; "
                f"chmod -R g+rwX {INIT_MOUNT_PATH}")
        tasks.append(TaskSpec(
            task_id=init, local_id=init, group=None, kind="volume-init",
            pod=PodSpec(cmds=["sh", "-c"], arguments=[copy],
                        labels={f"{LABEL_PREFIX}task": init}, annotations={},
                        volume_mount_path=INIT_MOUNT_PATH),
            doc="Copies the image's data directory into the shared volume.",
        ))
        upstream[init] = [create]
        first_nodes_wait_for = init
    for root in roots:
        upstream[root] = sorted([*upstream.get(root, []), first_nodes_wait_for])
    tasks.append(TaskSpec(task_id=delete, local_id=delete, group=None, kind="volume-delete",
                          trigger_rule="all_done",
                          doc="Deletes the shared volume, whatever happened to the nodes."))
    upstream[delete] = sorted(leaves) or [first_nodes_wait_for]
    return [create]


def _sensor_ids(run: RunConfig) -> dict[str, str]:
    """The sensors' ids, by index in run_config.external_dependencies."""
    wanted = {}
    for index, dep in enumerate(run.external_dependencies):
        name = f"wait-for-{dep.dag_id}" + (f"-{dep.task_id}" if dep.task_id else "")
        wanted[str(index)] = airflow_id(name)
    return _unique_ids(wanted, RESERVED_IDS.values())


def _sensor_tasks(tasks: list[TaskSpec], upstream: dict[str, list[str]], first: list[str],
                  run: RunConfig, ids: dict[str, str]) -> None:
    for index, dep in enumerate(run.external_dependencies):
        task_id = ids[str(index)]
        tasks.append(TaskSpec(
            task_id=task_id, local_id=task_id, group=None, kind="sensor",
            sensor=SensorSpec(dep.dag_id, dep.task_id, dep.check_existence,
                              dep.execution_delta, dep.timeout * 60),
            doc=f"Waits for {dep.dag_id}" + (f".{dep.task_id}" if dep.task_id else ""),
        ))
        for task in first:
            upstream[task] = sorted([*upstream.get(task, []), task_id])


def _check_ids(tasks: list[TaskSpec], groups: Iterable[GroupSpec]) -> None:
    """Every id the DAG file defines, in one registry: Airflow refuses a file where a task and
    a TaskGroup share an id, or where an id is too long (the compiler avoids both; this is
    the last guard, never a DAG that DagBag refuses)."""
    owners: dict[str, str] = {}
    for kind, full_id, limit, what in (
            *((t.kind, t.task_id, _MAX_TASK_ID, ", ".join(t.node_names) or t.kind)
              for t in tasks),
            *(("group", g.group_id, _MAX_GROUP_ID, f"namespace {g.namespace}")
              for g in groups)):
        if len(full_id) > limit or not _AIRFLOW_KEY.match(full_id):
            raise CompileError(f"{what}: id '{full_id[:60]}...' does not fit Airflow's ids "
                               f"(at most {limit} characters); shorten its names")
        other = owners.setdefault(full_id, what)
        if other != what:
            raise CompileError(f"{other} and {what} both want the Airflow id '{full_id}'; "
                               "rename one")


def compile_project(project: Any, *, notify: Callable[[str], None] = lambda line: None,
                    **options: Any) -> DagSpec:
    """Compile a `context.KedroProject`: its pipeline, config, catalog, git commit and
    MLflow server; `options` are compile_dag's (image, schedule, dag_id, execution, ...)."""
    import sys

    from kedro_airflow_k8s.mlflow_run import settings_for

    config = project.config
    spark = config.run_config.spark
    for key in ("user_init_path", "user_post_init_path"):
        relative = getattr(spark, key, None)
        if relative and not (project.path / relative).is_file():
            raise ConfigError(f"run_config.spark.{key}: no file {relative} in the project "
                              f"({project.path})")
    if spark is not None and spark.type == "dataproc":
        from kedro_airflow_k8s.spark_artifacts import artifacts_version

        options.setdefault("spark_artifacts_version", artifacts_version(project))
    return compile_dag(
        project.pipeline,
        config,
        project=project.package_name,
        env=project.run_env,
        pipeline_name=project.pipeline_name,
        is_persisted=project.is_persisted,
        dataset_type=project.dataset_type,
        commit_sha=project.commit_sha,
        project_path=str(project.path.resolve()),
        python=sys.executable,
        mlflow=settings_for(project, notify=notify),
        notify=notify,
        **options,
    )
