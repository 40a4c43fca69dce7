"""Switchboard benchmark: the gateway against the broker's own ceiling, in one run."""
