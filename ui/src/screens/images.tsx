// Templates and ISOs: their lists, and a detail with each pool copy's download progress.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { Row } from "../api";
import { ActionButton, Details, ErrorText, Field, StateBadge } from "../components/controls";
import { DataTable, type Column } from "../components/table";
import { useApp } from "../context";
import * as format from "../format";
import { useLoad } from "../hooks";
import { href, navigate } from "../router";
import type { RouteDef } from "../route";

/** What differs between templates and ISOs: command names and their filter parameter. */
interface Kind {
  path: string;
  noun: string;
  plural: string;
  list: string;
  filter: string;
  remove: string;
  extract: string;
}

const TEMPLATE: Kind = {
  path: "/templates",
  noun: "Template",
  plural: "Templates",
  list: "listTemplates",
  filter: "templatefilter",
  remove: "deleteTemplate",
  extract: "extractTemplate",
};

const ISO: Kind = {
  path: "/isos",
  noun: "ISO",
  plural: "ISOs",
  list: "listIsos",
  filter: "isofilter",
  remove: "deleteIso",
  extract: "extractIso",
};

// listTemplates' templatefilter values (listIsos' isofilter takes the same).
const FILTERS = [
  "all",
  "self",
  "featured",
  "community",
  "shared",
  "executable",
  "selfexecutable",
  "sharedexecutable",
];

const BYPASSED = "Bypassed Secondary Storage";

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function yesNo(value: unknown): string {
  return value === true ? "Yes" : "No";
}

function ImageList({ kind }: { kind: Kind }): JSX.Element {
  const [filter, setFilter] = useState("all");
  const [keyword, setKeyword] = useState("");
  const columns: Column[] = [
    { key: "name", label: "Name" },
    { key: "zonename", label: "Zone" },
    { key: "format", label: "Format" },
    { key: "status", label: "Status", render: (row) => <StateBadge state={row.status} /> },
    { key: "directdownload", label: "Direct download", render: (row) => yesNo(row.directdownload) },
  ];
  const titleId = `${kind.path.slice(1)}-title`;
  return (
    <section aria-labelledby={titleId}>
      <h1 id={titleId}>{kind.plural}</h1>
      <form
        class="toolbar"
        role="search"
        aria-label={`Filter ${kind.plural}`}
        onSubmit={(event) => {
          event.preventDefault();
        }}
      >
        <Field label="Filter">
          {(id) => (
            <select
              id={id}
              value={filter}
              onChange={(event) => {
                setFilter(event.currentTarget.value);
              }}
            >
              {FILTERS.map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Name contains">
          {(id) => (
            <input
              id={id}
              type="search"
              value={keyword}
              onInput={(event) => {
                setKeyword(event.currentTarget.value);
              }}
            />
          )}
        </Field>
      </form>
      <DataTable
        command={kind.list}
        params={{ [kind.filter]: filter, keyword }}
        columns={columns}
        caption={kind.plural}
        link={(row) => `${kind.path}/${str(row.id)}`}
        empty={`No ${kind.plural} match.`}
      />
    </section>
  );
}

function isDownloading(copy: Row): boolean {
  const state = str(copy.downloadState);
  return state === "DOWNLOAD_IN_PROGRESS" || state === "NOT_DOWNLOADED";
}

function failed(copy: Row): boolean {
  return /error|fail|abandon/i.test(str(copy.downloadState));
}

function Failures({ copy }: { copy: Row }): JSX.Element | null {
  if (!failed(copy)) return null;
  const failures = Array.isArray(copy.failures) ? (copy.failures as Row[]) : [];
  return (
    <div class="copy-failure">
      <p class="error">{format.text(copy.errortext)}</p>
      {failures.length > 0 && (
        <ul class="failures">
          {failures.map((f, index) => (
            <li key={index}>
              {/* Hosts are shown to root admins only, and a pool no Up host reaches names none. */}
              {str(f.hostname) === "" ? "" : `${str(f.hostname)}: `}
              {format.text(f.reason)}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Copies({ copies }: { copies: Row[] }): JSX.Element {
  return (
    <div class="table-wrap">
      <table>
        <caption>
          Copies on primary storage <span class="muted">({copies.length})</span>
        </caption>
        <thead>
          <tr>
            <th scope="col">Storage pool</th>
            <th scope="col">State</th>
            <th scope="col">Progress</th>
            <th scope="col">Bytes</th>
            <th scope="col">Rate</th>
            <th scope="col">ETA</th>
            <th scope="col">Host</th>
            <th scope="col">Attempts</th>
          </tr>
        </thead>
        <tbody>
          {copies.length === 0 && (
            <tr>
              <td colSpan={8}>No copies on primary storage yet.</td>
            </tr>
          )}
          {copies.map((copy, index) => {
            const pct = typeof copy.downloadPercent === "number" ? copy.downloadPercent : 0;
            const pool = format.text(copy.datastore);
            return (
              <tr key={str(copy.datastoreid) || index}>
                <th scope="row">{pool}</th>
                <td>
                  <StateBadge state={copy.downloadState} />
                  <Failures copy={copy} />
                </td>
                <td>
                  <progress max={100} value={pct} aria-label={`Download of the copy on ${pool}`}>
                    {pct}%
                  </progress>{" "}
                  <span class="pct">{pct}%</span>
                </td>
                <td>
                  {format.bytes(copy.downloadedbytes)} / {format.bytes(copy.totalbytes)}
                </td>
                <td>{format.rate(copy.downloadrate)}</td>
                <td>{format.duration(copy.eta)}</td>
                <td>{format.text(copy.hostname)}</td>
                <td>{format.text(copy.attempts)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** A tried source in words: "origin", or the peer's host name (root admins see names). */
function sourceName(source: Row): string {
  if (str(source.kind) === "origin") return "origin";
  const host = str(source.hostname);
  return host === "" ? "a peer" : `peer ${host}`;
}

// Outcomes in words, so the text alone says what became of a source's bytes.
const OUTCOMES: Record<string, string> = {
  used: "used",
  failed: "broke off, the next source continued",
  rejected: "rejected: checksum mismatch, its bytes thrown away",
  discarded: "broke off, its bytes discarded",
};

function outcomeText(source: Row): string {
  const outcome = str(source.outcome);
  const said = OUTCOMES[outcome] ?? (outcome || "—");
  const message = str(source.message);
  return message === "" || outcome === "used" ? said : `${said} (${message})`;
}

/** Where each copy's bytes came from: the origin, peers' verified copies, in the order tried. */
function ByteSources({ copies }: { copies: Row[] }): JSX.Element | null {
  // Agents that report sources give these; older ones and copies not yet made give none.
  const reported = copies.filter(
    (copy) => typeof copy.originbytes === "number" || (Array.isArray(copy.sources) && copy.sources.length > 0),
  );
  if (reported.length === 0) return null;
  return (
    <div class="table-wrap">
      <table class="byte-sources">
        <caption>Where each copy&apos;s bytes came from</caption>
        <thead>
          <tr>
            <th scope="col">Storage pool</th>
            <th scope="col">From the origin</th>
            <th scope="col">From peers</th>
            <th scope="col">Sources, in the order tried</th>
          </tr>
        </thead>
        <tbody>
          {reported.map((copy, index) => {
            const sources = Array.isArray(copy.sources) ? (copy.sources as Row[]) : [];
            return (
              <tr key={str(copy.datastoreid) || index}>
                <th scope="row">{format.text(copy.datastore)}</th>
                <td>{format.bytes(copy.originbytes)}</td>
                <td>{format.bytes(copy.peerbytes)}</td>
                <td>
                  {sources.length === 0 ? (
                    "—"
                  ) : (
                    <ol class="sources">
                      {sources.map((source, n) => (
                        <li key={n}>
                          {sourceName(source)}: {format.bytes(source.bytes)} ({outcomeText(source)})
                        </li>
                      ))}
                    </ol>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** The URL in an extract job's result (the object may be nested under its type's key). */
function urlOf(result: Row): string {
  if (typeof result.url === "string") return result.url;
  for (const value of Object.values(result)) {
    if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      const url = urlOf(value as Row);
      if (url !== "") return url;
    }
  }
  return "";
}

function Prepare({ image, done }: { image: Row; done: () => void }): JSX.Element {
  const { api } = useApp();
  const zoneid = str(image.zoneid);
  const pools = useLoad(() => api.list("listStoragePools", { zoneid }), [zoneid]);
  const [pool, setPool] = useState("");
  const items = pools.data?.items ?? [];
  const chosen = pool || str(items[0]?.id);
  return (
    <div class="prepare">
      <ErrorText error={pools.error} />
      <Field label="Storage pool">
        {(id) => (
          <select
            id={id}
            value={chosen}
            onChange={(event) => {
              setPool(event.currentTarget.value);
            }}
          >
            {items.map((p) => (
              <option key={str(p.id)} value={str(p.id)}>
                {str(p.name)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <ActionButton
        label="Prepare on pool…"
        kind="primary"
        disabled={chosen === ""}
        run={async () => {
          // prepareTemplate answers at once with the copies and their jobs; the table's
          // refresh shows the progress while this waits for the chosen pool's job.
          const answer = await api.call("prepareTemplate", {
            templateid: str(image.id),
            zoneid,
            storageid: chosen,
          });
          done();
          const listed = Array.isArray(answer.template) ? (answer.template as Row[]) : [];
          const details = listed[0]?.downloaddetails;
          const copies = Array.isArray(details) ? (details as Row[]) : [];
          const copy = copies.find((c) => c.datastoreid === chosen) ?? copies[0];
          const jobid = str(copy?.jobid);
          if (jobid !== "" && isDownloading(copy ?? {})) {
            await api.waitJob(jobid, "prepareTemplate");
          }
          return `${str(image.name)} is prepared on the pool`;
        }}
        done={done}
      />
    </div>
  );
}

function Events({ image, kind }: { image: Row; kind: Kind }): JSX.Element {
  return (
    <DataTable
      command="listEvents"
      params={{ resourceid: str(image.id), resourcetype: kind === ISO ? "Iso" : "Template" }}
      columns={[
        { key: "created", label: "When", render: (row) => format.date(row.created) },
        { key: "level", label: "Level", render: (row) => <StateBadge state={row.level} /> },
        { key: "type", label: "Type" },
        { key: "description", label: "Description" },
      ]}
      caption="Related events"
      pageSize={10}
      empty="No events about it."
    />
  );
}

function ImageDetail({ kind, id }: { kind: Kind; id: string }): JSX.Element {
  const { api } = useApp();
  // prepareTemplate and the pools to choose from are a root admin's.
  const admin = api.isAdmin();
  const [downloading, setDownloading] = useState(false);
  const [extracted, setExtracted] = useState("");
  const loaded = useLoad(
    async () => {
      const page = await api.list(kind.list, { id, [kind.filter]: "all" });
      const image = page.items[0];
      const copies = Array.isArray(image?.downloaddetails) ? (image.downloaddetails as Row[]) : [];
      setDownloading(copies.some(isDownloading));
      return image;
    },
    [kind.list, id],
    downloading ? 2000 : undefined,
  );
  const image = loaded.data;
  const titleId = "image-title";
  if (image === undefined) {
    return (
      <section aria-labelledby={titleId}>
        <h1 id={titleId}>{kind.noun}</h1>
        <ErrorText error={loaded.error} />
        {!loaded.loading && loaded.error === undefined && <p>No such {kind.noun}.</p>}
      </section>
    );
  }
  const copies = Array.isArray(image.downloaddetails) ? (image.downloaddetails as Row[]) : [];
  const name = str(image.name);
  return (
    <section aria-labelledby={titleId}>
      <p>
        <a href={href(kind.path)}>{kind.plural}</a>
      </p>
      <h1 id={titleId}>{name}</h1>
      <ErrorText error={loaded.error} />
      {image.directdownload === true && (
        <p class="bypassed" role="note">
          Status: <StateBadge state={str(image.status) || BYPASSED} /> (direct download: hosts
          fetch it from its URL onto primary storage)
        </p>
      )}
      <Details
        items={[
          ["Name", name],
          ["Description", format.text(image.displaytext)],
          ["ID", str(image.id)],
          ["Zone", format.text(image.zonename)],
          ["Format", format.text(image.format)],
          ["Status", <StateBadge key="status" state={image.status} />],
          ["Ready", yesNo(image.isready)],
          ["Direct download", yesNo(image.directdownload)],
          ["Size", format.bytes(image.size)],
          ["Physical size", format.bytes(image.physicalsize)],
          ["OS type", format.text(image.ostypename)],
          ["Account", format.text(image.account)],
          ["Created", format.date(image.created)],
          ["URL", format.text(image.url)],
        ]}
      />
      <div class="toolbar">
        {/* prepareTemplate takes an ISO's id too, as CloudStack's does. */}
        {admin && <Prepare image={image} done={loaded.reload} />}
        <ActionButton
          label="Extract"
          run={async () => {
            const result = await api.run(kind.extract, { id, mode: "HTTP_DOWNLOAD", zoneid: str(image.zoneid) });
            const url = urlOf(result);
            setExtracted(url);
            return url === "" ? `${name} is extracted` : `${name} can be downloaded from its URL`;
          }}
        />
        <ActionButton
          label="Delete"
          kind="danger"
          confirm={`Delete ${kind.noun} ${name}?`}
          run={async () => {
            await api.run(kind.remove, { id });
            return `${name} is deleted`;
          }}
          done={() => {
            navigate(kind.path);
          }}
        />
      </div>
      {extracted !== "" && (
        <p class="extracted">
          Download URL: <a href={extracted}>{extracted}</a>
        </p>
      )}
      <Copies copies={copies} />
      <ByteSources copies={copies} />
      {/* A copy that changes state adds events (a failure's, a download's): list them again. */}
      <Events
        key={copies.map((c) => `${str(c.datastoreid)}:${str(c.downloadState)}`).join(",")}
        image={image}
        kind={kind}
      />
    </section>
  );
}

export const routes: RouteDef[] = [
  {
    path: "/templates",
    title: "Templates",
    nav: { section: "Images", label: "Templates" },
    view: () => <ImageList kind={TEMPLATE} />,
  },
  {
    path: "/templates/:id",
    title: "Template",
    view: (params) => <ImageDetail kind={TEMPLATE} id={params.id ?? ""} />,
  },
  {
    path: "/isos",
    title: "ISOs",
    nav: { section: "Images", label: "ISOs" },
    view: () => <ImageList kind={ISO} />,
  },
  {
    path: "/isos/:id",
    title: "ISO",
    view: (params) => <ImageDetail kind={ISO} id={params.id ?? ""} />,
  },
];
