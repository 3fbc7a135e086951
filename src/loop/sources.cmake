# The loop layer.
