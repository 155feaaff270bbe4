"""middlewares package."""
