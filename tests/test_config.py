import copy
import datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kedro_airflow_k8s.config import DEFAULT_SLACK_MESSAGE, PluginConfig, parse_config
from kedro_airflow_k8s.errors import ConfigError

MINIMAL = {"run_config": {"image": "registry.example.com/demo:1"}}

# Every key of the original format, with non-default values.
FULL = {
    "host": "https://airflow.example.com",
    "output": "gs://bucket/dags",
    "run_config": {
        "image": "registry.example.com/demo:1",
        "image_pull_policy": "Always",
        "startup_time": 120,
        "namespace": "airflow",
        "experiment_name": "Demo experiment",
        "run_name": "demo-dag",
        "cron_expression": "0 3 * * 1-5",
        "start_date": "20250721",
        "description": "Very important pipeline",
        "image_pull_secrets": "regcred, other-cred",
        "service_account_name": "kedro",
        "failure_handlers": [
            {"type": "slack", "connection_id": "slack", "message_template": "{task} of {dag}"}
        ],
        "volume": {"storageclass": "standard-rwo", "size": "5Gi",
                   "access_modes": ["ReadWriteMany"], "skip_init": True, "owner": 1000,
                   "disabled": False},
        "secrets": [
            {"deploy_type": "env", "deploy_target": "SQL_CONN", "secret": "airflow-secrets",
             "key": "sql_alchemy_conn"},
            {"deploy_type": "volume", "deploy_target": "/var/secrets", "secret": "gcp-sa"},
            {"secret": "all-as-env"},
        ],
        "macro_params": ["ds", "ts"],
        "variables_params": ["env"],
        "resources": {
            "__default__": {
                "node_selectors": {"pool": "default"},
                "labels": {"running": "airflow"},
                "annotations": {"iam.amazonaws.com/role": "airflow"},
                "tolerations": [{"key": "group", "value": "data", "effect": "NoExecute"}],
                "requests": {"cpu": "1", "memory": "1Gi"},
                "limits": {"cpu": 2, "memory": "2Gi"},
            },
            "huge": {"requests": {"cpu": "16", "memory": "128Gi"}},
        },
        "external_dependencies": [
            {"dag_id": "upstream"},
            {"dag_id": "other", "task_id": "last", "timeout": 2, "check_existence": False,
             "execution_delta": 10},
        ],
        "authentication": {"type": "Vars", "params": ["MLFLOW_TRACKING_USERNAME"]},
        "kubernetes_pod_templates": {
            "spark": {"template": "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b}\n",
                      "image": "spark-image"},
        },
        "spark": {"type": "dataproc", "region": "europe-west1", "project_id": "p",
                  "cluster_name": "ephemeral", "artifacts_path": "gs://b/a",
                  "user_init_path": "init.sh", "user_post_init_path": "post.sh",
                  "cluster_config": {"master_config": {}}},
        "env_vars": {"A": "x", "B": 1, "C": True},
    },
}


# The default pod template of the 0.8 docs, as written there.
TEMPLATE_08 = """type: Pod
  metadata:
    name: {PodGenerator.make_unique_pod_id('{{ task_instance.task_id }}')}
spec:
  containers:
    - name: base
      env:
        - name: MLFLOW_RUN_ID
          value: {{ task_instance.xcom_pull(key="mlflow_run_id") }}
  volumes:
    - name: storage
      persistentVolumeClaim:
        claimName: {self._pvc_name}
"""

FILLED_IN = (", which are no longer filled in: write the value, or leave the field out (the "
             "plugin sets the pod's name, image, namespace, data volume and MLflow run "
             "itself)")

# The Spark-on-Kubernetes block of the 0.8 docs.
SPARK_08 = {
    "type": "kubernetes",
    "cluster_name": "spark_k8s",
    "cluster_config": {
        "run_script": "local:///home/kedro/spark_run.py",
        "image": "airflow-k8s-plugin-spark-demo",
        "conf": {"spark.dynamicAllocation.enabled": True,
                 "spark.dynamicAllocation.maxExecutors": 4},
        "driver_port": 10000,
        "block_manager_port": 10001,
        "secrets": {"kedro-secret": "/var/kedro_secret"},
        "labels": {"huge-machine": "yes"},
        "local_storage": {"class_name": "standard", "size": "100Gi"},
        "env_vars": {"GOOGLE_APPLICATION_CREDENTIALS": "/var/kedro_secret/sa"},
        "requests": {"cpu": 2},
        "limits": {"cpu": 4, "memory": "16Gi"},
        "num_executors": 4,
        "jars": "local:///home/kedro/jars/gcs-connector.jar",
        "repositories": "https://oss.sonatype.org/content/groups/public",
        "packages": "org.apache.spark:spark-streaming-kafka_2.10:1.6.0",
    },
}


def with_run(**changes):
    raw = copy.deepcopy(MINIMAL)
    raw["run_config"].update(changes)
    return raw


def test_defaults_are_the_documented_ones():
    run = parse_config(MINIMAL).run_config
    assert run.namespace == "default"
    assert run.image_pull_policy == "IfNotPresent"
    assert run.startup_time == 600
    assert run.cron_expression == "@daily"
    assert run.run_name is None and run.experiment_name is None  # filled in by the compiler
    assert run.volume.size == "1Gi"
    assert run.volume.access_modes == ["ReadWriteOnce"]
    assert run.volume.owner == 0
    assert run.volume.storageclass is None
    assert run.volume.mount_path == "/home/kedro/data"
    assert run.authentication.type == "Null"
    assert run.resources == {} and run.secrets == [] and run.spark is None


def test_every_key_of_the_original_format_is_read():
    config = parse_config(FULL)
    run = config.run_config
    assert config.host == "https://airflow.example.com"
    assert run.start_date == datetime.date(2025, 7, 21)
    assert run.image_pull_secrets == ["regcred", "other-cred"]
    assert run.failure_handlers[0].connection_id == "slack"
    assert run.volume.owner == 1000 and run.volume.access_modes == ["ReadWriteMany"]
    assert [s.deploy_type for s in run.secrets] == ["env", "volume", "env"]
    assert run.resources["__default__"].limits["cpu"] == "2"
    assert run.resources["__default__"].tolerations[0].operator == "Equal"
    assert run.external_dependencies[1].execution_delta == 10
    assert run.kubernetes_pod_templates["spark"].template["metadata"]["labels"] == {"a": "b"}
    assert run.spark.cluster_config == {"master_config": {}}
    assert run.env_vars == {"A": "x", "B": "1", "C": "true"}


def test_startup_timeout_is_read_as_startup_time():
    assert parse_config(with_run(startup_timeout=30)).run_config.startup_time == 30


def test_default_slack_message_uses_every_placeholder():
    handler = parse_config(with_run(failure_handlers=[{"type": "slack"}])).run_config
    assert handler.failure_handlers[0].message_template == DEFAULT_SLACK_MESSAGE
    for field in ("{task}", "{dag}", "{execution_time}", "{url}"):
        assert field in DEFAULT_SLACK_MESSAGE


BAD_CONFIGS = [
    ({}, "airflow-k8s.yaml: expected a mapping with run_config, got {}"),
    ({"host": "https://x"}, "airflow-k8s.yaml: run_config: required key is missing"),
    ({"run_config": {}}, "airflow-k8s.yaml: run_config.image: required key is missing"),
    (with_run(image=""), "airflow-k8s.yaml: run_config.image: String should have at least "
                         "1 character"),
    (with_run(image="Registry.Example.com/My Project:1.0"),
     "airflow-k8s.yaml: run_config.image: 'Registry.Example.com/My Project:1.0': must be an "
     "image reference, [registry[:port]/]path[:tag][@digest] with a lowercase path of letters, "
     "digits and '.', '_', '-' separators: its path 'My Project' must be lowercase"),
    (with_run(image="registry.example.com/my-project:1.0 "),
     "airflow-k8s.yaml: run_config.image: 'registry.example.com/my-project:1.0 ': must be an "
     "image reference, [registry[:port]/]path[:tag][@digest] with a lowercase path of letters, "
     "digits and '.', '_', '-' separators"),
    (with_run(kubernetes_pod_templates={"gpu": {"template": {"spec": {}},
                                                "image": "gpu@sha256:1234"}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.gpu.image: 'gpu@sha256:1234': must "
     "be an image reference, [registry[:port]/]path[:tag][@digest] with a lowercase path of "
     "letters, digits and '.', '_', '-' separators"),
    (with_run(grouping="namespaces"), "airflow-k8s.yaml: run_config.grouping: Input should be "
                                      "'node', 'namespace' or 'pipeline', got 'namespaces'"),
    ({**MINIMAL, "hosts": "x"}, "airflow-k8s.yaml: hosts: unknown key"),
    (with_run(volume={"size": "0"}),
     "airflow-k8s.yaml: run_config.volume.size: must be above zero, got '0'"),
    (with_run(volume={"size": "-1Gi"}),
     "airflow-k8s.yaml: run_config.volume.size: must not be negative, got '-1Gi'"),
    (with_run(volume={"storageclass": "Fast SSD"}),
     "airflow-k8s.yaml: run_config.volume.storageclass: 'Fast SSD': must consist of lowercase "
     "letters, digits, '-' and '.', and start and end with a letter or digit (a DNS-1123 "
     "subdomain)"),
    (with_run(imagee="x"), "airflow-k8s.yaml: run_config.imagee: unknown key"),
    (with_run(volume={"sise": "1Gi"}), "airflow-k8s.yaml: run_config.volume.sise: unknown key"),
    (with_run(resources={"huge": {"requests": {"cpu": "lots"}}}),
     "airflow-k8s.yaml: run_config.resources.huge.requests.cpu: expected a Kubernetes "
     "quantity, got 'lots'"),
    (with_run(resources={"huge": {"limits": {"gpu": 1}}}),
     "airflow-k8s.yaml: run_config.resources.huge.limits.gpu: is not a container resource: "
     "use cpu, memory, ephemeral-storage, hugepages-<size> or a domain-qualified name like "
     "nvidia.com/gpu"),
    (with_run(volume={"size": "big"}),
     "airflow-k8s.yaml: run_config.volume.size: expected a Kubernetes quantity, got 'big'"),
    (with_run(startup_time="soon"), "airflow-k8s.yaml: run_config.startup_time: Input should "
                                    "be a valid integer, unable to parse string as an integer"),
    (with_run(startup_time=0), "airflow-k8s.yaml: run_config.startup_time: Input should be "
                               "greater than 0"),
    (with_run(image_pull_policy="Sometimes"),
     "airflow-k8s.yaml: run_config.image_pull_policy: Input should be 'Always', "
     "'IfNotPresent' or 'Never', got 'Sometimes'"),
    (with_run(cron_expression="every day"),
     "airflow-k8s.yaml: run_config.cron_expression: expected a cron expression or a preset "
     "like @daily, got 'every day'"),
    (with_run(start_date="2024-01-01"),
     "airflow-k8s.yaml: run_config.start_date: expected a date as YYYYMMDD, got '2024-01-01'"),
    (with_run(namespace="Not_Valid"),
     "airflow-k8s.yaml: run_config.namespace: expected a DNS-1123 label (a Kubernetes "
     "namespace), got 'Not_Valid'"),
    (with_run(secrets=[{"deploy_type": "file", "secret": "s"}]),
     "airflow-k8s.yaml: run_config.secrets.0.deploy_type: Input should be 'env' or 'volume', "
     "got 'file'"),
    (with_run(secrets=[{"deploy_type": "volume", "secret": "s"}]),
     "airflow-k8s.yaml: run_config.secrets.0: deploy_type volume needs deploy_target (the "
     "mount path)"),
    (with_run(secrets=[{"deploy_type": "env"}]),
     "airflow-k8s.yaml: run_config.secrets.0.secret: required key is missing"),
    (with_run(failure_handlers=[{"type": "teams"}]),
     "airflow-k8s.yaml: run_config.failure_handlers.0.type: Input should be 'slack', "
     "got 'teams'"),
    (with_run(failure_handlers=[{"type": "slack", "message_template": "{who}"}]),
     "airflow-k8s.yaml: run_config.failure_handlers.0.message_template: unknown placeholder "
     "{who}; use task, dag, execution_time, url"),
    (with_run(authentication={"type": "Basic"}),
     "airflow-k8s.yaml: run_config.authentication.type: Input should be 'Null', "
     "'GoogleOAuth2' or 'Vars', got 'Basic'"),
    (with_run(kubernetes_pod_templates={"t": {"template": "a: [b"}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.t.template: not valid YAML "
     "(while parsing a flow sequence)"),
    (with_run(kubernetes_pod_templates={"t": {"template": "just text"}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.t.template: expected a Pod "
     "manifest (a mapping)"),
    (with_run(external_dependencies=[{"task_id": "x"}]),
     "airflow-k8s.yaml: run_config.external_dependencies.0.dag_id: required key is missing"),
    (with_run(external_dependencies=[{"dag_id": "x", "timeout": -1}]),
     "airflow-k8s.yaml: run_config.external_dependencies.0.timeout: Input should be greater "
     "than 0"),
    (with_run(macro_params=["ds }}{{ evil"]),
     "airflow-k8s.yaml: run_config.macro_params: expected identifiers, got 'ds }}{{ evil'"),
    (with_run(macro_params=["ds", "prev_ds"]),
     "airflow-k8s.yaml: run_config.macro_params: 'prev_ds' no longer exists in Airflow 3; "
     "use prev_data_interval_start_success"),
    (with_run(macro_params=["execution_date"]),
     "airflow-k8s.yaml: run_config.macro_params: 'execution_date' no longer exists in "
     "Airflow 3; use logical_date"),
    (with_run(macro_params=["tomorrow_ds"]),
     "airflow-k8s.yaml: run_config.macro_params: 'tomorrow_ds' no longer exists in Airflow "
     "3; compute it in the node from ds"),
    (with_run(macro_params=["try_number"]),  # in Airflow's Context type, not in templates
     "airflow-k8s.yaml: run_config.macro_params: 'try_number' is not in an Airflow 3 task's "
     "context (known: ds, ts, logical_date, ...)"),
    (with_run(resources={"x": {"tolerations": [{"effect": "Sometimes"}]}}),
     "airflow-k8s.yaml: run_config.resources.x.tolerations.0.effect: Input should be "
     "'NoSchedule', 'PreferNoSchedule' or 'NoExecute', got 'Sometimes'"),
    (with_run(spark={"type": "emr"}),
     "airflow-k8s.yaml: run_config.spark.type: Input should be 'dataproc', "
     "'kubernetes', 'k8s' or 'custom', got 'emr'"),
    (with_run(spark={"type": "dataproc", "region": "r", "project_id": "p"}),
     "airflow-k8s.yaml: run_config.spark: type dataproc needs cluster_name"),
    (with_run(spark={"type": "dataproc", "region": "r", "project_id": "p",
                     "cluster_name": "c", "artifacts_path": "s3://b/a"}),
     "airflow-k8s.yaml: run_config.spark: artifacts_path must be a gs:// folder for "
     "Dataproc, got 's3://b/a'"),
    (with_run(spark={"type": "dataproc", "region": "r", "project_id": "p",
                     "cluster_name": "Big_Cluster", "artifacts_path": "gs://b/a"}),
     "airflow-k8s.yaml: run_config.spark.cluster_name: expected lowercase letters, digits "
     "and '-', starting with a letter, at most 34 characters, got 'Big_Cluster'"),
    (with_run(spark={"type": "custom"}),
     "airflow-k8s.yaml: run_config.spark: type custom needs operator_factory"),
    (with_run(spark={"type": "custom", "operator_factory": "NoModule"}),
     "airflow-k8s.yaml: run_config.spark.operator_factory: expected module.Class, "
     "got 'NoModule'"),
    (with_run(spark={"type": "k8s", "operator_factory": "m.F"}),
     "airflow-k8s.yaml: run_config.spark: operator_factory is used with type custom only"),
    (with_run(spark={"type": "kubernetes", "cluster_config": {"executors": 2}}),
     "airflow-k8s.yaml: run_config.spark: cluster_config.executors: with type kubernetes, "
     "keys are Spark properties (spark.*) with plain values"),
    (with_run(volume={"mount_path": "data"}),
     "airflow-k8s.yaml: run_config.volume.mount_path: expected an absolute path other than /, "
     "got 'data'"),
    (with_run(volume={"owner": -1}),
     "airflow-k8s.yaml: run_config.volume.owner: Input should be greater than or equal to 0"),
    # 0.8 pod templates: `type: Pod` and Python format placeholders
    (with_run(kubernetes_pod_templates={"__default__": {"template": TEMPLATE_08}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.__default__.template: "
     "{PodGenerator.make_unique_pod_id('{{ task_instance.task_id }}')} is a placeholder of "
     "0.8 templates" + FILLED_IN),
    (with_run(kubernetes_pod_templates={"t": {"template": "type: Pod\nspec: {}\n"}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.t.template: 'type' is not a "
     "field of a Pod (apiVersion, kind, metadata, spec, status): write `kind: Pod` (0.8 "
     "templates said `type: Pod`)"),
    (with_run(kubernetes_pod_templates={"t": {"template": {"containers": []}}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.t.template: 'containers' is not "
     "a field of a Pod (apiVersion, kind, metadata, spec, status): move it under spec or "
     "metadata"),
    (with_run(kubernetes_pod_templates={"t": {"template": "kind: Pod\nspec:\n  containers:"
                                                          "\n    - name: base\n"
                                                          "      image: {image}\n"}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.t.template: {image} is a "
     "placeholder of 0.8 templates" + FILLED_IN),
    (with_run(kubernetes_pod_templates={"t": {"template": {"spec": {"volumes": [
        {"name": "storage", "persistentVolumeClaim": {"claimName": {"self._pvc_name": None}}}
    ]}}}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.t.template: {self._pvc_name} is "
     "a placeholder of 0.8 templates" + FILLED_IN),
    (with_run(kubernetes_pod_templates={"t": {"template": "kind: Deployment\n"}}),
     "airflow-k8s.yaml: run_config.kubernetes_pod_templates.t.template: kind: expected Pod, "
     "got 'Deployment'"),
    # 0.8 Spark on Kubernetes: refused, each key with its new spelling
    (with_run(spark=SPARK_08),
     "airflow-k8s.yaml: run_config.spark: cluster_name: 0.8's Airflow connection for "
     "spark-submit is not used with type kubernetes (the task pod is the Spark driver, with "
     "run_config.service_account_name): leave it out"),
    (with_run(spark={**SPARK_08, "cluster_name": None}),
     "airflow-k8s.yaml: run_config.spark: cluster_config.run_script is the 0.8 spelling "
     "(cluster_config now holds Spark properties): leave it out, the task pod runs Kedro "
     "itself"),
    (with_run(spark={"type": "k8s", "cluster_config": {"num_executors": 4}}),
     "airflow-k8s.yaml: run_config.spark: cluster_config.num_executors is the 0.8 spelling "
     "(cluster_config now holds Spark properties): write spark.executor.instances"),
    (with_run(spark={"type": "kubernetes", "cluster_config": {
        "conf": {"spark.dynamicAllocation.enabled": True}}}),
     "airflow-k8s.yaml: run_config.spark: cluster_config.conf is the 0.8 spelling "
     "(cluster_config now holds Spark properties): write its spark.* keys directly in "
     "cluster_config"),
]


# run_config.task_settings / task_defaults and the DAG-wide keys: Airflow's own settings.
BAD_CONFIGS += [
    (with_run(task_settings={"flaky": {"retry_delay": "5 minutes"}}),
     "airflow-k8s.yaml: run_config.task_settings.flaky.retry_delay: expected a duration "
     "(seconds, 30s, 5m, 1h30m, ISO 8601 PT5M), got '5 minutes'"),
    (with_run(task_settings={"slow": {"execution_timeout": "0s"}}),
     "airflow-k8s.yaml: run_config.task_settings.slow.execution_timeout: must be a positive "
     "duration, got 0 seconds"),
    (with_run(task_settings={"x": {"pool": "  "}}),
     "airflow-k8s.yaml: run_config.task_settings.x.pool: a pool name must not be empty"),
    (with_run(task_settings={"x": {"pool": "p" * 257}}),
     "airflow-k8s.yaml: run_config.task_settings.x.pool: a pool name has at most 256 "
     "characters, got 257"),
    (with_run(task_settings={"x": {"retries": -1}}),
     "airflow-k8s.yaml: run_config.task_settings.x.retries: Input should be greater than or "
     "equal to 0"),
    (with_run(task_settings={"x": {"weight_rule": "heaviest"}}),
     "airflow-k8s.yaml: run_config.task_settings.x.weight_rule: Input should be 'downstream', "
     "'upstream' or 'absolute', got 'heaviest'"),
    (with_run(task_settings={"x": {"pool_slots": 0}}),
     "airflow-k8s.yaml: run_config.task_settings.x.pool_slots: Input should be greater than "
     "or equal to 1"),
    (with_run(task_settings={"x": {"retires": 3}}),
     "airflow-k8s.yaml: run_config.task_settings.x.retires: unknown key"),
    (with_run(task_defaults={"max_retry_delay": True}),
     "airflow-k8s.yaml: run_config.task_defaults.max_retry_delay: expected a duration "
     "(seconds, 30s, 5m, 1h30m, ISO 8601 PT5M), got True"),
    (with_run(dagrun_timeout="-PT1M"),
     "airflow-k8s.yaml: run_config.dagrun_timeout: must be a positive duration, got -60 "
     "seconds"),
    (with_run(max_active_runs=0),
     "airflow-k8s.yaml: run_config.max_active_runs: Input should be greater than or equal "
     "to 1"),
    (with_run(tags=["t" * 101]),
     f"airflow-k8s.yaml: run_config.tags: a DAG tag has 1 to 100 characters (Airflow), got "
     f"{'t' * 101!r}"),
]

# The KubernetesPodOperator settings of task_settings / task_defaults.
BAD_CONFIGS += [
    # the real API server refuses the pod (envFrom.secretRef.name), tests/e2e/test_kubernetes.py
    (with_run(secrets=[{"secret": "Airflow_Secrets"}]),
     "airflow-k8s.yaml: run_config.secrets.0.secret: 'Airflow_Secrets': must consist of "
     "lowercase letters, digits, '-' and '.', and start and end with a letter or digit (a "
     "DNS-1123 subdomain)"),
    (with_run(task_settings={"x": {"startup_timeout": 90.5}}),
     "airflow-k8s.yaml: run_config.task_settings.x.startup_timeout: must be whole seconds, "
     "got 90.5"),
    (with_run(task_settings={"x": {"active_deadline": "0s"}}),
     "airflow-k8s.yaml: run_config.task_settings.x.active_deadline: Input should be greater "
     "than or equal to 1"),
    (with_run(task_defaults={"schedule_timeout": "ten minutes"}),
     "airflow-k8s.yaml: run_config.task_defaults.schedule_timeout: expected a duration "
     "(seconds, 30s, 5m, 1h30m, ISO 8601 PT5M), got 'ten minutes'"),
    (with_run(task_settings={"x": {"termination_grace_period": -1}}),
     "airflow-k8s.yaml: run_config.task_settings.x.termination_grace_period: Input should be "
     "greater than or equal to 0"),
    (with_run(task_settings={"x": {"poll_interval": 0}}),
     "airflow-k8s.yaml: run_config.task_settings.x.poll_interval: Input should be greater "
     "than 0"),
    (with_run(task_settings={"x": {"on_finish_action": "keep"}}),
     "airflow-k8s.yaml: run_config.task_settings.x.on_finish_action: Input should be "
     "'delete_pod', 'delete_succeeded_pod', 'delete_active_pod' or 'keep_pod', got 'keep'"),
    (with_run(task_settings={"x": {"deferrable": "sometimes"}}),
     "airflow-k8s.yaml: run_config.task_settings.x.deferrable: Input should be a valid "
     "boolean, unable to interpret input"),
    (with_run(task_settings={"x": {"deferrable": False, "logging_interval": 60}}),
     "airflow-k8s.yaml: run_config.task_settings.x: logging_interval acts only on deferrable "
     "pods, but deferrable is false"),
    (with_run(task_defaults={"deferrable": False}, task_settings={"x": {"poll_interval": 5}}),
     "airflow-k8s.yaml: run_config: task_settings.x: poll_interval acts only on deferrable "
     "pods, but deferrable is false (task_defaults)"),
    (with_run(startup_time=600, task_defaults={"startup_timeout": "15m"}),
     "airflow-k8s.yaml: run_config: task_defaults.startup_timeout (900) and startup_time "
     "(600) both set the DAG's startup timeout: keep one"),
]


def test_pod_settings_take_durations_and_the_providers_names():
    def operation(**settings):
        return parse_config(with_run(task_defaults=settings)
                            ).run_config.task_defaults.operator_arguments()

    assert operation(startup_timeout="5m") == operation(startup_timeout_seconds=300) == {
        "startup_timeout_seconds": 300}
    assert operation(active_deadline="PT1H", schedule_timeout_seconds="1h30m") == {
        "active_deadline_seconds": 3600, "schedule_timeout_seconds": 5400}
    assert operation(reattach_on_restart=False) == operation(durable=False) == {
        "durable": False}
    assert operation(poll_interval=0.5, logging_interval="2m", deferrable=True) == {
        "poll_interval": 0.5, "logging_interval": 120, "deferrable": True}
    assert operation(termination_grace_period=0, on_finish_action="keep_pod") == {
        "termination_grace_period": 0, "on_finish_action": "keep_pod"}
    # the Airflow settings of the same profile are not the pod's, and the reverse
    settings = parse_config(with_run(task_defaults={"retries": 2, "deferrable": True})
                            ).run_config.task_defaults
    assert (settings.arguments(), settings.operator_arguments()) == (
        {"retries": 2}, {"deferrable": True})


def test_the_dag_wide_startup_timeout_is_startup_time_or_task_defaults():
    def dag_wide(**changes):
        return parse_config(with_run(**changes)).run_config.pod_operation()

    assert dag_wide() == {"startup_timeout_seconds": 600, "on_finish_action": "delete_pod"}
    assert dag_wide(startup_timeout=120)["startup_timeout_seconds"] == 120  # the old alias
    assert dag_wide(task_defaults={"startup_timeout": "15m"})["startup_timeout_seconds"] == 900
    assert dag_wide(startup_time=900, task_defaults={"startup_timeout": "15m", "deferrable":
                                                     True}) == {
        "startup_timeout_seconds": 900, "on_finish_action": "delete_pod", "deferrable": True}


def test_durations_read_as_airflow_users_write_them():
    def delay(value):
        return parse_config(with_run(task_defaults={"retry_delay": value})
                            ).run_config.task_defaults.retry_delay

    minutes = datetime.timedelta(minutes=1)
    assert delay("5m") == delay("PT5M") == delay(300) == delay("00:05:00") == 5 * minutes
    assert delay("1h30m") == delay("PT1H30M") == delay(5400) == 90 * minutes
    assert delay("2d") == delay("P2D") == 2 * 24 * 60 * minutes
    assert delay("45s") == delay(45.0) == 0.75 * minutes


def test_the_pool_name_limit_is_airflows():
    from airflow.models.pool import Pool

    from kedro_airflow_k8s.config import POOL_NAME_LENGTH

    assert POOL_NAME_LENGTH == Pool.pool.property.columns[0].type.length


@pytest.mark.parametrize("raw, message", BAD_CONFIGS)
def test_bad_config_gives_one_line_naming_the_key(raw, message):
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value) == message
    assert "\n" not in str(error.value)


def test_several_errors_are_counted_not_dumped():
    with pytest.raises(ConfigError) as error:
        parse_config({"run_config": {"namespace": "X", "imagee": 1}})
    assert str(error.value).endswith("(and 2 more)")


def test_every_key_of_the_08_spark_block_says_its_new_spelling():
    from kedro_airflow_k8s.config import SPARK_08_KUBERNETES

    assert set(SPARK_08["cluster_config"]) == set(SPARK_08_KUBERNETES)
    for key, value in SPARK_08["cluster_config"].items():
        with pytest.raises(ConfigError) as error:
            parse_config(with_run(spark={"type": "k8s", "cluster_config": {key: value}}))
        assert str(error.value).startswith(
            f"airflow-k8s.yaml: run_config.spark: cluster_config.{key} is the 0.8 spelling")


def test_pod_templates_keep_jinja_shell_variables_and_flow_mappings():
    template = ("apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {team: data}\n"
                "  annotations:\n    run: \"{{ run_id }}\"\nspec:\n  containers:\n"
                "    - name: base\n      args: [sh, -c, 'echo ${HOME} {{ds}}']\n"
                "      resources: {limits: {cpu: '1'}}\n")
    run = parse_config(with_run(kubernetes_pod_templates={"t": {"template": template}})).run_config
    spec = run.kubernetes_pod_templates["t"].template
    assert spec["metadata"]["labels"] == {"team": "data"}
    assert spec["spec"]["containers"][0]["args"][-1] == "echo ${HOME} {{ds}}"
    script = {"spec": {"containers": [{"name": "base", "command": ["python", "-c"],
                                       "args": ["print('{x}'.format(x=1))"]}]}}
    run = parse_config(with_run(kubernetes_pod_templates={"t": {"template": script}})).run_config
    assert run.kubernetes_pod_templates["t"].template == script


def test_field_descriptions_document_every_key():
    from pydantic import BaseModel

    def models(annotation):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield annotation
        for argument in getattr(annotation, "__args__", ()):
            yield from models(argument)

    def walk(model, prefix):
        for name, field in model.model_fields.items():
            assert field.description, f"{prefix}{name} has no description"
            for inner in models(field.annotation):
                walk(inner, f"{prefix}{name}.")

    walk(PluginConfig, "")


def _profile(**profile):
    return with_run(resources={"huge": profile})


# What the API server refuses in a container's resources (ValidateResourceRequirements),
# refused at compile instead, naming the key.
BAD_RESOURCES = [
    (_profile(requests={"memory": "1 Gi"}),
     "run_config.resources.huge.requests.memory: expected a Kubernetes quantity, got '1 Gi'"),
    (_profile(limits={"cpu": "abc"}),
     "run_config.resources.huge.limits.cpu: expected a Kubernetes quantity, got 'abc'"),
    (_profile(requests={"cpu": -1}),
     "run_config.resources.huge.requests.cpu: must not be negative, got '-1'"),
    (_profile(requests={"cpu": "1\n"}),
     "run_config.resources.huge.requests.cpu: expected a Kubernetes quantity, got '1\\n'"),
    (_profile(requests={"memory": "1K"}),  # the Python client's parser takes these three
     "run_config.resources.huge.requests.memory: expected a Kubernetes quantity, got '1K'"),
    (_profile(requests={"memory": "1_000"}),
     "run_config.resources.huge.requests.memory: expected a Kubernetes quantity, got '1_000'"),
    (_profile(requests={"memory": "NaN"}),
     "run_config.resources.huge.requests.memory: expected a Kubernetes quantity, got 'NaN'"),
    (_profile(limits={"Nvidia.com/gpu": 1}),
     "run_config.resources.huge.limits.Nvidia.com/gpu: prefix 'Nvidia.com' must consist of "
     "lowercase letters, digits, '-' and '.', and start and end with a letter or digit (a "
     "DNS-1123 subdomain)"),
    (_profile(requests={"cpu": "4"}, limits={"cpu": "2"}),
     "run_config.resources.huge: requests.cpu: 4 must be at most limits.cpu 2"),
    (_profile(requests={"memory": "2Gi"}, limits={"memory": "2000Mi"}),
     "run_config.resources.huge: requests.memory: 2Gi must be at most limits.memory 2000Mi"),
    (_profile(requests={"nvidia.com/gpu": 1}),
     "run_config.resources.huge: requests.nvidia.com/gpu: needs limits.nvidia.com/gpu set to "
     "the same amount (nvidia.com/gpu cannot be overcommitted)"),
    (_profile(requests={"nvidia.com/gpu": 1}, limits={"nvidia.com/gpu": 2}),
     "run_config.resources.huge: requests.nvidia.com/gpu: 1 must equal limits.nvidia.com/gpu "
     "2 (nvidia.com/gpu cannot be overcommitted)"),
    (_profile(limits={"nvidia.com/gpu": "500m"}),
     "run_config.resources.huge: limits.nvidia.com/gpu: must be a whole number for an "
     "extended resource, got '500m'"),
    (_profile(limits={"hugepages-2Mi": "1Gi"}),
     "run_config.resources.huge: hugepages need a cpu or memory request or limit beside them"),
    (_profile(limits={"hugepages-2Mi": "3Mi", "memory": "1Gi"}),
     "run_config.resources.huge: limits.hugepages-2Mi: must be a whole number of 2Mi pages, "
     "got '3Mi'"),
    (_profile(requests={"hugepages-1Gi": "1Gi", "memory": "1Gi"},
              limits={"hugepages-1Gi": "2Gi", "memory": "1Gi"}),
     "run_config.resources.huge: requests.hugepages-1Gi: 1Gi must equal limits.hugepages-1Gi "
     "2Gi (hugepages-1Gi cannot be overcommitted)"),
    (_profile(tolerations=[{"key": "gpu", "operator": "Exists", "value": "yes"}]),
     "run_config.resources.huge.tolerations.0: value: must be empty when operator is Exists"),
    (_profile(tolerations=[{"value": "yes"}]),
     "run_config.resources.huge.tolerations.0: operator: must be Exists when key is empty "
     "(which tolerates every taint)"),
    (_profile(tolerations=[{"key": "gpu", "toleration_seconds": 30}]),
     "run_config.resources.huge.tolerations.0: effect: must be NoExecute when "
     "tolerationSeconds is set"),
    (_profile(node_selectors={"pool": "high mem"}),
     "run_config.resources.huge.node_selectors: pool: value 'high mem' must be empty or "
     "consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit"),
    (_profile(labels={"team/a/b": "x"}),
     "run_config.resources.huge.labels: 'team/a/b': must be a name with an optional DNS "
     "subdomain prefix and '/' (like 'example.com/MyName')"),
]


@pytest.mark.parametrize("raw, message", BAD_RESOURCES)
def test_resources_kubernetes_refuses_are_refused_naming_the_key(raw, message):
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert str(error.value) == f"airflow-k8s.yaml: {message}"


def test_any_resource_name_kubernetes_accepts_is_a_profile_key():
    amounts = {"nvidia.com/gpu": 2, "amd.com/gpu": "1", "ephemeral-storage": "10Gi",
               "hugepages-2Mi": "64Mi", "example.com/fpga_v2": 1, "cpu": 0.5, "memory": "1e9"}
    profile = parse_config(_profile(limits=amounts, requests={"cpu": "250m"})).run_config \
        .resources["huge"]
    assert profile.limits == {name: str(value) for name, value in amounts.items()}
    assert profile.requests == {"cpu": "250m"}


def test_kubernetes_connection_keys():
    connection = {"kubernetes_conn_id": "k8s_prod", "config_file": "/etc/kube/config"}
    run = parse_config(with_run(kubernetes_connection=connection)).run_config
    assert run.kubernetes_connection.pod_arguments() == connection
    assert parse_config(MINIMAL).run_config.kubernetes_connection.pod_arguments() == {}
    pods_only = {"in_cluster": False, "cluster_context": "prod"}
    run = parse_config(with_run(kubernetes_connection=pods_only,
                                volume={"disabled": True})).run_config
    assert run.kubernetes_connection.pod_arguments() == pods_only
    assert run.kubernetes_connection.resource_arguments() == {}


@pytest.mark.parametrize("connection, volume, message", [
    ({"kubernetes_conn_id": "k8s prod"}, {},
     "run_config.kubernetes_connection.kubernetes_conn_id: expected an Airflow connection id "
     "(at most 250 letters, digits and #!()-.:/\\_), got 'k8s prod'"),
    ({"in_cluster": True, "config_file": "/k"}, {"disabled": True},
     "run_config.kubernetes_connection: in_cluster: true ignores config_file and "
     "cluster_context; set one or the other"),
    ({"config_file": " "}, {},
     "run_config.kubernetes_connection.config_file: expected a non-empty string, or no key"),
    ({"cluster_context": "prod"}, {},
     "run_config: kubernetes_connection.cluster_context: the volume tasks cannot take it (the "
     "provider's resource operators read it from the connection): set it in the extras of "
     "the connection named by kubernetes_conn_id, or disable the volume"),
    ({"in_cluster": False}, {},
     "run_config: kubernetes_connection.in_cluster: the volume tasks cannot take it (the "
     "provider's resource operators read it from the connection): set it in the extras of "
     "the connection named by kubernetes_conn_id, or disable the volume"),
    ({"kubernetes_conn_id": "k8s", "namespace": "x"}, {},
     "run_config.kubernetes_connection.namespace: unknown key"),
])
def test_bad_kubernetes_connection_is_refused(connection, volume, message):
    with pytest.raises(ConfigError) as error:
        parse_config(with_run(kubernetes_connection=connection, volume=volume))
    assert str(error.value) == f"airflow-k8s.yaml: {message}"


def test_field_docs_spell_tags_as_kedro_1_allows():
    from kedro_airflow_k8s.reference import config_reference

    reference = config_reference()
    assert "resources.<name>" in reference and "k8s_template.<name>" in reference
    assert "resources:<" not in reference and "k8s_template:<" not in reference


def test_init_templates_commented_macro_example_is_valid_on_airflow_3():
    import re
    from pathlib import Path

    import yaml

    import kedro_airflow_k8s

    template = (Path(kedro_airflow_k8s.__file__).parent / "templates" /
                "airflow-k8s.yaml.j2").read_text()
    example = re.search(r"macro_params: \[\]\n\s*#\s*(\[.*\])", template).group(1)
    assert parse_config(with_run(macro_params=yaml.safe_load(example)))


# what distribution/reference's grammar is made of, and what breaks it
_REFERENCE_PARTS = ["a", "b1", "x", "-", "_", "__", ".", "/", ":", "@", "5000", "Reg", "EXAMPLE",
                    "example.com", "localhost", "[::1]", "sha256:", "sha512:", "md5:", "0" * 64,
                    "abc" * 12, "1.0", "latest", " ", "A", "%"]


@settings(max_examples=3000, deadline=None)
@example("example.com_a/a")  # a registry host that is no host
@given(st.lists(st.sampled_from(_REFERENCE_PARTS), min_size=1, max_size=8).map("".join))
def test_image_references_are_read_as_dockers_parser_reads_them(text):
    """kubernetes_rules.image_reference agrees with docker-image-py's port of
    distribution/reference.ParseNormalizedNamed, what the kubelet's runtime parses."""
    from docker_image.reference import Reference

    from kedro_airflow_k8s.kubernetes_rules import image_reference

    try:
        Reference.parse_normalized_named(text)
        accepted = True
    except Exception:  # its digest errors are not InvalidReference
        accepted = False
    assert (image_reference(text) == []) == accepted, text


@pytest.mark.parametrize("image", ["demo", "ghcr.io/org/repo:abc123", "localhost:5000/a/b:1",
                                   "registry.example.com/my-project:1.0@sha256:" + "a" * 64,
                                   "[::1]:5000/img:tag", "Registry.Example.com/my-project:v1"])
def test_image_references_the_kubelet_pulls_are_accepted(image):
    assert parse_config(with_run(image=image)).run_config.image == image
