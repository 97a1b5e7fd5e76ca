"""What a monitoring result asks for: a retrain (and why, in words), by the stack's retrain policy."""

from __future__ import annotations

import pytest

from ml.monitor.thresholds import Thresholds, should_retrain

DRIFT = "drift detected in the monitored window"
DECAY = "live model quality fell below the registered metrics"
NOT_ON_THIS = "the monitoring policy does not retrain on this finding (mlops:monitoring.retrain)"
HEALTHY = "healthy: nothing to retrain"


@pytest.mark.parametrize(
    ("retrain", "drift", "decay", "expected"),
    [
        ({}, False, False, (False, HEALTHY)),
        ({}, True, False, (True, DRIFT)),
        ({}, False, True, (True, DECAY)),
        ({}, True, True, (True, DECAY)),
        ({"onDrift": False}, True, False, (False, NOT_ON_THIS)),
        ({"onDrift": False}, True, True, (True, DECAY)),
        ({"onQualityDecay": False}, False, True, (False, NOT_ON_THIS)),
        ({"onQualityDecay": False}, True, True, (True, DRIFT)),
        ({"onDrift": False, "onQualityDecay": False}, True, True, (False, NOT_ON_THIS)),
        ({"onDrift": False, "onQualityDecay": False}, False, False, (False, HEALTHY)),
    ],
)
def test_the_retrain_decision(retrain, drift, decay, expected) -> None:
    thresholds = Thresholds.from_config({"retrain": retrain})
    assert should_retrain(thresholds, drift=drift, quality_decay=decay) == expected


def test_overrides_by_field_name_win_over_the_stack_and_none_keeps_it() -> None:
    stack = {"ksPValue": 0.05, "psiThreshold": 0.3, "minRows": 10}
    t = Thresholds.from_config(stack, p_value=0.001, psi_threshold=None, min_rows=5)
    assert (t.p_value, t.psi_threshold, t.min_rows) == (0.001, 0.3, 5)


def test_an_unknown_override_is_a_programming_error_naming_it() -> None:
    with pytest.raises(TypeError, match=r"Thresholds.from_config got unknown override\(s\) \['psi', 'zeta'\]"):
        Thresholds.from_config({}, zeta=1, psi=2)
