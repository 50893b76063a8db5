// Instances (VMs): the list, the deploy form and a VM's detail page with its lifecycle actions.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { JobProgress, Row } from "../api";
import { messageOf } from "../api";
import { ActionButton, Details, ErrorText, Field, StateBadge } from "../components/controls";
import { DataTable } from "../components/table";
import { useApp } from "../context";
import { bytes, date, text } from "../format";
import { useLoad } from "../hooks";
import type { RouteDef } from "../route";
import { href, navigate } from "../router";

// While a VM is in one of these states a job is moving it: the detail page polls.
const TRANSITIONAL = new Set(["Starting", "Stopping", "Expunging", "Migrating", "Creating"]);
const POLL_MS = 3000;

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function InstanceList(): JSX.Element {
  return (
    <section aria-labelledby="instances-title">
      <h1 id="instances-title">Instances</h1>
      <div class="toolbar">
        <a class="button primary-link" href={href("/instances/deploy")}>
          Deploy instance
        </a>
      </div>
      <DataTable
        command="listVirtualMachines"
        params={{ listall: true }}
        caption="Instances"
        link={(row) => `/instances/${str(row.id)}`}
        refreshMs={10000}
        empty="No instances yet."
        columns={[
          { key: "name", label: "Name" },
          { key: "state", label: "State", render: (row) => <StateBadge state={row.state} /> },
          { key: "templatename", label: "Template or ISO", render: (row) => text(row.templatename ?? row.isoname) },
          { key: "serviceofferingname", label: "Offering" },
          { key: "hostname", label: "Host" },
          { key: "zonename", label: "Zone" },
          { key: "account", label: "Account" },
        ]}
      />
    </section>
  );
}

interface Choices {
  zones: Row[];
  offerings: Row[];
  diskOfferings: Row[];
}

function options(rows: Row[], empty?: string): JSX.Element[] {
  const list = rows.map((row) => (
    <option key={str(row.id)} value={str(row.id)}>
      {str(row.name) || str(row.id)}
    </option>
  ));
  return empty === undefined ? list : [<option key="" value="">{empty}</option>, ...list];
}

function DeployForm(): JSX.Element {
  const { api, notify } = useApp();
  const choices = useLoad<Choices>(async () => {
    const [zones, offerings, diskOfferings] = await Promise.all([
      api.list("listZones", { available: true }),
      api.list("listServiceOfferings", {}),
      api.list("listDiskOfferings", {}),
    ]);
    return { zones: zones.items, offerings: offerings.items, diskOfferings: diskOfferings.items };
  }, []);
  const [zone, setZone] = useState("");
  const [source, setSource] = useState<"template" | "iso">("template");
  const [image, setImage] = useState("");
  const [offering, setOffering] = useState("");
  const [diskOffering, setDiskOffering] = useState("");
  const [network, setNetwork] = useState("");
  const [name, setName] = useState("");
  const [progress, setProgress] = useState<JobProgress | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);

  const zoneId = zone || str(choices.data?.zones[0]?.id);
  const images = useLoad(
    () =>
      zoneId === ""
        ? Promise.resolve({ count: 0, items: [] as Row[] })
        : source === "template"
          ? api.list("listTemplates", { templatefilter: "executable", zoneid: zoneId, pagesize: 500, page: 1 })
          : api.list("listIsos", { isofilter: "executable", zoneid: zoneId, pagesize: 500, page: 1 }),
    [zoneId, source],
  );
  const networks = useLoad(
    () =>
      zoneId === ""
        ? Promise.resolve({ count: 0, items: [] as Row[] })
        : api.list("listNetworks", { zoneid: zoneId, listall: true, pagesize: 500, page: 1 }),
    [zoneId],
  );
  const imageId = image || str(images.data?.items[0]?.id);
  const offeringId = offering || str(choices.data?.offerings[0]?.id);
  const diskOfferingId = diskOffering || str(choices.data?.diskOfferings[0]?.id);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (imageId === "" || offeringId === "" || zoneId === "") {
      setError(`Choose a zone, a ${source === "iso" ? "ISO" : "template"} and a service offering`);
      return;
    }
    setError(undefined);
    setBusy(true);
    setProgress(null);
    notify("info", "Deploying the instance…");
    try {
      const result = await api.run(
        "deployVirtualMachine",
        {
          zoneid: zoneId,
          templateid: imageId,
          serviceofferingid: offeringId,
          diskofferingid: source === "iso" ? diskOfferingId : undefined,
          networkids: network || undefined,
          name: name.trim() || undefined,
        },
        setProgress,
      );
      const vm = (result.virtualmachine ?? result) as Row;
      notify("success", `Instance ${str(vm.name)} deployed (${str(vm.state)})`);
      navigate(`/instances/${str(vm.id)}`);
    } catch (err) {
      const message = messageOf(err);
      setError(message);
      notify("error", `Deploy failed: ${message}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="deploy-title">
      <h1 id="deploy-title">Deploy instance</h1>
      <ErrorText error={choices.error ?? images.error} />
      <form class="panel-form" onSubmit={(e) => void submit(e)} aria-busy={busy}>
        <Field label="Zone">
          {(id, d) => (
            <select id={id} aria-describedby={d} value={zoneId} onChange={(e) => { setZone(e.currentTarget.value); setImage(""); setNetwork(""); }}>
              {options(choices.data?.zones ?? [])}
            </select>
          )}
        </Field>
        <fieldset class="choice">
          <legend>Boot from</legend>
          <label>
            <input type="radio" name="source" value="template" checked={source === "template"} onChange={() => { setSource("template"); setImage(""); }} />{" "}
            A template
          </label>
          <label>
            <input type="radio" name="source" value="iso" checked={source === "iso"} onChange={() => { setSource("iso"); setImage(""); }} />{" "}
            An ISO
          </label>
        </fieldset>
        <Field label={source === "iso" ? "ISO" : "Template"} hint={images.loading ? "Loading…" : undefined}>
          {(id, d) => (
            <select id={id} aria-describedby={d} value={imageId} onChange={(e) => { setImage(e.currentTarget.value); }}>
              {options(images.data?.items ?? [], images.data?.items.length ? undefined : "None available")}
            </select>
          )}
        </Field>
        <Field label="Service offering">
          {(id, d) => (
            <select id={id} aria-describedby={d} value={offeringId} onChange={(e) => { setOffering(e.currentTarget.value); }}>
              {options(choices.data?.offerings ?? [])}
            </select>
          )}
        </Field>
        {source === "iso" && (
          <Field label="Disk offering" hint="The root disk of an instance booted from an ISO">
            {(id, d) => (
              <select id={id} aria-describedby={d} value={diskOfferingId} onChange={(e) => { setDiskOffering(e.currentTarget.value); }}>
                {options(choices.data?.diskOfferings ?? [])}
              </select>
            )}
          </Field>
        )}
        <Field label="Network" hint="Optional; without one the instance gets the zone's guest range">
          {(id, d) => (
            <select id={id} aria-describedby={d} value={network} onChange={(e) => { setNetwork(e.currentTarget.value); }}>
              {options(networks.data?.items ?? [], "Zone default")}
            </select>
          )}
        </Field>
        <Field label="Name" hint="Optional; a name is generated when left empty">
          {(id, d) => (
            <input id={id} aria-describedby={d} value={name} onInput={(e) => { setName(e.currentTarget.value); }} />
          )}
        </Field>
        <div class="toolbar">
          <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
            {busy ? "Deploying…" : "Deploy"}
          </button>
          {busy && (
            <span role="status">
              {progress === null ? "Submitting…" : `Job ${progress.jobid} running`}{" "}
              <progress aria-label="Deploy progress" {...(progress?.percent === undefined ? {} : { value: progress.percent, max: 100 })} />
            </span>
          )}
        </div>
        <ErrorText error={error} />
      </form>
    </section>
  );
}

function IsoAttach({ vm, done }: { vm: Row; done: () => void }): JSX.Element {
  const { api } = useApp();
  const isos = useLoad(
    () => api.list("listIsos", { isofilter: "executable", zoneid: str(vm.zoneid), pagesize: 500, page: 1 }),
    [str(vm.zoneid)],
  );
  const [iso, setIso] = useState("");
  const isoId = iso || str(isos.data?.items[0]?.id);
  const attached = str(vm.isoid) !== "";
  return (
    <div class="toolbar">
      {!attached && (
        <Field label="ISO to attach">
          {(id, d) => (
            <select id={id} aria-describedby={d} value={isoId} onChange={(e) => { setIso(e.currentTarget.value); }}>
              {options(isos.data?.items ?? [], isos.data?.items.length ? undefined : "None available")}
            </select>
          )}
        </Field>
      )}
      {!attached && (
        <ActionButton
          label="Attach ISO"
          disabled={isoId === ""}
          run={async () => {
            await api.run("attachIso", { id: isoId, virtualmachineid: str(vm.id) });
            return "ISO attached";
          }}
          done={done}
        />
      )}
      {attached && (
        <ActionButton
          label="Detach ISO"
          run={async () => {
            await api.run("detachIso", { virtualmachineid: str(vm.id) });
            return `ISO ${str(vm.isoname)} detached`;
          }}
          done={done}
        />
      )}
    </div>
  );
}

function InstanceDetail({ id }: { id: string }): JSX.Element {
  const { api } = useApp();
  const [poll, setPoll] = useState(false);
  const loaded = useLoad(
    () => api.list("listVirtualMachines", { id, listall: true }),
    [id],
    poll ? POLL_MS : undefined,
  );
  const vm = loaded.data?.items[0];
  const state = str(vm?.state);
  if (TRANSITIONAL.has(state) !== poll) setPoll(TRANSITIONAL.has(state));
  if (loaded.data !== undefined && vm === undefined) {
    return (
      <section aria-labelledby="instance-title">
        <h1 id="instance-title">Instance not found</h1>
        <p>
          It was expunged or you may not see it. <a href={href("/instances")}>All instances</a>
        </p>
      </section>
    );
  }
  const reload = loaded.reload;
  const lifecycle = (label: string, command: string, params: Record<string, string | boolean> = {}) =>
    async (): Promise<string> => {
      const result = await api.run(command, { id, ...params });
      const after = (result.virtualmachine ?? {}) as Row;
      return typeof after.state === "string" ? `${label}: ${after.state}` : `${label} done`;
    };
  const details = (vm?.details ?? {}) as Row;
  const nics = Array.isArray(vm?.nic) ? (vm.nic as Row[]) : [];
  const consoleLog = str(details.consolelog);
  return (
    <section aria-labelledby="instance-title">
      <p>
        <a href={href("/instances")}>← Instances</a>
      </p>
      <h1 id="instance-title">
        {vm === undefined ? "Instance" : `Instance ${str(vm.name)}`}{" "}
        {vm !== undefined && <StateBadge state={vm.state} />}
      </h1>
      <ErrorText error={loaded.error} />
      {vm !== undefined && (
        <>
          <div class="toolbar" role="group" aria-label="Instance actions">
            <ActionButton label="Start" kind="primary" disabled={state !== "Stopped"} run={lifecycle("Started", "startVirtualMachine")} done={reload} />
            <ActionButton label="Stop" disabled={state !== "Running"} run={lifecycle("Stopped", "stopVirtualMachine")} done={reload} />
            <ActionButton label="Force stop" disabled={state !== "Running" && state !== "Stopping"} confirm="Power the instance off at once, without a clean shutdown?" run={lifecycle("Stopped", "stopVirtualMachine", { forced: true })} done={reload} />
            <ActionButton label="Reboot" disabled={state !== "Running"} run={lifecycle("Rebooted", "rebootVirtualMachine")} done={reload} />
            <ActionButton label="Destroy" kind="danger" disabled={state === "Destroyed" || state === "Expunging"} confirm="Destroy this instance? It can be recovered until it is expunged." run={lifecycle("Destroyed", "destroyVirtualMachine")} done={reload} />
            <ActionButton
              label="Recover"
              disabled={state !== "Destroyed"}
              run={async () => {
                const result = await api.call("recoverVirtualMachine", { id });
                const after = (result.virtualmachine ?? {}) as Row;
                return `Recovered: ${text(after.state)}`;
              }}
              done={reload}
            />
            <ActionButton
              label="Expunge"
              kind="danger"
              disabled={state !== "Destroyed"}
              confirm="Expunge this instance? Its disks are deleted; it cannot be recovered."
              run={async () => {
                await api.run("expungeVirtualMachine", { id });
                return `Instance ${str(vm.name)} expunged`;
              }}
              done={() => {
                navigate("/instances");
              }}
            />
          </div>
          <Details
            items={[
              ["State", <StateBadge key="s" state={vm.state} />],
              ["Display name", text(vm.displayname)],
              ["Instance name", text(vm.instancename)],
              ["Zone", text(vm.zonename)],
              ["Host", text(vm.hostname)],
              ["Template", text(vm.templatename)],
              ["ISO attached", text(vm.isoname)],
              ["Service offering", text(vm.serviceofferingname)],
              ["CPUs", text(vm.cpunumber)],
              ["Memory", typeof vm.memory === "number" ? bytes(vm.memory * 1024 * 1024) : "—"],
              ["Account", text(vm.account)],
              ["Created", date(vm.created)],
              ["Accelerator", text(details.accelerator)],
              ["Last error", text(vm.lasterror)],
              ["ID", text(vm.id)],
            ]}
          />
          <h2>Networks</h2>
          <div class="table-wrap">
            <table>
              <caption>NICs ({nics.length})</caption>
              <thead>
                <tr>
                  <th scope="col">Network</th>
                  <th scope="col">IP address</th>
                  <th scope="col">MAC address</th>
                  <th scope="col">Default</th>
                </tr>
              </thead>
              <tbody>
                {nics.map((nic, index) => (
                  <tr key={str(nic.id) || index}>
                    <td>{text(nic.networkname)}</td>
                    <td>{text(nic.ipaddress)}</td>
                    <td>{text(nic.macaddress)}</td>
                    <td>{nic.isdefault === true ? "Yes" : "No"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <h2>ISO</h2>
          <IsoAttach vm={vm} done={reload} />
          <SerialConsole id={id} path={consoleLog} />
        </>
      )}
    </section>
  );
}

/** The tail of the VM's serial console log, read from its host through the API. */
function SerialConsole({ id, path }: { id: string; path: string }): JSX.Element {
  const { api } = useApp();
  const loaded = useLoad(() => api.call("getVirtualMachineConsoleLog", { id }), [id]);
  const [fresh, setFresh] = useState<Row | undefined>(undefined);
  const consolelog = (fresh ?? loaded.data?.consolelog) as Row | undefined;
  const log = str(consolelog?.log);
  const size = typeof consolelog?.size === "number" ? consolelog.size : 0;
  return (
    <>
      <h2 id="console-title">Serial console</h2>
      <div class="toolbar" role="group" aria-label="Serial console actions">
        <ActionButton
          label="Refresh"
          run={async () => {
            const result = await api.call("getVirtualMachineConsoleLog", { id });
            setFresh(result.consolelog as Row);
            return "Serial console refreshed";
          }}
        />
      </div>
      {fresh === undefined && <ErrorText error={loaded.error} />}
      {path !== "" && (
        <p class="muted">
          Logged on the host at <code>{path}</code>
          {consolelog?.truncated === true ? `; showing the end of ${bytes(size)}` : ""}.
        </p>
      )}
      {consolelog !== undefined && (
        // Focusable so keyboard users can scroll a long log.
        // eslint-disable-next-line jsx-a11y/no-noninteractive-tabindex
        <pre class="console-log" role="region" aria-labelledby="console-title" tabIndex={0}>
          {log === "" ? "No console output yet." : log}
        </pre>
      )}
    </>
  );
}

export const routes: RouteDef[] = [
  { path: "/instances", title: "Instances", nav: { section: "Compute", label: "Instances" }, view: () => <InstanceList /> },
  { path: "/instances/deploy", title: "Deploy instance", view: () => <DeployForm /> },
  { path: "/instances/:id", title: "Instance", view: (params) => <InstanceDetail id={params.id ?? ""} /> },
];
