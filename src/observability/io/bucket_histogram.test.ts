import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Histogram, Registry } from "prom-client";
import { BucketHistogram } from "./bucket_histogram.js";

const BUCKETS = [0.001, 0.01, 0.1, 1];
const VALUES = [0, 0.001, 0.0011, 0.05, 0.1, 3, 7.5];

describe("BucketHistogram", () => {
  it("exposes what prom-client's Histogram exposes for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const fast = new BucketHistogram("x_seconds", "help text", BUCKETS, ours);
    const labeled = new BucketHistogram("y_seconds", "by server", BUCKETS, ours, "log_server");
    const reference = new Histogram({
      name: "x_seconds",
      help: "help text",
      buckets: BUCKETS,
      registers: [theirs],
    });
    const referenceLabeled = new Histogram({
      name: "y_seconds",
      help: "by server",
      buckets: BUCKETS,
      labelNames: ["log_server"],
      registers: [theirs],
    });
    // Before any observation: the unlabeled series at zero, no labeled series.
    assert.equal(await ours.metrics(), await theirs.metrics());
    for (const value of VALUES) {
      fast.observe(value);
      reference.observe(value);
      labeled.observeLabeled("2", value);
      referenceLabeled.observe({ log_server: "2" }, value);
    }
    labeled.observeLabeled("3", 0.5);
    referenceLabeled.observe({ log_server: "3" }, 0.5);
    assert.equal(await ours.metrics(), await theirs.metrics());
  });
});
