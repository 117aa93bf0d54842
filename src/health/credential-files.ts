// The files of the platform's check credentials (credentials.ts), read when a measurement
// needs them and kept while they do not change: each use looks at the files' modification
// time, size and inode (a Secret volume updates by swapping a symlink, which changes them),
// and reads again only what changed, so a rotated token or certificate is used from the next
// measurement on without a restart. What is read goes into requests only: never into a
// message, a log line or an Event (messages name the credential and the file, not the content).
import { readFile, stat } from "node:fs/promises";
import { CREDENTIAL_FILE_FIELDS, type Credential, type CredentialFileField } from "./credentials.ts";

/** What a request carries for a credential. */
export interface CredentialMaterial {
  name: string;
  /** Changes whenever one of its files does: connections made with an older version are not reused. */
  version: string;
  tls?: { ca?: string; cert?: string; key?: string };
  /** The Authorization header's value ("Bearer ..."). */
  authorization?: string;
}

/** A credential file that cannot be used; the message names the credential and the file. */
export class CredentialFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialFileError";
  }
}

interface Cached {
  stamp: string;
  text: string;
}

export interface FileSystem {
  stat(path: string): Promise<{ mtimeMs: number; size: number; ino: number }>;
  readFile(path: string): Promise<string>;
}

const realFs: FileSystem = {
  stat: (path) => stat(path),
  readFile: (path) => readFile(path, "utf8"),
};

/** The largest credential file read (a CA bundle of a few hundred certificates fits). */
export const MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024;

export class CredentialFiles {
  readonly #fs: FileSystem;
  readonly #cache = new Map<string, Cached>();

  constructor(fs: FileSystem = realFs) {
    this.#fs = fs;
  }

  /** The current content of the credential's files; throws CredentialFileError. */
  async load(credential: Credential): Promise<CredentialMaterial> {
    const read: Partial<Record<CredentialFileField, string>> = {};
    const stamps: string[] = [];
    for (const field of CREDENTIAL_FILE_FIELDS) {
      const path = credential[field];
      if (path === undefined) continue;
      const { text, stamp } = await this.#read(`credential ${credential.name}`, field, path);
      read[field] = text;
      stamps.push(`${field}:${stamp}`);
    }
    const material: CredentialMaterial = { name: credential.name, version: stamps.join(",") };
    if (read.caFile !== undefined || read.certFile !== undefined) {
      material.tls = {};
      if (read.caFile !== undefined) material.tls.ca = read.caFile;
      if (read.certFile !== undefined) material.tls.cert = read.certFile;
      if (read.keyFile !== undefined) material.tls.key = read.keyFile;
    }
    if (read.bearerTokenFile !== undefined) {
      const token = read.bearerTokenFile.trim();
      if (token === "" || /[\r\n]/.test(token))
        throw new CredentialFileError(
          `credential ${credential.name}: its bearerTokenFile ${credential.bearerTokenFile} ${token === "" ? "is empty" : "holds more than one line"}`,
        );
      material.authorization = `Bearer ${token}`;
    }
    return material;
  }

  /**
   * The current text of one file that `owner` ("notification destination team-a-slack")
   * names in `field`, with the same caching and bounds; throws CredentialFileError.
   */
  async readText(owner: string, field: string, path: string): Promise<string> {
    return (await this.#read(owner, field, path)).text;
  }

  async #read(owner: string, field: string, path: string): Promise<{ text: string; stamp: string }> {
    const cannot = (why: string) =>
      new CredentialFileError(`${owner}: cannot read its ${field} ${path} (${why})`);
    let stamp: string;
    try {
      const s = await this.#fs.stat(path);
      if (s.size > MAX_CREDENTIAL_FILE_BYTES) throw cannot(`larger than ${MAX_CREDENTIAL_FILE_BYTES} bytes`);
      stamp = `${s.ino}-${s.mtimeMs}-${s.size}`;
    } catch (err) {
      if (err instanceof CredentialFileError) throw err;
      throw cannot(codeOf(err));
    }
    const cached = this.#cache.get(path);
    if (cached?.stamp === stamp) return cached;
    let text: string;
    try {
      text = await this.#fs.readFile(path);
    } catch (err) {
      throw cannot(codeOf(err));
    }
    const fresh = { stamp, text };
    this.#cache.set(path, fresh);
    return fresh;
  }
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === "ENOENT") return "no such file; is its Secret mounted into the operator?";
  if (code === "EACCES") return "permission denied";
  return typeof code === "string" ? code : (err as Error).message;
}
