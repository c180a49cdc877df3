import { MemoryMetadataStore } from "../../src/metadata/memory_store.js";
import { describeMetadataStoreContract } from "./metadata_store_contract.js";

describeMetadataStoreContract("memory", {
  create: () => Promise.resolve(new MemoryMetadataStore()),
});
