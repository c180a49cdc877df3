import { useState } from "preact/hooks";
import { admin, deployments, nodeStatus, services, version } from "../api.js";
import {
  Badge,
  Empty,
  ErrorBox,
  Notice,
  Section,
  formatTime,
  useAction,
  useLoad,
} from "../components.js";
import { href } from "../router.js";

const POLL_MS = 3000;

export function Overview() {
  const status = useLoad(nodeStatus, [], POLL_MS);
  const about = useLoad(version, []);
  const svc = useLoad(services, []);
  const deps = useLoad(deployments, []);
  const [uri, setUri] = useState("");
  const register = useAction();
  const node = status.data;
  const cluster = node?.cluster;
  return (
    <>
      <h1 tabIndex={-1}>Overview</h1>
      <ErrorBox error={status.error} />
      <div class="grid">
        <Section title="Health">
          {node === undefined ? (
            <Empty>{status.error === undefined ? "Loading…" : "No status."}</Empty>
          ) : (
            <dl class="facts">
              <dt>Node</dt>
              <dd>
                {node.node} {node.node_id ?? ""}
              </dd>
              <dt>Cluster</dt>
              <dd>{node.cluster_name}</dd>
              <dt>Ready</dt>
              <dd>
                <Badge value={node.ready ? "ready" : "not-ready"} />
              </dd>
              <dt>Nodes alive</dt>
              <dd>
                {cluster === undefined
                  ? "1 (single node)"
                  : `${cluster.nodes.filter((n) => n.alive).length} of ${cluster.nodes.length}`}
              </dd>
              <dt>Partitions</dt>
              <dd>
                {node.partitions.length} here
                {cluster === undefined
                  ? ""
                  : `, ${cluster.partitions.filter((p) => p.leader !== null).length} of ${cluster.partitions.length} led`}
              </dd>
              <dt>Running attempts</dt>
              <dd>{node.running_attempts}</dd>
              <dt>Schema version</dt>
              <dd>{node.schema_version}</dd>
              <dt>Versions</dt>
              <dd>
                Keel {node.keel_version}, Restate API {about.data?.version ?? "…"}
              </dd>
              <dt>Ingress</dt>
              <dd>{about.data?.ingress_endpoint ?? "…"}</dd>
              {node.storage_problem === null ? null : (
                <>
                  <dt>Storage</dt>
                  <dd class="bad">{node.storage_problem}</dd>
                </>
              )}
              {node.snapshot_problem === null ? null : (
                <>
                  <dt>Snapshots</dt>
                  <dd class="bad">{node.snapshot_problem}</dd>
                </>
              )}
            </dl>
          )}
        </Section>
        <Section title="Register a deployment">
          <form
            class="stack"
            onSubmit={(e) => {
              e.preventDefault();
              void register
                .run(`Registered ${uri}`, () => admin("POST", "/deployments", { uri }))
                .then((ok) => {
                  if (ok) {
                    setUri("");
                    svc.reload();
                    deps.reload();
                  }
                });
            }}
          >
            <label>
              Endpoint URI
              <input
                name="uri"
                type="url"
                required
                placeholder="http://localhost:9080"
                value={uri}
                onInput={(e) => setUri(e.currentTarget.value)}
              />
            </label>
            <button type="submit" disabled={register.busy}>
              Register
            </button>
          </form>
          <ErrorBox error={register.error} />
          <Notice message={register.message} />
        </Section>
      </div>
      <Section title="Services">
        <ErrorBox error={svc.error} />
        {svc.data === undefined ? null : svc.data.length === 0 ? (
          <Empty>No services yet: register a deployment above.</Empty>
        ) : (
          <table aria-label="Services">
            <thead>
              <tr>
                <th>Name</th>
                <th>Type</th>
                <th>Handlers</th>
                <th>Revision</th>
                <th>Deployment</th>
              </tr>
            </thead>
            <tbody>
              {svc.data.map((s) => (
                <tr key={s.name}>
                  <td>
                    <a href={href(`/services/${encodeURIComponent(s.name)}`)}>{s.name}</a>
                  </td>
                  <td>{s.ty}</td>
                  <td>{s.handlers.map((h) => h.name).join(", ")}</td>
                  <td>{s.revision}</td>
                  <td class="mono">{s.deployment_id}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Deployments">
        <ErrorBox error={deps.error} />
        {deps.data === undefined ? null : deps.data.length === 0 ? (
          <Empty>No deployments.</Empty>
        ) : (
          <table aria-label="Deployments">
            <thead>
              <tr>
                <th>Id</th>
                <th>Endpoint</th>
                <th>Created</th>
                <th>Protocol</th>
                <th>Services</th>
              </tr>
            </thead>
            <tbody>
              {deps.data.map((d) => (
                <tr key={d.id}>
                  <td class="mono">{d.id}</td>
                  <td>{d.uri ?? d.arn ?? ""}</td>
                  <td>{formatTime(d.created_at)}</td>
                  <td>
                    v{d.min_protocol_version}–v{d.max_protocol_version}
                  </td>
                  <td>{d.services.map((s) => `${s.name} (r${s.revision})`).join(", ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
    </>
  );
}
