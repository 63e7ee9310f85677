"""The golden corpus: for many configurations, every task of the compiled DAG as Airflow
renders it (operator class, pod manifest or rendered template fields, TaskGroup, upstream)
and the DAG's own arguments, stored as JSON. `python -m tests.golden.regenerate` rewrites it;
tests/test_golden.py compares."""
