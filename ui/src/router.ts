// Hash routing: "#/templates/abc?zone=z" -> the matching route, its path parameters and query.
import { useEffect, useState } from "preact/hooks";

export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const [path = "/", query = ""] = hash.split("?", 2);
  return { path, query: new URLSearchParams(query) };
}

/** The current location; re-renders on every hash change. */
export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = (): void => {
      setLocation(current());
    };
    window.addEventListener("hashchange", update);
    return () => {
      window.removeEventListener("hashchange", update);
    };
  }, []);
  return location;
}

/** Go to a path (and query) of the UI. */
export function navigate(path: string, query?: Record<string, string>): void {
  const search = query === undefined ? "" : `?${new URLSearchParams(query).toString()}`;
  window.location.hash = `#${path}${search}`;
}

/** The href of a UI path, for links. */
export function href(path: string): string {
  return `#${path}`;
}

/** Match "/templates/:id" against "/templates/42": {id: "42"}, or null. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("/").filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (const [index, part] of want.entries()) {
    const value = got[index] ?? "";
    if (part.startsWith(":")) params[part.slice(1)] = decodeURIComponent(value);
    else if (part !== value) return null;
  }
  return params;
}
