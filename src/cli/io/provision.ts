/**
 * `keel provision`: asks a metadata node that waits for its cluster to be created (started with
 * `--metadata-servers` naming itself, without `--auto-provision`) to create it, over the node
 * transport's client connection on the node port. The node provisions with its own settings
 * (cluster name, partitions, replication) and answers whether it did.
 */

import { describeError, fromUtf8, utf8 } from "../../core/index.js";
import { NodeService } from "../../net/index.js";
import { ClusterCredentials, TcpTransport, type NodeTls } from "../../net/io/index.js";

/** keel-server's default `--cluster-name`. */
const DEFAULT_CLUSTER_NAME = "localcluster";
import { peerAddressOf } from "../../metadata-server/io/index.js";
import { CliError, EXIT_SERVER_ERROR, EXIT_UNREACHABLE, EXIT_USAGE } from "./keel_cli.js";

export async function provisionCommand(
  out: (text: string) => void,
  node: string,
  clusterName: string | undefined,
  timeoutMs: number,
  /** The cluster's secret, when its node ports require it (the key also takes the cluster's name). */
  secret: string | undefined,
  /** The node port's TLS, when the cluster's nodes require it. */
  tls?: NodeTls,
): Promise<void> {
  const address = peerAddressOf(node);
  if (address === undefined)
    throw new CliError(`--node needs the node port's host:port, got '${node}'`, EXIT_USAGE);
  let credentials: ClusterCredentials | undefined;
  try {
    credentials =
      secret === undefined
        ? undefined
        : new ClusterCredentials(utf8(secret), clusterName ?? DEFAULT_CLUSTER_NAME);
  } catch (error) {
    throw new CliError(describeError(error), EXIT_USAGE);
  }
  const transport = TcpTransport.client({
    ...(credentials === undefined ? {} : { credentials }),
    ...(tls === undefined ? {} : { tls }),
  });
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
        `no answer from ${node} (${outcome.detail}): is it a metadata node waiting to be provisioned${credentials === undefined ? "" : ", and is the cluster secret right"}${tls === undefined ? "" : ", and does its CA sign this certificate"}?`,
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
