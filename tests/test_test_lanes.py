"""`make test`'s runner leaves Ctrl-C to the pytest runs it starts: a child of its own must get KeyboardInterrupt
(the tests of Ctrl-C on training jobs need it, and so does a person stopping the suite)."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import REPO

CHILD = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"


def _child_sees_ctrl_c_after(setup: str) -> str:
    parent = f"{setup}; import subprocess, sys; subprocess.run([sys.executable, '-c', {CHILD!r}])"
    done = subprocess.run([sys.executable, "-c", parent], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_runs_started_by_make_test_are_interrupted_by_ctrl_c() -> None:
    setup = "import sys; sys.path.insert(0, 'scripts'); import test_lanes; test_lanes.wait_for_the_runs_on_interrupt()"
    assert _child_sees_ctrl_c_after(setup) == "True"


def test_an_ignored_sigint_would_reach_the_children() -> None:
    """What the runner did before: with SIGINT ignored, Python in the child keeps ignoring it."""
    assert _child_sees_ctrl_c_after("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)") == "False"
