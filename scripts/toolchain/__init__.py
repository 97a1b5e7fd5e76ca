"""The toolchain bootstrap: stdlib only, because it runs before the project's virtualenv exists."""
