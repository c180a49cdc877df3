/**
 * Raw HTTP/1.1 requests for fuzzing the ingress, written byte by byte (so that they can be wrong in
 * ways no HTTP client would allow): methods, request targets (Restate's URL shapes, mutated,
 * percent-encoded well and badly, huge), headers (missing, duplicated, invalid, huge, many), content
 * lengths that lie, chunked bodies, and bodies around the configured size limit.
 */

import type { Gen } from "./generate.js";

export interface RawRequest {
  readonly bytes: Buffer;
  /** A short description for failure messages. */
  readonly summary: string;
  /**
   * Known only for well-formed requests to a handler that reads its body: the body exceeds the
   * ingress limit, so the answer must be 413.
   */
  readonly mustBeTooLarge: boolean;
  /** The request ends before its declared body does: the server may close without answering. */
  readonly incomplete: boolean;
}

/** Handlers that answer at once whatever their input (none waits on a promise, a timer or a lock). */
const QUICK_CALLS = [
  "/Greeter/echo",
  "/Greeter/greet",
  "/Greeter/fail",
  "/Counter/{key}/add",
  "/Counter/{key}/get",
  "/LazyCounter/{key}/keys",
  "/Stamp/once",
];
const SENDS = ["/Greeter/echo/send", "/Counter/{key}/add/send", "/Ledger/{key}/append/send"];

export class HttpRequestGen {
  constructor(
    private readonly gen: Gen,
    private readonly bodyLimitBytes: number,
    /** Invocation ids the ingress gave out, to aim attach/output requests at. */
    private readonly knownIds: () => readonly string[],
  ) {}

  private key(): string {
    return this.gen.weighted<string>([
      [5, () => `fz${this.gen.int(20)}`],
      [1, () => encodeURIComponent(this.gen.text(12))],
      [1, () => "%" + this.gen.pick(["", "z", "zz", "e0", "E0%A4", "ff", "00", "2F", "C3%28"])],
    ]);
  }

  private segment(): string {
    return this.gen.weighted<string>([
      [
        4,
        () =>
          this.gen.pick([
            "Greeter",
            "Counter",
            "restate",
            "invocation",
            "send",
            "attach",
            "output",
            "add",
            "a",
            "workflow",
            "health",
            "awakeables",
            "resolve",
          ]),
      ],
      [2, () => this.key()],
      [1, () => this.gen.text(10).replace(/[\s/?#]/g, "_")],
      [1, () => this.gen.pick(["..", ".", "", "%2e%2e", "%", "%%", "\u00e9", "\u4e2d"])],
    ]);
  }

  private restatePath(): string {
    const ids = this.knownIds();
    const id =
      ids.length > 0 && this.gen.chance(0.7)
        ? this.gen.pick(ids)
        : this.gen.pick(["inv_1", "inv_" + this.gen.text(20), "", "sign_1abc"]);
    return this.gen.pick([
      `/restate/invocation/${id}/attach`,
      `/restate/invocation/${id}/output`,
      `/restate/invocation/Greeter/echo/${this.key()}/output`,
      `/restate/invocation/Counter/${this.key()}/add/${this.key()}/attach`,
      `/restate/workflow/Signup/${this.key()}/output`,
      `/restate/awakeables/${id}/resolve`,
      `/restate/a/${id}/reject`,
      "/restate/health",
      "/restate/",
      "/restate/health/extra",
    ]);
  }

  private path(): { path: string; readsBody: boolean } {
    const g = this.gen;
    return g.weighted<{ path: string; readsBody: boolean }>([
      [
        5,
        () => {
          // A plain key leaves the body as the first thing the ingress can refuse.
          const plain = g.chance(0.7);
          const key = plain ? `fz${g.int(20)}` : this.key();
          return {
            path: g.pick([...QUICK_CALLS, ...SENDS]).replace("{key}", key),
            readsBody: plain,
          };
        },
      ],
      [3, () => ({ path: this.restatePath(), readsBody: false })],
      [
        3,
        () => ({
          path: "/" + Array.from({ length: g.int(6) }, () => this.segment()).join("/"),
          readsBody: false,
        }),
      ],
      [
        1,
        () => ({
          path: g.pick([
            "*",
            "",
            "http://ingress/Greeter/echo",
            "//Greeter//echo//",
            "/?",
            "/#x",
            "Greeter/echo",
          ]),
          readsBody: false,
        }),
      ],
      [1, () => ({ path: "/" + "x".repeat(g.pick([1000, 9000, 70_000])), readsBody: false })],
    ]);
  }

  private query(): string {
    const g = this.gen;
    if (!g.chance(0.2)) return "";
    return (
      "?" +
      g.pick([
        "delay=1s",
        "delay=",
        "delay=PT1S",
        "delay=" + g.text(8).replace(/[\s#&]/g, ""),
        "delay=99999999999999999999d",
        "delay=P9999999999W",
        "delay=10ms&delay=20ms",
        "a=b&&=&c",
        "%zz=1",
      ])
    );
  }

  private body(): Buffer {
    const g = this.gen;
    return g.weighted<Buffer>([
      [
        6,
        () =>
          Buffer.from(
            JSON.stringify(
              g.pick<unknown>([1, "x", null, { a: [1, 2] }, g.text(30), -5, 1e308]) ?? null,
            ),
          ),
      ],
      [2, () => Buffer.from(g.bytes(200))],
      [2, () => Buffer.alloc(0)],
      [1, () => Buffer.from(g.text(100))],
      [2, () => Buffer.alloc(this.bodyLimitBytes + 1 + g.int(3 * this.bodyLimitBytes), 0x31)],
      [1, () => Buffer.alloc(this.bodyLimitBytes, 0x31)],
    ]);
  }

  private extraHeaders(): string[] {
    const g = this.gen;
    const out: string[] = [];
    const count = g.int(4);
    for (let i = 0; i < count; i++) {
      out.push(
        g.weighted<string>([
          [
            3,
            () =>
              `content-type: ${g.pick(["application/json", "text/plain", "application/json; charset=utf-8", "", "*/*", "application/octet-stream", g.text(20)])}`,
          ],
          [2, () => `idempotency-key: ${g.pick(["", "k1", g.text(30), "x".repeat(8000)])}`],
          [1, () => `idempotency-retention: ${g.text(6)}`],
          [1, () => `origin: ${g.pick(["http://a.b", "", g.text(10)])}`],
          [1, () => `access-control-request-headers: ${g.text(20)}`],
          [1, () => `expect: 100-continue`],
          [1, () => `x-${g.text(8).replace(/[^a-z0-9-]/gi, "a")}: ${g.text(20)}`],
          [1, () => `${g.pick(["bad header", "x\u0000y", "", ":", "ü-header"])}: v`],
          [1, () => `x-big: ${"v".repeat(g.pick([100, 20_000, 70_000]))}`],
          [1, () => Array.from({ length: 150 }, (_, k) => `x-many-${k}: ${k}`).join("\r\n")],
          [1, () => `x-ctl: a\u0001b\u007f`],
        ]),
      );
    }
    return out;
  }

  next(): RawRequest {
    const g = this.gen;
    const method = g.weighted<string>([
      [8, () => "POST"],
      [3, () => "GET"],
      [1, () => g.pick(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE"])],
      [1, () => g.pick(["FOO", "", "P0ST", "post", "GET GET"])],
    ]);
    const { path, readsBody } = this.path();
    const query = this.query();
    const target = path + query;
    const body = this.body();
    const extra = this.extraHeaders();
    const headers = ["host: ingress", "connection: close", ...extra];
    const framing = g.weighted<string>([
      [8, () => "length"],
      [2, () => "chunked"],
      [1, () => "none"],
      [1, () => "lie"],
    ]);
    let payload: Buffer = body;
    let incomplete = false;
    switch (framing) {
      case "length":
        headers.push(`content-length: ${body.length}`);
        break;
      case "chunked": {
        headers.push("transfer-encoding: chunked");
        const size = Math.max(1, Math.ceil(body.length / (1 + g.int(3))));
        const chunks: Buffer[] = [];
        for (let at = 0; at < body.length; at += size) {
          const chunk = body.subarray(at, at + size);
          chunks.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n"));
        }
        chunks.push(Buffer.from(g.chance(0.1) ? "zz\r\n\r\n" : "0\r\n\r\n"));
        payload = Buffer.concat(chunks);
        break;
      }
      case "lie": {
        const declared = g.pick([body.length + 10, Math.max(0, body.length - 3), -1, 2 ** 40]);
        headers.push(
          g.pick([
            `content-length: ${declared}`,
            `content-length: ${body.length}\r\ncontent-length: ${body.length + 1}`,
            `content-length: abc`,
          ]),
        );
        incomplete = declared > body.length;
        break;
      }
      default:
        payload = Buffer.alloc(0);
        break;
    }
    const head = `${method} ${target} HTTP/1.1\r\n${headers.join("\r\n")}\r\n\r\n`;
    const bytes = Buffer.concat([Buffer.from(head, "latin1"), payload]);
    const wellFormed =
      method === "POST" &&
      (framing === "length" || framing === "chunked") &&
      !payload.includes("zz\r\n");
    return {
      bytes,
      summary: `${method} ${target.slice(0, 120)} [${framing}, body ${body.length} bytes, headers ${headers.length}]`,
      mustBeTooLarge:
        wellFormed &&
        readsBody &&
        query === "" &&
        extra.length === 0 &&
        body.length > this.bodyLimitBytes,
      incomplete,
    };
  }
}
