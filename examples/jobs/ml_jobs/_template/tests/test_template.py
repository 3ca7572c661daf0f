def test_template():
    assert True
