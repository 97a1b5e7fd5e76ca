"""The project's tests: a package, so every helper is imported one way, `from tests.support.<module> import ...`."""
