"""Encryption of secrets at rest with the instance key."""
