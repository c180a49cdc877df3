import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { AccessToken } from "./access_token.js";

const requestWith = (authorization?: string): IncomingMessage =>
  ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;

describe("access tokens", () => {
  const token = new AccessToken("s3cret");

  it("admits the token as a bearer credential, the scheme in any case", () => {
    assert.equal(token.admits(requestWith("Bearer s3cret")), true);
    assert.equal(token.admits(requestWith("bearer s3cret")), true);
    assert.equal(token.admits(requestWith("BEARER  s3cret ")), true);
  });

  it("refuses a missing, wrong, longer, shorter or differently sent token", () => {
    for (const header of [
      undefined,
      "",
      "Bearer",
      "Bearer ",
      "Bearer s3cre",
      "Bearer s3crets",
      "Bearer S3CRET",
      "s3cret",
      "Basic s3cret",
      "Bearer s3cret extra",
    ])
      assert.equal(token.admits(requestWith(header)), false, `admitted ${header}`);
  });

  it("never admits an empty token, even when one is configured", () => {
    assert.equal(new AccessToken("").admits(requestWith()), false);
    assert.equal(new AccessToken("").admits(requestWith("Bearer ")), false);
  });
});
