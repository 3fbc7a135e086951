# The pool layer.
