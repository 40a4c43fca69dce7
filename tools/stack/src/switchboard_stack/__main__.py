"""`python -m switchboard_stack`: `make run`."""

from .devstack import main

main()
