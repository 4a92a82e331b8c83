"""The classifier's API (included by ``classifier.api_urls``): recognition, suggestions and
clusters, training runs and model versions."""
