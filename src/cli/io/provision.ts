/**
 * `keel provision`: asks a metadata node that waits for its cluster to be created (started with
 * `--metadata-servers` naming itself, without `--auto-provision`) to create it, over the node
 * transport's client connection on the node port. The node provisions with its own settings
 * (cluster name, partitions, replication) and answers whether it did.
 */

import { fromUtf8, utf8 } from "../../core/index.js";
import { NodeService } from "../../net/index.js";
import { TcpTransport } from "../../net/io/index.js";
import { peerAddressOf } from "../../metadata-server/io/index.js";
import { CliError, EXIT_SERVER_ERROR, EXIT_UNREACHABLE, EXIT_USAGE } from "./keel_cli.js";

export async function provisionCommand(
  out: (text: string) => void,
  node: string,
  clusterName: string | undefined,
  timeoutMs: number,
): Promise<void> {
  const address = peerAddressOf(node);
  if (address === undefined)
    throw new CliError(`--node needs the node port's host:port, got '${node}'`, EXIT_USAGE);
  const transport = TcpTransport.client();
  try {
    const outcome = await new Promise<Parameters<Parameters<TcpTransport["requestAt"]>[4]>[0]>(
      (resolve) =>
        transport.requestAt(
          address,
          NodeService.provision,
          utf8(JSON.stringify(clusterName === undefined ? {} : { clusterName })),
          timeoutMs,
          resolve,
        ),
    );
    if (!outcome.ok)
      throw new CliError(
        `no answer from ${node} (${outcome.detail}): is it a metadata node waiting to be provisioned?`,
        EXIT_UNREACHABLE,
      );
    const answer = JSON.parse(fromUtf8(outcome.payload)) as {
      provisioned: boolean;
      message: string;
    };
    if (!answer.provisioned) throw new CliError(answer.message, EXIT_SERVER_ERROR);
    out(answer.message);
  } finally {
    await transport.close();
  }
}
