// A real, independent OpenID provider for the external IdP login tests
// (tests/integration/test_external_login.py): node-oidc-provider with the authorization code flow.
//
// Two confidential clients share OIDC_TEST_REDIRECT_URI: OIDC_TEST_CLIENT_ID (client_secret_basic)
// and "<OIDC_TEST_CLIENT_ID>-post" (client_secret_post), both with OIDC_TEST_CLIENT_SECRET. PKCE is
// required for every client. Fresh signing keys every start (RS256 ID tokens by default).
//
// A tiny interaction instead of a real login form, so the tests choose who signs in:
//   GET  /interaction/<uid>          a page naming the prompt ("login" or "consent")
//   POST /interaction/<uid>/login    form fields: sub, claims (a JSON object: email, ...)
//   POST /interaction/<uid>/confirm  grant what the client asked for
//   POST /interaction/<uid>/abort    the user says no: access_denied back to the client
// The claims posted at login are what the ID token and userinfo say about that sub from then on.
//
// Environment: OIDC_TEST_PORT (required), OIDC_TEST_CLIENT_ID, OIDC_TEST_CLIENT_SECRET,
// OIDC_TEST_REDIRECT_URI. Listens on 127.0.0.1 and prints one line "oidc-provider ready <issuer>"
// on stdout once it accepts connections.

import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number.parseInt(process.env.OIDC_TEST_PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0) {
  console.error('set OIDC_TEST_PORT to the port to listen on');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.OIDC_TEST_CLIENT_ID ?? 'authward-login-client';
const clientSecret = process.env.OIDC_TEST_CLIENT_SECRET ?? 'authward-login-secret-authward-login-secret';
const redirectUri = process.env.OIDC_TEST_REDIRECT_URI ?? 'http://authward.test/login/external/test-op/callback';

function jwk(type, options, extra = {}) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), use: 'sig', ...extra };
}

/** sub -> the claims posted when that account last signed in */
const accounts = new Map();

function client(id, method) {
  return {
    client_id: id,
    client_secret: clientSecret,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: method,
  };
}

const configuration = {
  clients: [client(clientId, 'client_secret_basic'), client(`${clientId}-post`, 'client_secret_post')],
  jwks: {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, { alg: 'RS256' }),
      jwk('ec', { namedCurve: 'P-256' }, { alg: 'ES256' }),
    ],
  },
  cookies: { keys: ['authward-test-op-cookie-key'] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'role'],
  },
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  async findAccount(ctx, sub) {
    const claims = accounts.get(sub);
    if (!claims) {
      return undefined;
    }
    return { accountId: sub, claims: async () => ({ ...claims, sub }) };
  },
};

const provider = new Provider(issuer, configuration);
const handle = provider.callback();

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
  }
  return new URLSearchParams(body);
}

function page(res, status, text) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.end(text);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return page(res, 400, '<p>interaction mismatch</p>');
  }
  const { prompt, params, session } = details;
  if (!action && req.method === 'GET') {
    return page(
      res,
      200,
      `<p data-prompt="${prompt.name}">prompt: ${prompt.name}</p>` +
        `<form method="post" action="/interaction/${uid}/${prompt.name === 'login' ? 'login' : 'confirm'}"></form>` +
        `<form method="post" action="/interaction/${uid}/abort"></form>`,
    );
  }
  if (req.method !== 'POST') {
    return page(res, 405, '<p>POST only</p>');
  }
  const form = await readForm(req);
  if (action === 'abort') {
    return provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
  }
  if (action === 'login' && prompt.name === 'login') {
    const sub = form.get('sub');
    if (!sub) {
      return page(res, 400, '<p>sub is required</p>');
    }
    accounts.set(sub, JSON.parse(form.get('claims') || '{}'));
    return provider.interactionFinished(req, res, { login: { accountId: sub } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) {
      grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    }
    if (missing.missingOIDCClaims) {
      grant.addOIDCClaims(missing.missingOIDCClaims);
    }
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
  }
  return page(res, 400, `<p>cannot ${action} at prompt ${prompt.name}</p>`);
}

const server = createServer((req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/.exec(
    new URL(req.url, issuer).pathname,
  );
  if (!match) {
    return handle(req, res);
  }
  return interaction(req, res, match[1], match[2]).catch((err) => {
    page(res, 500, `<p>${String(err.message).replace(/[<>&]/g, '')}</p>`);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready ${issuer}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
