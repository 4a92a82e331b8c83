"""Signals labeling sends so that apps built on it (classifier) can react without labeling
importing them (dependencies point one way: classifier -> labeling -> faces)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent when label events are written (a label added or removed, a face excluded or included
# again, an undo, labels moved by a merge), inside the transaction that writes them: receivers
# act on commit (the classifier retrains its embedding recognizer).
#   sender: LabelEvent; events: list[LabelEvent]
labels_changed = Signal()
