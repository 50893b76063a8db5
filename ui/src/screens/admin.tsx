// Events, async jobs, global settings, accounts, users and domains.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { Params, Row } from "../api";
import {
  ActionButton,
  DialogButton,
  ErrorText,
  Field,
  StateBadge,
} from "../components/controls";
import type { Column } from "../components/table";
import { DataTable } from "../components/table";
import { useApp } from "../context";
import { date, text } from "../format";
import type { Loaded } from "../hooks";
import { useLoad } from "../hooks";
import type { RouteDef } from "../route";

const LEVELS = ["INFO", "WARN", "ERROR"];

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/**
 * The rows of a list command for a form's choices: its first page at the server's own
 * bound (no page/pagesize: default.page.size rows), reloaded when `version` changes.
 */
function useChoices(command: string, params: Params = {}, version = 0): Loaded<Row[]> {
  const { api } = useApp();
  return useLoad(
    async () => (await api.list(command, params)).items,
    [command, JSON.stringify(params), version],
  );
}

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
  const { api } = useApp();
  const [level, setLevel] = useState("");
  const [type, setType] = useState("");
  const [keyword, setKeyword] = useState("");
  const types = useLoad(async () => {
    const answer = await api.call("listEventTypes");
    const list = Array.isArray(answer.eventtype) ? (answer.eventtype as Row[]) : [];
    return list.map((t) => str(t.name)).filter((n) => n !== "").sort();
  }, []);
  const params: Params = { listall: true, level, type, keyword };
  return (
    <section class="admin-screen" aria-labelledby="events-title">
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
        <Field label="Type">
          {(id) => (
            <select
              id={id}
              value={type}
              onChange={(e) => {
                setType(e.currentTarget.value);
              }}
            >
              <option value="">All types</option>
              {(types.data ?? []).map((t) => (
                <option key={t} value={t}>
                  {t}
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
      <ErrorText error={types.error} />
    </section>
  );
}

function LevelBadge({ level }: { level: unknown }): JSX.Element {
  const word = text(level);
  const tone = word === "ERROR" ? "bad" : word === "WARN" ? "warn" : "neutral";
  return <span class={`badge ${tone}`}>{word}</span>;
}

const JOB_STATUS: Record<number, string> = { 0: "Pending", 1: "Succeeded", 2: "Failed" };

function jobResult(row: Row): JSX.Element | string {
  const result = row.jobresult;
  if (row.jobstatus === 2 && typeof result === "object" && result !== null) {
    // A failure's text names URLs and checksums: let it wrap, not widen the table.
    return <span class="wrap-anywhere">{text((result as Row).errortext)}</span>;
  }
  if (row.jobstatus === 0) {
    return typeof row.jobprocstatus === "number" ? `${row.jobprocstatus}%` : "Running";
  }
  return row.jobstatus === 1 ? "Done" : "—";
}

const JOB_COLUMNS: Column[] = [
  { key: "cmd", label: "Command" },
  {
    key: "jobstatus",
    label: "Status",
    render: (r) => <StateBadge state={typeof r.jobstatus === "number" ? JOB_STATUS[r.jobstatus] : undefined} />,
  },
  { key: "jobresult", label: "Result", render: jobResult },
  { key: "created", label: "Created", render: (r) => date(r.created) },
  { key: "completed", label: "Completed", render: (r) => date(r.completed) },
];

/**
 * The newest jobs with one status. listAsyncJobs (as CloudStack's) has no status filter, so
 * the newest default.page.size jobs (no page/pagesize) are filtered here.
 */
function JobsWithStatus({ status }: { status: number }): JSX.Element {
  const { api } = useApp();
  const list = useLoad(() => api.list("listAsyncJobs", { listall: true }), [], 5000);
  const scanned = list.data?.items ?? [];
  const items = scanned.filter((row) => row.jobstatus === status);
  const caption = `${JOB_STATUS[status] ?? ""} async jobs`;
  return (
    <div class="table-wrap">
      <ErrorText error={list.error} />
      <table aria-busy={list.loading}>
        <caption>
          {caption} <span class="muted">({items.length})</span>
        </caption>
        <thead>
          <tr>
            {JOB_COLUMNS.map((c) => (
              <th scope="col" key={c.key}>
                {c.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {items.length === 0 && !list.loading && (
            <tr>
              <td colSpan={JOB_COLUMNS.length}>No {caption.toLowerCase()} among the newest {scanned.length}.</td>
            </tr>
          )}
          {items.map((row, index) => (
            <tr key={typeof row.jobid === "string" ? row.jobid : index}>
              {JOB_COLUMNS.map((c) => (
                <td key={c.key}>{c.render === undefined ? text(row[c.key]) : c.render(row)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Jobs(): JSX.Element {
  const [status, setStatus] = useState("");
  return (
    <section class="admin-screen" aria-labelledby="jobs-title">
      <h1 id="jobs-title">Async jobs</h1>
      <div class="toolbar">
        <Field
          label="Status"
          hint={
            status === ""
              ? undefined
              : "listAsyncJobs has no status filter: the newest jobs (up to default.page.size) are filtered in the browser."
          }
        >
          {(id, describedBy) => (
            <select
              id={id}
              aria-describedby={describedBy}
              value={status}
              onChange={(e) => {
                setStatus(e.currentTarget.value);
              }}
            >
              <option value="">All statuses</option>
              {Object.entries(JOB_STATUS).map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      {status === "" ? (
        <DataTable
          command="listAsyncJobs"
          caption="Async jobs"
          params={{ listall: true }}
          refreshMs={5000}
          columns={JOB_COLUMNS}
          empty="No async jobs."
        />
      ) : (
        <JobsWithStatus key={status} status={Number(status)} />
      )}
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

/** The categories the server's settings belong to, as listConfigurations answers them. */
function useCategories(): Loaded<string[]> {
  const { api } = useApp();
  return useLoad(async () => {
    // pagesize=-1 (without page): every setting, to see every category once.
    const all = await api.list("listConfigurations", { pagesize: -1 });
    return [...new Set(all.items.map((row) => str(row.category)).filter((c) => c !== ""))].sort();
  }, []);
}

function Settings(): JSX.Element {
  const [keyword, setKeyword] = useState("");
  const [category, setCategory] = useState("");
  const categories = useCategories();
  return (
    <section class="admin-screen" aria-labelledby="settings-title">
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
              {(categories.data ?? []).map((c) => (
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
            setCategory("");
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
      <ErrorText error={categories.error} />
    </section>
  );
}

// The account types createAccount takes when the server serves no roles to choose from.
const ACCOUNT_TYPES: [string, string][] = [
  ["0", "User"],
  ["2", "Domain admin"],
  ["1", "Root admin"],
];

/** A select of a list command's rows (domains, roles, accounts): value and label per row. */
function Choice({
  label,
  rows,
  value,
  option,
  onChange,
}: {
  label: string;
  rows: Loaded<Row[]>;
  value: string;
  option: (row: Row) => [string, string];
  onChange: (value: string) => void;
}): JSX.Element {
  const items = (rows.data ?? []).map(option);
  return (
    <Field label={label} error={rows.error}>
      {(id, describedBy) => (
        <select
          id={id}
          aria-describedby={describedBy}
          required
          value={value}
          onChange={(e) => {
            onChange(e.currentTarget.value);
          }}
        >
          {rows.loading && items.length === 0 && <option value="">Loading…</option>}
          {items.map(([v, l]) => (
            <option key={v} value={v}>
              {l}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** A domain as a choice: its id, labelled with its path (ROOT/child/…). */
const domainOption = (row: Row): [string, string] => [str(row.id), str(row.path) || str(row.name)];

interface Person {
  username: string;
  password: string;
  email: string;
  firstname: string;
  lastname: string;
}

const NO_PERSON: Person = { username: "", password: "", email: "", firstname: "", lastname: "" };

/** The user fields createAccount and createUser share. */
function PersonFields({ person, onChange }: { person: Person; onChange: (p: Person) => void }): JSX.Element {
  const input = (key: keyof Person, label: string, type = "text"): JSX.Element => (
    <Field label={label}>
      {(id) => (
        <input
          id={id}
          type={type}
          required
          value={person[key]}
          onInput={(e) => {
            onChange({ ...person, [key]: e.currentTarget.value });
          }}
        />
      )}
    </Field>
  );
  return (
    <>
      {input("username", "Username")}
      {input("password", "Password", "password")}
      {input("email", "Email", "email")}
      {input("firstname", "First name")}
      {input("lastname", "Last name")}
    </>
  );
}

/** The role (or, without roles, the account type) and the domain of a new account. */
function CreateAccountForm({ done }: { done: () => void }): JSX.Element {
  const { api } = useApp();
  const [person, setPerson] = useState(NO_PERSON);
  const domains = useChoices("listDomains", { listall: true });
  const roles = useChoices("listRoles");
  const [domainId, setDomainId] = useState("");
  const [roleId, setRoleId] = useState("");
  const [accountType, setAccountType] = useState("0");
  // No roles served (an older server, or none visible): fall back to the account type.
  const useRoles = roles.error === undefined && (roles.loading || (roles.data ?? []).length > 0);
  const roleRows = roles.data ?? [];
  const defaultRole = roleRows.find((r) => r.type === "User") ?? roleRows[0];
  const chosenRole = roleId !== "" ? roleId : str(defaultRole?.id);
  const chosenDomain = domainId !== "" ? domainId : str(domains.data?.[0]?.id);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
      }}
    >
      <PersonFields person={person} onChange={setPerson} />
      <Choice label="Domain" rows={domains} value={chosenDomain} option={domainOption} onChange={setDomainId} />
      {useRoles ? (
        <Choice
          label="Role"
          rows={roles}
          value={chosenRole}
          option={(r) => [str(r.id), `${str(r.name)} (${str(r.type)})`]}
          onChange={setRoleId}
        />
      ) : (
        <Field label="Account type">
          {(id) => (
            <select
              id={id}
              value={accountType}
              onChange={(e) => {
                setAccountType(e.currentTarget.value);
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
      )}
      <ActionButton
        label="Create"
        kind="primary"
        run={async () => {
          await api.call("createAccount", {
            ...person,
            domainid: chosenDomain,
            ...(useRoles ? { roleid: chosenRole } : { accounttype: accountType }),
          });
          return `Account ${person.username} created`;
        }}
        done={done}
      />
    </form>
  );
}

function CreateAccount({ done }: { done: () => void }): JSX.Element {
  return (
    <DialogButton label="Create account" title="Create account">
      {(close) => (
        <CreateAccountForm
          done={() => {
            close();
            done();
          }}
        />
      )}
    </DialogButton>
  );
}

function Accounts(): JSX.Element {
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  return (
    <section class="admin-screen" aria-labelledby="accounts-title">
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
          { key: "rolename", label: "Role", render: (r) => text(r.rolename ?? r.roletype ?? r.accounttype) },
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

/** A new user in an existing account (createUser: account name and its domain). */
function CreateUserForm({ done }: { done: () => void }): JSX.Element {
  const { api } = useApp();
  const [person, setPerson] = useState(NO_PERSON);
  const accounts = useChoices("listAccounts", { listall: true });
  const [accountId, setAccountId] = useState("");
  const rows = accounts.data ?? [];
  const account = rows.find((r) => r.id === accountId) ?? rows[0];
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
      }}
    >
      <Choice
        label="Account"
        rows={accounts}
        value={str(account?.id)}
        option={(r) => [str(r.id), `${str(r.name)} (${str(r.domainpath) || str(r.domain)})`]}
        onChange={setAccountId}
      />
      <PersonFields person={person} onChange={setPerson} />
      <ActionButton
        label="Create"
        kind="primary"
        disabled={account === undefined}
        run={async () => {
          await api.call("createUser", {
            ...person,
            account: str(account?.name),
            domainid: str(account?.domainid),
          });
          return `User ${person.username} created in account ${str(account?.name)}`;
        }}
        done={done}
      />
    </form>
  );
}

function CreateUser({ done }: { done: () => void }): JSX.Element {
  return (
    <DialogButton label="Create user" title="Create user">
      {(close) => (
        <CreateUserForm
          done={() => {
            close();
            done();
          }}
        />
      )}
    </DialogButton>
  );
}

function Users(): JSX.Element {
  const { api } = useApp();
  const [version, setVersion] = useState(0);
  return (
    <section class="admin-screen" aria-labelledby="users-title">
      <h1 id="users-title">Users</h1>
      <div class="toolbar">
        <CreateUser
          done={() => {
            setVersion(version + 1);
          }}
        />
      </div>
      <DataTable
        key={version}
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
        actions={(row, reload) => {
          const id = str(row.id);
          const name = str(row.username);
          return (
            <>
              {row.state === "disabled" ? (
                <ActionButton
                  label={`Enable user ${name}`}
                  run={async () => {
                    await api.call("enableUser", { id });
                    return `User ${name} enabled`;
                  }}
                  done={reload}
                />
              ) : (
                <ActionButton
                  label={`Disable user ${name}`}
                  run={async () => {
                    await api.run("disableUser", { id });
                    return `User ${name} disabled`;
                  }}
                  done={reload}
                />
              )}
              <ActionButton
                label={`Delete user ${name}`}
                kind="danger"
                confirm={`Delete user ${name}?`}
                run={async () => {
                  await api.call("deleteUser", { id });
                  return `User ${name} deleted`;
                }}
                done={reload}
              />
            </>
          );
        }}
        empty="No users."
      />
    </section>
  );
}

function Domains(): JSX.Element {
  const { api } = useApp();
  const [name, setName] = useState("");
  const [parentId, setParentId] = useState("");
  const [cleanup, setCleanup] = useState(false);
  const [version, setVersion] = useState(0);
  const domains = useChoices("listDomains", { listall: true }, version);
  const parent = parentId !== "" ? parentId : str(domains.data?.[0]?.id);
  return (
    <section class="admin-screen" aria-labelledby="domains-title">
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
        <Choice label="Parent domain" rows={domains} value={parent} option={domainOption} onChange={setParentId} />
        <ActionButton
          label="Create domain"
          kind="primary"
          disabled={name.trim() === "" || parent === ""}
          run={async () => {
            const created = await api.call("createDomain", { name: name.trim(), parentdomainid: parent });
            const domain = (created.domain ?? created) as Row;
            return `Domain ${str(domain.path) || name.trim()} created`;
          }}
          done={() => {
            setName("");
            setVersion(version + 1);
          }}
        />
      </form>
      <div class="toolbar">
        <div class="field check">
          <label>
            <input
              type="checkbox"
              checked={cleanup}
              onChange={(e) => {
                setCleanup(e.currentTarget.checked);
              }}
            />{" "}
            Delete also removes child domains and their accounts (cleanup)
          </label>
        </div>
      </div>
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
        actions={(row) => {
          const id = str(row.id);
          const path = str(row.path) || str(row.name);
          if (row.level === 0) return <span class="muted">Root domain</span>;
          return (
            <ActionButton
              label={`Delete domain ${path}`}
              kind="danger"
              confirm={
                cleanup
                  ? `Delete domain ${path} with its child domains and accounts?`
                  : `Delete domain ${path}? (It must be empty.)`
              }
              run={async () => {
                await api.run("deleteDomain", { id, cleanup });
                return `Domain ${path} deleted`;
              }}
              done={() => {
                setVersion(version + 1);
              }}
            />
          );
        }}
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
