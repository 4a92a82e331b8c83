"""Signals labeling sends so that apps built on it (classifier) can react without labeling
importing them (dependencies point one way: classifier -> labeling -> faces)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent when label events are written (a label added or removed, a face excluded or included
# again, an undo, labels moved by a merge), and when an idol's labels leave or rejoin the
# training set (deleted as "other", restored), inside the transaction: receivers act on commit
# (the classifier retrains its embedding recognizer).
#   sender: LabelEvent or Idol; events: list[LabelEvent] (empty for an idol)
labels_changed = Signal()
