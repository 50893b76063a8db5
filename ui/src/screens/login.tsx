// The login screen: CloudStack's password login (username, password, domain).
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import { messageOf } from "../api";
import type { Api } from "../api";
import { Field } from "../components/controls";

interface Props {
  api: Api;
  /** Why the login screen is shown (the session expired), if it was not a plain visit. */
  reason?: string | undefined;
  onLogin: () => void;
}

export function Login({ api, reason, onLogin }: Props): JSX.Element {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [domain, setDomain] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.login(username, password, domain);
      onLogin();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">kvmcloud</h1>
        {reason !== undefined && (
          <p class="notice info" role="status">
            {reason}
          </p>
        )}
        <Field label="Username">
          {(id) => (
            <input
              id={id}
              name="username"
              autoComplete="username"
              required
              value={username}
              onInput={(e) => {
                setUsername(e.currentTarget.value);
              }}
            />
          )}
        </Field>
        <Field label="Password">
          {(id) => (
            <input
              id={id}
              name="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onInput={(e) => {
                setPassword(e.currentTarget.value);
              }}
            />
          )}
        </Field>
        <Field label="Domain" hint="Leave empty for the ROOT domain (/)">
          {(id, describedBy) => (
            <input
              id={id}
              name="domain"
              aria-describedby={describedBy}
              value={domain}
              onInput={(e) => {
                setDomain(e.currentTarget.value);
              }}
            />
          )}
        </Field>
        {error !== undefined && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy} aria-busy={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
    </main>
  );
}
