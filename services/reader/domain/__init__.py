"""Reader rules as plain Python: no I/O, no framework imports (checked by tests/unit/test_architecture.py)."""
