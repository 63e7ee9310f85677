"""MkDocs hook: the configuration reference is generated from the config model itself, and
the project image page shows the Dockerfile and .dockerignore that `init` writes."""

from kedro_airflow_k8s.reference import config_reference
from kedro_airflow_k8s.scaffold import render_dockerfile, render_dockerignore

MARKER = "<!-- config-reference -->"
DOCKERFILE = "<!-- init-dockerfile -->"
DOCKERIGNORE = "<!-- init-dockerignore -->"


def image_files_markdown(markdown):
    """The page's markers replaced by what `init` writes (Python 3.11, requirements.txt)."""
    dockerfile = render_dockerfile(requirements=True, mlflow=False, python="3.11")
    return (markdown.replace(DOCKERFILE, f"```dockerfile\n{dockerfile}```")
            .replace(DOCKERIGNORE, f"```text\n{render_dockerignore()}```"))


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, config_reference())
    return image_files_markdown(markdown)
