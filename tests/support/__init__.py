"""Test support code shared by several test folders (registered in ``tests/conftest.py``)."""
