"""The ``authward`` command."""
