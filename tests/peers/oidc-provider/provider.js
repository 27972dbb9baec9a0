// A real, independent OpenID provider for the oidc() tests (tests/integration/test_oidc_issuer.py).
//
// node-oidc-provider, configured for the client_credentials grant with resource indicators so that
// it issues JWT access tokens (RFC 9068) for the audience the tests configure. Fresh signing keys
// every start: RSA-2048 without "alg" (RS256 and PS256), EC P-256 (ES256), EC P-384 without "alg"
// (ES384) and Ed25519 (EdDSA). Each resource indicator picks the algorithm (and a lifetime):
//
//   https://api.authward.test/<rs256|ps256|es256|es384|eddsa>   audience = OIDC_TEST_AUDIENCE
//   https://api.authward.test/short                             ES256, lives 1 second
//   https://api.authward.test/elsewhere                         audience = https://elsewhere.authward.test
//
// Environment: OIDC_TEST_PORT (required), OIDC_TEST_AUDIENCE, OIDC_TEST_CLIENT_ID,
// OIDC_TEST_CLIENT_SECRET. Listens on 127.0.0.1 and prints one line "oidc-provider ready <issuer>"
// on stdout once it accepts connections.

import { generateKeyPairSync } from 'node:crypto';

import Provider, { errors } from 'oidc-provider';

const port = Number.parseInt(process.env.OIDC_TEST_PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0) {
  console.error('set OIDC_TEST_PORT to the port to listen on');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const audience = process.env.OIDC_TEST_AUDIENCE ?? 'https://api.authward.test';
const clientId = process.env.OIDC_TEST_CLIENT_ID ?? 'authward-test-client';
const clientSecret = process.env.OIDC_TEST_CLIENT_SECRET ?? 'authward-test-secret-authward-test-secret';

function jwk(type, options, extra = {}) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), use: 'sig', ...extra };
}

const keys = [
  jwk('rsa', { modulusLength: 2048 }), // no alg: usable for RS256 and PS256
  jwk('ec', { namedCurve: 'P-256' }, { alg: 'ES256' }),
  jwk('ec', { namedCurve: 'P-384' }), // no alg: ES384 is the only one its curve allows
  jwk('ed25519', {}, { alg: 'EdDSA' }),
];

const RESOURCE = 'https://api.authward.test/';
const resources = {
  rs256: { alg: 'RS256' },
  ps256: { alg: 'PS256' },
  es256: { alg: 'ES256' },
  es384: { alg: 'ES384' },
  eddsa: { alg: 'EdDSA' },
  short: { alg: 'ES256', ttl: 1 },
  elsewhere: { alg: 'ES256', audience: 'https://elsewhere.authward.test' },
};

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys },
  cookies: { keys: ['authward-test-cookie-key'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => `${RESOURCE}es256`,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, resourceIndicator) {
        const name = resourceIndicator.startsWith(RESOURCE)
          ? resourceIndicator.slice(RESOURCE.length)
          : undefined;
        const info = name !== undefined ? resources[name] : undefined;
        if (!info) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: 'read write',
          audience: info.audience ?? audience,
          accessTokenFormat: 'jwt',
          accessTokenTTL: info.ttl ?? 300,
          jwt: { sign: { alg: info.alg } },
        };
      },
    },
  },
  ttl: {
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
  },
};

const provider = new Provider(issuer, configuration);
const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
