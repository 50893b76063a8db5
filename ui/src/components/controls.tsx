// Labelled form fields, action buttons that report their outcome, dialogs and detail lists.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";

import { messageOf } from "../api";
import { useApp } from "../context";

interface FieldProps {
  label: string;
  /** A hint under the control (also its accessible description). */
  hint?: string;
  /** A validation message; marks the control invalid. */
  error?: string | undefined;
  children: (id: string, describedBy: string | undefined) => ComponentChildren;
}

/** A label, a control and its hint/error, wired together by ids. */
export function Field({ label, hint, error, children }: FieldProps): JSX.Element {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const described =
    [hint === undefined ? "" : hintId, error === undefined ? "" : errorId]
      .filter(Boolean)
      .join(" ") || undefined;
  return (
    <div class={error === undefined ? "field" : "field invalid"}>
      <label for={id}>{label}</label>
      {children(id, described)}
      {hint !== undefined && (
        <small id={hintId} class="muted">
          {hint}
        </small>
      )}
      {error !== undefined && (
        <small id={errorId} class="error" role="alert">
          {error}
        </small>
      )}
    </div>
  );
}

interface ActionProps {
  label: string;
  /** Runs the action; resolves to the message shown when it succeeded. */
  run: () => Promise<string>;
  /** Asked before running (a destructive action). */
  confirm?: string;
  /** Called after success (reload the screen). */
  done?: () => void;
  disabled?: boolean;
  kind?: "primary" | "danger" | "plain";
}

/** A button that runs an API action, shows that it is running, and reports how it ended. */
export function ActionButton(props: ActionProps): JSX.Element {
  const { notify } = useApp();
  const [busy, setBusy] = useState(false);
  // A label that already ends in "…" (it opens a choice) gets no second one while busy.
  const base = props.label.replace(/…$/, "");
  const click = async (): Promise<void> => {
    if (props.confirm !== undefined && !window.confirm(props.confirm)) return;
    setBusy(true);
    notify("info", `${base}…`);
    try {
      notify("success", await props.run());
      props.done?.();
    } catch (error) {
      notify("error", `${base} failed: ${messageOf(error)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <button
      type="button"
      class={props.kind ?? "plain"}
      disabled={props.disabled === true || busy}
      aria-busy={busy}
      onClick={() => void click()}
    >
      {busy ? `${base}…` : props.label}
    </button>
  );
}

interface DialogProps {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ComponentChildren;
}

/** A modal dialog (the native <dialog>: focus trap, Escape closes). */
export function Dialog({ title, open, onClose, children }: DialogProps): JSX.Element {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onClose}>
      <header class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" class="plain" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </header>
      {open && children}
    </dialog>
  );
}

/** A button that opens a dialog; the dialog's content gets a function that closes it. */
export function DialogButton({
  label,
  title,
  children,
}: {
  label: string;
  title: string;
  children: (close: () => void) => ComponentChildren;
}): JSX.Element {
  const [open, setOpen] = useState(false);
  const close = (): void => {
    setOpen(false);
  };
  return (
    <>
      <button
        type="button"
        class="primary"
        onClick={() => {
          setOpen(true);
        }}
      >
        {label}
      </button>
      <Dialog title={title} open={open} onClose={close}>
        {children(close)}
      </Dialog>
    </>
  );
}

/** Key/value pairs of a resource, as a description list. */
export function Details({ items }: { items: [string, ComponentChildren][] }): JSX.Element {
  return (
    <dl class="details">
      {items.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value === undefined || value === null || value === "" ? "—" : value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A state word with a colour class: Ready/Up/Running green, failures red, others neutral. */
export function StateBadge({ state }: { state: unknown }): JSX.Element {
  const text = typeof state === "string" && state !== "" ? state : "—";
  const lower = text.toLowerCase();
  const tone = /(ready|up|running|enabled|uploaded|downloaded|succeeded|true)/.test(lower)
    ? "good"
    : /(fail|error|down|disconnected|revoked|abandoned|alert|destroyed)/.test(lower)
      ? "bad"
      : "neutral";
  return <span class={`badge ${tone}`}>{text}</span>;
}

/** A screen's error (a failed load), announced. */
export function ErrorText({ error }: { error: string | undefined }): JSX.Element | null {
  if (error === undefined) return null;
  return (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

export { messageOf };
