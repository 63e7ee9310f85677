"""Read the raw orders and drop the broken ones."""

from kedro.pipeline import Pipeline, node


def clean_orders(raw_orders: list[dict], min_amount: float) -> list[dict]:
    return [o for o in raw_orders if o.get("amount") is not None and o["amount"] >= min_amount]


def count_customers(orders: list[dict]) -> dict:
    return {"customers": len({o["customer"] for o in orders})}


def create_pipeline() -> Pipeline:
    return Pipeline([
        node(clean_orders, ["raw_orders", "params:min_amount"], "orders", name="clean_orders"),
        node(count_customers, "orders", "customer_count", name="count_customers"),
    ])
