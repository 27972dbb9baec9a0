"""Signing keys, JWT access tokens (RFC 9068) and their verification."""
