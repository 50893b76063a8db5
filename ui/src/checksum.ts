// Checksum validation as the server parses it: "{ALGORITHM}hex" or bare hex (pure).

/** CloudStack's algorithm spellings and their digests' hex lengths (protocol/checksums.py). */
export const ALGORITHMS: readonly (readonly [string, number])[] = [
  ["MD5", 32],
  ["SHA-1", 40],
  ["SHA-224", 56],
  ["SHA-256", 64],
  ["SHA-384", 96],
  ["SHA-512", 128],
];

export interface ParsedChecksum {
  algorithm: string;
  hex: string;
}

const HEX = /^[0-9a-fA-F]+$/;

// The server matches names without regard to case, dashes or underscores (SHA256, sha-256).
function algorithmNamed(name: string): readonly [string, number] | undefined {
  const key = name.replace(/[-_]/g, "").toLowerCase();
  return ALGORITHMS.find(([canonical]) => canonical.replace("-", "").toLowerCase() === key);
}

/**
 * Parse a checksum as registerTemplate does; throws an Error whose message says what is wrong.
 * A bare digest's algorithm is inferred from its length (32 → MD5 … 128 → SHA-512).
 */
export function parseChecksum(input: string): ParsedChecksum {
  const text = input.trim();
  if (text === "") throw new Error("The checksum is empty");
  let named: readonly [string, number] | undefined;
  let digest = text;
  if (text.startsWith("{")) {
    const end = text.indexOf("}");
    if (end < 0) throw new Error("The checksum has '{' without a closing '}'");
    const name = text.slice(1, end).trim();
    digest = text.slice(end + 1).trim();
    if (name !== "") {
      named = algorithmNamed(name);
      if (named === undefined) {
        const names = ALGORITHMS.map(([n]) => n).join(", ");
        throw new Error(`Unknown checksum algorithm ${name}; use one of ${names}`);
      }
    }
  }
  if (digest === "") throw new Error("The checksum has no digest after the algorithm");
  if (!HEX.test(digest)) throw new Error("The checksum digest must contain only hexadecimal digits");
  const algorithm = named ?? ALGORITHMS.find(([, length]) => length === digest.length);
  if (algorithm === undefined) {
    const lengths = ALGORITHMS.map(([, n]) => n).join(", ");
    throw new Error(
      `A digest of ${digest.length} hex digits matches no algorithm (expected one of ${lengths}, or an {ALGORITHM} prefix)`,
    );
  }
  const [name, length] = algorithm;
  if (digest.length !== length) {
    throw new Error(`A ${name} digest has ${length} hex digits, not ${digest.length}`);
  }
  return { algorithm: name, hex: digest.toLowerCase() };
}

/** The validation message for a checksum field: undefined when empty (optional) or valid. */
export function checksumError(input: string): string | undefined {
  if (input.trim() === "") return undefined;
  try {
    parseChecksum(input);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
