// Direct-download certificates: the list with each host's state, upload, revoke and provision.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { Row } from "../api";
import { ActionButton, ErrorText, Field, StateBadge } from "../components/controls";
import { DataTable } from "../components/table";
import { useApp } from "../context";
import { text } from "../format";
import { useLoad } from "../hooks";
import type { RouteDef } from "../route";

// kvmcloud (as CloudStack) stores certificates for KVM hosts only.
const HYPERVISOR = "KVM";

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function hostsOf(row: Row): Row[] {
  return Array.isArray(row.hostsmap) ? (row.hostsmap as Row[]) : [];
}

/** Each host of a certificate: its name, its state badge and (on failure) why. */
function HostMap({ row }: { row: Row }): JSX.Element {
  const hosts = hostsOf(row);
  if (hosts.length === 0) return <span class="muted">No hosts</span>;
  return (
    <ul class="host-map" aria-label={`Hosts of ${str(row.alias)}`}>
      {hosts.map((host) => (
        <li key={str(host.hostid)}>
          <span>{text(host.hostname)}</span> <StateBadge state={host.status} />
          {str(host.details) !== "" && <small class="muted"> {str(host.details)}</small>}
        </li>
      ))}
    </ul>
  );
}

/** Revoke on the zone, or revoke on / provision to one chosen host of the zone. */
function CertificateActions({ row, reload }: { row: Row; reload: () => void }): JSX.Element {
  const { api } = useApp();
  const alias = str(row.alias);
  const hosts = useLoad(
    () => api.list("listHosts", { zoneid: str(row.zoneid), type: "Routing", pagesize: 100, page: 1 }),
    [str(row.zoneid)],
  );
  const [hostId, setHostId] = useState("");
  const chosen = hostId !== "" ? hostId : str(hosts.data?.items[0]?.id);
  const summary = (answer: Row): string => {
    const list = Object.values(answer).find(Array.isArray) as Row[] | undefined;
    const states = (list ?? [answer])
      .filter((h) => typeof h.status === "string")
      .map((h) => `${text(h.hostname)}: ${text(h.status)}`);
    return states.length === 0 ? "" : ` (${states.join(", ")})`;
  };
  return (
    <div class="cert-actions">
      <ActionButton
        label={`Revoke ${alias} for the zone`}
        kind="danger"
        confirm={`Revoke certificate ${alias} on every host of zone ${text(row.zonename)}?`}
        run={async () => {
          const answer = await api.run("revokeTemplateDirectDownloadCertificate", {
            id: str(row.id),
            zoneid: str(row.zoneid),
          });
          return `Certificate ${alias} revoked for the zone${summary(answer)}`;
        }}
        done={reload}
      />
      <Field label={`Host for ${alias}`}>
        {(id, describedBy) => (
          <select
            id={id}
            aria-describedby={describedBy}
            value={chosen}
            onChange={(e) => {
              setHostId(e.currentTarget.value);
            }}
          >
            {(hosts.data?.items ?? []).map((h) => (
              <option key={str(h.id)} value={str(h.id)}>
                {text(h.name)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <ActionButton
        label={`Revoke ${alias} on host`}
        disabled={chosen === ""}
        run={async () => {
          const answer = await api.run("revokeTemplateDirectDownloadCertificate", {
            id: str(row.id),
            zoneid: str(row.zoneid),
            hostid: chosen,
          });
          return `Certificate ${alias} revoked on the host${summary(answer)}`;
        }}
        done={reload}
      />
      <ActionButton
        label={`Provision ${alias} to host`}
        disabled={chosen === ""}
        run={async () => {
          const answer = await api.run("provisionTemplateDirectDownloadCertificate", {
            id: str(row.id),
            hostid: chosen,
          });
          return `Certificate ${alias} provisioned${summary(answer)}`;
        }}
        done={reload}
      />
      <ErrorText error={hosts.error} />
    </div>
  );
}

/** The upload form: name, zone and the PEM pasted or read from a file. */
function UploadForm({ uploaded }: { uploaded: () => void }): JSX.Element {
  const { api, notify } = useApp();
  const zones = useLoad(() => api.list("listZones", { pagesize: 100, page: 1 }), []);
  const [name, setName] = useState("");
  const [zoneId, setZoneId] = useState("");
  const [pem, setPem] = useState("");
  const zone = zoneId !== "" ? zoneId : str(zones.data?.items[0]?.id);
  const readFile = (input: HTMLInputElement): void => {
    const file = input.files?.[0];
    if (file === undefined) return;
    const reader = new FileReader();
    reader.onload = () => {
      setPem(typeof reader.result === "string" ? reader.result : "");
      notify("info", `Read ${file.name}`);
    };
    reader.onerror = () => {
      notify("error", `Could not read ${file.name}`);
    };
    reader.readAsText(file);
  };
  return (
    <form
      class="upload-cert"
      aria-labelledby="upload-cert-title"
      onSubmit={(e) => {
        e.preventDefault();
      }}
    >
      <h2 id="upload-cert-title">Upload certificate</h2>
      <ErrorText error={zones.error} />
      <div class="toolbar">
        <Field label="Name">
          {(id, describedBy) => (
            <input
              id={id}
              aria-describedby={describedBy}
              value={name}
              required
              onInput={(e) => {
                setName(e.currentTarget.value);
              }}
            />
          )}
        </Field>
        <Field label="Zone">
          {(id, describedBy) => (
            <select
              id={id}
              aria-describedby={describedBy}
              value={zone}
              onChange={(e) => {
                setZoneId(e.currentTarget.value);
              }}
            >
              {(zones.data?.items ?? []).map((z) => (
                <option key={str(z.id)} value={str(z.id)}>
                  {text(z.name)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Certificate file" hint="Or paste the PEM below">
          {(id, describedBy) => (
            <input
              id={id}
              type="file"
              accept=".pem,.crt,.cer,text/plain"
              aria-describedby={describedBy}
              onChange={(e) => {
                readFile(e.currentTarget);
              }}
            />
          )}
        </Field>
      </div>
      <Field label="Certificate (PEM)">
        {(id, describedBy) => (
          <textarea
            id={id}
            aria-describedby={describedBy}
            value={pem}
            spellcheck={false}
            onInput={(e) => {
              setPem(e.currentTarget.value);
            }}
          />
        )}
      </Field>
      <ActionButton
        label="Upload certificate"
        kind="primary"
        disabled={name.trim() === "" || zone === "" || pem.trim() === ""}
        run={async () => {
          const answer = await api.run("uploadTemplateDirectDownloadCertificate", {
            name: name.trim(),
            zoneid: zone,
            hypervisor: HYPERVISOR,
            certificate: pem.trim(),
          });
          return `Certificate ${text(answer.alias ?? name)} uploaded`;
        }}
        done={() => {
          setName("");
          setPem("");
          uploaded();
        }}
      />
    </form>
  );
}

function Certificates(): JSX.Element {
  // A new upload changes the list: a key bump remounts the table, which loads it again.
  const [generation, setGeneration] = useState(0);
  return (
    <section class="admin-screen" aria-labelledby="certificates-title">
      <h1 id="certificates-title">Certificates</h1>
      <p class="muted">
        CA certificates the KVM hosts trust for HTTPS direct downloads, with each host's state.
      </p>
      <UploadForm
        uploaded={() => {
          setGeneration((g) => g + 1);
        }}
      />
      <DataTable
        key={generation}
        command="listTemplateDirectDownloadCertificates"
        params={{ listhosts: true }}
        caption="Direct-download certificates"
        empty="No certificates uploaded."
        columns={[
          { key: "alias", label: "Name" },
          { key: "zonename", label: "Zone" },
          { key: "subject", label: "Subject" },
          { key: "validity", label: "Validity" },
          { key: "hostsmap", label: "Hosts", render: (row) => <HostMap row={row} /> },
        ]}
        actions={(row, reload) => <CertificateActions row={row} reload={reload} />}
      />
    </section>
  );
}

export const routes: RouteDef[] = [
  {
    path: "/certificates",
    title: "Certificates",
    admin: true,
    nav: { section: "Infrastructure", label: "Certificates" },
    view: () => <Certificates />,
  },
];
