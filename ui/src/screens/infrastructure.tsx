// Infrastructure screens: zones, pods, clusters, hosts, primary storage (adding it) and a pool's copies.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { Row } from "../api";
import { ActionButton, Details, Dialog, ErrorText, Field, StateBadge } from "../components/controls";
import { DataTable } from "../components/table";
import { useApp } from "../context";
import { bytes, date, text } from "../format";
import { useLoad } from "../hooks";
import type { RouteDef } from "../route";
import { href, navigate } from "../router";
import { AddPool } from "./addpool";

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** Used of total as bytes and a percentage, with a meter for the eye. */
function Usage({ row }: { row: Row }): JSX.Element {
  const used = row.disksizeused;
  const total = row.disksizetotal;
  if (typeof used !== "number" || typeof total !== "number" || total <= 0) {
    return <span>{`${bytes(used)} of ${bytes(total)}`}</span>;
  }
  const percent = Math.round((used / total) * 1000) / 10;
  return (
    <span class="usage">
      <meter min={0} max={total} value={used} aria-label={`Used ${percent}%`} />{" "}
      {`${bytes(used)} of ${bytes(total)} (${percent}%)`}
    </span>
  );
}

function badge(key: string): (row: Row) => JSX.Element {
  return (row) => <StateBadge state={row[key]} />;
}

function Listing(props: {
  id: string;
  title: string;
  command: string;
  columns: { key: string; label: string; render?: (row: Row) => JSX.Element | string }[];
  link?: (row: Row) => string;
  refreshMs?: number;
  /** A toolbar over the table (an add button). */
  toolbar?: JSX.Element;
}): JSX.Element {
  return (
    <section aria-labelledby={props.id}>
      <h1 id={props.id}>{props.title}</h1>
      {props.toolbar !== undefined && <div class="toolbar">{props.toolbar}</div>}
      <DataTable
        command={props.command}
        caption={props.title}
        columns={props.columns}
        {...(props.link === undefined ? {} : { link: props.link })}
        {...(props.refreshMs === undefined ? {} : { refreshMs: props.refreshMs })}
      />
    </section>
  );
}

const POOL_COLUMNS = [
  { key: "name", label: "Name" },
  { key: "state", label: "State", render: badge("state") },
  { key: "zonename", label: "Zone" },
  { key: "scope", label: "Scope" },
  { key: "type", label: "Type" },
  { key: "disksizeused", label: "Usage", render: (row: Row) => <Usage row={row} /> },
];

/** A listed image's copy on the pool: storageid limits downloaddetails to that pool's. */
function copyOf(row: Row): Row {
  const details = Array.isArray(row.downloaddetails) ? (row.downloaddetails as Row[]) : [];
  return details[0] ?? {};
}

const COPY_COLUMNS = [
  { key: "name", label: "Name" },
  {
    key: "downloadState",
    label: "State",
    render: (row: Row) => {
      const copy = copyOf(row);
      return (
        <>
          <StateBadge state={copy.downloadState} />
          {str(copy.errortext) !== "" && <small class="muted"> {str(copy.errortext)}</small>}
        </>
      );
    },
  },
  {
    key: "downloadPercent",
    label: "Progress",
    render: (row: Row) => {
      const pct = copyOf(row).downloadPercent;
      return typeof pct === "number" ? `${pct}%` : "—";
    },
  },
  { key: "installpath", label: "Path", render: (row: Row) => text(copyOf(row).installpath) },
];

/** The copies of templates and ISOs on one pool, paged by the server (listTemplates' storageid). */
function PoolCopies({ poolId }: { poolId: string }): JSX.Element {
  return (
    <>
      <DataTable
        command="listTemplates"
        params={{ templatefilter: "all", storageid: poolId }}
        columns={COPY_COLUMNS}
        caption="Template copies on this pool"
        link={(row) => `/templates/${str(row.id)}`}
        refreshMs={5000}
        pageSize={10}
        empty="No template copies on this pool."
      />
      <DataTable
        command="listIsos"
        params={{ isofilter: "all", storageid: poolId }}
        columns={COPY_COLUMNS}
        caption="ISO copies on this pool"
        link={(row) => `/isos/${str(row.id)}`}
        refreshMs={5000}
        pageSize={10}
        empty="No ISO copies on this pool."
      />
    </>
  );
}

// A pool may enter maintenance from these states; cancelling brings these back Up.
const MAINTAINABLE = new Set(["Up", "Disabled", "ErrorInMaintenance"]);
const IN_MAINTENANCE = new Set(["Maintenance", "ErrorInMaintenance"]);

/** Deleting a pool in Maintenance, with the choice to force it, in a dialog. */
function DeletePool({ pool, disabled }: { pool: Row; disabled: boolean }): JSX.Element {
  const { api } = useApp();
  const [open, setOpen] = useState(false);
  const [forced, setForced] = useState(false);
  const close = (): void => {
    setOpen(false);
    setForced(false);
  };
  return (
    <>
      <button
        type="button"
        class="danger"
        disabled={disabled}
        onClick={() => {
          setOpen(true);
        }}
      >
        Delete…
      </button>
      <Dialog title={`Delete pool ${str(pool.name)}`} open={open} onClose={close}>
        <p>
          Its template copies are removed from the storage. A pool that still holds volumes is
          not deleted.
        </p>
        <Field
          label="Forced"
          hint="Also expunge the volumes of destroyed instances; files no host can remove are left on the storage."
        >
          {(id, describedBy) => (
            <input
              id={id}
              type="checkbox"
              aria-describedby={describedBy}
              checked={forced}
              onChange={(e) => {
                setForced(e.currentTarget.checked);
              }}
            />
          )}
        </Field>
        <ActionButton
          label="Delete pool"
          kind="danger"
          confirm={
            forced
              ? "Delete this pool, expunging the volumes of its destroyed instances?"
              : "Delete this pool and its template copies?"
          }
          run={async () => {
            await api.call("deleteStoragePool", { id: str(pool.id), forced });
            return `Pool ${str(pool.name)} deleted`;
          }}
          done={() => {
            close();
            navigate("/storage");
          }}
        />
      </Dialog>
    </>
  );
}

/** Maintenance and deletion of a pool, by its state. */
function PoolActions({ pool, reload }: { pool: Row; reload: () => void }): JSX.Element {
  const { api } = useApp();
  const state = str(pool.state);
  const maintenance = (label: string, command: string) => async (): Promise<string> => {
    const result = await api.run(command, { id: str(pool.id) });
    const after = (result.storagepool ?? {}) as Row;
    return `${label}: ${text(after.state)}`;
  };
  return (
    <div class="toolbar" role="group" aria-label="Pool actions">
      <ActionButton
        label="Enable maintenance"
        disabled={!MAINTAINABLE.has(state)}
        confirm="Take this pool out of service? No new volume or template copy goes there, and instances with disks on it cannot start."
        run={maintenance("Maintenance", "enableStorageMaintenance")}
        done={reload}
      />
      <ActionButton
        label="Cancel maintenance"
        disabled={!IN_MAINTENANCE.has(state)}
        run={maintenance("Maintenance cancelled", "cancelStorageMaintenance")}
        done={reload}
      />
      <DeletePool pool={pool} disabled={state !== "Maintenance"} />
    </div>
  );
}

function PoolDetail({ id }: { id: string }): JSX.Element {
  const { api } = useApp();
  const pool = useLoad(() => api.list("listStoragePools", { id }), [id]);
  const row = pool.data?.items[0];
  return (
    <section aria-labelledby="pool-title">
      <h1 id="pool-title">Primary storage {row === undefined ? "" : text(row.name)}</h1>
      <ErrorText error={pool.error} />
      {row !== undefined && <PoolActions pool={row} reload={pool.reload} />}
      {row !== undefined && (
        <Details
          items={[
            ["State", <StateBadge state={row.state} />],
            ["Usage", <Usage row={row} />],
            ["Allocated", bytes(row.disksizeallocated)],
            ["Zone", text(row.zonename)],
            ["Cluster", text(row.clustername)],
            ["Scope", text(row.scope)],
            ["Type", text(row.type)],
            ["Path", text(row.path)],
            ["Created", date(row.created)],
          ]}
        />
      )}
      <PoolCopies poolId={id} />
    </section>
  );
}

export const routes: RouteDef[] = [
  {
    path: "/zones",
    title: "Zones",
    admin: true,
    nav: { section: "Infrastructure", label: "Zones" },
    view: () => (
      <Listing
        id="zones-title"
        title="Zones"
        command="listZones"
        columns={[
          { key: "name", label: "Name" },
          { key: "allocationstate", label: "Allocation", render: badge("allocationstate") },
          { key: "networktype", label: "Network type" },
          { key: "type", label: "Type" },
        ]}
      />
    ),
  },
  {
    path: "/pods",
    title: "Pods",
    admin: true,
    nav: { section: "Infrastructure", label: "Pods" },
    view: () => (
      <Listing
        id="pods-title"
        title="Pods"
        command="listPods"
        columns={[
          { key: "name", label: "Name" },
          { key: "zonename", label: "Zone" },
          { key: "allocationstate", label: "Allocation", render: badge("allocationstate") },
        ]}
      />
    ),
  },
  {
    path: "/clusters",
    title: "Clusters",
    admin: true,
    nav: { section: "Infrastructure", label: "Clusters" },
    view: () => (
      <Listing
        id="clusters-title"
        title="Clusters"
        command="listClusters"
        columns={[
          { key: "name", label: "Name" },
          { key: "zonename", label: "Zone" },
          { key: "podname", label: "Pod" },
          { key: "hypervisortype", label: "Hypervisor" },
          { key: "allocationstate", label: "Allocation", render: badge("allocationstate") },
        ]}
      />
    ),
  },
  {
    path: "/hosts",
    title: "Hosts",
    admin: true,
    nav: { section: "Infrastructure", label: "Hosts" },
    view: () => (
      <Listing
        id="hosts-title"
        title="Hosts"
        command="listHosts"
        refreshMs={10000}
        columns={[
          { key: "name", label: "Name" },
          { key: "state", label: "State", render: badge("state") },
          { key: "resourcestate", label: "Resource state", render: badge("resourcestate") },
          { key: "ipaddress", label: "IP address" },
          { key: "zonename", label: "Zone" },
          { key: "clustername", label: "Cluster" },
          { key: "version", label: "Version" },
          { key: "lastpinged", label: "Last heartbeat", render: (row) => date(row.lastpinged) },
        ]}
      />
    ),
  },
  {
    path: "/storage",
    title: "Primary storage",
    admin: true,
    nav: { section: "Infrastructure", label: "Primary storage" },
    view: () => (
      <Listing
        id="storage-title"
        title="Primary storage"
        command="listStoragePools"
        columns={POOL_COLUMNS}
        link={(row) => `/storage/${str(row.id)}`}
        toolbar={
          <a class="button primary-link" href={href("/storage/add")}>
            Add primary storage
          </a>
        }
      />
    ),
  },
  // Before /storage/:id, which would take "add" for an id.
  {
    path: "/storage/add",
    title: "Add primary storage",
    admin: true,
    nav: { section: "Infrastructure", label: "Add primary storage" },
    view: () => <AddPool />,
  },
  {
    path: "/storage/:id",
    title: "Primary storage pool",
    admin: true,
    view: (params) => <PoolDetail id={params.id ?? ""} />,
  },
];
