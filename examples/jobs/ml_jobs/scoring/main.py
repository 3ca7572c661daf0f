"""Scores customers; it has no tests yet, so it never enters the test matrix."""


def score(order_count: int) -> float:
    return min(1.0, order_count / 10)
