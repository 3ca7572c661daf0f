"""Exports contacts to Brevo (the API call is left out of the example)."""


def export(limit: int) -> int:
    contacts = [{"email": f"user{i}@example.com"} for i in range(limit)]
    return len(contacts)
