"""Task-queue entry points of labeling. Plain functions taking primary keys."""

from __future__ import annotations


def export_dataset(export_id: int) -> str:
    """Write a queued dataset export (labeling.services.exports); safe to run twice."""
    from labeling.services.exports import export_execute

    export = export_execute(export_id=export_id)
    if export is None:
        return f"export {export_id} is gone or was taken by another worker"
    return f"export {export_id}: {export.status} {export.error[:200]}".strip()


def recount_unlabeled_total() -> str:
    """Count the unlabeled faces again for the pages (labeling.selectors.unlabeled_total_kept)."""
    from labeling.selectors import unlabeled_total_recount

    return f"{unlabeled_total_recount()} unlabeled faces"
