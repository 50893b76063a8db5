// A list command as a table with server-side paging (page/pagesize), as CloudStack lists are.
import type { ComponentChildren, JSX } from "preact";
import { useState } from "preact/hooks";

import type { Params, Row } from "../api";
import { useApp } from "../context";
import { useLoad } from "../hooks";
import { href } from "../router";

export interface Column {
  key: string;
  label: string;
  render?: (row: Row) => ComponentChildren;
}

export interface TableProps {
  /** The list command, e.g. "listTemplates". */
  command: string;
  params?: Params;
  columns: Column[];
  /** What the table lists, for its caption and for screen readers. */
  caption: string;
  /** The UI path a row's first column links to. */
  link?: (row: Row) => string;
  pageSize?: number;
  refreshMs?: number;
  empty?: string;
  /** Extra cells at the end of each row (actions). */
  actions?: (row: Row, reload: () => void) => ComponentChildren;
  /** The header of the actions column (default "Actions"). */
  actionsLabel?: string;
}

function cell(row: Row, column: Column): ComponentChildren {
  if (column.render !== undefined) return column.render(row);
  const value = row[column.key];
  if (value === undefined || value === null || value === "") return "—";
  if (typeof value === "string" || typeof value === "number") return value;
  if (typeof value === "boolean") return value ? "Yes" : "No";
  return JSON.stringify(value);
}

export function DataTable(props: TableProps): JSX.Element {
  const { api } = useApp();
  const pageSize = props.pageSize ?? 20;
  const [page, setPage] = useState(1);
  const paramsKey = JSON.stringify(props.params ?? {});
  const [seenParams, setSeenParams] = useState(paramsKey);
  if (seenParams !== paramsKey) {
    // New filters: back to the first page.
    setSeenParams(paramsKey);
    setPage(1);
  }
  const list = useLoad(
    () => api.list(props.command, { ...props.params, page, pagesize: pageSize }),
    [props.command, paramsKey, page, pageSize],
    props.refreshMs,
  );
  const count = list.data?.count ?? 0;
  const pages = Math.max(1, Math.ceil(count / pageSize));
  const items = list.data?.items ?? [];
  return (
    <div class="table-wrap">
      {list.error !== undefined && (
        <p class="error" role="alert">
          {list.error}
        </p>
      )}
      <table aria-busy={list.loading}>
        <caption>
          {props.caption} <span class="muted">({count})</span>
        </caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c.key}>
                {c.label}
              </th>
            ))}
            {props.actions !== undefined && <th scope="col">{props.actionsLabel ?? "Actions"}</th>}
          </tr>
        </thead>
        <tbody>
          {items.length === 0 && !list.loading && (
            <tr>
              <td colSpan={props.columns.length + (props.actions === undefined ? 0 : 1)}>
                {props.empty ?? "Nothing to show."}
              </td>
            </tr>
          )}
          {items.map((row, index) => (
            <tr key={typeof row.id === "string" ? row.id : index}>
              {props.columns.map((c, i) => (
                <td key={c.key}>
                  {i === 0 && props.link !== undefined ? (
                    <a href={href(props.link(row))}>{cell(row, c)}</a>
                  ) : (
                    cell(row, c)
                  )}
                </td>
              ))}
              {props.actions !== undefined && (
                <td class="actions">{props.actions(row, list.reload)}</td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      <nav class="pager" aria-label={`${props.caption} pages`}>
        <button
          type="button"
          disabled={page <= 1}
          onClick={() => {
            setPage(page - 1);
          }}
        >
          Previous
        </button>
        <span>
          Page {page} of {pages}
        </span>
        <button
          type="button"
          disabled={page >= pages}
          onClick={() => {
            setPage(page + 1);
          }}
        >
          Next
        </button>
      </nav>
    </div>
  );
}
