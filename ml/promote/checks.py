"""The gates a candidate passes before promotion, each a named result with the reason in words."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contract import TAG_GATES_PASSED
from ml.promote.promotion_policy import PromotionPolicy
from ml.promote.versions import ModelVersionRef, score
from ml.registry import HOLDOUT_ARTIFACT, PROFILE_ARTIFACT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _training_gates(candidate: ModelVersionRef) -> GateResult:
    """The data and behavioural checks that ran when the candidate was trained."""
    passed = candidate.tags.get(TAG_GATES_PASSED)
    if passed is None:
        return GateResult("training-checks", False, f"the candidate carries no '{TAG_GATES_PASSED}' tag: retrain it")
    failed = [str(g.get("name")) for g in candidate.gates() if g.get("passed") is False]
    detail = "all data and behavioural checks passed" if passed == "true" else f"failed: {', '.join(failed) or passed}"
    return GateResult("training-checks", passed == "true", detail)


def _thresholds(policy: PromotionPolicy, candidate: ModelVersionRef) -> list[GateResult]:
    results = []
    for threshold in policy.thresholds:
        value = candidate.metric(threshold.metric)
        if value is None:
            results.append(
                GateResult(f"threshold:{threshold.metric}", False, f"the candidate has no '{threshold.metric}' metric")
            )
            continue
        results.append(
            GateResult(
                f"threshold:{threshold.metric}",
                threshold.passes(value),
                f"{threshold.metric} = {value:.4f}, required {threshold.describe()}",
            )
        )
    return results


def _signature(candidate: ModelVersionRef, champion: ModelVersionRef) -> GateResult:
    """Requests the champion accepts must still be accepted: every required candidate input is known, same type."""
    champion_cols = {c["name"]: c["type"] for c in champion.input_schema()}
    problems = []
    for column in candidate.input_schema():
        if not column["required"]:
            continue
        if column["name"] not in champion_cols:
            problems.append(f"new required input '{column['name']}'")
        elif champion_cols[column["name"]] != column["type"]:
            problems.append(
                f"'{column['name']}' is {column['type']}, the champion takes {champion_cols[column['name']]}"
            )
    detail = "; ".join(problems) or f"compatible with champion v{champion.version}"
    return GateResult("signature", not problems, detail)


def _against_champion(
    policy: PromotionPolicy, candidate: ModelVersionRef, champion: ModelVersionRef, holdout: Any
) -> list[GateResult]:
    """Both models on the candidate's held-out rows: the candidate may be worse only by the tolerance."""
    task, target = candidate.tags.get("task", "binary"), candidate.tags.get("target")
    if not target or target not in holdout.columns:
        return [GateResult("champion", False, "the candidate's holdout has no target column tag: retrain it")]
    tolerance = dict(policy.champion_tolerance) or {t.metric: 0.0 for t in policy.thresholds}
    if not tolerance:
        return [GateResult("champion", True, "the policy compares no metric against the champion")]
    ours, theirs = score(candidate.load(), holdout, target, task), score(champion.load(), holdout, target, task)
    results = []
    for metric, allowed in tolerance.items():
        if metric not in ours or metric not in theirs:
            results.append(GateResult(f"champion:{metric}", False, f"'{metric}' cannot be computed for task {task}"))
            continue
        higher = policy.direction(metric)
        worse_by = (theirs[metric] - ours[metric]) if higher else (ours[metric] - theirs[metric])
        results.append(
            GateResult(
                f"champion:{metric}",
                worse_by <= allowed,
                f"{metric} {ours[metric]:.4f} vs champion v{champion.version} {theirs[metric]:.4f} on {len(holdout)} "
                f"held-out rows (tolerance {allowed:g})",
            )
        )
    return results


def _drift(
    policy: PromotionPolicy, candidate: ModelVersionRef, champion: ModelVersionRef, holdout: Any, workdir: Path
) -> GateResult:
    """The candidate's data binned against the champion's reference profile."""
    import pyarrow as pa

    from ml.monitor.drift import evaluate, scan
    from ml.monitor.thresholds import Thresholds

    profile = json.loads(champion.download(PROFILE_ARTIFACT, workdir / "champion").read_text())
    features = holdout.drop(columns=[candidate.tags.get("target", "")], errors="ignore")
    state = scan([pa.Table.from_pandas(features, preserve_index=False)], profile)
    result = evaluate(state, Thresholds(psi_threshold=policy.drift_psi_threshold, min_rows=1))
    drifted = result.drifted_features
    detail = (
        f"drift in {', '.join(drifted)}"
        if drifted
        else f"no feature drifted against champion v{champion.version}'s reference ({result.rows} rows)"
    )
    return GateResult("drift", not drifted, detail)


def evaluate_gates(
    policy: PromotionPolicy, candidate: ModelVersionRef, champion: ModelVersionRef | None, approved_by: str | None
) -> list[GateResult]:
    """Every gate of the policy; promotion goes ahead only when all pass (or the policy is a dry run)."""
    import pandas as pd

    results = [_training_gates(candidate), *_thresholds(policy, candidate)]
    if champion is None:
        results.append(GateResult("champion", True, "no champion yet in the target"))
    else:
        results.append(_signature(candidate, champion))
        with tempfile.TemporaryDirectory(prefix="mlops-promote-") as tmp:
            holdout = pd.read_parquet(candidate.download(HOLDOUT_ARTIFACT, Path(tmp) / "candidate"))
            results += _against_champion(policy, candidate, champion, holdout)
            if policy.drift_check:
                results.append(_drift(policy, candidate, champion, holdout, Path(tmp)))
    if policy.require_approval:
        results.append(
            GateResult(
                "approval",
                bool(approved_by),
                f"approved by {approved_by}"
                if approved_by
                else "this environment requires an approval: pass --approve (or let CI record one)",
            )
        )
    return results
