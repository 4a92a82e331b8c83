"""Every write of the classifier app, one module a concern: training runs (``runs``), model
versions and the loaded classifiers (``versions``), when to retrain (``retraining``),
suggestions (``suggestions``) and clusters of unknown faces (``clusters``).

Views, the admin, the API, tasks and ``manage.py train`` call these and hold no logic. The
public names are re-exported here; modules of this package import each other's modules, never
this package's names, so that no import goes in a circle.
"""

from classifier.services.clusters import cluster_name, cluster_split, clusters_build, clusters_build_soon
from classifier.services.retraining import changes_since, retrain_after_labels, retrain_if_needed
from classifier.services.runs import fail_stale_runs, training_cancel, training_execute, training_request
from classifier.services.suggestions import (
    suggest_faces,
    suggestions_accept,
    suggestions_reject,
    suggestions_unreject,
)
from classifier.services.versions import (
    clearly_worse,
    load_classifier,
    model_version_activate,
    model_version_delete,
    model_version_register,
    model_version_unpin,
)

__all__ = [
    "changes_since",
    "clearly_worse",
    "cluster_name",
    "cluster_split",
    "clusters_build",
    "clusters_build_soon",
    "fail_stale_runs",
    "load_classifier",
    "model_version_activate",
    "model_version_delete",
    "model_version_register",
    "model_version_unpin",
    "retrain_after_labels",
    "retrain_if_needed",
    "suggest_faces",
    "suggestions_accept",
    "suggestions_reject",
    "suggestions_unreject",
    "training_cancel",
    "training_execute",
    "training_request",
]
