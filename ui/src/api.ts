// The CloudStack API client: every call goes to /client/api with the login session.

/** An API answer's object, as CloudStack's JSON writer renders it. */
export type Row = Record<string, unknown>;

/** A refused call: CloudStack's errorcode and errortext (never a stack trace). */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
    readonly command: string,
  ) {
    super(text);
    this.name = "ApiError";
  }
}

/** The session ended (logged out elsewhere, timed out): the caller shows the login screen. */
export class SessionExpired extends ApiError {}

export type Params = Record<string, string | number | boolean | undefined | null>;

export interface LoginAnswer {
  username: string;
  userid: string;
  domainid: string;
  account: string;
  type: string;
  timeout: string;
  sessionkey: string;
}

export interface Page<T = Row> {
  count: number;
  items: T[];
}

/** An async job's end: the result object, or an ApiError thrown. */
export interface JobProgress {
  jobid: string;
  status: number;
  percent?: number;
}

const ENDPOINT = "/client/api";
const JOB_POLL_MS = 1000;
// A job that runs longer than this is left to the async jobs screen, not waited on here.
const JOB_WAIT_LIMIT_MS = 30 * 60 * 1000;

function encode(params: Params): URLSearchParams {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    body.set(key, String(value));
  }
  return body;
}

function asRow(value: unknown): Row {
  return typeof value === "object" && value !== null ? (value as Row) : {};
}

/** The client of one login session. The sessionkey is kept in sessionStorage (per tab). */
export class Api {
  private sessionKey: string | null;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly storage: Storage = window.sessionStorage) {
    this.sessionKey = storage.getItem("kvmcloud.sessionkey");
  }

  get loggedIn(): boolean {
    return this.sessionKey !== null;
  }

  /** Called when a call finds the session gone. */
  onExpired(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async login(username: string, password: string, domain: string): Promise<LoginAnswer> {
    const answer = await this.post("login", { username, password, domain: domain || "/" }, false);
    const login = answer as unknown as LoginAnswer;
    this.sessionKey = login.sessionkey;
    this.storage.setItem("kvmcloud.sessionkey", login.sessionkey);
    this.storage.setItem("kvmcloud.user", JSON.stringify({ ...login, sessionkey: undefined }));
    return login;
  }

  async logout(): Promise<void> {
    try {
      await this.post("logout", {}, true);
    } finally {
      this.forget();
    }
  }

  /** Who is logged in, as the login answered (without the sessionkey). */
  user(): Omit<LoginAnswer, "sessionkey"> | null {
    const raw = this.storage.getItem("kvmcloud.user");
    return raw === null ? null : (JSON.parse(raw) as Omit<LoginAnswer, "sessionkey">);
  }

  isAdmin(): boolean {
    return this.user()?.type === "1";
  }

  forget(): void {
    this.sessionKey = null;
    this.storage.removeItem("kvmcloud.sessionkey");
    this.storage.removeItem("kvmcloud.user");
  }

  /** Call a command; the answer's inner object (e.g. listtemplatesresponse's content). */
  async call(command: string, params: Params = {}): Promise<Row> {
    return this.post(command, params, true);
  }

  /** One page of a list command: its count and items (the list key is found by itself). */
  async list<T = Row>(command: string, params: Params = {}): Promise<Page<T>> {
    const answer = await this.call(command, params);
    const count = typeof answer.count === "number" ? answer.count : 0;
    const key = Object.keys(answer).find((k) => k !== "count" && Array.isArray(answer[k]));
    const items = key === undefined ? [] : (answer[key] as T[]);
    return { count: Math.max(count, items.length), items };
  }

  /** Run an async command to its end; onProgress sees each poll. Returns the job result. */
  async run(
    command: string,
    params: Params = {},
    onProgress?: (progress: JobProgress) => void,
  ): Promise<Row> {
    const started = await this.call(command, params);
    const jobid = started.jobid;
    if (typeof jobid !== "string") return started;
    return this.waitJob(jobid, command, onProgress);
  }

  async waitJob(
    jobid: string,
    command: string,
    onProgress?: (progress: JobProgress) => void,
  ): Promise<Row> {
    const deadline = Date.now() + JOB_WAIT_LIMIT_MS;
    while (Date.now() < deadline) {
      const job = await this.call("queryAsyncJobResult", { jobid });
      const status = typeof job.jobstatus === "number" ? job.jobstatus : 0;
      const percent = typeof job.jobprocstatus === "number" ? job.jobprocstatus : undefined;
      onProgress?.({ jobid, status, ...(percent === undefined ? {} : { percent }) });
      if (status === 1) return asRow(job.jobresult);
      if (status === 2) {
        const result = asRow(job.jobresult);
        const code = typeof result.errorcode === "number" ? result.errorcode : 530;
        const text = typeof result.errortext === "string" ? result.errortext : "The job failed";
        throw new ApiError(code, text, command);
      }
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    }
    throw new ApiError(
      530,
      `Job ${jobid} is still running; follow it on the Async jobs screen`,
      command,
    );
  }

  private async post(command: string, params: Params, withSession: boolean): Promise<Row> {
    const body = encode({ ...params, command, response: "json" });
    if (withSession && this.sessionKey !== null) body.set("sessionkey", this.sessionKey);
    let reply: Response;
    try {
      reply = await fetch(ENDPOINT, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch {
      throw new ApiError(0, "The management server cannot be reached", command);
    }
    let json: unknown;
    try {
      json = await reply.json();
    } catch {
      throw new ApiError(reply.status, `The server answered HTTP ${reply.status}`, command);
    }
    const envelope = asRow(json);
    const inner = asRow(envelope[Object.keys(envelope)[0] ?? ""]);
    if (!reply.ok || typeof inner.errorcode === "number") {
      const code = typeof inner.errorcode === "number" ? inner.errorcode : reply.status;
      const text = typeof inner.errortext === "string" ? inner.errortext : `HTTP ${reply.status}`;
      if (code === 401 && withSession) {
        this.forget();
        for (const listener of this.listeners) listener();
        throw new SessionExpired(code, text, command);
      }
      throw new ApiError(code, text, command);
    }
    return inner;
  }
}

/** A message for an error of any kind, for the status region. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.text;
  if (error instanceof Error) return error.message;
  return String(error);
}
