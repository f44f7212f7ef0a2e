// A real OpenID Provider (the `oidc-provider` npm package, pinned in package.json) on a free
// loopback port, for tests/sdk/test_sso_oidc.py. Prints one JSON line {"issuer": ...} once it
// listens, then serves until it is killed. Usage:
//
//   node tests/node/oidc_provider.mjs '{"name": "Ada Lovelace", "groups": ["engineering"]}'
//
// Clients register themselves (dynamic registration, open: a test registers one per connection
// with that connection's redirect_url). Any login is accepted through the package's development
// interactions (a login form, then a consent form): the login is the account id and its email;
// the account's claims are the given name and groups; a login starting with `unverified-` has
// `email_verified: false`. Scopes: openid, email, profile, groups.

import { generateKeyPairSync, randomUUID } from "node:crypto";
import http from "node:http";

import Provider from "oidc-provider";

const options = JSON.parse(process.argv[2] || "{}");
const fullName = options.name || "Ada Lovelace";
const [givenName, ...rest] = fullName.split(" ");

const signingKey = {
  ...generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }),
  kid: randomUUID(),
  use: "sig",
  alg: "RS256",
};

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomUUID()] },
    features: {
      devInteractions: { enabled: true },
      registration: { enabled: true },
    },
    scopes: ["openid", "email", "profile", "groups", "offline_access"],
    claims: {
      openid: ["sub"],
      email: ["email", "email_verified"],
      profile: ["name", "given_name", "family_name"],
      groups: ["groups"],
    },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: id,
            email_verified: !id.startsWith("unverified-"),
            name: fullName,
            given_name: givenName,
            family_name: rest.join(" "),
            groups: options.groups || [],
          };
        },
      };
    },
  });
  provider.proxy = false;
  server.on("request", provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + "\n");
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
