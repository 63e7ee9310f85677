"""Compile a Kedro pipeline into an Apache Airflow 3 DAG whose tasks run as Kubernetes pods."""

__version__ = "0.9.0"
