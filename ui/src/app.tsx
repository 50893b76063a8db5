// The application shell: login gate, navigation, the current screen and the status region.
import type { JSX } from "preact";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";

import type { Api } from "./api";
import { AppContext } from "./context";
import type { App as AppValue, Notice, Tone } from "./context";
import { ROUTES, SECTIONS } from "./routes";
import { href, match, navigate, useLocation } from "./router";
import { Login } from "./screens/login";

const NOTICE_LIMIT = 4;
const EXPIRED = "Your session has expired or was ended. Log in again to continue.";

export function App({ api }: { api: Api }): JSX.Element {
  const [loggedIn, setLoggedIn] = useState(api.loggedIn);
  const [reason, setReason] = useState<string | undefined>(undefined);
  const [notices, setNotices] = useState<Notice[]>([]);
  const location = useLocation();

  useEffect(
    () =>
      api.onExpired(() => {
        setReason(EXPIRED);
        setLoggedIn(false);
      }),
    [api],
  );

  const notify = useCallback((tone: Tone, text: string) => {
    // "Running…" notices are superseded by how an action ended; the busy button still
    // shows any other action that is running.
    setNotices((old) =>
      [...old.filter((n) => tone === "info" || n.tone !== "info"), { id: Date.now() + Math.random(), tone, text }].slice(
        -NOTICE_LIMIT,
      ),
    );
  }, []);
  const value = useMemo<AppValue>(() => ({ api, notify }), [api, notify]);

  if (!loggedIn) {
    return (
      <Login
        api={api}
        reason={reason}
        onLogin={() => {
          setReason(undefined);
          setNotices([]);
          setLoggedIn(true);
        }}
      />
    );
  }

  const admin = api.isAdmin();
  const visible = ROUTES.filter((r) => admin || r.admin !== true);
  let screen: JSX.Element = <NotFound />;
  let title = "Not found";
  for (const route of visible) {
    const params = match(route.path, location.path);
    if (params !== null) {
      screen = route.view(params, location.query);
      title = route.title;
      break;
    }
  }
  document.title = `${title} · kvmcloud`;
  const user = api.user();

  const logout = async (): Promise<void> => {
    try {
      await api.logout();
    } catch {
      // The session is forgotten here whatever the server answered.
    }
    setReason("You have logged out.");
    setLoggedIn(false);
    navigate("/");
  };

  return (
    <AppContext.Provider value={value}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href("/")}>
          kvmcloud
        </a>
        <span class="who">
          {user?.username} ({user?.account})
        </span>
        <button type="button" class="plain" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      <div class="body">
        <nav class="side" aria-label="Main">
          {SECTIONS.map((section) => {
            const entries = visible.filter((r) => r.nav?.section === section);
            if (entries.length === 0) return null;
            return (
              <div key={section}>
                <h2>{section}</h2>
                <ul>
                  {entries.map((r) => (
                    <li key={r.path}>
                      <a
                        href={href(r.path)}
                        aria-current={match(r.path, location.path) !== null ? "page" : undefined}
                      >
                        {r.nav?.label}
                      </a>
                    </li>
                  ))}
                </ul>
              </div>
            );
          })}
        </nav>
        <main id="main" tabIndex={-1}>
          {screen}
        </main>
      </div>
      <div class="notices" role="status" aria-live="polite">
        {notices.map((n) => (
          <p key={n.id} class={`notice ${n.tone}`}>
            {n.text}
            <button
              type="button"
              class="plain"
              aria-label="Dismiss"
              onClick={() => {
                setNotices((old) => old.filter((o) => o.id !== n.id));
              }}
            >
              ×
            </button>
          </p>
        ))}
      </div>
    </AppContext.Provider>
  );
}

function NotFound(): JSX.Element {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        This page does not exist. <a href={href("/")}>Back to the dashboard</a>.
      </p>
    </section>
  );
}
