"""The operator side: the `mlops` CLI, stack access, deployers, previews and the local cluster.

Never copied into an image: what runs in images lives in `ml`.
"""
