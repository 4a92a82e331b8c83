"""Training runs, model versions and suggestions: added by the classifier issue."""
