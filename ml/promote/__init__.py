"""Promotion between environments: gated, with lineage, reversible."""
