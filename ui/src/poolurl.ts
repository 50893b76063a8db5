// createStoragePool's url from the add-pool form's fields, and those fields' checks (pure).

export type Protocol = "nfs" | "SharedMountPoint" | "Filesystem" | "RBD";

export const PROTOCOLS: readonly Protocol[] = ["nfs", "SharedMountPoint", "Filesystem", "RBD"];

export type Scope = "cluster" | "zone";

export interface PoolForm {
  name: string;
  protocol: Protocol;
  scope: Scope;
  clusterId: string;
  hostId: string;
  /** NFS: the server's DNS name or IPv4 address. */
  server: string;
  /** NFS export, SharedMountPoint or Filesystem directory: an absolute path. */
  path: string;
  /** RBD: the monitor, host[:port]. */
  monitor: string;
  cephPool: string;
  cephUser: string;
  /** RBD: the cephx key as `ceph auth get-key` prints it (base64). */
  secret: string;
}

export type FieldName =
  | "name"
  | "clusterId"
  | "hostId"
  | "server"
  | "path"
  | "monitor"
  | "cephPool"
  | "cephUser"
  | "secret";

export type FieldErrors = Partial<Record<FieldName, string>>;

/** The fields that make the URL of each protocol, in the form's order. */
export const URL_FIELDS: Readonly<Record<Protocol, readonly FieldName[]>> = {
  nfs: ["server", "path"],
  SharedMountPoint: ["path"],
  Filesystem: ["path"],
  RBD: ["monitor", "cephPool", "cephUser", "secret"],
};

function absolute(path: string): string {
  const trimmed = path.trim();
  return trimmed.startsWith("/") ? trimmed : `/${trimmed}`;
}

/**
 * CloudStack's `rbd://user:key@monitor[:port]/pool`. The key is base64 (`/`, `+`, `=`):
 * percent-encoded, or its `/` would cut the URL (the server percent-decodes it).
 */
export function rbdUrl(monitor: string, pool: string, user: string, secret: string): string {
  return `rbd://${encodeURIComponent(user.trim())}:${encodeURIComponent(secret.trim())}@${monitor.trim()}/${pool.trim()}`;
}

/** The url createStoragePool takes for the form's protocol. */
export function poolUrl(form: PoolForm): string {
  switch (form.protocol) {
    case "nfs":
      return `nfs://${form.server.trim()}${absolute(form.path)}`;
    case "SharedMountPoint":
      return `SharedMountPoint://localhost${absolute(form.path)}`;
    case "Filesystem":
      return `Filesystem://localhost${absolute(form.path)}`;
    case "RBD":
      return rbdUrl(form.monitor, form.cephPool, form.cephUser, form.secret);
  }
}

// What the server accepts (infrastructure/rbd_urls.py, pool URL checks), said before sending.
const HOST = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PORT = /^[0-9]{1,5}$/;
const CEPH_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const CEPH_USER = /^(client\.)?[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function hostError(value: string, what: string): string | undefined {
  if (value === "") return `Give the ${what}`;
  return HOST.test(value) ? undefined : `The ${what} must be a DNS name or an IPv4 address`;
}

function pathError(value: string): string | undefined {
  if (value === "") return "Give the path";
  if (!value.startsWith("/")) return "The path must be absolute (start with /)";
  return value.split("/").includes("..") ? "The path must not contain .." : undefined;
}

function monitorError(value: string): string | undefined {
  const [host = "", port, ...rest] = value.split(":");
  const bad = hostError(host, "monitor");
  if (bad !== undefined) return bad;
  if (rest.length > 0 || (port !== undefined && (!PORT.test(port) || Number(port) > 65535))) {
    return "Give the monitor as host or host:port (port 1-65535)";
  }
  return undefined;
}

/** Each field's problem, for the fields the form's protocol and scope use. */
export function fieldErrors(form: PoolForm): FieldErrors {
  const errors: FieldErrors = {};
  const set = (field: FieldName, problem: string | undefined): void => {
    if (problem !== undefined) errors[field] = problem;
  };
  if (form.name.trim() === "") set("name", "Give the pool a name");
  if (form.protocol === "Filesystem") {
    if (form.hostId === "") set("hostId", "Choose the host whose local directory this is");
  } else if (form.scope === "cluster" && form.clusterId === "") {
    set("clusterId", "Choose a cluster, or the zone scope");
  }
  for (const field of URL_FIELDS[form.protocol]) {
    const value = form[field].trim();
    if (field === "server") set(field, hostError(value, "server"));
    if (field === "path") set(field, pathError(value));
    if (field === "monitor") set(field, monitorError(value));
    if (field === "cephPool") {
      set(field, CEPH_NAME.test(value) ? undefined : "Use 1-128 of A-Z a-z 0-9 . _ - starting with a letter or digit");
    }
    if (field === "cephUser") {
      set(field, CEPH_USER.test(value) ? undefined : "Give the cephx id (A-Z a-z 0-9 . _ -), with or without client.");
    }
    if (field === "secret") {
      if (value === "") set(field, "Give the cephx key");
      else if (!BASE64.test(value)) set(field, "The key is base64, as 'ceph auth get-key' prints it");
    }
  }
  return errors;
}
