"""The CloudStack API edge: route, registry, dispatch, parameters, responses, auth."""
