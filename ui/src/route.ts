// What a screen module declares: its paths, titles and where it appears in the navigation.
import type { JSX } from "preact";

export interface RouteDef {
  /** "/templates/:id": parameters are passed to view(). */
  path: string;
  title: string;
  /** Shown in the navigation under this section, with this label. */
  nav?: { section: string; label: string };
  /** Only root admins see it (CloudStack's admin-only commands). */
  admin?: boolean;
  view: (params: Record<string, string>, query: URLSearchParams) => JSX.Element;
}
