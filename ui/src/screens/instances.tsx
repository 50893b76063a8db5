// Instances (VMs): the list, the deploy wizard and a VM's detail page with its lifecycle actions.
import type { JSX } from "preact";
import { Fragment } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

import type { JobProgress, Row } from "../api";
import { messageOf } from "../api";
import { ActionButton, Details, ErrorText, Field, StateBadge } from "../components/controls";
import { DataTable } from "../components/table";
import { useApp } from "../context";
import { bytes, date, text } from "../format";
import { useLoad } from "../hooks";
import type { RouteDef } from "../route";
import { href, navigate } from "../router";
import { offeringsFor, poolTags, poolsWith, tagsOf } from "../storagetags";

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

function names(rows: Row[]): string {
  return rows.map((row) => str(row.name) || str(row.id)).join(", ");
}

// The deploy wizard's steps, in order, as CloudStack's own UI has them.
const STEPS = ["Zone", "Image", "Offering", "Network", "Review"] as const;
const LAST = STEPS.length - 1;
// What deployVirtualMachine accepts as a name (vms/service.py: _NAME).
const VM_NAME = /^[A-Za-z][A-Za-z0-9-]{0,62}$/;
const EMPTY = { count: 0, items: [] as Row[] };

/** The step indicator: where the wizard is, and buttons back to the steps already done. */
function StepList({ step, go }: { step: number; go: (to: number) => void }): JSX.Element {
  return (
    <nav aria-label="Deploy steps">
      <ol class="steps">
        {STEPS.map((label, index) => (
          <li
            key={label}
            class={index === step ? "current" : index < step ? "done" : undefined}
            aria-current={index === step ? "step" : undefined}
          >
            {index < step ? (
              <button type="button" class="plain" onClick={() => { go(index); }}>
                {index + 1}. {label}
              </button>
            ) : (
              <span>
                {index + 1}. {label}
              </span>
            )}
          </li>
        ))}
      </ol>
    </nav>
  );
}

function DeployWizard(): JSX.Element {
  const { api, notify } = useApp();
  const choices = useLoad<Choices>(async () => {
    const [zones, offerings, diskOfferings] = await Promise.all([
      api.list("listZones", { available: true }),
      api.list("listServiceOfferings", { pagesize: 500, page: 1 }),
      api.list("listDiskOfferings", { pagesize: 500, page: 1 }),
    ]);
    return { zones: zones.items, offerings: offerings.items, diskOfferings: diskOfferings.items };
  }, []);
  const [step, setStep] = useState(0);
  const [zone, setZone] = useState("");
  const [source, setSource] = useState<"template" | "iso">("template");
  const [image, setImage] = useState("");
  const [diskOffering, setDiskOffering] = useState("");
  const [chosenTags, setChosenTags] = useState<string[]>([]);
  const [offering, setOffering] = useState("");
  const [networkIds, setNetworkIds] = useState<string[]>([]);
  const [name, setName] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [progress, setProgress] = useState<JobProgress | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const heading = useRef<HTMLHeadingElement>(null);
  const moved = useRef(false);

  // A new step takes the focus to its heading, so keyboard and screen reader users start there.
  useEffect(() => {
    if (moved.current) heading.current?.focus();
  }, [step]);

  const zones = choices.data?.zones ?? [];
  const zoneId = zone || str(zones[0]?.id);
  const images = useLoad(
    () =>
      zoneId === ""
        ? Promise.resolve(EMPTY)
        : source === "template"
          ? api.list("listTemplates", { templatefilter: "executable", zoneid: zoneId, pagesize: 500, page: 1 })
          : api.list("listIsos", { isofilter: "executable", zoneid: zoneId, pagesize: 500, page: 1 }),
    [zoneId, source],
  );
  const networks = useLoad(
    () => (zoneId === "" ? Promise.resolve(EMPTY) : api.list("listNetworks", { zoneid: zoneId, listall: true, pagesize: 500, page: 1 })),
    [zoneId],
  );
  // Only admins may list pools (as in CloudStack); others choose among all offerings.
  const pools = useLoad(
    () => (zoneId === "" ? Promise.resolve(EMPTY) : api.list("listStoragePools", { zoneid: zoneId, pagesize: 500, page: 1 })),
    [zoneId],
  );

  const imageRows = images.data?.items ?? [];
  const imageId = image || str(imageRows[0]?.id);
  const imageRow = imageRows.find((row) => str(row.id) === imageId);
  const diskOfferings = choices.data?.diskOfferings ?? [];
  const diskOfferingId = diskOffering || str(diskOfferings[0]?.id);
  const poolRows = pools.data?.items ?? [];
  const tags = poolTags(poolRows);
  const offerings = offeringsFor(choices.data?.offerings ?? [], chosenTags);
  const offeringRow = offerings.find((row) => str(row.id) === offering) ?? offerings[0];
  const offeringId = str(offeringRow?.id);
  const offeringTags = tagsOf(offeringRow?.storagetags);
  const tagPools = poolsWith(poolRows, chosenTags);
  const rootPools = poolsWith(poolRows, offeringTags);
  const networkRows = networks.data?.items ?? [];
  const chosenNetworks = networkIds
    .map((id) => networkRows.find((row) => str(row.id) === id))
    .filter((row): row is Row => row !== undefined);
  const kind = source === "iso" ? "ISO" : "template";
  const nameError = name.trim() !== "" && !VM_NAME.test(name.trim())
    ? "Up to 63 letters, digits and hyphens, starting with a letter"
    : undefined;

  // The step's choices are still coming: Next waits for them rather than judging a blank.
  const loading =
    choices.loading ||
    (step === 1 && images.loading) ||
    (step === 2 && pools.loading) ||
    (step === 3 && networks.loading);

  /** Why the wizard cannot leave `at`, or undefined when it can. */
  const invalid = (at: number): string | undefined => {
    if (at === 0 && zoneId === "") return "Choose a zone: none is available to you";
    if (at === 1 && imageId === "") return `Choose a ${kind}: none is ready in this zone`;
    if (at === 1 && source === "iso" && diskOfferingId === "") return "Choose a disk offering for the ISO's root disk";
    if (at === 2 && chosenTags.length > 0 && pools.data !== undefined && tagPools.length === 0)
      return "No primary storage pool of this zone carries all the chosen tags: choose fewer";
    if (at === 2 && offeringId === "")
      return chosenTags.length > 0
        ? "No service offering has all of its storage tags among the chosen pool tags: choose other tags"
        : "Choose a service offering: none is available to you";
    if (at === LAST && nameError !== undefined) return `Name: ${nameError}`;
    return undefined;
  };

  const go = (to: number): void => {
    moved.current = true;
    setError(undefined);
    setStep(to);
  };

  const deploy = async (): Promise<void> => {
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
          networkids: networkIds.length > 0 ? networkIds.join(",") : undefined,
          name: name.trim() || undefined,
          displayname: displayName.trim() || undefined,
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

  // Enter in a field, or the Next button, submits the step: check it, then go on or deploy.
  const submit = (event: Event): void => {
    event.preventDefault();
    // The first invalid step up to this one: a zone change may have emptied an earlier choice.
    for (let at = 0; at <= step; at++) {
      const why = invalid(at);
      if (why === undefined) continue;
      if (at !== step) go(at);
      setError(why);
      return;
    }
    setError(undefined);
    if (step < LAST) go(step + 1);
    else void deploy();
  };

  const toggleTag = (tag: string, on: boolean): void => {
    setChosenTags((old) => (on ? [...old, tag] : old.filter((t) => t !== tag)));
    setError(undefined);
  };
  const toggleNetwork = (id: string, on: boolean): void => {
    setNetworkIds((old) => (on ? [...old, id] : old.filter((n) => n !== id)));
  };

  const body: JSX.Element[] = [
    <Field key="zone" label="Zone" hint={choices.loading ? "Loading…" : "Where the instance runs"}>
      {(id, d) => (
        <select
          id={id}
          aria-describedby={d}
          value={zoneId}
          onChange={(e) => {
            setZone(e.currentTarget.value);
            setImage("");
            setNetworkIds([]);
            setChosenTags([]);
            setOffering("");
          }}
        >
          {options(zones, zones.length ? undefined : "None available")}
        </select>
      )}
    </Field>,
    <Fragment key="image">
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
            {options(imageRows, imageRows.length ? undefined : "None available")}
          </select>
        )}
      </Field>
      {source === "iso" && (
        <Field label="Disk offering" hint="The root disk of an instance booted from an ISO">
          {(id, d) => (
            <select id={id} aria-describedby={d} value={diskOfferingId} onChange={(e) => { setDiskOffering(e.currentTarget.value); }}>
              {options(diskOfferings, diskOfferings.length ? undefined : "None available")}
            </select>
          )}
        </Field>
      )}
    </Fragment>,
    <Fragment key="offering">
      <fieldset class="tag-choice" aria-describedby="pool-tags-help">
        <legend>Pool tags</legend>
        <p id="pool-tags-help" class="muted">
          deployVirtualMachine has no pool parameter, in CloudStack as here: the root disk lands
          on a primary storage pool that carries every storage tag of the service offering.
          Choosing tags offers only the offerings whose storage tags are all among them.
        </p>
        {pools.error !== undefined ? (
          <p class="muted">The pools' tags are shown to administrators only; every offering is offered.</p>
        ) : tags.length === 0 ? (
          <p class="muted">{pools.loading ? "Loading…" : "No pool of this zone has storage tags."}</p>
        ) : (
          <div class="checks">
            {tags.map((tag) => (
              <label key={tag}>
                <input type="checkbox" checked={chosenTags.includes(tag)} onChange={(e) => { toggleTag(tag, e.currentTarget.checked); }} />{" "}
                {tag}
              </label>
            ))}
          </div>
        )}
        {pools.error === undefined && chosenTags.length > 0 && (
          <p aria-live="polite">
            Pools with all chosen tags: {tagPools.length > 0 ? names(tagPools) : "none"}
          </p>
        )}
      </fieldset>
      <Field
        label="Service offering"
        hint={
          offeringRow === undefined
            ? undefined
            : (offeringTags.length > 0 ? `Storage tags: ${offeringTags.join(", ")}` : "No storage tags") +
              (pools.error === undefined && pools.data !== undefined
                ? `; its root disk can land on: ${rootPools.length > 0 ? names(rootPools) : "no pool of this zone"}`
                : "")
        }
      >
        {(id, d) => (
          <select id={id} aria-describedby={d} value={offeringId} onChange={(e) => { setOffering(e.currentTarget.value); }}>
            {options(offerings, offerings.length ? undefined : "None matches the chosen tags")}
          </select>
        )}
      </Field>
    </Fragment>,
    <fieldset key="networks" class="tag-choice" aria-describedby="networks-help">
      <legend>Networks</legend>
      <p id="networks-help" class="muted">
        Optional; without one the instance gets the zone's guest range. One NIC per network, in
        the order chosen; the first is the default.
      </p>
      {networkRows.length === 0 ? (
        <p class="muted">{networks.loading ? "Loading…" : "No guest network in this zone."}</p>
      ) : (
        <div class="checks">
          {networkRows.map((row) => (
            <label key={str(row.id)}>
              <input type="checkbox" checked={networkIds.includes(str(row.id))} onChange={(e) => { toggleNetwork(str(row.id), e.currentTarget.checked); }} />{" "}
              {str(row.name) || str(row.id)}
              {networkIds[0] === str(row.id) ? " (default)" : ""}
            </label>
          ))}
        </div>
      )}
    </fieldset>,
    <Fragment key="review">
      <Field label="Name" hint="Optional; a name is generated when left empty" error={nameError}>
        {(id, d) => (
          <input id={id} aria-describedby={d} aria-invalid={nameError !== undefined} value={name} onInput={(e) => { setName(e.currentTarget.value); }} />
        )}
      </Field>
      <Field label="Display name" hint="Optional; the name is shown when left empty">
        {(id, d) => (
          <input id={id} aria-describedby={d} value={displayName} onInput={(e) => { setDisplayName(e.currentTarget.value); }} />
        )}
      </Field>
      <h3>Summary</h3>
      <Details
        items={[
          ["Zone", text(zones.find((row) => str(row.id) === zoneId)?.name)],
          [source === "iso" ? "ISO" : "Template", text(imageRow?.name)],
          ...(source === "iso"
            ? [["Disk offering", text(diskOfferings.find((row) => str(row.id) === diskOfferingId)?.name)] as [string, string]]
            : []),
          ["Service offering", text(offeringRow?.name)],
          ["Storage tags", offeringTags.join(", ")],
          ["Pool tags chosen", chosenTags.join(", ")],
          ...(pools.error === undefined ? [["Root disk pools", names(rootPools)] as [string, string]] : []),
          ["Networks", chosenNetworks.length > 0 ? names(chosenNetworks) : "Zone default"],
        ]}
      />
    </Fragment>,
  ];

  return (
    <section aria-labelledby="deploy-title">
      <h1 id="deploy-title">Deploy instance</h1>
      <ErrorText error={choices.error ?? images.error ?? networks.error} />
      <StepList step={step} go={go} />
      <form class="panel-form" onSubmit={submit} aria-busy={busy} noValidate>
        <h2 id="deploy-step-title" ref={heading} tabIndex={-1}>
          Step {step + 1} of {STEPS.length}: {STEPS[step]}
        </h2>
        {body[step]}
        {error !== undefined && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="toolbar wizard-buttons">
          <button type="button" disabled={step === 0 || busy} onClick={() => { go(step - 1); }}>
            Back
          </button>
          {step < LAST ? (
            <button type="submit" class="primary" disabled={loading} aria-busy={loading}>
              Next
            </button>
          ) : (
            <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
              {busy ? "Deploying…" : "Deploy"}
            </button>
          )}
          {busy && (
            <span role="status">
              {progress === null ? "Submitting…" : `Job ${progress.jobid} running`}{" "}
              <progress aria-label="Deploy progress" {...(progress?.percent === undefined ? {} : { value: progress.percent, max: 100 })} />
            </span>
          )}
        </div>
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
  { path: "/instances/deploy", title: "Deploy instance", view: () => <DeployWizard /> },
  { path: "/instances/:id", title: "Instance", view: (params) => <InstanceDetail id={params.id ?? ""} /> },
];
