"""The project's pipelines."""

from kedro.pipeline import Pipeline

from demo.pipelines import features, ingest, modelling


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = {
        "ingest": ingest.create_pipeline(),
        "features": features.create_pipeline(),
        "modelling": modelling.create_pipeline(),
    }
    pipelines["__default__"] = sum(pipelines.values())
    return pipelines
