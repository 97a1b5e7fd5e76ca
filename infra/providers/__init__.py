"""Pulumi dynamic providers of this platform (the docker target and generated secrets)."""
