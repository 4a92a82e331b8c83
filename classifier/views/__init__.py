"""The classifier's pages: training runs (``runs``), the review of suggestions and clusters (``review``)."""
