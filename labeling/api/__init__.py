"""labeling's REST API, one module a resource: faces and labels, idols, groups and
memberships, the label history. URLs: labeling/api_urls.py. Roles: labeling.roles' checks."""
