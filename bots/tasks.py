"""Tasks of the bots (default cluster). Each takes primary keys, fetches the row again, returns
quietly when it is gone, and is safe to run twice."""

from __future__ import annotations


def line_answer(question_id: int) -> str:
    """Answer one question a LINE webhook recorded (bots.line)."""
    from bots.line import question_answer

    return question_answer(question_id)
