// Events, async jobs, global settings, accounts, users and domains.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { Params, Row } from "../api";
import { ActionButton, Dialog, Field, StateBadge } from "../components/controls";
import { DataTable } from "../components/table";
import { useApp } from "../context";
import { date, text } from "../format";
import type { RouteDef } from "../route";

const LEVELS = ["INFO", "WARN", "ERROR"];

/** A keyword box that applies on submit (one list call per search, not per keystroke). */
function KeywordForm({
  label,
  value,
  onApply,
}: {
  label: string;
  value: string;
  onApply: (keyword: string) => void;
}): JSX.Element {
  const [draft, setDraft] = useState(value);
  return (
    <form
      class="toolbar"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(draft.trim());
      }}
    >
      <Field label={label}>
        {(id) => (
          <input
            id={id}
            type="search"
            value={draft}
            onInput={(e) => {
              setDraft(e.currentTarget.value);
            }}
          />
        )}
      </Field>
      <button type="submit">Search</button>
    </form>
  );
}

function Events(): JSX.Element {
  const [level, setLevel] = useState("");
  const [keyword, setKeyword] = useState("");
  const params: Params = { listall: true, level, keyword };
  return (
    <section aria-labelledby="events-title">
      <h1 id="events-title">Events</h1>
      <div class="toolbar">
        <Field label="Level">
          {(id) => (
            <select
              id={id}
              value={level}
              onChange={(e) => {
                setLevel(e.currentTarget.value);
              }}
            >
              <option value="">All levels</option>
              {LEVELS.map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          )}
        </Field>
        <KeywordForm label="Keyword" value={keyword} onApply={setKeyword} />
      </div>
      <DataTable
        command="listEvents"
        caption="Events"
        params={params}
        columns={[
          { key: "created", label: "Created", render: (r) => date(r.created) },
          { key: "level", label: "Level", render: (r) => <LevelBadge level={r.level} /> },
          { key: "type", label: "Type" },
          { key: "description", label: "Description" },
          { key: "account", label: "Account" },
        ]}
        empty="No events."
      />
    </section>
  );
}

function LevelBadge({ level }: { level: unknown }): JSX.Element {
  const word = text(level);
  const tone = word === "ERROR" ? "bad" : word === "WARN" ? "warn" : "neutral";
  return <span class={`badge ${tone}`}>{word}</span>;
}

const JOB_STATUS: Record<number, string> = { 0: "Pending", 1: "Succeeded", 2: "Failed" };

function jobResult(row: Row): string {
  const result = row.jobresult;
  if (row.jobstatus === 2 && typeof result === "object" && result !== null) {
    return text((result as Row).errortext);
  }
  if (row.jobstatus === 0) {
    return typeof row.jobprocstatus === "number" ? `${row.jobprocstatus}%` : "Running";
  }
  return row.jobstatus === 1 ? "Done" : "—";
}

function Jobs(): JSX.Element {
  return (
    <section aria-labelledby="jobs-title">
      <h1 id="jobs-title">Async jobs</h1>
      <DataTable
        command="listAsyncJobs"
        caption="Async jobs"
        params={{ listall: true }}
        refreshMs={5000}
        columns={[
          { key: "cmd", label: "Command" },
          {
            key: "jobstatus",
            label: "Status",
            render: (r) => (
              <StateBadge state={typeof r.jobstatus === "number" ? JOB_STATUS[r.jobstatus] : undefined} />
            ),
          },
          { key: "jobresult", label: "Result", render: jobResult },
          { key: "created", label: "Created", render: (r) => date(r.created) },
          { key: "completed", label: "Completed", render: (r) => date(r.completed) },
        ]}
        empty="No async jobs."
      />
    </section>
  );
}

/** One setting's value, edited in place and saved with updateConfiguration. */
function SettingValue({ row, reload }: { row: Row; reload: () => void }): JSX.Element {
  const { api } = useApp();
  const name = text(row.name);
  const [value, setValue] = useState(typeof row.value === "string" ? row.value : "");
  return (
    <div class="setting-edit">
      <input
        aria-label={`Value of ${name}`}
        value={value}
        onInput={(e) => {
          setValue(e.currentTarget.value);
        }}
      />
      <ActionButton
        label="Save"
        kind="primary"
        run={async () => {
          const saved = await api.call("updateConfiguration", { name, value });
          const answer = (saved.configuration ?? saved) as Row;
          return `${name} is now ${text(answer.value)}`;
        }}
        done={reload}
      />
    </div>
  );
}

function Settings(): JSX.Element {
  const [keyword, setKeyword] = useState("");
  const [category, setCategory] = useState("");
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Global settings</h1>
      <div class="toolbar">
        <KeywordForm key={keyword} label="Keyword" value={keyword} onApply={setKeyword} />
        <Field label="Category">
          {(id) => (
            <select
              id={id}
              value={category}
              onChange={(e) => {
                setCategory(e.currentTarget.value);
              }}
            >
              <option value="">All categories</option>
              {["Advanced", "Storage", "Network", "Hidden", "Secure"].map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          )}
        </Field>
        <button
          type="button"
          onClick={() => {
            setKeyword("direct.download");
          }}
        >
          direct.download.* settings
        </button>
      </div>
      <DataTable
        command="listConfigurations"
        caption="Settings"
        params={{ keyword, category }}
        pageSize={50}
        columns={[
          { key: "name", label: "Name" },
          { key: "category", label: "Category" },
          { key: "description", label: "Description" },
        ]}
        actionsLabel="Value"
        actions={(row, reload) => <SettingValue key={`${text(row.name)}=${text(row.value)}`} row={row} reload={reload} />}
        empty="No settings match."
      />
    </section>
  );
}

const ACCOUNT_TYPES: [string, string][] = [
  ["0", "User"],
  ["2", "Domain admin"],
  ["1", "Root admin"],
];

function CreateAccount({ done }: { done: () => void }): JSX.Element {
  const { api } = useApp();
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({
    username: "",
    password: "",
    email: "",
    firstname: "",
    lastname: "",
    accounttype: "0",
  });
  const input = (key: keyof typeof form, label: string, type = "text"): JSX.Element => (
    <Field label={label}>
      {(id) => (
        <input
          id={id}
          type={type}
          required
          value={form[key]}
          onInput={(e) => {
            setForm({ ...form, [key]: e.currentTarget.value });
          }}
        />
      )}
    </Field>
  );
  return (
    <>
      <button
        type="button"
        class="primary"
        onClick={() => {
          setOpen(true);
        }}
      >
        Create account
      </button>
      <Dialog
        title="Create account"
        open={open}
        onClose={() => {
          setOpen(false);
        }}
      >
        <form
          onSubmit={(e) => {
            e.preventDefault();
          }}
        >
          {input("username", "Username")}
          {input("password", "Password", "password")}
          {input("email", "Email", "email")}
          {input("firstname", "First name")}
          {input("lastname", "Last name")}
          <Field label="Account type">
            {(id) => (
              <select
                id={id}
                value={form.accounttype}
                onChange={(e) => {
                  setForm({ ...form, accounttype: e.currentTarget.value });
                }}
              >
                {ACCOUNT_TYPES.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <ActionButton
            label="Create"
            kind="primary"
            run={async () => {
              await api.call("createAccount", form);
              return `Account ${form.username} created`;
            }}
            done={() => {
              setOpen(false);
              done();
            }}
          />
        </form>
      </Dialog>
    </>
  );
}

function Accounts(): JSX.Element {
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  return (
    <section aria-labelledby="accounts-title">
      <h1 id="accounts-title">Accounts</h1>
      <div class="toolbar">
        <CreateAccount
          done={() => {
            setVersion(version + 1);
          }}
        />
      </div>
      <DataTable
        key={version}
        command="listAccounts"
        caption="Accounts"
        params={{ listall: true }}
        columns={[
          { key: "name", label: "Name" },
          { key: "domain", label: "Domain" },
          { key: "roletype", label: "Role", render: (r) => text(r.roletype ?? r.accounttype) },
          { key: "state", label: "State", render: (r) => <StateBadge state={r.state} /> },
        ]}
        actions={(row, reload) => {
          const id = text(row.id);
          const name = text(row.name);
          return (
            <>
              {row.state === "disabled" ? (
                <ActionButton
                  label={`Enable ${name}`}
                  run={async () => {
                    await api.call("enableAccount", { id });
                    return `Account ${name} enabled`;
                  }}
                  done={reload}
                />
              ) : (
                <ActionButton
                  label={`Disable ${name}`}
                  run={async () => {
                    await api.run("disableAccount", { id, lock: false });
                    return `Account ${name} disabled`;
                  }}
                  done={reload}
                />
              )}
              <ActionButton
                label={`Delete ${name}`}
                kind="danger"
                confirm={`Delete account ${name} and everything it owns?`}
                run={async () => {
                  await api.run("deleteAccount", { id });
                  return `Account ${name} deleted`;
                }}
                done={reload}
              />
            </>
          );
        }}
        empty="No accounts."
      />
    </section>
  );
}

function Users(): JSX.Element {
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <DataTable
        command="listUsers"
        caption="Users"
        params={{ listall: true }}
        columns={[
          { key: "username", label: "Username" },
          { key: "account", label: "Account" },
          { key: "domain", label: "Domain" },
          { key: "email", label: "Email" },
          { key: "state", label: "State", render: (r) => <StateBadge state={r.state} /> },
        ]}
        empty="No users."
      />
    </section>
  );
}

function Domains(): JSX.Element {
  const { api } = useApp();
  const [name, setName] = useState("");
  const [version, setVersion] = useState(0);
  return (
    <section aria-labelledby="domains-title">
      <h1 id="domains-title">Domains</h1>
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
        }}
      >
        <Field label="New domain name">
          {(id) => (
            <input
              id={id}
              value={name}
              onInput={(e) => {
                setName(e.currentTarget.value);
              }}
            />
          )}
        </Field>
        <ActionButton
          label="Create domain"
          kind="primary"
          disabled={name.trim() === ""}
          run={async () => {
            await api.call("createDomain", { name: name.trim() });
            return `Domain ${name.trim()} created`;
          }}
          done={() => {
            setName("");
            setVersion(version + 1);
          }}
        />
      </form>
      <DataTable
        key={version}
        command="listDomains"
        caption="Domains"
        params={{ listall: true }}
        columns={[
          { key: "name", label: "Name" },
          { key: "path", label: "Path" },
          { key: "parentdomainname", label: "Parent" },
          { key: "level", label: "Level" },
        ]}
        empty="No domains."
      />
    </section>
  );
}

export const routes: RouteDef[] = [
  { path: "/events", title: "Events", nav: { section: "Overview", label: "Events" }, view: () => <Events /> },
  { path: "/jobs", title: "Async jobs", nav: { section: "Overview", label: "Async jobs" }, view: () => <Jobs /> },
  {
    path: "/settings",
    title: "Global settings",
    admin: true,
    nav: { section: "Administration", label: "Settings" },
    view: () => <Settings />,
  },
  {
    path: "/accounts",
    title: "Accounts",
    admin: true,
    nav: { section: "Administration", label: "Accounts" },
    view: () => <Accounts />,
  },
  { path: "/users", title: "Users", admin: true, nav: { section: "Administration", label: "Users" }, view: () => <Users /> },
  {
    path: "/domains",
    title: "Domains",
    admin: true,
    nav: { section: "Administration", label: "Domains" },
    view: () => <Domains />,
  },
];
