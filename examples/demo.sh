#!/usr/bin/env bash
# From a fresh machine (Python 3.11 and pip) to a finished Kedro pipeline run on Airflow 3:
# install, start `airflow standalone` on 127.0.0.1 in a temporary AIRFLOW_HOME, compile the
# example project in local execution mode, upload it, run it once and follow it to the end.
# Airflow is stopped on exit, Ctrl-C included. Only the venv and a temporary directory are
# written, and the directory is removed on exit (DEMO_KEEP=1 keeps it, to look at the
# outputs and Airflow's logs). DEMO_VENV picks the venv (default: .venv in this repository).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${DEMO_VENV:-$repo/.venv}"
if ! "$venv/bin/python" -c "import airflow.providers.standard, kedro_airflow_k8s" 2>/dev/null; then
    echo "Installing kedro-airflow-k8s and Airflow 3 into $venv ..."
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -e "${repo}[demo]"
fi
export PATH="$venv/bin:$PATH"
export KEDRO_DISABLE_TELEMETRY=true

work="$(mktemp -d -t kedro-airflow-k8s-demo.XXXXXX)"
airflow_pid=""
cleanup() {
    stop_airflow
    if [ "${DEMO_KEEP:-}" = 1 ]; then
        echo "Kept $work (DEMO_KEEP=1)."
    else
        echo "Removing $work (DEMO_KEEP=1 keeps it) ..."
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp -r "$repo/examples/demo" "$work/demo"
rm -rf "$work/demo/dags" "$work/demo/data/0"[2-8]_*
mkdir -p "$work/airflow/dags"
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop_airflow() {
    if [ -n "$airflow_pid" ] && kill -0 "$airflow_pid" 2>/dev/null; then
        echo "Stopping Airflow ..."
        kill -TERM -- "-$airflow_pid" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$airflow_pid" 2>/dev/null || break; sleep 1; done
        kill -KILL -- "-$airflow_pid" 2>/dev/null || true
        # Airflow's children may leave its process group, not its session (setsid above)
        pkill -KILL -s "$airflow_pid" 2>/dev/null || true
        for _ in $(seq 30); do listening || break; sleep 1; done
    fi
}
listening() {
    "$venv/bin/python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)' \
        "$port" 2>/dev/null
}

echo "Starting Airflow 3 on http://127.0.0.1:$port (home $work/airflow, log $work/airflow.log) ..."
env AIRFLOW_HOME="$work/airflow" \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__CORE__DAGS_FOLDER="$work/airflow/dags" \
    AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=3 \
    AIRFLOW__API__HOST=127.0.0.1 \
    AIRFLOW__API__PORT="$port" \
    AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$port/execution/" \
    setsid airflow standalone > "$work/airflow.log" 2>&1 &
airflow_pid=$!

healthy() {
    "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \
        "http://127.0.0.1:$port/api/v2/monitor/health" 2>/dev/null
}
for _ in $(seq 300); do
    healthy && break
    kill -0 "$airflow_pid" 2>/dev/null || { echo "Airflow exited; the end of its log:"; tail -n 40 "$work/airflow.log"; exit 1; }
    sleep 1
done
passwords="$work/airflow/simple_auth_manager_passwords.json.generated"
for _ in $(seq 60); do [ -s "$passwords" ] && break; sleep 1; done
export AIRFLOW_API_USERNAME=admin
AIRFLOW_API_PASSWORD="$("$venv/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$passwords")"
export AIRFLOW_API_PASSWORD
export KEDRO_CONFIG_AIRFLOW_HOST="http://127.0.0.1:$port"
export KEDRO_CONFIG_DAGS_FOLDER="$work/airflow/dags"

cd "$work/demo"
kedro airflow-k8s run-once --execution local --wait --timeout 15
echo
echo "The pipeline wrote its outputs under $work/demo/data:"
find "$work/demo/data" -name '*.json' ! -path '*/01_raw/*' | sort | sed 's/^/  /'
echo "Report: $(tr -d '\n ' < "$work/demo/data/08_reporting/report.json")"
