"""MkDocs hook: the configuration reference is generated from the config model itself."""

from kedro_airflow_k8s.reference import config_reference

MARKER = "<!-- config-reference -->"


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, config_reference())
    return markdown
