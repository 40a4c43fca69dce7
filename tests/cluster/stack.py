"""A stack of several processes per service on the cluster (gateways, session services, run
workers, one tool worker), each given every node's URL and left to pick one: the one harness's
`running_stack` with replicas. Gateway i talks to session service i % sessions; every process
shares one database and one broker prefix."""

from switchboard_stack import Stack

from tests.stack import running_stack

ClusterStack = Stack
cluster_stack = running_stack

__all__ = ["ClusterStack", "cluster_stack"]
