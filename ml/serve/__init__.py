"""The model server: one registered model version behind a lean ASGI app (see `ml.serve.app`)."""
