"""A project equivalent to Kedro's spaceflights-pandas starter, written locally (`kedro new
--starter spaceflights-pandas` needs the network): its two pipelines, nodes, catalog,
parameters and settings as the starter has them; no data (compile reads none).

It imports pandas and scikit-learn as the starter does (kedro-datasets[pandas], openpyxl,
scikit-learn: bench/requirements.txt).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

PACKAGE = "spaceflights"

PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "spaceflights"
readme = "README.md"
dynamic = ["version"]
dependencies = [
    "kedro~=1.7.0",
    "kedro-datasets[pandas-csvdataset, pandas-exceldataset, pandas-parquetdataset]>=3.0",
    "openpyxl>=3.1",
    "scikit-learn~=1.5",
]

[tool.kedro]
package_name = "spaceflights"
project_name = "spaceflights"
kedro_init_version = "1.7.0"
tools = ["None"]
example_pipeline = "True"
source_dir = "src"

[tool.setuptools.dynamic]
version = {attr = "spaceflights.__version__"}
'''

SETTINGS = '''
"""Project settings (the starter's: every setting left at Kedro's default)."""

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
'''

REGISTRY = '''
"""Project pipelines."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(pipelines.values())
    return pipelines
'''

PROCESSING_NODES = '''
import pandas as pd


def _is_true(x: pd.Series) -> pd.Series:
    return x == "t"


def _parse_percentage(x: pd.Series) -> pd.Series:
    x = x.str.replace("%", "")
    x = x.astype(float) / 100
    return x


def _parse_money(x: pd.Series) -> pd.Series:
    x = x.str.replace("$", "").str.replace(",", "")
    x = x.astype(float)
    return x


def preprocess_companies(companies: pd.DataFrame) -> pd.DataFrame:
    companies["iata_approved"] = _is_true(companies["iata_approved"])
    companies["company_rating"] = _parse_percentage(companies["company_rating"])
    return companies


def preprocess_shuttles(shuttles: pd.DataFrame) -> pd.DataFrame:
    shuttles["d_check_complete"] = _is_true(shuttles["d_check_complete"])
    shuttles["moon_clearance_complete"] = _is_true(shuttles["moon_clearance_complete"])
    shuttles["price"] = _parse_money(shuttles["price"])
    return shuttles


def create_model_input_table(
    shuttles: pd.DataFrame, companies: pd.DataFrame, reviews: pd.DataFrame
) -> pd.DataFrame:
    rated_shuttles = shuttles.merge(reviews, left_on="id", right_on="shuttle_id")
    rated_shuttles = rated_shuttles.drop("id", axis=1)
    model_input_table = rated_shuttles.merge(companies, left_on="company_id", right_on="id")
    model_input_table = model_input_table.dropna()
    return model_input_table
'''

PROCESSING_PIPELINE = '''
from kedro.pipeline import Node, Pipeline

from .nodes import create_model_input_table, preprocess_companies, preprocess_shuttles


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=preprocess_companies,
                inputs="companies",
                outputs="preprocessed_companies",
                name="preprocess_companies_node",
            ),
            Node(
                func=preprocess_shuttles,
                inputs="shuttles",
                outputs="preprocessed_shuttles",
                name="preprocess_shuttles_node",
            ),
            Node(
                func=create_model_input_table,
                inputs=["preprocessed_shuttles", "preprocessed_companies", "reviews"],
                outputs="model_input_table",
                name="create_model_input_table_node",
            ),
        ]
    )
'''

SCIENCE_NODES = '''
import logging

import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split


def split_data(data: pd.DataFrame, parameters: dict) -> tuple:
    X = data[parameters["features"]]
    y = data["price"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=parameters["test_size"], random_state=parameters["random_state"]
    )
    return X_train, X_test, y_train, y_test


def train_model(X_train: pd.DataFrame, y_train: pd.Series) -> LinearRegression:
    regressor = LinearRegression()
    regressor.fit(X_train, y_train)
    return regressor


def evaluate_model(regressor: LinearRegression, X_test: pd.DataFrame, y_test: pd.Series):
    y_pred = regressor.predict(X_test)
    score = r2_score(y_test, y_pred)
    logger = logging.getLogger(__name__)
    logger.info("Model has a coefficient R^2 of %.3f on test data.", score)
'''

SCIENCE_PIPELINE = '''
from kedro.pipeline import Node, Pipeline

from .nodes import evaluate_model, split_data, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=split_data,
                inputs=["model_input_table", "params:model_options"],
                outputs=["X_train", "X_test", "y_train", "y_test"],
                name="split_data_node",
            ),
            Node(
                func=train_model,
                inputs=["X_train", "y_train"],
                outputs="regressor",
                name="train_model_node",
            ),
            Node(
                func=evaluate_model,
                inputs=["regressor", "X_test", "y_test"],
                outputs=None,
                name="evaluate_model_node",
            ),
        ]
    )
'''

CATALOG = '''
companies:
  type: pandas.CSVDataset
  filepath: data/01_raw/companies.csv

reviews:
  type: pandas.CSVDataset
  filepath: data/01_raw/reviews.csv

shuttles:
  type: pandas.ExcelDataset
  filepath: data/01_raw/shuttles.xlsx
  load_args:
    engine: openpyxl

preprocessed_companies:
  type: pandas.ParquetDataset
  filepath: data/02_intermediate/preprocessed_companies.parquet

preprocessed_shuttles:
  type: pandas.ParquetDataset
  filepath: data/02_intermediate/preprocessed_shuttles.parquet

model_input_table:
  type: pandas.ParquetDataset
  filepath: data/03_primary/model_input_table.parquet

regressor:
  type: pickle.PickleDataset
  filepath: data/06_models/regressor.pickle
  versioned: true
'''

PARAMETERS = '''
model_options:
  test_size: 0.2
  random_state: 3
  features:
    - engines
    - passenger_capacity
    - crew
    - d_check_complete
    - moon_clearance_complete
    - iata_approved
    - company_rating
    - review_scores_rating
'''

LOGGING = '''
version: 1
disable_existing_loggers: False
handlers:
  rich:
    class: kedro.logging.RichHandler
    rich_tracebacks: True
loggers:
  kedro:
    level: INFO
  spaceflights:
    level: INFO
root:
  handlers: [rich]
'''


def make_spaceflights(root: Path, plugin_config: str) -> Path:
    """The project under `root`, with `plugin_config` as conf/base/airflow-k8s.yaml."""
    project = root / "spaceflights"
    package = project / "src" / PACKAGE
    files = {
        "pyproject.toml": PYPROJECT,
        "requirements.txt": "kedro~=1.7.0\nkedro-datasets[pandas]\nopenpyxl\nscikit-learn\n",
        "README.md": "# spaceflights\n",
        f"src/{PACKAGE}/__init__.py": '__version__ = "0.1"\n',
        f"src/{PACKAGE}/__main__.py": "",
        f"src/{PACKAGE}/settings.py": SETTINGS,
        f"src/{PACKAGE}/pipeline_registry.py": REGISTRY,
        f"src/{PACKAGE}/pipelines/__init__.py": "",
        f"src/{PACKAGE}/pipelines/data_processing/__init__.py":
            "from .pipeline import create_pipeline  # noqa: F401\n",
        f"src/{PACKAGE}/pipelines/data_processing/nodes.py": PROCESSING_NODES,
        f"src/{PACKAGE}/pipelines/data_processing/pipeline.py": PROCESSING_PIPELINE,
        f"src/{PACKAGE}/pipelines/data_science/__init__.py":
            "from .pipeline import create_pipeline  # noqa: F401\n",
        f"src/{PACKAGE}/pipelines/data_science/nodes.py": SCIENCE_NODES,
        f"src/{PACKAGE}/pipelines/data_science/pipeline.py": SCIENCE_PIPELINE,
        "conf/base/catalog.yml": CATALOG,
        "conf/base/parameters.yml": "",
        "conf/base/parameters_data_processing.yml": "",
        "conf/base/parameters_data_science.yml": PARAMETERS,
        "conf/base/airflow-k8s.yaml": plugin_config,
        "conf/local/credentials.yml": "",
        "conf/logging.yml": LOGGING,
    }
    for relative, text in files.items():
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    assert package.is_dir()
    return project
