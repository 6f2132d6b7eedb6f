// A real OpenID Connect provider for tocsin's sign-in tests and for trying single sign-on locally:
// panva's certified oidc-provider with one confidential client, a list of accounts that sign in
// through a plain HTML login form, and RP-initiated logout. Not for production: its grants,
// sessions and codes live in memory, and the accounts' passwords are in a file.
//
// Settings, from the environment:
//   OIDC_PROVIDER_PORT            port on 127.0.0.1 (default 9000)
//   OIDC_PROVIDER_ISSUER          issuer URL (default http://127.0.0.1:<port>)
//   OIDC_PROVIDER_CLIENT_ID       the client's id (default tocsin)
//   OIDC_PROVIDER_CLIENT_SECRET   the client's secret (default tocsin-local-client-secret)
//   OIDC_PROVIDER_REDIRECT_URIS   space-separated redirect URIs (default http://127.0.0.1:8080/auth/callback)
//   OIDC_PROVIDER_POST_LOGOUT_REDIRECT_URIS  space-separated (default http://127.0.0.1:8080/)
//   OIDC_PROVIDER_ACCOUNTS        JSON file: [{"login", "password", "name", "email"}]; default: alice and bob
//   OIDC_PROVIDER_JWKS            JSON file of the private signing keys ({"keys": [...]}); made (one
//                                 RS256 key) if it does not exist, so a test rotates the keys by
//                                 restarting the provider with another file
//
// It prints `oidc-provider listening on <issuer>` once it serves.

import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

const env = process.env;
const port = Number(env.OIDC_PROVIDER_PORT || 9000);
const issuer = env.OIDC_PROVIDER_ISSUER || `http://127.0.0.1:${port}`;
const words = (value, fallback) => (value || fallback).split(/\s+/).filter(Boolean);

const accounts = env.OIDC_PROVIDER_ACCOUNTS
  ? JSON.parse(readFileSync(env.OIDC_PROVIDER_ACCOUNTS, 'utf8'))
  : [
      { login: 'alice', password: 'alice-password', name: 'Alice Liddell', email: 'alice@example.com' },
      { login: 'bob', password: 'bob-password', name: 'Bob Dobbs', email: 'bob@example.com' },
    ];

function signingKeys(path) {
  if (path && existsSync(path)) return JSON.parse(readFileSync(path, 'utf8'));
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
  const jwks = { keys: [key] };
  if (path) writeFileSync(path, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env.OIDC_PROVIDER_CLIENT_ID || 'tocsin',
      client_secret: env.OIDC_PROVIDER_CLIENT_SECRET || 'tocsin-local-client-secret',
      redirect_uris: words(env.OIDC_PROVIDER_REDIRECT_URIS, 'http://127.0.0.1:8080/auth/callback'),
      post_logout_redirect_uris: words(env.OIDC_PROVIDER_POST_LOGOUT_REDIRECT_URIS, 'http://127.0.0.1:8080/'),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: signingKeys(env.OIDC_PROVIDER_JWKS),
  async findAccount(ctx, id) {
    const account = accounts.find((candidate) => candidate.login === id);
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: account.name, email: account.email, email_verified: true, preferred_username: id };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
  // Like Entra ID and Keycloak, the ID token carries the profile and e-mail claims of its scopes.
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: { enabled: true },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: [randomBytes(32).toString('hex')] },
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
  <h1>Sign in to the local identity provider</h1>
  ${error ? `<p role="alert">${escape(error)}</p>` : ''}
  <form method="post" action="/interaction/${escape(uid)}/login">
    <label>Login <input name="login" autocomplete="username" required autofocus></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button>
  </form>
</body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16384) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

// The login form (prompt `login`) checks the account's password; the client is first-party, so
// consent (prompt `consent`) is granted at once for the scopes it asked for.
async function interaction(req, res, uid, isSubmit) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (details.prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    if (details.prompt.details.missingOIDCScope) grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
    if (details.prompt.details.missingOIDCClaims) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  if (!isSubmit) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(loginPage(uid));
    return;
  }
  const form = await readForm(req);
  const account = accounts.find((candidate) => candidate.login === form.get('login'));
  if (!account || account.password !== form.get('password')) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(loginPage(uid, 'Unknown login or wrong password.'));
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: account.login } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (path === '/favicon.ico') {
    // No icon, and no 404 in a browser test's console either.
    res.writeHead(204);
    res.end();
    return;
  }
  const match = path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (!match) {
    callback(req, res);
    return;
  }
  const isSubmit = Boolean(match[2]) && req.method === 'POST';
  interaction(req, res, match[1], isSubmit).catch((error) => {
    if (!res.headersSent) res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`interaction failed: ${error.message}`);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
