// Storage tags of pools and service offerings, and which offering may land on which pool (pure).
import type { Row } from "./api";

/**
 * The tags in a comma-separated `tags`/`storagetags` text: trimmed, empty ones dropped, each
 * once. The server compares them without case (CloudStack's MySQL collation), so do we.
 */
export function tagsOf(text: unknown): string[] {
  if (typeof text !== "string") return [];
  const seen = new Map<string, string>();
  for (const part of text.split(",")) {
    const tag = part.trim();
    if (tag !== "" && !seen.has(tag.toLowerCase())) seen.set(tag.toLowerCase(), tag);
  }
  return [...seen.values()];
}

/** Whether every tag of `required` is among `present`, without case. */
export function hasAll(required: readonly string[], present: readonly string[]): boolean {
  const have = new Set(present.map((t) => t.toLowerCase()));
  return required.every((t) => have.has(t.toLowerCase()));
}

/** Every tag carried by one of `pools`, each once, sorted. */
export function poolTags(pools: readonly Row[]): string[] {
  return tagsOf(pools.map((pool) => pool.tags).filter((t) => typeof t === "string").join(",")).sort(
    (a, b) => a.localeCompare(b),
  );
}

/** The offerings whose storage tags are all among `chosen`; no tag chosen keeps them all. */
export function offeringsFor(offerings: readonly Row[], chosen: readonly string[]): Row[] {
  if (chosen.length === 0) return [...offerings];
  return offerings.filter((offering) => hasAll(tagsOf(offering.storagetags), chosen));
}

/** The pools that carry every tag of `tags` (a pool without tags only takes untagged disks). */
export function poolsWith(pools: readonly Row[], tags: readonly string[]): Row[] {
  return pools.filter((pool) => hasAll(tags, tagsOf(pool.tags)));
}
