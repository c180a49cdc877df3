import { MemoryLoglet } from "../../src/bifrost/memory_loglet.js";
import { describeLogletContract } from "./loglet_contract.js";

describeLogletContract("memory", {
  create: () => Promise.resolve(new MemoryLoglet()),
  reopen: (loglet) => Promise.resolve(loglet),
});
