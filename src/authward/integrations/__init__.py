"""Integrations whose calls use the credentials of the account a run belongs to.

See docs/integrations.md.

byo_slack = Slack(id="byo-slack")

@client.auth_resolver(byo_slack)
async def resolve(ctx, integration):
    if ctx.account is None:
        return None                      # the run fails with "Unresolved auth"
    tokens = await auth.users.get_oauth_access_token(ctx.account.id, "oauth_slack")
    return AuthResolverResult(type="oauth", token=tokens[0].token)
"""

from authward.connections.values import Credentials
from authward.integrations.base import Calls, IntegrationBase
from authward.integrations.errors import CredentialRejected, IntegrationError, ProviderError
from authward.integrations.slack import Slack
from authward.jobs.credentials import AuthResolverResult
from authward.jobs.errors import UnresolvedAuthError

__all__ = [
    "AuthResolverResult",
    "Calls",
    "CredentialRejected",
    "Credentials",
    "IntegrationBase",
    "IntegrationError",
    "ProviderError",
    "Slack",
    "UnresolvedAuthError",
]
