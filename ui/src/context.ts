// What every screen receives: the API client and the status region.
import { createContext } from "preact";
import { useContext } from "preact/hooks";

import type { Api } from "./api";

export type Tone = "info" | "success" | "error";

export interface Notice {
  id: number;
  tone: Tone;
  text: string;
}

export interface App {
  api: Api;
  /** Show a message in the status region (announced to screen readers). */
  notify: (tone: Tone, text: string) => void;
}

export const AppContext = createContext<App | null>(null);

export function useApp(): App {
  const app = useContext(AppContext);
  if (app === null) throw new Error("useApp outside AppContext");
  return app;
}
