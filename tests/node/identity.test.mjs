// Identity: JWT (HS256) on negotiate and connect, user ids, attributes.

import { describe } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  useHost,
  spec,
  makeJwt,
  rejection,
  negotiate,
  nextMessage,
  inbox,
  rawConnect,
  DEADLINE,
} from "./harness.mjs";

const HUB = "/hubs/testhub";
const SECRET = "test-secret-for-wasmhub-identity-tests";

describe("identity", () => {
  const fx = useHost(["--jwt-secret", SECRET]);

  const token = (sub, claims = {}) => makeJwt({ sub, ...claims }, SECRET);
  const withToken = (t, opts = {}) => fx.connect(HUB, { ...opts, accessTokenFactory: () => t });

  describe("authentication", () => {
    spec("negotiate without a token: start() fails with 401 Unauthorized", async () => {
      const e = await rejection(fx.connect(HUB), DEADLINE, "start() without a token to fail");
      assert.equal(e.message, "Failed to complete negotiation with the server: Error: Unauthorized: Status code '401'");
    });

    spec("raw negotiate without a token is 401", async () => {
      const r = await negotiate(fx.url, HUB, { negotiateVersion: 1 });
      assert.equal(r.status, 401);
    });

    spec("a token with a bad signature is 401", async () => {
      const bad = makeJwt({ sub: "mallory" }, SECRET + "-wrong");
      const e = await rejection(withToken(bad), DEADLINE, "start() with a bad signature to fail");
      assert.match(e.message, /Unauthorized: Status code '401'/);
      const tampered = token("alice").replace(/\.([^.]+)\./, (_, p) => {
        const body = JSON.parse(Buffer.from(p, "base64url").toString());
        body.sub = "admin";
        return "." + Buffer.from(JSON.stringify(body)).toString("base64url") + ".";
      });
      const r = await negotiate(fx.url, HUB, { negotiateVersion: 1 }, { headers: { Authorization: `Bearer ${tampered}` } });
      assert.equal(r.status, 401);
    });

    spec("an expired token is 401", async () => {
      const now = Math.floor(Date.now() / 1000);
      const expired = token("alice", { iat: now - 7200, exp: now - 3600 });
      const e = await rejection(withToken(expired), DEADLINE, "start() with an expired token to fail");
      assert.match(e.message, /Unauthorized: Status code '401'/);
    });

    spec("garbage and unsigned (alg none) tokens are 401", async () => {
      const head = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
      const body = Buffer.from(JSON.stringify({ sub: "root" })).toString("base64url");
      for (const t of ["not-a-jwt", `${head}.${body}.`, `${head}.${body}`]) {
        const r = await negotiate(fx.url, HUB, { negotiateVersion: 1 }, { headers: { Authorization: `Bearer ${t}` } });
        assert.equal(r.status, 401, `token ${t}`);
      }
    });

    spec("a WebSocket without a token is refused with 401 (skipNegotiation path)", async () => {
      const e = await rejection(rawConnect(fx.url, HUB), DEADLINE, "upgrade without a token to fail");
      assert.equal(e.statusCode, 401, String(e));
    });

    spec("a WebSocket with a bad token in ?access_token= is refused", async () => {
      const bad = makeJwt({ sub: "mallory" }, "other-secret");
      const e = await rejection(
        rawConnect(fx.url, HUB, { query: { access_token: bad } }),
        DEADLINE,
        "upgrade with a bad token to fail",
      );
      assert.equal(e.statusCode, 401, String(e));
    });

    spec("a valid token via accessTokenFactory (Authorization header): GetUser is the sub", async () => {
      let calls = 0;
      const conn = await fx.connect(HUB, {
        accessTokenFactory: () => {
          calls++;
          return token("alice");
        },
      });
      assert.ok(calls >= 1);
      assert.equal(await conn.invoke("GetUser"), "alice");
      assert.equal(await conn.invoke("Echo", "authorized"), "authorized");
      await conn.stop();
    });

    spec("a valid token via ?access_token= on a skipNegotiation WebSocket", async () => {
      const conn = await fx.connect(HUB, { skipNegotiation: true, query: { access_token: token("bob") } });
      assert.equal(await conn.invoke("GetUser"), "bob");
      // The secret is not visible to the hub as a query parameter.
      assert.equal(await conn.invoke("GetQuery", "access_token"), null);
      await conn.stop();
    });

    spec("the Authorization header is not visible to the hub", async () => {
      const conn = await withToken(token("alice"));
      assert.equal(await conn.invoke("GetHeader", "Authorization"), null);
      await conn.stop();
    });

    spec("an async token factory works too", async () => {
      const conn = await fx.connect(HUB, { accessTokenFactory: async () => token("carol") });
      assert.equal(await conn.invoke("GetUser"), "carol");
      await conn.stop();
    });

    spec("a token whose nbf is in the future is 401; one within the clock-skew leeway passes", async () => {
      const now = Math.floor(Date.now() / 1000);
      const early = token("alice", { nbf: now + 600 });
      const r = await negotiate(fx.url, HUB, { negotiateVersion: 1 }, { headers: { Authorization: `Bearer ${early}` } });
      assert.equal(r.status, 401);
      const skewed = token("alice", { nbf: now + 5 });
      const ok = await negotiate(fx.url, HUB, { negotiateVersion: 1 }, { headers: { Authorization: `Bearer ${skewed}` } });
      assert.equal(ok.status, 200);
    });

    spec("query keys id and access_token match case-insensitively, as in ASP.NET", async () => {
      const t = token("dora");
      const r = await negotiate(fx.url, HUB, { negotiateVersion: 1, ACCESS_TOKEN: t });
      assert.equal(r.status, 200, r.body);
      const raw = await rawConnect(fx.url, HUB, {
        query: { Access_Token: t, ID: r.json.connectionToken },
      });
      assert.equal((await raw.invoke("1", "GetCallerConnectionId", [])).result, r.json.connectionId);
      assert.equal((await raw.invoke("2", "GetUser", [])).result, "dora");
      // Neither reaches the hub as a query parameter.
      assert.equal((await raw.invoke("3", "GetQuery", ["Access_Token"])).result, null);
      assert.equal((await raw.invoke("4", "GetQuery", ["ID"])).result, null);
      await raw.stop();
    });

    spec("a connection is closed when its token expires, with a Close that allows reconnecting", async () => {
      const now = Math.floor(Date.now() / 1000);
      const short = token("eve", { exp: now + 2 });
      const raw = await rawConnect(fx.url, HUB, { query: { access_token: short } });
      assert.equal((await raw.invoke("1", "Echo", ["before"])).result, "before");
      const close = await raw.nextMessage(10_000, { predicate: (m) => m.type === 7 });
      assert.deepEqual(close, { type: 7, error: "The access token expired.", allowReconnect: true });
      const waited = Date.now() / 1000 - now;
      assert.ok(waited >= 1, `closed after ${waited.toFixed(1)} s, before the token expired`);
      await raw.closed;
    });

    spec("on-connected may override the JWT's user (query user=)", async () => {
      const conn = await withToken(token("alice"), { query: { user: "alice-alt" } });
      assert.equal(await conn.invoke("GetUser"), "alice-alt");
      await conn.stop();
    });
  });

  describe("attributes", () => {
    spec("JWT claims become attributes", async () => {
      const conn = await withToken(token("alice", { role: "admin" }));
      const attrs = await conn.invoke("GetAttributes");
      assert.deepEqual(attrs.role, ["admin"]);
      await conn.stop();
    });

    spec("@-query parameters and #-headers become attributes (prefix stripped, keys lowercase)", async () => {
      const conn = await withToken(token("alice"), {
        query: "%40Team=Red&%40tag=one&%40tag=two&plain=not-an-attribute",
        headers: { "#Floor": "3" },
      });
      const attrs = await conn.invoke("GetAttributes");
      assert.deepEqual(attrs.team, ["Red"]);
      assert.deepEqual([...attrs.tag].sort(), ["one", "two"]);
      assert.deepEqual(attrs.floor, ["3"]);
      assert.equal("plain" in attrs, false);
      assert.equal("Team" in attrs, false);
      assert.equal("@team" in attrs, false);
      await conn.stop();
    });

    spec("ConnectionsByAttribute and SendToAttribute, with a value and with null", async () => {
      const eng = await withToken(token("u-eng"), { query: { "@dept": "eng" }, record: ["Note"] });
      const sales = await withToken(token("u-sales"), { query: { "@dept": "Sales" }, record: ["Note"] });
      const none = await withToken(token("u-none"), { record: ["Note"] });
      const sorted = (...cs) => cs.map((x) => x.connectionId).sort();

      assert.deepEqual(await none.invoke("ConnectionsByAttribute", "dept", "eng"), sorted(eng));
      // Values compare case-insensitively, and keys too.
      assert.deepEqual(await none.invoke("ConnectionsByAttribute", "DEPT", "ENG"), sorted(eng));
      assert.deepEqual(await none.invoke("ConnectionsByAttribute", "dept", "sales"), sorted(sales));
      // Wildcards.
      assert.deepEqual(await none.invoke("ConnectionsByAttribute", "dept", "s*"), sorted(sales));
      assert.deepEqual(await none.invoke("ConnectionsByAttribute", "dept", "?ng"), sorted(eng));
      // null: any value.
      assert.deepEqual(await none.invoke("ConnectionsByAttribute", "dept", null), sorted(eng, sales));
      assert.deepEqual(await none.invoke("ConnectionsByAttribute", "dept", "marketing"), []);

      await none.invoke("SendToAttribute", "dept", "eng", "Note", "eng only");
      assert.equal(await nextMessage(eng, "Note"), "eng only");
      await none.invoke("SendToAttribute", "dept", null, "Note", "all depts");
      assert.equal(await nextMessage(eng, "Note"), "all depts");
      assert.equal(await nextMessage(sales, "Note"), "all depts");
      // sales got "all depts" but never "eng only" before it.
      assert.deepEqual(
        inbox(sales, "Note").all.map((a) => a[0]),
        ["all depts"],
      );
      // `none` has no dept: a message to it directly arrives, nothing before.
      await none.invoke("SendToAttribute", "dept", "nobody-matches", "Note", "nobody");
      await none.invoke("InvokeWithString", "marker");
      assert.deepEqual(inbox(none, "Note").all, []);
      await Promise.all([eng.stop(), sales.stop(), none.stop()]);
    });

    spec("a claim wins over a client-chosen attribute of the same key: ?@role=admin cannot join role=user", async () => {
      const forger = await withToken(token("joe", { role: "user" }), {
        query: { "@role": "admin", "@team": "red" },
        headers: { "#Role": "admin" },
      });
      const attrs = await forger.invoke("GetAttributes");
      assert.deepEqual(attrs.role, ["user"]);
      // Attributes no claim names are still the client's to choose.
      assert.deepEqual(attrs.team, ["red"]);
      assert.deepEqual(await forger.invoke("ConnectionsByAttribute", "role", "admin"), []);
      assert.deepEqual(await forger.invoke("ConnectionsByAttribute", "role", "user"), [forger.connectionId]);
      await forger.stop();
    });

    spec("JWT-claim attributes are selectable", async () => {
      const admin = await withToken(token("root", { role: "admin" }));
      const user = await withToken(token("joe", { role: "user" }));
      assert.deepEqual(await user.invoke("ConnectionsByAttribute", "role", "admin"), [admin.connectionId]);
      await Promise.all([admin.stop(), user.stop()]);
    });
  });
});

describe("identity with a required issuer and audience", () => {
  const fx = useHost(["--jwt-secret", SECRET, "--jwt-issuer", "https://idp.test/", "--jwt-audience", "hubs"]);
  const status = async (claims) => {
    const t = makeJwt({ sub: "ann", ...claims }, SECRET);
    const r = await negotiate(fx.url, HUB, { negotiateVersion: 1 }, { headers: { Authorization: `Bearer ${t}` } });
    return r.status;
  };

  spec("only tokens from that issuer for that audience pass", async () => {
    assert.equal(await status({ iss: "https://idp.test/", aud: "hubs" }), 200);
    assert.equal(await status({ iss: "https://idp.test/", aud: ["other", "hubs"] }), 200);
    assert.equal(await status({ iss: "https://evil.test/", aud: "hubs" }), 401);
    assert.equal(await status({ iss: "https://idp.test/", aud: "other" }), 401);
    assert.equal(await status({ aud: "hubs" }), 401);
    assert.equal(await status({ iss: "https://idp.test/" }), 401);
  });
});

describe("identity with an RS256 public key", () => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const pemFile = path.join(mkdtempSync(path.join(tmpdir(), "wasmhub-jwt-")), "public.pem");
  writeFileSync(pemFile, publicKey.export({ type: "spki", format: "pem" }));
  const fx = useHost(["--jwt-public-key", pemFile]);

  spec("a token signed with the private key is accepted; sub is the user", async () => {
    const t = makeJwt({ sub: "rita", role: "ops" }, privateKey, "RS256");
    const conn = await fx.connect(HUB, { accessTokenFactory: () => t });
    assert.equal(await conn.invoke("GetUser"), "rita");
    assert.deepEqual((await conn.invoke("GetAttributes")).role, ["ops"]);
    await conn.stop();
  });

  spec("a token signed with another key, or with HS256, is 401", async () => {
    const wrongKey = makeJwt({ sub: "rita" }, other.privateKey, "RS256");
    // Algorithm confusion: HS256 keyed with the public key's PEM text.
    const confused = makeJwt({ sub: "rita" }, publicKey.export({ type: "spki", format: "pem" }), "HS256");
    for (const t of [wrongKey, confused]) {
      const r = await negotiate(fx.url, HUB, { negotiateVersion: 1 }, { headers: { Authorization: `Bearer ${t}` } });
      assert.equal(r.status, 401);
    }
    const e = await rejection(fx.connect(HUB), DEADLINE, "start() without a token to fail");
    assert.match(e.message, /Unauthorized: Status code '401'/);
  });
});
