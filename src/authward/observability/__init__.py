"""Logs, metrics, traces and readiness: what an operator watches (docs/operations.md).

A base package: any layer may count or log through it, and it imports nothing of authward's."""
