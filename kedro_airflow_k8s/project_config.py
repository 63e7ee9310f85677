"""Reading the plugin's config file (conf/<env>/airflow-k8s.yaml) and kedro-mlflow's
mlflow.yml through the project's own Kedro config loader: `${...}` resolvers, env overrides,
KEDRO_CONFIG_<NAME> values. Bootstrapping the project comes first (context.KedroProject)."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kedro_airflow_k8s.config import CONFIG_FILE, PluginConfig
from kedro_airflow_k8s.errors import ConfigError

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader

CONFIG_PATTERNS = ["airflow-k8s*", "airflow-k8s*/**"]
DYNAMIC_PREFIX = "KEDRO_CONFIG_"


def dynamic_config_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`KEDRO_CONFIG_<NAME>=v` in the environment becomes `${name}` in the config file.

    The values only feed `${...}`: they never add, replace or remove a key of the file. The
    names of the file's own top-level keys (host, output, run_config) are therefore left out:
    Kedro merges these values into the loaded mapping, where they would replace those keys.
    """
    values = {
        name[len(DYNAMIC_PREFIX):].lower(): value
        for name, value in (os.environ if environ is None else environ).items()
        if name.startswith(DYNAMIC_PREFIX) and len(name) > len(DYNAMIC_PREFIX)
    }
    return {name: value for name, value in values.items()
            if name not in PluginConfig.model_fields}


def config_loader(path: Path, env: str, runtime_params: dict[str, Any],
                  patterns: list[str] = CONFIG_PATTERNS) -> AbstractConfigLoader:
    """The project's config loader, reading the files of `patterns` under "parameters"."""
    from kedro.framework.project import settings

    args = dict(settings.CONFIG_LOADER_ARGS)
    # The plugin file is loaded under the "parameters" key only because that is the one key
    # Kedro merges runtime params into, which makes `${name}` resolve for KEDRO_CONFIG_NAME.
    args["config_patterns"] = {**args.get("config_patterns", {}), "parameters": patterns}
    args.pop("merge_strategy", None)
    loader: AbstractConfigLoader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(path / settings.CONF_SOURCE),
        env=env,
        runtime_params=runtime_params,
        **args,
    )
    return loader


def load_plugin_config(path: Path, env: str) -> dict[str, Any]:
    """The plugin's config file as a mapping, `${...}` resolved (not yet validated)."""
    from kedro.framework.project import settings

    env_dir = path / settings.CONF_SOURCE / env
    if not env_dir.is_dir():
        raise ConfigError(f"--env: no directory {env_dir} for Kedro env '{env}'")
    dynamic = dynamic_config_values()
    with quiet_config_loader():
        raw = _load(path, env, dynamic)
    if not raw:
        raise ConfigError(
            f"{CONFIG_FILE}: the file is empty; run `kedro airflow-k8s init --force "
            "AIRFLOW_URL` for a documented template"
        )
    return {key: value for key, value in raw.items() if key not in dynamic}


def _load(path: Path, env: str, dynamic: dict[str, str]) -> dict[str, Any]:
    from kedro.config import MissingConfigException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    loader = config_loader(path, env, dynamic)
    had_env = OmegaConf.has_resolver("oc.env")
    if not had_env:
        register = getattr(OmegaConf, "register_resolver", None)  # omegaconf >= 2.4
        (register or OmegaConf.register_new_resolver)("oc.env", _oc_env)
    try:
        raw: dict[str, Any] = loader["parameters"]
        return raw
    except MissingConfigException:
        raise ConfigError(
            f"no {CONFIG_FILE} in conf/ for env '{env}': "
            "run `kedro airflow-k8s init AIRFLOW_URL` to create one"
        ) from None
    except (OmegaConfBaseException, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{CONFIG_FILE}: {config_error_text(exc, path)}") from None
    except (AttributeError, TypeError):  # Kedro merges mappings only: a list at the top
        raise ConfigError(f"{CONFIG_FILE}: expected a mapping with run_config at the top "
                          "level") from None
    finally:
        if not had_env:
            OmegaConf.clear_resolver("oc.env")


def config_error_text(exc: BaseException, path: Path) -> str:
    """An error of Kedro's config loader as one line: the key it is at, then the problem."""
    first = str(getattr(exc, "msg", None) or exc).strip().splitlines()[0]
    first = re.sub(r"^\w+ raised while resolving interpolation: \"?(.*?)\"?$", r"\1",
                   first)  # a resolver's own message, without OmegaConf's wrapping
    first = first.replace(f"{path}{os.sep}", "")  # Kedro names files by full path
    key = getattr(exc, "full_key", None)
    return f"{key}: {first}" if key else first


def kedro_mlflow_config(path: Path, env: str) -> dict[str, Any] | None:
    """kedro-mlflow's mlflow.yml ({} without one) when its hooks run in this project;
    None when it is not installed or settings.DISABLE_HOOKS_FOR_PLUGINS names it."""
    from importlib.metadata import PackageNotFoundError, distribution

    from kedro.config import MissingConfigException
    from kedro.framework.project import settings
    from omegaconf import OmegaConf

    try:
        name = distribution("kedro-mlflow").metadata["Name"]
    except PackageNotFoundError:
        return None
    if name in settings.DISABLE_HOOKS_FOR_PLUGINS:  # Kedro compares the exact name
        return None
    had_random = OmegaConf.has_resolver("km.random_name")
    with quiet_config_loader():
        if not had_random:  # kedro-mlflow's own resolver, for run names we do not read
            OmegaConf.register_new_resolver("km.random_name", lambda: "random-name")
        try:
            return dict(config_loader(path, env, {}, ["mlflow*", "mlflow*/**"])["parameters"])
        except MissingConfigException:
            return {}
        finally:
            if not had_random:
                OmegaConf.clear_resolver("km.random_name")


@contextmanager
def quiet_config_loader() -> Iterator[None]:
    """Kedro 1.7 with omegaconf 2.4 warns about a deprecated call on every config load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated")
        yield


def _oc_env(key: str, default: Any = "__missing__") -> Any:
    value = os.environ.get(key)
    if value is not None:
        return value
    if default == "__missing__":
        raise KeyError(f"environment variable '{key}' is not set")
    return default
