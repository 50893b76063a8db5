// Every screen's routes, in navigation order. Screen modules add their entries here.
import type { RouteDef } from "./route";
import { routes as admin } from "./screens/admin";
import { routes as certificates } from "./screens/certificates";
import { routes as dashboard } from "./screens/dashboard";
import { routes as images } from "./screens/images";
import { routes as infrastructure } from "./screens/infrastructure";
import { routes as instances } from "./screens/instances";
import { routes as register } from "./screens/register";

export const ROUTES: RouteDef[] = [
  // Before any /templates/:id or /isos/:id route, which would take "register" for an id.
  ...register,
  ...dashboard,
  ...images,
  ...instances,
  ...admin,
  ...infrastructure,
  ...certificates,
];

/** The navigation sections, in order; a route's nav.section must be one of these. */
export const SECTIONS = ["Overview", "Images", "Compute", "Network", "Infrastructure", "Administration"];
