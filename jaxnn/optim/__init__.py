"""Being written."""
from jaxnn.optim.base import EmptyState, Optimizer, apply_updates  # noqa: F401
