// Every screen's routes, in navigation order. Screen modules add their entries here.
import type { RouteDef } from "./route";
import { routes as dashboard } from "./screens/dashboard";
import { routes as admin } from "./screens/admin";
import { routes as images } from "./screens/images";

export const ROUTES: RouteDef[] = [
  ...dashboard,
  ...admin,
  ...images,
];

/** The navigation sections, in order; a route's nav.section must be one of these. */
export const SECTIONS = ["Overview", "Images", "Compute", "Network", "Infrastructure", "Administration"];
