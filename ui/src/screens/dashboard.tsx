// The dashboard: how many of each resource there are, downloads running and recent failures.
import type { JSX } from "preact";

import { useApp } from "../context";
import type { Row } from "../api";
import { ErrorText } from "../components/controls";
import { DataTable } from "../components/table";
import { date, text } from "../format";
import { useLoad } from "../hooks";
import { href } from "../router";
import type { RouteDef } from "../route";

interface Count {
  label: string;
  command: string;
  params: Record<string, string>;
  path: string;
  admin?: boolean;
}

const COUNTS: Count[] = [
  { label: "Templates", command: "listTemplates", params: { templatefilter: "all" }, path: "/templates" },
  { label: "ISOs", command: "listIsos", params: { isofilter: "all" }, path: "/isos" },
  { label: "Instances", command: "listVirtualMachines", params: { listall: "true" }, path: "/instances" },
  { label: "Hosts", command: "listHosts", params: {}, path: "/hosts", admin: true },
  { label: "Primary storage", command: "listStoragePools", params: {}, path: "/storage", admin: true },
];

function Dashboard(): JSX.Element {
  const { api } = useApp();
  const admin = api.isAdmin();
  const shown = COUNTS.filter((c) => admin || c.admin !== true);
  const counts = useLoad(
    () => Promise.all(shown.map((c) => api.list(c.command, { ...c.params, pagesize: 1, page: 1 }))),
    [admin],
  );
  return (
    <section aria-labelledby="dashboard-title">
      <h1 id="dashboard-title">Dashboard</h1>
      <ErrorText error={counts.error} />
      <ul class="tiles">
        {shown.map((c, index) => (
          <li key={c.label}>
            <a href={href(c.path)}>
              <span class="tile-count">{counts.data?.[index]?.count ?? "…"}</span>
              <span class="tile-label">{c.label}</span>
            </a>
          </li>
        ))}
      </ul>
      <Downloads />
      <h2 id="failures-title">Recent failures</h2>
      <DataTable
        command="listEvents"
        caption="Recent failures"
        params={{ level: "ERROR", listall: true }}
        pageSize={5}
        columns={[
          { key: "created", label: "Created", render: (r) => date(r.created) },
          { key: "type", label: "Type" },
          { key: "description", label: "Description" },
          { key: "account", label: "Account" },
        ]}
        empty="No failures."
      />
    </section>
  );
}

interface Download {
  template: string;
  pool: string;
  percent: number;
  key: string;
}

// The copies' states that mean a download is running (templates/models.py DownloadState).
const RUNNING = new Set(["DOWNLOAD_IN_PROGRESS"]);

function downloadsOf(templates: Row[]): Download[] {
  const found: Download[] = [];
  for (const template of templates) {
    const details = Array.isArray(template.downloaddetails) ? (template.downloaddetails as Row[]) : [];
    for (const copy of details) {
      if (typeof copy.downloadState !== "string" || !RUNNING.has(copy.downloadState)) continue;
      const percent = Number(copy.downloadPercent);
      found.push({
        template: text(template.name),
        pool: text(copy.datastore),
        percent: Number.isFinite(percent) ? percent : 0,
        key: `${text(template.id)}/${text(copy.datastoreid)}`,
      });
    }
  }
  return found;
}

/** Template copies being downloaded to primary storage now, with their progress. */
function Downloads(): JSX.Element {
  const { api } = useApp();
  const templates = useLoad(
    () => api.list("listTemplates", { templatefilter: "all", pagesize: 200, page: 1 }),
    [],
    5000,
  );
  const downloads = downloadsOf(templates.data?.items ?? []);
  return (
    <>
      <h2 id="downloads-title">Downloads in progress</h2>
      <ErrorText error={templates.error} />
      {downloads.length === 0 ? (
        <p class="muted">{templates.data === undefined ? "Loading…" : "No downloads in progress."}</p>
      ) : (
        <ul class="downloads" aria-labelledby="downloads-title">
          {downloads.map((d) => (
            <li key={d.key}>
              <span>
                {d.template} → {d.pool}
              </span>
              <progress max={100} value={d.percent} aria-label={`${d.template} to ${d.pool}`} />
              <span>{d.percent}%</span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

export const routes: RouteDef[] = [
  { path: "/", title: "Dashboard", nav: { section: "Overview", label: "Dashboard" }, view: () => <Dashboard /> },
];
