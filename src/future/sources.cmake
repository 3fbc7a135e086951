# The future layer.
