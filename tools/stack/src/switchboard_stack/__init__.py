"""Switchboard's one stack harness: `make run`, the tests and the bench start, health-wait and
stop the services with it, on free ports, an isolated database and a broker prefix."""

from . import services
from .broker import broker_env, check_rabbitmq, isolated_broker
from .group import ProcessGroup, StartFailed, running
from .ports import free_port
from .postgres import ensure_database, fresh_database, run_token, throwaway_database
from .process import BIN, ServiceProcess
from .services import Service
from .stack import Stack, running_stack, stack_env
from .urls import asyncpg_dsn, redact, to_asyncpg, with_database

__all__ = [
    "BIN",
    "ProcessGroup",
    "Service",
    "ServiceProcess",
    "Stack",
    "StartFailed",
    "asyncpg_dsn",
    "broker_env",
    "check_rabbitmq",
    "ensure_database",
    "free_port",
    "fresh_database",
    "isolated_broker",
    "redact",
    "run_token",
    "running",
    "running_stack",
    "services",
    "stack_env",
    "throwaway_database",
    "to_asyncpg",
    "with_database",
]
