from jobs.etl_jobs.internal.cleanup.main import tables_to_drop


def test_only_old_tables_are_dropped():
    assert tables_to_drop({"tmp_a": 10, "tmp_b": 1}) == ["tmp_a"]
