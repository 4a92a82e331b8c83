"""The labeling pages, one module a resource: the grid and its JSON actions, the typeahead,
photos, idols, activity."""
