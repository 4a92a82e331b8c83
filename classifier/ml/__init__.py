"""The classifier's machine learning, without Django: the recipe, the network and its layers,
the precision of this machine, fitting and predicting, the labeled set's shape, the evaluation,
and the :class:`~classifier.ml.classifier.Classifier` that trains, saves and loads a model.

Keras (and its backend) is imported inside functions through :func:`backend.keras_module`,
never when a module of this package is imported: the web process and the task cluster's
parent import these modules and must not load TensorFlow. The Django side (``classifier``'s
services) reads the settings and passes their values in.
"""
