"""The closed loop on the operator side: a monitor that finds drift (or quality decay) retrains the model as a
job on the stack's training cluster, and the challenger becomes a promotion request, never a promotion.

`retrain_job` (window -> training job with the trigger in its lineage), `request_content` (the combined
comment of the request, as markdown and JSON), `webhook` (signed delivery), `close` (the sequence, as
`mlops monitor --retrain` runs it), `status` (`mlops loop status`).
"""
