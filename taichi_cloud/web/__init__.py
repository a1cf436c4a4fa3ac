"""The web layer: middlewares, route declarations, OpenAPI, pages."""
