"""The OAuth 2.0 / OpenID Connect authorization server's protocol logic, free of web-framework
and SQL code (``authward.server`` wires it to HTTP, ``authward.store`` keeps its state)."""
