"""CI helpers: turn `pulumi preview` output of each stack into the pull-request comment.

`preview` reads what Pulumi wrote, `models` reads the tracking server about a changed serving model, and
`comment` renders the Markdown. `mlops ci preview-comment` (in `mlops.cli.ci`) drives them.
"""
