import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderTable, rowsTable } from "./keel_cli.js";

describe("keel CLI tables", () => {
  it("pads columns to their widest cell and trims line ends", () => {
    assert.equal(
      renderTable(
        ["ID", "ROLE", "LSN"],
        [
          ["0", "leader", "17"],
          ["10", "follower", "3"],
        ],
      ),
      ["ID  ROLE      LSN", "0   leader    17", "10  follower  3"].join("\n"),
    );
  });

  it("shows query rows with the union of their columns, NULLs as blanks", () => {
    assert.equal(
      rowsTable([
        { id: "a", n: 1 },
        { id: "b", extra: [1, 2] },
      ]),
      ["ID  N  EXTRA", "a   1", "b      [1,2]"].join("\n"),
    );
  });
});
