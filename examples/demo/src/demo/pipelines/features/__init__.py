"""Daily totals and their scaled version, in the `features` namespace."""

from kedro.pipeline import Pipeline, node


def daily_totals(orders: list[dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for order in orders:
        totals[order["day"]] = totals.get(order["day"], 0.0) + order["amount"]
    return dict(sorted(totals.items()))


def scale(totals: dict[str, float]) -> dict[str, float]:
    top = max(totals.values(), default=1.0) or 1.0
    return {day: value / top for day, value in totals.items()}


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(daily_totals, "orders", "daily_totals", name="daily_totals"),
            node(scale, "daily_totals", "scaled_totals", name="scale"),
        ],
        namespace="features",
        inputs={"orders"},
        outputs={"scaled_totals"},
    )
