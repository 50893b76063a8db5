// Adding primary storage (createStoragePool): NFS, SharedMountPoint, host-local Filesystem, RBD.
import type { JSX } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";

import { messageOf } from "../api";
import type { Params, Row } from "../api";
import { ErrorText, Field } from "../components/controls";
import { useApp } from "../context";
import { useLoad } from "../hooks";
import { fieldErrors, PROTOCOLS, poolUrl, URL_FIELDS } from "../poolurl";
import type { FieldName, PoolForm, Protocol, Scope } from "../poolurl";
import { navigate } from "../router";

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

const PROTOCOL_LABELS: Record<Protocol, string> = {
  nfs: "nfs",
  SharedMountPoint: "SharedMountPoint",
  Filesystem: "Filesystem (host-local)",
  RBD: "RBD (Ceph)",
};

// createStoragePool's parameters as the server's error texts name them, and the form's
// field that shows such an error; "url" errors go to the storage location's group.
const PARAM_FIELDS: readonly (readonly [string, FieldName | "url" | "zone" | "pod" | "tags"])[] = [
  ["url", "url"],
  ["clusterid", "clusterId"],
  ["hostid", "hostId"],
  ["podid", "pod"],
  ["zoneid", "zone"],
  ["tags", "tags"],
  ["name", "name"],
];

type ErrorSlot = FieldName | "url" | "zone" | "pod" | "tags" | "form";

/** Which control a server error belongs to: "Invalid parameter x:" first, else a named one. */
function slotOf(message: string): ErrorSlot {
  const prefixed = /^Invalid parameter (\w+)/i.exec(message)?.[1]?.toLowerCase();
  for (const [param, slot] of PARAM_FIELDS) {
    if (prefixed === param) return slot;
  }
  for (const [param, slot] of PARAM_FIELDS) {
    if (new RegExp(`(^|[^A-Za-z0-9])${param}([^A-Za-z0-9]|$)`, "i").test(message)) return slot;
  }
  return "form";
}

const EMPTY: PoolForm = {
  name: "",
  protocol: "nfs",
  scope: "cluster",
  clusterId: "",
  hostId: "",
  server: "",
  path: "",
  monitor: "",
  cephPool: "",
  cephUser: "",
  secret: "",
};

/** The add-pool form; a created pool opens its detail. */
export function AddPool(): JSX.Element {
  const { api, notify } = useApp();
  const [form, setForm] = useState<PoolForm>(EMPTY);
  const [zone, setZone] = useState("");
  const [pod, setPod] = useState("");
  const [tags, setTags] = useState("");
  const [tried, setTried] = useState(0);
  const [busy, setBusy] = useState(false);
  const [serverError, setServerError] = useState<{ slot: ErrorSlot; text: string } | undefined>(
    undefined,
  );
  const formRef = useRef<HTMLFormElement>(null);
  const urlErrorId = useId();

  const zones = useLoad(() => api.list("listZones", { pagesize: -1 }), []);
  const chosenZone = zone !== "" ? zone : text(zones.data?.items[0]?.id);
  const places = useLoad(
    () =>
      chosenZone === ""
        ? Promise.resolve([[], [], []] as Row[][])
        : Promise.all([
            api.list("listPods", { zoneid: chosenZone, pagesize: -1 }),
            api.list("listClusters", { zoneid: chosenZone, pagesize: -1 }),
            api.list("listHosts", { zoneid: chosenZone, type: "Routing", pagesize: -1 }),
          ]).then((pages) => pages.map((p) => p.items)),
    [chosenZone],
  );
  const pods = places.data?.[0] ?? [];
  const clusters = (places.data?.[1] ?? []).filter((c) => pod === "" || text(c.podid) === pod);
  const hosts = places.data?.[2] ?? [];
  // The first choice stands until the operator picks another (as the register form's zone).
  const clusterId = form.clusterId !== "" ? form.clusterId : text(clusters[0]?.id);
  const hostId = form.hostId !== "" ? form.hostId : text(hosts[0]?.id);
  const effective: PoolForm = { ...form, clusterId, hostId };
  const problems = tried > 0 ? fieldErrors(effective) : {};
  const hostScoped = form.protocol === "Filesystem";

  // After a refused submit, the first invalid control takes the focus.
  useEffect(() => {
    if (tried === 0 && serverError === undefined) return;
    formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [tried, serverError]);

  const change = (patch: Partial<PoolForm>): void => {
    setForm((old) => ({ ...old, ...patch }));
  };
  const errorOf = (slot: ErrorSlot): string | undefined =>
    serverError?.slot === slot ? serverError.text : undefined;
  const problemOf = (field: FieldName): string | undefined => problems[field] ?? errorOf(field);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setTried((t) => t + 1);
    setServerError(undefined);
    if (Object.keys(fieldErrors(effective)).length > 0) return;
    const params: Params = {
      name: effective.name.trim(),
      zoneid: chosenZone,
      url: poolUrl(effective),
      tags: tags.trim(),
    };
    if (hostScoped) {
      params.hostid = hostId;
    } else if (effective.scope === "zone") {
      params.scope = "zone";
      params.hypervisor = "KVM";
    } else {
      params.scope = "cluster";
      // The cluster's own pod, as CloudStack's UI sends it.
      params.podid = text(clusters.find((c) => text(c.id) === clusterId)?.podid) || undefined;
      params.clusterid = clusterId;
    }
    setBusy(true);
    notify("info", `Adding primary storage ${params.name as string}…`);
    try {
      const answer = await api.call("createStoragePool", params);
      const pool = (answer.storagepool ?? answer) as Row;
      notify("success", `Added primary storage ${text(pool.name)}`);
      navigate(`/storage/${text(pool.id)}`);
    } catch (error) {
      const message = messageOf(error);
      setServerError({ slot: slotOf(message), text: message });
      notify("error", `Adding primary storage failed: ${message}`);
    } finally {
      setBusy(false);
    }
  };

  const input = (field: FieldName, label: string, hint?: string, secret = false): JSX.Element => {
    const problem = problemOf(field);
    // A refused url concerns all its parts: each points to the one message under them.
    const urlError = URL_FIELDS[form.protocol].includes(field) && errorOf("url") !== undefined;
    return (
      <Field label={label} {...(hint === undefined ? {} : { hint })} error={problem}>
        {(id, describedBy) => (
          <input
            id={id}
            name={field}
            {...(secret ? { type: "password", autoComplete: "off", spellcheck: false } : {})}
            aria-describedby={[describedBy, urlError ? urlErrorId : ""].filter(Boolean).join(" ") || undefined}
            aria-invalid={problem !== undefined || urlError}
            value={form[field]}
            onInput={(e) => {
              change({ [field]: e.currentTarget.value });
            }}
          />
        )}
      </Field>
    );
  };

  const select = (
    label: string,
    name: string,
    value: string,
    rows: Row[],
    onChange: (value: string) => void,
    opts: { error?: string | undefined; hint?: string; any?: string } = {},
  ): JSX.Element => (
    <Field label={label} {...(opts.hint === undefined ? {} : { hint: opts.hint })} error={opts.error}>
      {(id, describedBy) => (
        <select
          id={id}
          name={name}
          aria-describedby={describedBy}
          aria-invalid={opts.error !== undefined}
          value={value}
          onChange={(e) => {
            onChange(e.currentTarget.value);
          }}
        >
          {opts.any !== undefined && <option value="">{opts.any}</option>}
          {rows.map((r) => (
            <option key={text(r.id)} value={text(r.id)}>
              {text(r.name)}
            </option>
          ))}
        </select>
      )}
    </Field>
  );

  return (
    <section aria-labelledby="addpool-title">
      <h1 id="addpool-title">Add primary storage</h1>
      <ErrorText error={zones.error ?? places.error} />
      <form
        ref={formRef}
        class="register"
        aria-labelledby="addpool-title"
        noValidate
        onSubmit={(e) => void submit(e)}
      >
        {input("name", "Name")}
        {select("Zone", "zoneid", chosenZone, zones.data?.items ?? [], (value) => {
          setZone(value);
          setPod("");
          change({ clusterId: "", hostId: "" });
        }, { error: errorOf("zone") })}
        <Field label="Protocol">
          {(id) => (
            <select
              id={id}
              name="protocol"
              value={form.protocol}
              onChange={(e) => {
                change({ protocol: e.currentTarget.value as Protocol });
              }}
            >
              {PROTOCOLS.map((p) => (
                <option key={p} value={p}>
                  {PROTOCOL_LABELS[p]}
                </option>
              ))}
            </select>
          )}
        </Field>
        {hostScoped ? (
          <>
            <Field label="Scope" hint="A Filesystem pool is a directory of one host">
              {(id, describedBy) => (
                <select id={id} name="scope" aria-describedby={describedBy} value="host" disabled>
                  <option value="host">Host</option>
                </select>
              )}
            </Field>
            {select("Host", "hostid", hostId, hosts, (value) => {
              change({ hostId: value });
            }, { error: problemOf("hostId") })}
          </>
        ) : (
          <>
            <Field label="Scope" hint="Zone: every KVM host of the zone reaches the storage">
              {(id, describedBy) => (
                <select
                  id={id}
                  name="scope"
                  aria-describedby={describedBy}
                  value={form.scope}
                  onChange={(e) => {
                    change({ scope: e.currentTarget.value as Scope });
                  }}
                >
                  <option value="cluster">Cluster</option>
                  <option value="zone">Zone</option>
                </select>
              )}
            </Field>
            {form.scope === "cluster" && (
              <>
                {select("Pod", "podid", pod, pods, (value) => {
                  setPod(value);
                  change({ clusterId: "" });
                }, { error: errorOf("pod"), any: "(any pod)" })}
                {select("Cluster", "clusterid", clusterId, clusters, (value) => {
                  change({ clusterId: value });
                }, { error: problemOf("clusterId") })}
              </>
            )}
          </>
        )}
        <fieldset class="headers">
          <legend>Storage location</legend>
          {form.protocol === "nfs" && (
            <>
              {input("server", "Server", "The NFS server's DNS name or IPv4 address")}
              {input("path", "Path", "The export's path, e.g. /export/primary")}
            </>
          )}
          {(form.protocol === "SharedMountPoint" || form.protocol === "Filesystem") &&
            input(
              "path",
              "Path",
              form.protocol === "Filesystem"
                ? "The directory on the chosen host"
                : "The directory mounted at the same path on every host of the scope",
            )}
          {form.protocol === "RBD" && (
            <>
              {input("monitor", "Monitor", "host or host:port (the v1 port, 6789 by default)")}
              {input("cephPool", "Ceph pool")}
              {input("cephUser", "Cephx user", "The id without client., e.g. cloudstack")}
              {input("secret", "Secret", "What 'ceph auth get-key client.<user>' prints", true)}
            </>
          )}
          {errorOf("url") !== undefined && (
            <small id={urlErrorId} class="error" role="alert">
              {errorOf("url")}
            </small>
          )}
        </fieldset>
        <Field label="Storage tags" hint="Comma-separated, e.g. ssd,fast" error={errorOf("tags")}>
          {(id, describedBy) => (
            <input
              id={id}
              name="tags"
              aria-describedby={describedBy}
              aria-invalid={errorOf("tags") !== undefined}
              value={tags}
              onInput={(e) => {
                setTags(e.currentTarget.value);
              }}
            />
          )}
        </Field>
        {serverError?.slot === "form" && (
          <p class="error" role="alert">
            {serverError.text}
          </p>
        )}
        {/* Until the zone's clusters and hosts are known a submit would send none of them. */}
        <button
          type="submit"
          class="primary"
          disabled={busy || zones.loading || places.loading}
          aria-busy={busy}
        >
          {busy ? "Adding…" : "Add primary storage"}
        </button>
      </form>
    </section>
  );
}
