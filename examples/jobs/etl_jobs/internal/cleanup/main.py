"""Removes temporary tables older than a week."""


def tables_to_drop(tables: dict[str, int], max_age_days: int = 7) -> list[str]:
    return sorted(name for name, age in tables.items() if age > max_age_days)
