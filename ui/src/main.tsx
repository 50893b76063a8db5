// Entry point: mount the application on #app.
import { render } from "preact";

import { Api } from "./api";
import { App } from "./app";
import "./styles.css";

const root = document.getElementById("app");
if (root !== null) render(<App api={new Api()} />, root);
