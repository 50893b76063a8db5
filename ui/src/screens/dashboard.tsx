// The dashboard: how many of each resource there are.
import type { JSX } from "preact";

import { useApp } from "../context";
import { ErrorText } from "../components/controls";
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
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/", title: "Dashboard", nav: { section: "Overview", label: "Dashboard" }, view: () => <Dashboard /> },
];
