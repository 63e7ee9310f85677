"""Custom Spark factories the tests name in `run_config.spark.operator_factory`."""

from kedro_airflow_k8s.dagspec import Verbatim
from kedro_airflow_k8s.spark import OperatorCall, SparkFactory


class SparkOperatorFactory(SparkFactory):
    """Spark applications through the Kubeflow spark-operator (cncf provider), no cluster."""

    def submit(self, job):
        arguments = [a.text if isinstance(a, Verbatim) else a for a in job.kedro_arguments]
        spec = {
            "apiVersion": "sparkoperator.k8s.io/v1beta2",
            "kind": "SparkApplication",
            "metadata": {"name": f"{self.dag.dag_id}-{self.dag.run_hash}",
                         "namespace": "spark"},
            "spec": {
                "type": "Python",
                "mode": "cluster",
                "image": self.dag.image,
                "mainApplicationFile": "local:///app/run_kedro.py",
                "arguments": [Verbatim(a) if a == ",".join(job.node_names) else a
                              for a in arguments],
                "sparkVersion": "3.5.0",
                "driver": {"cores": 1, "memory": "1g",
                           **self.dag.config.cluster_config.get("driver", {})},
                "executor": {"instances": 2, "cores": 1, "memory": "1g"},
            },
        }
        return OperatorCall("airflow.providers.cncf.kubernetes.operators.spark_kubernetes",
                            "SparkKubernetesOperator",
                            {"namespace": "spark", "template_spec": spec,
                             "kubernetes_conn_id": "kubernetes_default"})


class ShellClusterFactory(SparkFactory):
    """A cluster made and removed by shell commands: create, submit and delete all present."""

    def create_cluster(self):
        return OperatorCall("airflow.providers.standard.operators.bash", "BashOperator",
                            {"bash_command": f"echo create {self.dag.run_hash}"})

    def submit(self, job):
        return OperatorCall("airflow.providers.standard.operators.bash", "BashOperator",
                            {"bash_command": "echo submit \"$NODES\"",
                             "env": {"NODES": Verbatim(",".join(job.node_names))}})

    def delete_cluster(self):
        return OperatorCall("airflow.providers.standard.operators.bash", "BashOperator",
                            {"bash_command": f"echo delete {self.dag.run_hash}"})


class Broken(SparkFactory):
    """Returns what the file cannot hold, depending on the cluster_config it is given."""

    def submit(self, job):
        mode = self.dag.config.cluster_config["mode"]
        if mode == "not-a-call":
            return {"operator": "x"}
        if mode == "task-id":
            return OperatorCall("airflow.providers.standard.operators.bash", "BashOperator",
                                {"task_id": "mine", "bash_command": "true"})
        if mode == "object":
            return OperatorCall("airflow.providers.standard.operators.bash", "BashOperator",
                                {"bash_command": object()})
        if mode == "clash":
            return OperatorCall("my.operators", "DAG", {})
        if mode == "code-in-name":
            return OperatorCall("os; import sys", "X", {})
        raise RuntimeError("no cluster for you")


class Named(SparkFactory):
    """Jobs run by the operator cluster_config names (module, name), with no arguments."""

    def submit(self, job):
        config = self.dag.config.cluster_config
        return OperatorCall(config["module"], config["name"], {})


class NotAFactory:
    pass
