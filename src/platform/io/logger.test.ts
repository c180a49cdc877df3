import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LogLevels, consoleLogger } from "./logger.js";

describe("the node's logger", () => {
  const capture = (format: "text" | "json", level: "debug" | "info" | "warn" = "info") => {
    const lines: string[] = [];
    const logger = consoleLogger(level, "n7", format, (line) => lines.push(line));
    return { logger, lines };
  };

  it("writes one JSON object per line with node, module, and the invocation id under one name", () => {
    const { logger, lines } = capture("json");
    logger.forModule("invoker").info("attempt failed", {
      invocation: "inv_1abc",
      partition: 3,
      message: "the caller's own message field",
    });
    assert.equal(lines.length, 1);
    assert.ok(lines[0]!.endsWith("\n"));
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(record["node"], "n7");
    assert.equal(record["module"], "invoker");
    assert.equal(record["level"], "info");
    assert.equal(record["message"], "attempt failed");
    assert.equal(record["invocation_id"], "inv_1abc");
    assert.equal(record["partition"], 3);
    assert.equal(record["field_message"], "the caller's own message field");
    assert.equal(record["invocation"], undefined);
  });

  it("writes a field JSON cannot hold as its text instead of throwing", () => {
    const { logger, lines } = capture("json");
    logger.warn("odd field", { big: 10n });
    assert.equal((JSON.parse(lines[0]!) as Record<string, unknown>)["big"], "10");
  });

  it("keeps the text format of a person's terminal, naming the module", () => {
    const { logger, lines } = capture("text");
    logger.info("plain");
    logger.forModule("partition").warn("lost", { partition: 1 });
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO {2}\[n7\] plain\n$/);
    assert.match(lines[1]!, / WARN {2}\[n7 partition\] lost \{"partition":1\}\n$/);
  });

  it("filters by the module's own level, else by the default, both changeable at run time", () => {
    const { logger, lines } = capture("json", "warn");
    const invoker = logger.forModule("invoker");
    invoker.debug("hidden");
    logger.levels.setModule("invoker", "debug");
    invoker.debug("shown");
    logger.forModule("ingress").info("still hidden: ingress follows the default");
    logger.levels.setModule("invoker", undefined);
    invoker.debug("hidden again");
    logger.levels.setDefault("debug");
    invoker.debug("shown by the default");
    const messages = lines.map((l) => (JSON.parse(l) as { message: string }).message);
    assert.deepEqual(messages, ["shown", "shown by the default"]);
  });

  it("refuses a module it does not know (nothing could set its level)", () => {
    const { logger } = capture("text");
    assert.throws(() => logger.forModule("invokr"), /log module 'invokr'/);
  });

  it("describes the levels in force", () => {
    const levels = new LogLevels("info");
    levels.setModule("endpoint", "error");
    const described = levels.describe();
    assert.equal(described.default, "info");
    assert.equal(described.modules.endpoint, "error");
    assert.equal(described.modules.node, "info");
    assert.deepEqual(described.own, ["endpoint"]);
  });
});
