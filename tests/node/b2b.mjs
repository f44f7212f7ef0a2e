// Drives a Gatehouse server through the official Stytch Node SDK (`stytch` on npm, pinned in
// package.json) and prints one JSON line per check: {"area", "name", "ok", "details"}. Exits 1 if
// any check failed, 2 on bad arguments. Run by tests/sdk/test_node_sdk.py; by hand:
//
//   node tests/node/b2b.mjs --url https://127.0.0.1:8443 --project-id project-test-... \
//       --secret secret-test-... [--areas orgs,members,passwords,sessions,jwt,rbac]
//
// or with GATEHOUSE_URL, STYTCH_PROJECT_ID, STYTCH_SECRET (and GATEHOUSE_AREAS) in the environment.
//
// The SDK (14.x) only takes `custom_base_url` over https ("custom_base_url must use HTTPS
// scheme"); an http URL is passed as `env`, which the SDK accepts with a warning on stderr. Either
// way the base URL, without its trailing slash, is the JWT issuer the SDK accepts besides
// `stytch.com/<project_id>`, so it must be the server's public URL. For a self-signed certificate
// set NODE_EXTRA_CA_CERTS to it.
//
// The server's project policy must be tests/sdk/support.py PROJECT_POLICY: a `documents` resource
// (read, write, delete) and the roles `editor` (read, write) and `viewer` (read). The B2B API
// cannot write the project policy; the org policy it can, and the checks here do.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";

import * as stytch from "stytch";

const AREAS = ["orgs", "members", "passwords", "sessions", "jwt", "rbac"];

const PASSWORD = "violet-Harbor-7-lantern";
// bcrypt of PASSWORD at cost 4 (tests/sdk/support.py signs in the same way, hashing at run time).
const PASSWORD_BCRYPT = "$2b$04$VoYJE9o8ZGmzM36aPTbIXOGI/xNmaJZIVNW0OdCUR8bEeYtapUDWe";

const AUDITOR = {
  role_id: "auditor",
  description: "Reads documents and searches members",
  permissions: [
    { resource_id: "documents", actions: ["read"] },
    { resource_id: "stytch.member", actions: ["search"] },
  ],
};

// -- arguments ------------------------------------------------------------------------------------

function options() {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: process.env.GATEHOUSE_URL },
      "project-id": { type: "string", default: process.env.STYTCH_PROJECT_ID },
      secret: { type: "string", default: process.env.STYTCH_SECRET },
      areas: { type: "string", default: process.env.GATEHOUSE_AREAS || AREAS.join(",") },
    },
  });
  const areas = values.areas.split(",").filter(Boolean);
  const unknown = areas.filter((a) => !AREAS.includes(a));
  if (!values.url || !values["project-id"] || !values.secret || unknown.length) {
    console.error(
      "usage: node b2b.mjs --url URL --project-id ID --secret SECRET [--areas " +
        AREAS.join(",") + "]" + (unknown.length ? `\nunknown areas: ${unknown}` : ""),
    );
    process.exit(2);
  }
  return { url: values.url.replace(/\/+$/, ""), projectId: values["project-id"], secret: values.secret, areas };
}

// -- the requests the SDK makes ------------------------------------------------------------------

// The SDK calls the global fetch for API requests (jose fetches the JWKS with node:https, so key
// fetches are not listed). Each entry is "METHOD /path".
const calls = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  calls.push(`${init?.method ?? "GET"} ${new URL(String(input)).pathname}`);
  return realFetch(input, init);
};

function callsDuring(fn) {
  return async () => {
    const start = calls.length;
    const value = await fn();
    return { value, calls: calls.slice(start) };
  };
}

// -- checks -----------------------------------------------------------------------------------------

let failures = 0;

function emit(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

function describe(error) {
  if (error instanceof stytch.StytchError) {
    return { kind: "StytchError", status_code: error.status_code, error_type: error.error_type,
             error_message: error.error_message };
  }
  if (error instanceof stytch.ClientError) {
    return { kind: "ClientError", code: error.code, message: error.message };
  }
  // RequestError (the server could not be reached), an AssertionError, or a bug here.
  return { kind: error?.constructor?.name ?? typeof error, message: String(error?.message ?? error),
           ...(error?.cause ? { cause: String(error.cause?.message ?? error.cause) } : {}),
           at: (error?.stack ?? "").split("\n").filter((l) => l.trim().startsWith("at ")).slice(0, 3)
                 .map((l) => l.trim()) };
}

async function check(area, name, fn) {
  try {
    const details = await fn();
    emit({ area, name, ok: true, details: details ?? {} });
  } catch (error) {
    failures += 1;
    emit({ area, name, ok: false, details: describe(error) });
  }
}

// The SDK rejects with StytchError carrying this status and error_type.
async function refused(promise, status, errorType) {
  let answer;
  try {
    answer = await promise;
  } catch (error) {
    if (!(error instanceof stytch.StytchError)) throw error;
    assert.deepEqual([error.status_code, error.error_type], [status, errorType], error.error_message);
    assert.ok(error.request_id, "an error carries a request_id");
    return { status_code: error.status_code, error_type: error.error_type };
  }
  assert.fail(`expected ${status} ${errorType}, got ${JSON.stringify(answer).slice(0, 300)}`);
}

// The SDK rejects locally with ClientError carrying this code.
async function clientError(promise, code) {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof stytch.ClientError)) throw error;
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ClientError ${code}`);
}

function ok200(answer) {
  assert.equal(answer.status_code, 200);
  assert.ok(answer.request_id, "an answer carries a request_id");
}

// -- fixtures ---------------------------------------------------------------------------------------

function unique(prefix) {
  return `${prefix}-${randomUUID().replaceAll("-", "").slice(0, 10)}`;
}

function email() {
  return `${unique("node")}@example.test`;
}

function roleIds(member) {
  return member.roles.map((r) => r.role_id).sort();
}

function authz(organization_id, resource_id, action) {
  return { organization_id, resource_id, action };
}

function query(filter_name, filter_value) {
  return { operator: "AND", operands: [{ filter_name, filter_value }] };
}

async function newOrg(client, fields = {}) {
  const name = unique("NodeOrg");
  const answer = await client.organizations.create({
    organization_name: name, organization_slug: name.toLowerCase(), ...fields,
  });
  return answer.organization;
}

// passwords.migrate (bcrypt) then passwords.authenticate: the sign-in answer.
async function signIn(client, organization_id, address, roles) {
  await client.passwords.migrate({
    organization_id, email_address: address, hash: PASSWORD_BCRYPT, hash_type: "bcrypt",
    ...(roles ? { roles } : {}),
  });
  return client.passwords.authenticate({ organization_id, email_address: address, password: PASSWORD });
}

function jwtClaims(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
}

// -- organizations ------------------------------------------------------------------------------

async function orgs(client) {
  const slug = unique("acme");
  const externalId = unique("crm");
  let org;

  await check("orgs", "create", async () => {
    const answer = await client.organizations.create({
      organization_name: "Acme Rockets", organization_slug: slug,
      organization_external_id: externalId, trusted_metadata: { plan: "enterprise" },
      email_allowed_domains: ["acme.test"], mfa_policy: "REQUIRED_FOR_ALL",
    });
    ok200(answer);
    org = answer.organization;
    assert.match(org.organization_id, /^organization-test-/);
    assert.deepEqual(
      [org.organization_name, org.organization_slug, org.organization_external_id],
      ["Acme Rockets", slug, externalId],
    );
    assert.deepEqual(org.trusted_metadata, { plan: "enterprise" });
    assert.deepEqual(org.email_allowed_domains, ["acme.test"]);
    assert.equal(org.mfa_policy, "REQUIRED_FOR_ALL");
    assert.deepEqual(org.custom_roles, []);
    return { organization_id: org.organization_id };
  });
  if (!org) return;

  await check("orgs", "create_duplicate_slug_409", () =>
    refused(client.organizations.create({ organization_name: "Again", organization_slug: slug }),
            409, "duplicate_organization_slug"));

  await check("orgs", "get_by_id_slug_and_external_id", async () => {
    for (const ident of [org.organization_id, slug, externalId]) {
      const answer = await client.organizations.get({ organization_id: ident });
      ok200(answer);
      assert.equal(answer.organization.organization_id, org.organization_id, ident);
      assert.equal(answer.organization.organization_name, "Acme Rockets");
    }
  });

  await check("orgs", "get_unknown_404", () =>
    refused(client.organizations.get({ organization_id: "organization-test-00000000-0000-4000-8000-000000000000" }),
            404, "organization_not_found"));

  const newSlug = unique("renamed");
  await check("orgs", "update_persists", async () => {
    const answer = await client.organizations.update({
      organization_id: org.organization_id, organization_name: "Renamed Inc",
      organization_slug: newSlug, trusted_metadata: { tier: 2 },
    });
    ok200(answer);
    assert.equal(answer.organization.organization_name, "Renamed Inc");
    const got = (await client.organizations.get({ organization_id: newSlug })).organization;
    assert.equal(got.organization_id, org.organization_id);
    assert.deepEqual([got.organization_name, got.organization_slug], ["Renamed Inc", newSlug]);
    assert.deepEqual(got.trusted_metadata, { tier: 2 });
    assert.equal(got.organization_external_id, externalId); // untouched
    assert.deepEqual(got.email_allowed_domains, ["acme.test"]);
  });

  await check("orgs", "search_by_id_and_fuzzy_name_with_a_cursor", async () => {
    const byId = await client.organizations.search({
      query: query("organization_ids", [org.organization_id]),
    });
    ok200(byId);
    assert.deepEqual(byId.organizations.map((o) => o.organization_id), [org.organization_id]);
    assert.equal(byId.results_metadata.total, 1);

    const tag = unique("nodesearch");
    const created = [];
    for (let i = 0; i < 3; i++) {
      created.push((await newOrg(client)).organization_id);
      await client.organizations.update({ organization_id: created[i], organization_name: `${tag} ${i}` });
    }
    const seen = [];
    let cursor;
    let pages = 0;
    do {
      const page = await client.organizations.search({
        query: query("organization_name_fuzzy", tag), limit: 2, ...(cursor ? { cursor } : {}),
      });
      pages += 1;
      assert.equal(page.results_metadata.total, 3);
      assert.ok(page.organizations.length <= 2);
      seen.push(...page.organizations.map((o) => o.organization_id));
      cursor = page.results_metadata.next_cursor;
    } while (cursor);
    assert.equal(pages, 2);
    assert.deepEqual(seen.sort(), created.sort());
    return { pages };
  });

  await check("orgs", "delete_then_get_404_and_search_empty", async () => {
    const answer = await client.organizations.delete({ organization_id: org.organization_id });
    ok200(answer);
    assert.equal(answer.organization_id, org.organization_id);
    const error = await refused(client.organizations.get({ organization_id: org.organization_id }),
                                404, "organization_not_found");
    const search = await client.organizations.search({
      query: query("organization_ids", [org.organization_id]),
    });
    assert.deepEqual(search.organizations, []);
    return error;
  });
}

// -- members ----------------------------------------------------------------------------------------

async function members(client) {
  const m = client.organizations.members;
  const orgId = (await newOrg(client)).organization_id;
  const address = email();
  const externalId = unique("emp");
  let member;

  await check("members", "create", async () => {
    const answer = await m.create({
      organization_id: orgId, email_address: address, name: "Ada Lovelace",
      untrusted_metadata: { theme: "dark" }, trusted_metadata: { employee: 7 },
      roles: ["viewer"], external_id: externalId,
    });
    ok200(answer);
    member = answer.member;
    assert.equal(answer.member_id, member.member_id);
    assert.match(member.member_id, /^member-test-/);
    assert.deepEqual([member.email_address, member.name, member.status],
                     [address, "Ada Lovelace", "active"]);
    assert.deepEqual(member.untrusted_metadata, { theme: "dark" });
    assert.deepEqual(member.trusted_metadata, { employee: 7 });
    assert.equal(member.external_id, externalId);
    assert.equal(member.organization_id, orgId);
    assert.deepEqual(roleIds(member), ["stytch_member", "viewer"]);
    assert.equal(answer.organization.organization_id, orgId);
    return { member_id: member.member_id, roles: roleIds(member) };
  });
  if (!member) return;

  await check("members", "create_duplicate_email_409", () =>
    refused(m.create({ organization_id: orgId, email_address: address }), 409, "duplicate_member_email"));

  await check("members", "create_in_unknown_org_404", () =>
    refused(m.create({ organization_id: "organization-test-00000000-0000-4000-8000-000000000000",
                       email_address: email() }), 404, "organization_not_found"));

  await check("members", "create_with_unknown_role_400", () =>
    refused(m.create({ organization_id: orgId, email_address: email(), roles: ["no-such-role"] }),
            400, "role_not_found"));

  await check("members", "get_by_member_id_and_by_email", async () => {
    for (const lookup of [{ member_id: member.member_id }, { email_address: address }]) {
      const answer = await m.get({ organization_id: orgId, ...lookup });
      ok200(answer);
      const got = answer.member;
      assert.deepEqual([got.member_id, got.name, got.email_address],
                       [member.member_id, "Ada Lovelace", address]);
      assert.deepEqual(roleIds(got), ["stytch_member", "viewer"]);
      assert.equal(answer.organization.organization_id, orgId);
    }
  });

  await check("members", "update_persists", async () => {
    const answer = await m.update({
      organization_id: orgId, member_id: member.member_id, name: "Grace Hopper",
      untrusted_metadata: { lang: "cobol" }, roles: ["editor"],
    });
    ok200(answer);
    assert.equal(answer.member.name, "Grace Hopper");
    const got = (await m.get({ organization_id: orgId, member_id: member.member_id })).member;
    assert.equal(got.name, "Grace Hopper");
    assert.deepEqual(got.untrusted_metadata, { lang: "cobol" });
    assert.deepEqual(roleIds(got), ["editor", "stytch_member"]);
    assert.equal(got.external_id, externalId); // untouched
  });

  await check("members", "search_by_org_and_email_with_a_cursor", async () => {
    const others = [];
    for (let i = 0; i < 2; i++) {
      others.push((await m.create({ organization_id: orgId, email_address: email() })).member.member_id);
    }
    const seen = [];
    let cursor;
    do {
      const page = await m.search({ organization_ids: [orgId], limit: 2, ...(cursor ? { cursor } : {}) });
      ok200(page);
      assert.equal(page.results_metadata.total, 3);
      assert.deepEqual(Object.keys(page.organizations), [orgId]);
      seen.push(...page.members.map((x) => x.member_id));
      cursor = page.results_metadata.next_cursor;
    } while (cursor);
    assert.deepEqual(seen.sort(), [member.member_id, ...others].sort());

    const byEmail = await m.search({ organization_ids: [orgId], query: query("member_emails", [address]) });
    assert.deepEqual(byEmail.members.map((x) => x.member_id), [member.member_id]);
  });

  await check("members", "update_with_a_session_header_is_enforced", async () => {
    const plain = await signIn(client, orgId, email());
    const asPlain = { authorization: { session_token: plain.session_token } };
    // Self-service: stytch_member has stytch.self update.info.name.
    const self = await m.update({ organization_id: orgId, member_id: plain.member_id, name: "Plain Self" }, asPlain);
    assert.equal(self.member.name, "Plain Self");
    // Another member needs stytch.member: refused, nothing changed.
    const error = await refused(
      m.update({ organization_id: orgId, member_id: member.member_id, name: "Hijacked" }, asPlain),
      403, "session_authorization_error");
    assert.equal((await m.get({ organization_id: orgId, member_id: member.member_id })).member.name, "Grace Hopper");
    return error;
  });

  await check("members", "delete_then_get_404_then_reactivate", async () => {
    const deleted = await m.delete({ organization_id: orgId, member_id: member.member_id });
    ok200(deleted);
    assert.equal(deleted.member_id, member.member_id);
    await refused(m.get({ organization_id: orgId, member_id: member.member_id }), 404, "member_not_found");
    const active = await m.search({ organization_ids: [orgId], query: query("member_ids", [member.member_id]) });
    assert.deepEqual(active.members, []);
    const gone = await m.search({ organization_ids: [orgId], query: query("statuses", ["deleted"]) });
    assert.deepEqual(gone.members.map((x) => [x.member_id, x.status]), [[member.member_id, "deleted"]]);

    const answer = await m.reactivate({ organization_id: orgId, member_id: member.member_id });
    ok200(answer);
    assert.equal(answer.member.member_id, member.member_id);
    assert.equal(answer.member.status, "active");
    const got = (await m.get({ organization_id: orgId, member_id: member.member_id })).member;
    assert.equal(got.status, "active");
    assert.deepEqual(roleIds(got), ["editor", "stytch_member"]);
  });
}

// -- passwords --------------------------------------------------------------------------------------

async function passwords(client) {
  const orgId = (await newOrg(client)).organization_id;
  const address = email();
  let migrated;

  await check("passwords", "migrate_bcrypt_creates_the_member", async () => {
    const answer = await client.passwords.migrate({
      organization_id: orgId, email_address: address, hash: PASSWORD_BCRYPT, hash_type: "bcrypt",
      name: "Migrated Member", roles: ["editor"],
    });
    ok200(answer);
    migrated = answer;
    assert.equal(answer.member_created, true);
    assert.equal(answer.member_id, answer.member.member_id);
    assert.deepEqual([answer.member.email_address, answer.member.name], [address, "Migrated Member"]);
    assert.deepEqual(roleIds(answer.member), ["editor", "stytch_member"]);
    assert.ok(answer.member.member_password_id);
    assert.equal(answer.organization.organization_id, orgId);
    return { member_id: answer.member_id };
  });
  if (!migrated) return;

  await check("passwords", "migrate_again_updates_the_same_member", async () => {
    const answer = await client.passwords.migrate({
      organization_id: orgId, email_address: address, hash: PASSWORD_BCRYPT, hash_type: "bcrypt",
    });
    assert.equal(answer.member_created, false);
    assert.equal(answer.member_id, migrated.member_id);
  });

  await check("passwords", "authenticate_starts_a_session", async () => {
    const answer = await client.passwords.authenticate({
      organization_id: orgId, email_address: address, password: PASSWORD,
      session_duration_minutes: 30,
    });
    ok200(answer);
    assert.equal(answer.member_id, migrated.member_id);
    assert.equal(answer.member.member_id, migrated.member_id);
    assert.equal(answer.organization_id, orgId);
    assert.equal(answer.organization.organization_id, orgId);
    assert.ok(answer.session_token);
    assert.equal(answer.session_jwt.split(".").length, 3);
    const session = answer.member_session;
    assert.deepEqual([session.member_id, session.organization_id], [migrated.member_id, orgId]);
    assert.deepEqual([...session.roles].sort(), ["editor", "stytch_member"]);
    const minutes = (Date.parse(session.expires_at) - Date.parse(session.started_at)) / 60000;
    assert.ok(Math.abs(minutes - 30) < 1, `a 30-minute session, got ${minutes}`);
    assert.deepEqual(session.authentication_factors.map((f) => f.delivery_method), ["knowledge"]);
    return { member_session_id: session.member_session_id };
  });

  await check("passwords", "authenticate_wrong_password_401", () =>
    refused(client.passwords.authenticate({ organization_id: orgId, email_address: address,
                                            password: `${PASSWORD}!` }),
            401, "unauthorized_credentials"));

  await check("passwords", "strength_check", async () => {
    const weak = await client.passwords.strengthCheck({ password: "password" });
    ok200(weak);
    assert.equal(weak.valid_password, false);
    assert.ok(weak.score < 3);
    assert.equal(weak.strength_policy, "zxcvbn");
    const strong = await client.passwords.strengthCheck({ password: PASSWORD, email_address: address });
    assert.equal(strong.valid_password, true);
    assert.equal(strong.breached_password, false);
    assert.ok(strong.score >= 3);
    return { weak_score: weak.score, strong_score: strong.score };
  });

  await check("passwords", "delete_password_stops_password_sign_in", async () => {
    const other = email();
    const signedIn = await signIn(client, orgId, other);
    const passwordId = signedIn.member.member_password_id;
    assert.ok(passwordId);
    const answer = await client.organizations.members.deletePassword({
      organization_id: orgId, member_password_id: passwordId,
    });
    ok200(answer);
    assert.equal(answer.member.member_id, signedIn.member_id);
    assert.equal(answer.member.member_password_id, "");
    return refused(client.passwords.authenticate({ organization_id: orgId, email_address: other,
                                                   password: PASSWORD }),
                   401, "unauthorized_credentials");
  });

  await check("passwords", "authenticate_unknown_email_401", () =>
    refused(client.passwords.authenticate({ organization_id: orgId, email_address: email(),
                                            password: PASSWORD }),
            401, "unauthorized_credentials"));
}

// -- sessions (server-side) -------------------------------------------------------------------------

async function sessions(client, projectId) {
  const orgId = (await newOrg(client)).organization_id;
  const editor = await signIn(client, orgId, email(), ["editor", "viewer"]);
  const viewer = await signIn(client, orgId, email(), ["viewer"]);
  const outsider = await signIn(client, (await newOrg(client)).organization_id, email(), ["stytch_admin"]);

  await check("sessions", "authenticate_token", async () => {
    const answer = await client.sessions.authenticate({ session_token: editor.session_token });
    ok200(answer);
    const session = answer.member_session;
    assert.equal(session.member_session_id, editor.member_session.member_session_id);
    assert.deepEqual([session.member_id, session.organization_id], [editor.member_id, orgId]);
    assert.deepEqual([...session.roles].sort(), ["editor", "stytch_member", "viewer"]);
    assert.equal(answer.member.member_id, editor.member_id);
    assert.equal(answer.organization.organization_id, orgId);
    assert.equal(answer.session_token, editor.session_token);
    assert.ok(answer.session_jwt);
    assert.equal(answer.verdict ?? null, null);
  });

  await check("sessions", "authenticate_jwt_remotely", async () => {
    const answer = await client.sessions.authenticate({ session_jwt: editor.session_jwt });
    ok200(answer);
    assert.equal(answer.member_session.member_session_id, editor.member_session.member_session_id);
  });

  // The SDK documents "it will return an error if both are present".
  await check("sessions", "authenticate_token_and_jwt_together_400", () =>
    refused(client.sessions.authenticate({ session_token: editor.session_token, session_jwt: editor.session_jwt }),
            400, "invalid_request"));

  await check("sessions", "authenticate_with_an_allowed_check", async () => {
    const write = await client.sessions.authenticate({
      session_token: editor.session_token, authorization_check: authz(orgId, "documents", "write"),
    });
    ok200(write);
    assert.equal(write.verdict.authorized, true);
    assert.deepEqual(write.verdict.granting_roles, ["editor"]);
    const read = await client.sessions.authenticate({
      session_token: editor.session_token, authorization_check: authz(orgId, "documents", "read"),
    });
    assert.deepEqual([...read.verdict.granting_roles].sort(), ["editor", "viewer"]);
    return { verdict: write.verdict };
  });

  await check("sessions", "authenticate_with_a_denied_check_403", () =>
    refused(client.sessions.authenticate({
      session_token: viewer.session_token, authorization_check: authz(orgId, "documents", "write"),
    }), 403, "session_authorization_error"));

  await check("sessions", "authenticate_with_a_check_in_another_org_403", () =>
    refused(client.sessions.authenticate({
      session_token: outsider.session_token, authorization_check: authz(orgId, "stytch.member", "create"),
    }), 403, "session_authorization_tenancy_error"));

  await check("sessions", "get_jwks", async () => {
    const answer = await client.sessions.getJWKS({ project_id: projectId });
    ok200(answer);
    assert.ok(answer.keys.length >= 1);
    for (const key of answer.keys) assert.deepEqual([key.kty, key.alg], ["RSA", "RS256"]);
    const kid = JSON.parse(Buffer.from(editor.session_jwt.split(".")[0], "base64url")).kid;
    assert.ok(answer.keys.some((k) => k.kid === kid), "the signing key is published");
  });

  await check("sessions", "get_lists_the_members_sessions_and_revoke_ends_one", async () => {
    const address = email();
    const first = await signIn(client, orgId, address);
    const second = await signIn(client, orgId, address);
    const ids = (answer) => answer.member_sessions.map((s) => s.member_session_id).sort();
    const listed = await client.sessions.get({ organization_id: orgId, member_id: first.member_id });
    ok200(listed);
    assert.deepEqual(ids(listed),
                     [first.member_session.member_session_id, second.member_session.member_session_id].sort());

    const revoked = await client.sessions.revoke({ member_session_id: first.member_session.member_session_id });
    ok200(revoked);
    const after = await client.sessions.get({ organization_id: orgId, member_id: first.member_id });
    assert.deepEqual(ids(after), [second.member_session.member_session_id]);
    await refused(client.sessions.authenticate({ session_token: first.session_token }), 404, "session_not_found");
    await refused(client.sessions.authenticate({ session_jwt: first.session_jwt }), 404, "session_not_found");
    // The other session lives on.
    await client.sessions.authenticate({ session_token: second.session_token });
  });

  await check("sessions", "revoke_by_token_and_by_member", async () => {
    const address = email();
    const first = await signIn(client, orgId, address);
    await client.sessions.revoke({ session_token: first.session_token });
    await refused(client.sessions.authenticate({ session_token: first.session_token }), 404, "session_not_found");
    const a = await signIn(client, orgId, address);
    const b = await signIn(client, orgId, address);
    await client.sessions.revoke({ member_id: a.member_id });
    for (const s of [a, b]) {
      await refused(client.sessions.authenticate({ session_token: s.session_token }), 404, "session_not_found");
    }
    const listed = await client.sessions.get({ organization_id: orgId, member_id: a.member_id });
    assert.deepEqual(listed.member_sessions, []);
  });
}

// -- sessions.authenticateJwt / authenticateJwtLocal: the SDK's local path ---------------------

async function jwt(client, url, projectId, secret) {
  const orgId = (await newOrg(client)).organization_id;
  const editor = await signIn(client, orgId, email(), ["editor"]);
  const plain = await signIn(client, orgId, email());
  const outsider = await signIn(client, (await newOrg(client)).organization_id, email(), ["stytch_admin"]);
  // A fresh client: an empty policy cache and no keys yet.
  const local = makeClient(url, projectId, secret);
  const remote = (list) => list.filter((c) => c === "POST /v1/b2b/sessions/authenticate");

  await check("jwt", "claims_name_the_base_url_as_issuer", async () => {
    const claims = jwtClaims(editor.session_jwt);
    assert.equal(claims.iss, url); // what the SDK accepts: its base URL without the slash
    assert.deepEqual(claims.aud, [projectId]);
    assert.equal(claims.sub, editor.member_id);
    assert.equal(claims["https://stytch.com/organization"].organization_id, orgId);
    assert.equal(claims["https://stytch.com/session"].id, editor.member_session.member_session_id);
    return { iss: claims.iss };
  });

  await check("jwt", "local_without_a_check_makes_no_api_call", async () => {
    const { value, calls: made } = await callsDuring(() =>
      local.sessions.authenticateJwtLocal({ session_jwt: editor.session_jwt }))();
    assert.deepEqual(made, []);
    assert.equal(value.member_id, editor.member_id);
    assert.equal(value.member_session_id, editor.member_session.member_session_id);
    assert.equal(value.organization_id, orgId);
    assert.equal(value.organization_slug, editor.organization.organization_slug);
    assert.deepEqual([...value.roles].sort(), ["editor", "stytch_member"]);
    assert.equal(value.expires_at, new Date(editor.member_session.expires_at).toISOString());
    // The claims carry what the server answers for the session.
    const server = editor.member_session;
    assert.equal(value.started_at, server.started_at);
    assert.deepEqual(value.authentication_factors, server.authentication_factors);
    assert.deepEqual(value.custom_claims, server.custom_claims ?? {});
    return { member_session: value, server_session: server };
  });

  await check("jwt", "local_allowed_check_fetches_only_the_policies", async () => {
    const { value, calls: made } = await callsDuring(async () => {
      const first = await local.sessions.authenticateJwtLocal({
        session_jwt: editor.session_jwt, authorization_check: authz(orgId, "documents", "write"),
      });
      await local.sessions.authenticateJwtLocal({
        session_jwt: editor.session_jwt, authorization_check: authz(orgId, "documents", "read"),
      });
      return first;
    })();
    assert.equal(value.member_id, editor.member_id);
    assert.deepEqual(made.sort(), ["GET /v1/b2b/rbac/organizations/" + orgId, "GET /v1/b2b/rbac/policy"]);
    return { calls: made };
  });

  await check("jwt", "local_denied_check_is_invalid_permissions", async () => {
    const { calls: made } = await callsDuring(async () => {
      await clientError(local.sessions.authenticateJwtLocal({
        session_jwt: plain.session_jwt, authorization_check: authz(orgId, "documents", "read"),
      }), "invalid_permissions");
      await clientError(local.sessions.authenticateJwtLocal({
        session_jwt: editor.session_jwt, authorization_check: authz(orgId, "documents", "delete"),
      }), "invalid_permissions");
    })();
    assert.deepEqual(remote(made), []);
  });

  await check("jwt", "local_check_in_another_org_is_tenancy_mismatch", () =>
    clientError(local.sessions.authenticateJwtLocal({
      session_jwt: outsider.session_jwt, authorization_check: authz(orgId, "stytch.member", "create"),
    }), "tenancy_mismatch").then(() => ({})));

  await check("jwt", "local_org_custom_role_grants", async () => {
    const set = await client.rbac.organizations.setOrgPolicy({
      organization_id: orgId, org_policy: { roles: [AUDITOR] },
    });
    ok200(set);
    const auditor = await signIn(client, orgId, email(), ["auditor"]);
    const fresh = makeClient(url, projectId, secret); // the other client cached the empty org policy
    const answer = await fresh.sessions.authenticateJwtLocal({
      session_jwt: auditor.session_jwt, authorization_check: authz(orgId, "stytch.member", "search"),
    });
    assert.deepEqual([...answer.roles].sort(), ["auditor", "stytch_member"]);
    await clientError(fresh.sessions.authenticateJwtLocal({
      session_jwt: auditor.session_jwt, authorization_check: authz(orgId, "documents", "write"),
    }), "invalid_permissions");
  });

  await check("jwt", "authenticate_jwt_allowed_answers_locally", async () => {
    const { value, calls: made } = await callsDuring(() => local.sessions.authenticateJwt({
      session_jwt: editor.session_jwt, authorization_check: authz(orgId, "documents", "write"),
    }))();
    assert.deepEqual(made, []); // keys and policies were cached by the checks above
    assert.deepEqual(Object.keys(value).sort(), ["member_session", "session_jwt"]); // no server answer
    assert.equal(value.member_session.member_id, editor.member_id);
    assert.equal(value.session_jwt, editor.session_jwt);
  });

  await check("jwt", "authenticate_jwt_denied_falls_back_to_the_server_403", async () => {
    const { value, calls: made } = await callsDuring(() => refused(local.sessions.authenticateJwt({
      session_jwt: plain.session_jwt, authorization_check: authz(orgId, "documents", "read"),
    }), 403, "session_authorization_error"))();
    assert.deepEqual(remote(made), ["POST /v1/b2b/sessions/authenticate"]);
    return value;
  });

  await check("jwt", "authenticate_jwt_max_token_age_zero_asks_the_server", async () => {
    const { value, calls: made } = await callsDuring(() => local.sessions.authenticateJwt({
      session_jwt: editor.session_jwt, max_token_age_seconds: 0,
      authorization_check: authz(orgId, "documents", "write"),
    }))();
    ok200(value);
    assert.deepEqual(made, ["POST /v1/b2b/sessions/authenticate"]);
    assert.deepEqual(value.verdict.granting_roles, ["editor"]);
    assert.equal(value.member_session.member_id, editor.member_id);
  });

  await check("jwt", "a_client_with_another_base_url_rejects_the_issuer", async () => {
    // Same host, so the same JWKS (its path is absolute), but another issuer.
    const elsewhere = makeClient(`${url}/elsewhere`, projectId, secret);
    const error = await clientError(
      elsewhere.sessions.authenticateJwtLocal({ session_jwt: editor.session_jwt }), "jwt_invalid");
    assert.equal(error.cause?.code, "ERR_JWT_CLAIM_VALIDATION_FAILED", String(error.cause));
    assert.equal(error.cause?.claim, "iss");
    return { cause: String(error.cause) };
  });

  await check("jwt", "a_revoked_session_still_verifies_locally_until_it_expires", async () => {
    const doomed = await signIn(client, orgId, email(), ["editor"]);
    await client.sessions.revoke({ member_session_id: doomed.member_session.member_session_id });
    await refused(local.sessions.authenticateJwt({ session_jwt: doomed.session_jwt, max_token_age_seconds: 0 }),
                  404, "session_not_found");
    const answer = await local.sessions.authenticateJwtLocal({ session_jwt: doomed.session_jwt });
    assert.equal(answer.member_id, doomed.member_id);
  });
}

// -- rbac -------------------------------------------------------------------------------------------

async function rbac(client) {
  await check("rbac", "policy_has_the_defaults_and_the_project_roles", async () => {
    const answer = await client.rbac.policy();
    ok200(answer);
    const policy = answer.policy;
    const resources = Object.fromEntries(policy.resources.map((r) => [r.resource_id, r.actions]));
    assert.deepEqual(resources.documents, ["read", "write", "delete"]);
    for (const id of ["stytch.organization", "stytch.member", "stytch.sso", "stytch.self"]) {
      assert.ok(resources[id]?.length, id);
    }
    const roles = Object.fromEntries(policy.roles.map((r) => [
      r.role_id, Object.fromEntries(r.permissions.map((p) => [p.resource_id, [...p.actions].sort()])),
    ]));
    assert.deepEqual(policy.roles.slice(0, 2).map((r) => r.role_id), ["stytch_member", "stytch_admin"]);
    assert.deepEqual(roles.stytch_admin, {
      "stytch.organization": ["*"], "stytch.member": ["*"], "stytch.sso": ["*"],
    });
    assert.deepEqual(Object.keys(roles.stytch_member), ["stytch.self"]);
    assert.deepEqual(roles.editor, { documents: ["read", "write"] });
    assert.deepEqual(roles.viewer, { documents: ["read"] });
    assert.ok(Array.isArray(policy.scopes));
    return { roles: Object.keys(roles) };
  });

  const org = await newOrg(client);

  await check("rbac", "a_new_org_has_an_empty_org_policy", async () => {
    const answer = await client.rbac.organizations.getOrgPolicy({ organization_id: org.organization_id });
    ok200(answer);
    assert.deepEqual(answer.org_policy.roles, []);
  });

  await check("rbac", "set_org_policy_reads_back", async () => {
    const set = await client.rbac.organizations.setOrgPolicy({
      organization_id: org.organization_id, org_policy: { roles: [AUDITOR] },
    });
    ok200(set);
    assert.deepEqual(set.org_policy.roles, [AUDITOR]);
    const bySlug = await client.rbac.organizations.getOrgPolicy({ organization_id: org.organization_slug });
    assert.deepEqual(bySlug.org_policy.roles, [AUDITOR]);
    const got = (await client.organizations.get({ organization_id: org.organization_id })).organization;
    assert.deepEqual(got.custom_roles, [AUDITOR]);
  });

  await check("rbac", "an_invalid_org_policy_is_400_and_changes_nothing", async () => {
    const error = await refused(client.rbac.organizations.setOrgPolicy({
      organization_id: org.organization_id,
      org_policy: { roles: [{ role_id: "editor", description: "", permissions: [{ resource_id: "documents", actions: ["read"] }] }] },
    }), 400, "invalid_policy");
    const kept = await client.rbac.organizations.getOrgPolicy({ organization_id: org.organization_id });
    assert.deepEqual(kept.org_policy.roles, [AUDITOR]);
    return error;
  });

  await check("rbac", "wrong_secret_is_401", () =>
    refused(makeClient(client.gatehouseUrl, client.gatehouseProjectId, "secret-test-wrong").rbac.policy(),
            401, "unauthorized_credentials"));
}

// -- main -------------------------------------------------------------------------------------------

function makeClient(url, projectId, secret) {
  const base = { project_id: projectId, secret };
  // custom_base_url only over https (the SDK refuses anything else); `env` takes any URL.
  const client = new stytch.B2BClient(
    url.startsWith("https://") ? { ...base, custom_base_url: `${url}/` } : { ...base, env: `${url}/` },
  );
  client.gatehouseUrl = url;
  client.gatehouseProjectId = projectId;
  return client;
}

async function main() {
  const { url, projectId, secret, areas } = options();
  const client = makeClient(url, projectId, secret);
  const run = {
    orgs: () => orgs(client),
    members: () => members(client),
    passwords: () => passwords(client),
    sessions: () => sessions(client, projectId),
    jwt: () => jwt(client, url, projectId, secret),
    rbac: () => rbac(client),
  };
  for (const area of areas) {
    // A failure outside a check (say, in setting up an area's organization) is a check too.
    await check(area, "runs_to_completion", async () => {
      await run[area]();
    });
  }
  process.exitCode = failures ? 1 : 0;
}

await main();
