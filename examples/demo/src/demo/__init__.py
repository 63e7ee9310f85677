"""demo: an example project for kedro-airflow-k8s."""

__version__ = "0.1.0"
