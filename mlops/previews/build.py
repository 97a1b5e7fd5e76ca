"""From stacks (run now) and captured preview files to one `StackReport` per stack, models resolved."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ml.promote.model_change import ModelComparison, compare
from mlops.previews.comment import StackReport
from mlops.previews.preview import PreviewFormatError, load_preview
from mlops.previews.records import ModelRefChange, StackPreview


def _report(stack: str, text: str, source: str, exit_code: int | None) -> StackReport:
    try:
        preview = load_preview(stack, text, source=source)
    except PreviewFormatError as exc:
        return StackReport(stack, None, problem=str(exc), exit_code=exit_code)
    return StackReport(stack, preview, exit_code=exit_code)


def _config_change(stack: str, base_ref: str) -> ModelRefChange | None:
    from mlops.previews.stackconfig import config_model_change
    from mlops.stacks import project

    found = project()
    return config_model_change(found.root, base_ref, found.stack_file(stack))


def model_changes(preview: StackPreview, config_change: ModelRefChange | None) -> list[ModelRefChange]:
    """The preview's changes, plus the stack file's when the preview does not already show that pair."""
    changes = list(preview.model_changes)
    if config_change and all((c.old, c.new) != (config_change.old, config_change.new) for c in changes):
        # A never-deployed stack serves nothing yet (old None): the file's change then says more, so it
        # replaces those.
        changes = [c for c in changes if c.old is not None] + [config_change]
    return changes


def _resolve_models(
    report: StackReport, *, tracking_uri: str | None, base_ref: str | None, timeout: float
) -> list[ModelComparison]:
    preview = report.preview
    if preview is None:
        return []
    config_change = _config_change(report.stack, base_ref) if base_ref else None
    uri = preview.outputs.get("tracking_uri") if tracking_uri is None else (tracking_uri or None)
    return [compare(change, uri, timeout=timeout) for change in model_changes(preview, config_change)]


def build_reports(
    *,
    run: list[str],
    captured: dict[str, Path],
    exit_codes: dict[str, int],
    save_dir: Path | None,
    policy_packs: list[str],
    tracking_uri: str | None,
    base_ref: str | None,
    timeout: float,
    progress: Callable[[str], None],
) -> list[StackReport]:
    reports: list[StackReport] = []
    for stack in run:
        from mlops.previews.run import run_preview
        from mlops.stacks import EnvironmentUnavailable

        progress(f"Previewing {stack} (a minute or two on a cold cache)...")
        try:
            result = run_preview(stack, policy_packs=policy_packs)
        except EnvironmentUnavailable as exc:
            reports.append(StackReport(stack, None, problem=str(exc)))
            continue
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            (save_dir / f"{stack}.json").write_text(result.document, encoding="utf-8")
        if not result.document:
            reports.append(StackReport(stack, None, problem=result.error, exit_code=result.exit_code))
            continue
        report = _report(stack, result.document, f"the preview of {stack}", result.exit_code)
        if result.error and report.preview is not None and not report.preview.errors:
            report.preview.errors.append(result.error)
        reports.append(report)
    for stack, path in captured.items():
        if not path.is_file():
            reports.append(
                StackReport(
                    stack,
                    None,
                    problem=f"no preview file at {path}: the preview did not finish, see its log",
                    exit_code=exit_codes.get(stack),
                )
            )
            continue
        reports.append(_report(stack, path.read_text(encoding="utf-8"), str(path), exit_codes.get(stack)))
    for report in reports:
        if report.preview is not None and (report.preview.model_changes or base_ref):
            progress(f"Reading the serving model versions of {report.stack}...")
        report.models = _resolve_models(report, tracking_uri=tracking_uri, base_ref=base_ref, timeout=timeout)
    return reports
