"""Training as a job on an environment's training cluster (`mlops train --where cluster`).

- `spec`: the stack's `training` output as a typed job spec; job names, labels and tags.
- `datasets`: which data a job can reach; the upload of a local file, once per content hash.
- `launcher`: the seam (`JobLauncher`: preflight, run) and the table of launchers by target.
- `docker`: the docker target's launcher, one locked-down container per job.
- `launch`: the steps of `mlops train` as a job, and what the operator sees at the end.

The job itself is `python -m ml.train --job FILE` in the trainer image (`ml.train.job` reads the file).
"""
