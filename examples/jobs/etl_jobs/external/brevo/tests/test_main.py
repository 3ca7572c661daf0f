from jobs.etl_jobs.external.brevo.main import export


def test_export_counts_contacts():
    assert export(limit=3) == 3
