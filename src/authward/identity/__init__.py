"""Identity services: users, sessions, API keys, machine users and organizations, as domain
services over the ports they declare (docs/architecture.md). Request authentication, which
verifies what these services issue, is :mod:`authward.channel`."""
