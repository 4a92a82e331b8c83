"""Tasks of the bots (default cluster). Each takes primary keys, fetches the row again, returns
quietly when it is gone, and is safe to run twice."""

from __future__ import annotations


def line_answer(question_id: int) -> str:
    """Answer one question a LINE webhook recorded (bots.line)."""
    from bots.line import question_answer

    return question_answer(question_id)


def poll_mastodon(bot_id: int) -> str:
    """Read a Mastodon bot's new mentions and answer them (its schedule runs this)."""
    from bots import mastodon

    result = mastodon.poll(bot_id)
    if result is None:
        return "gone, off, paused or being polled"
    if result.error:
        return f"stopped: {result.error}"
    return f"{result.recorded} recorded, {result.answered} answered"
