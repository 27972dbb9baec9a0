// The peer bench/oauth_load.py measures authward's authorization server against (issue 3, "Speed").
//
// node-oidc-provider with its default in-memory adapter, configured as the issue asks: resource
// indicators make the client_credentials grant issue JWT access tokens (RFC 9068) signed with the
// same algorithm as authward's (BENCH_SIGNING_ALG: EdDSA, the default, or ES256); one confidential
// client authenticating with client_secret_basic; introspection and userinfo enabled.
//
// The provider only introspects opaque tokens (it answers unsupported_token_type for a JWT) and
// serves userinfo only for opaque tokens issued without a resource, so a user access token is
// minted at start-up the way its authorization-code grant would mint it: a Grant for the account
// with the openid scope, then an AccessToken bound to that grant. Both are kept by the in-memory
// adapter, exactly as after a real code flow.
//
// Environment: BENCH_PORT (required), BENCH_CLIENT_ID, BENCH_CLIENT_SECRET, BENCH_SIGNING_ALG.
// Listens on 127.0.0.1 and prints one line once it accepts connections:
//   oidc-provider ready <issuer> <user access token>

import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number.parseInt(process.env.BENCH_PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0) {
  console.error('set BENCH_PORT to the port to listen on');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.BENCH_CLIENT_ID ?? 'bench-client';
const clientSecret = process.env.BENCH_CLIENT_SECRET ?? 'bench-secret-bench-secret-bench-secret';
const alg = process.env.BENCH_SIGNING_ALG ?? 'EdDSA';

const keyOptions = {
  EdDSA: ['ed25519', {}],
  ES256: ['ec', { namedCurve: 'P-256' }],
};
if (!(alg in keyOptions)) {
  console.error(`BENCH_SIGNING_ALG must be one of ${Object.keys(keyOptions).join(', ')}`);
  process.exit(2);
}
const { privateKey } = generateKeyPairSync(...keyOptions[alg]);
const signingKey = { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig' };

const RESOURCE = 'https://api.bench.test';
const ACCOUNT = 'bench-user';
const PROFILE = { email: 'bench-user@example.com', email_verified: true, name: 'Bench User' };

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['authorization_code', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg,
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['authward-bench-cookie-key'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  scopes: ['openid', 'email', 'profile', 'read'],
  findAccount(ctx, sub) {
    return { accountId: sub, claims: () => ({ sub, ...PROFILE }) };
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: false },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'read',
        audience: RESOURCE,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 3600,
        jwt: { sign: { alg } },
      }),
    },
  },
  enabledJWA: { idTokenSigningAlgValues: [alg] },
};

const provider = new Provider(issuer, configuration);

async function userAccessToken() {
  const client = await provider.Client.find(clientId);
  const grant = new provider.Grant({ accountId: ACCOUNT, clientId });
  grant.addOIDCScope('openid email profile');
  const grantId = await grant.save();
  const token = new provider.AccessToken({
    accountId: ACCOUNT,
    client,
    grantId,
    scope: 'openid email profile',
    gty: 'authorization_code',
  });
  return token.save();
}

const token = await userAccessToken();
const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${issuer} ${token}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
