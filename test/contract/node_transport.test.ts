/** The node transport contract over TCP, in process, and the simulator's network. */

import { NodeId } from "../../src/core/node_id.js";
import { InProcessNetwork } from "../../src/net/io/in_process_transport.js";
import { TcpTransport, type PeerAddress } from "../../src/net/io/tcp_transport.js";
import { RELIABLE_NETWORK, SimNetwork } from "../../src/sim/network.js";
import { SimTransport, type SimPacket } from "../../src/sim/ports.js";
import { SimScheduler } from "../../src/sim/scheduler.js";
import { describeNodeTransportContract } from "./node_transport_contract.js";

const realTime = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

describeNodeTransportContract("tcp", () => {
  const ports = new Map<NodeId, PeerAddress>();
  const started: TcpTransport[] = [];
  return {
    async node(id) {
      const transport = await TcpTransport.start({
        self: NodeId(id),
        generation: 1,
        listen: { host: "127.0.0.1", port: 0 },
        peers: () => ports,
        reconnectBackoffMsMin: 10,
        reconnectBackoffMsMax: 50,
      });
      ports.set(NodeId(id), { host: "127.0.0.1", port: transport.port });
      started.push(transport);
      return transport;
    },
    settle: realTime,
    async close() {
      for (const transport of started) await transport.close();
    },
  };
});

describeNodeTransportContract("in process", () => {
  const network = new InProcessNetwork();
  return {
    node: (id) => Promise.resolve(network.endpoint(NodeId(id))),
    settle: realTime,
    close: () => Promise.resolve(),
  };
});

describeNodeTransportContract("simulated network", () => {
  const scheduler = new SimScheduler(11);
  const network = new SimNetwork<SimPacket>(scheduler, RELIABLE_NETWORK);
  return {
    node: (id) => Promise.resolve(new SimTransport(network, scheduler, NodeId(id), 1)),
    settle: () => {
      scheduler.runFor(5);
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
});
