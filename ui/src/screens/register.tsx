// Registering a template or an ISO from a URL (KVM direct download), with request headers.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import { messageOf } from "../api";
import type { Params, Row } from "../api";
import { checksumError } from "../checksum";
import { Details, ErrorText, Field } from "../components/controls";
import { useApp } from "../context";
import { useLoad } from "../hooks";
import { href } from "../router";
import type { RouteDef } from "../route";

type Kind = "template" | "iso";

interface HeaderRow {
  key: number;
  name: string;
  value: string;
}

interface Mirror {
  url?: string;
  ok?: boolean;
  errortext?: string;
}

// CloudStack's other hypervisors: registerTemplate names them, kvmcloud refuses them (KVM only).
const OTHER_HYPERVISORS = ["XenServer", "VMware", "Hyperv", "LXC", "Ovm3", "Simulator"];
// The formats kvmcloud's registerTemplate accepts for KVM direct download.
const TEMPLATE_FORMATS = ["QCOW2", "RAW"];

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function Register({ kind }: { kind: Kind }): JSX.Element {
  const { api, notify } = useApp();
  const noun = kind === "template" ? "template" : "ISO";
  const [name, setName] = useState("");
  const [displayText, setDisplayText] = useState("");
  const [url, setUrl] = useState("");
  const [zone, setZone] = useState("");
  const [hypervisor, setHypervisor] = useState("KVM");
  const [format, setFormat] = useState(TEMPLATE_FORMATS[0] ?? "QCOW2");
  const [osType, setOsType] = useState("");
  const [checksum, setChecksum] = useState("");
  const [direct, setDirect] = useState(true);
  const [headers, setHeaders] = useState<HeaderRow[]>([]);
  const [nextKey, setNextKey] = useState(1);
  const [busy, setBusy] = useState(false);
  const [urlError, setUrlError] = useState<string | undefined>(undefined);
  const [result, setResult] = useState<Row | undefined>(undefined);

  const options = useLoad(
    () =>
      Promise.all([
        api.list("listZones", { pagesize: -1 }),
        kind === "template" ? api.list("listHypervisors") : Promise.resolve({ count: 0, items: [] }),
        api.list("listOsTypes", { pagesize: -1 }),
      ]),
    [kind],
  );
  const zones = options.data?.[0].items ?? [];
  const managed = (options.data?.[1].items ?? []).map((h) => text(h.name)).filter(Boolean);
  const hypervisors = [...managed, ...OTHER_HYPERVISORS.filter((h) => !managed.includes(h))];
  const osTypes = options.data?.[2].items ?? [];
  const chosenZone = zone !== "" ? zone : text(zones[0]?.id);
  // ISOs are KVM's here; a template's direct download exists for KVM only.
  const kvm = kind === "iso" || hypervisor.toUpperCase() === "KVM";
  const checksumProblem = checksumError(checksum);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (checksumProblem !== undefined) return;
    setBusy(true);
    setUrlError(undefined);
    setResult(undefined);
    notify("info", `Registering ${noun} ${name}…`);
    const params: Params = {
      name,
      displaytext: displayText || name,
      url,
      zoneid: chosenZone,
      ostypeid: osType,
      checksum: checksum.trim(),
      // Unchecked sends nothing: kvmcloud refuses false, and the zone setting decides.
      directdownload: kvm && direct ? true : undefined,
    };
    if (kind === "template") {
      params.hypervisor = hypervisor;
      params.format = format;
    }
    headers
      .filter((h) => h.name.trim() !== "")
      .forEach((h) => {
        params[`details[0].HTTP_HEADER:${h.name.trim()}`] = h.value;
      });
    try {
      const answer = await api.call(kind === "template" ? "registerTemplate" : "registerIso", params);
      const items = answer[kind];
      const first = Array.isArray(items) ? (items[0] as Row | undefined) : undefined;
      setResult(first ?? {});
      notify("success", `Registered ${noun} ${name}`);
    } catch (error) {
      setUrlError(messageOf(error));
      notify("error", `Registering ${noun} ${name} failed: ${messageOf(error)}`);
    } finally {
      setBusy(false);
    }
  };

  const setHeader = (key: number, change: Partial<HeaderRow>): void => {
    setHeaders((rows) => rows.map((row) => (row.key === key ? { ...row, ...change } : row)));
  };

  return (
    <section aria-labelledby="register-title">
      <h1 id="register-title">Register {noun}</h1>
      <ErrorText error={options.error} />
      <form class="register" aria-labelledby="register-title" onSubmit={(e) => void submit(e)}>
        <Field label="Name">
          {(id) => (
            <input id={id} name="name" required value={name} onInput={(e) => { setName(e.currentTarget.value); }} />
          )}
        </Field>
        <Field label="Display text" hint="The name when left empty">
          {(id, describedBy) => (
            <input
              id={id}
              name="displaytext"
              aria-describedby={describedBy}
              value={displayText}
              onInput={(e) => { setDisplayText(e.currentTarget.value); }}
            />
          )}
        </Field>
        <Field label="URL" hint="http(s)://…, nfs://server/export/path or a Metalink" error={urlError}>
          {(id, describedBy) => (
            <input
              id={id}
              name="url"
              type="url"
              required
              aria-describedby={describedBy}
              aria-invalid={urlError !== undefined}
              value={url}
              onInput={(e) => { setUrl(e.currentTarget.value); }}
            />
          )}
        </Field>
        <Field label="Zone" hint="Registering in all zones (zoneid -1) is not supported yet">
          {(id, describedBy) => (
            <select
              id={id}
              name="zoneid"
              aria-describedby={describedBy}
              value={chosenZone}
              onChange={(e) => { setZone(e.currentTarget.value); }}
            >
              {zones.map((z) => (
                <option key={text(z.id)} value={text(z.id)}>{text(z.name)}</option>
              ))}
            </select>
          )}
        </Field>
        {kind === "template" && (
          <Field label="Hypervisor" hint="kvmcloud registers KVM templates only">
            {(id, describedBy) => (
              <select
                id={id}
                name="hypervisor"
                aria-describedby={describedBy}
                value={hypervisor}
                onChange={(e) => { setHypervisor(e.currentTarget.value); }}
              >
                {hypervisors.map((h) => (
                  <option key={h} value={h}>{h}</option>
                ))}
              </select>
            )}
          </Field>
        )}
        <Field label="Format">
          {(id) =>
            kind === "template" ? (
              <select id={id} name="format" value={format} onChange={(e) => { setFormat(e.currentTarget.value); }}>
                {TEMPLATE_FORMATS.map((f) => (
                  <option key={f} value={f}>{f}</option>
                ))}
              </select>
            ) : (
              <select id={id} name="format" value="ISO" disabled>
                <option value="ISO">ISO</option>
              </select>
            )
          }
        </Field>
        <Field label="OS type">
          {(id) => (
            <select id={id} name="ostypeid" value={osType} onChange={(e) => { setOsType(e.currentTarget.value); }}>
              <option value="">(none)</option>
              {osTypes.map((o) => (
                <option key={text(o.id)} value={text(o.id)}>{text(o.description)}</option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label="Checksum"
          hint="{SHA-256}hex, or bare hex (its length gives MD5, SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512)"
          error={checksumProblem}
        >
          {(id, describedBy) => (
            <input
              id={id}
              name="checksum"
              spellcheck={false}
              aria-describedby={describedBy}
              aria-invalid={checksumProblem !== undefined}
              value={checksum}
              onInput={(e) => { setChecksum(e.currentTarget.value); }}
            />
          )}
        </Field>
        {kvm && (
          <div class="field check">
            <label>
              <input type="checkbox" name="directdownload" checked={direct} onChange={(e) => { setDirect(e.currentTarget.checked); }} />
              {" "}Direct download
            </label>
          </div>
        )}
        <fieldset class="headers">
          <legend>HTTP request headers</legend>
          {headers.map((row, index) => (
            <div class="header-row" key={row.key}>
              <Field label={`Header ${index + 1} name`}>
                {(id) => (
                  <input id={id} value={row.name} onInput={(e) => { setHeader(row.key, { name: e.currentTarget.value }); }} />
                )}
              </Field>
              <Field label={`Header ${index + 1} value`}>
                {(id) => (
                  <input
                    id={id}
                    type="password"
                    autoComplete="off"
                    value={row.value}
                    onInput={(e) => { setHeader(row.key, { value: e.currentTarget.value }); }}
                  />
                )}
              </Field>
              <button
                type="button"
                class="plain"
                aria-label={`Remove header ${index + 1}`}
                onClick={() => { setHeaders((rows) => rows.filter((r) => r.key !== row.key)); }}
              >
                Remove
              </button>
            </div>
          ))}
          <button
            type="button"
            class="plain"
            onClick={() => {
              setHeaders((rows) => [...rows, { key: nextKey, name: "", value: "" }]);
              setNextKey((k) => k + 1);
            }}
          >
            Add header
          </button>
        </fieldset>
        <button type="submit" class="primary" disabled={busy || checksumProblem !== undefined} aria-busy={busy}>
          {busy ? "Registering…" : `Register ${noun}`}
        </button>
      </form>
      {result !== undefined && <Registered kind={kind} row={result} />}
    </section>
  );
}

function Registered({ kind, row }: { kind: Kind; row: Row }): JSX.Element {
  const mirrors = Array.isArray(row.mirrors) ? (row.mirrors as Mirror[]) : [];
  const details = typeof row.details === "object" && row.details !== null ? (row.details as Row) : {};
  const id = text(row.id);
  return (
    <section class="registered" aria-labelledby="registered-title">
      <h2 id="registered-title">Registered {text(row.name)}</h2>
      <Details
        items={[
          ["ID", id],
          ["Zone", text(row.zonename)],
          ["Status", text(row.status)],
          ["Direct download", row.directdownload === true ? "Yes" : "No"],
          ...Object.entries(details).map(([k, v]): [string, string] => [k, text(v)]),
        ]}
      />
      {mirrors.length > 0 && (
        <>
          <h3>Mirror checks</h3>
          <ul class="mirrors">
            {mirrors.map((m, index) => (
              <li key={`${text(m.url)}-${index}`} class={m.ok === true ? "good" : "bad"}>
                {m.ok === true ? "OK" : "Failed"}: {text(m.url)}
                {m.errortext !== undefined && m.errortext !== "" && ` — ${m.errortext}`}
              </li>
            ))}
          </ul>
        </>
      )}
      {id !== "" && (
        <p>
          <a href={href(`/${kind === "template" ? "templates" : "isos"}/${id}`)}>Open the {kind === "template" ? "template" : "ISO"}</a>
        </p>
      )}
    </section>
  );
}

export const routes: RouteDef[] = [
  {
    path: "/templates/register",
    title: "Register template",
    nav: { section: "Images", label: "Register template" },
    view: () => <Register kind="template" />,
  },
  {
    path: "/isos/register",
    title: "Register ISO",
    nav: { section: "Images", label: "Register ISO" },
    view: () => <Register kind="iso" />,
  },
];
