"""Fair sharing across users: the whole stack as processes (tests/stack.py)."""

from tests.stack import stack

__all__ = ["stack"]
